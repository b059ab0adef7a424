//! xargs compatibility: `-s`, `-L`, `-l`, `-E`, `-e`, `-r`, `-x`,
//! `--xargs`, and `-X`/`-m` filling and sharing out lines as GNU
//! parallel does. Each case is checked against the installed GNU parallel.

use super::gnu::{same_as_gnu, same_as_gnu_with_messages};
use super::*;

fn lines_of(n: u32) -> Vec<u8> {
    (1..=n).map(|i| format!("{i}\n")).collect::<String>().into_bytes()
}

#[test]
fn eof_string_ends_the_input() {
    let input = b"a\nb\nEOF\nc\n";
    for args in [
        &["-k", "-E", "EOF", "echo"][..],
        &["-k", "-eEOF", "echo"],
        &["-k", "--eof=EOF", "echo"],
        &["-k", "--eof", "EOF", "echo"],
    ] {
        let r = same_as_gnu(args, input);
        assert_eq!(r.stdout, "a\nb\n", "{args:?}");
    }
    // Only a whole line, and also in ::: values.
    same_as_gnu(&["-k", "-E", "EOF", "echo"], b"a\n bEOF\nEOF \nc\n");
    assert_eq!(
        same_as_gnu(&["-k", "-E", "b", "echo", ":::", "a", "b", "c"], b"").stdout,
        "a\n"
    );
    // -e takes the next word as its string, as GNU parallel's parser does.
    same_as_gnu(&["-k", "-e", "echo", "x"], input);
    // A bare -e is no end-of-file string.
    assert_eq!(same_as_gnu(&["-k", "-e", "-j1", "echo"], input).lines().len(), 4);
}

#[test]
fn r_skips_blank_input() {
    let r = same_as_gnu(&["-k", "-r", "echo", "x{}x"], b"a\n\n  \nb\n");
    assert_eq!(r.stdout, "xax\nxbx\n");
    same_as_gnu(&["-k", "echo", "x{}x"], b"a\n\n  \nb\n");
    same_as_gnu(
        &["-k", "--no-run-if-empty", "echo", "x{}x", ":::", "a", "", " ", "b"],
        b"",
    );
    let r = same_as_gnu(&["-r", "echo", "ran"], b"\n \n");
    assert_eq!(r.stdout, "");
}

#[test]
fn s_limits_the_command_line() {
    let twenty = lines_of(20);
    same_as_gnu(&["-k", "-s", "20", "echo"], &twenty);
    let r = same_as_gnu(&["-j1", "-k", "-m", "-s", "20", "echo"], &twenty);
    assert_eq!(r.lines()[0], "1 2 3 4 5 6 7", "shorter than 20 with echo");
    same_as_gnu(&["-k", "--xargs", "-s", "20", "echo"], &twenty);
    same_as_gnu(&["-k", "--max-chars", "20", "--xargs", "echo"], &twenty);
    same_as_gnu(&["-j1", "-k", "-X", "-s", "20", "echo", "a{}b"], &lines_of(12));
    // No argument fits: GNU parallel's error, exit 255, with -x or not.
    for x in [&[][..], &["-x"]] {
        let mut args = vec!["-j1", "-k", "-s", "7"];
        args.extend_from_slice(x);
        args.push("echo");
        let r = same_as_gnu(&args, &lines_of(12));
        assert_eq!(r.lines().len(), 9, "1..9 fit; 10 does not");
        assert!(
            r.stderr
                .contains("forkpool: Error: Command line too long (7 >= 7) at input 0: 10\n"),
            "{}",
            r.stderr
        );
    }
    // 0 is the default; more than GNU parallel's limit is warned about.
    same_as_gnu(&["-s", "0", "-k", "echo"], b"1\n2\n");
    let r = same_as_gnu(&["-s", "100000", "-k", "echo"], b"1\n2\n");
    assert_eq!(r.stderr, "forkpool: Warning: Value for option -s should be < 63664.\n");
}

