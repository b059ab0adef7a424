//! Streaming tasks: a generator in a worker process, read as it yields.
//!
//! ```text
//! cargo run --release --example stream
//! ```

use std::time::{Duration, Instant};

use forkpool::{Pool, SharedBytes, TaskError};

/// An endless generator: the primes, found by trial division.
fn primes(_: ()) -> impl Iterator<Item = u64> {
    (2u64..).filter(|&n| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
}

/// A generator that reads a "device" (here: it sleeps) and crashes on the
/// fourth reading, as a buggy driver might.
fn readings(period_ms: u64) -> impl Iterator<Item = String> {
    (1..).map(move |i| {
        std::thread::sleep(Duration::from_millis(period_ms));
        if i == 4 {
            // SAFETY: it is not: this is the bug.
            unsafe { std::ptr::null_mut::<u8>().write_volatile(0) };
        }
        format!("reading {i}")
    })
}

fn main() -> Result<(), forkpool::Error> {
    let pool = Pool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(5)) // per item, not per stream
        .build()?;

    // 1. A million squares, as the worker makes them.
    let start = Instant::now();
    let squares = pool.stream(|n: u64| (0..n).map(|i| i * i), 1_000_000);
    let sum: u64 = squares.map(Result::unwrap).fold(0, u64::wrapping_add);
    println!("1,000,000 squares streamed in {:.1?} (sum {sum})", start.elapsed());

    // 2. An endless generator, read lazily: the worker runs a bounded
    //    distance ahead, and dropping the stream stops it.
    let first: Vec<u64> = pool.stream(primes, ()).take(10).map(Result::unwrap).collect();
    println!("the first primes: {first:?}");

    // 3. Items arrive as they are made, and a crash costs only what comes
    //    after it: the readings before it are delivered, then the error.
    let start = Instant::now();
    for item in pool.stream(readings, 200) {
        match item {
            Ok(reading) => println!("  {:>4} ms  {reading}", start.elapsed().as_millis()),
            Err(TaskError::Crashed { signal, .. }) => println!("  the device crashed (signal {signal:?})"),
            Err(other) => println!("  {other}"),
        }
    }

    // 4. Big items cross as shared memory: only a descriptor travels.
    let sizes: Vec<usize> = pool
        .stream(
            |n: usize| (1..=n).map(|mib| SharedBytes::copy_from(&vec![mib as u8; mib << 20]).unwrap()),
            4,
        )
        .map(|buffer| buffer.unwrap().len() >> 20)
        .collect();
    println!("shared buffers of {sizes:?} MiB");

    // 5. Other tasks go on beside an open stream (on the other worker).
    let mut ticks = pool.stream(primes, ());
    let task = pool.submit(|x: u64| x * 2, 21);
    println!("beside the stream: {:?}, then prime {:?}", task.join(), ticks.next());
    drop(ticks);

    pool.shutdown();
    Ok(())
}
