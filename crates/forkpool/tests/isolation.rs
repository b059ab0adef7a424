//! A task that crashes, aborts, exits, panics, or is killed from outside
//! fails alone, with an error that says how; everything else goes on.

mod common;

use std::time::Duration;

use common::{is_dead, kill, read_pid, temp_path, wait_for};
use forkpool::{Pool, TaskError};

fn pool(workers: usize) -> Pool {
    Pool::builder().workers(workers).build().unwrap()
}

fn segfault(_: ()) {
    // SAFETY: not safe at all: the point is to crash the worker.
    unsafe { std::ptr::null_mut::<u8>().write_volatile(1) }
}

fn crashed_by(signal: i32) -> TaskError {
    TaskError::Crashed {
        signal: Some(signal),
        exit_code: None,
    }
}

#[test]
fn a_segfault_fails_with_crashed_naming_sigsegv() {
    let pool = pool(1);
    let err = pool.submit(segfault, ()).join().unwrap_err();
    assert_eq!(err, crashed_by(libc::SIGSEGV));
    assert!(err.to_string().contains("SIGSEGV"), "{err}");
    assert_eq!(pool.submit(|x: u32| x + 1, 1).join(), Ok(2));
}

#[test]
fn an_abort_fails_with_crashed_naming_sigabrt() {
    let pool = pool(1);
    let err = pool
        .submit(|_: ()| -> u8 { std::process::abort() }, ())
        .join()
        .unwrap_err();
    assert_eq!(err, crashed_by(libc::SIGABRT));
    assert!(err.to_string().contains("SIGABRT"), "{err}");
}

#[test]
fn an_exit_fails_with_crashed_and_the_exit_code() {
    let pool = pool(1);
    let err = pool
        .submit(|_: ()| -> u8 { std::process::exit(3) }, ())
        .join()
        .unwrap_err();
    assert_eq!(
        err,
        TaskError::Crashed {
            signal: None,
            exit_code: Some(3)
        }
    );
    assert!(err.to_string().contains("code 3"), "{err}");
    // Even a clean exit(0) in the middle of a task is a crash of that task.
    let err = pool
        .submit(|_: ()| -> u8 { std::process::exit(0) }, ())
        .join()
        .unwrap_err();
    assert_eq!(
        err,
        TaskError::Crashed {
            signal: None,
            exit_code: Some(0)
        }
    );
}

#[test]
fn a_panic_fails_with_its_message() {
    let pool = pool(1);
    let err = pool.submit(|n: u32| -> u32 { panic!("bad input {n}") }, 7).join();
    let Err(TaskError::Panicked { message, location, .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(message, "bad input 7");
    assert!(location.is_some_and(|l| l.starts_with("crates/forkpool/tests/isolation.rs:")));
    // A panic does not cost the worker.
    let before = pool.worker_pids();
    assert_eq!(pool.submit(|x: u32| x * 2, 21).join(), Ok(42));
    assert_eq!(pool.worker_pids(), before);
}

#[test]
fn a_worker_killed_from_outside_fails_its_task_with_sigkill() {
    let pool = pool(1);
    let path = temp_path("victim");
    let task = pool.submit(
        |path: String| {
            std::fs::write(&path, std::process::id().to_string()).unwrap();
            std::thread::sleep(Duration::from_secs(60));
        },
        path.display().to_string(),
    );
    let pid = read_pid(&path);
    kill(pid, libc::SIGKILL);
    assert_eq!(task.join(), Err(crashed_by(libc::SIGKILL)));
    std::fs::remove_file(&path).ok();
    assert!(wait_for(Duration::from_secs(5), || is_dead(pid)));
}

#[test]
fn other_tasks_queued_or_running_elsewhere_still_succeed_and_the_pool_keeps_its_size() {
    let pool = pool(2);
    let first_pids = pool.worker_pids();
    assert_eq!(first_pids.len(), 2);
    let slow = |i: u64| {
        std::thread::sleep(Duration::from_millis(20));
        i
    };
    let mut tasks = Vec::new();
    for i in 0..30u64 {
        tasks.push(pool.submit(slow, i));
        if i == 10 {
            tasks.push(pool.submit(|_: u64| -> u64 { std::process::abort() }, i));
        }
    }
    let mut crashes = 0;
    let mut values = Vec::new();
    for task in tasks {
        match task.join() {
            Ok(v) => values.push(v),
            Err(e) => {
                assert_eq!(e, crashed_by(libc::SIGABRT));
                crashes += 1;
            }
        }
    }
    assert_eq!(crashes, 1);
    assert_eq!(values, (0..30).collect::<Vec<_>>());
    // The crashed worker was replaced: two workers again, one of them new.
    assert!(wait_for(Duration::from_secs(5), || pool.worker_pids().len() == 2));
    let now = pool.worker_pids();
    assert!(now.iter().any(|p| !first_pids.contains(p)), "{first_pids:?} -> {now:?}");
    assert!(first_pids.iter().any(|p| is_dead(*p)));
}

#[test]
fn many_crashes_in_a_row_never_stall_the_pool() {
    let pool = pool(2);
    let tasks: Vec<_> = (0..40u32)
        .map(|i| pool.submit(|i: u32| if i.is_multiple_of(2) { std::process::abort() } else { i }, i))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.join();
        if i % 2 == 0 {
            assert_eq!(result, Err(crashed_by(libc::SIGABRT)));
        } else {
            assert_eq!(result, Ok(i as u32));
        }
    }
}

/// Finds the worker's socket to the supervisor among its descriptors.
fn worker_socket() -> i32 {
    (3..256)
        .find(|&fd| {
            let mut ty: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `ty`.
            let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&raw mut ty).cast(), &mut len) };
            rc == 0 && ty == libc::SOCK_STREAM
        })
        .expect("the worker has a stream socket")
}

