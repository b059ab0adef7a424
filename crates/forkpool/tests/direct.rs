//! The direct path: `submit` writes a task straight to an idle worker the
//! supervisor lent, and `join` reads its result from that worker (see
//! `src/supervisor/lease.rs`). Every promise of the pool must hold on it,
//! including the races it opens: the worker dying just after the hand-off,
//! an abort or a timeout during it, and callers racing for the one lent
//! worker. `PoolStats::direct` tells that a task did go that way.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{kill, wait_for};
use forkpool::{Pool, TaskError};

fn identity(x: u64) -> u64 {
    x
}

fn sleep_ms(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

/// Runs `f` on a thread of its own and fails (rather than hangs) if it
/// has not returned within `secs` seconds.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => value,
        Err(_) => panic!("hung for {secs} s"),
    }
}

/// Joins `task` within 60 s, on another thread.
fn join<R: serde::de::DeserializeOwned + Send + 'static>(task: forkpool::Task<R>) -> Result<R, TaskError> {
    within(60, move || task.join())
}

/// A pool whose idle worker is lent: the next task goes the direct path.
/// (The supervisor lends a worker once it has nothing else to do, and a
/// direct task's `join` offers the worker again.)
fn lent(pool: &Pool) {
    assert!(
        wait_for(Duration::from_secs(10), || {
            let before = pool.stats().direct;
            assert_eq!(pool.submit(identity, 1).join(), Ok(1));
            pool.stats().direct > before
        }),
        "no task went the direct path"
    );
}

/// Submits `f(arg)` and checks that it went the direct path.
fn submit_direct<F, A, R>(pool: &Pool, f: F, arg: A) -> forkpool::Task<R>
where
    F: Fn(A) -> R + Copy + Send + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let before = pool.stats().direct;
    let task = pool.submit(f, arg);
    assert_eq!(pool.stats().direct, before + 1, "the task did not go the direct path");
    task
}

#[test]
fn one_task_at_a_time_goes_straight_to_a_worker_and_is_counted() {
    let pool = Pool::builder().workers(2).build().unwrap();
    lent(&pool);
    let before = pool.stats();
    for i in 0..200 {
        let task = pool.submit(identity, i);
        // Counted as running from the hand-off, before the supervisor knows.
        let stats = pool.stats();
        assert_eq!((stats.running, stats.queued), (1, 0), "{stats:?}");
        assert_eq!(task.join(), Ok(i));
    }
    let after = pool.stats();
    assert_eq!(after.direct - before.direct, 200, "{after:?}");
    assert_eq!(after.completed - before.completed, 200);
    assert_eq!((after.running, after.queued, after.failed), (0, 0, 0), "{after:?}");
}

#[test]
fn a_worker_that_crashes_on_a_direct_task_ends_it_once_and_is_replaced() {
    let pool = Pool::builder().workers(1).build().unwrap();
    lent(&pool);
    let old = pool.worker_pids();
    let task = submit_direct(&pool, |_: ()| -> u8 { std::process::abort() }, ());
    assert!(matches!(join(task), Err(TaskError::Crashed { signal: Some(6), .. })));
    let stats = pool.stats();
    assert_eq!((stats.crashed, stats.workers_lost), (1, 1), "{stats:?}");
    assert_eq!(join(pool.submit(identity, 7)), Ok(7));
    assert_ne!(pool.worker_pids(), old);
    assert_eq!(pool.stats().failed, 1);
}

#[test]
fn a_worker_killed_mid_direct_task_fails_that_task_once() {
    let pool = Pool::builder().workers(1).build().unwrap();
    lent(&pool);
    let pid = pool.worker_pids()[0];
    let task = submit_direct(&pool, sleep_ms, 2_000);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        kill(pid, libc::SIGKILL);
    });
    assert!(matches!(join(task), Err(TaskError::Crashed { signal: Some(9), .. })));
    killer.join().unwrap();
    assert_eq!(join(pool.submit(identity, 3)), Ok(3));
    let stats = pool.stats();
    assert_eq!((stats.crashed, stats.workers_lost), (1, 1), "{stats:?}");
}

#[test]
fn a_worker_killed_just_before_the_hand_off_loses_no_task() {
    let pool = Pool::builder().workers(1).build().unwrap();
    for i in 0..8 {
        lent(&pool);
        let pid = pool.worker_pids()[0];
        kill(pid, libc::SIGKILL);
        // At once: the task may be written to the dead worker's socket,
        // or find the worker gone, or go by the supervisor. Never started,
        // it runs on the replacement, exactly once.
        assert_eq!(join(pool.submit(identity, i)), Ok(i));
        assert!(wait_for(Duration::from_secs(10), || !pool.worker_pids().contains(&pid)));
    }
    let stats = pool.stats();
    assert_eq!(stats.failed, 0, "{stats:?}");
}

