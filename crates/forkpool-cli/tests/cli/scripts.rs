//! forkpool as a script's interpreter: `--shebang`, `--shebang-wrap`,
//! `--skip-first-line`.

use super::gnu::same_as_gnu;
use super::*;

/// Writes an executable script whose `#!` line runs forkpool with `line`.
fn script(d: &Dir, name: &str, line: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = d.file(name, &format!("#!{} {line}\n{body}", env!("CARGO_BIN_EXE_forkpool")));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn run_script(path: &str, args: &[&str]) -> Run {
    let out = Command::new(path)
        .args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn a_shebang_script_is_its_own_input() {
    let d = Dir::new();
    let path = script(&d, "s", "--shebang -k --tag echo", "a\nb c\n");
    let r = run_script(&path, &[]);
    assert_eq!((r.stdout.as_str(), r.code), ("a\ta\nb c\tb c\n", 0), "{}", r.stderr);
    // The lines are commands when there is none.
    let path = script(&d, "t", "--hashbang -k", "echo one\necho two\n");
    assert_eq!(run_script(&path, &[]).stdout, "one\ntwo\n");
}

#[test]
fn a_shebang_wrap_script_runs_once_per_argument() {
    let d = Dir::new();
    let path = script(&d, "w", "--shebang-wrap -k /bin/sh", "echo \"arg $1\"\n");
    let r = run_script(&path, &["x", "y z"]);
    assert_eq!((r.stdout.as_str(), r.code), ("arg x\narg y z\n", 0), "{}", r.stderr);
}

#[test]
fn skip_first_line_skips_the_first_sources_first_line() {
    same_as_gnu(&["-k", "--skip-first-line", "echo"], b"header\na\nb\n");
    let d = Dir::new();
    let f = d.file("in", "header\na\nb\n");
    let r = same_as_gnu(&["-k", "--skip-first-line", "echo", "::::", &f, &f], b"");
    assert_eq!(r.lines()[0], "a header", "only the first source");
}

#[test]
fn shebang_elsewhere_does_nothing_as_in_gnu_parallel() {
    // An option of GNU's table that means nothing past the first argument.
    super::gnu::same_as_gnu_with_messages(&["-k", "--shebang", "echo", ":::", "a"], b"");
    super::gnu::same_as_gnu_with_messages(&["-k", "--sheb", "echo", ":::", "a"], b"");
}

#[test]
fn a_shebang_line_with_shebang_after_other_options_is_warned_about_as_in_gnu_parallel() {
    // Linux hands `-k --shebang echo` over as one word; GNU warns when it
    // finds ` --shebang ` in it, with an empty line after, before it reads
    // the options. (Getopt's lines about that word follow; only the
    // warning is compared here.)
    let d = Dir::new();
    let ours = run_script_with(&script(&d, "m", "-k --shebang echo", "a\n"), &[], b"");
    let theirs = run_script_with(&gnu_script(&d, "g", "-k --shebang echo", "a\n"), &[], b"");
    let warning = |r: &Run| r.stderr.lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(
        warning(&ours).replace("forkpool:", "parallel:"),
        "parallel: Warning: --shebang and --shebang-wrap must be the first argument.\n"
    );
    assert_eq!(warning(&ours).replace("forkpool:", "parallel:"), warning(&theirs));
    assert_eq!((ours.code, theirs.code), (255, 255));
}

/// [`script`] with GNU parallel as the interpreter.
fn gnu_script(d: &Dir, name: &str, line: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = d.file(name, &format!("#!/usr/bin/parallel {line}\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs `path ARGS` with `stdin`.
fn run_script_with(path: &str, args: &[&str], stdin: &[u8]) -> Run {
    let spawn = || {
        Command::new(path)
            .args(args)
            .env("PARALLEL_SHELL", "/bin/bash")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // "Text file busy": a child forked by another test thread while the
    // script was open for writing still holds it; it closes at its exec.
    let mut child = spawn();
    for _ in 0..50 {
        match &child {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20));
                child = spawn();
            }
            _ => break,
        }
    }
    let mut child = child.unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    super::finish(child)
}

#[test]
fn a_shebang_wrap_script_given_no_arguments_reads_them_from_stdin_as_in_gnu_parallel() {
    let d = Dir::new();
    for (i, (line, body, stdin, expected)) in [
        (
            "--shebang-wrap -k /bin/bash",
            "echo \"got [$1]\"\n",
            "x y\nz\n",
            "got [x y]\ngot [z]\n",
        ),
        ("--shebang-wrap --pipe -k /bin/bash", "wc -l\n", "1\n2\n3\n", "3\n"),
    ]
    .into_iter()
    .enumerate()
    {
        let ours = run_script_with(&script(&d, &format!("ours{i}"), line, body), &[], stdin.as_bytes());
        let gnu = run_script_with(&gnu_script(&d, &format!("gnu{i}"), line, body), &[], stdin.as_bytes());
        assert_eq!(
            (ours.stdout.as_str(), ours.code),
            (expected, 0),
            "{line}: {}",
            ours.stderr
        );
        assert_eq!(
            (gnu.stdout.as_str(), gnu.code),
            (expected, 0),
            "{line}: GNU: {}",
            gnu.stderr
        );
    }
}

#[test]
fn a_shebang_wrap_scripts_arguments_are_taken_whole_unlike_gnu_parallel() {
    // GNU parallel 20221122 pastes the arguments into a shell command line
    // unquoted: `'p q'` becomes two arguments, and a quote is a shell
    // syntax error (exit status 2). forkpool passes each argument whole.
    let d = Dir::new();
    let line = "--shebang-wrap -k /bin/bash";
    let body = "echo \"got [$1]\"\n";
    let ours = script(&d, "ours", line, body);
    let r = run_script_with(&ours, &["p q", "it's"], b"");
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("got [p q]\ngot [it's]\n", 0),
        "{}",
        r.stderr
    );
    let gnu = gnu_script(&d, "gnu", line, body);
    let r = run_script_with(&gnu, &["p q", "r"], b"");
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("got [p]\ngot [q]\ngot [r]\n", 0),
        "{}",
        r.stderr
    );
    assert_eq!(run_script_with(&gnu, &["it's"], b"").code, 2);
}
