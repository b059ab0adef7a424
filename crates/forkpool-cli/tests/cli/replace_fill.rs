//! `-X`, `-m`, `-n`, `-N` fill a line by what the replacement strings make
//! of the values, `{= perl =}`'s included: a `{= =}` that makes values
//! longer fits fewer of them on a line, one that shortens them more, as in
//! GNU parallel (its `CommandLine::push` measures each record by perl's
//! value).

use super::gnu::{same_as_gnu, same_as_gnu_with_messages};
use super::run;

fn values(n: usize, each: impl Fn(usize) -> String) -> Vec<String> {
    (1..=n).map(each).collect()
}

/// `args`, then `:::` and `vals`.
fn with_values<'a>(args: &[&'a str], vals: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.push(":::");
    all.extend(vals.iter().map(String::as_str));
    all
}

/// How many words each line of `out` has.
fn words_per_line(out: &str) -> Vec<usize> {
    out.lines().map(|l| l.split_whitespace().count()).collect()
}

#[test]
fn values_made_longer_fit_fewer_on_a_line() {
    let letters = values(10, |i| char::from(b'a' + u8::try_from(i - 1).unwrap()).to_string());
    let args = with_values(
        &["-k", "-j1", "-X", "-s", "200", "echo", "{= $_ = $_ x 30 =}"],
        &letters,
    );
    // GNU parallel 20221122: 6 values fit (each 31 long), then 4.
    let r = same_as_gnu_with_messages(&args, b"");
    assert_eq!((words_per_line(&r.stdout), r.code), (vec![6, 4], 0), "{}", r.stderr);
    // Shared out over two slots at the end: 6, then 2 and 2.
    let args = with_values(
        &["-k", "-j2", "-X", "-s", "200", "echo", "{= $_ = $_ x 30 =}"],
        &letters,
    );
    let r = same_as_gnu_with_messages(&args, b"");
    assert_eq!(words_per_line(&r.stdout), [6, 2, 2]);
    // The words around the value, and -m.
    let numbers = values(40, |i| i.to_string());
    for fill in ["-X", "-m"] {
        for j in ["-j1", "-j3"] {
            let args = with_values(
                &["-k", j, fill, "-s", "150", "echo", "pre{= $_ = $_ x 20 =}post"],
                &numbers,
            );
            same_as_gnu_with_messages(&args, b"");
        }
    }
}

#[test]
fn values_made_shorter_fit_more_on_a_line() {
    let paths = values(60, |i| format!("/a/rather/long/path/to/some/file{i}"));
    let args = with_values(&["-k", "-j1", "-X", "-s", "300", "echo", "{= s:.*/:: =}"], &paths);
    let r = same_as_gnu(&args, b"");
    // Measured before perl, each path is 35 long: 8 would fit.
    assert!(words_per_line(&r.stdout)[0] > 8, "{}", r.stdout);
    let numbers = values(61, |i| (i + 99).to_string());
    for empty in ["{= $_ = \"\" =}", "{= $_ = 0 =}"] {
        same_as_gnu(
            &with_values(&["-k", "-j1", "-X", "-s", "100", "echo", empty], &numbers),
            b"",
        );
    }
}

#[test]
fn counts_stop_where_perls_values_fill_the_line() {
    let numbers = values(40, |i| i.to_string());
    for args in [
        &["-k", "-j1", "-N3", "-s", "100", "echo", "{= $_ = $_ x 20 =}"][..],
        &["-k", "-j1", "-n5", "-s", "120", "echo", "{= $_ = $_ x 10 =}"],
        &[
            "-k",
            "-j1",
            "-N3",
            "-s",
            "100",
            "echo",
            "{=1 $_ = $_ x 20 =}",
            "{=3 $_ = $_ x 5 =}",
        ],
        &["-k", "-j1", "-N4", "-s", "60", "echo", "{= $_ = $job->seq() x 9 =}"],
        &["-k", "-j1", "-X", "-s", "200", "echo", "{= $_ = $job->seq() x 20 =}"],
        &["-k", "-j1", "-X", "-s", "200", "echo", "{= $_ = $_ x 10 =}", "{}"],
        &["-k", "-j1", "-X", "-s", "200", "-q", "echo", "{= $_ = \"a b\" x 5 =}"],
    ] {
        same_as_gnu_with_messages(&with_values(args, &numbers), b"");
    }
    // Several sources, and a column.
    same_as_gnu(
        &[
            "-k",
            "-j2",
            "-X",
            "-s",
            "200",
            "echo",
            "{= $_ = $_ x 10 =}",
            ":::",
            "a",
            "b",
            "c",
            ":::",
            "1",
            "2",
            "3",
            "4",
        ],
        b"",
    );
    let csv = values(8, |i| format!("{},{i}", char::from(b'a' + u8::try_from(i).unwrap())));
    same_as_gnu(
        &with_values(
            &[
                "-k",
                "-j1",
                "-X",
                "-s",
                "200",
                "--colsep",
                ",",
                "echo",
                "{=2 $_ = $_ x 10 =}",
            ],
            &csv,
        ),
        b"",
    );
}