fn write_raw(fd: i32, bytes: &[u8]) {
    // SAFETY: writes from a valid buffer to a descriptor we own.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
}

/// Has a task write `bytes` to its worker's socket and then hang: the
/// supervisor must not wait for it, but kill the worker and report the
/// garbage as the task's error. Returns that error's message.
fn protocol_error_from(pool: &Pool, bytes: Vec<u8>) -> String {
    let task = pool.submit(
        |bytes: Vec<u8>| {
            write_raw(worker_socket(), &bytes);
            std::thread::sleep(Duration::from_secs(60));
        },
        bytes,
    );
    match task.join() {
        Err(TaskError::Protocol { message }) => message,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_corrupt_frame_from_a_worker_fails_its_task_and_the_pool_goes_on() {
    let pool = pool(1);
    let message = protocol_error_from(&pool, vec![1, 0, 0, 0, 0xEE, 0]);
    assert!(message.contains("unknown frame kind"), "{message}");
    assert_eq!(pool.submit(|x: u8| x, 5).join(), Ok(5));
}

#[test]
fn an_oversized_frame_from_a_worker_is_refused_from_its_header() {
    let pool = Pool::builder().workers(1).max_message_size(4096).build().unwrap();
    let mut header = (1u32 << 30).to_le_bytes().to_vec();
    header.push(12);
    let message = protocol_error_from(&pool, header);
    assert!(message.contains("exceeds the limit"), "{message}");
    assert_eq!(pool.submit(|x: u8| x, 6).join(), Ok(6));
}

#[test]
fn a_worker_dying_mid_message_fails_its_task_without_a_hang() {
    let pool = pool(1);
    // Half a frame header, then the worker exits.
    let task = pool.submit(
        |_: ()| -> u8 {
            write_raw(worker_socket(), &[200, 0, 0]);
            std::process::exit(9)
        },
        (),
    );
    assert_eq!(
        task.join(),
        Err(TaskError::Crashed {
            signal: None,
            exit_code: Some(9)
        })
    );
    assert_eq!(pool.submit(|x: u8| x, 7).join(), Ok(7));
}

/// User plus system CPU time of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the name).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn a_worker_that_hangs_up_does_not_make_the_supervisor_spin() {
    let pool = pool(1);
    let before = cpu_time();
    // Closes its socket and lingers: the supervisor waits a grace period
    // before killing it, and must sleep, not spin, meanwhile.
    let result = pool
        .submit(
            |_: ()| {
                // SAFETY: closes the worker's socket; that is the test.
                unsafe { libc::close(worker_socket()) };
                std::thread::sleep(Duration::from_secs(3));
            },
            (),
        )
        .join();
    assert!(matches!(result, Err(TaskError::Crashed { .. })), "{result:?}");
    let used = cpu_time() - before;
    assert!(used < Duration::from_millis(300), "the client burned {used:?} of CPU");
}

#[test]
fn a_panic_a_task_caught_itself_does_not_explain_a_later_abort() {
    let pool = pool(1);
    let caught = pool.submit(
        |_: ()| std::panic::catch_unwind(|| panic!("handled inside the task")).is_err(),
        (),
    );
    assert_eq!(caught.join(), Ok(true));
    let aborted = pool.submit(|_: ()| -> u8 { std::process::abort() }, ()).join();
    assert_eq!(aborted, Err(crashed_by(libc::SIGABRT)));
}

#[test]
fn a_huge_panic_message_arrives_cut_not_as_a_protocol_error() {
    let pool = Pool::builder().workers(1).max_message_size(4096).build().unwrap();
    let result = pool
        .submit(|n: usize| -> u8 { panic!("{}", "x".repeat(n)) }, 2 << 20)
        .join();
    let Err(TaskError::Panicked { message, .. }) = result else {
        panic!("{result:?}");
    };
    assert!(message.len() <= 4096, "{} bytes", message.len());
    assert!(
        message.starts_with("xxxx") && message.contains("bytes cut"),
        "{message:.80}"
    );
    assert_eq!(pool.submit(|x: u8| x, 1).join(), Ok(1));
}

#[test]
fn crashes_are_named_even_when_the_program_ignores_sigchld() {
    common::run_helper_test("ignoring_sigchld_helper", &[("FORKPOOL_TEST_SIGCHLD", "1".as_ref())]);
}

#[test]
#[ignore = "run by crashes_are_named_even_when_the_program_ignores_sigchld"]
fn ignoring_sigchld_helper() {
    if std::env::var_os("FORKPOOL_TEST_SIGCHLD").is_none() {
        return;
    }
    // SAFETY: setting a signal's disposition to "ignore" runs no code.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    let pool = pool(1);
    assert_eq!(pool.submit(segfault, ()).join(), Err(crashed_by(libc::SIGSEGV)));
    let exited = pool.submit(|_: ()| -> u8 { std::process::exit(3) }, ()).join();
    assert_eq!(
        exited,
        Err(TaskError::Crashed {
            signal: None,
            exit_code: Some(3)
        })
    );
    // A task waiting for its own child gets its status.
    let status = pool.submit(
        |_: ()| {
            std::process::Command::new("sh")
                .args(["-c", "exit 4"])
                .status()
                .map(|s| s.code())
                .ok()
        },
        (),
    );
    assert_eq!(status.join(), Ok(Some(Some(4))));
}
