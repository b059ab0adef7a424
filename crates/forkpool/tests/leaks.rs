//! Nothing outlives a pool: after `shutdown`, `terminate` or drop, no
//! child process, zombie or descriptor remains in the client; and if the
//! client is killed outright, the zygote, the workers and what the tasks
//! started all exit.
//!
//! These tests look at process-wide state (`/proc/self/fd`, our children),
//! so they take a lock and run one at a time.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{
    Leftovers, children_of, is_dead, kill, kill_guardian_and_wait_for_another, open_fds, read_pid, start_client_helper,
    temp_path, wait_for,
};
use forkpool::{Pool, StartMethod, TaskError, TaskOutput};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `scenario` and checks it left no child and no descriptor behind.
fn leaves_nothing_behind(scenario: impl FnOnce()) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id();
    let fds_before = open_fds();
    assert_eq!(children_of(me), Vec::<u32>::new());
    scenario();
    assert_eq!(
        children_of(me),
        Vec::<u32>::new(),
        "a child process (or zombie) remains"
    );
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
}

fn busy_pool(pool: &Pool) -> Vec<forkpool::Task<u32>> {
    let mut tasks = vec![
        pool.submit(|_: ()| -> u32 { std::process::abort() }, ()),
        pool.submit(|_: ()| -> u32 { panic!("oops") }, ()),
        pool.submit(|x: u32| x, 1),
    ];
    tasks.extend((0..50).map(|i| pool.submit(|i: u32| i * 2, i)));
    tasks
}

#[test]
fn shutdown_leaves_nothing_behind() {
    leaves_nothing_behind(|| {
        let pool = Pool::builder()
            .workers(2)
            .task_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let tasks = busy_pool(&pool);
        let hang = pool.submit(|_: ()| std::thread::sleep(Duration::from_secs(60)), ());
        let squares: u32 = pool.map(|x: u32| x * x, 0..1000).map(Result::unwrap).count() as u32;
        assert_eq!(squares, 1000);
        pool.shutdown();
        assert!(tasks.into_iter().all(|t| t.is_finished()));
        assert!(matches!(hang.join(), Err(TaskError::TimedOut { .. })));
    });
}

#[test]
fn terminate_leaves_nothing_behind() {
    leaves_nothing_behind(|| {
        let pool = Pool::builder().workers(2).build().unwrap();
        let running: Vec<_> = (0..4)
            .map(|_| pool.submit(|_: ()| std::thread::sleep(Duration::from_secs(60)), ()))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        pool.terminate();
        for task in running {
            assert!(matches!(
                task.join(),
                Err(TaskError::PoolShutdown | TaskError::Cancelled)
            ));
        }
    });
}

#[test]
fn drop_leaves_nothing_behind() {
    leaves_nothing_behind(|| {
        let pool = Pool::builder().workers(3).build().unwrap();
        let tasks = busy_pool(&pool);
        drop(pool);
        assert!(tasks.into_iter().all(|t| t.is_finished()));
    });
}

#[test]
fn the_exec_start_method_leaves_nothing_behind() {
    leaves_nothing_behind(|| {
        let pool = Pool::builder()
            .workers(2)
            .start_method(StartMethod::Exec)
            .max_tasks_per_worker(5)
            .build()
            .unwrap();
        let tasks = busy_pool(&pool);
        pool.shutdown();
        assert!(tasks.into_iter().all(|t| t.is_finished()));
    });
}

#[test]
fn task_output_pipes_and_threads_leave_nothing_behind() {
    for output in [TaskOutput::Tagged, TaskOutput::Capture] {
        for start in [StartMethod::Zygote, StartMethod::Exec] {
            leaves_nothing_behind(|| {
                let pool = Pool::builder()
                    .workers(2)
                    .start_method(start)
                    .task_output(output)
                    .task_timeout(Duration::from_secs(2))
                    .max_tasks_per_worker(7)
                    .build()
                    .unwrap();
                let tasks = busy_pool(&pool);
                let hang = pool.submit(
                    |_: ()| {
                        eprintln!("about to hang");
                        std::thread::sleep(Duration::from_secs(60))
                    },
                    (),
                );
                let printed: usize = pool
                    .map(|x: u32| println!("{x}"), 0..100)
                    .captured()
                    .map(|c| c.stdout.len())
                    .sum();
                assert_eq!(printed > 0, output == TaskOutput::Capture);
                assert!(matches!(hang.join(), Err(TaskError::TimedOut { .. })));
                pool.shutdown();
                assert!(tasks.into_iter().all(|t| t.is_finished()));
                assert_eq!(output_threads(), 0, "the output thread outlived the pool");
            });
            // A pool that fails to build stops its output thread too.
            leaves_nothing_behind(|| {
                let built = Pool::builder()
                    .workers(2)
                    .start_method(start)
                    .task_output(output)
                    .worker_init(failing_init)
                    .build();
                assert!(built.is_err());
                assert_eq!(output_threads(), 0);
            });
        }
    }
}

