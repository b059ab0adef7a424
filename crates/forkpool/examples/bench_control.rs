//! What control over running work costs, measured in one run:
//!
//! ```text
//! cargo run --release --example bench_control
//! FORKPOOL_BENCH_QUICK=1 cargo run --release --example bench_control   # fewer rounds
//! ```
//!
//! Progress goes to stderr as each part ends; a wait that should take
//! milliseconds and takes longer than [`STUCK`] stops the run with what it
//! was waiting for (a hang is a bug to report, not a slow machine).
//!
//! - `Task::abort` of a running task, end to end: from the call until the
//!   aborted task's worker is dead and its replacement is ready (the pool
//!   back at full size), beside `fork` + `wait` measured in the same run
//!   (the least replacing a process can cost). Goal: under 5 ms.
//! - Per-task options: `pool.task().timeout(..).submit(..)` and
//!   `.map(..)` against plain `submit` and `map` on the same pool, taking
//!   turns round after round (a busy machine slows both alike). Goal: no
//!   more than 5% slower. (The counters behind `Pool::stats` are always on;
//!   their cost is the A/B `benches/all.sh --only control` runs after this:
//!   plain `submit` and `map` built before they landed and now.)

#[path = "../benches/support/floor.rs"]
mod floor;

use std::time::{Duration, Instant};

use floor::{fork_and_wait, median};
use forkpool::Pool;

/// Longer than any wait here may take on a loaded machine.
const STUCK: Duration = Duration::from_secs(60);

/// Fails the run if `since` is longer ago than [`STUCK`].
fn check_stuck(since: Instant, waiting_for: impl FnOnce() -> String) {
    if since.elapsed() > STUCK {
        eprintln!("bench_control: stuck for {STUCK:?} waiting for {}", waiting_for());
        std::process::exit(1);
    }
}

fn identity(x: u64) -> u64 {
    x
}

/// Says it runs (creates the file `started`), then never returns.
fn hang(started: String) -> u8 {
    if std::fs::write(&started, b"").is_err() {
        return 1;
    }
    loop {
        std::thread::park();
    }
}

/// One abort, end to end: returns how long from `abort` until the pool has
/// a new ready worker in place of the one that ran the task.
fn abort_once(pool: &Pool) -> Duration {
    let before = pool.worker_pids();
    let started = std::env::temp_dir().join(format!("forkpool-bench-control-{}", std::process::id()));
    let _ = std::fs::remove_file(&started);
    let task = pool.submit(hang, started.to_string_lossy().into_owned());
    // Let it start. (Not `stats().running`: that counts tasks handed to a
    // worker, which may not have begun them; aborting one of those skips
    // it, as `cancel` would, and no worker is replaced.)
    let waiting = Instant::now();
    while !started.exists() {
        check_stuck(waiting, || format!("the task to start: {:?}", pool.stats()));
        std::thread::sleep(Duration::from_micros(100));
    }
    let _ = std::fs::remove_file(&started);
    let start = Instant::now();
    assert!(task.abort());
    assert!(task.join().is_err());
    loop {
        let now = pool.worker_pids();
        if now.len() == before.len() && now != before && pool.stats().workers == before.len() as u64 {
            let gone = before.iter().find(|pid| !now.contains(pid));
            if gone.is_some_and(|&pid| !alive(pid)) {
                return start.elapsed();
            }
        }
        check_stuck(start, || {
            format!(
                "the aborted task's worker to be replaced: pids before {before:?}, now {now:?}, {:?}",
                pool.stats()
            )
        });
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// Whether `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?.to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Median seconds per task of `plain` and `with_options`, taking turns.
fn side_by_side(
    rounds: usize,
    per: u32,
    mut plain: impl FnMut(),
    mut with_options: impl FnMut(),
) -> (Duration, Duration) {
    plain();
    with_options();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        plain();
        a.push(start.elapsed() / per);
        let start = Instant::now();
        with_options();
        b.push(start.elapsed() / per);
    }
    a.sort();
    b.sort();
    (a[a.len() / 2], b[b.len() / 2])
}

fn main() {
    let quick = std::env::var_os("FORKPOOL_BENCH_QUICK").is_some();
    let (aborts_n, rounds, submits, items) = if quick {
        (11, 5, 5_000u32, 200_000u64)
    } else {
        (31, 11, 20_000u32, 1_000_000u64)
    };
    let workers = 2;
    let pool = Pool::builder().workers(workers).build().unwrap();

    let fork = median(11, 100, || {
        for _ in 0..100 {
            fork_and_wait();
        }
    });
    for _ in 0..3 {
        abort_once(&pool);
    }
    let mut aborts: Vec<Duration> = (0..aborts_n).map(|_| abort_once(&pool)).collect();
    aborts.sort();
    eprintln!("bench_control: {aborts_n} aborts done");
    let abort = aborts[aborts.len() / 2];

    let far = Duration::from_secs(3600);
    let (submit_plain, submit_options) = side_by_side(
        rounds,
        submits,
        || {
            let tasks: Vec<_> = (0..u64::from(submits)).map(|i| pool.submit(identity, i)).collect();
            assert!(tasks.into_iter().all(|t| t.join().is_ok()));
        },
        || {
            let options = pool.task().timeout(far);
            let tasks: Vec<_> = (0..u64::from(submits)).map(|i| options.submit(identity, i)).collect();
            assert!(tasks.into_iter().all(|t| t.join().is_ok()));
        },
    );
    eprintln!("bench_control: submit rounds done");
    let (map_plain, map_options) = side_by_side(
        rounds,
        items as u32,
        || {
            assert_eq!(
                pool.map(|x: u64| x + 1, 0..items).filter(Result::is_ok).count() as u64,
                items
            )
        },
        || {
            let ok = pool
                .task()
                .timeout(far)
                .map(|x: u64| x + 1, 0..items)
                .filter(Result::is_ok)
                .count() as u64;
            assert_eq!(ok, items);
        },
    );
    eprintln!("bench_control: map rounds done");
    pool.shutdown();

    let rate = |d: Duration| 1.0 / d.as_secs_f64();
    println!("| scenario | forkpool | baseline (same run) | ratio | goal |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| `abort` of a running task, until its replacement is ready | {:.2} ms | fork + wait: {:.2} ms | {:.1}× | < 5 ms |",
        abort.as_secs_f64() * 1e3,
        fork.as_secs_f64() * 1e3,
        abort.as_secs_f64() / fork.as_secs_f64()
    );
    println!(
        "| submit {submits} then join all, with `task().timeout(..)` | {:.0} tasks/s | plain `submit`: {:.0} tasks/s | {:.3} | ≥ 0.95 |",
        rate(submit_options),
        rate(submit_plain),
        rate(submit_options) / rate(submit_plain)
    );
    println!(
        "| `map` of {items} items, with `task().timeout(..)` | {:.2} M items/s | plain `map`: {:.2} M items/s | {:.3} | ≥ 0.95 |",
        rate(map_options) / 1e6,
        rate(map_plain) / 1e6,
        rate(map_options) / rate(map_plain)
    );
    println!(
        "\n(abort: median of {} runs, fastest {:.2} ms, slowest {:.2} ms)",
        aborts.len(),
        aborts[0].as_secs_f64() * 1e3,
        aborts[aborts.len() - 1].as_secs_f64() * 1e3
    );
}
