//! The rest of GNU parallel's single-machine options: `--color`, `--ctag`,
//! `--color-failed`, `--no-keep-order`, `--haltonerror`, `--template`,
//! `--cleanup`, `--resume-failed` with a changed command, and the
//! options forkpool leaves out on purpose.

use super::gnu::{gnu_with, same_as_gnu, same_as_gnu_with_messages};
use super::*;

#[test]
fn color_paints_each_jobs_lines_as_gnu_parallel() {
    let r = same_as_gnu(&["--color", "-k", "echo", ":::", "a", "b"], b"");
    assert_eq!(
        r.stdout,
        "\x1b[48;5;134;38;5;231m\x1b[Ka\x1b[m\n\x1b[48;5;021;38;5;231m\x1b[Kb\x1b[m\n"
    );
    for args in [
        &["--color-failed", "-k", "echo {}; exit {}", ":::", "0", "1"][..],
        &["--color", "--tag", "-k", "printf 'x\\ry'", ":::", "a"],
        &[
            "--color",
            "--color-failed",
            "-k",
            "echo {}; exit {}",
            ":::",
            "0",
            "1",
            "0",
        ],
        &["--colour", "-k", "echo {}; echo e{} >&2", ":::", "1", "2"],
        &["--color", "--lb", "-k", "echo {}", ":::", "1", "2"],
        &["--color", "--tagstring", "T{}", "-k", "echo {}", ":::", "1", "2"],
        &["--cf", "-k", "printf {}; exit 1", ":::", "1"],
        &["--color", "-u", "-j1", "echo {}", ":::", "1", "2"],
    ] {
        same_as_gnu(args, b"");
    }
}

#[test]
fn no_keep_order_and_aliases() {
    // Job 5 ends only after job 1 has ended and been reaped (it waits for
    // job 1's file, then until job 1's pid is gone: a zombie still answers
    // `kill -0`), whatever the machine's load: without -k, 1 comes first,
    // for GNU parallel too (which, loaded, could see both end in one look
    // when job 5 waited only for the file).
    let d = Dir::new();
    let (go, pid) = (d.s("go"), d.s("pid"));
    let job = format!(
        "if [ {{}} = 5 ]; then while [ ! -e {go} ]; do sleep 0.01; done; \
         while kill -0 $(cat {pid}) 2>/dev/null; do sleep 0.01; done; fi; \
         echo {{}}; if [ {{}} = 1 ]; then echo $$ > {pid}; touch {go}; fi"
    );
    for option in ["--no-keep-order", "--nok"] {
        let _ = std::fs::remove_file(&go);
        let ours = run(&["-k", option, "-j2", &job, ":::", "5", "1"]);
        let _ = std::fs::remove_file(&go);
        let theirs = super::gnu::gnu_with(&["-k", option, "-j2", &job, ":::", "5", "1"], b"");
        assert_eq!(
            (ours.stdout.as_str(), ours.code),
            ("1\n5\n", 0),
            "{option}: {}",
            ours.stderr
        );
        assert_eq!((theirs.stdout.as_str(), theirs.code), ("1\n5\n", 0), "GNU {option}");
    }
    let r = same_as_gnu(&["--haltonerror", "1", "-j1", "exit {}", ":::", "0", "1", "0"], b"");
    assert_eq!(r.code, 1);
}

#[test]
fn a_template_without_a_name_or_from_a_directory_is_taken_as_in_gnu_parallel() {
    // `--template` is Getopt::Long's hash option: a value with no `=` is
    // its warning (each one, unless another option is bad: GNU parallel's
    // first read of its options stops at that one), exit 255. (GNU prints
    // its usage on stdout too: the README's differences.)
    let d = Dir::new();
    let file = d.file("t", "T {}\n");
    for args in [
        &["--template", &file, "cat", "out", ":::", "a"][..],
        &["--tmpl=x", "echo"],
        &["--templ", "x", "--tmpl", "y", "echo"],
        &["--tmpl", "", "echo"],
        &["--tmpl", "x", "--nosuch", "echo"],
        &["--nice", "x", "--tmpl", "x", "echo"],
        &["--template="],
    ] {
        super::gnu::getopt_refuses_as_gnu(args);
    }
    // A directory opens, and reads as nothing: an empty file per job.
    let name = d.s("out{}");
    let r = same_as_gnu_with_messages(
        &["-k", "--tmpl", &format!("{}={name}", d.s("")), "cat", &name, ":::", "a"],
        b"",
    );
    assert_eq!((r.stdout.as_str(), r.code), ("", 0));
    // A missing file, as GNU says it.
    same_as_gnu_with_messages(&["--tmpl", &format!("{}=x", d.s("none")), "echo", ":::", "a"], b"");
}

