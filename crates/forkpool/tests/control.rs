//! Control over work already running: `Task::abort`, per-task limits
//! (`Pool::task`), `timeout_grace`, `recycle_above`,
//! `max_tasks_per_worker`, and `Pool::stats`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{is_dead, read_pid, temp_path, wait_for};
use forkpool::{Pool, TaskError};

/// Starts `sleep 1000` in the task's process group, writes its pid to
/// `path`, and hangs.
fn spawn_sleeper_and_hang(path: PathBuf) -> u8 {
    let mut child = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    std::fs::write(path, child.id().to_string()).unwrap();
    let _ = child.wait();
    loop {
        std::thread::park();
    }
}

/// Writes this worker's pid to `path`, then sleeps `ms` milliseconds.
fn note_pid_and_sleep((path, ms): (PathBuf, u64)) -> u32 {
    std::fs::write(path, std::process::id().to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

#[test]
fn abort_kills_a_running_task_and_its_processes_and_nothing_else() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let sleeper = temp_path("sleeper");
    let victim = pool.submit(spawn_sleeper_and_hang, sleeper.clone());
    let child = read_pid(&sleeper);
    let bystander_pid = temp_path("bystander");
    let bystander = pool.submit(note_pid_and_sleep, (bystander_pid.clone(), 1500));
    let bystander_worker = read_pid(&bystander_pid);
    // Queued behind both.
    let queued = pool.submit(|x: u32| x * 2, 21);

    let before = pool.worker_pids();
    assert!(victim.abort());
    assert!(!victim.abort(), "a second abort finds it ended");
    // Ended at once: no waiting for the kill.
    assert!(victim.wait_timeout(Duration::from_millis(100)));
    assert_eq!(victim.join(), Err(TaskError::Cancelled));

    assert!(
        wait_for(Duration::from_secs(10), || is_dead(child)),
        "the task's child outlived the abort"
    );
    assert_eq!(queued.join(), Ok(42));
    assert_eq!(
        bystander.join(),
        Ok(bystander_worker),
        "the other running task was untouched"
    );
    // The pool keeps its size, with a new worker for the aborted one.
    assert!(wait_for(Duration::from_secs(10), || {
        let now = pool.worker_pids();
        now.len() == 2 && now.contains(&bystander_worker) && now != before
    }));
    let stats = pool.stats();
    assert_eq!(stats.aborted, 1, "{stats:?}");
    assert_eq!(stats.workers_lost, 1, "{stats:?}");
    let _ = std::fs::remove_file(sleeper);
    let _ = std::fs::remove_file(bystander_pid);
}

#[test]
fn abort_of_a_queued_task_is_a_cancel() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let started = temp_path("started");
    let running = pool.submit(note_pid_and_sleep, (started.clone(), 300));
    let worker = read_pid(&started);
    let queued = pool.submit(|x: u32| x + 1, 1);
    assert!(queued.abort());
    assert_eq!(queued.join(), Err(TaskError::Cancelled));
    assert_eq!(running.join(), Ok(worker), "the running task went on");
    assert_eq!(pool.worker_pids(), vec![worker], "no worker was killed");
    let stats = pool.stats();
    assert_eq!(
        (stats.aborted, stats.cancelled, stats.workers_lost),
        (0, 1, 0),
        "{stats:?}"
    );
    let _ = std::fs::remove_file(started);
}

#[test]
fn abort_of_a_finished_task_returns_false_and_keeps_the_result() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let task = pool.submit(|x: u32| x + 1, 1);
    assert!(task.wait_timeout(Duration::from_secs(10)));
    assert!(!task.abort());
    assert_eq!(task.join(), Ok(2));
}

