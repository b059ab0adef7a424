//! How a run ends early: SIGINT, SIGTERM, SIGHUP and SIGKILL sent to
//! `forkpool`, a reader that goes away, output that cannot be written,
//! and `--halt now` with output held back by `-k`.

use super::*;

#[test]
fn slow_input_does_not_hold_up_finished_jobs_or_signals() {
    let d = Dir::new();
    let log = d.s("log");
    let mut child = spawn_piped(&["-j3", "--joblog", &log, "--timeout", "2", "sleep {}; echo {}"]);
    let mut input = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    input.write_all(b"0.1\n").unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "0.1\n");
    // Input stalls for longer than the timeout: the finished job was
    // reaped and logged long ago, and is not "timed out".
    std::thread::sleep(Duration::from_millis(2500));
    let rows = joblog_rows(Path::new(&log));
    assert_eq!(rows.len(), 1, "logged when it ended");
    assert!(rows[0][3].trim().parse::<f64>().unwrap() < 2.0, "{rows:?}");
    // And a signal is acted on while input stalls.
    signal(child.id(), libc::SIGTERM);
    assert!(
        wait_for(Duration::from_secs(10), || child.try_wait().unwrap().is_some()),
        "forkpool ignored SIGTERM while waiting for input"
    );
    drop(input);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("timed out"), "{stderr}");
    assert_eq!(child.wait().unwrap().code(), Some(255));
}

#[test]
fn a_reader_that_goes_away_stops_the_run_at_once() {
    // `forkpool --line-buffer 'yes {}' | head -1`: the job writing into a
    // closed pipe is killed, and forkpool exits as SIGPIPE would have it
    // (with -u the jobs meet the closed pipe themselves and fail: exit 2),
    // as GNU parallel does.
    for (mode, expected) in [
        (&["--line-buffer"][..], 141),
        (&["--line-buffer", "-k"], 141),
        (&["-u"], 2),
    ] {
        let mut args = mode.to_vec();
        args.extend(["yes {}", ":::", "1", "2"]);
        let mut child = command(&args).stdout(Stdio::piped()).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        drop(out);
        let ended = wait_for(Duration::from_secs(10), || child.try_wait().unwrap().is_some());
        if !ended {
            let _ = child.kill();
        }
        assert!(ended, "{mode:?}: still running after its reader left");
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(expected), "{mode:?}");
    }
}

/// A job's busy loop that a trapped SIGINT ends. Its `sleep`s run in the
/// background (where a shell without job control ignores SIGINT) and are
/// waited for with the `wait` builtin, which the trap interrupts. With
/// `sleep` in the foreground, a loaded CI run saw bash 5.2 take the signal
/// and then loop for good, raising SIGINT at itself again and again with
/// its `sleep` an unreaped zombie: the job, and the test, never ended.
const BUSY: &str = "while :; do sleep 0.05 & wait $!; done";

#[test]
fn a_first_sigint_is_passed_to_the_jobs_and_waited_for() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "trap 'echo caught-{{}}; exit 0' INT; echo $$ >> {}; echo started-{{}}; {BUSY}",
        pids.display()
    );
    let child = start_and_wait_for_lines(&["-j3", "-k", &job, ":::", "a", "b", "c", "d"], &pids, 3);
    signal(child.id(), libc::SIGINT);
    let r = finish(child);
    assert_eq!(r.code, 255, "an interrupted run exits 255, as GNU parallel's");
    assert_eq!(
        r.lines(),
        [
            "started-a",
            "caught-a",
            "started-b",
            "caught-b",
            "started-c",
            "caught-c"
        ],
        "the fourth job never starts"
    );
    assert!(pids_in(&pids).iter().all(|&p| is_dead(p)));
}

