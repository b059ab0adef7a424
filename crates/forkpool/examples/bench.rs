//! Measures forkpool against the floor on this machine, in one run, and
//! prints a Markdown table (what `BENCHMARKS.md` records).
//!
//! ```text
//! cargo run --release --example bench
//! ```
//!
//! Each pool figure sits beside a baseline measured in this same process:
//! a raw pipe round trip between two processes (the least any
//! cross-process call can cost) and `fork` + `wait` (the least starting a
//! process can cost). Latency is measured twice, with the pool's processes
//! spread over the CPUs (how a pool runs) and squeezed onto one CPU, each
//! against the pipe round trip in the same placement.
//!
//! A second table gives what `TaskOutput::Tagged` and `Capture` cost per
//! task, each beside `Inherit` (the default, which costs nothing) measured
//! in the same run, for tasks that write nothing and for tasks that write
//! one line (to stderr, which is sent to `/dev/null` meanwhile so that a
//! terminal's speed is not what is measured).

#[path = "../benches/support/floor.rs"]
mod floor;

use std::time::{Duration, Instant};

use floor::{allowed_cpus, fork_and_wait, median, median_of, pin, pipe_round_trip};
use forkpool::{Pool, TaskOutput};

fn identity(x: u64) -> u64 {
    x
}

/// Median submit + join latency of a 2-worker pool built while this
/// thread's CPUs are `cpus` (the pool's processes inherit that).
fn pool_latency(cpus: &[usize]) -> Duration {
    let all = allowed_cpus();
    pin(cpus);
    let pool = Pool::builder().workers(2).build().unwrap();
    for i in 0..2000 {
        pool.submit(identity, i).join().unwrap();
    }
    let time = median(11, 1000, || {
        for i in 0..1000 {
            pool.submit(identity, i).join().unwrap();
        }
    });
    pool.shutdown();
    pin(&all);
    time
}

/// The three output modes, in the order the table shows them.
const MODES: [TaskOutput; 3] = [TaskOutput::Inherit, TaskOutput::Tagged, TaskOutput::Capture];

/// Median time per task of `scenario` on a pool of each mode. The pools
/// run side by side and take turns, round after round, so that a machine
/// busy with something else slows all three alike.
fn per_task_by_mode(workers: usize, rounds: usize, per: u32, mut scenario: impl FnMut(&Pool)) -> [Duration; 3] {
    let pools = MODES.map(|output| Pool::builder().workers(workers).task_output(output).build().unwrap());
    for pool in &pools {
        scenario(pool);
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..rounds {
        for (pool, times) in pools.iter().zip(&mut times) {
            let start = Instant::now();
            scenario(pool);
            times.push(start.elapsed() / per);
        }
    }
    times.map(|mut t| {
        t.sort();
        t[t.len() / 2]
    })
}

fn say(x: u64) -> u64 {
    eprintln!("task {x} says hello");
    x
}

fn print_output_costs(workers: usize) {
    // A round trip costs ten times more when it crosses CPUs, and where
    // each pool's processes land is luck: measured on one CPU, all alike.
    let cpus = allowed_cpus();
    pin(&cpus[..1]);
    let silent_latency = per_task_by_mode(workers, 15, 1000, |pool| {
        for i in 0..1000 {
            pool.submit(identity, i).join().unwrap();
        }
    });
    pin(&cpus);
    let silent_submit_all = per_task_by_mode(workers, 11, 20_000, |pool| {
        let tasks: Vec<_> = (0..20_000).map(|i| pool.submit(identity, i)).collect();
        for task in tasks {
            task.join().unwrap();
        }
    });
    let silent_map = per_task_by_mode(workers, 11, 1_000_000, |pool| {
        let ok = pool.map(|x: u64| x + 1, 0..1_000_000u64).filter(Result::is_ok).count();
        assert_eq!(ok, 1_000_000);
    });
    // Tasks that write a line: to stderr, which goes to /dev/null for the
    // while (`Inherit` workers inherit it when their pool starts; `Tagged`
    // prints there; `Capture` keeps it).
    let saved = rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 3).unwrap();
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
    rustix::stdio::dup2_stderr(&null).unwrap();
    let writing_submit_all = per_task_by_mode(workers, 11, 20_000, |pool| {
        let tasks: Vec<_> = (0..20_000).map(|i| pool.submit(say, i)).collect();
        for task in tasks {
            task.join_captured().result.unwrap();
        }
    });
    let writing_map = per_task_by_mode(workers, 11, 200_000, |pool| {
        let ok = pool
            .map(say, 0..200_000u64)
            .captured()
            .filter(|c| c.result.is_ok())
            .count();
        assert_eq!(ok, 200_000);
    });
    rustix::stdio::dup2_stderr(&saved).unwrap();

    let more = |d: Duration, base: Duration| {
        let extra = d.as_nanos() as f64 - base.as_nanos() as f64;
        format!("{:+.0} ns ({:.2}x)", extra, d.as_secs_f64() / base.as_secs_f64())
    };
    println!("\nTask output, time per task (pools of {workers} workers, the three modes measured in turns):\n");
    println!("| per task | `Inherit` (baseline) | `Tagged` | `Capture` |");
    println!("| --- | --- | --- | --- |");
    let rows = [
        (
            "submit + join one at a time, task writes nothing (one CPU)",
            silent_latency,
        ),
        ("submit 20,000 then join all, tasks write nothing", silent_submit_all),
        ("`map` of 1,000,000 items that write nothing", silent_map),
        (
            "submit 20,000 then join all, each task writes a line",
            writing_submit_all,
        ),
        ("`map` of 200,000 items that each write a line", writing_map),
    ];
    for (what, [inherit, tagged, capture]) in rows {
        println!(
            "| {what} | {:.0} ns | {} | {} |",
            inherit.as_nanos(),
            more(tagged, inherit),
            more(capture, inherit)
        );
    }
}

