//! The data path against its floor, in one run: how long a payload takes
//! to reach a worker and come back, by size, through `SharedBytes` and
//! through ordinary serde types, beside a raw pipe moving the same bytes
//! between two processes.
//!
//! ```text
//! cargo run --release --example bench_data                 # table on stdout
//! cargo run --release --example bench_data -- --csv DIR    # also DIR/rust.csv for the plot
//! FORKPOOL_BENCH_1G=1 cargo run --release --example bench_data   # sizes up to 1 GiB
//! cargo run --release --example bench_data -- --bytebuf 9  # 256 MiB `ByteBuf` only, 9 rounds
//! ```
//!
//! `benches/data_path.sh` runs this, Python's pool on the same sizes, and
//! draws the figure in `BENCHMARKS.md`.

#[path = "../benches/support/floor.rs"]
mod floor;

use std::time::{Duration, Instant};

use forkpool::{Pool, SharedBytes};
use serde_bytes::ByteBuf;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// Runs for a size: more for small ones, where each run is short.
fn runs(size: usize) -> usize {
    match size {
        s if s <= MIB => 21,
        s if s <= 16 * MIB => 9,
        s if s <= 256 * MIB => 5,
        _ => 3,
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// One round trip of a `SharedBytes` of `size` bytes: to a worker and back.
fn shared_once(pool: &Pool, data: &SharedBytes) -> Duration {
    let arg = data.clone();
    let start = Instant::now();
    let back = pool.submit(|d: SharedBytes| d, arg).join().unwrap();
    let took = start.elapsed();
    assert_eq!(back.len(), data.len());
    took
}

/// One round trip of an ordinary serde value made by `make`, through `f`.
fn serde_once<T, F>(pool: &Pool, make: impl Fn() -> T, f: F) -> Duration
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(T) -> T + Copy + Send + 'static,
{
    // Made (and dropped) outside the timed part.
    let arg = make();
    let start = Instant::now();
    let back = pool.submit(f, arg).join().unwrap();
    let took = start.elapsed();
    drop(back);
    took
}

fn bytebuf_once(pool: &Pool, size: usize) -> Duration {
    serde_once(pool, || ByteBuf::from(vec![7u8; size]), |b: ByteBuf| b)
}

/// Medians of `runs` rounds of each measurement, the measurements taking
/// turns within each round, so that a machine busy with something else
/// slows the floor and the pool alike.
fn in_turns<const N: usize>(runs: usize, mut round: impl FnMut() -> [Duration; N]) -> [Duration; N] {
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..runs {
        for (t, d) in times.iter_mut().zip(round()) {
            t.push(d);
        }
    }
    times.map(median)
}

fn sizes() -> Vec<usize> {
    let top = if std::env::var_os("FORKPOOL_BENCH_1G").is_some() {
        1024 * MIB
    } else {
        256 * MIB
    };
    let mut sizes = Vec::new();
    let mut size = KIB;
    while size <= top {
        sizes.push(size);
        size *= 4;
    }
    if !sizes.contains(&(256 * MIB)) {
        sizes.push(256 * MIB);
    }
    sizes.sort();
    sizes
}

fn human(size: usize) -> String {
    match size {
        s if s >= MIB => format!("{} MiB", s / MIB),
        s => format!("{} KiB", s / KIB),
    }
}

/// The goal's measurement alone: a 256 MiB `ByteBuf` to a worker and back
/// beside the raw pipe, `rounds` times in turns, each round printed (so the
/// spread shows), then the medians.
fn bytebuf_only(rounds: usize) {
    let big = 256 * MIB;
    let pool = Pool::builder().workers(1).build().unwrap();
    bytebuf_once(&pool, big);
    let (mut pipes, mut ours) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let pipe = floor::pipe_transfer(big, true);
        let serde = bytebuf_once(&pool, big);
        println!(
            "round {round}: raw pipe {pipe:.1?}, ByteBuf {serde:.1?}: {:.2}x the pipe's bandwidth",
            pipe.as_secs_f64() / serde.as_secs_f64()
        );
        pipes.push(pipe);
        ours.push(serde);
    }
    let (pipe, serde) = (median(pipes), median(ours));
    println!(
        "median of {rounds}: raw pipe {pipe:.1?}, ByteBuf {serde:.1?}: {:.2}x",
        pipe.as_secs_f64() / serde.as_secs_f64()
    );
}

fn main() {
    if let Some(rounds) = std::env::args().skip_while(|a| a != "--bytebuf").nth(1) {
        return bytebuf_only(rounds.parse().expect("--bytebuf ROUNDS"));
    }
    let csv_dir = std::env::args()
        .skip_while(|a| a != "--csv")
        .nth(1)
        .map(std::path::PathBuf::from);
    // Room for the 1 GiB point's encoding (the default limit is 1 GiB).
    let pool = Pool::builder().workers(1).max_message_size(2 << 30).build().unwrap();
    let mut rows = Vec::new();
    for size in sizes() {
        let data = SharedBytes::copy_from(&vec![7u8; size]).unwrap();
        // Warm each path (and the worker's lanes) once.
        shared_once(&pool, &data);
        bytebuf_once(&pool, size);
        // `SharedBytes` in rounds of its own: right after a transfer of
        // hundreds of MiB the kernel is still freeing that memory, which
        // would be measured instead (several ms, at the large sizes).
        let [shared] = in_turns(runs(size).max(15), || [shared_once(&pool, &data)]);
        let [pipe, serde] = in_turns(runs(size), || {
            [floor::pipe_transfer(size, true), bytebuf_once(&pool, size)]
        });
        eprintln!(
            "{:>8}: pipe {pipe:>10.1?}  SharedBytes {shared:>10.1?}  ByteBuf {serde:>10.1?}",
            human(size)
        );
        rows.push((size, pipe, shared, serde));
    }
    let big = 256 * MIB;
    let [pipe_u8, vec_u8] = in_turns(runs(big), || {
        [
            floor::pipe_transfer(big, true),
            serde_once(&pool, || vec![7u8; big], |v: Vec<u8>| v),
        ]
    });
    let [pipe_f64, vec_f64] = in_turns(runs(big), || {
        [
            floor::pipe_transfer(big, true),
            serde_once(&pool, || vec![1.5f64; big / 8], |v: Vec<f64>| v),
        ]
    });
    pool.shutdown();

    if let Some(dir) = csv_dir {
        std::fs::create_dir_all(&dir).unwrap();
        let mut csv = String::from("bytes,pipe_s,shared_s,serde_s\n");
        for (size, pipe, shared, serde) in &rows {
            csv += &format!(
                "{size},{},{},{}\n",
                pipe.as_secs_f64(),
                shared.as_secs_f64(),
                serde.as_secs_f64()
            );
        }
        std::fs::write(dir.join("rust.csv"), csv).unwrap();
    }

    let at = |size: usize| rows.iter().find(|r| r.0 == size).copied().unwrap();
    let (_, pipe_1m, shared_1m, _) = at(MIB);
    let (_, pipe_big, shared_big, serde_big) = at(big);
    let gbps = |bytes: usize, d: Duration| 2.0 * bytes as f64 / d.as_secs_f64() / 1e9;
    let ratio = |floor: Duration, ours: Duration| floor.as_secs_f64() / ours.as_secs_f64();
    println!("| measurement (to a worker and back) | result | baseline, same run | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| `SharedBytes`, 1 MiB | {shared_1m:.1?} | raw pipe, 1 MiB each way: {pipe_1m:.1?} | {:.1}x faster | < 1 ms |",
        ratio(pipe_1m, shared_1m)
    );
    println!(
        "| `SharedBytes`, 256 MiB | {shared_big:.1?} | raw pipe, 256 MiB each way: {pipe_big:.1?} | {:.0}x faster | < 1 ms, same as 1 MiB |",
        ratio(pipe_big, shared_big)
    );
    println!(
        "| `serde_bytes::ByteBuf`, 256 MiB | {serde_big:.1?} ({:.2} GB/s) | raw pipe {pipe_big:.1?} ({:.2} GB/s) | {:.2}x the pipe's bandwidth | >= 0.8x |",
        gbps(big, serde_big),
        gbps(big, pipe_big),
        ratio(pipe_big, serde_big)
    );
    println!(
        "| `Vec<u8>`, 256 MiB | {vec_u8:.1?} ({:.2} GB/s) | raw pipe {pipe_u8:.1?} | {:.2}x | |",
        gbps(big, vec_u8),
        ratio(pipe_u8, vec_u8)
    );
    println!(
        "| `Vec<f64>`, 256 MiB | {vec_f64:.1?} ({:.2} GB/s) | raw pipe {pipe_f64:.1?} | {:.2}x | |",
        gbps(big, vec_f64),
        ratio(pipe_f64, vec_f64)
    );
}
