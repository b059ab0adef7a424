//! A guardian that dies does not leave `forkpool`'s jobs unguarded:
//! `forkpool` notices its death, starts another that guards the same jobs,
//! and a `kill -9` of `forkpool` afterwards still takes every job and what
//! the jobs started. One that keeps dying, or cannot be started again, is
//! retried with a warning, and the run goes on.
//!
//! The processes are found through `/proc` and waited for with generous
//! deadlines: on a loaded machine a new guardian may take a while to show.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use super::{Dir, children_of, command, is_dead, pids_in, signal, start_and_wait_for_lines, wait_for};

/// How long anything here may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// The name a guardian gives itself (`comm` keeps 15 bytes).
const GUARDIAN_COMM: &str = "forkpool-guardi";

/// A running guardian of `forkpool` other than those in `old`, once it
/// has taken its name (before that, a new one is still a copy of
/// `forkpool` starting up).
fn guardian_of(forkpool: u32, old: &[u32]) -> Option<u32> {
    children_of(forkpool).into_iter().find(|&pid| {
        !old.contains(&pid)
            && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == GUARDIAN_COMM)
            && !is_dead(pid)
    })
}

/// Waits for [`guardian_of`].
fn wait_for_guardian(forkpool: u32, old: &[u32]) -> u32 {
    let mut found = None;
    assert!(
        wait_for(PATIENCE, || {
            found = guardian_of(forkpool, old);
            found.is_some()
        }),
        "forkpool {forkpool} has no new guardian (killed: {old:?}); its children: {:?}",
        children_of(forkpool)
    );
    found.unwrap_or_default()
}

/// Kills what a failed test leaves running (`forkpool`, and the jobs and
/// their children, whose pids are in a file): on `main` before this
/// feature, the jobs of a killed `forkpool` whose guardian was killed run
/// on for ever.
struct Leftovers {
    forkpool: u32,
    pids: PathBuf,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            signal(self.forkpool, libc::SIGKILL);
            for pid in pids_in(&self.pids) {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

/// Every process whose pid is in `pids`, and `guardian`, goes away.
fn assert_gone(pids: &Path, guardian: u32) {
    let jobs = pids_in(pids);
    assert!(!jobs.is_empty());
    assert!(
        wait_for(PATIENCE, || jobs.iter().all(|&p| is_dead(p))),
        "jobs, or what they started, outlived a killed forkpool: {:?}",
        jobs.iter().filter(|&&p| !is_dead(p)).collect::<Vec<_>>()
    );
    assert!(
        wait_for(PATIENCE, || is_dead(guardian)),
        "the guardian outlived its work"
    );
}

/// `echo $$; sleep 1000 & echo $!; wait`, the pids into `pids`: a job
/// that runs until stopped, and has a child in its process group.
fn job_with_a_child(pids: &Path) -> String {
    format!(
        "echo $$ >> {p}; sleep 1000 & echo $! >> {p}; wait; echo {{}}",
        p = pids.display()
    )
}

#[test]
fn a_killed_guardian_is_replaced_and_the_new_one_stops_the_jobs_of_a_killed_forkpool() {
    // The new user's trial: kill -9 the guardian, then kill -9 forkpool.
    let d = Dir::new();
    let pids = d.path("pids");
    let mut forkpool = start_and_wait_for_lines(&["-j2", &job_with_a_child(&pids), ":::", "a", "b"], &pids, 4);
    let _leftovers = Leftovers {
        forkpool: forkpool.id(),
        pids: pids.clone(),
    };
    let first = wait_for_guardian(forkpool.id(), &[]);
    signal(first, libc::SIGKILL);
    let second = wait_for_guardian(forkpool.id(), &[first]);
    signal(forkpool.id(), libc::SIGKILL);
    forkpool.wait().unwrap();
    assert_gone(&pids, second);
}

#[test]
fn a_guardian_killed_again_and_again_is_replaced_each_time_and_the_run_ends_normally() {
    let d = Dir::new();
    let pids = d.path("pids");
    let stop = d.path("stop");
    let job = format!(
        "echo $$ >> {p}; while [ ! -e {s} ]; do sleep 0.02; done; echo {{}}",
        p = pids.display(),
        s = stop.display()
    );
    let forkpool = start_and_wait_for_lines(&["-k", "-j2", &job, ":::", "a", "b"], &pids, 2);
    let _leftovers = Leftovers {
        forkpool: forkpool.id(),
        pids: pids.clone(),
    };
    let mut killed = Vec::new();
    for _ in 0..5 {
        let guardian = wait_for_guardian(forkpool.id(), &killed);
        signal(guardian, libc::SIGKILL);
        killed.push(guardian);
    }
    let last = wait_for_guardian(forkpool.id(), &killed);
    std::fs::write(&stop, "").unwrap();
    let run = super::finish(forkpool);
    assert_eq!((run.lines(), run.code), (vec!["a", "b"], 0), "{run:?}");
    // Killed within a second of its start, a guardian is replaced after a
    // back-off, with a warning (whether these kills were that quick
    // depends on the machine's load): nothing else is said.
    assert!(
        run.stderr.lines().all(|line| line.starts_with("forkpool: Warning: ")),
        "{}",
        run.stderr
    );
    assert!(
        wait_for(PATIENCE, || is_dead(last)),
        "the last guardian outlived forkpool"
    );
}

/// Sets the soft `RLIMIT_NPROC` of `pid` (a process of `nobody`'s) with
/// `prlimit`, run as `nobody` (we are root without `CAP_SYS_RESOURCE`
/// perhaps: only the owner may change another process's limits then).
fn set_nproc(pid: u32, soft: &str) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nproc={soft}:")])
        .uid(NOBODY)
        .gid(NOBODY)
        .status()
        .unwrap();
    assert!(status.success(), "prlimit --nproc={soft}: {status}");
}

const NOBODY: u32 = 65534;

/// The hard `RLIMIT_NPROC` of `pid`, from `/proc/<pid>/limits`.
fn hard_nproc(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max processes")).unwrap();
    line.split_whitespace().nth(3).unwrap().to_owned()
}

/// Waits for a line of `lines` that contains `text`.
fn wait_for_line(lines: &mpsc::Receiver<String>, text: &str, seen: &mut Vec<String>) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(text);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {text:?} on forkpool's stderr: {seen:?}");
}

