//! Big data into workers without copies: `SharedBytes` and `SharedSlice`.
//!
//! ```text
//! cargo run --release --example shared
//! ```
//!
//! A 256 MiB buffer and a million floats go to four workers, each of which
//! reads its share of the same memory; a worker makes a buffer of its own
//! and hands it back the same way. Only descriptors cross the sockets.

use std::time::Instant;

use forkpool::{Pool, SharedBytes, SharedBytesMut, SharedSlice, SharedSliceMut};

fn main() -> Result<(), forkpool::Error> {
    let pool = Pool::builder().workers(4).build()?;

    // Fill a buffer in place, then freeze it: sealed, cheap to clone.
    let mut buf = SharedBytesMut::zeroed(256 << 20)?;
    for (i, chunk) in buf.chunks_mut(4096).enumerate() {
        chunk[0] = (i % 251) as u8;
    }
    let data: SharedBytes = buf.freeze();

    // Four tasks read four quarters of the same memory.
    let start = Instant::now();
    let quarter = data.len() / 4;
    let sums: Vec<u64> = pool
        .map(
            |(d, from, to): (SharedBytes, usize, usize)| d[from..to].iter().map(|&b| u64::from(b)).sum::<u64>(),
            (0..4).map(|k| (data.clone(), k * quarter, (k + 1) * quarter)),
        )
        .collect::<Result<_, _>>()
        .expect("the tasks ran");
    println!(
        "sum of 256 MiB read by 4 workers: {} in {:.1?} (nothing copied)",
        sums.iter().sum::<u64>(),
        start.elapsed()
    );

    // Typed: a million f64s.
    let mut xs = SharedSliceMut::<f64>::zeroed(1_000_000)?;
    xs.iter_mut().enumerate().for_each(|(i, x)| *x = i as f64);
    let xs: SharedSlice<f64> = xs.freeze();
    let mean = pool
        .submit(|v: SharedSlice<f64>| v.iter().sum::<f64>() / v.len() as f64, xs)
        .join();
    println!("mean of a million floats, computed in a worker: {mean:?}");

    // A worker makes one and returns it: the memory comes back, not a copy.
    let start = Instant::now();
    let made = pool
        .submit(
            |n: usize| SharedBytes::copy_from(&vec![7u8; n]).expect("shared memory"),
            64 << 20,
        )
        .join()
        .expect("the task ran");
    println!("64 MiB made in a worker, received in {:.1?}", start.elapsed());
    assert!(made.iter().all(|&b| b == 7));
    Ok(())
}