#[test]
fn a_timeout_applies_to_a_direct_task() {
    let pool = Pool::builder().workers(1).build().unwrap();
    lent(&pool);
    let start = Instant::now();
    let task = pool.task().timeout(Duration::from_millis(200));
    let before = pool.stats().direct;
    let slow = task.submit(sleep_ms, 60_000);
    assert_eq!(pool.stats().direct, before + 1, "not the direct path");
    assert_eq!(
        join(slow),
        Err(TaskError::TimedOut {
            after: Duration::from_millis(200)
        })
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(join(pool.submit(identity, 5)), Ok(5));

    // The pool's own timeout too.
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    lent(&pool);
    let slow = submit_direct(&pool, sleep_ms, 60_000);
    assert_eq!(
        join(slow),
        Err(TaskError::TimedOut {
            after: Duration::from_millis(300)
        })
    );
    assert_eq!(pool.stats().timed_out, 1);
}

#[test]
fn abort_of_a_direct_task_kills_its_worker_and_ends_it_once() {
    let pool = Pool::builder().workers(1).build().unwrap();
    lent(&pool);
    let old = pool.worker_pids();
    let task = submit_direct(&pool, sleep_ms, 60_000);
    std::thread::sleep(Duration::from_millis(50));
    assert!(task.abort());
    assert!(!task.abort(), "ends once");
    assert_eq!(join(task), Err(TaskError::Cancelled));
    assert_eq!(join(pool.submit(identity, 9)), Ok(9));
    assert!(wait_for(Duration::from_secs(10), || pool.worker_pids() != old));
    let stats = pool.stats();
    assert_eq!((stats.aborted, stats.cancelled), (1, 1), "{stats:?}");
}

#[test]
fn abort_racing_a_direct_task_s_completion_ends_it_exactly_once() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let (mut aborted, mut finished, mut direct) = (0u64, 0u64, 0u64);
    for i in 0..150 {
        // Each try starts from a lent worker: an abort kills the worker,
        // and on a loaded machine the pool may not lend its replacement
        // before the next submit.
        lent(&pool);
        let before = pool.stats();
        let task = pool.submit(identity, i);
        direct += pool.stats().direct - before.direct;
        if i % 3 == 1 {
            std::thread::yield_now();
        }
        let abort = task.abort();
        let outcome = join(task);
        let stats = pool.stats();
        assert_eq!(stats.submitted - before.submitted, 1, "{stats:?}");
        match outcome {
            Ok(v) => {
                assert!(!abort, "abort said yes, but the result came");
                assert_eq!(v, i);
                assert_eq!(
                    (stats.completed - before.completed, stats.failed - before.failed),
                    (1, 0),
                    "{stats:?}"
                );
                finished += 1;
            }
            Err(TaskError::Cancelled) => {
                assert!(abort, "cancelled without an abort");
                assert_eq!(
                    (stats.completed - before.completed, stats.failed - before.failed),
                    (0, 1),
                    "{stats:?}"
                );
                aborted += 1;
            }
            Err(e) => panic!("task {i}: {e:?}"),
        }
    }
    assert_eq!(finished + aborted, 150);
    assert!(direct > 0, "no racing task went the direct path");
    // The pool is whole.
    assert_eq!(join(pool.submit(identity, 1)), Ok(1));
}

#[test]
fn callers_racing_for_the_lent_worker_each_get_their_own_result() {
    for workers in [1, 2] {
        let pool = Arc::new(Pool::builder().workers(workers).build().unwrap());
        lent(&pool);
        let before = pool.stats();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for i in 0..300 {
                        let value = t * 1_000_000 + i;
                        assert_eq!(pool.submit(identity, value).join(), Ok(value));
                    }
                })
            })
            .collect();
        within(120, move || {
            for thread in threads {
                thread.join().unwrap();
            }
        });
        let stats = pool.stats();
        assert_eq!(stats.completed - before.completed, 1200, "{stats:?}");
        assert_eq!((stats.failed, stats.running, stats.queued), (0, 0, 0), "{stats:?}");
        assert!(stats.direct > before.direct, "{stats:?}");
    }
}

#[test]
fn a_direct_task_not_yet_joined_holds_up_nothing() {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    lent(&pool);
    let first = submit_direct(&pool, identity, 1);
    // Queued behind the first; joined first. The supervisor must read the
    // first task's result from the worker itself to free it.
    let second = pool.submit(identity, 2);
    assert_eq!(join(second), Ok(2));
    assert_eq!(join(first), Ok(1));
}

#[test]
fn a_direct_task_can_be_waited_for_without_join() {
    let pool = Pool::builder().workers(1).build().unwrap();
    lent(&pool);
    let task = submit_direct(&pool, identity, 4);
    assert!(task.wait_timeout(Duration::from_secs(60)));
    assert_eq!(task.join(), Ok(4));

    lent(&pool);
    let task = submit_direct(&pool, identity, 5);
    assert!(wait_for(Duration::from_secs(60), || task.is_finished()));
    assert_eq!(task.join(), Ok(5));

    lent(&pool);
    let task = submit_direct(&pool, identity, 6);
    let mut done = forkpool::as_completed([task]);
    assert_eq!(done.next_timeout(Duration::from_secs(60)), Some((0, Ok(6))));
}