#[test]
fn a_template_file_given_twice_is_written_to_the_last_name_only_as_in_gnu() {
    // GNU keeps --template in a hash keyed by the template file: the last
    // NAME for a FILE wins, the others are never written.
    let d = Dir::new();
    let tpl = d.file("tpl", "T{}\n");
    let (out, o2) = (d.s("out"), d.s("o2"));
    let job = format!("cat {out}{{#}} {o2}{{}}");
    let args = [
        "-k",
        "--template",
        &format!("{tpl}={out}{{#}}"),
        "--template",
        &format!("{tpl}={o2}{{}}"),
        &job,
        ":::",
        "a",
        "b",
    ];
    let r = same_as_gnu(&args, b"");
    assert_eq!((r.stdout.as_str(), r.code), ("Ta\nTb\n", 2), "{r:?}");
    assert!(!d.path("out1").exists() && d.path("o2a").exists());
    // Two template files each write their own.
    let other = d.file("other", "O{}\n");
    let job = format!("cat {out}{{#}} {o2}{{}}");
    let args = [
        "-k",
        "--tmpl",
        &format!("{tpl}={out}{{#}}"),
        "--tmpl",
        &format!("{other}={o2}{{}}"),
        &job,
        ":::",
        "a",
    ];
    let r = same_as_gnu(&args, b"");
    assert_eq!((r.stdout.as_str(), r.code), ("Ta\nOa\n", 0), "{r:?}");
}

#[test]
fn a_template_that_cannot_be_written_exits_with_the_errno_as_gnu_dies() {
    // GNU parallel's `open(...) || die` exits with the errno and says only
    // "Died at /usr/bin/parallel line NNNN."; forkpool exits with the same
    // status and says what it could not write (the README's differences).
    let d = Dir::new();
    let tpl = d.file("tpl", "T{}\n");
    for (name, errno, reason) in [
        (d.s("sub/out{}"), 2, "No such file or directory"),
        ("/dev/null/x".to_owned(), 20, "Not a directory"),
        (".".to_owned(), 21, "Is a directory"),
        (String::new(), 2, "No such file or directory"),
    ] {
        let template = format!("{tpl}={name}");
        let r = same_as_gnu(
            &["-j1", "-k", "--template", &template, "echo job {}", ":::", "a", "b"],
            b"",
        );
        assert_eq!((r.stdout.as_str(), r.code), ("", errno), "{name}: {r:?}");
        assert!(
            r.stderr.starts_with("forkpool: Error: --template cannot write ")
                && r.stderr.ends_with(&format!(": {reason}\n")),
            "{name}: {}",
            r.stderr
        );
    }
    // The jobs before the one whose template fails ran, as in GNU.
    let template = format!("{tpl}={{}}");
    let first = d.s("first");
    let r = same_as_gnu(
        &[
            "-j1",
            "-k",
            "--template",
            &template,
            "echo job {#} #",
            ":::",
            &first,
            "/dev/null/x",
            "c",
        ],
        b"",
    );
    assert_eq!((r.stdout.as_str(), r.code), ("job 1\n", 20), "{r:?}");
}

