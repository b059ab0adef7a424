//! Running the installed GNU parallel beside forkpool, for tests that
//! compare the two directly.

use super::*;

/// How long a GNU parallel run may take before it counts as hung.
const GNU_PATIENCE: Duration = Duration::from_secs(60);

/// `parallel ARGS` (GNU parallel 20221122, as CI installs it) with
/// `stdin`, in the same environment as [`command`].
///
/// GNU parallel 20221122 now and then hangs for good in its `--shard` and
/// `--bin` plumbing (a perl sharder and `parcat` on named pipes; a CI run
/// and two trials saw it). A run not over after [`GNU_PATIENCE`] is killed
/// with everything it started (found by a marker in their environment) and
/// run again; only a hang three times in a row fails the test.
pub(crate) fn gnu_with(args: &[&str], stdin: &[u8]) -> Run {
    for attempt in 1..=3 {
        if let Some(run) = gnu_within(GNU_PATIENCE, args, stdin) {
            return run;
        }
        eprintln!("GNU parallel {args:?} hung (attempt {attempt}); killed, running it again");
    }
    panic!("GNU parallel {args:?} hung three times in a row");
}

/// One run of `parallel ARGS`, as [`gnu_with`] makes it; `None` if it was
/// not over after `patience` (it is killed, with everything it started).
///
/// Its `TMPDIR` is a scratch directory of its own, removed afterwards: GNU
/// 20221122 leaves `--tee`'s named pipes behind now and then, and a killed
/// run leaves whatever it had made.
pub(crate) fn gnu_within(patience: Duration, args: &[&str], stdin: &[u8]) -> Option<Run> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let marker = format!(
        "{}-{}-{:?}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst),
        Instant::now()
    );
    let tmp = Dir::new();
    let child = Command::new("parallel")
        .arg("--will-cite")
        .args(args)
        .env("TMPDIR", tmp.0.path())
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash")
        .env("FORKPOOL_TEST_GNU_RUN", &marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("GNU parallel is installed (.ci/run installs it)");
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        let needle = format!("FORKPOOL_TEST_GNU_RUN={marker}");
        std::thread::spawn(move || {
            let ended = wait_for(patience, || done.load(Ordering::SeqCst));
            while !done.load(Ordering::SeqCst) {
                kill_marked(&needle);
                std::thread::sleep(Duration::from_millis(100));
            }
            !ended
        })
    };
    let run = feed(child, stdin);
    done.store(true, Ordering::SeqCst);
    if watchdog.join().unwrap() { None } else { Some(run) }
}

