//! Invocation: options from `$PARALLEL`, `~/.parallel/config` and `-J`
//! profiles, and the options that answer and exit, each compared with
//! GNU parallel (installed by `.ci/run`) run the same way.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Dir, Run, command};

/// `forkpool ARGS` with `HOME` set to `home` and no option source of the
/// test runner's own.
fn forkpool_in(home: &Path, args: &[&str]) -> Command {
    let mut cmd = command(args);
    isolate(&mut cmd, home);
    cmd
}

/// GNU parallel, run the same way.
fn gnu_in(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("parallel");
    cmd.args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash");
    isolate(&mut cmd, home);
    cmd
}

fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home);
    for var in [
        "PARALLEL",
        "PARALLEL_HOME",
        "PARALLEL_CSH",
        "PARALLEL_ENV",
        "XDG_CONFIG_HOME",
        "XDG_CONFIG_DIRS",
        "XDG_CACHE_HOME",
        "PARALLEL_CPUINFO",
        "PARALLEL_LSCPU",
        "PARALLEL_CPUPREFIX",
    ] {
        cmd.env_remove(var);
    }
}

fn output(mut cmd: Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs `configure(command)` for both programs; asserts the same stdout
/// and exit status, and returns forkpool's run.
fn same_as_gnu(home: &Path, args: &[&str], configure: impl Fn(&mut Command)) -> Run {
    let mut ours = forkpool_in(home, args);
    configure(&mut ours);
    let mut theirs = gnu_in(home, args);
    configure(&mut theirs);
    let (ours, theirs) = (output(ours), output(theirs));
    assert_eq!(
        (ours.stdout.as_str(), ours.code),
        (theirs.stdout.as_str(), theirs.code),
        "forkpool {args:?} differs from GNU parallel\nours: {}\ntheirs: {}",
        ours.stderr,
        theirs.stderr
    );
    ours
}

fn home() -> Dir {
    let d = Dir::new();
    std::fs::create_dir(d.path(".parallel")).unwrap();
    d
}

#[test]
fn parallel_variable_adds_options_and_words_before_the_command() {
    let h = home();
    let env = |value: &'static str| {
        move |c: &mut Command| {
            c.env("PARALLEL", value);
        }
    };
    // The documented `-kvj1`-style bundles, and words after the options
    // going in front of the command.
    let r = same_as_gnu(h.0.path(), &[":::", "a", "b"], env("-kj1 echo P"));
    assert_eq!(r.lines(), ["P a", "P b"]);
    // Backslash-escaped spaces keep a word whole, as the man page shows.
    let r = same_as_gnu(h.0.path(), &["-k", ":::", "x"], env("--tagstring my\\ tag echo"));
    assert_eq!(r.stdout, "my tag\tx\n");
    // The command line wins over $PARALLEL.
    let r = same_as_gnu(
        h.0.path(),
        &["--tagstring", "B", "echo", ":::", "x"],
        env("--tagstring A"),
    );
    assert_eq!(r.stdout, "B\tx\n");
}

#[test]
fn option_files_then_the_variable_then_the_command_line() {
    let h = home();
    std::fs::write(
        h.path(".parallel/config"),
        "# options for every run\n--tagstring C\n  # indented comment\n-k\n",
    )
    .unwrap();
    let r = same_as_gnu(h.0.path(), &["echo", ":::", "a", "b"], |_| {});
    assert_eq!(r.stdout, "C\ta\nC\tb\n");
    let r = same_as_gnu(h.0.path(), &["echo", ":::", "a", "b"], |c| {
        c.env("PARALLEL", "--tagstring E");
    });
    assert_eq!(r.stdout, "E\ta\nE\tb\n");
    // --plain: none of it.
    let r = same_as_gnu(h.0.path(), &["--plain", "echo", ":::", "a"], |c| {
        c.env("PARALLEL", "--tagstring E");
    });
    assert_eq!(r.stdout, "a\n");
    // $PARALLEL_HOME's config is read first, then ~/.parallel's, and the
    // files' words make one list: options end at the first other word,
    // whichever file it is in (so ~/.parallel/config's options become part
    // of the command here, as with GNU parallel).
    let other = h.path("elsewhere");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("config"), "--tagstring H echo H\n").unwrap();
    let r = same_as_gnu(h.0.path(), &["X", ":::", "a"], |c| {
        c.env("PARALLEL_HOME", &other);
    });
    assert_eq!(r.stdout, "H\tH --tagstring C -k X a\n");
}

