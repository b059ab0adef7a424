//! Measures streaming tasks against their floors, in one run, and prints
//! a Markdown table (what `BENCHMARKS.md` records).
//!
//! ```text
//! cargo run --release --example bench_stream
//! ```
//!
//! - Throughput: `stream` of 10,000,000 `u64` items, beside a raw pipe
//!   moving the same 10,000,000 `u64`s (8 bytes each, 64 KiB writes) from
//!   a child process, and beside `map` over the same count.
//!   And the CPU time each side spent on the stream (the consumer's
//!   process, the worker): what the rate is when each has a CPU of its
//!   own, as on a machine nobody else loads.
//! - Latency: from `pool.stream(..)` to its first item (of an endless
//!   generator), beside one `submit` + `join` round trip and a raw pipe
//!   round trip, in this same run, each on an idle pool of one worker.
//!   Medians. (Each stream is dropped after its first item, and a task
//!   that waits for it to stop runs before the next sample, so that no
//!   sample pays for the wind-down of the one before.)

#[path = "../benches/support/floor.rs"]
mod floor;

use std::time::{Duration, Instant};

use floor::allowed_cpus;
use forkpool::Pool;

const ITEMS: u64 = 10_000_000;

/// A child writes `ITEMS` u64s into a pipe, 64 KiB at a time; this process
/// reads and sums them. The least moving those values between two
/// processes can cost.
fn pipe_items() -> Duration {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    let start = Instant::now();
    // SAFETY: the child only calls write and _exit (async-signal-safe) on
    // memory that already exists.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        drop(reader);
        let mut buf = vec![0u8; 64 << 10];
        let mut next = 0u64;
        while next < ITEMS {
            let mut len = 0;
            while len < buf.len() && next < ITEMS {
                buf[len..len + 8].copy_from_slice(&next.to_le_bytes());
                len += 8;
                next += 1;
            }
            let mut at = 0;
            while at < len {
                match rustix::io::write(&writer, &buf[at..len]) {
                    Ok(n) => at += n,
                    // SAFETY: leaves without running the parent's handlers.
                    Err(_) => unsafe { libc::_exit(1) },
                }
            }
        }
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    drop(writer);
    let mut buf = vec![0u8; 64 << 10];
    let mut pending = Vec::new();
    let mut sum = 0u64;
    let mut count = 0u64;
    loop {
        let n = rustix::io::read(&reader, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let whole = pending.len() / 8 * 8;
        for chunk in pending[..whole].chunks_exact(8) {
            sum = sum.wrapping_add(u64::from_le_bytes(chunk.try_into().unwrap()));
            count += 1;
        }
        pending.drain(..whole);
    }
    // SAFETY: reaps our own child; no memory is involved.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    let took = start.elapsed();
    assert_eq!(count, ITEMS);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    took
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// CPU time this process (consumer and supervisor) has used.
fn own_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time the pool's workers have used (in ticks of 10 ms).
fn workers_cpu(pool: &Pool) -> Duration {
    pool.worker_pids()
        .iter()
        .map(|pid| floor::process_cpu(&pid.to_string()))
        .sum()
}

/// One stream of `ITEMS`: its wall time, and the CPU time the consumer's
/// process and the worker spent on it.
fn stream_items(pool: &Pool) -> (Duration, Duration, Duration) {
    let (own, workers) = (own_cpu(), workers_cpu(pool));
    let start = Instant::now();
    let mut sum = 0u64;
    let mut count = 0u64;
    for item in pool.stream(|n: u64| 0..n, ITEMS) {
        sum = sum.wrapping_add(item.unwrap());
        count += 1;
    }
    let took = start.elapsed();
    assert_eq!(count, ITEMS);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    (took, own_cpu() - own, workers_cpu(pool) - workers)
}

fn map_items(pool: &Pool) -> Duration {
    let start = Instant::now();
    let sum: u64 = pool.map(|x: u64| x, 0..ITEMS).map(Result::unwrap).sum();
    let took = start.elapsed();
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    took
}

fn first_item(pool: &Pool) -> Duration {
    let start = Instant::now();
    let mut items = pool.stream(|_: ()| 0u64.., ());
    assert_eq!(items.next(), Some(Ok(0)));
    let took = start.elapsed();
    drop(items);
    took
}

fn round_trip(pool: &Pool) -> Duration {
    let start = Instant::now();
    assert_eq!(pool.submit(|x: u64| x, 7).join(), Ok(7));
    start.elapsed()
}

fn main() {
    let cpus = allowed_cpus();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let pool = Pool::builder().workers(2).build().unwrap();
    // Warm up: both workers, the code paths, the page cache.
    for _ in 0..2 {
        stream_items(&pool);
    }
    let rate = |d: Duration| ITEMS as f64 / d.as_secs_f64();

    // Samples of each measurement taken in turn, so that the machine's
    // load falls on all of them alike.
    let (mut pipe, mut stream, mut map) = (Vec::new(), Vec::new(), Vec::new());
    let (mut consumer_cpu, mut worker_cpu) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        pipe.push(pipe_items());
        let (wall, consumer, worker) = stream_items(&pool);
        stream.push(wall);
        consumer_cpu.push(consumer);
        worker_cpu.push(worker);
        map.push(map_items(&pool));
    }
    let (pipe, stream, map) = (median(pipe), median(stream), median(map));
    let (consumer_cpu, worker_cpu) = (median(consumer_cpu), median(worker_cpu));

    pool.shutdown();

    // Taken in turn, so that both see the same machine.
    let pool = Pool::builder().workers(1).build().unwrap();
    let (mut first, mut submit) = (Vec::new(), Vec::new());
    for i in 0..1200 {
        let f = first_item(&pool);
        // Queued behind the dropped stream: the worker is idle after it.
        round_trip(&pool);
        let s = round_trip(&pool);
        if i >= 200 {
            first.push(f);
            submit.push(s);
        }
    }
    let (first, submit) = (median(first), median(submit));
    pool.shutdown();
    let pipe_rt = floor::pipe_round_trip(cpus[0], cpus[cpus.len() - 1], 2000);

    println!(
        "Machine: {} CPUs, load average {} at the start; pools of 2 workers (throughput) and 1 (latency); medians of 7 and 1000 samples.\n",
        cpus.len(),
        load.split(' ').take(3).collect::<Vec<_>>().join(" "),
    );
    println!("| measurement | result | baseline, same run | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| `stream` of 10,000,000 `u64` | {:.1} M items/s ({stream:.0?}) | raw pipe, the same `u64`s: {:.1} M items/s ({pipe:.0?}) | {:.2}x the pipe | >= 10 M items/s |",
        rate(stream) / 1e6,
        rate(pipe) / 1e6,
        rate(stream) / rate(pipe),
    );
    println!(
        "| (same) | | `map` of 10,000,000 `u64`: {:.1} M items/s | {:.2}x `map` | |",
        rate(map) / 1e6,
        rate(stream) / rate(map),
    );
    println!(
        "| (same), CPU time per side | consumer's process {consumer_cpu:.2?}, worker {worker_cpu:.2?}: {:.1} M items/s with a CPU each | | | |",
        rate(consumer_cpu.max(worker_cpu)) / 1e6,
    );
    println!(
        "| first item of a stream, from `pool.stream(..)` | {first:.1?} | `submit` + `join` round trip {submit:.1?}; pipe round trip {pipe_rt:.1?} | {:.2}x the round trip | <= 1 ms |",
        first.as_secs_f64() / submit.as_secs_f64(),
    );
}
