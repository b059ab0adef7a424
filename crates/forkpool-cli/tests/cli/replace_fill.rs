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