#[test]
fn profiles_replace_the_config_and_can_be_paths() {
    let h = home();
    std::fs::write(h.path(".parallel/config"), "--tagstring C\n").unwrap();
    std::fs::write(h.path(".parallel/prof"), "-k\necho P\n").unwrap();
    let r = same_as_gnu(h.0.path(), &["-J", "prof", ":::", "a", "b"], |_| {});
    assert_eq!(r.stdout, "P a\nP b\n");
    let path = h.file("abs_prof", "--tagstring T\n");
    let r = same_as_gnu(h.0.path(), &["--profile", &path, "-J", "prof", "Q", ":::", "a"], |_| {});
    assert_eq!(r.stdout, "T\tP Q a\n");
    // ./NAME is relative to the current directory.
    let mut ours = forkpool_in(h.0.path(), &["-J", "./abs_prof", "echo", ":::", "z"]);
    ours.current_dir(h.0.path());
    assert_eq!(output(ours).stdout, "T\tz\n");
}

#[test]
fn bad_option_sources_get_a_one_line_error_and_255() {
    let h = home();
    let marker = h.s("ran");
    let job = format!("touch {marker}");
    std::fs::write(h.path(".parallel/broken"), "--tag 'unclosed\n").unwrap();
    for (args, parallel, needle) in [
        (vec!["-J", "nosuch", &job, ":::", "a"], None, "nosuch not readable."),
        (
            vec!["-J", "/no/such/file", &job, ":::", "a"],
            None,
            "/no/such/file not readable.",
        ),
        (
            vec![&job, ":::", "a"],
            Some("--tag 'a b"),
            "$PARALLEL has an unclosed '",
        ),
        (
            vec![&job, ":::", "a"],
            Some("-j"),
            "$PARALLEL: Option j requires an argument",
        ),
        (
            vec![&job, ":::", "a"],
            Some("--no-such"),
            "$PARALLEL: Unknown option: no-such",
        ),
        (
            vec!["-J", "broken", &job, ":::", "a"],
            None,
            "broken line 1: an unclosed '",
        ),
        (
            vec!["--minversion", "x1", &job],
            None,
            "Value \"x1\" invalid for option minversion",
        ),
    ] {
        let mut cmd = forkpool_in(h.0.path(), &args);
        if let Some(value) = parallel {
            cmd.env("PARALLEL", value);
        }
        let r = output(cmd);
        assert_eq!(r.code, 255, "{args:?} {parallel:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(
            // Getopt::Long's words on the command line stand alone, as GNU
            // parallel prints them.
            (r.stderr.starts_with("forkpool: Error: ") || r.stderr.starts_with("Value \""))
                && r.stderr.contains(needle),
            "{args:?} {parallel:?}: {}",
            r.stderr
        );
        assert!(!Path::new(&marker).exists(), "{args:?} ran a job");
    }
}

/// `/proc/cpuinfo` of a two-socket machine with hyperthreading.
const CPUINFO: &str = "processor : 0\nphysical id : 0\ncore id : 0\n\
                       processor : 1\nphysical id : 0\ncore id : 1\n\
                       processor : 2\nphysical id : 1\ncore id : 0\n\
                       processor : 3\nphysical id : 1\ncore id : 1\n\
                       processor : 4\nphysical id : 0\ncore id : 0\n\
                       processor : 5\nphysical id : 0\ncore id : 1\n\
                       processor : 6\nphysical id : 1\ncore id : 0\n\
                       processor : 7\nphysical id : 1\ncore id : 1\n";

#[test]
fn cpu_counts_as_gnu_parallel_counts_them() {
    let h = home();
    for (option, expected) in [
        ("--number-of-sockets", "2\n"),
        ("--number-of-cores", "4\n"),
        ("--number-of-cpus", "4\n"),
        ("--number-of-threads", "8\n"),
    ] {
        let r = same_as_gnu(h.0.path(), &[option], |c| {
            c.env("PARALLEL_CPUINFO", CPUINFO);
        });
        assert_eq!((r.stdout.as_str(), r.code), (expected, 0), "{option}");
    }
    // Several at once: the first in GNU parallel's order answers.
    let r = same_as_gnu(h.0.path(), &["--number-of-threads", "--number-of-sockets"], |c| {
        c.env("PARALLEL_CPUINFO", CPUINFO);
    });
    assert_eq!(r.stdout, "2\n");
    // And this machine, read from sysfs by us and from lscpu by GNU.
    for option in ["--number-of-sockets", "--number-of-cores", "--number-of-threads"] {
        let r = same_as_gnu(h.0.path(), &[option], |_| {});
        assert!(r.stdout.trim().parse::<usize>().unwrap() >= 1);
    }
}

