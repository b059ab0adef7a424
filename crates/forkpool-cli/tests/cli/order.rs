//! `-k`: output in sequence order, whatever order jobs start and end in,
//! and whichever jobs never run; against GNU parallel where its output is
//! deterministic.

use std::sync::mpsc;

use super::gnu::{gnu_with, same_as_gnu};
use super::pipe::seq;
use super::*;

/// The joblog's Seq column, in the order of its lines.
fn logged_seqs(log: &str) -> Vec<String> {
    super::joblog_rows(Path::new(log))
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[test]
fn jobs_that_end_first_wait_for_their_turn_as_in_gnu() {
    // The first job ends last, the last one first.
    let job = "sleep {}; echo {}";
    let items = [":::", "0.6", "0.1", "0.3", "0.2", "0"];
    for extra in [&["-j3"][..], &["-j3", "--tag"], &["-j5", "--lb"], &["-j2"]] {
        let args: Vec<&str> = ["-k"]
            .iter()
            .chain(extra)
            .chain(&[job])
            .chain(&items)
            .copied()
            .collect();
        let r = same_as_gnu(&args, b"");
        assert_eq!(r.lines().len(), 5, "{args:?}: {}", r.stdout);
    }
    // Several arguments a job (-m -n2, -X), and --pipe blocks: the first
    // job ends last there too.
    let packed = "sleep 0.$(( 4 - {#} )); echo {#} {}";
    for extra in [&["-m", "-n2"][..], &["-X"]] {
        let args: Vec<&str> = ["-k", "-j3"]
            .iter()
            .chain(extra)
            .chain(&[packed, ":::", "1", "2", "3", "4", "5"])
            .copied()
            .collect();
        let r = same_as_gnu(&args, b"");
        assert_eq!(r.lines()[0].split(' ').next(), Some("1"), "{args:?}: {}", r.stdout);
    }
    let r = same_as_gnu(
        &[
            "-k",
            "-j3",
            "--pipe",
            "-N2",
            "sleep 0.$(( 4 - {#} )); echo job {#}; cat",
        ],
        seq(6).as_bytes(),
    );
    assert_eq!(r.stdout, "job 1\n1\n2\njob 2\n3\n4\njob 3\n5\n6\n");
    // The joblog follows the output.
    let d = Dir::new();
    let log = d.s("log");
    let args: Vec<&str> = ["-k", "-j3", "--joblog", &log, job]
        .iter()
        .chain(&items)
        .copied()
        .collect();
    run(&args);
    assert_eq!(logged_seqs(&log), ["1", "2", "3", "4", "5"]);
}

#[test]
fn a_retried_job_that_starts_after_later_ones_keeps_its_place_as_in_gnu() {
    // Job 1 fails its first attempt after the others have started (and
    // job 4 has started after them): it runs again last, and prints first.
    let outputs: Vec<Run> = [false, true]
        .into_iter()
        .map(|gnu| {
            let d = Dir::new();
            let mark = d.s("failed-once");
            let job = format!(
                "if [ {{}} = a ] && [ ! -e {mark} ]; then touch {mark}; sleep 0.5; exit 1; fi; echo {{}} {{#}}"
            );
            let args = ["-k", "-j3", "--retries", "2", &job, ":::", "a", "b", "c", "d"];
            let r = if gnu { gnu_with(&args, b"") } else { run(&args) };
            assert!(d.path("failed-once").exists(), "job a failed once");
            r
        })
        .collect();
    let (ours, gnu) = (&outputs[0], &outputs[1]);
    assert_eq!(
        (ours.stdout.as_str(), ours.code),
        ("a 1\nb 2\nc 3\nd 4\n", 0),
        "{}",
        ours.stderr
    );
    assert_eq!(
        (&ours.stdout, ours.code),
        (&gnu.stdout, gnu.code),
        "GNU: {}",
        gnu.stderr
    );
}

/// `--shuf -k`'s output: the lines' `{#}` and perl's `$job->seq()` count
/// up from 1 (GNU numbers the jobs after shuffling, and `-k` follows the
/// numbers); returns the values in the order printed.
fn shuffled_in_order(r: &Run, n: usize) -> Vec<usize> {
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), n, "{}", r.stdout);
    let mut values = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[..2], [(i + 1).to_string(), (i + 1).to_string()], "{}", r.stdout);
        values.extend(fields[2..].iter().map(|v| v.parse::<usize>().unwrap()));
    }
    values
}