#[test]
fn template_writes_a_file_per_job_and_cleanup_removes_it() {
    let d = Dir::new();
    let tmpl = d.file("my.tmpl", "Xval: {x}\nYval: {y}\nFixed: 9\n");
    let name = format!("{}/{{#}}.t", d.s("out"));
    std::fs::create_dir(d.path("out")).unwrap();
    let job = format!("cat {}/{{#}}.t", d.s("out"));
    let args = [
        "-k",
        "--header",
        ":",
        "--tmpl",
        &format!("{tmpl}={name}"),
        &job,
        ":::",
        "x",
        "1.2",
        "2.3",
        ":::",
        "y",
        "1",
    ];
    let r = same_as_gnu(&args, b"");
    assert_eq!(r.stdout, "Xval: 1.2\nYval: 1\nFixed: 9\nXval: 2.3\nYval: 1\nFixed: 9\n");
    assert!(d.path("out/1.t").exists() && d.path("out/2.t").exists());
    std::fs::remove_dir_all(d.path("out")).unwrap();
    std::fs::create_dir(d.path("out")).unwrap();
    let mut with_cleanup = vec!["--cleanup"];
    with_cleanup.extend_from_slice(&args);
    let r = run(&with_cleanup);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!d.path("out/1.t").exists(), "--cleanup removes it");
    let r = same_as_gnu(&["--tmpl", "/no/such/file=x", "echo", ":::", "a"], b"");
    assert_eq!(r.stderr, "forkpool: Error: Cannot open '/no/such/file'.\n");
    let r = same_as_gnu(&["--cleanup", "echo", ":::", "a"], b"");
    assert_eq!(
        r.stderr,
        "forkpool: Warning: --cleanup ignored as there are no remote --sshlogin.\n"
    );
}

#[test]
fn resume_failed_runs_failed_jobs_with_the_new_command() {
    let d = Dir::new();
    // A first run (jobs 1 and 3 fail), then --resume-failed with a new
    // command and a fifth job: the standard output and the joblog.
    let pair = |log: &str, runner: &dyn Fn(&[&str]) -> Run| {
        let _ = std::fs::remove_file(log);
        runner(&[
            "--joblog",
            log,
            "-k",
            "echo {}; exit $(( {} % 2 ))",
            ":::",
            "1",
            "2",
            "3",
            "4",
        ]);
        let r = runner(&[
            "--resume-failed",
            "--joblog",
            log,
            "-k",
            "echo new {}",
            ":::",
            "1",
            "2",
            "3",
            "4",
            "5",
        ]);
        let joblog = std::fs::read_to_string(log).unwrap_or_default();
        (r.stdout, r.code, joblog)
    };
    let expected = ("new 1\nnew 3\nnew 5\n", 0);
    let ours = d.s("ours");
    let (stdout, code, joblog) = pair(&ours, &|a| run(a));
    assert_eq!((stdout.as_str(), code), expected, "{joblog}");
    // GNU parallel on a loaded machine sometimes runs only the first
    // failed job again (its joblog then has one new row): the reference
    // is a run of GNU's that does what its manual says.
    let theirs = d.s("theirs");
    let gnu_did_as_documented = (0..3).any(|_| {
        let (stdout, code, _) = pair(&theirs, &|a| super::gnu::gnu_with(a, b""));
        (stdout.as_str(), code) == expected
    });
    assert!(gnu_did_as_documented, "GNU parallel never ran jobs 1, 3 and 5");
    let rows = |p: &str| -> Vec<String> { super::joblog_rows(Path::new(p)).iter().map(|r| r[8].clone()).collect() };
    assert_eq!(rows(&ours), rows(&theirs));
}

#[test]
fn shell_completion_offers_gnu_parallels_options_that_forkpool_takes() {
    let words = |stdout: &str| -> Vec<String> {
        let list = stdout.split('"').nth(1).unwrap_or_default();
        list.split_whitespace().map(str::to_owned).collect()
    };
    let ours = words(&run(&["--shell-completion", "bash"]).stdout);
    let theirs = words(&super::gnu::gnu_with(&["--shell-completion", "bash"], b"").stdout);
    // Each of GNU's names is ours too, unless forkpool refuses the option
    // (the retired ones, `--sql`, `--tmux`...: the README).
    for name in theirs.iter().filter(|n| !ours.contains(n)) {
        let r = run(&[name, "x", "echo", ":::", "a"]);
        assert_eq!(r.code, 255, "{name} is not completed but taken: {r:?}");
        assert!(!r.stderr.contains("Unknown option"), "{name}: {}", r.stderr);
    }
    for name in [
        "--bug",
        "--session",
        "--help",
        "-h",
        "--version",
        "-V",
        "--maxargs",
        "--willcite",
    ] {
        assert!(ours.iter().any(|n| n == name), "{name} is not completed");
    }
    // And ours are GNU's but for forkpool's own options.
    let own = [
        "--bibtex",
        "--citation",
        "--files0",
        "--no-controlmaster",
        "--opentty",
        "--shebang-wrap",
        "--shebangwrap",
        "--slurm",
    ];
    let extra: Vec<&String> = ours.iter().filter(|n| !theirs.contains(n)).collect();
    assert!(extra.iter().all(|n| own.contains(&n.as_str())), "{extra:?}");
}