#[test]
fn command_line_limits_as_gnu_parallel_finds_them() {
    let h = home();
    let r = same_as_gnu(h.0.path(), &["--max-line-length-allowed"], |_| {});
    assert_eq!(r.stdout, "130329\n", "Linux with 4 KiB pages");
    // --show-limits prints, then runs as usual.
    let r = same_as_gnu(h.0.path(), &["--show-limits", "echo", ":::", "ran"], |_| {});
    assert_eq!(
        r.stdout,
        "Maximal size of command: 130329\nMaximal usable size of command: 63664\n\n\
         Execution will continue now, and it will try to read its input\n\
         and run commands; if this is not what you wanted to happen, please\n\
         press CTRL-D or CTRL-C\nran\n"
    );
}

#[test]
fn minversion_prints_the_version_and_compares() {
    let h = home();
    for (version, code) in [
        ("20221122", 0),
        ("20170422", 0),
        ("0", 0),
        ("20221123", 255),
        ("30000101", 255),
    ] {
        let r = same_as_gnu(h.0.path(), &["--minversion", version], |_| {});
        assert_eq!((r.stdout.as_str(), r.code), ("20221122\n", code), "{version}");
    }
    // The documented use.
    let r = output(forkpool_in(h.0.path(), &["--minversion", "20170422"]));
    assert_eq!(r.code, 0);
}

#[test]
fn version_names_forkpool_and_passes_the_gnu_parallel_check() {
    let h = home();
    let r = output(forkpool_in(h.0.path(), &["--version"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!(
            "forkpool {} (GNU parallel 20221122 compatible)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // How scripts tell GNU parallel from other programs named `parallel`.
    let gnu = output(gnu_in(h.0.path(), &["--version"]));
    assert!(
        gnu.stdout.lines().next().unwrap_or("").contains("GNU parallel"),
        "{gnu:?}"
    );
    assert!(r.stdout.contains("GNU parallel"));
}

#[test]
fn tollef_is_retired_unless_gnu_overrides_it() {
    let h = home();
    let r = same_as_gnu(h.0.path(), &["--tollef", "echo", ":::", "a"], |_| {});
    assert_eq!((r.stdout.as_str(), r.code), ("", 255));
    assert_eq!(
        r.stderr,
        "forkpool: Error: --tollef has been retired.\n\
         forkpool: Error: Remove --tollef or use --gnu to override --tollef.\n"
    );
    let r = same_as_gnu(h.0.path(), &["--tollef", "--gnu", "echo", ":::", "a"], |_| {});
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 0));
    let r = same_as_gnu(h.0.path(), &["--gnu", "echo", ":::", "a"], |_| {});
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 0));
    // Retired in an option file too.
    let r = output({
        let mut c = forkpool_in(h.0.path(), &["echo", ":::", "a"]);
        c.env("PARALLEL", "--tollef");
        c
    });
    assert_eq!(r.code, 255, "{r:?}");
}

#[test]
fn will_cite_is_accepted_in_all_its_spellings() {
    let h = home();
    for option in ["--will-cite", "--willcite", "--no-notice", "--nonotice", "--nn"] {
        let r = same_as_gnu(h.0.path(), &[option, "echo", ":::", "a"], |_| {});
        assert_eq!(
            (r.stdout.as_str(), r.stderr.as_str(), r.code),
            ("a\n", "", 0),
            "{option}"
        );
    }
}

