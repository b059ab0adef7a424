//! Options of `man parallel` compared one by one with the installed GNU
//! parallel: their messages, edge values and combinations.

use super::gnu::{getopt_refuses_as_gnu, same_as_gnu_with_messages};
use super::*;

#[test]
fn an_input_file_that_cannot_be_opened_is_reported_in_gnu_parallels_words() {
    let dir = Dir::new();
    let missing = dir.s("missing");
    let abc = dir.file("abc", "a\nb\n");
    for args in [
        vec!["-a", &missing, "echo"],
        vec!["echo", "::::", &missing],
        vec!["-k", "echo", "::::", &abc, &missing],
        vec!["--pipe", "-a", &missing, "wc", "-l"],
    ] {
        same_as_gnu_with_messages(&args, b"");
    }
}

#[test]
fn a_joblog_that_cannot_be_written_is_reported_in_gnu_parallels_words() {
    let dir = Dir::new();
    let nowhere = dir.s("no/such/dir/log");
    let plus = format!("+{nowhere}");
    for args in [
        vec!["--joblog", &nowhere, "echo", ":::", "a"],
        vec!["--joblog", &plus, "echo", ":::", "a"],
        vec!["--resume", "--joblog", &nowhere, "echo", ":::", "a"],
    ] {
        same_as_gnu_with_messages(&args, b"");
    }
    // A directory where the log should be.
    let here = dir.s("");
    same_as_gnu_with_messages(&["--joblog", &here, "echo", ":::", "a"], b"");
}

#[test]
fn timeouts_are_checked_with_gnu_parallels_rule_and_words() {
    for timeout in ["x", "-1", ".5", "1ms", "", "0%", "1S", "1m30s", "0.5"] {
        same_as_gnu_with_messages(&["-k", "--timeout", timeout, "echo", ":::", "1"], b"");
    }
}

#[test]
fn a_bad_trim_is_refused_in_gnu_parallels_words() {
    for trim in ["x", ""] {
        same_as_gnu_with_messages(&["--trim", trim, "echo", ":::", " a "], b"");
    }
}

#[test]
fn an_empty_or_zero_tagstring_tags_nothing_as_in_gnu_parallel() {
    // Perl's `$opt::tagstring ||= $opt::ctagstring`: "" and "0" are false.
    for args in [
        &["-k", "--tagstring", "", "echo", ":::", "a", "b"][..],
        &["-k", "--tagstring", "0", "echo", ":::", "a", "b"],
        &["-k", "--tag", "--tagstring", "", "echo", ":::", "a", "b"],
        &["-k", "--tag", "--tagstring", "0", "echo", ":::", "a", "b"],
        &["-k", "--tagstring", "00", "echo", ":::", "a", "b"],
    ] {
        same_as_gnu_with_messages(args, b"");
    }
}

#[test]
fn a_negative_position_past_the_first_argument_counts_again_from_the_end() {
    // Perl's `$args[$n + $p]`: {-3} of two arguments is index -1, the last.
    same_as_gnu_with_messages(&["-k", "echo", "{-3}", "{-4}", "{-5}", ":::", "a", ":::", "b"], b"");
    same_as_gnu_with_messages(
        &[
            "-k", "--colsep", ",", "echo", "{-4}", "{-4.}", "{-6/}", "{-7}", ":::", "a,b.x,c",
        ],
        b"",
    );
    same_as_gnu_with_messages(&["-k", "-N2", "echo", "{-3}", ":::", "a", "b", "c", "d"], b"");
}

#[test]
fn a_halt_threshold_of_zero_halts_at_the_first_job_it_counts_and_exits_0() {
    for halt in ["now,fail=0", "soon,fail=0%", "now,success=0", "now,done=0"] {
        same_as_gnu_with_messages(&["-j1", "--halt", halt, "echo {}; exit {}", ":::", "0", "1", "2"], b"");
    }
}

