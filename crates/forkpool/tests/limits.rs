//! `task_timeout` and `memory_limit`: a task past either limit ends with
//! the matching error, its worker is replaced, and the pool goes on.

mod common;

use std::time::{Duration, Instant};

use common::{is_dead, read_pid, temp_path, wait_for};
use forkpool::{Pool, TaskError};

const TIMEOUT: Duration = Duration::from_millis(500);
const LIMIT: u64 = 64 << 20;

fn sleep_forever<T>(_: T) -> u32 {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[test]
fn a_task_that_sleeps_forever_times_out_soon_after_the_deadline() {
    let pool = Pool::builder().workers(1).task_timeout(TIMEOUT).build().unwrap();
    let before = pool.worker_pids();
    let start = Instant::now();
    let result = pool.submit(sleep_forever::<()>, ()).join();
    let took = start.elapsed();
    assert_eq!(result, Err(TaskError::TimedOut { after: TIMEOUT }));
    assert!(took >= TIMEOUT, "ended after {took:?}, before the deadline");
    // "Soon": the kill is immediate; allow for a loaded machine.
    assert!(took < TIMEOUT + Duration::from_secs(3), "ended only after {took:?}");
    // The worker was killed and replaced.
    assert!(wait_for(Duration::from_secs(5), || is_dead(before[0])));
    assert_eq!(pool.submit(|x: u32| x + 1, 1).join(), Ok(2));
    assert_ne!(pool.worker_pids(), before);
}

#[test]
fn a_timeout_kills_what_the_task_started() {
    let pool = Pool::builder().workers(1).task_timeout(TIMEOUT).build().unwrap();
    let path = temp_path("grandchild");
    let task = pool.submit(
        |path: String| -> u32 {
            #[expect(
                clippy::zombie_processes,
                reason = "the pool must kill this child; the test checks it did"
            )]
            let child = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
            std::fs::write(&path, child.id().to_string()).unwrap();
            sleep_forever(())
        },
        path.display().to_string(),
    );
    let grandchild = read_pid(&path);
    assert_eq!(task.join(), Err(TaskError::TimedOut { after: TIMEOUT }));
    assert!(
        wait_for(Duration::from_secs(5), || is_dead(grandchild)),
        "the task's child {grandchild} survived the timeout"
    );
    std::fs::remove_file(&path).ok();
}

/// Now on the monotonic clock, the same in every process.
fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Writes when it began (monotonic ns) to `path`, then never returns.
fn note_start_and_hang(path: std::path::PathBuf) -> u32 {
    if std::fs::write(&path, monotonic_ns().to_string()).is_err() {
        return 1;
    }
    sleep_forever(())
}

#[test]
fn a_timeout_never_fires_before_the_task_has_run_that_long() {
    // Measured from the task's own first instruction, not from `submit`
    // (which comes earlier and would hide an early kill): the kill comes
    // before `join` returns, so `join` returning less than the timeout
    // after the task began would be a timeout that fired early. Several
    // rounds, so that starts fall at every phase of the coarse clock's
    // tick that both sides stamp with; the pool's timeout and a per-task
    // one.
    let timeout = Duration::from_millis(150);
    let pool = Pool::builder().workers(1).task_timeout(timeout).build().unwrap();
    for round in 0..6 {
        let path = temp_path(&format!("never-early-{round}"));
        let task = if round % 2 == 0 {
            pool.submit(note_start_and_hang, path.clone())
        } else {
            pool.task().timeout(timeout).submit(note_start_and_hang, path.clone())
        };
        assert_eq!(
            task.join(),
            Err(TaskError::TimedOut { after: timeout }),
            "round {round}"
        );
        let ended = monotonic_ns();
        let began: u64 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        std::fs::remove_file(&path).ok();
        let ran = Duration::from_nanos(ended - began);
        assert!(ran >= timeout, "round {round}: timed out {ran:?} after the task began");
    }
}

#[test]
fn tasks_within_the_timeout_are_unaffected() {
    let pool = Pool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let pids = pool.worker_pids();
    let results: Vec<_> = (0..40u64)
        .map(|i| {
            pool.submit(
                |i: u64| {
                    std::thread::sleep(Duration::from_millis(5));
                    i
                },
                i,
            )
        })
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(results, (0..40).collect::<Vec<_>>());
    assert_eq!(pool.worker_pids(), pids, "no worker was replaced");
}

#[test]
fn a_timeout_inside_a_map_fails_that_item_only() {
    let pool = Pool::builder().workers(2).task_timeout(TIMEOUT).build().unwrap();
    let results: Vec<_> = pool
        .map(|i: u32| if i == 3 { sleep_forever(i) } else { i * 10 }, 0..8)
        .collect();
    for (i, result) in results.into_iter().enumerate() {
        if i == 3 {
            assert_eq!(result, Err(TaskError::TimedOut { after: TIMEOUT }));
        } else {
            assert_eq!(result, Ok(i as u32 * 10));
        }
    }
}