#[test]
fn citation_prints_the_bibtex_entry_and_asks_once() {
    let h = home();
    // No will-cite yet: the entry on stderr, then the prompt on stdout;
    // the end of the input before `will cite` is exit status 255.
    let r = output(forkpool_in(h.0.path(), &["--citation"]));
    assert_eq!(r.code, 255, "{r:?}");
    assert_eq!(r.stdout, "\nType: 'will cite' and press enter.\n> ");
    assert!(r.stderr.contains("@software{tange_2022_7347980,"), "{}", r.stderr);
    assert!(r.stderr.contains("(Feel free to use \\nocite{tange_2022_7347980})"));
    // Typing it saves ~/.parallel/will-cite (the file GNU parallel reads).
    let mut child = forkpool_in(h.0.path(), &["--bibtex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"maybe\nI Will Cite\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("Type: 'will cite'").count(),
        2,
        "asked again after 'maybe'"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("THANK YOU SO MUCH"));
    assert!(h.path(".parallel/will-cite").exists());
    // From now on: the entry, no question.
    let r = output(forkpool_in(h.0.path(), &["--citation"]));
    assert_eq!((r.stdout.as_str(), r.code), ("", 0));
    assert!(r.stderr.starts_with("Academic tradition requires you to cite works"));
    // Anything else on the line is ignored, with GNU parallel's warning.
    let r = output(forkpool_in(h.0.path(), &["--citation", "echo", ":::", "a"]));
    assert_eq!((r.stdout.as_str(), r.code), ("", 0));
    assert!(
        r.stderr
            .starts_with("forkpool: Warning: --citation ignores all other options and arguments.\n\n")
    );
}

#[test]
fn errors_and_warnings_are_worded_as_gnu_parallels() {
    let h = home();
    // Linked as `parallel`, the text is GNU parallel's to the byte.
    let link = h.path("parallel");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forkpool"), &link).unwrap();
    let ours = output({
        let mut c = Command::new(&link);
        c.args(["--halt", "bogus", "echo", ":::", "a"]);
        isolate(&mut c, h.0.path());
        c
    });
    let theirs = output(gnu_in(h.0.path(), &["--halt", "bogus", "echo", ":::", "a"]));
    assert_eq!(
        ours.stderr,
        "parallel: Error: --halt must have 'never', 'soon', or 'now'.\n"
    );
    assert_eq!((ours.stderr.as_str(), ours.code), (theirs.stderr.as_str(), theirs.code));
    // Unknown options: GNU parallel's words, on one line.
    let r = output(forkpool_in(h.0.path(), &["--no-such-option", "echo"]));
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("Unknown option: no-such-option"), "{}", r.stderr);
}

