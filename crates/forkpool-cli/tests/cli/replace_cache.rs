//! When a `{= perl =}` expression is evaluated, as GNU parallel does it:
//! once as the line is measured, then at each place it is used, a value
//! perl holds true being kept for the job's next uses and a false one
//! (`""`, `"0"`) computed again. Expressions with side effects show it.

use super::gnu::same_as_gnu_with_messages;
use super::*;

/// Prints each evaluation on stderr (`E<job>:<value> `); its value, "",
/// is false: every use evaluates it again.
const PROBE: &str = r#"{= print STDERR "E$job->{seq}:$_ "; $_ = "" =}"#;
/// A counter false two times in three: the uses of one job differ.
const COUNTER: &str = r#"{= $_ = $n++ % 3 ? "" : "x$n" =}"#;

#[test]
fn the_man_pages_counter_counts_from_one() {
    // man parallel, under --jobs: "This will count from 1" (measuring the
    // line gives 0, false, so the command gets the next value).
    let r = run_with(&["-j100", "echo", "{= $_ = $foo++; =}"], b"1\n2\n3\n4\n5\n");
    assert_eq!((r.sorted(), r.code), (vec!["1", "2", "3", "4", "5"], 0));
    same_as_gnu_with_messages(&["-k", "-j100", "echo", "{= $_ = $foo++; =}"], b"1\n2\n3\n4\n5\n");
    // A true value is kept: evaluated once per job, however often used.
    let r = run(&["-k", "echo", "{= $_ = ++$n =}", "{= $_ = ++$n =}", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["1 1", "2 2"]);
}

#[test]
fn each_use_is_evaluated_as_gnu_parallel_evaluates_it() {
    let probe2 = PROBE.replacen("{=", "{=2", 1);
    // Used on every argument, but measured on the record's last.
    let probe0 = PROBE.replacen("{=", "{=0", 1);
    let counter2 = COUNTER.replacen("{=", "{=2", 1);
    let inside = format!("x{PROBE}y");
    let dashed = format!("-{COUNTER}-");
    let glued = format!("x{COUNTER}");
    let tag = COUNTER.replace("$n", "$m");
    let three = [":::", "a", "b", "c"];
    let two_by_two = [":::", "a", "b", ":::", "c", "d"];
    let cases: Vec<Vec<&str>> = vec![
        // Measured, then used: two evaluations per job, in job order.
        [&["-j1", "echo", PROBE][..], &three].concat(),
        [&["-j2", "-k", "echo", PROBE][..], &three].concat(),
        [&["-k", "echo", PROBE, &inside][..], &three].concat(),
        [&["-k", "echo", "{}", "{.}", "{#}", PROBE][..], &[":::", "a.b", "c.d"]].concat(),
        [&["--dry-run", "echo", PROBE][..], &three].concat(),
        [&["-v", "-k", "echo", PROBE][..], &three].concat(),
        [&["-q", "-k", "echo", PROBE][..], &three].concat(),
        [&["-N1", "-k", "echo", PROBE][..], &three].concat(),
        // Every value of a job's record, or the one of a position.
        [&["-k", "echo", PROBE][..], &two_by_two].concat(),
        [&["-k", "echo", &probe2, &probe2][..], &two_by_two].concat(),
        [&["-k", "echo", &probe0][..], &two_by_two].concat(),
        // -N2: each record measured as it joins the line.
        [&["-N2", "-k", "echo", PROBE][..], &[":::", "a", "b", "c", "d"]].concat(),
        [&["-N2", "-k", "echo", &probe2][..], &[":::", "a", "b", "c", "d"]].concat(),
        // The values: a later use gets what a false one's evaluation gives.
        [&["-k", "-j2", "echo", COUNTER, COUNTER][..], &three].concat(),
        [&["-k", "echo", COUNTER, &dashed][..], &two_by_two].concat(),
        [&["-k", "echo", &counter2, &counter2][..], &two_by_two].concat(),
        [
            &["-k", "-N2", "echo", COUNTER, &glued][..],
            &[":::", "a", "b", "c", "d", "e"],
        ]
        .concat(),
        [&["-k", "echo", r#"{= $_ = $n++ % 2 ? "0" : "" =}"#][..], &three].concat(),
        // --tagstring: measured with the command, used as the output is
        // written (with -j1, before the next job is measured).
        [&["-j1", "--tagstring", &tag, "echo", COUNTER][..], &three].concat(),
        // uq() in a false evaluation leaves the value unquoted for good.
        [
            &[
                "-k",
                "--dry-run",
                "echo",
                r#"{= $_ = $n++ % 2 ? "a b" : ""; uq() if $n == 1 =}"#,
            ][..],
            &three,
        ]
        .concat(),
    ];
    for args in &cases {
        same_as_gnu_with_messages(args, b"");
    }
}

#[test]
fn where_gnus_order_is_random_forkpool_keeps_the_order_of_appearance() {
    // Two distinct expressions: GNU measures them in perl's hash order,
    // different from run to run; forkpool in order of appearance.
    let a = r#"{= print STDERR "A$job->{seq} "; $_ = "" =}"#;
    let b = r#"{= print STDERR "B$job->{seq} "; $_ = "" =}"#;
    let r = run(&["-k", "echo", a, b, a, ":::", "x", "y"]);
    assert_eq!(r.stderr, "A1 B1 A1 B1 A1 A2 B2 A2 B2 A2 ");
    let r = run(&[
        "-k",
        "echo",
        r#"{= $_ = $n++ % 2 ? "" : "x$n" =}"#,
        "{= $_ = $n =}",
        ":::",
        "a",
        "b",
    ]);
    assert_eq!(r.lines(), ["x1 1", "x3 2"]);
    // --tagstring: measured with the command's expressions (GNU: in hash
    // order), then used after the command's (GNU: as the output is
    // written, when other jobs may have run).
    let r = run(&[
        "-k",
        "--tagstring",
        "{= $_ = $n++ . 't' =}",
        "echo",
        "{= $_ = $n++ =}",
        ":::",
        "a",
        "b",
    ]);
    assert_eq!(r.lines(), ["1t\t2", "4t\t3"]);
    // -j0: GNU evaluates again as it finds how many jobs it can run ("due
    // to a bug", says its man page); forkpool as with any other -j.
    let r = run(&["-j0", "-k", "echo", PROBE, ":::", "a", "b"]);
    assert_eq!(r.stderr, "E1:a E1:a E2:b E2:b ");
}

#[test]
fn lines_filled_with_x_m_n_are_measured_as_gnu_parallel_measures_them() {
    // Record by record as the line fills, again for a record taken back
    // off a full line, and again as the records are shared out over the
    // job slots at the end.
    let sixteen: Vec<String> = (b'a'..=b'p').map(|c| String::from(char::from(c)).repeat(4)).collect();
    let mut fill = vec!["-k", "-X", "-s", "40", "-j1", "echo", PROBE, ":::"];
    fill.extend(sixteen.iter().map(String::as_str));
    for args in [
        &["-X", "-j1", "echo", PROBE, ":::", "a", "b"][..],
        &["-k", "-X", "-j2", "echo", PROBE, ":::", "a", "b", "c", "d", "e"],
        &["-k", "-N2", "echo", PROBE, ":::", "a", "b", "c", "d", "e"],
        &fill,
    ] {
        same_as_gnu_with_messages(args, b"");
    }
    let r = run(&fill);
    assert!(r.stderr.contains("E1:llll E1:llll E1:aaaa"), "{}", r.stderr);
    // GNU forgets what it measured as it takes records again: the counter
    // counts on.
    let command = |options| super::replace_fill::command(options, "{= $_ = $foo++ =}", "a b c d");
    let r = same_as_gnu_with_messages(&command("-k -j1 -X"), b"");
    assert_eq!(r.lines(), ["4 5 6 7"]);
    same_as_gnu_with_messages(&command("-k -j1 -N2"), b"");
}

/// A job run again (`--retries`) keeps the values its expressions had:
/// they were evaluated, in order, before it first ran. GNU parallel
/// forgets them and evaluates them again for each try, in the order the
/// tries happen to run (README: "Where it differs").
#[test]
fn a_retried_job_keeps_its_values_where_gnu_parallel_evaluates_them_again() {
    let args = [
        "-k",
        "-j1",
        "--retries",
        "3",
        "echo {= $_ = ++$n =}; exit 1",
        ":::",
        "a",
        "b",
    ];
    let r = run(&args);
    assert_eq!((r.lines(), r.code), (vec!["1", "2"], 2), "{r:?}");
    let gnu = super::gnu::gnu_with(&args, b"");
    assert_eq!((gnu.lines(), gnu.code), (vec!["3", "6"], 2), "{gnu:?}");
}
