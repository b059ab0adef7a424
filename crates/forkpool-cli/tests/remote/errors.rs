//! Bad input: a one-line error and exit status 255, before any job.

use crate::{Scratch, fixture, run};

fn one_line_error(args: &[&str], needle: &str) {
    let Some(f) = fixture() else { return };
    let r = run(f, args);
    assert_eq!(r.code, 255, "{args:?}: {}", r.stderr);
    assert_eq!(r.stdout, "", "no job ran");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.starts_with("forkpool: "), "{}", r.stderr);
    assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
}

#[test]
fn unparsable_sshlogins_are_refused() {
    for login in ["a@b@c", "host!", "user@", "0/h1", "@"] {
        one_line_error(
            &["-S", login, "echo", ":::", "1"],
            &format!("Cannot parse the sshlogin '{login}'"),
        );
    }
}

#[test]
fn unreadable_sshlogin_files_are_refused() {
    let dir = Scratch::new();
    one_line_error(&["--slf", &dir.s("missing"), "echo", ":::", "1"], "Cannot open");
    // A directory cannot be read as a file, even by root.
    one_line_error(&["--slf", &dir.s(""), "echo", ":::", "1"], "Cannot open");
    // A file with a bad line.
    let bad = dir.s("bad");
    std::fs::write(&bad, "h1\nuser@\n").unwrap();
    one_line_error(
        &["--slf", &bad, "echo", ":::", "1"],
        "Cannot parse the sshlogin 'user@'",
    );
}

#[test]
fn other_bad_remote_options_are_refused() {
    // Getopt::Long's words for GNU's `ssh-delay=f`, alone on their line.
    if let Some(f) = fixture() {
        let r = run(f, &["-S", "h1", "--sshdelay", "soon", "echo", ":::", "1"]);
        assert_eq!(
            (r.stderr.as_str(), r.code),
            (
                "Value \"soon\" invalid for option sshdelay (real number expected)\n",
                255
            )
        );
    }
    one_line_error(&["--slurm", "-S", "h1", "echo", ":::", "1"], "--slurm");
    one_line_error(
        &["-S", "h1", "--wd", "...", "--bf", "relative", "echo", ":::", "1"],
        "Work dir '...'",
    );
}