/// A `--results -.tsv` table without its times (Starttime, JobRuntime).
fn timeless_tsv(table: &str) -> String {
    table
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() > 4 {
                fields[4..].join("\t")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_pipe_jobs_table_row_has_no_input_values_past_the_arguments() {
    for args in [
        &["-k", "--results", "-.tsv", "--pipe", "-N2", "cat"][..],
        &["-k", "--results", "-.tsv", "--pipe", "-N2", "cat", ":::", "a", "b"],
        &["-k", "--results", "-.tsv", "echo", ":::", "a", "b"],
    ] {
        let ours = run_with(args, b"1\n2\n3\n4\n");
        let theirs = super::gnu::gnu_with(args, b"1\n2\n3\n4\n");
        assert_eq!(
            (timeless_tsv(&ours.stdout), ours.code),
            (timeless_tsv(&theirs.stdout), theirs.code),
            "{args:?}"
        );
    }
    let json = run_with(&["-k", "--results", "-.json", "--pipe", "-N2", "cat"], b"1\n2\n");
    assert!(json.stdout.contains("\"V\": [  ]"), "{}", json.stdout);
}

#[test]
fn resuming_into_a_results_table_warns_only_for_resume_in_gnu_parallels_words() {
    let dir = Dir::new();
    let table = dir.s("r.csv");
    for resume in ["--resume", "--resume-failed"] {
        same_as_gnu_with_messages(&["-k", "--results", &table, resume, "echo", ":::", "a"], b"");
    }
}

#[test]
fn a_colsep_that_matches_nothing_splits_as_perl_splits() {
    for (colsep, value) in [("|", "a|b"), ("", "ab"), (",?", "a,b"), ("x*", "axb"), (",", ",a,,b,")] {
        same_as_gnu_with_messages(
            &[
                "-k", "--colsep", colsep, "echo", "{1}", "{2}", "{3}", "{4}", ":::", value,
            ],
            b"",
        );
    }
}

#[test]
fn a_nice_that_is_not_a_number_gets_getopts_words_and_255() {
    // GNU parallel prints Getopt::Long's line (and its usage on standard
    // output); forkpool prints the same line, as for every option
    // Getopt::Long refuses.
    for nice in ["x", "1.5", ""] {
        let args = ["--nice", nice, "echo", ":::", "a"];
        let ours = run_with(&args, b"");
        let theirs = super::gnu::gnu_with(&args, b"");
        assert_eq!((ours.code, theirs.code), (255, 255), "{nice:?}");
        let gnu_line = theirs.stderr.lines().next().unwrap_or_default();
        assert_eq!(ours.stderr, format!("{gnu_line}\n"), "{nice:?}");
    }
    same_as_gnu_with_messages(&["--nice", "100", "echo", ":::", "a"], b"");
}

#[test]
fn load_takes_the_syntax_of_jobs_and_gnu_parallels_words_for_a_bad_one() {
    // +N, -N, N%, a number, a file holding one: all run the job. GNU
    // parallel, while more processes run than the limit (on a busy 2-CPU
    // machine, -1 and 50% are 1), waits to start it, as its manual says
    // (for good, if the machine stays busy; forkpool holds jobs back only
    // while one runs: README). A bad value it refuses at once; so one it
    // is still waiting on after a while, it took.
    let dir = Dir::new();
    let file = dir.file("load", "3\n");
    for load in ["+2", "-1", "-100", "50%", "1.5", "0", &file] {
        let args = ["-k", "--load", load, "echo", ":::", "a"];
        let ours = run_with(&args, b"");
        assert_eq!(
            (ours.stdout.as_str(), ours.stderr.as_str(), ours.code),
            ("a\n", "", 0),
            "{load}"
        );
        if let Some(theirs) = super::gnu::gnu_within(Duration::from_secs(10), &args, b"") {
            assert_eq!((ours.stdout, ours.code), (theirs.stdout, theirs.code), "{load}");
        }
    }
    // GNU parallel prints its usage on standard output after the line.
    for load in ["x", "5.5%", ".5"] {
        let args = ["--load", load, "echo", ":::", "a"];
        let ours = run_with(&args, b"");
        let theirs = super::gnu::gnu_with(&args, b"");
        assert_eq!(
            (ours.stderr.replace("forkpool:", "parallel:"), ours.code),
            (theirs.stderr, theirs.code),
            "{load}"
        );
    }
}

#[test]
fn an_empty_or_zero_results_is_no_results_as_in_gnu_parallel() {
    // `--results "$DIR"` with DIR unset: GNU prints the output; it does
    // not write result files into the current directory.
    writes_nothing_with(&["--results"], &["", "0"]);
}

/// `OPTION VALUE` for each value is as if not given, as GNU parallel's
/// Perl truth test reads it: the jobs' output is printed, no file is
/// written into the current directory, and GNU parallel agrees.
fn writes_nothing_with(option: &[&str], values: &[&str]) {
    for value in values {
        let mut args = vec!["-k"];
        args.extend_from_slice(option);
        args.extend_from_slice(&[value, "echo", ":::", "a", "b"]);
        let dir = Dir::new();
        let out = command(&args).current_dir(dir.path("")).output().unwrap();
        assert_eq!(
            (out.stdout.as_slice(), out.status.code()),
            (&b"a\nb\n"[..], Some(0)),
            "{args:?}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path("")).unwrap().collect();
        assert!(left.is_empty(), "{args:?}: {left:?}");
        same_as_gnu_with_messages(&args, b"");
    }
}

#[test]
fn an_empty_or_zero_joblog_is_no_joblog_as_in_gnu_parallel() {
    // `--joblog "$LOG"` with LOG unset. GNU takes `+` off first, then
    // tests the path for Perl truth; `--resume` tests it before.
    writes_nothing_with(&["--joblog"], &["", "0", "+", "+0"]);
    same_as_gnu_with_messages(&["--resume", "--joblog", "", "echo", ":::", "a"], b"");
    same_as_gnu_with_messages(&["-k", "--resume", "--joblog", "+", "echo", ":::", "a"], b"");
}

#[test]
fn an_empty_n_or_n_upper_is_no_count_as_in_gnu_parallel() {
    // Perl's `eval ''` is undef: no -n at all (-N and -L still repeat the
    // word around {}); -s and -L too.
    let five = ["echo", ":::", "a", "b", "c", "d", "e"];
    for options in [
        &["-k", "-n", ""][..],
        &["-k", "-n", "", "-X"],
        &["-k", "-j1", "-n", " ", "-m"],
        &["-k", "-n", "", "--xargs"],
        &["-k", "--max-args", "", "-X"],
        &["-k", "-N", ""],
        &["-k", "-N", "", "-X"],
        &["-k", "-j1", "-N", "", "-m"],
        &["-k", "-s", ""],
        &["-k", "-j1", "-s", " ", "--xargs"],
        &["-k", "-L", ""],
        &["-k", "-j1", "-L", "", "-X"],
    ] {
        let args: Vec<&str> = options.iter().chain(&five).copied().collect();
        same_as_gnu_with_messages(&args, b"");
    }
    let r = same_as_gnu_with_messages(&["-k", "-j1", "-N", "", "-m", "echo", "{}x", ":::", "a", "b"], b"");
    assert_eq!(r.stdout, "ax bx\n");
}

#[test]
fn an_empty_or_zero_replace_is_the_default_as_in_gnu_parallel() {
    // `-i`/`--replace` (and `--I`, which Getopt::Long reads as `--i`)
    // with a false value keep {}; `-I ''` is refused (GNU hangs).
    for options in [
        &["--replace="][..],
        &["--I="],
        &["--I", ""],
        &["-i", ""],
        &["-i", "0"],
        &["--replace", "0"],
    ] {
        let args: Vec<&str> = options
            .iter()
            .chain(&["-k", "echo", "x{}y", ":::", "a", "b"])
            .copied()
            .collect();
        let r = same_as_gnu_with_messages(&args, b"");
        assert_eq!(r.stdout, "xay\nxby\n", "{options:?}");
    }
    let r = run(&["-I", "", "echo", "x{}y", ":::", "a"]);
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("forkpool: Error: -I needs a replacement string\n", 255)
    );
}

#[test]
fn getopts_errors_are_gnu_parallels_lines_without_a_prefix() {
    // Perl's warnings from Getopt::Long: no program name, no `Error: `;
    // a short option is named by its letter. (GNU prints its usage on
    // standard output after them: a documented difference.)
    for args in [
        &["--foo", "echo"][..],
        &["--foo=3", "echo"],
        &["-k", "-y", "echo"],
        &["---x", "echo"],
        &["-j"],
        &["-kj"],
        &["--J"],
        &["-S"],
        &["-n"],
        &["--jobs"],
        &["--Jobs"],
        &["--max-ar"],
        &["--maxargs"],
        &["--jobs="],
        &["--tag=3", "echo"],
        &["--re", "echo"],
        &["--nice", "x", "echo"],
        &["--nice", "1.5", "echo"],
        &["--minversion", "x"],
        // Getopt::Long's types: GNU's `nice=i`, `min-version=i`, `ssh-delay=f`.
        &["--nice", "-x", "echo"],
        &["--nice=x", "echo"],
        &["--min-version=1.5"],
        &["--ssh-delay", "1s", "echo"],
        &["--sshdelay", "-x", "echo"],
        &["--ssh-delay=.", "echo"],
    ] {
        let ours = run(args);
        let theirs = super::gnu::gnu_with(args, b"");
        let gnu_line = theirs.stderr.lines().next().unwrap_or_default();
        assert_eq!(
            (ours.stderr.as_str(), ours.code),
            (format!("{gnu_line}\n").as_str(), theirs.code),
            "{args:?}"
        );
        assert_eq!(ours.code, 255, "{args:?}");
    }
    // And what those types let through.
    for args in [
        &["--nice", "1_0", "echo", ":::", "a"][..],
        &["--ssh-delay", "1e-3", "echo", ":::", "a"],
        &["--sshdelay=.01", "echo", ":::", "a"],
    ] {
        same_as_gnu_with_messages(args, b"");
    }
}

#[test]
fn a_typed_value_with_a_newline_is_refused_whole_in_getopts_words() {
    // The message is Getopt::Long's, newline and all, alone as Perl warns
    // it (once, forkpool said `forkpool: Error: ` and the first line).
    for args in [
        &["--nice", "1\n2", "echo", ":::", "a"][..],
        &["--ssh-delay", "1\nx", "echo", ":::", "a"],
    ] {
        getopt_refuses_as_gnu(args);
    }
}

#[test]
fn an_empty_or_zero_value_of_an_option_gnu_tests_for_truth_is_not_given() {
    // `--workdir "$WD"` with WD unset: GNU parallel tests these options'
    // values for Perl truth before using them, so `''` and `0` are the
    // option not given (forkpool refused each as malformed).
    for option in [
        "--termseq",
        "--limit",
        "--workdir",
        "--compress-program",
        "--decompress-program",
        "--arg-file-sep",
    ] {
        writes_nothing_with(&[option], &["", "0"]);
    }
    // For these `0` is a number; empty, they are not given.
    for option in ["--retries", "--load", "--memfree", "--memsuspend"] {
        writes_nothing_with(&[option], &[""]);
    }
}

#[test]
fn a_block_timeout_under_a_second_is_refused_with_or_without_pipe() {
    // GNU parallel reads anything that is not a duration as 0 seconds,
    // and checks the option even when there is no --pipe.
    for value in ["", "x", "1x", "0.5"] {
        same_as_gnu_with_messages(&["--pipe", "--block-timeout", value, "cat"], b"a\n");
        same_as_gnu_with_messages(&["--block-timeout", value, "echo", ":::", "a"], b"");
    }
    same_as_gnu_with_messages(&["--pipe", "--block-timeout", "2s", "cat"], b"a\n");
}

#[test]
fn the_retired_h_takes_a_number_and_getopt_warns_of_each_bad_option() {
    // GNU's `H=i`: a value that is not a number is Getopt::Long's line,
    // not the list of retired options; one that is, is that list.
    for args in [
        &["-H", "x", "echo", ":::", "a"][..],
        &["-H", "1.5", "echo", ":::", "a"],
        &["-H", "echo", ":::", "a"],
        &["-Hx", "echo", ":::", "a"],
        &["-kHx", "echo", ":::", "a"],
        // Getopt::Long warns of every bad option, in order, then GNU stops.
        &["--nice", "x", "-H", "y", "echo", ":::", "a"],
        &["-H", "x", "--nice", "y", "echo", ":::", "a"],
        &["--nice", "x", "--nice", "y", "echo", ":::", "a"],
        &["--nice", "x", "-j"],
        &["-H", "x", "-H"],
    ] {
        getopt_refuses_as_gnu(args);
    }
    for args in [
        &["-H", "1", "echo", ":::", "a"][..],
        &["-H-1", "echo", ":::", "a"],
        &["-H", "1_0", "echo"],
    ] {
        let r = same_as_gnu_with_messages(args, b"");
        assert!(
            r.stderr.contains("-H has been retired. Use --halt."),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_bundled_number_ends_where_its_digits_do_and_the_rest_are_options() {
    // Getopt::Long (`bundling`) reads `-H3x` as `-H 3 -x`: the number is
    // the leading digits, the rest more letters (or `--`, a long option).
    for option in ["-H3x", "-H-3x", "-kH3k", "-H3H4", "-H3-x", "-H3-"] {
        let args = [option, "echo", ":::", "a"];
        let r = same_as_gnu_with_messages(&args, b"");
        assert!(r.stderr.contains("-H has been retired."), "{args:?}: {}", r.stderr);
    }
    // A letter after the number that names nothing; no number at all,
    // whose letters are read as options all the same.
    for option in ["-H3Q", "-H33Z", "-Hk3", "-H3Q3", "-H-Q", "-H3H", "-l2.k"] {
        getopt_refuses_as_gnu(&[option, "echo", ":::", "a"]);
    }
    // A `_` in the number: the same, without the warnings Perl prints
    // from inside Getopt::Long (README: "Where it differs").
    let r = run(&["-H3_x", "echo", ":::", "a"]);
    let theirs = super::gnu::gnu_with(&["-H3_x", "echo", ":::", "a"], b"");
    assert!(theirs.stderr.contains("isn't numeric"), "{}", theirs.stderr);
    let theirs: String = theirs
        .stderr
        .lines()
        .filter(|l| !l.contains("isn't numeric"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!((r.stderr.replace("forkpool:", "parallel:"), r.code), (theirs, 255));
    // `-l` (`l:f`) alike, its number optional: `-lk` is `-l -k`.
    for l in ["-l2k", "-lk", "-l1e1k", "-l2e", "-kl2x", "-l+2-k"] {
        same_as_gnu_with_messages(&["-k", l, "echo"], b"1\n2\n3\n4\n5\n");
    }
}

#[test]
fn getopt_says_the_bytes_of_a_word_that_is_not_utf8_one_by_one() {
    // Perl reads an option word as bytes: a byte that is not ASCII is a
    // letter of its own, and each is said back as it is.
    use std::os::unix::ffi::OsStringExt;
    let stderr_and_status = |program: &str, args: &[Vec<u8>]| {
        let mut cmd = Command::new(program);
        if program == "parallel" {
            cmd.arg("--will-cite");
        }
        let out = cmd
            .args(args.iter().map(|a| std::ffi::OsString::from_vec(a.clone())))
            .args(["echo", ":::", "a"])
            .env("PARALLEL_SHELL", "/bin/bash")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (out.stderr, out.status.code())
    };
    for word in [
        &b"-\xff"[..],
        b"-\xc3\xa9",
        b"-k\xc3\xa9",
        b"-\xc3\xa9k",
        b"-H\xc3\xa9",
        b"-H3\xc3\xa9",
        b"--\xff",
        b"--nice=\xff",
    ] {
        let args = [word.to_vec()];
        let ours = stderr_and_status(env!("CARGO_BIN_EXE_forkpool"), &args);
        assert_eq!(ours, stderr_and_status("parallel", &args), "{word:?}");
        assert_eq!(ours.1, Some(255), "{word:?}");
    }
}

#[test]
fn linkinputsource_takes_numbers_that_come_before_the_separators_own() {
    // GNU's inner option behind `:::+` (`linkinputsource|xapplyinputsource=i`):
    // the numbers given come first in its list of links, one a source.
    let sources = [":::", "x", "y", ":::", "1", "2", ":::+", "3", "4"];
    for given in [
        &["--linkinputsource", "1"][..],
        &["--xapplyinputsource", "0"],
        &["--linkinputsource", "0", "--linkinputsource", "1"],
        &["--linkinputsource", "0", "--linkinputsource", "00"],
        &["--linkinputsource=0", "--linkinputsource=1_0"],
        &["--linkinput", "1", "--linkinput", "-1"],
        &["--linkinputsource", "0", "--link"],
        &[
            "--linkinputsource",
            "0",
            "--linkinputsource",
            "1",
            "--linkinputsource",
            "0",
            "--linkinputsource",
            "1",
        ],
    ] {
        let mut args = vec!["-k"];
        args.extend_from_slice(given);
        args.push("echo");
        args.extend_from_slice(&sources);
        same_as_gnu_with_messages(&args, b"");
    }
    let d = Dir::new();
    let file = d.file("f", "f1\nf2\n");
    let r = same_as_gnu_with_messages(
        &[
            "-k",
            "-a",
            &file,
            "--linkinputsource",
            "0",
            "--linkinputsource",
            "1",
            "echo",
            ":::",
            "x",
            "y",
        ],
        b"",
    );
    assert_eq!(r.stdout, "f1 x\nf2 y\n");
    // Not a number: Getopt::Long's line, named as typed or abbreviated.
    for args in [
        &["--linkinputsource", "x", "echo", ":::", "a"][..],
        &["--linkinputsource", "echo", ":::", "a"],
        &["--xapplyi", "1.5", "echo", ":::", "a"],
        &["--Linki", "x", "echo", ":::", "a"],
        &["--ssh-d", "x", "echo", ":::", "a"],
        &["--min-v", "x"],
        &["--linkinputsource"],
    ] {
        getopt_refuses_as_gnu(args);
    }
}

#[test]
fn a_nice_beyond_any_niceness_is_what_perls_setpriority_makes_of_it() {
    // GNU's `setpriority(0,0,$opt::nice)`: Perl's integer of the value,
    // its low 32 bits as C's int, clamped by the kernel; 0 (`00`, `-0`)
    // leaves the niceness as it is. Not an integer: Getopt::Long's line.
    for nice in [
        "99999999999999999999",
        "-99999999999999999999",
        "9223372036854775808",
        "4294967306",
        "2147483648",
        "-2147483649",
        "100",
        "00",
        "-0",
    ] {
        same_as_gnu_with_messages(&["--nice", nice, "ps -o ni= -p $$", ":::", "a"], b"");
    }
    for nice in ["2.5", "1e3", "0x10"] {
        getopt_refuses_as_gnu(&["--nice", nice, "echo", ":::", "a"]);
    }
}

#[test]
fn getopt_warns_of_every_bad_option_in_order_unknown_ones_too() {
    // Getopt::Long warns of each bad option of any kind in the order of
    // the words, then GNU parallel stops: an unknown option beside a bad
    // value, an ambiguous or `=`-valued one, or one missing its value.
    for args in [
        &["--foo", "--nice", "x", "echo", ":::", "a"][..],
        &["--nice", "x", "--foo", "echo", ":::", "a"],
        &["--foo", "--re", "x", "echo", ":::", "a"],
        &["--re", "x", "--foo", "echo", ":::", "a"],
        &["--JO", "--foo", "echo"],
        &["--foo", "--jobs"],
        &["--foo", "-j"],
        &["--foo", "--J"],
        &["-j", "x", "--foo", "echo", ":::", "a"],
        &["--tag=3", "--foo", "echo"],
        &["--foo", "--tag=", "echo"],
        &["--foo", "--jobs=", "echo"],
        &["--foo", "--nice=x", "echo"],
        &["--ssh-d", "x", "--FOO=1", "--Jobs"],
        &["---foo", "--linkinputsource", "x", "echo"],
        // A letter that names nothing, in a bundle or alone: the letters
        // after it are read on.
        &["--foo", "-Q", "echo", ":::", "a"],
        &["-QZ", "echo", ":::", "a"],
        &["-Q3", "echo"],
        &["-kQj", "3", "--foo", "echo", ":::", "a"],
        &["-Z", "--nice", "x"],
        // `--help` and `--version` are options too, to abbreviate and
        // to be ambiguous with.
        &["--he", "echo"],
        &["--ver", "echo"],
        &["--version", "--foo"],
        &["--vers", "--foo"],
        // The options end at the first word that is none.
        &["--foo", "-", "--baz", "echo"],
        &["--foo", "--", "--baz", "echo"],
    ] {
        getopt_refuses_as_gnu(args);
    }
}

#[test]
fn bug_session_and_debug_are_taken_as_gnu_parallel_takes_them() {
    // `--bug` prints GNU's bug-report text and exits 255, after the options
    // are read and before anything they ask for.
    for args in [
        &["--bug"][..],
        &["--bug", "-k", "echo", ":::", "a"],
        &["--bu", "--number-of-cpus"],
        // Whatever the order, `--bug` wins over `--version` and `--help`.
        &["--bug", "--version"],
        &["--version", "--bug"],
        &["--help", "--bug"],
        &["--bug", "-kh"],
        &["-V", "--bug"],
    ] {
        let ours = same_as_gnu_with_messages(args, b"");
        assert_eq!(ours.code, 255);
    }
    // And `--help` over `--version` (the help is forkpool's own: README).
    let help = run(&["--help"]);
    for args in [&["--version", "--help"][..], &["-V", "--help"]] {
        let r = run(args);
        assert_eq!((&r.stdout, r.code), (&help.stdout, 0), "{args:?}");
    }
    // `--session` is env_parallel's; GNU parallel takes it and runs as usual.
    same_as_gnu_with_messages(&["--session", "-k", "echo", ":::", "a", "b"], b"");
    same_as_gnu_with_messages(&["-k", "--sess", "echo", ":::", "a"], b"");
    getopt_refuses_as_gnu(&["--session=1", "echo"]);
    // `-D WHAT` (`--debug`): the jobs run as usual. GNU's debug output on
    // stderr shows its own internals; forkpool prints none (README). (GNU
    // keeps its output files under -D: a --tmpdir of the test's own takes
    // them.)
    let tmp = Dir::new();
    let tmp = tmp.s("");
    for args in [
        &["-D", "all", "-k", "echo", ":::", "a", "b"][..],
        &["-Dinit", "-k", "echo", ":::", "a"],
        &["--debug", "run", "-k", "echo", ":::", "a"],
        &["--deb=all", "-k", "echo", ":::", "a"],
    ] {
        let args = [&["--tmpdir", tmp.as_str()][..], args].concat();
        let ours = super::gnu::same_as_gnu(&args, b"");
        assert_eq!(ours.stderr, "", "{args:?}");
    }
    getopt_refuses_as_gnu(&["-k", "-D"]);
    getopt_refuses_as_gnu(&["--debug"]);
    // Options of their own in GNU's table: abbreviations list them.
    getopt_refuses_as_gnu(&["--de", "x", "echo"]);
    getopt_refuses_as_gnu(&["--se", "echo"]);
}

#[test]
fn long_options_are_abbreviated_by_gnu_parallels_own_option_table() {
    // A sample of the prefixes of GNU parallel 20221122's long names. Names
    // forkpool has and GNU lacks (--files0, --no-controlmaster, --slurm,
    // --bibtex, --opentty) are taken only in full: no abbreviation GNU
    // reads as one option is ambiguous here, and no ambiguity lists them.
    // `--zzbar` is refused too when `--zzfoo` is an option's value.
    for prefix in [
        "f", "fi", "fil", "file", "n", "no", "no-", "no-c", "no-ct", "sh", "she", "sheb", "sheba", "sheban", "b", "bi",
        "c", "co", "con", "s", "sl", "slo", "o", "op", "opent", "de", "deb", "se", "ses",
    ] {
        getopt_refuses_as_gnu(&[&format!("--{prefix}"), "--zzfoo", "--zzbar"]);
    }
    // --shebang-wrap is only read as the first argument, before the
    // options are: anywhere else it is no option, in GNU parallel too.
    getopt_refuses_as_gnu(&["-k", "--shebang-wrap", "--zzfoo"]);
    getopt_refuses_as_gnu(&["-k", "--shebangwrap", "echo"]);
}

#[test]
fn an_abbreviation_of_several_names_of_one_option_is_named_by_gnus_first_name() {
    // Getopt::Long names the option by the first name of its spec
    // (`min-version|minversion`), whichever names the abbreviation starts.
    for args in [
        &["--mi", "x"][..],
        &["--mi=x"],
        &["--hostg=1"],
        &["--wor="],
        &["--term="],
        &["--transferf="],
        &["--record=1"],
        &["--out=1"],
        &["--rem=1"],
        &["--dec="],
        &["--hal="],
        &["--ctr=1"],
        &["--no-ctrl=1"],
        &["--decompress="],
    ] {
        getopt_refuses_as_gnu(args);
    }
}

#[test]
fn gnu_parallels_inner_options_are_taken_as_there() {
    // `--_pipe-means-argfiles` (behind GNU's `--shebang-wrap`): with
    // `--pipe`, the `:::` values are files to read, as after `::::`.
    let dir = Dir::new();
    let file = dir.file("in", "1\n2\n3\n");
    for args in [
        &["--_pipe-means-argfiles", "--pipe", "-k", "cat; echo {}", ":::", &file][..],
        &["--pipe", "-k", "cat; echo {}", ":::", &file],
        &["--_pipe-means-argfiles", "-k", "echo", ":::", &file],
        // `--_test`, which nothing reads in GNU parallel.
        &["--_test", "3", "-k", "echo", ":::", "a"],
    ] {
        same_as_gnu_with_messages(args, b"a\nb\n");
    }
    for prefix in ["_", "_p", "_pi", "_t"] {
        getopt_refuses_as_gnu(&[&format!("--{prefix}"), "--zzfoo", "--zzbar"]);
    }
}

#[test]
fn file_transfers_without_a_remote_host_are_warned_about_as_in_gnu_parallel() {
    // GNU names the first of --trc, --transfer, --transferfile, --return,
    // --cleanup (without --template) and --basefile given; `-S :` is here.
    let dir = Dir::new();
    let template = format!("/dev/null={}", dir.s("t"));
    for options in [
        &["--transfer"][..],
        &["--trc", "x"],
        &["--tf", "x"],
        &["--return", "x"],
        &["--bf", "x"],
        &["--transfer", "--return", "x"],
        &["--return", "x", "--bf", "y"],
        &["--cleanup", "--bf", "y"],
        &["--tmpl", &template, "--cleanup", "--bf", "y"],
        &["-S", ":", "--tf", "x"],
    ] {
        let mut args = options.to_vec();
        args.extend(["-k", "echo", ":::", "a"]);
        same_as_gnu_with_messages(&args, b"");
    }
}
