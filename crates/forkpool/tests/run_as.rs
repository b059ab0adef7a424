//! `run_as` and `no_new_privileges`: workers drop to another user for
//! good, while the client and the zygote keep theirs; and workers still die
//! with the pool. Most tests need root (CI runs as root) and say so when
//! skipped.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{is_dead, kill, root_or_skip, start_client_helper, status_field, wait_for};
use forkpool::{ErrorKind, Pool, StartMethod};

const NOBODY: u32 = 65534;
const METHODS: [StartMethod; 2] = [StartMethod::Zygote, StartMethod::Exec];

fn nobody_pool(start: StartMethod) -> Pool {
    Pool::builder()
        .workers(1)
        .start_method(start)
        .run_as(NOBODY, NOBODY)
        .build()
        .unwrap()
}

/// What a task sees: real, effective and saved user and group ids, the
/// supplementary groups, and the capabilities.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Seen {
    uids: (u32, u32, u32),
    gids: (u32, u32, u32),
    groups: String,
    cap_eff: String,
    cap_prm: String,
}

fn what_a_task_sees(_: ()) -> Seen {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid/getresgid write through three valid pointers.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    let uids = (r, e, s);
    // SAFETY: as above.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    Seen {
        uids,
        gids: (r, e, s),
        groups: status_field(&status, "Groups"),
        cap_eff: status_field(&status, "CapEff"),
        cap_prm: status_field(&status, "CapPrm"),
    }
}

#[test]
fn workers_run_as_the_new_user_in_real_effective_and_saved_ids_with_no_groups() {
    if !root_or_skip("workers_run_as_the_new_user...") {
        return;
    }
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    for start in METHODS {
        let pool = nobody_pool(start);
        let seen = pool.submit(what_a_task_sees, ()).join().unwrap();
        assert_eq!(
            seen,
            Seen {
                uids: (NOBODY, NOBODY, NOBODY),
                gids: (NOBODY, NOBODY, NOBODY),
                groups: String::new(),
                cap_eff: "0000000000000000".into(),
                cap_prm: "0000000000000000".into(),
            },
            "{start:?}"
        );
        // The worker process itself, as the kernel shows it from outside.
        let worker = pool.worker_pids()[0];
        let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
        assert_eq!(status_field(&status, "Uid"), "65534 65534 65534 65534", "{start:?}");
        assert_eq!(status_field(&status, "Gid"), "65534 65534 65534 65534", "{start:?}");
        // The zygote keeps the client's ids and groups, to go on forking.
        if let Some(zygote) = pool.zygote_pid() {
            let zygote = std::fs::read_to_string(format!("/proc/{zygote}/status")).unwrap();
            for key in ["Uid", "Gid", "Groups", "CapEff"] {
                assert_eq!(status_field(&zygote, key), status_field(&own, key), "zygote's {key}");
            }
        }
    }
    // And so does the client.
    let after = std::fs::read_to_string("/proc/self/status").unwrap();
    for key in ["Uid", "Gid", "Groups", "CapEff", "NoNewPrivs"] {
        assert_eq!(status_field(&after, key), status_field(&own, key), "client's {key}");
    }
}

/// The errno of `setuid(0)`, and of `setresuid(0, 0, 0)` (0 if either
/// succeeded), then the effective uid.
fn try_to_regain_root(_: ()) -> (i32, i32, u32) {
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: plain system calls (through glibc) with integer arguments.
    let setuid = if unsafe { libc::setuid(0) } == 0 { 0 } else { errno() };
    // SAFETY: as above.
    let setresuid = if unsafe { libc::setresuid(0, 0, 0) } == 0 {
        0
    } else {
        errno()
    };
    // SAFETY: as above.
    (setuid, setresuid, unsafe { libc::geteuid() })
}

#[test]
fn a_task_cannot_regain_root() {
    if !root_or_skip("a_task_cannot_regain_root") {
        return;
    }
    for start in METHODS {
        let pool = nobody_pool(start);
        assert_eq!(
            pool.submit(try_to_regain_root, ()).join(),
            Ok((libc::EPERM, libc::EPERM, NOBODY)),
            "{start:?}"
        );
    }
    // The control: a worker that kept root can (so the check can fail).
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_eq!(pool.submit(try_to_regain_root, ()).join(), Ok((0, 0, 0)));
}

fn parent_death_signal(_: ()) -> i32 {
    let mut signal: libc::c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one int through the pointer.
    unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut signal as *mut libc::c_int) };
    signal
}

#[test]
fn workers_still_die_with_their_parent_after_the_change_of_ids() {
    // The kernel clears PR_SET_PDEATHSIG when the ids change.
    if !root_or_skip("workers_still_die_with_their_parent...") {
        return;
    }
    for start in METHODS {
        let pool = nobody_pool(start);
        assert_eq!(
            pool.submit(parent_death_signal, ()).join(),
            Ok(libc::SIGKILL),
            "{start:?}"
        );
    }
}

#[test]
fn a_killed_client_takes_its_workers_that_run_as_another_user_with_it() {
    if !root_or_skip("a_killed_client_takes_its_workers...") {
        return;
    }
    for start in ["zygote", "exec"] {
        let (mut client, pids) = start_client_helper("client_helper", &[("FORKPOOL_TEST_CLIENT", start.as_ref())]);
        assert!(!pids.is_empty() && pids.iter().all(|p| !is_dead(*p)), "{pids:?}");
        kill(client.id(), libc::SIGKILL);
        let killed = Instant::now();
        client.wait().unwrap();
        assert!(
            wait_for(Duration::from_secs(5), || pids.iter().all(|p| is_dead(*p))),
            "{start}: workers {pids:?} still run 5 s after the client was killed"
        );
        eprintln!(
            "{start}: workers gone {:?} after the client was killed",
            killed.elapsed()
        );
    }
}