/// This process's threads named as a pool's output thread (only the test
/// above uses output, and the tests here run one at a time).
fn output_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.trim() == "forkpool-output")
        })
        .count()
}

#[test]
fn open_streams_leave_nothing_behind() {
    for stop in ["shutdown", "terminate"] {
        leaves_nothing_behind(|| {
            let pool = Pool::builder().workers(3).build().unwrap();
            // Finished, partly read; running flat out; waiting for credit
            // with items holding shared memory in flight; stuck in an item.
            let mut finished = pool.stream(|n: u64| 0..n, 100);
            assert_eq!(finished.next(), Some(Ok(0)));
            let mut fast = pool.stream(|_: ()| 0u64.., ());
            assert_eq!(fast.next(), Some(Ok(0)));
            let mut shared = pool.stream(
                |_: ()| (0u8..).map(|i| forkpool::SharedBytes::copy_from(&[i; 4096]).unwrap()),
                (),
            );
            assert_eq!(shared.next().unwrap().unwrap()[0], 0);
            let mut stuck = pool.stream(
                |_: ()| {
                    (0u64..).inspect(|&i| {
                        if i == 1 {
                            std::thread::sleep(Duration::from_secs(600));
                        }
                    })
                },
                (),
            );
            assert_eq!(stuck.next(), Some(Ok(0)));
            std::thread::sleep(Duration::from_millis(100));
            if stop == "shutdown" {
                pool.shutdown();
            } else {
                pool.terminate();
            }
            // Ended by then, or stopped by the pool: either way it ends.
            let last = finished.last();
            assert!(matches!(last, Some(Ok(99) | Err(TaskError::PoolShutdown))), "{last:?}");
            for stream in [fast, stuck] {
                assert_eq!(stream.last(), Some(Err(TaskError::PoolShutdown)), "{stop}");
            }
            assert_eq!(shared.last().map(|r| r.err()), Some(Some(TaskError::PoolShutdown)));
        });
    }
}

fn failing_init() {
    panic!("init fails");
}

#[test]
fn a_failed_build_leaves_nothing_behind() {
    leaves_nothing_behind(|| {
        assert!(Pool::builder().workers(2).worker_init(failing_init).build().is_err());
        assert!(
            Pool::builder()
                .workers(2)
                .start_method(StartMethod::Exec)
                .worker_init(failing_init)
                .build()
                .is_err()
        );
    });
}

#[test]
fn a_killed_client_takes_its_zygote_workers_and_their_children_with_it() {
    killed_client_scenario("zygote", 3, 0);
}

#[test]
fn a_killed_exec_client_takes_its_workers_and_their_children_with_it() {
    killed_client_scenario("exec", 2, 0);
}

#[test]
fn a_killed_client_takes_what_a_tasks_own_command_supervisor_started() {
    // Two guardians, one inside the other's world: the outer one must not
    // stop the inner one before it has stopped its jobs.
    killed_client_scenario("exec-nested", 2, 0);
}

#[test]
fn a_killed_exec_clients_new_guardian_takes_its_workers_children() {
    // Its guardian killed first, the client starts another, which stops
    // what the task started when the client is killed in turn.
    killed_client_scenario("exec", 2, 1);
}

#[test]
fn a_killed_exec_clients_guardian_killed_again_and_again_is_replaced_each_time() {
    killed_client_scenario("exec", 2, 4);
}

/// Runs `client_helper` with start method `start`, kills its guardian
/// `guardian_kills` times (each time waiting until the client has started
/// another), then kills the client, and checks that its `processes`
/// (zygote and workers) and a task's child all exit.
fn killed_client_scenario(start: &str, processes: usize, guardian_kills: usize) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let marker = temp_path("grandchild");
    let (mut client, pids) = start_client_helper(
        "client_helper",
        &[
            ("FORKPOOL_TEST_CLIENT", marker.as_os_str()),
            ("FORKPOOL_TEST_START", start.as_ref()),
        ],
    );
    let grandchild = read_pid(&marker);
    std::fs::remove_file(&marker).ok();
    let everything: Vec<u32> = pids.iter().copied().chain([grandchild]).collect();
    let _leftovers = Leftovers(everything.iter().copied().chain([client.id()]).collect());
    assert_eq!(pids.len(), processes, "{pids:?}");
    assert!(everything.iter().all(|p| !is_dead(*p)));
    let mut guardians = Vec::new();
    let mut guardian = None;
    for _ in 0..guardian_kills {
        guardian = Some(kill_guardian_and_wait_for_another(client.id(), &mut guardians));
    }
    assert!(everything.iter().all(|p| !is_dead(*p)), "{everything:?}");

    kill(client.id(), libc::SIGKILL);
    let killed = Instant::now();
    client.wait().unwrap();
    let gone = wait_for(Duration::from_secs(30), || everything.iter().all(|p| is_dead(*p)));
    let took = killed.elapsed();
    assert!(
        gone,
        "still running 30 s after the client was killed (its guardians {guardians:?} killed before): {:?}",
        everything.iter().filter(|p| !is_dead(**p)).collect::<Vec<_>>()
    );
    eprintln!("{start}: the pool's processes and a task's child exited {took:?} after the client was killed");
    if guardian_kills == 0 {
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }
    if let Some(guardian) = guardian {
        assert!(
            wait_for(Duration::from_secs(30), || is_dead(guardian)),
            "the last guardian outlived its work"
        );
    }
}