/// SIGKILLs every process whose environment holds `needle`.
fn kill_marked(needle: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
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

/// [`same_as_gnu`], and the same standard error too, once forkpool's own
/// name in its messages reads `parallel` (GNU's name for itself).
pub(crate) fn same_as_gnu_with_messages(args: &[&str], stdin: &[u8]) -> Run {
    let ours = run_with(args, stdin);
    let theirs = gnu_with(args, stdin);
    assert_eq!(
        (&ours.stdout, ours.stderr.replace("forkpool:", "parallel:"), ours.code),
        (&theirs.stdout, theirs.stderr.clone(), theirs.code),
        "forkpool {args:?} differs from GNU parallel"
    );
    ours
}

/// Asserts that forkpool refuses `args` with GNU parallel's standard error
/// (Getopt::Long's warnings, one a line) and exit status 255. (GNU prints
/// its usage on standard output after them: a documented difference.)
pub(crate) fn getopt_refuses_as_gnu(args: &[&str]) {
    let ours = run(args);
    let theirs = gnu_with(args, b"");
    assert_eq!(
        (ours.stderr.as_str(), ours.code),
        (theirs.stderr.as_str(), theirs.code),
        "{args:?}"
    );
    assert_eq!(ours.code, 255, "{args:?}");
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
    // --nonall's one argument is GNU's `\0noarg`, as -N0 makes it: `{}` is
    // nothing, `{#}` and the rest as usual (they were left as typed).
    same_as_gnu(&["--nonall", "echo", "a{}b{#}"], b"");
    same_as_gnu(&["--nonall", "--tag", "echo", "a{}b{#}", "{%}"], b"");
    same_as_gnu(&["--nonall", "echo", "{=$_=length($_)=}"], b"");
    same_as_gnu(&["--nonall", "-q", "echo", "a  b", "$HOME"], b"");
    same_as_gnu(&["--nonall", "echo a; exit 3"], b"");
}

#[test]
fn onall_and_nonall_ignore_n_and_cap_n_as_gnu_parallel() {
    // GNU parallel passes neither -n nor -N on to the runs on the hosts:
    // -N0 does not leave --nonall's command out, and --onall runs each
    // argument as a job of its own.
    same_as_gnu(&["--nonall", "-N0", "echo", "hi"], b"");
    same_as_gnu(&["--nonall", "-S", ":", "-N0", "echo", "hi"], b"");
    same_as_gnu(&["--nonall", "-n0", "echo", "hi", "{}"], b"");
    same_as_gnu(&["--nonall", "-N1", "echo", "hi"], b"");
    same_as_gnu(&["--nonall", "-N2", "echo", "hi", "[{}]"], b"");
    same_as_gnu(&["--onall", "-k", "-N0", "echo", "hi", ":::", "a", "b"], b"");
    same_as_gnu(
        &["--onall", "-S", ":", "-k", "-n0", "echo", "hi", "{}", ":::", "a", "b"],
        b"",
    );
    same_as_gnu(&["--onall", "-k", "-n2", "echo", ":::", "a", "b", "c", "d"], b"");
    same_as_gnu(
        &[
            "--onall",
            "-k",
            "-N2",
            "echo",
            "[{1}] [{2}] [{#}]",
            ":::",
            "a",
            "b",
            "c",
            "d",
        ],
        b"",
    );
}

#[test]
fn onall_and_nonall_ignore_x_m_and_l_as_gnu_parallel() {
    // Nor -X, -m, --xargs, -L, -l, --max-lines: one job per argument.
    same_as_gnu(
        &["--onall", "-S", ":", "-k", "-X", "echo", "[{}]", ":::", "a", "b"],
        b"",
    );
    same_as_gnu(&["--onall", "-k", "-X", "echo", "x{}y", ":::", "a", "b"], b"");
    same_as_gnu(&["--onall", "-k", "-m", "echo", "[{}]", ":::", "a", "b"], b"");
    same_as_gnu(&["--onall", "-k", "--xargs", "echo", ":::", "a", "b"], b"");
    same_as_gnu(&["--onall", "-k", "-L2", "echo", ":::", "a", "b", "c"], b"");
    same_as_gnu(&["--onall", "-k", "-l2", "echo", ":::", "a", "b", "c"], b"");
    same_as_gnu(
        &["--onall", "-k", "--max-lines", "2", "echo", ":::", "a", "b", "c"],
        b"",
    );
    same_as_gnu(&["--onall", "-k", "-L0", "echo", "hi", ":::", "a", "b"], b"");
    same_as_gnu(&["--nonall", "-L0", "echo", "hi"], b"");
    same_as_gnu(&["--nonall", "-X", "echo", "[{}]"], b"");
}

#[test]
fn nonall_quotes_the_command_as_gnu_parallel_and_onall_the_arguments_once() {
    // --nonall -q: the command is quoted before the inner run replaces
    // anything, so `{}`, which is nothing, is an empty word.
    same_as_gnu(&["--nonall", "-S", ":", "-q", "printf", "[%s]\\n", "{}", "x"], b"");
    same_as_gnu(
        &["--nonall", "-q", "-v", "printf", "[%s]\\n", "{}", "a b", "$HOME"],
        b"",
    );
    same_as_gnu(&["--onall", "-k", "-q", "echo", "a  b", "{}", ":::", "x"], b"");
    // --onall -q quotes each argument once, where GNU parallel 20221122
    // splits `a b` and fails on `c'd` (a difference on purpose, README.md).
    let args = ["--onall", "-k", "-q", "printf", "[%s]\\n", "{}", ":::", "a b", "c'd"];
    let ours = run(&args);
    assert_eq!(
        (ours.stdout.as_str(), ours.code),
        ("[a b]\n[c'd]\n", 0),
        "{}",
        ours.stderr
    );
    let theirs = gnu_with(&args, b"");
    assert_ne!(
        theirs.stdout, ours.stdout,
        "GNU parallel quotes --onall -q right now: {}",
        theirs.stderr
    );
}

#[test]
fn nonall_given_arguments_runs_them_as_gnu_parallel() {
    // GNU parallel adds its `\0noarg` as one more input source: each
    // argument is a job, and `{}` is the argument and a space.
    same_as_gnu(&["--nonall", "-k", "echo", "[{}] [{#}] [{%}]", ":::", "a", "b"], b"");
    same_as_gnu(&["--nonall", "-S", ":", "-k", "echo", "[{}]", ":::", "a", "b"], b"");
    same_as_gnu(
        &[
            "--nonall",
            "-k",
            "echo",
            "[{1}] [{2}] [{#}]",
            ":::",
            "a",
            "b",
            ":::",
            "c",
        ],
        b"",
    );
    same_as_gnu(&["--nonall", "-k", "echo", "[{}]", ":::", "a b", ":::", "c"], b"");
    same_as_gnu(&["--nonall", "-k", "echo", "[{}]", ":::", "a", ":::+", "b"], b"");
    same_as_gnu(&["--nonall", "-k", "--tag", "echo", "{}", ":::", "a", "b"], b"");
    same_as_gnu(&["--nonall", "-k", "-v", "echo", "[{.}]", ":::", "a.b"], b"");
    same_as_gnu(&["--nonall", "-k", "echo", "[{}]", "::::", "/dev/null"], b"");
    same_as_gnu(&["--nonall", "-k", "echo", "[{}]", "::::", "-"], b"x\ny\n");
    // Where GNU parallel 20221122 is broken, a difference on purpose
    // (README.md): with -0 or -d the `\0noarg` is cut apart and each job
    // is a shell syntax error; with -q, `:::` and the arguments become
    // words of the command.
    let args = ["--nonall", "-0", "-k", "echo", "[{}]", ":::", "a", "b"];
    let ours = run(&args);
    assert_eq!((ours.stdout.as_str(), ours.code), ("[a]\n[b]\n", 0), "{}", ours.stderr);
    assert_ne!(gnu_with(&args, b"").code, 0);
    let args = ["--nonall", "-q", "-k", "echo", "[{}]", ":::", "a", "b c"];
    let ours = run(&args);
    assert_eq!(
        (ours.stdout.as_str(), ours.code),
        ("[a ]\n[b c ]\n", 0),
        "{}",
        ours.stderr
    );
    assert_eq!(gnu_with(&args, b"").stdout, "[] ::: a b c\n");
}

#[test]
fn onall_and_nonall_show_the_hosts_commands_as_gnu_parallel() {
    // -v shows the commands the hosts run, not the inner runs' own; GNU
    // parallel passes on neither -t nor --dry-run (it runs the commands),
    // nor --silent.
    same_as_gnu_with_messages(&["--nonall", "-S", ":", "-v", "echo", "hi"], b"");
    same_as_gnu_with_messages(&["--nonall", "-v", "-v", "echo", "hi"], b"");
    same_as_gnu_with_messages(&["--nonall", "-S", ":", "-t", "echo", "hi"], b"");
    same_as_gnu_with_messages(&["--nonall", "-S", ":", "--dry-run", "echo", "hi"], b"");
    same_as_gnu_with_messages(&["--nonall", "-v", "--silent", "echo", "hi"], b"");
    same_as_gnu_with_messages(&["--onall", "-v", "-k", "echo", "hi", ":::", "a"], b"");
    same_as_gnu_with_messages(&["--onall", "-S", ":", "-t", "-k", "echo", "hi", ":::", "a"], b"");
    same_as_gnu_with_messages(&["--onall", "--dry-run", "-k", "echo", "hi", ":::", "a", "b"], b"");
    same_as_gnu_with_messages(
        &[
            "--onall",
            "--tag",
            "-k",
            "-v",
            "--dry-run",
            "-t",
            "echo",
            ":::",
            "a",
            "b",
        ],
        b"",
    );
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
