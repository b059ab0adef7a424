//! The command supervisor: jobs in their own process groups, watched by
//! pidfd, stopped by termination sequences, and never outliving it.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{is_dead, kill, read_pid, temp_path, wait_for};
use forkpool::ExitReason;
use forkpool::command::{Event, JobId, Output, SpawnError, Spec, Stream, Supervisor, TermSeq};

fn sh(script: &str) -> Spec {
    Spec::new(["sh", "-c", script])
}

/// Runs until every job has exited; returns each job's stdout, stderr and
/// exit reason.
fn run_all(sup: &mut Supervisor) -> HashMap<JobId, (String, String, ExitReason)> {
    let mut out: HashMap<JobId, (String, String, Option<ExitReason>)> = HashMap::new();
    let mut events = Vec::new();
    while sup.running() > 0 {
        sup.wait(Some(Instant::now() + Duration::from_secs(30)), &mut events)
            .unwrap();
        for event in events.drain(..) {
            match event {
                Event::Output { job, stream, data } => {
                    let entry = out.entry(job).or_default();
                    let text = String::from_utf8_lossy(&data);
                    match stream {
                        Stream::Stdout => entry.0.push_str(&text),
                        Stream::Stderr => entry.1.push_str(&text),
                    }
                }
                Event::Exited { job, reason, .. } => out.entry(job).or_default().2 = Some(reason),
                _ => {}
            }
        }
    }
    out.into_iter().map(|(k, (o, e, r))| (k, (o, e, r.unwrap()))).collect()
}

#[test]
fn output_and_exit_status_of_each_job() {
    let mut sup = Supervisor::new().unwrap();
    let a = sup.spawn(&sh("echo out; echo err >&2; exit 3")).unwrap();
    let b = sup.spawn(&sh("kill -SEGV $$")).unwrap();
    let big = sup.spawn(&sh("head -c 300000 /dev/zero")).unwrap();
    let results = run_all(&mut sup);
    assert_eq!(results[&a], ("out\n".into(), "err\n".into(), ExitReason::Exited(3)));
    assert!(
        matches!(
            results[&b].2,
            ExitReason::Signaled {
                signal: libc::SIGSEGV,
                ..
            }
        ),
        "{:?}",
        results[&b].2
    );
    assert_eq!(results[&big].0.len(), 300_000);
}

#[test]
fn spawn_errors_say_what_went_wrong() {
    let mut sup = Supervisor::new().unwrap();
    assert!(matches!(
        sup.spawn(&Spec::new(["no-such-command-xyz"])),
        Err(SpawnError::NotFound)
    ));
    assert!(matches!(
        sup.spawn(&Spec::new(["/etc"])),
        Err(SpawnError::PermissionDenied)
    ));
    assert_eq!(sup.running(), 0);
}

#[test]
fn the_program_is_found_once_and_argv0_stays_as_given() {
    let dir = temp_path("path-dir");
    std::fs::create_dir_all(&dir).unwrap();
    // A shell under another name (a script would not do: the kernel
    // gives its interpreter the script's path, not argv[0]).
    let script = dir.join("say-my-name");
    std::os::unix::fs::symlink("/bin/sh", &script).unwrap();
    // A name with no executable file of that name comes first on PATH:
    // passed over, as execvp does.
    let shadow = temp_path("path-shadow");
    std::fs::create_dir_all(&shadow).unwrap();
    std::fs::write(shadow.join("say-my-name"), "not a program").unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", shadow.display(), dir.display());
    let mut sup = Supervisor::new().unwrap();
    // Searched in the job's own PATH.
    let searched = sup
        .spawn(&Spec {
            env: vec![("PATH".into(), path.clone().into())],
            ..Spec::new(["say-my-name", "-c", "echo $0"])
        })
        .unwrap();
    // Found by the caller: exec'd there, whatever PATH says.
    let given = sup
        .spawn(&Spec {
            program: Some(script.clone()),
            ..Spec::new(["typed-name", "-c", "echo $0"])
        })
        .unwrap();
    let results = run_all(&mut sup);
    assert_eq!(results[&searched].0, "say-my-name\n", "argv[0] as typed");
    assert_eq!(results[&given].0, "typed-name\n");
    assert_eq!(results[&given].2, ExitReason::Exited(0));
    // Only the file that may not be run is there: execvp's EACCES.
    let only_shadow = Spec {
        env: vec![("PATH".into(), shadow.clone().into_os_string())],
        ..Spec::new(["say-my-name"])
    };
    assert!(matches!(sup.spawn(&only_shadow), Err(SpawnError::PermissionDenied)));
    let nowhere = Spec {
        env: vec![("PATH".into(), dir.join("none").into_os_string())],
        ..Spec::new(["say-my-name"])
    };
    assert!(matches!(sup.spawn(&nowhere), Err(SpawnError::NotFound)));
    assert_eq!(sup.running(), 0);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&shadow);
}