#[test]
#[ignore = "run by killed_client_scenario"]
fn client_helper() {
    let Some(marker) = std::env::var_os("FORKPOOL_TEST_CLIENT") else {
        return;
    };
    let mode = std::env::var("FORKPOOL_TEST_START").unwrap_or_default();
    let start = if mode.starts_with("exec") {
        StartMethod::Exec
    } else {
        StartMethod::Zygote
    };
    let pool = Pool::builder().workers(2).start_method(start).build().unwrap();
    let _task = pool.submit(
        |(marker, nested): (String, bool)| {
            if nested {
                // Through a command supervisor (and its guardian) of its own.
                let mut supervisor = forkpool::command::Supervisor::new().unwrap();
                let job = supervisor
                    .spawn(&forkpool::command::Spec::new(["sleep", "1000"]))
                    .unwrap();
                std::fs::write(&marker, supervisor.pid(job).unwrap().to_string()).unwrap();
                std::thread::sleep(Duration::from_secs(1000));
            }
            #[expect(
                clippy::zombie_processes,
                reason = "the pool must kill this child; the test checks it did"
            )]
            let child = Command::new("sleep").arg("1000").spawn().unwrap();
            std::fs::write(&marker, child.id().to_string()).unwrap();
            std::thread::sleep(Duration::from_secs(1000));
        },
        (marker.to_string_lossy().into_owned(), mode == "exec-nested"),
    );
    let mut pids: Vec<u32> = pool.zygote_pid().into_iter().collect();
    pids.extend(pool.worker_pids());
    println!("PIDS {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    std::thread::sleep(Duration::from_secs(1000));
}

/// Starts `sleep 1000` in the background from a shell that exits at once,
/// so that the sleep is orphaned; returns whether the shell ran.
fn orphan_a_sleep(pid_file: String) -> bool {
    let script = format!("sleep 1000 >/dev/null 2>&1 & echo $! > {pid_file}");
    std::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn what_tasks_orphan_is_reaped_when_it_ends_not_left_a_zombie() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Pool::builder().workers(2).build().unwrap();
    let zygote = pool.zygote_pid().unwrap();
    let orphan_a_true = |_: ()| {
        std::process::Command::new("sh")
            .args(["-c", "true & exit 0"])
            .status()
            .is_ok_and(|s| s.success())
    };
    for _ in 0..20 {
        assert_eq!(pool.submit(orphan_a_true, ()).join(), Ok(true));
    }
    let workers = pool.worker_pids();
    let strays = || -> Vec<u32> {
        children_of(zygote)
            .into_iter()
            .filter(|p| !workers.contains(p))
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(5), || strays().is_empty()),
        "the zygote still has children that are not workers: {:?}",
        strays()
    );
}

#[test]
fn a_workers_death_spares_what_tasks_on_other_workers_started() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Pool::builder().workers(2).build().unwrap();
    let path = temp_path("helper");
    let busy = pool.submit(
        |path: String| {
            let started = orphan_a_sleep(path);
            std::thread::sleep(Duration::from_secs(2));
            started
        },
        path.display().to_string(),
    );
    let helper = read_pid(&path);
    // The busy worker holds one task, so this goes to the other one.
    let aborted = pool.submit(|_: ()| -> u8 { std::process::abort() }, ()).join();
    assert!(
        matches!(
            aborted,
            Err(TaskError::Crashed {
                signal: Some(libc::SIGABRT),
                ..
            })
        ),
        "{aborted:?}"
    );
    assert!(
        !wait_for(Duration::from_millis(500), || is_dead(helper)),
        "another worker's death killed a helper of a task still running"
    );
    assert_eq!(busy.join(), Ok(true));
    drop(pool);
    assert!(
        wait_for(Duration::from_secs(5), || is_dead(helper)),
        "the helper outlived the pool"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn losing_the_zygote_takes_what_tasks_started_with_it() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Pool::builder().workers(1).build().unwrap();
    let path = temp_path("orphan");
    let long_task = pool.submit(
        |path: String| -> bool {
            orphan_a_sleep(path);
            std::thread::sleep(Duration::from_secs(1000));
            false
        },
        path.display().to_string(),
    );
    let grandchild = read_pid(&path);
    kill(pool.zygote_pid().unwrap(), libc::SIGKILL);
    assert!(
        matches!(long_task.join(), Err(TaskError::Crashed { .. })),
        "the task outlived its zygote"
    );
    assert!(
        wait_for(Duration::from_secs(5), || is_dead(grandchild)),
        "what the task started outlived the zygote"
    );
    assert_eq!(pool.submit(|x: u8| x, 1).join(), Ok(1));
    std::fs::remove_file(&path).ok();
}