#[test]
fn of_the_options_that_answer_and_exit_the_one_gnu_answers_wins() {
    // GNU parallel answers --bug, then --help, then --shell-completion,
    // then --number-of-cpus (and the like), then --version, whatever
    // their order on the command line.
    let singles: [&[&str]; 6] = [
        &["--bug"],
        &["--help"],
        &["--shell-completion", "bash"],
        &["--number-of-cpus"],
        &["--max-line-length-allowed"],
        &["--version"],
    ];
    let ours: Vec<Run> = singles.iter().map(|a| run(a)).collect();
    let theirs: Vec<Run> = singles.iter().map(|a| super::gnu::gnu_with(a, b"")).collect();
    let which = |runs: &[Run], r: &Run| {
        runs.iter()
            .position(|s| (&s.stdout, &s.stderr, s.code) == (&r.stdout, &r.stderr, r.code))
    };
    for (i, a) in singles.iter().enumerate() {
        for b in &singles[i + 1..] {
            for args in [[*a, *b].concat(), [*b, *a].concat()] {
                let answered = which(&ours, &run(&args));
                assert!(answered.is_some(), "{args:?}");
                assert_eq!(answered, which(&theirs, &super::gnu::gnu_with(&args, b"")), "{args:?}");
            }
        }
    }
    // A bad shell is refused before --version too.
    let args = ["--version", "--shell-completion", "fish"];
    same_as_gnu_with_messages(&args, b"");
}

#[test]
fn shell_completion_completes_the_options_in_bash() {
    let r = run(&["--shell-completion", "bash"]);
    assert_eq!(r.code, 0);
    // The code works in bash: completing "--dry" offers the dry-run forms.
    let script = format!(
        "{}\nCOMP_WORDS=(forkpool --dry); COMP_CWORD=1; _comp_forkpool; echo \"${{COMPREPLY[@]}}\"",
        r.stdout
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "--dry-run --dryrun\n");
    let zsh = run(&["--shell-completion", "zsh"]);
    assert!(
        zsh.stdout.starts_with("compdef _comp_forkpool forkpool;"),
        "{}",
        zsh.stdout
    );
    let r = run(&["--shell-completion", "fish"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            255,
            "forkpool: Error: --shellcompletion is not implemented for 'fish'.\n"
        )
    );
}