#[test]
fn sighup_starts_no_new_jobs_and_lets_the_running_ones_finish() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!("echo $$ >> {}; sleep 0.3; echo done-{{}}", pids.display());
    let child = start_and_wait_for_lines(&["-j2", "-k", &job, ":::", "a", "b", "c"], &pids, 2);
    signal(child.id(), libc::SIGHUP);
    let r = finish(child);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["done-a", "done-b"], "the third job never starts");
    assert!(
        r.stderr.contains("SIGHUP received. No new jobs will be started."),
        "{}",
        r.stderr
    );
}

#[test]
fn a_second_signal_kills_the_jobs_and_their_output_is_still_printed() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "trap '' INT TERM; echo $$ >> {}; echo started-{{}}; sleep 1000 & echo $! >> {}; wait",
        pids.display(),
        pids.display()
    );
    let child = start_and_wait_for_lines(&["-j2", &job, ":::", "a", "b"], &pids, 4);
    signal(child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    signal(child.id(), libc::SIGTERM);
    let r = finish(child);
    assert_eq!(r.code, 255);
    assert_eq!(r.sorted(), ["started-a", "started-b"]);
    assert_all_dead(&pids);
}

#[test]
fn interrupted_jobs_stay_out_of_the_joblog_so_resume_runs_them_again() {
    let d = Dir::new();
    let pids = d.path("pids");
    let joblog = d.s("joblog");
    let job = format!(
        "if [ {{}} = quick ]; then exit 0; fi; trap 'exit 0' INT; echo $$ >> {}; {BUSY}",
        pids.display()
    );
    let args = ["-j3", "--joblog", &joblog, &job, ":::", "quick", "a", "b"];
    let child = start_and_wait_for_lines(&args, &pids, 2);
    assert!(
        wait_for(Duration::from_secs(10), || joblog_rows(Path::new(&joblog)).len() == 1),
        "the quick job was not logged"
    );
    signal(child.id(), libc::SIGINT);
    assert_eq!(finish(child).code, 255);
    let rows = joblog_rows(Path::new(&joblog));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "1", "only the job that ran to its end is logged");
    let again = run(&["--resume", "--joblog", &joblog, "echo ran-{}", ":::", "quick", "a", "b"]);
    assert_eq!(again.sorted(), ["ran-a", "ran-b"], "{}", again.stderr);
}

#[test]
fn halt_now_drops_what_keep_order_was_holding_back() {
    // Job 2 fails while job 1 still runs: job 1 is killed, and job 2's
    // output, held back behind it, is never printed (as in GNU parallel).
    let r = run(&[
        "-k",
        "-j2",
        "--halt",
        "now,fail=1",
        "sleep {}; echo out{}; [ {} = 5 ]",
        ":::",
        "5",
        "0.1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("This job failed"), "{}", r.stderr);
}

#[test]
fn an_unwritable_stderr_or_stdout_does_not_stop_the_run_but_fails_it() {
    // Every job runs; lost output is an error with status 255, on purpose
    // unlike GNU parallel (silent, status 0: the README's differences).
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = command(&["-j1", "echo {}; echo {} >&2", ":::", "1", "2"])
        .stdout(Stdio::piped())
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n");
    let d = Dir::new();
    let log = d.s("log");
    let both_ran = command(&["-j1", &format!("echo {{}}; echo {{}} >> {log}"), ":::", "1", "2"])
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(both_ran.status.code(), Some(255));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "1\n2\n");
    let stderr = String::from_utf8_lossy(&both_ran.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: Error: cannot write output: No space left on device",
            "forkpool"
        )),
        "{stderr}"
    );
    let gnu = Command::new("parallel")
        .args(["--will-cite", "-j1", "echo {}", ":::", "1", "2"])
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(gnu.status.code(), Some(0), "GNU parallel changed: update the README");
}

#[test]
fn nothing_is_left_running_when_forkpool_is_killed() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "echo $$ >> {}; sleep 1000 & echo $! >> {}; wait",
        pids.display(),
        pids.display()
    );
    let mut child = start_and_wait_for_lines(&["-j2", &job, ":::", "a", "b"], &pids, 4);
    signal(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert_all_dead(&pids);
}