/// A `Sig...:` mask line of a `/proc/PID/status`, as a number.
fn signal_mask(status: &str, field: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
}

#[test]
fn jobs_start_with_no_signal_blocked_or_ignored_that_a_shell_would_not() {
    let mut sup = Supervisor::new().unwrap();
    let job = sup.spawn(&Spec::new(["cat", "/proc/self/status"])).unwrap();
    let status = run_all(&mut sup).remove(&job).unwrap().0;
    // What we ignore ourselves passes on, except SIGPIPE (Rust ignores it)
    // and glibc's internal signals 32 and 33.
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let bit = |signal: u32| 1u64 << (signal - 1);
    let expected = signal_mask(&ours, "SigIgn:") & !(bit(13) | bit(32) | bit(33));
    assert_eq!(
        (signal_mask(&status, "SigIgn:"), signal_mask(&status, "SigBlk:")),
        (expected, 0),
        "{status}"
    );
}

#[test]
fn a_waker_ends_a_wait_from_another_thread() {
    let mut sup = Supervisor::new().unwrap();
    let job = sup.spawn(&Spec::new(["sleep", "30"])).unwrap();
    let waker = sup.waker();
    let waking = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake();
    });
    let mut events = Vec::new();
    sup.wait(None, &mut events).unwrap();
    waking.join().unwrap();
    assert_eq!(events, [Event::Woken]);
    assert!(sup.pid(job).is_some(), "the job still runs");
    // One wake is reported once: the next wait sees only its deadline.
    events.clear();
    sup.wait(Some(Instant::now() + Duration::from_millis(20)), &mut events)
        .unwrap();
    assert_eq!(events, []);
}

#[test]
fn arguments_with_a_nul_byte_or_too_long_are_errors_of_that_job() {
    let mut sup = Supervisor::new().unwrap();
    let nul = sup.spawn(&Spec::new(["echo", "a\0b"]));
    assert!(matches!(nul, Err(SpawnError::NulByte)), "{nul:?}");
    let huge = "x".repeat(200_000);
    let long = sup.spawn(&Spec::new(["echo", huge.as_str()]));
    assert!(matches!(long, Err(SpawnError::TooLong)), "{long:?}");
    assert!(!long.unwrap_err().is_transient());
    assert_eq!(sup.running(), 0);
}

#[test]
fn a_termination_sequence_ends_a_job_that_ignores_term() {
    let mut sup = Supervisor::new().unwrap();
    let job = sup
        .spawn(&sh("trap '' TERM; echo ready; while :; do sleep 0.05; done"))
        .unwrap();
    let mut events = Vec::new();
    // Wait for it to have set its trap.
    while !events.iter().any(|e| matches!(e, Event::Output { .. })) {
        sup.wait(None, &mut events).unwrap();
    }
    let start = Instant::now();
    sup.terminate(job, &"TERM,100,KILL,10".parse::<TermSeq>().unwrap());
    let results = run_all(&mut sup);
    let took = start.elapsed();
    assert_eq!(
        results[&job].2,
        ExitReason::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    assert!(
        took >= Duration::from_millis(100),
        "KILL came before the TERM's wait: {took:?}"
    );
}

#[test]
fn a_termination_sequence_goes_on_while_the_group_has_members() {
    // The shell dies at the first TERM; what it started traps TERM and
    // lives on: it gets the rest of the sequence (as from GNU parallel),
    // and the job's exit, the shell's, is reported once the group is gone.
    let mut sup = Supervisor::new().unwrap();
    let got = temp_path("got");
    let script = format!(
        "perl -e 'open(my $f, \">>\", \"{}\"); $f->autoflush(1); $SIG{{TERM}} = sub {{ print $f \"got\\n\" }}; $|=1; print \"ready\\n\"; sleep 1 while 1' & wait",
        got.display()
    );
    let job = sup.spawn(&Spec::new(["bash", "-c", &script])).unwrap();
    let mut events = Vec::new();
    while !events.iter().any(|e| matches!(e, Event::Output { .. })) {
        sup.wait(None, &mut events).unwrap();
    }
    sup.terminate(job, &"TERM,300,TERM,300,KILL,10".parse::<TermSeq>().unwrap());
    let results = run_all(&mut sup);
    assert_eq!(
        results[&job].2,
        ExitReason::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false
        }
    );
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "got\ngot\n");
    std::fs::remove_file(&got).ok();
}