#[test]
fn options_left_out_on_purpose_say_so() {
    for (args, flag) in [
        (&["--sqlmaster", "sqlite3:///%2Ftmp%2Fdb/t", "echo"][..], "--sqlmaster"),
        (&["--sqlworker", "csv:///%2Ftmp/t", "echo"], "--sqlworker"),
        (&["--tmux", "echo", ":::", "a"], "--tmux"),
        (&["--embed"], "--embed"),
        (&["--ll", "echo", ":::", "a"], "--latest-line"),
    ] {
        let r = run(args);
        assert_eq!((r.code, r.stdout.as_str()), (255, ""), "{args:?}");
        assert!(
            r.stderr
                .starts_with(&format!("forkpool: Error: {flag} is not supported by forkpool: ")),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn embed_is_refused_wherever_gnu_parallel_would_print_its_script() {
    // GNU parallel answers --embed (its Perl source in a bash script)
    // before --version, the counts and the options refused here; forkpool
    // refuses it there, so a script redirecting it gets nothing to run.
    for args in [
        &["--embed"][..],
        &["--version", "--embed"],
        &["--embed", "-V"],
        &["--embed", "--number-of-cpus"],
        &["--embed", "--minversion", "1"],
        &["--embed", "--tmux"],
        &["--embed", "echo", ":::", "a"],
    ] {
        let theirs = gnu_with(args, b"");
        assert!(
            theirs.stdout.starts_with("#!") && theirs.stderr.contains("--embed > new_script"),
            "GNU {args:?}: {theirs:?}"
        );
        let r = run(args);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (
                255,
                "",
                "forkpool: Error: --embed is not supported by forkpool: forkpool is a program, not a script to embed.\n"
            ),
            "{args:?}"
        );
    }
    // --help and --bug come first in both.
    let r = run(&["--embed", "--help"]);
    assert_eq!((r.code, r.stdout.contains("Usage")), (0, true), "{r:?}");
    assert!(gnu_with(&["--embed", "--help"], b"").stdout.starts_with("Usage:"));
    let r = same_as_gnu(&["--embed", "--bug"], b"");
    assert_eq!(r.code, 255);
}

#[test]
fn retired_options_get_gnu_parallels_list_of_them_all() {
    for args in [
        &["-g", "echo", ":::", "a"][..],
        &["-B", "f", "echo", ":::", "a"],
        &["-T", "echo", ":::", "a"],
        &["-U", "x", "echo", ":::", "a"],
        &["-W", "d", "echo", ":::", "a"],
        &["-Y", "echo", ":::", "a"],
        &["-H", "2", "echo", ":::", "a"],
        &["--sql", "x", "echo", ":::", "a"],
        &["--ctrlc", "echo", ":::", "a"],
        &["--noctrlc", "echo", ":::", "a"],
    ] {
        // Both exit 255 before any job, and GNU parallel lists every
        // retired option with what replaced it, whichever was given.
        let r = same_as_gnu_with_messages(args, b"");
        assert_eq!((r.code, r.stdout.as_str()), (255, ""), "{args:?}");
        assert_eq!(r.stderr.lines().count(), 10, "{}", r.stderr);
        assert!(
            r.stderr.contains("forkpool: Error: -U has been retired. Use --er.\n"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn colours_are_gnu_parallels() {
    let r = run(&["-k", "--ctag", "echo", ":::", "a", "b"]);
    assert_eq!(
        r.stdout,
        "\x1b[48;5;134;38;5;231m\x1b[Ka\ta\x1b[m\n\x1b[48;5;021;38;5;231m\x1b[Kb\tb\x1b[m\n"
    );
    let r = run(&["--color", "echo", ":::", "a"]);
    assert_eq!(r.stdout, "\x1b[48;5;134;38;5;231m\x1b[Ka\x1b[m\n");
    let r = run(&["--ctagstring", "{}y", "printf 'a\\nb\\rc'", ":::", "t"]);
    let tag = "\x1b[48;5;134;38;5;231m\x1b[Kty\t";
    assert_eq!(
        r.stdout,
        format!("{tag}a\x1b[m\n{tag}b\x1b[m\r{tag}c\x1b[m\n"),
        "a CR restarts the colour; the last line is closed"
    );
    // -u ignores it, as in GNU parallel.
    assert_eq!(run(&["-u", "--color", "echo", ":::", "a"]).stdout, "a\n");
}

#[test]
fn differences_on_purpose() {
    // -t shows the command as run, without GNU parallel's --env wrapper.
    let r = run(&["-t", "--env", "HOME", "echo", ":::", "a"]);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("a\n", "echo a\n"));
    // --compress leaves --results directories' files plain.
    let d = Dir::new();
    let res = d.s("res");
    let r = run(&["--compress", "--results", &res, "echo", ":::", "a"]);
    assert_eq!(r.code, 0);
    assert_eq!(std::fs::read_to_string(format!("{res}/1/a/stdout")).unwrap(), "a\n");
    // --timeout N% is exact: a job ten times the median's length is
    // stopped at three times it, not at the next whole second. (Wide
    // margins: a loaded machine starts the short jobs late.)
    let r = run(&[
        "-j1",
        "--timeout",
        "300%",
        "sleep {}; echo {}",
        ":::",
        "0.5",
        "0.5",
        "0.5",
        "5",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["0.5", "0.5", "0.5"], 1), "{}", r.stderr);
}