#[test]
fn abort_racing_completion_ends_each_task_exactly_once() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut aborted = 0;
    let mut finished = 0;
    for i in 0..300u64 {
        let task = pool.submit(
            |us: u64| {
                std::thread::sleep(Duration::from_micros(us));
                us
            },
            i % 7 * 50,
        );
        // Spread the abort over the task's life: before, during, after.
        std::thread::sleep(Duration::from_micros(i % 11 * 40));
        let won = task.abort();
        match task.join() {
            Err(TaskError::Cancelled) => {
                assert!(won, "cancelled without an abort that said so");
                aborted += 1;
            }
            Ok(us) => {
                assert!(!won, "abort said it ended the task, but its result came");
                assert_eq!(us, i % 7 * 50);
                finished += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(aborted + finished, 300);
    // Every task counted once, and the pool still works.
    assert_eq!(pool.submit(|x: u8| x, 5).join(), Ok(5));
    let stats = pool.stats();
    assert_eq!(stats.submitted, 301, "{stats:?}");
    assert_eq!(stats.completed + stats.failed, 301, "{stats:?}");
    assert_eq!(stats.cancelled, aborted, "{stats:?}");
    assert!(wait_for(Duration::from_secs(10), || pool.worker_pids().len() == 2));
}

#[test]
fn a_per_task_timeout_applies_to_that_task_alone_and_is_named() {
    let pool = Pool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let short = Duration::from_millis(300);
    let hang = pool.task().timeout(short).submit(
        |_: ()| -> u8 {
            loop {
                std::thread::park()
            }
        },
        (),
    );
    // Slower than the short timeout, under the pool's own.
    let slow = pool.submit(
        |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        },
        800,
    );
    assert_eq!(hang.join(), Err(TaskError::TimedOut { after: short }));
    assert_eq!(slow.join(), Ok(800));

    // Without a pool timeout too; and for map items.
    let pool = Pool::builder().workers(1).build().unwrap();
    let results: Vec<_> = pool
        .task()
        .timeout(short)
        .map(
            |hang: bool| {
                if hang {
                    loop {
                        std::thread::park();
                    }
                }
                1u8
            },
            [false, true, false],
        )
        .collect();
    assert_eq!(results, vec![Ok(1), Err(TaskError::TimedOut { after: short }), Ok(1)]);
    let unordered: Vec<_> = pool.task().timeout(short).map_unordered(|x: u8| x, [1, 2]).collect();
    assert_eq!(unordered.len(), 2);
}

#[test]
fn a_per_task_memory_limit_applies_to_that_task_alone_and_is_named() {
    per_task_memory_limits();
}

#[test]
fn a_per_task_memory_limit_is_named_with_rust_backtrace_set() {
    // With RUST_BACKTRACE set, the allocation-failure handler prints a
    // backtrace, which must not hide the limit from the supervisor, on a
    // pool with no limit of its own too (a trial found such a task
    // reported `Crashed`).
    common::run_helper_test(
        "per_task_memory_limits_helper",
        &[("RUST_BACKTRACE", std::ffi::OsStr::new("1"))],
    );
}

#[test]
#[ignore = "run by a_per_task_memory_limit_is_named_with_rust_backtrace_set"]
fn per_task_memory_limits_helper() {
    per_task_memory_limits();
}

fn per_task_memory_limits() {
    fn allocate(mib: usize) -> usize {
        let v = vec![1u8; mib << 20];
        std::hint::black_box(&v);
        v.len() >> 20
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let limit = 32 << 20;
    let greedy = pool.task().memory_limit(limit).submit(allocate, 256);
    assert_eq!(greedy.join(), Err(TaskError::MemoryLimitExceeded { limit }));
    // The next task, on a fresh or the same worker, has no limit.
    assert_eq!(pool.submit(allocate, 256).join(), Ok(256));
    // A limited task that fits, then an unlimited one on the same worker.
    assert_eq!(pool.task().memory_limit(limit).submit(allocate, 4).join(), Ok(4));
    assert_eq!(pool.submit(allocate, 256).join(), Ok(256));

    // Under a pool limit: a tighter one for one task, the pool's for the rest.
    let pool = Pool::builder().workers(1).memory_limit(512 << 20).build().unwrap();
    let tight = 16 << 20;
    assert_eq!(
        pool.task().memory_limit(tight).submit(allocate, 64).join(),
        Err(TaskError::MemoryLimitExceeded { limit: tight })
    );
    assert_eq!(pool.submit(allocate, 64).join(), Ok(64));
    assert_eq!(
        pool.submit(allocate, 1024).join(),
        Err(TaskError::MemoryLimitExceeded { limit: 512 << 20 })
    );
}

#[test]
fn timeout_grace_lets_the_tasks_process_group_clean_up() {
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(300))
        .timeout_grace(Duration::from_secs(3))
        .build()
        .unwrap();
    let cleaned = temp_path("cleaned");
    let ready = temp_path("trap-ready");
    let task = pool.submit(
        |(cleaned, ready): (PathBuf, PathBuf)| -> u8 {
            // A program in the task's process group that cleans up on SIGTERM.
            let script = format!(
                "trap 'sleep 0.2; echo done > {}; exit 0' TERM; echo > {}; while :; do sleep 0.05; done",
                cleaned.display(),
                ready.display()
            );
            let mut child = std::process::Command::new("sh").arg("-c").arg(script).spawn().unwrap();
            let _ = child.wait();
            // The task goes on after its child ended: the kill still comes.
            loop {
                std::thread::park();
            }
        },
        (cleaned.clone(), ready.clone()),
    );
    assert_eq!(
        task.join(),
        Err(TaskError::TimedOut {
            after: Duration::from_millis(300)
        })
    );
    assert!(ready.exists(), "the script never started");
    assert_eq!(
        std::fs::read_to_string(&cleaned).ok().as_deref(),
        Some("done\n"),
        "the script did not get to clean up"
    );
    // The pool goes on.
    assert_eq!(pool.submit(|x: u8| x, 3).join(), Ok(3));
    let _ = std::fs::remove_file(cleaned);
    let _ = std::fs::remove_file(ready);
}

#[test]
fn without_grace_a_timed_out_group_gets_no_time_to_clean_up() {
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let cleaned = temp_path("not-cleaned");
    let ready = temp_path("trap-ready2");
    let task = pool.submit(
        |(cleaned, ready): (PathBuf, PathBuf)| -> u8 {
            let script = format!(
                "trap 'echo done > {}; exit 0' TERM; echo > {}; while :; do sleep 0.05; done",
                cleaned.display(),
                ready.display()
            );
            let _ = std::process::Command::new("sh").arg("-c").arg(script).status();
            loop {
                std::thread::park();
            }
        },
        (cleaned.clone(), ready.clone()),
    );
    assert!(matches!(task.join(), Err(TaskError::TimedOut { .. })));
    assert!(ready.exists());
    std::thread::sleep(Duration::from_millis(300));
    assert!(!cleaned.exists(), "SIGKILL came first: no trap ran");
    let _ = std::fs::remove_file(ready);
}

#[test]
fn a_task_that_finishes_in_its_grace_still_timed_out() {
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(200))
        .timeout_grace(Duration::from_secs(1))
        .build()
        .unwrap();
    let task = pool.submit(
        |ms: u64| {
            // Ignores SIGTERM (the worker's default under a grace) and
            // returns late, inside the grace.
            std::thread::sleep(Duration::from_millis(ms));
            ms
        },
        700,
    );
    let started = Instant::now();
    assert_eq!(
        task.join(),
        Err(TaskError::TimedOut {
            after: Duration::from_millis(200)
        })
    );
    // Its result was not taken: it ended when the grace was over.
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(pool.submit(|x: u8| x, 3).join(), Ok(3));
}

