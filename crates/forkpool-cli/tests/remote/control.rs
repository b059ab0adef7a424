//! The run's controls with remote jobs: joblog, `--tag`, `--results`,
//! `-k`, `--halt`, `--timeout`, `--retries`, `-u`, `--dry-run`.

use crate::{Scratch, fixture, joblog, marker, run, wait_until};

#[test]
fn the_joblog_names_each_jobs_host() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    let r = run(
        f,
        &[
            "-S",
            "1/h1,1/h2",
            "--joblog",
            &log,
            "echo {}; sleep 0.3; exit {}",
            ":::",
            "0",
            "3",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let mut rows = joblog(&dir.path("log"));
    rows.sort();
    assert_eq!(rows.len(), 2);
    // One job per host (a slot each); which host is first up varies.
    let mut hosts: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["h1", "h2"]);
    assert_eq!((rows[0][0].as_str(), rows[0][6].as_str()), ("1", "0"));
    assert_eq!((rows[1][0].as_str(), rows[1][6].as_str()), ("2", "3"));
    assert_eq!(rows[0][5], "2", "Receive: the output's bytes");
    assert_eq!(
        rows[1][8], "echo 3; sleep 0.3; exit 3",
        "the command as given, not its ssh wrapping"
    );
}

#[test]
fn tag_keep_order_and_results_work_as_locally() {
    let Some(f) = fixture() else { return };
    let r = run(
        f,
        &[
            "-S",
            "2/h1,2/h2",
            "-k",
            "--tag",
            "sleep 0.{}; echo out-{}",
            ":::",
            "3",
            "1",
            "2",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["3\tout-3", "1\tout-1", "2\tout-2"]);
    let dir = Scratch::new();
    let res = dir.s("res");
    let r = run(
        f,
        &["-S", "1/h1", "--results", &res, "echo {}; echo err-{} >&2", ":::", "a"],
    );
    assert_eq!((r.stdout.as_str(), r.code), ("", 0), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(dir.path("res/1/a/stdout")).unwrap(), "a\n");
    assert_eq!(std::fs::read_to_string(dir.path("res/1/a/stderr")).unwrap(), "err-a\n");
    // A CSV table has the host.
    let csv = dir.s("t.csv");
    let r = run(f, &["-S", "1/h1", "--results", &csv, "echo", ":::", "a"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let table = std::fs::read_to_string(dir.path("t.csv")).unwrap();
    assert!(table.lines().nth(1).unwrap().starts_with("1,h1,"), "{table}");
}

#[test]
fn ungrouped_output_and_dry_runs() {
    let Some(f) = fixture() else { return };
    let r = run(f, &["-S", "1/h1", "-u", "echo", ":::", "a"]);
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 0), "{}", r.stderr);
    let r = run(f, &["-S", "1/h1", "--dry-run", "echo", ":::", "a"]);
    assert_eq!((r.stdout.as_str(), r.code), ("echo a\n", 0), "{}", r.stderr);
}

#[test]
fn a_timeout_kills_the_remote_job() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    for shared in [true, false] {
        let m = marker("timeout");
        // The job's shell and its child both carry the marker: the whole
        // process group must go, not only the shell.
        let job = format!("perl -e 'sleep 30' {m}; echo {m}");
        let mut args = vec!["-S", "1/h1", "--timeout", "1", "--joblog", &log, &job, ":::", "x"];
        if !shared {
            args.insert(0, "--no-controlmaster");
        }
        let r = run(f, &args);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("timed out"), "{}", r.stderr);
        assert_eq!(joblog(&dir.path("log"))[0][6], "-1");
        wait_until("the remote job to die", || f.processes_with(&m).is_empty());
    }
}

#[test]
fn halt_now_kills_the_other_remote_jobs() {
    let Some(f) = fixture() else { return };
    let m = marker("halt");
    let slow = format!("perl -e 'sleep 30' {m}; echo {m}");
    let r = run(
        f,
        &[
            "-S",
            "1/h1,1/h2",
            "--halt",
            "now,fail=1",
            "{}",
            ":::",
            "sleep 0.5; exit 4",
            &slow,
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    wait_until("the other remote job to die", || f.processes_with(&m).is_empty());
}

#[test]
fn retries_move_a_failed_job_to_another_host() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    // It fails on h1 (where the first job goes) and succeeds elsewhere.
    let r = run(
        f,
        &[
            "--no-controlmaster",
            "-S",
            "1/h1,1/h2",
            "--retries",
            "2",
            "--joblog",
            &log,
            "test $PARALLEL_SSHHOST != h1 && echo ok on $PARALLEL_SSHHOST",
            ":::",
            "x",
        ],
    );
    assert_eq!((r.stdout.as_str(), r.code), ("ok on h2 x\n", 0), "{}", r.stderr);
    let rows = joblog(&dir.path("log"));
    assert_eq!(rows.len(), 1, "only the last try is logged: {rows:?}");
    assert_eq!(rows[0][1], "h2");
    // Without --retries it fails where it ran.
    let r = run(
        f,
        &[
            "--no-controlmaster",
            "-S",
            "1/h1,1/h2",
            "test $PARALLEL_SSHHOST != h1",
            ":::",
            "x",
        ],
    );
    assert_eq!(r.code, 1);
}

#[test]
fn remote_jobs_report_signals_as_exit_statuses() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    let r = run(f, &["-S", "1/h1", "--joblog", &log, "kill -TERM $$", ":::", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // ssh carries only an exit status: the wrapper reports 128+15, as a
    // shell would.
    let row = &joblog(&dir.path("log"))[0];
    assert_eq!((row[6].as_str(), row[7].as_str()), ("143", "0"));
}

#[test]
fn host_strings_in_commands_and_tags() {
    let Some(f) = fixture() else { return };
    let r = run(
        f,
        &[
            "--plus",
            "-S",
            "1/h1",
            "--tagstring",
            "{host}/{sshlogin}",
            "echo {host} {}",
            ":::",
            "a",
        ],
    );
    assert_eq!((r.stdout.as_str(), r.code), ("h1/h1\th1 a\n", 0), "{}", r.stderr);
    // Here, the host is `:`.
    let r = run(f, &["--plus", "--tagstring", "{host}", "echo", ":::", "a"]);
    assert_eq!(r.stdout, ":\ta\n", "{}", r.stderr);
}