fn main() {
    let cpus = allowed_cpus();
    let workers = cpus.len().max(2);

    // Floors.
    let pipe_same = pipe_round_trip(cpus[0], cpus[0], 2000);
    let pipe_cross = (cpus.len() > 1).then(|| pipe_round_trip(cpus[0], cpus[1], 2000));
    let fork_wait = median(11, 100, || (0..100).for_each(|_| fork_and_wait()));

    // Latency, in both placements.
    let latency_one_cpu = pool_latency(&cpus[..1]);
    let latency_spread = (cpus.len() > 1).then(|| pool_latency(&cpus));

    // Build to first result, a fresh pool each time (shutdown not counted).
    let build_first = median_of(11, || {
        let start = Instant::now();
        let pool = Pool::builder().workers(workers).build().unwrap();
        assert_eq!(pool.submit(identity, 7).join(), Ok(7));
        let took = start.elapsed();
        pool.shutdown();
        took
    });

    let pool = Pool::builder().workers(workers).build().unwrap();
    let submit_all = median(9, 20_000, || {
        let tasks: Vec<_> = (0..20_000).map(|i| pool.submit(identity, i)).collect();
        for task in tasks {
            task.join().unwrap();
        }
    });
    let map = median(9, 1_000_000, || {
        let ok = pool.map(|x: u64| x + 1, 0..1_000_000u64).filter(Result::is_ok).count();
        assert_eq!(ok, 1_000_000);
    });
    pool.shutdown();

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let rate = |d: Duration| format!("{:.0}", 1.0 / d.as_secs_f64());
    println!(
        "Machine: {} CPUs; pools of {workers} workers unless noted.\n",
        cpus.len()
    );
    println!("| measurement | result | baseline, same run | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    if let (Some(latency), Some(pipe)) = (latency_spread, pipe_cross) {
        println!(
            "| submit + join one at a time, pool spread over the CPUs (2 workers) | {latency:.1?} | pipe round trip across CPUs {pipe:.1?} | {:.2}x | within 2x |",
            ratio(latency, pipe)
        );
    }
    println!(
        "| submit + join one at a time, everything on one CPU (2 workers) | {latency_one_cpu:.1?} | pipe round trip on one CPU {pipe_same:.1?} | {:.2}x | within 2x |",
        ratio(latency_one_cpu, pipe_same)
    );
    println!(
        "| submit 20,000 then join all | {} tasks/s | | | >= 200,000/s |",
        rate(submit_all)
    );
    println!(
        "| `map` of 1,000,000 trivial items | {} items/s | | | >= 5,000,000/s |",
        rate(map)
    );
    println!(
        "| build to first result | {build_first:.2?} | `fork` + `wait` {fork_wait:.1?} | {:.1}x | <= 10 ms |",
        ratio(build_first, fork_wait)
    );
    print_output_costs(workers);
}