#[test]
fn recycle_above_replaces_a_growing_worker_between_tasks_and_fails_nothing() {
    fn leak(mib: usize) -> u32 {
        let v = vec![7u8; mib << 20];
        std::mem::forget(std::hint::black_box(v));
        std::process::id()
    }
    let pool = Pool::builder().workers(1).recycle_above(160 << 20).build().unwrap();
    let pids: Vec<u32> = (0..8).map(|_| pool.submit(leak, 64).join().unwrap()).collect();
    let mut distinct = pids.clone();
    distinct.dedup();
    // 64 MiB a task, above 160 MiB after the third: a new worker every
    // three tasks or so.
    assert!(distinct.len() >= 3, "workers were not replaced: {pids:?}");
    // Each worker ran tasks until it had grown: two or more, in a row.
    let runs: Vec<usize> = distinct
        .iter()
        .map(|pid| pids.iter().filter(|&p| p == pid).count())
        .collect();
    assert_eq!(
        runs.iter().sum::<usize>(),
        pids.len(),
        "a pid came back after its worker was replaced: {pids:?}"
    );
    assert!(
        runs[..runs.len() - 1].iter().all(|&n| n >= 2),
        "a worker was replaced before it grew: {pids:?}"
    );
    // A map series too: every item succeeds.
    let results: Vec<_> = pool.map(leak, vec![32; 40]).collect();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = pool.stats();
    assert!(stats.workers_recycled >= 2, "{stats:?}");
    assert_eq!((stats.failed, stats.workers_lost), (0, 0), "{stats:?}");
}