#[test]
fn l_groups_lines_and_continues_those_ending_in_a_blank() {
    let input = b"a b\nc \nd\ne\nf\n";
    let r = same_as_gnu(&["-k", "-L2", "echo", "x{}y"], input);
    assert_eq!(r.stdout, "xa by xc dy\nxey xfy\n", "-L repeats the word, as -X");
    same_as_gnu(&["-k", "-m", "-L2", "echo", "x{}y"], input);
    same_as_gnu(&["-k", "-L", "0", "echo", "x"], b"a\nb\n");
    let abc = b"a\nb\nc\n";
    for args in [
        &["-k", "-l", "echo", "x"][..],
        &["-k", "-l2", "echo", "x"],
        &["-k", "-l", "2", "echo", "x"],
        &["-k", "--max-lines=2", "echo", "x"],
        &["-k", "-l0", "echo", "x"],
        &["-k", "-l2", "echo", "x{}y"],
        &["-k", "-L2", "echo", "x{}y"],
    ] {
        same_as_gnu(args, abc);
    }
    same_as_gnu(&["-k", "-l", "-0", "echo", "x"], b"a\0b\0c\0");
    let seven = b"a\nb\nc\nd\ne\nf\ng\n";
    same_as_gnu(&["-k", "-L2", "-n3", "echo", "x"], seven);
    same_as_gnu(&["-k", "-L2", "-N3", "echo", "x"], seven);
    same_as_gnu(&["-k", "-L2", "echo", "x", ":::", "a ", "b", "c", "d"], b"");
}

#[test]
fn xargs_fills_lines_and_m_and_x_share_the_rest_out_even_with_n() {
    let seven = lines_of(7);
    for args in [
        &["-k", "-j2", "--xargs", "echo"][..],
        &["-k", "-j2", "--xargs", "-n4", "echo"],
        &["-k", "-j2", "-m", "-n4", "echo"],
        &["-k", "-j2", "-X", "-n4", "echo"],
        &["-k", "-j3", "-m", "-N4", "echo"],
        &["-k", "-j2", "-s", "9", "-m", "echo"],
        &["-k", "--xargs", "echo", "x{}y"],
    ] {
        same_as_gnu(args, &seven);
    }
    let r = same_as_gnu(&["-k", "-j2", "-m", "-n4", "echo"], &seven);
    assert_eq!(r.lines(), ["1 2 3 4", "5 6", "7"]);
}

/// The lengths of the lines `forkpool ARGS` prints for `input`.
fn line_lengths(args: &[&str], input: &[u8]) -> Vec<usize> {
    let r = same_as_gnu(args, input);
    r.lines().iter().map(|l| l.len()).collect()
}

#[test]
fn x_and_m_fill_lines_to_gnu_parallels_length_whatever_the_quoting() {
    let plain = lines_of(30_000);
    let lengths = line_lengths(&["-j1", "-k", "-X", "echo"], &plain);
    assert_eq!(lengths[0], 63_653, "a line as long as GNU parallel's");
    line_lengths(&["-j1", "-k", "-m", "echo", "{}"], &plain);
    // Values that need quotes, and -q, which GNU counts three times.
    let spaced: Vec<u8> = (1..=30_000).flat_map(|i| format!("{i} x\n").into_bytes()).collect();
    let quoted: Vec<u8> = (1..=30_000).flat_map(|i| format!("'{i}'a'\n").into_bytes()).collect();
    for input in [&spaced, &quoted] {
        line_lengths(&["-j1", "-k", "-X", "echo"], input);
        line_lengths(&["-j1", "-k", "-X", "-q", "echo"], input);
        line_lengths(&["-j2", "-k", "-m", "-q", "echo", "a{}b"], input);
    }
    let q = line_lengths(&["-j1", "-k", "-X", "-q", "echo"], &plain);
    assert!(q[0] < 22_000, "-q lines are a third as long: {q:?}");
}

