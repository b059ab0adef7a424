//! Running the installed GNU parallel beside forkpool, for tests that
//! compare the two directly.

use super::*;

/// `parallel ARGS` (GNU parallel 20221122, as CI installs it) with
/// `stdin`, in the same environment as [`command`].
pub(crate) fn gnu_with(args: &[&str], stdin: &[u8]) -> Run {
    let child = Command::new("parallel")
        .arg("--will-cite")
        .args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("GNU parallel is installed (.ci/run installs it)");
    feed(child, stdin)
}

/// Runs both with the same arguments and input; asserts the same standard
/// output and exit status, and returns forkpool's run.
pub(crate) fn same_as_gnu(args: &[&str], stdin: &[u8]) -> Run {
    let ours = run_with(args, stdin);
    let theirs = gnu_with(args, stdin);
    assert_eq!(
        (&ours.stdout, ours.code),
        (&theirs.stdout, theirs.code),
        "forkpool {args:?} differs from GNU parallel\nforkpool stderr: {}\nGNU stderr: {}",
        ours.stderr,
        theirs.stderr
    );
    ours
}

#[test]
fn onall_and_nonall_without_sshlogins_run_here_as_in_gnu_parallel() {
    // GNU parallel's "every host" is this machine when no -S is given.
    same_as_gnu(&["--onall", "--tag", "-k", "echo", ":::", "a", "b"], b"");
    same_as_gnu(&["--nonall", "--tag", "echo", "x"], b"");
    same_as_gnu(&["--onall", "-k", "echo"], b"a\nb\n");
    // Only --tag tags the lines with the host; a --tagstring alone does not.
    same_as_gnu(&["--nonall", "--tagstring", "Q", "echo", "hi"], b"");
    same_as_gnu(&["--onall", "--tag", "--tagstring", "Q", "echo", ":::", "a"], b"");
    // The options the inner run gets may be abbreviated, as on the command line.
    same_as_gnu(&["--onall", "--keep-ord", "--linebuffer", "echo", ":::", "a", "b"], b"");
}

#[test]
fn tagstrings_take_gnu_parallels_escapes() {
    // The example from `man parallel_examples`: a colour per job.
    let r = same_as_gnu(
        &[
            "-k",
            "--tagstring",
            r"\033[30;3{=$_=++$::color%8=}m",
            "seq",
            "{}",
            ":::",
            "1",
            "2",
        ],
        b"",
    );
    assert!(r.stdout.starts_with("\x1b[30;31m\t1\n"), "{:?}", r.stdout);
    same_as_gnu(&["-k", "--tagstring", r"a\tb\nc\0d\q", "echo", ":::", "x"], b"");
}