#[test]
fn a_value_too_long_alone_is_an_error_as_in_gnu_parallel() {
    let r = same_as_gnu_with_messages(
        &["-j1", "-X", "-s", "200", "echo", "{= $_ = $_ x 300 =}", ":::", "a", "b"],
        b"",
    );
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("Command line too long"), "{}", r.stderr);
}

#[test]
fn a_long_line_of_perl_values_is_filled_as_gnu_parallel_fills_it() {
    // Many records to a line: measured in batches, one line as GNU's.
    let numbers: String = (1..=30_000).map(|i| format!("{i}\n")).collect();
    let args = ["-k", "-j2", "-X", "echo", "{= $_ .= \"x\" =}"];
    let ours = same_as_gnu(&args, numbers.as_bytes());
    assert_eq!(ours.stdout.split_whitespace().count(), 30_000);
}

#[test]
fn an_expression_that_asks_for_the_slot_fills_by_the_values_before_perl_unlike_gnu_parallel() {
    // The slot is known as the job starts (README): GNU measures with the
    // slot the job is to get.
    let letters = values(12, |i| char::from(b'a' + u8::try_from(i - 1).unwrap()).to_string());
    let args = with_values(
        &["-k", "-j2", "-X", "-s", "30", "echo", "{= $_ = slot() x 3 =}"],
        &letters,
    );
    let r = run(&args);
    assert_eq!((words_per_line(&r.stdout), r.code), (vec![6, 6], 0), "{}", r.stderr);
    let gnu = super::gnu::gnu_with(&args, b"");
    assert_eq!(words_per_line(&gnu.stdout), [6, 3, 3], "{}", gnu.stderr);
}

/// Each evaluation, on stderr, then the value made 30 times longer.
const COUNTED: &str = r#"{= print STDERR "E"; $_ = $_ x 30 =}"#;

#[test]
fn a_line_is_measured_as_far_as_gnu_parallel_measures_it() {
    // Not a batch of records past the line's end for every line: as many
    // evaluations as GNU's (its records are measured as pushed, the one
    // that does not fit again as it is taken back, then each is used).
    let letters: Vec<String> = ('a'..='z').chain('A'..='Z').map(String::from).collect();
    for fill in ["-X", "-m", "--xargs"] {
        let args = with_values(&["-k", "-j1", fill, "-s", "300", "echo", COUNTED], &letters);
        let r = same_as_gnu(&args, b"");
        let gnu = super::gnu::gnu_with(&args, b"");
        let count = |s: &str| s.matches('E').count();
        // (Up to a few more: records measured past a line's end.)
        assert!(
            count(&r.stderr) >= count(&gnu.stderr) && count(&r.stderr) <= count(&gnu.stderr) + 8,
            "{fill}: {} evaluations, GNU {}",
            count(&r.stderr),
            count(&gnu.stderr)
        );
    }
    // Shared out at the end, each job measures its own share (not all the
    // rest again); and -X -n 2 does not measure the record past its two.
    let counter = "{= $_ .= $x++ =}";
    for (options, expr, vals) in [
        ("-k -j3 -X", counter, "1 2 3"),
        ("-k -j5 -X", counter, "1 2 3 4"),
        ("-k -j3 -X", counter, "1 2 3 4 5 6 7"),
        ("-k -j1 -X -n 2", counter, "1 2 3"),
        ("-k -j1 -m -n 2", counter, "1 2 3 4 5"),
        ("-j1 -N100 -s 60", "{= $_ = $_ x 5; $_ .= $x++ =}", "a b c d e f g"),
    ] {
        same_as_gnu(&command(options, expr, vals), b"");
    }
}

/// `options` (blank-separated), `echo`, `expr`, then `:::` and `vals`.
pub(super) fn command<'a>(options: &'a str, expr: &'a str, vals: &'a str) -> Vec<&'a str> {
    let mut args: Vec<&str> = options.split(' ').collect();
    args.extend(["echo", expr, ":::"]);
    args.extend(vals.split(' '));
    args
}

