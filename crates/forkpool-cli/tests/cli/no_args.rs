//! `-N0`, `-n0` (and `-L0`): a job reads an input record and uses none of
//! it. GNU parallel makes each of its values `\0noarg`, which a replacement
//! string whose value it is makes nothing (no word, not even an empty
//! one); every other string is as usual: `{#}`, `{%}`, `{##}`, `{//}` (`.`),
//! `{+.}` (empty), a `{= =}` (whose `$_` is `\0noarg`), `--tagstring`,
//! `--results`. With `-X`, `-m` and `--xargs` 0 is no count: lines are
//! filled as usual.

use std::path::Path;
use std::process::{Command, Stdio};

use super::gnu::same_as_gnu;
use super::{Dir, command, finish, run_with};

/// `seq n`.
fn seq(n: usize) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

#[test]
fn replacement_strings_with_no_arguments_are_gnu_parallels() {
    let three = seq(3);
    let cases: &[&[&str]] = &[
        // The new user's trial: `a1b a2b a3b`, not `ab ab ab`.
        &["-N0", "echo", "a{#}b"],
        &["-n0", "echo", "a{#}b"],
        &["-N0", "echo", "a{}b", "{}", "{1}", "{2}", "{-1}", "x"],
        &["-n0", "echo", "a{}b", "{}", "{1}", "{2}", "x"],
        &["-N0", "-j1", "echo", "{.}", "{/}", "{//}", "{/.}", "{%}", "{##}", "{#}"],
        &["-N0", "echo"],
        &["-n0", "echo"],
        &["-L0", "echo", "a{}b{#}"],
        // What perl's $_ is: GNU's `\0noarg` (6 bytes, not empty).
        &["-N0", "echo", "{=$_=length($_)=}", r#"{=$_=$_ eq "" ? "E" : "N"=}"#],
        &[
            "-N0",
            "echo",
            r#"{= $_ = $arg[1] eq "\0noarg" ? "Y" : "N" =}"#,
            "{=$_=$job->seq()=}",
        ],
        &[
            "-N0",
            "echo",
            "{=$_=`echo made`; chomp=}",
            "{= $_ =}",
            "{= =}",
            "{=uq()=}",
        ],
        &["-N0", "--rpl", "{a} s/o/0/", "echo", "{a}"],
        &[
            "-N0", "-j1", "--plus", "echo", "{..}", "{+/}", "{+.}", "{0#}", "{0%}", "{##}", "{:1:2}", "{#b}", "{/..}",
        ],
        &["-N0", "{}", "echo", "x"],
        &["-N0", "-I", "XX", "echo", "XX", "{}", "x"],
        // Several values a record: each is nothing, the space between them is not.
        &["-N0", "echo", "{}", "{}", "x", ":::", "a", "b", ":::", "c", "d"],
        &["-n0", "echo", "x{}y", "x{2}y", "{#}", ":::", "a", "b", ":::", "c", "d"],
        &["-N0", "echo", "x{}y", "x{2}y", "{#}", ":::", "a", "b", ":::", "c", "d"],
        &[
            "-N0", "--colsep", ",", "echo", "{}", "{1}", "{2}", "{#}", ":::", "a,b", "c,d",
        ],
        // -q: a word of nothing is left out, an empty value's is ''.
        &["-q", "-N0", "echo", "{}", "x", "a{}b", "{#}"],
        &["-q", "-n0", "echo", "{}", "x", "a{}b", "{#}"],
        &["-q", "-N0", "echo"],
        &["-q", "-n0", "echo", "x{}y", ":::", "a", "b", ":::", "c", "d"],
        &["-q", "-N0", "echo", "x{}y", ":::", "a", "b", ":::", "c", "d"],
        &["-q", "echo", "{}", "x", ":::", ""],
        &["-q", "-n2", "echo", "x{}y", ":::", "a", "b"],
        // --tag, --tagstring.
        &["-N0", "--tag", "echo", "hi"],
        &["-N0", "--tag", "echo", ":::", "a", "b", ":::", "c", "d"],
        &["-n0", "--tag", "echo", ":::", "a", "b", ":::", "c", "d"],
        &["-N0", "--tagstring", "T{}{#}", "echo", "hi"],
        &["-N0", "--tagstring", r#"{=$_="x"=}"#, "echo", "hi"],
        // -X, -m, --xargs: 0 is no count there; the lines are filled.
        &["-N0", "-X", "echo", "a{}b"],
        &["-N0", "-m", "echo", "a{}b{#}"],
        &["-n0", "-m", "echo", "a{#}b", "{}"],
        &["-N0", "-X", "-j1", "echo", "a{}b{#}"],
        &["-n0", "--xargs", "echo", "a{}b"],
        &["-L0", "-X", "echo", "a{}b{#}"],
    ];
    for case in cases {
        for dry in [true, false] {
            let mut args = vec!["-k"];
            if dry {
                args.push("--dry-run");
            }
            args.extend_from_slice(case);
            same_as_gnu(&args, three.as_bytes());
        }
    }
    // -X's lines, filled and then shared out over the job slots.
    for (n, jobs) in [(20, "-j3"), (1000, "-j3"), (100_000, "-j3"), (5, "-j2")] {
        for how in ["-X", "-m", "--xargs"] {
            let args = ["-k", jobs, "-N0", how, "--dry-run", "echo", "a{}b{#}"];
            same_as_gnu(&args, seq(n).as_bytes());
        }
    }
    // --pipe's `:::` arguments, -N0 a job: nothing too.
    let piped: &[&[&str]] = &[
        &["--pipe", "-N0", "cat; echo {} {#}", ":::", "a", "b"],
        &["--pipe", "-n0", "cat; echo {} {#}", ":::", "a", "b"],
        &["--tee", "--pipe", "-N0", "cat; echo {} {#}", ":::", "a", "b"],
    ];
    for case in piped {
        let mut args = vec!["-k"];
        args.extend_from_slice(case);
        same_as_gnu(&args, three.as_bytes());
    }
    // A value of nothing a perl expression adds to: the command holds a
    // NUL, which no command can take (GNU's bash stops there).
    let r = same_as_gnu(&["-N0", "echo", r#"{=$_="x".$_=}"#], three.as_bytes());
    assert_eq!(r.code, 3);
}

/// Runs `args` with `stdin` in `dir`: forkpool, or GNU parallel.
fn run_in(dir: &Path, gnu: bool, args: &[&str], stdin: &str) {
    let mut cmd = if gnu {
        let mut c = Command::new("parallel");
        c.arg("--will-cite").args(args).env("PARALLEL_SHELL", "/bin/bash");
        c
    } else {
        command(args)
    };
    let input = dir.join("input");
    std::fs::write(&input, stdin).unwrap();
    let child = cmd
        .current_dir(dir)
        .stdin(Stdio::from(std::fs::File::open(&input).unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let r = finish(child);
    std::fs::remove_file(&input).unwrap();
    assert_eq!(r.code, 0, "{args:?} (GNU: {gnu}): {}", r.stderr);
}

/// Every file under `dir` (relative) with its content.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            let content = if path.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            out.push((name, content));
        }
    }
    out.sort();
    out
}

#[test]
fn results_with_no_arguments_go_where_gnu_parallel_puts_them() {
    // `man parallel`'s example names the directory with an expression:
    // with nothing for it, forkpool wrote `/stdout`, `/stderr` and `/seq`.
    let runs: &[&[&str]] = &[
        &["-N0", "-j1", "--results", "{= $_=`echo when`; chomp=}/", "echo"],
        &["-N0", "-j1", "--results", "out", "echo", "hi"],
        &["-n0", "-j1", "--results", "out2/", "echo", "hi"],
        &["-N0", "-j1", "--results", "out3{#}", "echo", "hi"],
        &["-N0", "-j1", "--results", "o4/{}x{#}", "echo", "hi"],
        &["-N0", "-j1", "--results", "o5/{=$_=$job->seq()=}/", "echo"],
    ];
    let (ours, theirs) = (Dir::new(), Dir::new());
    for args in runs {
        run_in(ours.0.path(), false, args, &seq(2));
        run_in(theirs.0.path(), true, args, &seq(2));
        assert_eq!(tree(ours.0.path()), tree(theirs.0.path()), "{args:?}");
    }
    // `out/1/\0noarg/stdout`, as GNU names it.
    assert!(ours.path("out/1/\\0noarg/stdout").is_file());
    assert_eq!(std::fs::read_to_string(ours.path("when/seq")).unwrap(), "2");
}

#[test]
fn the_bar_shows_no_argument_as_nothing() {
    // GNU's bar shows the job's `{}`: nothing, not `\0noarg`.
    let r = run_with(&["-N0", "--bar", "echo", "x"], b"1\n2\n");
    assert_eq!((r.stdout.as_str(), r.code), ("x\nx\n", 0), "{}", r.stderr);
    assert!(r.stderr.contains("100% 2:0=0s"), "{:?}", r.stderr);
    assert!(!r.stderr.contains("noarg"), "{:?}", r.stderr);
}