#[test]
fn max_tasks_per_worker_never_runs_more_tasks_than_workers() {
    let pool = Pool::builder().workers(1).max_tasks_per_worker(1).build().unwrap();
    let first_pid = temp_path("first");
    let first = pool.submit(note_pid_and_sleep, (first_pid.clone(), 600));
    let first_worker = read_pid(&first_pid);
    let second = pool.submit(|x: u32| x + 1, 1);
    std::thread::sleep(Duration::from_millis(150));
    // The retiring worker still runs the first task: the second waits,
    // with no second worker beside it, and can still be cancelled.
    assert!(!second.is_finished());
    assert_eq!(pool.worker_pids(), vec![first_worker]);
    assert!(second.cancel(), "the waiting task must still be cancellable");
    assert_eq!(second.join(), Err(TaskError::Cancelled));
    assert_eq!(first.join(), Ok(first_worker));

    // Many tasks: a file each task holds while it runs shows how many ran
    // at once.
    let pool = Pool::builder().workers(2).max_tasks_per_worker(1).build().unwrap();
    let dir = temp_path("concurrency");
    std::fs::create_dir_all(&dir).unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            pool.submit(
                |(dir, i): (PathBuf, u32)| -> usize {
                    let mine = dir.join(i.to_string());
                    std::fs::write(&mine, b"").unwrap();
                    std::thread::sleep(Duration::from_millis(40));
                    let at_once = std::fs::read_dir(&dir).unwrap().count();
                    std::fs::remove_file(&mine).unwrap();
                    at_once
                },
                (dir.clone(), i),
            )
        })
        .collect();
    for task in tasks {
        let at_once = task.join().unwrap();
        assert!(at_once <= 2, "{at_once} tasks ran at once on 2 workers");
    }
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(first_pid);
}

#[test]
fn stats_count_what_happened() {
    let pool = Pool::builder()
        .workers(2)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(pool.stats().workers, 2);
    assert_eq!(pool.stats().workers_started, 2);
    let ok: Vec<_> = pool.map(|x: u32| x, 0..100).collect();
    assert!(ok.iter().all(Result::is_ok));
    let crash = pool.submit(|_: ()| -> u8 { std::process::abort() }, ());
    let hang = pool.submit(
        |_: ()| -> u8 {
            loop {
                std::thread::park()
            }
        },
        (),
    );
    let panic = pool.submit(|_: ()| -> u8 { panic!("no") }, ());
    assert!(crash.join().is_err() && hang.join().is_err() && panic.join().is_err());
    // The supervisor's gauges follow a moment after the results.
    assert!(wait_for(Duration::from_secs(10), || {
        let stats = pool.stats();
        stats.workers == 2 && stats.running == 0
    }));
    let stats = pool.stats();
    assert_eq!(stats.submitted, 103, "{stats:?}");
    assert_eq!(stats.completed, 101, "values and the panic came back: {stats:?}");
    assert_eq!(stats.failed, 2, "{stats:?}");
    assert_eq!((stats.crashed, stats.timed_out), (1, 1), "{stats:?}");
    assert_eq!((stats.queued, stats.running), (0, 0), "{stats:?}");
    assert_eq!(stats.workers_lost, 2, "{stats:?}");
    assert_eq!(stats.workers_started, 4, "{stats:?}");
}