#[test]
fn skip_and_die_while_a_line_is_measured_act_on_that_line_as_in_gnu_parallel() {
    let letters: Vec<String> = ('a'..='h').map(String::from).collect();
    // skip() on the record that does not fit (taken back off the line)
    // skips the line being filled.
    for s in ["24", "26"] {
        let args = [
            "-k",
            "-j1",
            "--xargs",
            "-s",
            s,
            "echo",
            "{= skip() if $_ eq \"d\"; $_ = $_ x 5 =}",
        ];
        let r = same_as_gnu(&with_values(&args, &letters), b"");
        assert_eq!(r.stdout, "ggggg hhhhh\n");
    }
    // Dying as the record is taken back: the line never runs.
    let again = "{= if ($_ eq \"d\") { die \"again $_\" if $seen{$_}++; $_ = \"\" } else { $_ = $_ x 5 } =}";
    let r = run(&with_values(
        &["-k", "-j1", "--xargs", "-s", "23", "echo", again],
        &letters,
    ));
    assert_eq!((r.stdout.as_str(), r.code), ("", 255), "{}", r.stderr);
    assert!(r.stderr.contains("died in job 1: again d"), "{}", r.stderr);
    // Dying on a record measured past a line's end: the lines before it
    // run, as in GNU, and the error names the line that needs it.
    let die = "{= die \"boom\" if $_ eq \"h\"; $_ = $_ x 10 =}";
    let az: Vec<String> = ('a'..='z').map(String::from).collect();
    let args = with_values(&["-k", "-j1", "--xargs", "-s", "60", "echo", die], &az);
    let r = run(&args);
    let gnu = super::gnu::gnu_with(&args, b"");
    assert_eq!(r.stdout, gnu.stdout);
    assert_eq!(r.stdout, "aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee\n");
    assert!(r.stderr.contains("died in job 2: boom"), "{}", r.stderr);
    assert_eq!(r.code, 255);
}

#[test]
fn a_filled_line_runs_though_a_value_false_when_measured_grows_as_in_gnu_parallel() {
    // `$foo++` is 0 (false) as the first record is measured, and computed
    // again where it is used: longer than measured. GNU checks a line only
    // as it fills it.
    let thirty: String = (1..=30).map(|i| format!("{i}\n")).collect();
    for s in ["34", "40", "52"] {
        let r = same_as_gnu(
            &["-k", "-j1", "-X", "-s", s, "echo", "{= $_ = $foo++ =}"],
            thirty.as_bytes(),
        );
        assert_eq!(r.code, 0, "-s {s}: {}", r.stderr);
    }
    // The line shared out at the end is refilled by count, not length.
    let nine: String = (1..=9).map(|i| format!("{i}\n")).collect();
    let r = same_as_gnu(
        &["-k", "-j1", "-X", "-s", "30", "echo", "{= $_ = $foo++ =}"],
        nine.as_bytes(),
    );
    assert_eq!(r.lines().len(), 1, "{}", r.stdout);
    let grow = "{= $_ = $seen{$_}++ ? $_ x 6 : \"\" =}";
    same_as_gnu(
        &[
            "-k", "-j1", "-X", "-s", "40", "echo", grow, ":::", "a", "b", "c", "d", "e", "f", "g",
        ],
        b"",
    );
}

#[test]
fn an_expression_dying_as_a_line_is_measured_stops_the_run_there_as_in_gnu_parallel() {
    let trace = |code: &str| format!("{{= print STDERR \"E$job->{{seq}}:$_ \"; {code} =}}");
    // Where the die is, and no further evaluation after it.
    let first_b = trace("die \"first $_\\n\" if !$seen{$_}++ and $_ eq \"b\"");
    let on_e = trace("die \"boom\\n\" if $_ eq \"e\"");
    for (expr, gnu_trace) in [(&first_b, "E1:a E1:b "), (&on_e, "E1:a E1:b E1:c E2:d E2:e ")] {
        let args = [
            "-k", "-j1", "-N3", "echo", expr, ":::", "a", "b", "c", "d", "e", "f", "g",
        ];
        let r = run(&args);
        assert_eq!(r.code, 255, "{}", r.stderr);
        assert!(r.stderr.starts_with(gnu_trace), "{}", r.stderr);
        assert_eq!(r.stdout, super::gnu::gnu_with(&args, b"").stdout);
    }
    // A line whose first record is too long alone is not read past.
    let args = ["-k", "-j1", "-X", "-s", "40", "echo", &trace("$_ = $_ x 3")];
    let mut args: Vec<&str> = args.to_vec();
    args.extend([":::", "aaaaaaaaaaaaaa", "b", "c"]);
    let r = run(&args);
    assert!(
        r.stderr
            .starts_with("E1:aaaaaaaaaaaaaa forkpool: Error: Command line too long"),
        "{}",
        r.stderr
    );
}

#[test]
fn uq_called_as_a_false_value_is_measured_stays_with_it_as_in_gnu_parallel() {
    // GNU keeps uq()'s mark with the value measured, though the value
    // ("", false) is computed again where it is used: unquoted, `<a>` is
    // shell syntax.
    let expr = "{= uq() if !$seen{$_}++; $_ = $seen{$_} > 1 ? \"<$_>\" : \"\" =}";
    let r = same_as_gnu_with_messages(&["-k", "-j1", "-N2", "echo", expr, ":::", "a", "b", "c", "d"], b"");
    assert_eq!((r.stdout.as_str(), r.code), ("", 2), "{}", r.stderr);
}
