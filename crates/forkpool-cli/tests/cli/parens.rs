//! `--parens`: the parentheses of a perl expression, split as GNU
//! parallel splits them, and messages that quote an expression as typed.

use super::gnu::{gnu_with, same_as_gnu_with_messages};
use super::*;

#[test]
fn a_bad_expression_is_quoted_in_the_parentheses_typed() {
    // GNU parallel names the code between the parentheses ("Cannot use
    // = s/a/ =: ..."); forkpool quotes the user's text around it, as
    // typed, not in `{= =}` it was never typed in.
    for (parens, typed) in [
        ("[[]]", "[[= s/a/ =]]"),
        ("[[]]", "[[= die =]]"),
        ("[[]]", "[[=1 die =]]"),
        ("[[]]", "[[  s/a/  ]]"),
        ("<>", "<= s/a/ =>"),
        ("{==}", "{=s/a/=}"),
    ] {
        refused_as_in_gnu(&["--parens", parens, "echo", typed, ":::", "a"], typed);
    }
    // One that dies on a job (GNU dies with perl's own line).
    dies_on_the_second_job(
        &["--parens", "[[]]"],
        "[[$_ eq 'b' and die qq(no\\n)]]",
        "[[$_ eq 'b' and die qq(no\\n)]]",
    );
}

/// Both refuse `args` before any job: GNU with "Cannot use CODE: ...",
/// forkpool in one line that quotes `typed`, which holds GNU's CODE.
fn refused_as_in_gnu(args: &[&str], typed: &str) -> Run {
    let ours = run(args);
    let theirs = gnu_with(args, b"");
    assert_eq!((ours.code, theirs.code), (255, 255), "{args:?}: {ours:?} {theirs:?}");
    let code = theirs
        .stderr
        .strip_prefix("parallel: Error: Cannot use ")
        .and_then(|m| m.split_once(": "))
        .map(|(code, _)| code)
        .unwrap_or_else(|| panic!("{args:?}: GNU said {}", theirs.stderr));
    assert!(typed.contains(code.trim()), "{args:?}: GNU names {code:?}");
    let said = format!("forkpool: Error: Cannot use {typed}: ");
    assert!(ours.stderr.starts_with(&said), "{args:?}: {}", ours.stderr);
    assert_eq!(ours.stderr.lines().count(), 1, "{args:?}: {}", ours.stderr);
    ours
}

/// `OPTIONS -k echo WORD ::: a b`, where WORD dies on `b`: the first job
/// runs, then one line quotes `shown`.
fn dies_on_the_second_job(options: &[&str], word: &str, shown: &str) {
    let mut args = options.to_vec();
    args.extend_from_slice(&["-k", "echo", word, ":::", "a", "b"]);
    let r = run(&args);
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 255), "{args:?}");
    assert_eq!(r.stderr, format!("forkpool: Error: {shown} died in job 2: no\n"));
}

#[test]
fn parens_of_any_length_split_as_gnu_splits_them() {
    // GNU's `substr($parens, 0, 0.5*length $parens)`: the shorter half is
    // the left parenthesis, the rest the right one. With one byte there is
    // no left one, and each right one is an expression of no code: the
    // argument, as `{}`.
    for (parens, words) in [
        // (`a|b`, not `a|b|c`: two commands failing at once write
        // their messages in either order.)
        (",", &["x,y", "a,b,c", "a|b", "{}"][..]),
        (",", &["x, s/A/Z/,", "1,", "2,"]),
        (",", &["a", "b"]),
        ("|", &["x|y", "a,b,c", "{}|"]),
        (",,,", &["x,,,y", "x, s/A/Z/ ,,"]),
        ("abc", &["xabcy", "abcabc", "12345"]),
        ("abc", &["a s/A/Z/ bc"]),
        ("abc", &["a", "s/A/Z/", "bc"]),
        ("<<=>>", &["x<<=>>y", "<<1 $_ x= 2 =>>"]),
        ("<<=>>", &["<<", "$_ x= 2", "=>>"]),
        ("12345", &["x12345y", "12 s/A/Z/ 345"]),
    ] {
        let mut args = vec!["-k", "--parens", parens, "echo"];
        args.extend_from_slice(words);
        args.extend_from_slice(&[":::", "A", "B"]);
        same_as_gnu_with_messages(&args, b"");
    }
    same_as_gnu_with_messages(
        &["-k", "--parens", ",", "--tagstring", "<,>", "echo", ":::", "A", "B"],
        b"",
    );
}

#[test]
fn a_custom_left_paren_left_open_is_text_as_in_gnu() {
    // GNU parallel runs a left parenthesis it cannot match as text; with
    // `--parens` it is often text the user meant (a shell's `<`).
    let hostname = "/etc/hostname";
    for args in [
        &["--parens", "<>", "wc -l < {}", ":::", hostname][..],
        &["--parens", "<>", "wc", "-l", "<", "{}", ":::", hostname],
        &["--parens", "ab", "cat", "{}", ":::", hostname],
        &["--parens", "[]", "echo", "x]y[z", ":::", "abc"],
        &["--parens", "[]", "echo", "[", "x", "[ $_.=1 ]", ":::", "abc"],
        &["--parens", ",,,", "echo", ",, s/a/b/ ,,", ":::", "a"],
        &["--parens", "<>", "-q", "printf", "[%s]", "<", "a", "{}", ":::", "b"],
        &["--parens", "<>", "--tagstring", "<{}", "echo", ":::", "b"],
    ] {
        same_as_gnu_with_messages(args, b"");
    }
    // The default `{=` left open stays an error (`--parens '{==}'` is the
    // default too).
    for parens in [&[][..], &["--parens", "{==}"]] {
        let mut args = parens.to_vec();
        args.extend_from_slice(&["echo", "{= s/a/b/", ":::", "a"]);
        let r = run(&args);
        assert_eq!((r.stdout.as_str(), r.code), ("", 255), "{args:?}");
        assert_eq!(
            r.stderr,
            "forkpool: Error: unmatched '{=' in the command template: '{= s/a/b/' needs a closing '=}'\n"
        );
    }
}

