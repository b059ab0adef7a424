//! Large ordinary arguments and results: no special type needed.
//!
//! ```text
//! cargo run --release --example big_payload
//! ```
//!
//! A `serde_bytes::ByteBuf`, a `Vec<f64>` and a `Vec<u8>` of tens of MiB go
//! to a worker and back. Above 256 KiB an encoding is written straight
//! into a sealed memfd that travels beside the task's message, instead of
//! through the socket: one copy on each side, no socket buffers.

use std::time::Instant;

use forkpool::Pool;
use serde_bytes::ByteBuf;

fn main() -> Result<(), forkpool::Error> {
    let pool = Pool::builder().workers(2).build()?;

    let bytes = ByteBuf::from(vec![1u8; 128 << 20]);
    let start = Instant::now();
    let back = pool.submit(|b: ByteBuf| b, bytes).join().expect("the task ran");
    println!("128 MiB ByteBuf to a worker and back: {:.1?}", start.elapsed());
    assert_eq!(back.len(), 128 << 20);

    let floats: Vec<f64> = (0..4_000_000).map(f64::from).collect();
    let start = Instant::now();
    let scaled = pool
        .submit(
            |v: Vec<f64>| v.into_iter().map(|x| x * 2.0).collect::<Vec<f64>>(),
            floats,
        )
        .join()
        .expect("the task ran");
    println!("4,000,000 f64 scaled in a worker and back: {:.1?}", start.elapsed());
    assert_eq!(scaled[1_999_999], 3_999_998.0);

    // Over the pool's limit, a payload is refused as soon as its encoding
    // passes it, without being built whole.
    let small = Pool::builder().workers(1).max_message_size(1 << 20).build()?;
    let refused = small.submit(|v: Vec<u8>| v.len(), vec![0u8; 8 << 20]).join();
    println!("8 MiB through a pool limited to 1 MiB: {refused:?}");
    Ok(())
}
