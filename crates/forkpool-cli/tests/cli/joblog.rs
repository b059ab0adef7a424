//! `--joblog`: GNU parallel's format, in output order, on stdout with
//! `-`; and `--resume`, `--resume-failed` reading it back.

use super::*;

#[test]
fn joblog_is_gnu_parallels_format() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&["-j1", "--joblog", &log, "sleep 0.1; echo hi; exit {}", ":::", "0", "3"]);
    assert_eq!(r.code, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    for (row, (seq, exit)) in lines.zip([("1", "0"), ("2", "3")]) {
        let f: Vec<&str> = row.split('\t').collect();
        assert_eq!(f.len(), 9, "{row}");
        assert_eq!((f[0], f[1], f[4], f[5], f[6], f[7]), (seq, ":", "0", "3", exit, "0"));
        let (secs, millis) = f[2].split_once('.').unwrap();
        assert!(secs.len() >= 10 && millis.len() == 3, "start time {}", f[2]);
        assert_eq!(f[3].len(), 10, "runtime is right-aligned in 10: {:?}", f[3]);
        assert!(f[3].trim().parse::<f64>().unwrap() >= 0.1);
        assert_eq!(f[8], format!("sleep 0.1; echo hi; exit {exit}"));
    }
    // +FILE appends without a second header.
    run(&["--joblog", &format!("+{log}"), "true", ":::", "x"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!((text.lines().count(), text.matches("Seq\t").count()), (4, 1));
    // ... and starts a new file without one, as GNU parallel does.
    let fresh = d.s("fresh");
    run(&["--joblog", &format!("+{fresh}"), "true", ":::", "x"]);
    assert_eq!(joblog_rows(Path::new(&fresh)).len(), 1);
    assert!(!std::fs::read_to_string(&fresh).unwrap().starts_with("Seq"));
}

#[test]
fn the_joblog_follows_the_output_order_and_can_go_to_stdout() {
    // Under -k, lines come in input order though jobs end in reverse.
    let r = run(&[
        "-k",
        "-j3",
        "--joblog",
        "-",
        "sleep {}; echo {}",
        ":::",
        "0.6",
        "0.3",
        "0",
    ]);
    let kinds: Vec<String> = r
        .lines()
        .iter()
        .map(|l| match l.split('\t').collect::<Vec<_>>().as_slice() {
            [first, ..] if *first == "Seq" => "header".to_owned(),
            [seq, _, _, _, _, _, _, _, _] => format!("log {seq}"),
            _ => format!("out {l}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["header", "out 0.6", "log 1", "out 0.3", "log 2", "out 0", "log 3"]
    );
}

#[test]
fn resume_skips_what_ran_and_resume_failed_reruns_failures() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&[
        "-k",
        "-j1",
        "--joblog",
        &log,
        "echo run {}; exit {}",
        ":::",
        "0",
        "1",
        "0",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["run 0", "run 1", "run 0"], 1));
    let r = run(&[
        "-k",
        "-j1",
        "--resume",
        "--joblog",
        &log,
        "echo run {}; exit {}",
        ":::",
        "0",
        "1",
        "0",
        "7",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["run 7"], 1));
    let r = run(&[
        "-k",
        "-j1",
        "--resume-failed",
        "--joblog",
        &log,
        "echo run {}; exit {}",
        ":::",
        "0",
        "1",
        "0",
        "7",
        "8",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["run 1", "run 7", "run 8"], 3));
    let seqs: Vec<String> = joblog_rows(Path::new(&log)).iter().map(|r| r[0].clone()).collect();
    assert_eq!(seqs, ["1", "2", "3", "4", "2", "4", "5"]);
}
