//! What least privilege costs: starting workers, and running tasks, with
//! and without `run_as` + rlimits + a Landlock sandbox, side by side in one
//! run. Prints a Markdown table (what `BENCHMARKS.md` records).
//!
//! ```text
//! cargo run --release --example bench_privilege   # as root, to include run_as
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use forkpool::{Pool, PoolBuilder, Rlimit, Sandbox, StartMethod};

fn identity(x: u64) -> u64 {
    x
}

/// The confined pool: every least-privilege setting this process can use.
fn confine(builder: PoolBuilder, root: bool, out: &Path) -> PoolBuilder {
    let builder = builder
        .rlimit(Rlimit::CpuSeconds(60))
        .rlimit(Rlimit::OpenFiles(256))
        .rlimit(Rlimit::FileSize(1 << 30))
        .rlimit(Rlimit::CoreSize(0))
        .sandbox(Sandbox::new().read_only("/").read_write(out).no_network().best_effort());
    if root {
        builder.run_as(65534, 65534).rlimit(Rlimit::Processes(4096))
    } else {
        builder
    }
}

/// Medians of `runs` samples of `plain` and of `confined`, taken in
/// turn, so that a noisy neighbour weighs on both alike.
fn paired(
    runs: usize,
    mut plain: impl FnMut() -> Duration,
    mut confined: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        a.push(plain());
        b.push(confined());
    }
    a.sort();
    b.sort();
    (a[runs / 2], b[runs / 2])
}

fn builder(start: StartMethod, workers: usize, confined: Option<(bool, &Path)>) -> PoolBuilder {
    let builder = Pool::builder().workers(workers).start_method(start);
    match confined {
        Some((root, out)) => confine(builder, root, out),
        None => builder,
    }
}

/// Time from `build()` to the first result, `workers` workers.
fn build_to_first(start: StartMethod, workers: usize, confined: Option<(bool, &Path)>) -> Duration {
    let began = Instant::now();
    let pool = builder(start, workers, confined).build().unwrap();
    assert_eq!(pool.submit(identity, 7).join(), Ok(7));
    let took = began.elapsed();
    pool.shutdown();
    took
}

/// Time per task when each needs a new worker (one task per worker): a
/// worker start, plus one round trip.
fn worker_start(pool: &Pool, per: u32) -> Duration {
    let began = Instant::now();
    for i in 0..per {
        pool.submit(identity, u64::from(i)).join().unwrap();
    }
    began.elapsed() / per
}

/// Time per item of a `map` of 1,000,000 trivial items.
fn map_item(pool: &Pool) -> Duration {
    let began = Instant::now();
    let ok = pool.map(|x: u64| x + 1, 0..1_000_000u64).filter(Result::is_ok).count();
    assert_eq!(ok, 1_000_000);
    began.elapsed() / 1_000_000
}

fn main() {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let out = std::env::temp_dir().join(format!("forkpool-bench-privilege-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let confined = Some((root, out.as_path()));
    let what = if root {
        "run_as + no_new_privileges + 5 rlimits + sandbox (read_only /, read_write, no_network)"
    } else {
        "(not root: no run_as) no_new_privileges + 4 rlimits + sandbox (read_only /, read_write, no_network)"
    };
    let missing = Sandbox::new().read_only("/").no_network().unenforceable();

    let mut rows = Vec::new();
    for start in [StartMethod::Zygote, StartMethod::Exec] {
        let (plain, tight) = paired(
            15,
            || build_to_first(start, 2, None),
            || build_to_first(start, 2, confined),
        );
        rows.push((format!("build to first result, 2 workers, {start:?}"), tight, plain));
        let per = if start == StartMethod::Exec { 10 } else { 50 };
        let plain_pool = builder(start, 1, None).max_tasks_per_worker(1).build().unwrap();
        let tight_pool = builder(start, 1, confined).max_tasks_per_worker(1).build().unwrap();
        let (plain, tight) = paired(15, || worker_start(&plain_pool, per), || worker_start(&tight_pool, per));
        rows.push((
            format!("worker start + one task (max_tasks_per_worker(1)), {start:?}"),
            tight,
            plain,
        ));
    }
    let plain_pool = builder(StartMethod::Zygote, 2, None).build().unwrap();
    let tight_pool = builder(StartMethod::Zygote, 2, confined).build().unwrap();
    let (plain_map, tight_map) = paired(9, || map_item(&plain_pool), || map_item(&tight_pool));
    drop((plain_pool, tight_pool));
    std::fs::remove_dir_all(&out).unwrap();

    println!("Confined: {what}.");
    if !missing.is_empty() {
        println!("Not enforced by this kernel: {missing:?}.");
    }
    println!();
    println!("| measurement | confined | unconfined, same run | ratio |");
    println!("| --- | --- | --- | --- |");
    for (name, tight, plain) in rows {
        println!(
            "| {name} | {tight:.2?} | {plain:.2?} | {:.2}x |",
            tight.as_secs_f64() / plain.as_secs_f64()
        );
    }
    let rate = |d: Duration| 1e-6 / d.as_secs_f64();
    println!(
        "| `map` of 1,000,000 trivial items (`CpuSeconds` re-armed per item), Zygote | {:.1} M items/s | {:.1} M items/s | {:.2}x the time |",
        rate(tight_map),
        rate(plain_map),
        tight_map.as_secs_f64() / plain_map.as_secs_f64()
    );
}