#[test]
fn a_command_given_as_one_quoted_word_fills_lines_as_in_gnu_parallel() {
    // GNU parallel counts only the blank-separated word around `{}` as
    // repeated context, not the whole shell word `'echo {}'`.
    let plain = lines_of(20_000);
    let lengths = line_lengths(&["-k", "-X", "echo {}"], &plain);
    assert_eq!(lengths, [63_653, 22_619, 22_619]);
    for args in [
        &["-j1", "-k", "-X", "echo {}"][..],
        &["-k", "-m", "echo {}"],
        &["-k", "-X", "echo pre{}post"],
        &["-k", "-X", "echo {} {}"],
        &["-k", "-m", "echo pre{}post {}"],
        &["-k", "-s", "1000", "-X", "echo {}"],
        &["-k", "-j3", "-s", "1000", "-X", "echo a{}b {}"],
    ] {
        line_lengths(args, &plain);
    }
    let awkward: Vec<u8> = (1..=8_000)
        .flat_map(|i| format!("a b{i}\nit's {i}\nx\"y{i}\n").into_bytes())
        .collect();
    line_lengths(&["-k", "-X", "echo {}"], &awkward);
    line_lengths(&["-k", "-s", "2000", "-X", "echo {} {}"], &awkward);
    line_lengths(&["-k", "-m", "echo pre{}post"], &awkward);
}

#[test]
fn x_and_m_count_what_a_replacement_string_makes_of_each_value() {
    // GNU counts `{.}`, `{/}`, `{#}`... by their replacement, not by the
    // value they work on.
    let paths: Vec<u8> = (1..=20_000)
        .flat_map(|i| format!("dir/file{i}.txt\n").into_bytes())
        .collect();
    let lengths = line_lengths(&["-k", "-X", "echo {.}"], &paths);
    assert_eq!(lengths[0], 63_658);
    for args in [
        &["-k", "-X", "echo", "{/}"][..],
        &["-k", "-m", "echo", "{.}", "{}"],
        &["-k", "-X", "echo", "{//}"],
        &["-k", "-X", "echo", "{/.}", "{}"],
        &["-k", "-m", "echo {#} {}"],
        // The other templates' strings count too (`--tag` is `{}`).
        &["-k", "-X", "--tagstring", "{.}", "echo {}"],
        &["-k", "-m", "--tagstring", "{/}x{#}", "echo {}"],
        &["-k", "-X", "--tag", "echo {.}"],
        &["-k", "-X", "--tag", "echo {}"],
    ] {
        line_lengths(args, &paths);
    }
}

#[test]
fn crlf_input_is_warned_about_as_in_gnu_parallel() {
    let r = same_as_gnu(&["-k", "echo"], b"a\r\nb\r\nc\r\n");
    assert_eq!(
        r.stderr,
        "forkpool: Warning: The first three values end in CR-NL. Consider using -d \"\\r\\n\"\n"
    );
    let r = same_as_gnu(&["-k", "echo"], b"a\r\nb\nc\r\nd\r\n");
    assert_eq!(r.stderr, "");
}