/// Allocates and fills `mb` MiB; `black_box` keeps an optimising build
/// from eliding the allocation.
fn allocate_mb(mb: usize) -> usize {
    let block = vec![1u8; mb << 20];
    std::hint::black_box(&block).len()
}

fn memory_pool() -> Pool {
    Pool::builder().workers(1).memory_limit(LIMIT).build().unwrap()
}

fn check_memory_limit(pool: &Pool) {
    // One large allocation past the limit.
    let big = pool.submit(allocate_mb, 512).join();
    assert_eq!(big, Err(TaskError::MemoryLimitExceeded { limit: LIMIT }));
    // A leak that grows past it a little at a time.
    let leak = pool
        .submit(
            |_: ()| {
                let mut kept = Vec::new();
                loop {
                    kept.push(std::hint::black_box(vec![7u8; 1 << 20]));
                    if kept.len() > 10_000 {
                        return kept.len();
                    }
                }
            },
            (),
        )
        .join();
    assert_eq!(leak, Err(TaskError::MemoryLimitExceeded { limit: LIMIT }));
    // Within the limit, all is well, and the pool goes on.
    assert_eq!(pool.submit(allocate_mb, 16).join(), Ok(16 << 20));
    assert_eq!(pool.submit(|x: u32| x + 1, 1).join(), Ok(2));
}

#[test]
fn a_task_that_allocates_past_the_memory_limit_fails_and_the_pool_goes_on() {
    check_memory_limit(&memory_pool());
}

#[test]
fn the_memory_limit_is_recognised_even_with_backtraces_enabled() {
    // RUST_BACKTRACE makes Rust print a backtrace on allocation failure,
    // which used to hide the cause; run the check in a fresh process with
    // it set (changing our own environment would race with other tests).
    common::run_helper_test(
        "memory_limit_helper",
        &[
            ("RUST_BACKTRACE", "full".as_ref()),
            ("FORKPOOL_TEST_HELPER", "1".as_ref()),
        ],
    );
}

#[test]
#[ignore = "run by the_memory_limit_is_recognised_even_with_backtraces_enabled"]
fn memory_limit_helper() {
    if std::env::var_os("FORKPOOL_TEST_HELPER").is_none() {
        return;
    }
    assert_eq!(std::env::var("RUST_BACKTRACE").as_deref(), Ok("full"));
    check_memory_limit(&memory_pool());
}

#[test]
fn an_enormous_timeout_means_no_timeout() {
    let pool = Pool::builder().workers(1).task_timeout(Duration::MAX).build().unwrap();
    assert_eq!(pool.submit(|x: u32| x + 1, 1).join(), Ok(2));
    assert_eq!(pool.submit(|x: u32| x + 1, 2).join(), Ok(3));
}

/// Spins (a sleep could be cut short by nothing, but spinning keeps the
/// CPU busy like real work) for `us` microseconds.
fn spin_us(us: u64) -> u64 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
    us
}

#[test]
fn a_timeout_kill_never_lands_on_the_next_task() {
    // Tasks that end right around the deadline, each followed by a quick
    // one on the same worker: the kill for a late task must not take the
    // quick task that started after it.
    //
    // The quick tasks get a timeout of their own, far longer than any
    // stall a loaded machine can cause, so a quick task that ends
    // `TimedOut` can only have been hit by the kill meant for the task
    // before it: the error names the 20 ms of the pool's timeout.
    let timeout = Duration::from_millis(20);
    let generous = Duration::from_secs(60);
    let pool = Pool::builder().workers(2).task_timeout(timeout).build().unwrap();
    let tasks: Vec<(u64, _)> = (0..160u64)
        .map(|i| {
            if i % 2 == 0 {
                let us = 18_000 + (i * 37 % 5_000);
                (us, pool.submit(spin_us, us))
            } else {
                (100, pool.task().timeout(generous).submit(spin_us, 100))
            }
        })
        .collect();
    for (us, task) in tasks {
        match task.join() {
            Ok(got) => assert_eq!(got, us),
            Err(TaskError::TimedOut { after }) if us >= 18_000 => assert_eq!(after, timeout),
            Err(e) => panic!("a {us} µs task failed: {e:?}"),
        }
    }
}

#[test]
fn an_argument_bigger_than_the_memory_limit_fails_without_killing_workers() {
    let pool = memory_pool();
    let before = pool.worker_pids();
    let big = pool
        .submit(|v: Vec<u8>| v.len(), vec![1u8; (LIMIT as usize) + (1 << 20)])
        .join();
    assert_eq!(big, Err(TaskError::MemoryLimitExceeded { limit: LIMIT }));
    assert_eq!(pool.worker_pids(), before, "a worker was sacrificed to find out");
    assert_eq!(pool.submit(|v: Vec<u8>| v.len(), vec![1u8; 1000]).join(), Ok(1000));
}