#[test]
fn long_options_may_be_abbreviated_and_in_any_case_as_with_getopt_long() {
    let h = home();
    let d = Dir::new();
    let five = d.file("five", "1\n2\n3\n4\n5\n");
    let cases: &[&[&str]] = &[
        // Unique prefixes, any case, GNU's other spellings, `--name=value`.
        &["--keep-ord", "-j2", "echo", ":::", "b", "a"],
        &["--Keep-Order", "-j2", "echo", ":::", "b", "a"],
        &["--dry", "echo", ":::", "a"],
        &["--tagstr=T", "--tag", "echo", ":::", "a"],
        &["--tag-string", "T", "--tag", "echo", ":::", "a"],
        &["--halt-on", "now,fail=1", "-j1", "exit", ":::", "0", "3", "0"],
        &["--argfile", &five, "-k", "echo"],
        &["--maxargs", "2", "-k", "echo", ":::", "1", "2", "3"],
        &[
            "--maxprocs",
            "1",
            "--maxreplaceargs",
            "2",
            "echo",
            "{2}{1}",
            ":::",
            "a",
            "b",
        ],
        &["--col-sep", ",", "echo", "{2}", ":::", "a,b"],
        &["--linebuffer", "echo", ":::", "a"],
        &["--line-buffered", "echo", ":::", "a"],
        // A letter is the option of that letter, not a prefix.
        // (Lowercased first, as Getopt::Long does: `--X` is `-x`.)
        &["--j", "1", "--X", "-k", "echo", ":::", "a", "b"],
        &["--J", "1", "--m", "-k", "echo", ":::", "a", "b"],
        &["--0", "-k", "echo"],
        &["--n=1", "-k", "echo", ":::", "a", "b"],
        // A value that looks like an abbreviated option is still a value.
        &["--tagstring", "--dry", "--tag", "echo", ":::", "a"],
        // An abbreviation that takes a value takes the next word.
        &["--colse", ",", "-k", "echo", "{2}", ":::", "a,b", "c,d"],
    ];
    for args in cases {
        same_as_gnu(h.0.path(), args, |_| {});
    }
    // Ambiguous: GNU's words, as Perl warns them (it prints its usage
    // after them, on standard output; we print the one line, as for an
    // unknown option), and 255
    // before any job.
    for args in [&["--jo", "x", "echo", ":::", "a"][..], &["--re", "echo", ":::", "a"]] {
        let ours = output(forkpool_in(h.0.path(), args));
        let theirs = output(gnu_in(h.0.path(), args));
        assert_eq!((ours.code, theirs.code), (255, 255), "{args:?}");
        assert_eq!(ours.stdout, "");
        let gnu_line = theirs.stderr.lines().next().unwrap_or_default();
        assert_eq!(ours.stderr, format!("{gnu_line}\n"));
    }
    let r = output(forkpool_in(h.0.path(), &["--jo", "x", "echo", ":::", "a"]));
    assert_eq!(r.stderr, "Option jo is ambiguous (joblog, jobs)\n");
    // `--name=` with nothing after the `=`: no value, for an option that
    // must have one, named as GNU names it (as typed, lowercased; an
    // abbreviation by the option's name).
    for word in [
        "--tagstring=",
        "--tagstr=",
        "--Tagstring=",
        "--groupby=",
        "--jobs=",
        "--colsep=",
        // And a value for an option that takes none.
        "--tag=",
        "--tag=yes",
        "--keep-ord=",
        "--verbose=1",
    ] {
        let args = [word, "echo", ":::", "a"];
        let ours = output(forkpool_in(h.0.path(), &args));
        let theirs = output(gnu_in(h.0.path(), &args));
        assert_eq!((ours.code, theirs.code), (255, 255), "{args:?}");
        assert_eq!(ours.stdout, "", "{args:?}");
        let gnu_line = theirs.stderr.lines().next().unwrap_or_default();
        assert!(
            gnu_line.ends_with("requires an argument") || gnu_line.ends_with("does not take an argument"),
            "{gnu_line}"
        );
        assert_eq!(ours.stderr, format!("{gnu_line}\n"));
    }
    // In $PARALLEL too.
    same_as_gnu(h.0.path(), &["echo", ":::", "b", "a"], |c| {
        c.env("PARALLEL", "--keep-ord -j2");
    });
}

#[test]
fn an_option_that_must_have_a_value_takes_the_next_word_whatever_it_looks_like() {
    let h = home();
    // As Getopt::Long: the value of --tagstring is `--tag`, of --joblog
    // `-k` (a file of that name).
    let r = same_as_gnu(
        h.0.path(),
        &["--tagstring", "--tag", "--tag", "echo", ":::", "a"],
        |_| {},
    );
    assert_eq!(r.stdout, "--tag\ta\n");
    let d = Dir::new();
    let r = same_as_gnu(h.0.path(), &["--joblog", "-k", "echo", ":::", "a"], |c| {
        c.current_dir(d.0.path());
    });
    assert_eq!(r.stdout, "a\n");
    assert!(d.path("-k").exists());
    // GNU's arithmetic makes no delay of a negative or empty one.
    for delay in ["-1", "", "1e-3"] {
        same_as_gnu(h.0.path(), &["--delay", delay, "-k", "echo", ":::", "a", "b"], |_| {});
    }
    // A negative number is the option's value, not an unknown option `-1`:
    // a one-line error that names it (GNU parallel runs these silently or
    // trips over them later; see the README). (`--timeout -1` is GNU's
    // own error, in its words: see `gnu_options`.)
    // (`-n -1` is a number GNU reads, as one: see `xargs`.)
    for option in ["--retries", "--memfree"] {
        let r = output(forkpool_in(h.0.path(), &[option, "-1", "echo", ":::", "a"]));
        assert_eq!((r.stdout.as_str(), r.code), ("", 255), "{option}");
        assert!(
            r.stderr.contains(option) && r.stderr.contains("-1"),
            "{option}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("Unknown option"), "{option}: {}", r.stderr);
    }
    let r = output(forkpool_in(h.0.path(), &["--timeout", "-1", "echo", ":::", "a"]));
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("forkpool: Error: --timeout must be seconds or percentage.\n", 255)
    );
}