#[test]
fn malformed_xargs_options_are_one_line_errors() {
    for (args, needle) in [
        (&["-s", "abc", "echo", ":::", "a"][..], "-s must be a number"),
        (&["-L", "x", "echo", ":::", "a"], "-L must be a number"),
        // Getopt::Long's own refusal (`l:f`), in GNU parallel's words.
        (
            &["--max-lines=x", "echo", ":::", "a"],
            "Value \"x\" invalid for option max-lines",
        ),
    ] {
        let r = run(args);
        assert_eq!((r.code, r.stdout.as_str()), (255, ""), "{args:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(needle), "{}", r.stderr);
    }
}

#[test]
fn x_and_m_share_out_colsep_rows_of_different_widths_as_gnu_parallel() {
    // Rows of 3, 2 and 1 columns: the rows go to jobs, and the columns
    // to `{1}`, `{}`, ..., as in GNU parallel (its first job is
    // `echo a-b-c` and `{}` there is `a b c d e`).
    for input in [
        &b"a b c\nd e\nf\n"[..],
        b"f\nd e\na b c\n",
        b"a b c\nd e\nf\ng h i j\nk\n",
    ] {
        for options in [
            &["-k", "-X"][..],
            &["-k", "-m"],
            &["-k", "-j1", "-X"],
            &["-k", "-j1", "-m"],
            &["-k", "-N2", "-X"],
            &["-k", "-N2", "-m"],
            &["-k", "-N1", "-X"],
            &["-k", "-m", "-n", "3"],
        ] {
            for command in [
                &["echo", "{1}-{2}-{3}"][..],
                &["echo", "{}", "/", "{2}", "/", "{#}"],
                &["echo"],
            ] {
                let mut args = vec!["--colsep", " "];
                args.extend_from_slice(options);
                args.extend_from_slice(command);
                same_as_gnu(&args, input);
            }
        }
    }
    // Unordered, the same lines.
    for options in [&["-X"][..], &["-m"], &["-N2", "-m"]] {
        let mut args = vec!["--colsep", " "];
        args.extend_from_slice(options);
        args.extend_from_slice(&["echo", "{1}-{2}-{3}"]);
        let ours = run_with(&args, b"a b c\nd e\nf\n");
        let theirs = super::gnu::gnu_with(&args, b"a b c\nd e\nf\n");
        assert_eq!((ours.sorted(), ours.code), (theirs.sorted(), theirs.code), "{args:?}");
    }
}

#[test]
fn a_record_of_several_values_is_measured_by_gnu_parallels_estimate() {
    // GNU's `CommandLine::len` counts a record's context words and blanks
    // once per value (`--colsep`, several sources), though the line has
    // them once: `a b c` in `echo {1}-{2}-{3}` is 16 there, not the 10 of
    // `echo a-b-c`. A job of one record is refused by that estimate, in
    // its words (the record's values); lines fill by it.
    let rows: String = (1..=60)
        .map(|i| format!("{i}{}", if i % 3 == 0 { "\n" } else { " " }))
        .collect();
    for options in [&["-X"][..], &["-m"], &[], &["-N2"]] {
        for command in [
            &["echo", "{1}-{2}-{3}"][..],
            &["echo", "x{1}y", "{3}"],
            &["echo", "{1}-{2}-{3}", "{}"],
            &["echo", "{-1}/{2}"],
        ] {
            for s in ["12", "15", "17", "20", "25", "40", "50", "60"] {
                let mut args = vec!["-j1", "-k", "--colsep", " ", "-s", s];
                args.extend_from_slice(options);
                args.extend_from_slice(command);
                same_as_gnu_with_messages(&args, rows.as_bytes());
            }
        }
    }
    for s in ["8", "15", "16"] {
        same_as_gnu_with_messages(&["-s", s, "echo", "{1}{2}", ":::", "aaaa", ":::", "bbbb"], b"");
    }
    same_as_gnu_with_messages(&["-s", "12", "echo", "{}", ":::", "aaaa", ":::", "bbbb"], b"");
    same_as_gnu_with_messages(&["-s", "13", "-q", "echo", "{1}{2}", ":::", "a", ":::", "b"], b"");
    // Perl's values count as perl computes them.
    for s in ["13", "14"] {
        same_as_gnu_with_messages(&["-s", s, "echo", "{= s/a/xx/g =}", ":::", "aaaa"], b"");
    }
}

#[test]
fn colsep_rows_of_different_widths_count_as_wide_as_a_lines_first() {
    // GNU's `CommandLine::len` counts the blanks (and -X's context) of
    // every record of a line as if it had as many values as the line's
    // first (`number_of_recargs`): `a b` then `c d e f` is 13, not 16.
    for input in [
        &b"a b c\nd e\nf g h i\n"[..],
        b"a b\nc d e f\ng\nh i j\n",
        b"a\nb c d e f g\nh\ni j k\n",
        b"x\ny z\nw v u\nt\ns r\n",
    ] {
        for command in [&["echo"][..], &["echo", "x{}y"], &["echo", "{2}", "{1}"]] {
            for multi in ["-X", "-m"] {
                for s in ["11", "14", "16", "18", "21", "24", "30", "40"] {
                    // -j1: what runs before a record too long for a line
                    // of its own depends on timing in GNU with more slots.
                    let mut args = vec!["-j1", "-k", multi, "--colsep", " ", "-s", s];
                    args.extend_from_slice(command);
                    same_as_gnu_with_messages(&args, input);
                }
            }
        }
    }
}

#[test]
fn every_job_before_a_record_too_long_for_a_line_runs_and_prints_with_any_j() {
    // GNU parallel kills the jobs running when it meets the record
    // without printing them, so with -j more than 1 what it prints
    // depends on timing (README: "Where it differs"); forkpool lets them
    // finish and prints them, as GNU does with -j1.
    let mut input: Vec<u8> = (1..=9).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    input.extend_from_slice(b"xxxxxxxxxxxxxxxx\n");
    input.extend((11..=20).flat_map(|i| format!("{i}\n").into_bytes()));
    for j in ["-j1", "-j2", "-j4"] {
        for keep in [&[][..], &["-k"]] {
            let mut args = vec![j, "-s", "15", "-X"];
            args.extend_from_slice(keep);
            args.push("echo");
            let r = run_with(&args, &input);
            assert_eq!(r.sorted(), ["1 2 3 4 5", "6 7 8 9"], "{args:?}");
            assert_eq!(r.code, 255, "{args:?}");
            assert_eq!(
                r.stderr, "forkpool: Error: Command line too long (21 >= 15) at input 0: xxxxxxxxxxxxxxxx\n",
                "{args:?}"
            );
        }
    }
    // With one slot, GNU prints the same.
    same_as_gnu_with_messages(&["-j1", "-k", "-s", "15", "-X", "echo"], &input);
}

#[test]
fn parallel_env_counts_against_the_line_x_and_m_fill_as_in_gnu_parallel() {
    // GNU parallel puts `$PARALLEL_ENV`'s code in front of the command, so
    // its length is part of every line: -X, -m and --xargs fit fewer
    // values into one, and too long a line is the same error.
    let values = ["aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh", "ii", "jj", "kk"];
    for code in ["x=1", "abcdefghij=1", "a=1\u{1}b=2", "abcdefghijklmnopqrstuvw=1"] {
        for options in [
            &["-k", "-X", "-s", "30"][..],
            &["-k", "-j1", "-m", "-s", "30"],
            &["-k", "--xargs", "-s", "30"],
            &["-k", "-j1", "-X", "-s", "30", "-N3"],
            &["-k", "-j1", "-m", "-s", "20"],
        ] {
            let args = [options, &["echo", "x{}y", ":::"], &values[..]].concat();
            let ours = output_of(command(&args).env("PARALLEL_ENV", code));
            let theirs = output_of(
                Command::new("parallel")
                    .arg("--will-cite")
                    .args(&args)
                    .env("PARALLEL_ENV", code)
                    .env("PARALLEL_SHELL", "/bin/bash")
                    .env("SHELL", "/bin/bash"),
            );
            assert_eq!(
                (&ours.stdout, ours.stderr.replace("forkpool:", "parallel:"), ours.code),
                (&theirs.stdout, theirs.stderr.clone(), theirs.code),
                "PARALLEL_ENV={code:?} {options:?}"
            );
        }
    }
}

#[test]
fn counts_are_the_numbers_gnu_parallel_makes_of_them() {
    // -L, -n and -N take any word (`=s`), -l a number by Getopt::Long's
    // pattern (`:f`, whose decimal point is any byte: `0x10` is one); GNU
    // then evaluates each as Perl, its units written out as products
    // (`1e1` is 1*1000^6*10001). A job takes values until it has the
    // count or more: a fraction rounds up, a negative count is one.
    let values = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
    for value in [
        "1.5", "0.5", "2.5", "-1", "-2.5", "1_0", "2k", "010", "0x10", "1e1", "0b11", "-0",
    ] {
        for option in ["-L", "-l", "-N", "-n"] {
            let args = [&["-k", option, value, "echo", ":::"][..], &values].concat();
            same_as_gnu_with_messages(&args, b"");
        }
    }
    for args in [
        &["-l0.5"][..],
        &["-l1_0"],
        &["-l0x10"],
        &["-kl-1"],
        &["--max-lines", "-1"],
        &["--max-lines=-2.5"],
        &["--max-lines=1_0"],
        &["--max-replace-args", "1.5"],
        &["-L2k"],
        &["-N-1"],
        // An -n of 0 is none, to GNU's `||=`: -L's count is used.
        &["-n", "0", "-L", "3"],
        &["-N", "0", "-L", "3"],
    ] {
        let args = [&["-k"][..], args, &["echo", ":::"], &values].concat();
        same_as_gnu_with_messages(&args, b"");
    }
    // Lines read from stdin, a trailing blank continuing one.
    same_as_gnu_with_messages(&["-k", "-L", "1.5", "echo"], b"a \nb\nc\nd\ne\n");
}
