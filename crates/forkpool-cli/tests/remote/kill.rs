//! Nothing is left running anywhere: not when forkpool is killed, not
//! when it is told to stop.

use std::time::Duration;

use crate::{Scratch, command, fixture, marker, wait_until};

/// Starts four remote jobs, each a shell with a child (both carry the
/// marker, so a child the job's shell left behind would be seen), waits
/// until they all run, then sends forkpool `signal`; every remote process
/// must then go away.
fn stop_mid_run(signal: &str, shared: bool) {
    let Some(f) = fixture() else { return };
    let tmp = Scratch::new();
    let m = marker(&format!("kill{signal}{shared}"));
    let job = format!("perl -e 'sleep 100' {m}; echo {m} {{}}");
    let mut args = vec!["-S", "2/h1,2/h2", &job, ":::", "1", "2", "3", "4"];
    if !shared {
        args.insert(0, "--no-controlmaster");
    }
    let mut c = command(f, &args);
    c.env("TMPDIR", tmp.root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    wait_until("four remote jobs and their children", || {
        f.processes_with(&m).len() == 8
    });
    // SIGKILL: forkpool dies at once; the first SIGTERM is passed on to
    // the jobs, which die of it, and then forkpool ends.
    crate::sshd::signal(child.id(), signal);
    let _ = child.wait();
    wait_until("every remote process to die", || f.processes_with(&m).is_empty());
    if shared {
        // Even a master the guardian had to SIGKILL before it cleaned up
        // (a loaded machine) leaves no socket: the run's janitor removes
        // them.
        wait_until("the control sockets to go", || {
            std::fs::read_dir(tmp.root()).unwrap().next().is_none()
        });
    }
    // And they stay gone.
    std::thread::sleep(Duration::from_millis(300));
    assert!(f.processes_with(&m).is_empty());
}

#[test]
fn sigkill_leaves_no_remote_process_nor_control_socket() {
    stop_mid_run("KILL", true);
}

#[test]
fn sigkill_leaves_no_remote_process_with_a_login_per_job() {
    stop_mid_run("KILL", false);
}

#[test]
fn sigterm_stops_the_remote_jobs() {
    stop_mid_run("TERM", true);
}

#[test]
fn sigterm_stops_the_remote_jobs_with_a_login_per_job() {
    stop_mid_run("TERM", false);
}
