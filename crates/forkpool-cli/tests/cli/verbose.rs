//! `-v`, `-v -v`, `-t`, `--silent`, `-p`, `--dry-run` and its aliases.

use super::gnu::same_as_gnu;
use super::*;

#[test]
fn v_prints_each_command_on_stdout_with_its_output_as_gnu_parallel() {
    let r = same_as_gnu(&["-v", "-k", "echo", ":::", "a", "b"], b"");
    assert_eq!(r.lines(), ["echo a", "a", "echo b", "b"]);
    assert_eq!(r.stderr, "");
    // Grouped and ordered with the job's output, tagged with it.
    same_as_gnu(&["-v", "-k", "-j2", "sleep 0.{}; echo {}", ":::", "3", "1"], b"");
    let r = same_as_gnu(&["-v", "--tag", "echo", ":::", "a"], b"");
    assert_eq!(r.stdout, "a\techo a\na\ta\n");
    // Straight out with -u; once with --dry-run; -v -v the same locally.
    same_as_gnu(&["-v", "-u", "echo", ":::", "a"], b"");
    same_as_gnu(&["-v", "--dry-run", "echo", ":::", "a"], b"");
    same_as_gnu(&["-vv", "-k", "echo", ":::", "a"], b"");
    same_as_gnu(&["-v", "-v", "-k", "echo", ":::", "a"], b"");
    // --silent undoes it, wherever it is.
    let r = same_as_gnu(&["--silent", "-v", "echo", ":::", "a"], b"");
    assert_eq!(r.stdout, "a\n");
}

#[test]
fn v_counts_in_the_joblogs_bytes_received() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&["-v", "--joblog", &log, "echo", ":::", "abc"]);
    assert_eq!(r.stdout, "echo abc\nabc\n");
    let rows = super::joblog_rows(Path::new(&log));
    assert_eq!(
        rows[0][5], "13",
        "\"echo abc\\n\" and \"abc\\n\", as GNU parallel counts"
    );
}

#[test]
fn t_prints_each_command_on_stderr_as_it_starts() {
    let r = run(&["-t", "-k", "echo", ":::", "a", "b"]);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("a\nb\n", "echo a\necho b\n"));
    let r = run(&["--verbose", "-j1", "echo", ":::", "a"]);
    assert_eq!(r.stderr, "echo a\n");
}

#[test]
fn dry_run_has_gnu_parallels_aliases() {
    for flag in ["--dry-run", "--dryrun", "--dr"] {
        let r = same_as_gnu(&[flag, "-k", "echo", ":::", "a", "b"], b"");
        assert_eq!(r.stdout, "echo a\necho b\n", "{flag}");
    }
}

/// A fresh pseudo-terminal: its master side, and the terminal itself.
pub(crate) fn new_terminal() -> (std::fs::File, std::fs::File) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).unwrap();
    (std::fs::File::from(master), std::fs::File::from(terminal))
}

/// Runs `forkpool ARGS` in a session of its own whose terminal is a fresh
/// pseudo-terminal, typing `answers` there; returns its standard output,
/// what appeared on the terminal, and its exit status.
fn run_asking(args: &[&str], answers: &str) -> (String, String, i32) {
    run_on_own_terminal(args, answers, false)
}

/// [`run_asking`], with standard input from `/dev/null` if `null_stdin`
/// (so that only `/dev/tty` is the terminal).
pub(crate) fn run_on_own_terminal(args: &[&str], answers: &str, null_stdin: bool) -> (String, String, i32) {
    let (mut master, terminal) = new_terminal();
    master.write_all(answers.as_bytes()).unwrap();
    // `setsid -c` makes the terminal (its stdin) the session's own, so
    // that /dev/tty is it.
    let mut command = Command::new("setsid");
    command.args(["-c", "-w"]);
    if null_stdin {
        command.args(["sh", "-c", "exec \"$0\" \"$@\" < /dev/null"]);
    }
    let child = command
        .arg(env!("CARGO_BIN_EXE_forkpool"))
        .args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .stdin(terminal.try_clone().unwrap())
        .stderr(terminal)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The command holds copies of the terminal: they must go, for reading
    // the master side to end when forkpool is done.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut drawn = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            drawn.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&drawn).into_owned()
    });
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        reader.join().unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn p_asks_before_each_job_and_a_no_is_a_skipped_job() {
    let d = Dir::new();
    let log = d.s("log");
    let (out, terminal, code) = run_asking(
        &["-p", "-k", "--joblog", &log, "echo", ":::", "a", "b", "c"],
        "y\nn\nY\n",
    );
    assert_eq!(out, "a\nc\n", "terminal: {terminal}");
    for question in ["echo a ?...", "echo b ?...", "echo c ?..."] {
        assert!(terminal.contains(question), "{question:?} not asked: {terminal:?}");
    }
    // As GNU parallel: the skipped job failed, with exit value -2.
    assert_eq!(code, 1);
    let rows = super::joblog_rows(Path::new(&log));
    let exits: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[6].as_str())).collect();
    assert_eq!(exits, [("1", "0"), ("2", "-2"), ("3", "0")]);
}

#[test]
fn dry_run_prints_and_runs_nothing() {
    let d = Dir::new();
    let marker = d.s("marker");
    let r = run(&["-k", "--dry-run", &format!("touch {marker}-{{}}"), ":::", "a", "b"]);
    assert_eq!(r.lines(), [format!("touch {marker}-a"), format!("touch {marker}-b")]);
    assert!(!Path::new(&format!("{marker}-a")).exists());
}

#[test]
fn p_without_a_terminal_is_an_error() {
    // No controlling terminal: a session of its own without one.
    let out = Command::new("setsid")
        .args(["-w", env!("CARGO_BIN_EXE_forkpool"), "-p", "echo", ":::", "a"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        stderr.starts_with("forkpool: Error: --interactive needs a terminal"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