#[test]
fn a_guardian_that_cannot_be_started_again_is_retried_with_a_warning_until_it_can() {
    // RLIMIT_NPROC binds only an unprivileged user: forkpool runs as
    // `nobody`, and its limit is lowered once it runs, below what it has.
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (CI runs as root), to run forkpool as nobody");
        return;
    }
    if std::process::Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("SKIPPED: needs prlimit (util-linux), to lower forkpool's RLIMIT_NPROC");
        return;
    }
    let d = Dir::new();
    std::fs::set_permissions(d.0.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let pids = d.path("pids");
    let mut forkpool = match command(&["-j1", &job_with_a_child(&pids), ":::", "a"])
        .env("HOME", d.0.path())
        .current_dir(d.0.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("SKIPPED: nobody may not run {}: {e}", env!("CARGO_BIN_EXE_forkpool"));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let _leftovers = Leftovers {
        forkpool: forkpool.id(),
        pids: pids.clone(),
    };
    let (tx, lines) = mpsc::channel();
    let stderr = forkpool.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    assert!(
        wait_for(PATIENCE, || pids_in(&pids).len() >= 2),
        "the job did not start"
    );
    let first = wait_for_guardian(forkpool.id(), &[]);
    let hard = hard_nproc(forkpool.id());
    set_nproc(forkpool.id(), "1");
    signal(first, libc::SIGKILL);
    let mut seen = Vec::new();
    wait_for_line(&lines, "guardian process cannot be started again", &mut seen);
    assert!(
        guardian_of(forkpool.id(), &[first]).is_none(),
        "a guardian started over the limit"
    );
    set_nproc(forkpool.id(), &hard);
    let second = wait_for_guardian(forkpool.id(), &[first]);
    wait_for_line(&lines, "a guardian process runs again", &mut seen);
    assert!(
        seen.iter().all(|line| line.starts_with("forkpool: Warning: ")),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|l| l.contains("cannot be started again")).count(),
        1,
        "one warning per lapse, however many retries: {seen:?}"
    );
    signal(forkpool.id(), libc::SIGKILL);
    forkpool.wait().unwrap();
    assert_gone(&pids, second);
}

/// A job that detaches `sleep 1000` into a session of its own (as a job
/// starting a daemon does), writes its pid into `pids` once it is there
/// (until then it is in the job's group, killed when the job exits), then
/// waits `wait` seconds.
fn job_detaching_a_process(pids: &Path, wait: u32) -> String {
    format!(
        "setsid sleep 1000 </dev/null >/dev/null 2>&1 & \
         while [ \"$(cut -d' ' -f6 /proc/$!/stat)\" != $! ]; do sleep 0.01; done; \
         echo $! >> {p}; sleep {wait}; : {{}}",
        p = pids.display()
    )
}

#[test]
fn a_detached_process_outlives_a_normal_run_as_in_gnu_parallel_but_not_a_killed_forkpool() {
    // README: jobs never outlive forkpool; a process a job puts in a new
    // session is left running at a normal end (and after SIGINT/SIGTERM),
    // as GNU parallel leaves it; if forkpool is SIGKILLed, the guardian
    // stops it with everything else the run started.
    let d = Dir::new();
    let pids = d.path("normal");
    let r = super::run(&[&job_detaching_a_process(&pids, 0), ":::", "a"]);
    let detached = pids_in(&pids);
    let alive: Vec<u32> = detached.iter().copied().filter(|&p| !is_dead(p)).collect();
    for &pid in &detached {
        signal(pid, libc::SIGKILL);
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (detached.len(), alive.len()),
        (1, 1),
        "the detached process did not outlive the run"
    );

    let pids = d.path("killed");
    let mut forkpool = start_and_wait_for_lines(&[&job_detaching_a_process(&pids, 1000), ":::", "a"], &pids, 1);
    let _leftovers = Leftovers {
        forkpool: forkpool.id(),
        pids: pids.clone(),
    };
    let guardian = wait_for_guardian(forkpool.id(), &[]);
    signal(forkpool.id(), libc::SIGKILL);
    forkpool.wait().unwrap();
    assert_gone(&pids, guardian);
}
