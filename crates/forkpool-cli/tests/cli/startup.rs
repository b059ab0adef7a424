//! Start-up: the guardian of `forkpool` is a process sharing its memory
//! (no second exec of the program, no copy of its memory), holds nothing
//! of forkpool's but its own control socket, and still stops every job and
//! what the jobs started when forkpool is SIGKILLed, then goes itself.

use std::time::Duration;

use super::{
    Dir, assert_all_dead, children_of, is_dead, joblog_rows, pids_in, signal, start_and_wait_for_lines, wait_for,
};

/// The descriptors `pid` holds, each with what it points at.
fn descriptors(pid: u32) -> Vec<(u32, String)> {
    let mut fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn the_guardian_shares_forkpools_memory_and_cleans_up_after_a_killed_forkpool() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "echo $$ >> {p}; sleep 1000 & echo $! >> {p}; wait; echo {{}}",
        p = pids.display()
    );
    let mut forkpool = start_and_wait_for_lines(&["-j2", &job, ":::", "a", "b"], &pids, 4);
    let jobs = pids_in(&pids);
    let guardian = children_of(forkpool.id())
        .into_iter()
        .find(|&pid| !jobs.contains(&pid))
        .unwrap_or_else(|| {
            panic!(
                "forkpool has no guardian child: {:?} {jobs:?}",
                children_of(forkpool.id())
            )
        });
    // Not an exec: the same command line (it is read from the memory it
    // shares with forkpool), under the name it gives itself.
    let comm = std::fs::read_to_string(format!("/proc/{guardian}/comm")).unwrap();
    assert_eq!(comm.trim_end(), "forkpool-guardi");
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline(guardian), cmdline(forkpool.id()));
    // Nothing of forkpool's but stderr (as an exec'd guardian would have
    // it): stdin and stdout on /dev/null, then the owner's pidfd (its
    // own) and the control socket. The table of jobs is in the memory it
    // shares, not a descriptor.
    let fds = descriptors(guardian);
    let targets: Vec<&str> = fds.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(fds.len(), 5, "{fds:?}");
    assert_eq!(&targets[..2], ["/dev/null", "/dev/null"], "{fds:?}");
    assert_eq!(fds[2].0, 2, "{fds:?}");
    assert!(targets.contains(&"anon_inode:[pidfd]"), "{fds:?}");
    assert!(targets[3..].iter().any(|t| t.starts_with("socket:")), "{fds:?}");
    // Its own process group: a Ctrl-C for forkpool's group is not for it.
    let group = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 2..]
            .split(' ')
            .nth(2)
            .unwrap()
            .to_owned()
    };
    assert_eq!(group(guardian), guardian.to_string());

    signal(forkpool.id(), libc::SIGKILL);
    forkpool.wait().unwrap();
    assert_all_dead(&pids);
    assert!(
        wait_for(Duration::from_secs(5), || is_dead(guardian)),
        "the guardian outlived its work"
    );
}

#[test]
fn the_guardian_goes_with_a_forkpool_that_ends_normally() {
    // `output` reads forkpool's stdout and stderr to their end: the
    // guardian, which shares stderr, must be gone with forkpool.
    let out = super::command(&["true", ":::", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}

/// Where `name` is on `PATH`, as a shell finds it.
fn on_path(name: &str) -> String {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
        .display()
        .to_string()
}

/// `forkpool ARGS` started by `shell -c`, with nothing pinning the shell
/// (the `; true` keeps the shell from exec'ing forkpool in its place).
fn under_shell(shell: &str, args: &[&str]) -> std::process::Output {
    let mut script = format!("'{}'", env!("CARGO_BIN_EXE_forkpool"));
    for arg in args {
        script.push_str(&format!(" '{}'", arg.replace('\'', "'\"'\"'")));
    }
    script.push_str("; true");
    std::process::Command::new(shell)
        .args(["-c", &script])
        .env_remove("PARALLEL_SHELL")
        .env("SHELL", "/no/such/shell")
        .output()
        .unwrap()
}

#[test]
fn a_job_that_needs_the_shell_runs_in_the_nearest_shell_found_on_path() {
    // Start-up only learns the shell's name; its path is looked up when a
    // job needs it: still the name's path on PATH (`sh`, not the `dash` it
    // may link to), as GNU parallel picks it.
    for shell in ["sh", "bash"] {
        let out = under_shell(&on_path(shell), &["echo $0", ":::", "1"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{} 1", on_path(shell)),
            "under {shell}"
        );
    }
    // A plain command under bash runs directly, with the `$_` bash gives
    // it (the program's path) and no shell in between.
    let out = under_shell(&on_path("bash"), &["env", ":::", "-0"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let vars: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
    let underscore = format!("_={}", on_path("env"));
    assert!(
        vars.contains(&underscore.as_bytes()),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_program_not_on_path_fails_as_the_shell_says_with_status_127() {
    let d = Dir::new();
    let joblog = d.s("joblog");
    let out = super::command(&["--joblog", &joblog, "no-such-program-xyz", ":::", "a"])
        .output()
        .unwrap();
    // One failed job: exit status 1, the shell's words on stderr.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-program-xyz: command not found"), "{stderr}");
    assert_eq!(exitval(&joblog), Some("127".to_owned()));
    // A file that is there but may not be run: the shell's 126.
    let script = d.file("not-executable", "#!/bin/sh\necho ran\n");
    let out = super::command(&["--joblog", &joblog, &script, ":::", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    assert_eq!(exitval(&joblog), Some("126".to_owned()));
}

/// The first job's exit value in a joblog.
fn exitval(joblog: &str) -> Option<String> {
    joblog_rows(std::path::Path::new(joblog))
        .first()
        .and_then(|row| row.get(6))
        .cloned()
}
