//! How many jobs run at once and when each starts: `-j` in every form,
//! `--delay`, `--memfree`, `--load`, `--nice`, `--shuf`. The bounds the
//! system sets on `-j` are in `limits.rs`.

use super::*;

/// The job slots used by 12 jobs under `-j J`.
fn slots_used(j: &str) -> usize {
    let mut args = vec!["-j", j, "sleep 0.05; echo {%}", ":::"];
    let items: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    args.extend(items.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    let mut slots: Vec<usize> = r.lines().iter().map(|l| l.parse().unwrap()).collect();
    slots.sort_unstable();
    slots.dedup();
    *slots.last().unwrap()
}

#[test]
fn jobs_in_every_form() {
    assert_eq!(slots_used("1"), 1);
    assert_eq!(slots_used("3"), 3);
    assert_eq!(slots_used("+1"), (cpus() + 1).min(12));
    assert_eq!(slots_used(&format!("-{}", cpus() - 1)), 1);
    assert_eq!(slots_used("50%"), cpus().div_ceil(2), "rounded up, as GNU parallel");
    assert_eq!(slots_used("0"), 12);
    // No slot left at all is an error, as in GNU parallel.
    for none in [format!("-{}", cpus()), "0%".to_owned()] {
        let r = run(&["-j", &none, "echo", ":::", "a"]);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (255, "forkpool: Error: Cannot run any jobs.\n"),
            "-j {none}"
        );
    }
}

#[test]
fn delay_spaces_out_job_starts() {
    let r = run(&["--delay", "0.2", "-j4", "date +%s.%N", ":::", "a", "b", "c"]);
    let mut starts: Vec<f64> = r.lines().iter().map(|l| l.parse().unwrap()).collect();
    starts.sort_by(f64::total_cmp);
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= 0.19, "started {:.3}s apart", pair[1] - pair[0]);
    }
    // No delay is owed after the last job.
    let start = Instant::now();
    assert_eq!(run(&["--delay", "30", "true", ":::", "a"]).code, 0);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "waited a delay after the last job"
    );
}

#[test]
fn memfree_and_load_hold_jobs_back() {
    // Far more memory than any machine has free: one job at a time.
    let r = run(&["--memfree", "1000T", "-j4", "echo {%}", ":::", "a", "b", "c"]);
    assert_eq!((r.lines(), r.code), (vec!["1", "1", "1"], 0));
    // --load 0 means 0.01 running processes (system-wide, from
    // /proc/loadavg, forkpool itself not counted): with a busy loop beside
    // it, always "too busy", so one job at a time.
    let mut busy = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let r = run(&["--load", "0", "-j4", "echo {%}", ":::", "a", "b", "c"]);
    busy.kill().unwrap();
    busy.wait().unwrap();
    assert_eq!((r.lines(), r.code), (vec!["1", "1", "1"], 0));
}

#[test]
fn nice_runs_jobs_at_that_niceness() {
    // As GNU parallel: `--nice N` is the jobs' niceness (set, not added to
    // ours). Raising it always works; lowering it needs privilege (root,
    // CAP_SYS_NICE), and without it the jobs stay at ours. Compared with
    // the niceness this test starts at (the suite may run under
    // `nice -n 19`) and with whether this process may lower it.
    let ours: i32 = run(&["nice; : {}", ":::", "x"]).stdout.trim().parse().unwrap();
    let lowered = std::process::Command::new("nice")
        .args(["-n", "-1", "nice"])
        .output()
        .unwrap();
    let may_lower = String::from_utf8_lossy(&lowered.stdout).trim().parse::<i32>().unwrap() < ours;
    // From the job's first instruction: a program run directly reads its
    // niceness at once (it was set after the start, a race many lost).
    if ours <= 19 {
        let items: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut args = vec!["--nice", "19", "-j4", "cat", "/proc/self/stat", ":::"];
        args.extend(items.iter().map(String::as_str));
        let r = run(&args);
        // `cat` gets the item as a file it cannot read; its stat line (the
        // niceness is field 19) is on stdout.
        let nice: Vec<&str> = r.stdout.lines().filter_map(|l| l.split(' ').nth(18)).collect();
        assert_eq!(nice, vec!["19"; 20], "{}", r.stdout);
    }
    // Past 19, 19, as `nice -n` (which GNU parallel runs) takes it.
    for (level, set) in [(7, 7), (19, 19), (30, 19)] {
        let r = run(&["--nice", &level.to_string(), "sleep 0.2; nice; : {}", ":::", "x"]);
        let expected = if set >= ours || may_lower { set } else { ours };
        assert_eq!(
            r.stdout.trim(),
            expected.to_string(),
            "--nice {level}, started at {ours}"
        );
    }
}

#[test]
fn shuf_runs_every_job_once() {
    let items: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let mut args = vec!["--shuf", "echo", ":::"];
    args.extend(items.iter().map(String::as_str));
    let mut got: Vec<usize> = run(&args).lines().iter().map(|l| l.parse().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}