#[test]
fn shuf_with_k_prints_in_the_shuffled_order_numbered_as_in_gnu() {
    let items: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    // Jobs end in no particular order (later ones often first).
    let job = "sleep 0.0$(( ({1} * 7) % 10 )); echo {#} {= $_ = $job->seq() =} {}";
    for gnu in [false, true] {
        let d = Dir::new();
        let log = d.s("log");
        let mut args = vec!["--shuf", "-k", "-j3", "--joblog", &log, job, ":::"];
        args.extend(items.iter().map(String::as_str));
        let r = if gnu { gnu_with(&args, b"") } else { run(&args) };
        let mut values = shuffled_in_order(&r, 20);
        values.sort_unstable();
        assert_eq!(values, (1..=20).collect::<Vec<_>>(), "gnu: {gnu}: every job once");
        let seqs: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
        assert_eq!(logged_seqs(&log), seqs, "gnu: {gnu}: the joblog in order too");
        // The records are shuffled, then grouped: with -n2, the pairs are
        // not the input's pairs (all ten pairs kept: 1 chance in ~10^12).
        let mut args = vec!["--shuf", "-k", "-n2", "-j3", job, ":::"];
        args.extend(items.iter().map(String::as_str));
        let r = if gnu { gnu_with(&args, b"") } else { run(&args) };
        let values = shuffled_in_order(&r, 10);
        let input_pairs = values.chunks(2).all(|p| p[0].div_ceil(2) == p[1].div_ceil(2));
        assert!(!input_pairs, "gnu: {gnu}: records shuffled before grouping: {values:?}");
    }
}

#[test]
fn halt_now_drops_what_k_holds_back_as_in_gnu() {
    // Job 2 is slow (killed by the halt); job 3 fails; job 4 ended before
    // it, but waits behind job 2: only job 1 is printed.
    let job = "case {} in slow) sleep 30;; fail) sleep 1; echo {}; exit 1;; esac; echo {}";
    let r = same_as_gnu(
        &[
            "-k",
            "-j3",
            "--halt",
            "now,fail=1",
            job,
            ":::",
            "a",
            "slow",
            "fail",
            "b",
        ],
        b"",
    );
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 1), "{}", r.stderr);
}

#[test]
fn round_robin_slots_the_input_never_reached_hold_nothing_back_as_in_gnu() {
    // Three blocks, five slots: the last two jobs get no input; the
    // others end in reverse order.
    let job = "sleep 0.$(( 4 - {#} )); echo job {#}; cat";
    let args = ["-k", "-j5", "--pipe", "--round-robin", "-N1", job];
    let r = same_as_gnu(&args, seq(3).as_bytes());
    assert_eq!(r.stdout, "job 1\n1\njob 2\n2\njob 3\n3\n");
    let d = Dir::new();
    let (ours, theirs) = (d.s("ours"), d.s("theirs"));
    let with_log =
        |log: &str| -> Vec<String> { ["--joblog", log].iter().chain(&args).map(|s| s.to_string()).collect() };
    let ours_args = with_log(&ours);
    let theirs_args = with_log(&theirs);
    run_with(
        &ours_args.iter().map(String::as_str).collect::<Vec<_>>(),
        seq(3).as_bytes(),
    );
    gnu_with(
        &theirs_args.iter().map(String::as_str).collect::<Vec<_>>(),
        seq(3).as_bytes(),
    );
    assert_eq!(logged_seqs(&ours), logged_seqs(&theirs));
}

/// Reads a child's stdout lines on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn jobs_resume_skips_never_hold_back_the_output_after_them() {
    // Jobs 1 and 2 are in the joblog: --resume skips them. Job 3's output
    // must come out while job 4 still runs: job 4 waits until we have seen
    // it (so if the skipped jobs held it back, we would wait in vain).
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&["--joblog", &log, "-k", "echo", ":::", "a", "b"]);
    assert_eq!(r.stdout, "a\nb\n");
    let go = d.s("go");
    let job =
        format!("if [ {{}} = d ]; then for i in $(seq 1200); do [ -e {go} ] && break; sleep 0.1; done; fi; echo {{}}");
    let mut child = spawn_piped(&[
        "--resume", "--joblog", &log, "-k", "-j2", &job, ":::", "a", "b", "c", "d",
    ]);
    drop(child.stdin.take());
    let lines = lines_of(&mut child);
    let first = lines.recv_timeout(Duration::from_secs(60));
    std::fs::write(&go, "").unwrap();
    let rest: Vec<String> = lines.iter().collect();
    let status = child.wait().unwrap();
    assert_eq!(
        first.as_deref(),
        Ok("c"),
        "job 3's output waited behind the jobs --resume skipped"
    );
    assert_eq!((rest, status.code()), (vec!["d".to_owned()], Some(0)));
    assert_eq!(logged_seqs(&log), ["1", "2", "3", "4"]);
}
