//! `--onall` and `--nonall`: the same jobs on every host.

use crate::{Scratch, command, finish, fixture, joblog, run};

#[test]
fn onall_runs_every_job_on_every_host() {
    let Some(f) = fixture() else { return };
    let r = run(
        f,
        &[
            "--onall",
            "-S",
            "h1,h2",
            "--tag",
            "-k",
            "echo {}; exit {}",
            ":::",
            "0",
            "3",
        ],
    );
    // Each host had a failure: the status counts the hosts.
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.lines(), ["h1\t0", "h1\t3", "h2\t0", "h2\t3"]);
}

#[test]
fn onall_reads_standard_input_once_for_all_hosts() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let input = dir.file("in", "a\nb\n");
    let mut c = command(f, &["--onall", "-S", "h1,h3", "-k", "echo", "$PARALLEL_SSHHOST"]);
    c.stdin(std::fs::File::open(&input).unwrap());
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["h1 a", "h1 b", "h3 a", "h3 b"]);
}

#[test]
fn nonall_runs_the_command_alone_and_logs_each_host() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    let r = run(
        f,
        &[
            "--nonall",
            "-S",
            "h1,h2",
            "--tag",
            "-k",
            "--joblog",
            &log,
            "echo hi $PARALLEL_SSHHOST",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["h1\thi h1", "h2\thi h2"]);
    let mut rows = joblog(&dir.path("log"));
    rows.sort_by(|a, b| a[1].cmp(&b[1]));
    assert_eq!(rows.len(), 2, "one per host, both sequence 1");
    assert!(rows.iter().all(|r| r[0] == "1"));
    assert_eq!((rows[0][1].as_str(), rows[1][1].as_str()), ("h1", "h2"));
}

#[test]
fn onall_leaves_out_filtered_hosts() {
    let Some(f) = fixture() else { return };
    let r = run(f, &["--onall", "-S", "h1,dead", "--filter-hosts", "echo", ":::", "a"]);
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 0), "{}", r.stderr);
    assert!(r.stderr.contains("Removed dead."), "{}", r.stderr);
}

#[test]
fn inner_runs_speak_under_the_name_we_were_invoked_by() {
    let Some(f) = fixture() else { return };
    // Invoked as `parallel` (a link, as a script replacing GNU parallel
    // has it): the inner run's messages say `parallel:` too.
    let dir = Scratch::new();
    let link = dir.path("parallel");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forkpool"), &link).unwrap();
    for args in [
        &["--nonall", "-S", "dead", "echo", "a"][..],
        &["--onall", "-S", "dead", "echo", ":::", "a"],
    ] {
        let mut c = std::process::Command::new(&link);
        c.args(args)
            .env("PARALLEL_SSH", f.ssh())
            .env("PARALLEL_SHELL", "/bin/sh")
            .env("SHELL", "/bin/sh")
            .env_remove("PARALLEL")
            .stdin(std::process::Stdio::null());
        let r = finish(c);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(
            r.stderr.contains("parallel: Warning: dead is down"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("forkpool"), "{args:?}: {}", r.stderr);
    }
}