#[test]
#[ignore = "run by a_killed_client_takes_its_workers_that_run_as_another_user_with_it"]
fn client_helper() {
    let Ok(start) = std::env::var("FORKPOOL_TEST_CLIENT") else {
        return;
    };
    let start = if start == "exec" {
        StartMethod::Exec
    } else {
        StartMethod::Zygote
    };
    let pool = Pool::builder()
        .workers(2)
        .start_method(start)
        .run_as(NOBODY, NOBODY)
        .build()
        .unwrap();
    // Busy workers: one running a task, one idle.
    let _task = pool.submit(|_: ()| std::thread::sleep(Duration::from_secs(1000)), ());
    let pids = pool.worker_pids();
    println!("PIDS {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    std::thread::sleep(Duration::from_secs(1000));
}

#[test]
fn run_as_without_root_fails_the_build_with_a_clear_error() {
    if !root_or_skip("run_as_without_root_fails_the_build...") {
        // Not root: this process is the case itself.
        check_run_as_fails();
        return;
    }
    // As root: run the check in a copy of this test binary as `nobody`.
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap();
    let mut child = match Command::new(&exe)
        .args(["--exact", "non_root_helper", "--ignored", "--test-threads=1"])
        .env("FORKPOOL_TEST_NON_ROOT", "1")
        .uid(NOBODY)
        .gid(NOBODY)
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "SKIPPED run_as_without_root...: nobody cannot run {}: {e}",
                exe.display()
            );
            return;
        }
    };
    // Never a hang: the build must answer at once.
    assert!(
        wait_for(Duration::from_secs(30), || child.try_wait().unwrap().is_some()),
        "a run_as build without root hangs"
    );
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.code() == Some(126) || stdout.is_empty() && !output.status.success() {
        eprintln!("SKIPPED run_as_without_root...: nobody cannot run the test binary");
        return;
    }
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run as nobody by run_as_without_root_fails_the_build_with_a_clear_error"]
fn non_root_helper() {
    if std::env::var_os("FORKPOOL_TEST_NON_ROOT").is_some() {
        check_run_as_fails();
    }
}

fn check_run_as_fails() {
    // SAFETY: geteuid(2) has no preconditions.
    assert_ne!(unsafe { libc::geteuid() }, 0);
    for start in METHODS {
        let error = Pool::builder()
            .workers(1)
            .start_method(start)
            .run_as(NOBODY, NOBODY)
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LeastPrivilege, "{error}");
        let message = error.to_string();
        assert!(message.contains("run_as(65534, 65534) needs root"), "{message}");
    }
}

fn no_new_privs(_: ()) -> String {
    status_field(&std::fs::read_to_string("/proc/self/status").unwrap(), "NoNewPrivs")
}

#[test]
fn no_new_privileges_is_set_in_workers_when_asked_and_by_run_as() {
    for start in METHODS {
        let plain = Pool::builder().workers(1).start_method(start).build().unwrap();
        assert_eq!(plain.submit(no_new_privs, ()).join().unwrap(), "0", "{start:?}");
        let asked = Pool::builder()
            .workers(1)
            .start_method(start)
            .no_new_privileges(true)
            .build()
            .unwrap();
        assert_eq!(asked.submit(no_new_privs, ()).join().unwrap(), "1", "{start:?}");
    }
    // Not in the client.
    assert_eq!(no_new_privs(()), "0");
    if root_or_skip("no_new_privileges by default with run_as") {
        let pool = nobody_pool(StartMethod::Zygote);
        assert_eq!(pool.submit(no_new_privs, ()).join().unwrap(), "1");
        let opted_out = Pool::builder()
            .workers(1)
            .run_as(NOBODY, NOBODY)
            .no_new_privileges(false)
            .build()
            .unwrap();
        assert_eq!(opted_out.submit(no_new_privs, ()).join().unwrap(), "0");
    }
}

#[test]
fn a_sandbox_refuses_no_new_privileges_false() {
    let error = Pool::builder()
        .sandbox(forkpool::Sandbox::new().read_only("/").best_effort())
        .no_new_privileges(false)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(error.to_string().contains("no_new_privileges"), "{error}");
}

#[test]
fn run_as_with_user_hooks_panics_and_crashes_still_reports_them() {
    if !root_or_skip("run_as_with_user_hooks...") {
        return;
    }
    fn init() {
        // worker_init runs confined too.
        // SAFETY: getuid(2) has no preconditions.
        assert_eq!(unsafe { libc::getuid() }, NOBODY, "worker_init ran before the drop");
    }
    for start in METHODS {
        let pool = Pool::builder()
            .workers(1)
            .start_method(start)
            .run_as(NOBODY, NOBODY)
            .worker_init(init)
            .memory_limit(64 << 20)
            .build()
            .unwrap();
        let panicked = pool.submit(|_: ()| -> u8 { panic!("as nobody") }, ()).join();
        assert!(
            matches!(&panicked, Err(forkpool::TaskError::Panicked { message, .. }) if message == "as nobody"),
            "{panicked:?}"
        );
        let crashed = pool.submit(|_: ()| -> u8 { std::process::abort() }, ()).join();
        assert!(
            matches!(crashed, Err(forkpool::TaskError::Crashed { signal: Some(6), .. })),
            "{crashed:?}"
        );
        let hog = pool.submit(|_: ()| vec![1u8; 256 << 20].len(), ()).join();
        assert_eq!(hog, Err(forkpool::TaskError::MemoryLimitExceeded { limit: 64 << 20 }));
        assert_eq!(pool.submit(|x: u32| x + 1, 1).join(), Ok(2));
    }
}
