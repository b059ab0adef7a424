//! `--env` and the variables every remote job gets.

use crate::{Scratch, command, finish, fixture, run};

#[test]
fn named_variables_are_copied_and_others_are_not() {
    let Some(f) = fixture() else { return };
    let mut c = command(
        f,
        &[
            "-S",
            "h1",
            "--env",
            "FP_A,FP_B",
            "echo \"[$FP_A][$FP_B][$FP_C]\"; true {}",
            ":::",
            "1",
        ],
    );
    c.env("FP_A", "it's \"quoted\" $HOME\ttab")
        .env("FP_B", "two\nlines")
        .env("FP_C", "not copied");
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "[it's \"quoted\" $HOME\ttab][two\nlines][]\n");
}

#[test]
fn the_job_variables_are_always_set() {
    let Some(f) = fixture() else { return };
    let r = run(
        f,
        &[
            "-S",
            "1/h2",
            "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT $PARALLEL_SSHLOGIN $PARALLEL_SSHHOST $PARALLEL_PID",
            ":::",
            "a",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let words: Vec<&str> = r.stdout.split_whitespace().collect();
    assert_eq!(&words[..4], ["1", "1", "h2", "h2"]);
    assert!(words[4].parse::<u32>().is_ok(), "{words:?}");
}

#[test]
fn bash_functions_are_defined_remotely() {
    let Some(f) = fixture() else { return };
    if !std::path::Path::new("/bin/bash").exists() {
        eprintln!("skipped: no bash");
        return;
    }
    let mut c = command(f, &["-S", "h1", "--env", "greet", "greet {}", ":::", "world"]);
    c.env("BASH_FUNC_greet%%", "() {  echo \"hello $1\"\n}")
        .env("PARALLEL_SHELL", "/bin/bash");
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("hello world\n", 0), "{}", r.stderr);
}

#[test]
fn env_underscore_copies_all_but_the_recorded_variables() {
    let Some(f) = fixture() else { return };
    let home = Scratch::new();
    // Without a record: the message GNU parallel gives.
    let mut c = command(f, &["-S", "h1", "--env", "_", "echo", ":::", "1"]);
    c.env("PARALLEL_HOME", home.root());
    let r = finish(c);
    assert_eq!(r.code, 255);
    assert!(
        r.stderr.contains("--record-env' in a clean environment first"),
        "{}",
        r.stderr
    );
    // Record a clean environment, then set more.
    let mut c = command(f, &["--record-env"]);
    c.env("PARALLEL_HOME", home.root()).env("FP_OLD", "old");
    assert_eq!(finish(c).code, 0);
    assert!(
        std::fs::read_to_string(home.path("ignored_vars"))
            .unwrap()
            .contains("FP_OLD\n")
    );
    let mut c = command(
        f,
        &["-S", "h1", "--env", "_", "echo [$FP_OLD][$FP_NEW]; true {}", ":::", "1"],
    );
    c.env("PARALLEL_HOME", home.root())
        .env("FP_OLD", "old")
        .env("FP_NEW", "new");
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("[][new]\n", 0), "{}", r.stderr);
}
