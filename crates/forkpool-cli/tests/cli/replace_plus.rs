//! `--plus`'s replacement strings: a path taken apart (`{+/}`, `{+.}`,
//! `{..}`, ...), the job count (`{##}`, `{0#}`), and strings with
//! arguments that work like bash's parameter expansion (`{:-x}`, `{#a*}`,
//! `{/a/X}`, ...), as GNU parallel documents them.

use super::replace::ok;
use super::*;

#[test]
fn plus_strings_take_a_path_apart_as_gnu_documents() {
    // man parallel_tutorial: {} = {+/}/{/} = {.}.{+.} = {+/}/{/.}.{+.} =
    // {..}.{+..} = {+/}/{/..}.{+..} = {...}.{+...} = {+/}/{/...}.{+...}
    let path = "dir/sub/file.ex1.ex2.ex3";
    for form in [
        "{}",
        "{+/}/{/}",
        "{.}.{+.}",
        "{+/}/{/.}.{+.}",
        "{..}.{+..}",
        "{+/}/{/..}.{+..}",
        "{...}.{+...}",
        "{+/}/{/...}.{+...}",
    ] {
        assert_eq!(ok(&["--plus", "echo", form, ":::", path]), [path], "{form}");
    }
    assert_eq!(
        ok(&[
            "-k",
            "-j1",
            "--plus",
            "echo",
            "{..}",
            "{+..}",
            "{##}",
            "{0#}",
            "{0%}",
            "{...}",
            "{+...}",
            "{/..}",
            "{+/}",
            "{+.}",
            ":::",
            "a/b.c.d.e",
            "x.y",
        ]),
        ["a/b.c d.e 2 1 1 a/b c.d.e b.c a e", "x.y  2 2 1 x.y  x.y  y"]
    );
    // Job {#} of {##}, zero-padded to the width of the total.
    let r = ok(&[
        "-k", "--plus", "echo", "{#}/{##}", "{0#}", ":::", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
    ]);
    assert_eq!((r[0].as_str(), r[9].as_str()), ("1/10 01", "10/10 10"));
    // {slot} and friends are shell variables, left unquoted.
    assert_eq!(
        ok(&[
            "--plus",
            "-j1",
            "echo",
            "{slot}-{host}-{sshlogin}-{hgrp}{agrp}",
            ":::",
            "a"
        ]),
        ["1-:-:-"]
    );
    assert_eq!(
        run(&["--plus", "--dry-run", "echo", "{slot}", ":::", "a"]).stdout,
        "echo ${PARALLEL_JOBSLOT}\n"
    );
}

#[test]
fn plus_strings_with_arguments_work_like_bash_parameter_expansion() {
    let all = [
        "{:-x}", "{:1}", "{:1:2}", "{#a*}", "{##a*}", "{%b*}", "{%%b*}", "{/a/X}", "{//a/X}", "{^a}", "{^^a}",
    ];
    let mut args = vec!["--plus", "echo"];
    args.extend(all);
    args.extend([":::", "aabbaabb"]);
    assert_eq!(
        ok(&args),
        ["aabbaabb abbaabb ab aabbaabb bbaabb aabbaabb aabbaa Xabbaabb XXbbXXbb Aabbaabb AAbbAAbb"]
    );
    assert_eq!(
        ok(&["--plus", "echo", "{,A}{,,A}", ":::", "AAbbAAbb"]),
        ["aAbbAAbbaabbaabb"]
    );
    // The examples of man parallel_examples.
    assert_eq!(
        ok(&[
            "-k",
            "--plus",
            "echo",
            "{%_demo}",
            ":::",
            "mycode_demo",
            "keep_demo_here"
        ]),
        ["mycode", "keep_demo_here"]
    );
    assert_eq!(
        ok(&[
            "-k",
            "--plus",
            "echo",
            "{#demo_}",
            ":::",
            "demo_mycode",
            "keep_demo_here"
        ]),
        ["mycode", "keep_demo_here"]
    );
    assert_eq!(
        ok(&["--plus", "echo", "{1:-empty}{2:1}", ":::", "", ":::", "abc"]),
        ["emptybc"]
    );
    // {choose_k} and {uniq} skip jobs (which count as failed, as in GNU).
    let r = run(&[
        "-k",
        "--plus",
        "echo",
        "{choose_k}",
        ":::",
        "A",
        "B",
        "C",
        ":::",
        "A",
        "B",
        "C",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["A B", "A C", "B C"], 6));
    let r = run(&["-k", "--plus", "echo", "{uniq}", ":::", "A", "B", ":::", "A", "B"]);
    assert_eq!((r.lines(), r.code, r.stderr.as_str()), (vec!["A B", "B A"], 2, ""));
}