#[test]
fn the_pool_shuts_down_with_a_direct_task_never_joined() {
    let pool = Pool::builder().workers(1).build().unwrap();
    lent(&pool);
    let task = submit_direct(&pool, sleep_ms, 100);
    within(60, move || pool.shutdown());
    // Its result was read by the supervisor before it stopped.
    assert!(task.join().is_ok());
}

#[test]
fn max_tasks_per_worker_holds_on_the_direct_path() {
    let pool = Pool::builder().workers(1).max_tasks_per_worker(2).build().unwrap();
    let mut pids = Vec::new();
    for _ in 0..6 {
        pids.push(join(pool.submit(sleep_ms, 0)).unwrap());
        // Never two workers at once.
        assert!(pool.worker_pids().len() <= 1);
    }
    pids.dedup();
    assert_eq!(pids.len(), 3, "two tasks per worker: {pids:?}");
    assert!(pool.stats().direct > 0);
}

/// Submits `x + 3` the direct path, lets it finish, and hands the task
/// to `try_it`, which asks its question first of all and says whether
/// the answer showed the task finished. Retried (with longer waits) while
/// the reply may honestly not have come yet, as on a loaded machine.
/// Returns the try that saw it, or `None` if none did.
fn ask_a_finished_direct_task(pool: &Pool, mut try_it: impl FnMut(forkpool::Task<u8>) -> bool) -> Option<u32> {
    for attempt in 1..=20u32 {
        lent(pool);
        let task = submit_direct(pool, |x: u8| x + 3, 1);
        // Time for `x + 3` and its reply; nothing wakes the supervisor.
        std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
        if try_it(task) {
            return Some(attempt);
        }
    }
    None
}

#[test]
fn a_direct_task_whose_reply_came_is_finished_when_first_asked() {
    // The reply sat unread in the worker's socket: the first
    // `is_finished` said false (and only handed the task to the
    // supervisor), `wait_timeout(0)` too. (Before the fix this could
    // still pass when the supervisor, woken by the question, read the
    // reply before the question returned; `abort`, which does not wake
    // it, is the decisive test below.)
    let pool = Pool::builder().workers(1).build().unwrap();
    let seen = ask_a_finished_direct_task(&pool, |task| {
        let finished = task.is_finished();
        assert_eq!(join(task), Ok(4));
        finished
    });
    assert!(
        seen.is_some(),
        "is_finished never saw a direct task's reply when first asked"
    );
    let seen = ask_a_finished_direct_task(&pool, |task| {
        let finished = task.wait_timeout(Duration::ZERO);
        assert_eq!(join(task), Ok(4));
        finished
    });
    assert!(seen.is_some(), "wait_timeout(0) never saw a direct task's reply");
}

#[test]
fn abort_keeps_the_result_of_a_direct_task_that_finished() {
    // `abort` threw away the result that waited in the worker's socket:
    // it returned true, `join` gave `Cancelled`, and `stats` counted an
    // abort (and a running task) for a task that had ended.
    for workers in [1, 2] {
        let pool = Pool::builder().workers(workers).build().unwrap();
        let kept = ask_a_finished_direct_task(&pool, |task| {
            if task.abort() {
                // Its reply had not come yet: a fair abort.
                assert_eq!(join(task), Err(TaskError::Cancelled));
                false
            } else {
                assert_eq!(join(task), Ok(4), "abort said false: the task keeps its result");
                true
            }
        });
        assert!(
            kept.is_some(),
            "workers({workers}): every finished direct task was aborted"
        );
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_eq!(stats.completed + stats.failed, stats.submitted, "{stats:?}");
        assert_eq!(stats.aborted, stats.cancelled, "{stats:?}");
    }
}

#[test]
fn stats_are_exact_when_an_aborted_direct_task_is_joined() {
    // `running` kept counting an aborted direct task until the supervisor
    // had killed its worker and settled it.
    let pool = Pool::builder().workers(1).build().unwrap();
    for round in 0..5 {
        lent(&pool);
        let task = submit_direct(&pool, sleep_ms, 2000);
        assert!(task.abort());
        assert_eq!(join(task), Err(TaskError::Cancelled));
        let stats = pool.stats();
        assert_eq!((stats.running, stats.queued), (0, 0), "round {round}: {stats:?}");
        assert_eq!(stats.aborted, round + 1, "round {round}: {stats:?}");
        assert_eq!(
            stats.completed + stats.failed,
            stats.submitted,
            "round {round}: {stats:?}"
        );
    }
}