#[test]
fn what_a_job_leaves_in_its_group_is_killed_when_it_exits() {
    let mut sup = Supervisor::new().unwrap();
    let marker = temp_path("bg");
    let script = format!("sleep 1000 & echo $! > {}; echo done", marker.display());
    let job = sup.spawn(&sh(&script)).unwrap();
    let results = run_all(&mut sup);
    assert_eq!(results[&job].0, "done\n");
    let background = read_pid(&marker);
    assert!(wait_for(Duration::from_secs(5), || is_dead(background)));
    std::fs::remove_file(&marker).ok();
}

#[test]
fn inherited_outputs_are_not_captured() {
    let mut sup = Supervisor::new().unwrap();
    let mut spec = sh("echo to-null");
    spec.stdout = Output::Null;
    let job = sup.spawn(&spec).unwrap();
    let results = run_all(&mut sup);
    assert_eq!(results[&job].0, "");
}

#[test]
fn watched_signals_arrive_as_events() {
    let mut sup = Supervisor::new().unwrap();
    sup.watch_signals(&[libc::SIGUSR1]).unwrap();
    kill(std::process::id(), libc::SIGUSR1);
    let mut events = Vec::new();
    sup.wait(Some(Instant::now() + Duration::from_secs(10)), &mut events)
        .unwrap();
    assert_eq!(events, [Event::Signal { signal: libc::SIGUSR1 }]);
    sup.unwatch_signals(&[libc::SIGUSR1]);
}

#[test]
fn termseq_parsing() {
    assert!("TERM,200".parse::<TermSeq>().is_ok());
    assert!("SIGINT,5,9,0".parse::<TermSeq>().is_ok());
    for bad in ["", "TERM", "TERM,x", "NOPE,10", "TERM,10,KILL"] {
        assert!(bad.parse::<TermSeq>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn a_killed_supervisor_leaves_no_job_behind() {
    // A job that spawns a child of its own; we SIGKILL the helper and
    // check the guardian stopped both.
    killed_supervisor_scenario(false, 0);
}

#[test]
fn a_supervisor_whose_guardian_was_killed_still_leaves_no_job_behind() {
    // Killed three times: the later ones within the back-off.
    killed_supervisor_scenario(false, 3);
}

#[test]
fn a_nested_supervisors_executed_guardian_is_replaced_when_killed() {
    // Where we carry another owner's marker, the guardian is the program
    // executed again: killed, it is executed again.
    killed_supervisor_scenario(true, 1);
}

/// Runs `supervisor_helper` (`nested`: with another owner's marker),
/// kills its guardian `guardian_kills` times (each time waiting until the
/// helper has started another), then kills the helper, and checks that
/// its job and the job's child still go.
fn killed_supervisor_scenario(nested: bool, guardian_kills: usize) {
    let marker = temp_path("orphans");
    let pids_file = marker.with_extension("pids");
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap());
    helper
        .args(["--exact", "supervisor_helper", "--ignored", "--test-threads=1"])
        .env("FORKPOOL_TEST_SUPERVISOR", &marker)
        .stdout(std::process::Stdio::null());
    if nested {
        helper.env("FORKPOOL_SUPERVISOR", "1");
    }
    let mut helper = helper.spawn().unwrap();
    let started = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&pids_file).is_ok_and(|s| s.lines().count() >= 2)
    });
    let pids = common::take_pids(&pids_file);
    let _leftovers = common::Leftovers(pids.iter().copied().chain([helper.id()]).collect());
    assert!(started, "the job did not start: {pids:?}");
    let mut guardians = Vec::new();
    let mut guardian = None;
    for _ in 0..guardian_kills {
        guardian = Some(common::kill_guardian_and_wait_for_another(helper.id(), &mut guardians));
    }
    assert!(pids.iter().all(|p| !is_dead(*p)), "{pids:?}");
    kill(helper.id(), libc::SIGKILL);
    helper.wait().unwrap();
    let start = Instant::now();
    assert!(
        wait_for(Duration::from_secs(30), || pids.iter().all(|p| is_dead(*p))),
        "jobs survived their supervisor (its guardians {guardians:?} killed before it): {:?}",
        pids.iter()
            .map(|p| (p, common::proc_state(*p), common::parent_of(*p)))
            .collect::<Vec<_>>()
    );
    eprintln!("jobs stopped {:?} after the supervisor was killed", start.elapsed());
    if let Some(guardian) = guardian {
        assert!(
            wait_for(Duration::from_secs(30), || is_dead(guardian)),
            "the last guardian outlived its work"
        );
    }
}

