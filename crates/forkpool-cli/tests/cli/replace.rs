//! Replacement strings: `{}`, `{.}`, `{/}`, `{//}`, `{/.}`, `{#}`, `{%}`
//! and their positional forms, values quoted as GNU parallel quotes them,
//! `-I`, `-q`, `--rpl`, `--parens`, the renaming options, `--trim`, and bad
//! strings. Expected outputs are GNU parallel 20221122's (its
//! documentation's examples, or what it prints); `gnu_parallel_agrees`
//! also runs the installed `parallel` beside us. `--plus`'s strings are in
//! `replace_plus.rs`, `{= perl =}` in `replace_perl.rs`.

use super::*;

pub(super) fn ok(args: &[&str]) -> Vec<String> {
    let r = run(args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    r.stdout.lines().map(str::to_owned).collect()
}

/// Runs with a `PATH` that has the shell's tools but no perl.
pub(super) fn without_perl(args: &[&str]) -> Run {
    let dir = Dir::new();
    for tool in ["bash", "sh", "echo", "touch", "cat"] {
        if let Some(path) = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
        {
            std::os::unix::fs::symlink(path, dir.path(tool)).unwrap();
        }
    }
    output_of(command(args).env("PATH", dir.0.path()))
}

#[test]
fn replacement_strings() {
    let r = run(&[
        "-k",
        "echo",
        "{}",
        "{.}",
        "{/}",
        "{//}",
        "{/.}",
        ":::",
        "/a/b.c/d.tar.gz",
        "x.y",
    ]);
    assert_eq!(
        r.lines(),
        ["/a/b.c/d.tar.gz /a/b.c/d.tar d.tar.gz /a/b.c d.tar", "x.y x x.y . x"]
    );
    let r = run(&["-k", "-j1", "echo", "{#}", "{%}", ":::", "a", "b", "c"]);
    assert_eq!(r.lines(), ["1 1", "2 1", "3 1"]);
    let r = run(&[
        "-k", "echo", "{2.}", "{1/}", "{-1}", "{3//}", ":::", "/x/y", ":::", "f.txt", ":::", "a/b",
    ]);
    assert_eq!(r.lines(), ["f y a/b a"]);
}

#[test]
fn a_command_without_replacement_strings_gets_the_arguments() {
    let r = run(&["-k", "echo", "pre", ":::", "a", "b c"]);
    assert_eq!(r.lines(), ["pre a", "pre b c"]);
    assert_eq!(
        run(&["--dry-run", "echo", "pre", ":::", "b c"]).stdout,
        "echo pre 'b c'\n"
    );
}

#[test]
fn values_are_quoted_like_gnu_parallel() {
    let r = run(&[
        "-k",
        "--dry-run",
        "echo",
        "{}",
        ":::",
        "a b",
        "c'd",
        "e$f",
        "*",
        "-x",
        "",
        "'a",
    ]);
    assert_eq!(
        r.lines(),
        [
            "echo 'a b'",
            "echo 'c'\"'\"'d'",
            "echo 'e$f'",
            "echo '*'",
            "echo -x",
            "echo ''",
            "echo \"'\"'a'"
        ]
    );
    // And the shell gets them back intact. (The command's own words are
    // shell syntax, so the format is quoted for the shell.)
    let r = run(&["-k", "printf", "'[%s]\\n'", ":::", "a b", "c'd", "e$f", "*"]);
    assert_eq!(r.lines(), ["[a b]", "[c'd]", "[e$f]", "[*]"]);
}

#[test]
fn a_custom_replace_string_as_with_xargs_i() {
    let r = run(&["-k", "-I", "X", "echo X-X {} {1}", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["a-a {} {1}", "b-b {} {1}"], "{}", r.stderr);
    let r = run(&["-I", "X", "--tagstring", "X", "echo hi", ":::", "a"]);
    assert_eq!(r.lines(), ["a\thi a"]);
    let r = run(&["-k", "--replace=@", "echo pre@post", ":::", "a"]);
    assert_eq!(r.lines(), ["preapost"]);
    // -i alone (before an option) is -I {}; before a word, that word is
    // its value, as in GNU parallel.
    let r = run(&["-i", "-k", "echo", "{}.x", ":::", "a"]);
    assert_eq!(r.lines(), ["a.x"]);
    let r = run(&["-k", "-i", "@", "echo", "@.x", ":::", "a"]);
    assert_eq!(r.lines(), ["a.x"]);
    assert_eq!(run(&["-I", "", "echo", ":::", "a"]).code, 255);
}

#[test]
fn commands_are_shell_syntax() {
    let r = run(&["-k", "echo {} | tr a-z A-Z; echo done", ":::", "ab"]);
    assert_eq!(r.lines(), ["AB", "done"]);
    let d = Dir::new();
    let out = d.s("out");
    let r = run(&["-k", &format!("echo {{}} >> {out}"), ":::", "x", "y"]);
    assert_eq!(r.code, 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    // With no command, each input is a command.
    let r = run_with(&["-k"], b"echo a\necho b; echo c\n");
    assert_eq!(r.lines(), ["a", "b", "c"]);
}

#[test]
fn quote_makes_the_command_literal() {
    assert_eq!(
        run(&["-q", "--dry-run", "echo", "a b", "{}", ":::", "c d"]).stdout,
        "echo 'a b' 'c d'\n"
    );
    let r = run(&["-q", "-k", "printf", "%s|", "a;b", "{}", ":::", "$x"]);
    assert_eq!(r.stdout, "a;b|$x|");
}

#[test]
fn jobs_see_gnu_parallels_variables() {
    let r = run(&["-k", "-j1", "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT {}", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["1 1 a", "2 1 b"]);
}

#[test]
fn rpl_defines_strings_with_arguments_and_positions() {
    assert_eq!(
        ok(&[
            "--rpl",
            "{..} s:\\.[^.]+$::;s:\\.[^.]+$::;",
            "echo",
            "{2..}",
            "{1}",
            ":::",
            "bar",
            ":::",
            "foo.tar.gz"
        ]),
        ["foo bar"]
    );
    assert_eq!(
        ok(&[
            "--rpl",
            ".. s:\\.[^.]+$::;s:\\.[^.]+$::;",
            "echo",
            "..",
            ":::",
            "foo.tar.gz"
        ]),
        ["foo"]
    );
    assert_eq!(
        ok(&[
            "--rpl",
            "{%(.+?)} s/$$1$//;",
            "echo",
            "{%.tar.gz}.zip",
            ":::",
            "foo.tar.gz"
        ]),
        ["foo.zip"]
    );
    assert_eq!(
        ok(&[
            "--rpl",
            "{/(.+?)/(.*?)} s/$$1/$$2/;",
            "echo",
            "{/tar.gz/zip}",
            ":::",
            "foo.tar.gz"
        ]),
        ["foo.zip"]
    );
    assert_eq!(
        ok(&[
            "--rpl",
            "{(.*?)/(.*?)} $_=\"$$2$_$$1\"",
            "echo",
            "{swap/these}",
            ":::",
            "-middle-"
        ]),
        ["these-middle-swap"]
    );
    assert_eq!(
        ok(&[
            "-n3",
            "--rpl",
            "{/:%(.*?)} s:.*/(.*)$$1(\\.[^/]+)*$:$1:",
            "echo",
            "job",
            "{#}:",
            "{2}",
            "{2.}",
            "{3/:%_1}",
            ":::",
            "a/b.c",
            "c/d.e",
            "f/g_1.h.i",
        ]),
        ["job 1: c/d.e c/d g"]
    );
    // Overriding a built-in string.
    assert_eq!(ok(&["--rpl", "{.} s/a/b/", "echo", "{.}", ":::", "a.c"]), ["b.c"]);
    // --parens.
    assert_eq!(
        ok(&[
            "--parens",
            ",,,,",
            "echo",
            ",, s:\\.[^.]+$::;s:\\.[^.]+$::; ,,",
            ":::",
            "foo.tar.gz"
        ]),
        ["foo"]
    );
}

#[test]
fn renamed_strings() {
    assert_eq!(
        ok(&[
            "-j1",
            "--er",
            "X",
            "--bnr",
            "Y",
            "--dnr",
            "Z",
            "--bner",
            "W",
            "--seqreplace",
            "S",
            "--slotreplace",
            "T",
            "echo",
            "X",
            "Y",
            "Z",
            "W",
            "S",
            "T",
            "{.}",
            ":::",
            "a/b.c",
        ]),
        ["a/b b.c a b 1 1 {.}"]
    );
    let long = ok(&[
        "--extensionreplace",
        "X",
        "--basenamereplace",
        "Y",
        "--dirnamereplace",
        "Z",
        "--basenameextensionreplace",
        "W",
        "echo",
        "X",
        "Y",
        "Z",
        "W",
        ":::",
        "a/b.c",
    ]);
    assert_eq!(long, ["a/b b.c a b"]);
    // -I takes the place of {} (and of its positional forms).
    assert_eq!(
        ok(&["-I", "X", "echo", "X", "{1.}", "{1}", "{}", ":::", "a.b"]),
        ["a.b a {1} {}"]
    );
    assert_eq!(ok(&["echo", "{0}", ":::", "a"]), ["a"]);
}

#[test]
fn trim_removes_blanks_where_asked() {
    for (how, expected) in [
        ("n", "x a x"),
        ("l", "xa x"),
        ("r", "x ax"),
        ("lr", "xax"),
        ("rl", "xax"),
    ] {
        assert_eq!(ok(&["--trim", how, "echo", "x{}x", ":::", " a "]), [expected], "{how}");
    }
    // --colsep implies --trim lr; --tag shows the trimmed values.
    assert_eq!(
        ok(&["--colsep", ",", "--tag", "echo", "x{1}x", ":::", " a , b "]),
        ["a b\txax"]
    );
    assert_eq!(
        ok(&["--colsep", ",", "--trim", "n", "echo", "x{1}x{2}x", ":::", " a , b "]),
        ["x a x b x"]
    );
    // ... but perl sees the untrimmed values in @arg.
    assert_eq!(
        run(&[
            "--colsep",
            ",",
            "--dry-run",
            "echo",
            "{=1 $_=\"[$arg[1]]\" =}",
            ":::",
            " a ,b"
        ])
        .stdout,
        "echo '[ a ]'\n"
    );
}

#[test]
fn an_unclosed_string_outside_the_command_names_its_option() {
    // GNU runs `{=` as text; we refuse it (the README's differences), and
    // say which option's text has it, not "the command template".
    let d = Dir::new();
    let tpl = d.file("tpl", "T {= 1\n");
    let tmpl = format!("{tpl}={}", d.s("out"));
    for (args, place) in [
        (vec!["--tagstring", "{=", "echo", ":::", "a"], "--tagstring"),
        (vec!["--tagstring", "x{1", "echo", ":::", "a"], "--tagstring"),
        (vec!["--results", "o/{=", "echo", ":::", "a"], "--results"),
        (vec!["--filter", "{= 1", "echo", ":::", "a"], "--filter"),
        (vec!["--workdir", "{=", "echo", ":::", "a"], "--workdir"),
        (vec!["--template", &tmpl, "echo", ":::", "a"], "--template"),
        (vec!["echo", "{=", ":::", "a"], "the command template"),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 255, "{args:?}: {r:?}");
        assert!(
            r.stderr.starts_with("forkpool: Error: unmatched '{") && r.stderr.contains(&format!(" in {place}: ")),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn bad_replacement_strings_are_one_line_errors_before_any_job() {
    let d = Dir::new();
    let marker = d.s("ran");
    let touch = format!("touch {marker}; echo");
    for (args, needle) in [
        (vec![touch.as_str(), "{= s/a/b/", ":::", "a"], "unmatched '{='"),
        (vec![touch.as_str(), "{= s/a/ =}", ":::", "a"], "Cannot use {= s/a/ =}"),
        (
            vec![touch.as_str(), "{= die \"no\\n\" =}", ":::", "a"],
            "died in job 1: no",
        ),
        (vec!["--trim", "x", &touch, ":::", "a"], "--trim must be one of"),
        (vec!["--rpl", "{x([)} s/a/b/", &touch, ":::", "a"], "--rpl"),
        (vec!["--rpl", " s/a/b/", &touch, ":::", "a"], "--rpl"),
        (
            vec!["--parens", "", &touch, ":::", "a"],
            "--parens '' has no parentheses",
        ),
        // The message quotes what was typed, not our markers.
        (
            vec![touch.as_str(), "x{= {= 1 =}", ":::", "a"],
            "unmatched '{=' in the command template: '{= {= 1 =}' needs a closing '=}' before the next '{='\n",
        ),
        (
            vec![touch.as_str(), "{}{= 1 {}", ":::", "a"],
            "unmatched '{=' in the command template: '{= 1 {}' needs a closing '=}'\n",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 255, "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(!Path::new(&marker).exists(), "{args:?} ran a job");
    }
    // No perl: the message names the expression.
    let r = without_perl(&[&touch, "{= s/x/y/ =}", ":::", "a"]);
    assert_eq!(r.code, 255, "{r:?}");
    assert_eq!(
        r.stderr,
        "forkpool: Error: {= s/x/y/ =}: perl is not installed (not found in PATH)\n"
    );
    assert!(!Path::new(&marker).exists());
    // ... while the built-in strings need none.
    let r = without_perl(&["--plus", "-k", "echo", "{.}", "{+.}", "{..}", "{##}", ":::", "a.b.c"]);
    assert_eq!((r.stdout.as_str(), r.code), ("a.b c a 1\n", 0), "{}", r.stderr);
}

/// GNU parallel, if installed, with its citation notice answered.
fn gnu(args: &[&str], home: &Path) -> Option<(String, i32)> {
    let out = Command::new("parallel")
        .args(args)
        .env("HOME", home)
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    ))
}

#[test]
fn gnu_parallel_agrees() {
    let home = Dir::new();
    std::fs::create_dir_all(home.path(".parallel")).unwrap();
    std::fs::write(home.path(".parallel/will-cite"), "").unwrap();
    if gnu(&["--version"], home.0.path()).is_none_or(|(v, _)| !v.contains("GNU parallel")) {
        eprintln!("GNU parallel is not installed: nothing to compare with");
        return;
    }
    let cases: &[&[&str]] = &[
        &[
            "-k",
            "echo",
            "{}",
            "{.}",
            "{/}",
            "{//}",
            "{/.}",
            ":::",
            "a/b.c",
            "d",
            "/x",
            "e.f/",
            "..",
            "a b/c'd.e",
        ],
        &[
            "-k",
            "--plus",
            "echo",
            "{+/}",
            "{+.}",
            "{+..}",
            "{+...}",
            "{..}",
            "{...}",
            "{/..}",
            "{/...}",
            ":::",
            "a.b/c.d.e.f",
            "x",
            ".y",
            "a/b",
        ],
        &[
            "-k", "--plus", "echo", "{:-z}", "{:2}", "{:1:3}", "{#*.}", "{##*.}", "{%.*}", "{%%.*}", ":::", "a.b.c",
            "", "0",
        ],
        &[
            "-k", "--plus", "echo", "{/.b/X}", "{//b/Y}", "{/#a/Z}", "{/%c/W}", "{^a}", "{^^b}", "{,A}", "{,,B}",
            ":::", "abcabc", "ABCABC",
        ],
        &[
            "-k", "--plus", "echo", "{1..}", "{2+.}", "{-1/..}", ":::", "p.q.r", ":::", "s.t",
        ],
        &[
            "-k", "--plus", "echo", "{##}", "{0#}", ":::", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
        ],
        &[
            "-k",
            "echo",
            "{= s/(\\w)/uc($1)/e =}",
            "{=1 $_=length =}",
            "{= $_=$arg[2] =}",
            ":::",
            "ab",
            "cd",
            ":::",
            "ef",
        ],
        &["-k", "-X", "-j1", "echo", "<{= $_=uc =}>", ":::", "a", "b", "c"],
        &["-k", "-N2", "echo", "{= $_=uc =}", "{2}", ":::", "a", "b", "c"],
        &["-k", "-q", "echo", "{= $_=\"x y\" =}", "a b", ":::", "c"],
        &["-k", "--dry-run", "echo", "{= $_=Q($_) =}", "{}", ":::", "a'b", "c d"],
        &[
            "-k",
            "--rpl",
            "{up} $_=uc",
            "--rpl",
            "{cut(\\d+)} $_=substr($_,$$1)",
            "echo",
            "{up}",
            "{2up}",
            "{cut2}",
            "{1cut1}",
            ":::",
            "hello",
            ":::",
            "you",
        ],
        &[
            "-k",
            "--colsep",
            ":",
            "echo",
            "{2}{=1 $_.=\"!\" =}",
            ":::",
            "a:b",
            "c :d",
        ],
        &["-k", "--trim", "r", "--tag", "echo", "{}", ":::", " x ", "y  "],
        &[
            "-k",
            "--header",
            ":",
            "echo",
            "{name}",
            "{name.}",
            "{=name s/a/A/ =}",
            ":::",
            "name",
            "a.x",
            "b.y",
        ],
        &["-k", "echo", "{= $_ = ++$x =}", "{= $_ = ++$x =}", ":::", "a", "b"],
        &["-k", "echo", "{= skip() if $_ eq \"b\" =}", ":::", "a", "b", "c"],
        &["-k", "--ctag", "echo", ":::", "a", "b", "c"],
        &["-k", "--arg-sep", "@@", "echo", "@@", "a", "@@+", "1", "2"],
    ];
    for case in cases {
        let theirs = gnu(case, home.0.path()).unwrap();
        let r = run(case);
        assert_eq!(
            (r.stdout.as_str(), r.code),
            (theirs.0.as_str(), theirs.1),
            "{case:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn helper_functions_take_gnus_arguments_and_no_more() {
    // GNU parallel declares its helpers with prototypes: a call with too
    // many arguments does not compile, in forkpool as in GNU parallel.
    for (expression, name) in [
        ("$_=yyyy_mm_dd_hh_mm_ss(0)", "yyyy_mm_dd_hh_mm_ss"),
        ("$_=hhmm(1)", "hhmm"),
        ("$_=Q($_,1)", "Q"),
        ("$_=pQ($_,1)", "pQ"),
        ("$_=total_jobs(1)", "total_jobs"),
        ("$_=seq(2)", "seq"),
        ("$_=hash($_,1)", "hash"),
    ] {
        let args = ["-k", "echo", &format!("{{= {expression} =}}"), ":::", "a"];
        let r = super::gnu::same_as_gnu(&args, b"");
        assert_eq!(r.code, 255, "{expression}");
        let needle = format!("Too many arguments for Arg::{name}");
        assert!(r.stderr.contains(&needle), "{expression}: {}", r.stderr);
    }
    // The right number still works, with and without parentheses.
    for expression in [
        "$_=Q $_",
        "$_=Q($_).seq().total_jobs",
        "$_=::min(3,2).::sum(1,2)",
        "uq()",
    ] {
        let args = ["-k", "echo", &format!("{{= {expression} =}}"), ":::", "a b"];
        assert_eq!(super::gnu::same_as_gnu(&args, b"").code, 0, "{expression}");
    }
}

#[test]
fn replace_takes_the_next_word_as_gnu_parallel() {
    // `--replace`'s (`-i`'s) value is optional, glued (`--replace=X`) or the next
    // word unless that is an option or `--`: `--replace echo {}` makes
    // `echo` the replacement string and runs `{} a`.
    for args in [
        &["-k", "--replace", "echo", "{}", ":::", "a"][..],
        &["-k", "--replace", "X", "echo", "X", ":::", "a", "b"],
        &["-k", "--replace=X", "echo", "X", ":::", "a"],
        &["-k", "--replace", "--", "echo", "{}", ":::", "a"],
        &["--replace", "-k", "echo", "{}", ":::", "a"],
        // `-i` is the same option: `-i X`, `-iX`, and `-i` before an
        // option or `--` is `{}`.
        &["-k", "-i", "X", "echo", "X", "{}", ":::", "a"],
        &["-k", "-iX", "echo", "X", "{}", ":::", "a"],
        &["-i", "-k", "echo", "{}", ":::", "a"],
        &["-k", "-i", "--", "echo", "{}", ":::", "a"],
        &["-k", "-i", "-", "echo", "-", ":::", "a"],
    ] {
        super::gnu::same_as_gnu(args, b"");
    }
    let r = run(&["-k", "--replace", "X", "echo", "X", ":::", "a", "b"]);
    assert_eq!((r.lines(), r.code), (vec!["a", "b"], 0), "{}", r.stderr);
}

#[test]
fn an_unpositioned_expression_with_n2_keeps_what_it_measured_as_gnu_parallel() {
    // GNU measures each record as it joins the line, `@arg` the line so
    // far, and keeps a true value: the first copy is what the first
    // record measured (`1+`), the second sees both.
    let expr = "{= $_ = join \"+\", @arg[1..2] =}";
    let r = super::gnu::same_as_gnu(&["-k", "-N2", "echo", expr, ":::", "1", "2", "3", "4"], b"");
    assert_eq!((r.stdout.as_str(), r.code), ("1+ 1+2\n3+ 3+4\n", 0), "{}", r.stderr);
}