#[test]
fn expressions_are_found_as_gnus_scan_finds_them() {
    // GNU's `{=((?:(?!{=|=}).)*?)=}`: an expression holds no left
    // parenthesis, so it starts at the last one before the right one.
    for args in [
        &["--parens", "abc", "echo", "a s/a/b/ bc", ":::", "abc"][..],
        &["--parens", "[]", "echo", "[ x [ $_.=1 ]", ":::", "abc"],
        &["--parens", "<>", "echo", "<<$_.=1>>", ":::", "abc"],
        // A pair may span lines: the word is whole, not merged with the
        // next one (`-q` quotes each word).
        &["-q", "printf", "[%s]", "{= $_.=\"q\"\n=}", "b", ":::", "a"],
        &[
            "-q",
            "--parens",
            "<>",
            "printf",
            "[%s]",
            "<$_.=\"q\"\n>",
            "b",
            ":::",
            "a",
        ],
        &["-q", "printf", "[%s]", "{=", "$_.=\"q\"\n", "=}", "b", ":::", "a"],
        // Perl's `s/(.*)$l.*?$r/$1/s`: the last left parenthesis with a
        // right one after it, which with these may be part of the pair.
        &[
            "-q", "--parens", "aa", "printf", "[%s]", "xaa", "a$_.=1 a", "{}", ":::", "b",
        ],
        &["-q", "--parens", ",,,", "printf", "[%s]", ",,,", "x", ":::", "b"],
    ] {
        same_as_gnu_with_messages(args, b"");
    }
    // With the default parentheses, a `{=` left open before another one is
    // an error, where GNU's perl cannot compile what it finds, or runs
    // the text: the message quotes the user's text.
    for (word, gnu_fails) in [
        ("{= \"{=\" =}", true),
        ("{= s/a/{=/ =}", true),
        ("{= 1 {= $_.=2 =}", false),
        ("{={==}", false),
    ] {
        let args = ["echo", word, ":::", "a"];
        let r = run(&args);
        assert_eq!((r.stdout.as_str(), r.code), ("", 255), "{args:?}");
        assert_eq!(
            r.stderr,
            format!(
                "forkpool: Error: unmatched '{{=' in the command template: '{word}' needs a closing '=}}' before the next '{{='\n"
            )
        );
        let theirs = gnu_with(&args, b"");
        assert_eq!(theirs.code == 255, gnu_fails, "{args:?}: {theirs:?}");
    }
    // What GNU finds in `{= $_.="=}" =}` does not compile: both refuse it.
    // (GNU names `$_.="`, forkpool the text it found it in.)
    refused_as_in_gnu(&["echo", "{= $_.=\"=}\" =}", ":::", "a"], "{= $_.=\"=}");
}

#[test]
fn a_bad_rpl_is_quoted_as_its_option_was_typed() {
    // GNU names the code ("Cannot use s/(/: ..."); forkpool the option it
    // comes from, as typed, not `{= =}` the user never typed.
    for (args, typed) in [
        (&["--rpl", "{U} s/(/", "echo", "{U}"][..], "--rpl '{U} s/(/'"),
        (&["--rpl", "{U} s/(/", "echo", "{1U}"], "--rpl '{U} s/(/'"),
        (
            &["--parens", "[]", "--rpl", "{U} [ s/(/ ]", "echo", "{U}"],
            "--rpl '{U} [ s/(/ ]'",
        ),
        // The last --rpl of a tag is the one in force.
        (
            &["--rpl", "{U} s/a/b/", "--rpl", "{U} s/(/", "echo", "{U}"],
            "--rpl '{U} s/(/'",
        ),
        (&["-I", "{U}", "--rpl", "{U} s/(/", "echo", "{U}"], "--rpl '{U} s/(/'"),
    ] {
        let mut args = args.to_vec();
        args.extend_from_slice(&[":::", "a"]);
        let ours = refused_as_in_gnu(&args, typed);
        assert!(
            ours.stderr.contains(": Substitution replacement not terminated"),
            "{ours:?}"
        );
    }
    // One that dies on a job; a --plus tag that dies, as it stands.
    let rpl = "{U} $_ eq 'b' and die qq(no\\n)";
    dies_on_the_second_job(&["--rpl", rpl], "{U}", &format!("--rpl '{rpl}'"));
    let r = run(&["--plus", "echo", "{/(/x}", ":::", "a"]);
    assert_eq!(r.code, 255);
    assert!(
        r.stderr
            .starts_with("forkpool: Error: {/(/x} died in job 1: Unmatched ( in regex"),
        "{}",
        r.stderr
    );
}

#[test]
fn one_byte_parens_with_q_keep_the_words_apart_unlike_gnu() {
    // README, "Where it differs": GNU's test for an open left parenthesis
    // is an empty pattern then, which perl reads as the last one that
    // matched: it joins every word, and runs `printf [%s] a b`.
    let args = ["-q", "--parens", ",", "printf", "[%s]", "a", "b,", ":::", "x"];
    let theirs = gnu_with(&args, b"");
    assert!(theirs.stderr.contains("command not found"), "{theirs:?}");
    let ours = run(&args);
    assert_eq!((ours.stdout.as_str(), ours.code), ("[a][bx]", 0), "{ours:?}");
}