#[test]
#[ignore = "run by killed_supervisor_scenario"]
fn supervisor_helper() {
    let Some(marker) = std::env::var_os("FORKPOOL_TEST_SUPERVISOR") else {
        return;
    };
    let pids_file = std::path::PathBuf::from(marker).with_extension("pids");
    let mut sup = Supervisor::new().unwrap();
    let script = format!(
        "sleep 1000 & echo $! >> {f}; echo $$ >> {f}; wait",
        f = pids_file.display()
    );
    sup.spawn(&sh(&script)).unwrap();
    // The supervisor notices its guardian's death in `wait`.
    let mut events = Vec::new();
    loop {
        sup.wait(None, &mut events).unwrap();
        events.clear();
    }
}

#[test]
fn the_guardian_keeps_none_of_our_descriptors() {
    // A pipe whose write end we close must reach its end at once, though
    // the guardian, which started while we held that end, is still
    // running: it keeps no copy of it.
    use std::io::Read;
    let (mut read, write) = std::io::pipe().unwrap();
    let sup = Supervisor::new().unwrap();
    drop(write);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        tx.send(read.read_to_end(&mut rest).map(|_| rest)).unwrap();
    });
    let got = rx.recv_timeout(Duration::from_secs(20));
    assert!(
        matches!(&got, Ok(Ok(rest)) if rest.is_empty()),
        "no end of the pipe while the guardian runs: {got:?}"
    );
    drop(sup);
}

#[test]
fn a_guardian_is_nobodys_marked_child() {
    // Run where we ourselves carry another owner's marker (as a job of a
    // command supervisor, or a worker of an exec pool, does): that owner's
    // guardian would stop ours before it had stopped our jobs.
    common::run_helper_test("marked_guardian_helper", &[("FORKPOOL_SUPERVISOR", "1".as_ref())]);
}

#[test]
#[ignore = "run by a_guardian_is_nobodys_marked_child"]
fn marked_guardian_helper() {
    if std::env::var_os("FORKPOOL_SUPERVISOR").is_none() {
        return;
    }
    let _sup = Supervisor::new().unwrap();
    let me = std::process::id();
    let guardian = common::children_of(me)
        .into_iter()
        .find(|&pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"forkpool-guardian")))
        .expect("no guardian among our children");
    let environ = std::fs::read(format!("/proc/{guardian}/environ")).unwrap();
    assert!(
        !environ
            .split(|&b| b == 0)
            .any(|var| var.starts_with(b"FORKPOOL_SUPERVISOR=")),
        "the guardian carries a marker"
    );
}

#[test]
fn a_job_reads_the_descriptor_it_is_given_as_stdin() {
    use std::sync::Arc;
    let mut sup = Supervisor::new().unwrap();
    // A pipe: the job sees end-of-file once our write end is closed (its
    // read end, ours, went with the spec).
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let spec = Spec {
        stdin: forkpool::command::Input::Fd(Arc::new(read)),
        ..sh("wc -c")
    };
    let piped = sup.spawn(&spec).unwrap();
    drop(spec);
    rustix::io::write(&write, b"hello").unwrap();
    drop(write);
    // A file, read from its current offset.
    let path = temp_path("stdin-file");
    std::fs::write(&path, "one\ntwo\n").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let from_file = sup
        .spawn(&Spec {
            stdin: forkpool::command::Input::Fd(Arc::new(file.into())),
            ..sh("cat")
        })
        .unwrap();
    let results = run_all(&mut sup);
    let _ = std::fs::remove_file(&path);
    assert_eq!(results[&piped].0.trim(), "5");
    assert_eq!(results[&from_file].0, "one\ntwo\n");
}
