//! Input that cannot run: a command line over GNU parallel's limit, bad
//! options and values (one line, status 255, before any job), and the
//! program's name in its messages.

use super::*;

#[test]
fn a_command_line_over_gnu_parallels_limit_ends_the_run() {
    let long = "x".repeat(70_000);
    let r = run(&["-j1", "echo", ":::", "a", &long, "b"]);
    assert_eq!(r.code, 255);
    assert_eq!(r.stdout, "a\n", "the job before it runs, none after");
    assert!(
        r.stderr
            .contains("Command line too long (70005 >= 63664) at input 0: xxx"),
        "{}",
        r.stderr
    );
    // A job already running when the long line comes finishes, and is
    // logged, even if it writes output after that.
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&[
        "-j2",
        "--joblog",
        &log,
        "echo start {}; sleep 0.3; echo end {}",
        ":::",
        "a",
        &long,
    ]);
    assert_eq!(r.code, 255);
    assert_eq!(r.lines(), ["start a", "end a"], "{}", r.stderr);
    assert_eq!(joblog_rows(Path::new(&log)).len(), 1);
}

#[test]
fn bad_input_gets_a_one_line_error_and_255_before_anything_runs() {
    let d = Dir::new();
    let marker = d.s("ran");
    let job = format!("touch {marker}; echo {{}}");
    let missing = d.s("missing");
    for (args, needle) in [
        (vec!["--nosuchopt", &job, ":::", "a"], "Unknown option: nosuchopt"),
        (vec!["--halt", "bogus", &job, ":::", "a"], "--halt"),
        (vec!["--halt", "now,fail", &job, ":::", "a"], "--halt"),
        (vec![&job, "::::", &missing], "Cannot open input file"),
        (vec![&job, "{1", ":::", "a"], "unmatched '{'"),
        (vec!["-j", "abc", &job, ":::", "a"], "--jobs"),
        (vec!["--timeout", "soon", &job, ":::", "a"], "--timeout"),
        (vec!["--termseq", "TERM,x", &job, ":::", "a"], "termination sequence"),
        (vec!["--delay", "later", &job, ":::", "a"], "--delay"),
        (vec!["--colsep", "(", &job, ":::", "a"], "--colsep"),
        (vec!["--resume", &job, ":::", "a"], "--joblog"),
        (vec!["echo {= $_", ":::", "a"], "unmatched '{='"),
        (vec!["-j", "-1000", &job, ":::", "a"], "Cannot run any jobs"),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 255, "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(
            // Getopt::Long's words stand alone, as GNU parallel prints them.
            (r.stderr.starts_with("forkpool: ") || r.stderr.starts_with("Unknown option: "))
                && r.stderr.contains(needle),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!Path::new(&marker).exists(), "{args:?} ran a job");
    }
    // A shell that is not there, as GNU parallel words it.
    let out = command(&[&job, ":::", "a"])
        .env("PARALLEL_SHELL", "/no/such/shell")
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (Some(255), "forkpool: Error: Shell '/no/such/shell' not found.\n")
    );
    assert!(!Path::new(&marker).exists());
}

#[test]
fn messages_carry_the_name_the_program_was_invoked_by() {
    // Installed or linked as `parallel`, it says `parallel:`, as GNU
    // parallel names itself after argv[0]; scripts match on that text.
    let dir = Dir::new();
    let link = dir.path("parallel");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forkpool"), &link).unwrap();
    let out = Command::new(&link)
        .args(["--timeout", "soon", "true", ":::", "a"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        stderr.starts_with("parallel: ") && stderr.contains("--timeout"),
        "{stderr}"
    );
}
