//! A tour of forkpool: parallel work in worker processes, and what happens
//! when a task crashes, panics, hangs or blows up its memory. The pool
//! captures what tasks print, so each message is shown under the task that
//! wrote it (Rust's "memory allocation ... failed" under the 4 GiB task)
//! instead of landing between unrelated lines.
//!
//! ```text
//! cargo run --release --example tour
//! ```

use std::time::{Duration, Instant};

use forkpool::{Captured, Pool, TaskOutput};

/// Deliberately slow: counts the primes below `n` by trial division.
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

fn segfault(_: ()) -> u64 {
    // SAFETY: none. Writing through a null pointer is the point: it kills
    // the worker with SIGSEGV, and only the worker.
    unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
    0
}

fn show(what: &str, done: &Captured<u64>) {
    match &done.result {
        Ok(value) => println!("  {what:<28} ok: {value}"),
        Err(error) => {
            // With RUST_BACKTRACE set, a panic's error carries the
            // worker's backtrace on the lines after the first.
            let text = error.to_string();
            let mut lines = text.lines();
            println!("  {what:<28} failed: {}", lines.next().unwrap_or_default());
            lines.for_each(|line| println!("  {:<28}   {line}", ""));
        }
    }
    for (stream, bytes) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
        for line in String::from_utf8_lossy(bytes).lines() {
            println!("  {:<28}   {stream}: {line}", "");
        }
    }
}

fn main() -> Result<(), forkpool::Error> {
    let started = Instant::now();
    let pool = Pool::builder()
        .task_timeout(Duration::from_secs(2))
        .memory_limit(256 << 20)
        .task_output(TaskOutput::Capture)
        .build()?;
    println!(
        "pool of {} workers (pids {:?}, zygote {:?}) ready in {:?}",
        pool.workers(),
        pool.worker_pids(),
        pool.zygote_pid().unwrap_or_default(),
        started.elapsed()
    );

    // 1. Parallel work: the same job, on one core and in the pool.
    let inputs: Vec<u64> = (0..64).map(|i| 20_000 + i * 500).collect();
    let serial_start = Instant::now();
    let serial: u64 = inputs.iter().map(|&n| count_primes(n)).sum();
    let serial_time = serial_start.elapsed();
    let pool_start = Instant::now();
    let parallel: u64 = pool
        .map(count_primes, inputs.iter().copied())
        .map(|r| r.unwrap_or(0))
        .sum();
    let pool_time = pool_start.elapsed();
    assert_eq!(serial, parallel);
    println!("\nparallel work: {} primes counted", parallel);
    println!(
        "  one core: {serial_time:.2?}   pool: {pool_time:.2?}   ({:.1}x)",
        serial_time.as_secs_f64() / pool_time.as_secs_f64()
    );

    // 2. Tasks that go wrong cost themselves alone.
    println!("\ntasks that go wrong, submitted together with good ones:");
    let good = pool.submit(count_primes, 10_000);
    let crash = pool.submit(segfault, ());
    let panic = pool.submit(|n: u64| -> u64 { panic!("refusing to work on {n}") }, 42);
    let hang = pool.submit(
        |_: ()| -> u64 {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        },
        (),
    );
    let hog = pool.submit(
        |mb: usize| {
            let block = vec![1u8; mb << 20];
            std::hint::black_box(&block).len() as u64
        },
        4096,
    );
    let also_good = pool.submit(count_primes, 20_000);
    show("count_primes(10_000)", &good.join_captured());
    show("null pointer write", &crash.join_captured());
    show("panic", &panic.join_captured());
    show("sleep forever", &hang.join_captured());
    show("allocate 4 GiB", &hog.join_captured());
    show("count_primes(20_000)", &also_good.join_captured());

    // A replacement starts in the background, and a killed worker is listed
    // until its process is gone: give both a moment before counting.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut pids = pool.worker_pids();
    while pids.len() != pool.workers() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        pids = pool.worker_pids();
    }
    println!(
        "\nthe pool replaced its broken workers and still has {} (pids {pids:?})",
        pids.len()
    );
    pool.shutdown();
    println!("shut down; every process reaped. total {:?}", started.elapsed());
    Ok(())
}