#[test]
fn stats_are_exact_as_soon_as_results_are_seen() {
    // `running` was a gauge the supervisor published after handing
    // results over: read right after a `map` or a `join`, it could still
    // count tasks whose results were in hand (for as long as the
    // supervisor was not scheduled). Each way a result comes back: `map`
    // chunks, a burst of `submit`s (by the supervisor), one task at a
    // time (the direct path).
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut submitted = 0;
    let check = |submitted: u64, after: &str| {
        let stats = pool.stats();
        assert_eq!(
            (
                stats.submitted,
                stats.completed,
                stats.failed,
                stats.queued,
                stats.running
            ),
            (submitted, submitted, 0, 0, 0),
            "after {after}: {stats:?}"
        );
    };
    for round in 0..200u64 {
        let ok = pool.map(|x: u64| x + 1, 0..20).filter(Result::is_ok).count() as u64;
        assert_eq!(ok, 20);
        submitted += 20;
        check(submitted, &format!("map, round {round}"));
        let burst: Vec<_> = (0..4).map(|i| pool.submit(|x: u64| x, i)).collect();
        assert!(burst.into_iter().all(|t| t.join().is_ok()));
        submitted += 4;
        check(submitted, &format!("a burst of submits, round {round}"));
        assert_eq!(pool.submit(|x: u64| x, round).join(), Ok(round));
        submitted += 1;
        check(submitted, &format!("one submit, round {round}"));
    }
}

#[test]
fn a_per_task_timeout_bounds_each_item_of_a_stream() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let short = Duration::from_millis(300);
    let items: Vec<_> = pool
        .task()
        .timeout(short)
        .stream(
            |_: ()| {
                (0..4u8).inspect(|&i| {
                    if i == 2 {
                        loop {
                            std::thread::park();
                        }
                    }
                })
            },
            (),
        )
        .collect();
    assert_eq!(items, vec![Ok(0), Ok(1), Err(TaskError::TimedOut { after: short })]);
}

#[test]
fn stats_are_exact_when_aborted_tasks_are_joined() {
    // `running` kept counting aborted tasks until the supervisor had
    // killed their workers and settled them: read right after `join`
    // gave `Cancelled`, it said 2.
    let pool = Pool::builder().workers(2).build().unwrap();
    for round in 0..5u64 {
        let paths: Vec<PathBuf> = (0..2).map(|i| temp_path(&format!("aborted-stats-{i}"))).collect();
        let tasks: Vec<_> = paths
            .iter()
            .map(|path| pool.submit(note_pid_and_sleep, (path.clone(), 2000)))
            .collect();
        // Both running in their workers (an abort before a task starts
        // has its worker skip it, and kills nothing).
        let pids: Vec<u32> = paths.iter().map(|path| read_pid(path)).collect();
        assert!(tasks.iter().all(|t| t.abort()));
        for task in tasks {
            assert_eq!(task.join(), Err(TaskError::Cancelled));
        }
        let stats = pool.stats();
        assert_eq!((stats.running, stats.queued), (0, 0), "round {round}: {stats:?}");
        assert_eq!(stats.aborted, 2 * (round + 1), "round {round}: {stats:?}");
        assert_eq!(stats.failed, stats.submitted, "round {round}: {stats:?}");
        // The workers count as lost once the supervisor has reaped them
        // (`PoolStats::workers_lost`).
        let lost = wait_for(Duration::from_secs(10), || {
            let stats = pool.stats();
            stats.workers_lost == 2 * (round + 1) && stats.workers == 2
        });
        assert!(lost, "round {round}: {:?}", pool.stats());
        assert!(pids.iter().all(|&pid| is_dead(pid)), "round {round}: {pids:?}");
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
    }
}
