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
fn shebang_elsewhere_is_warned_about() {
    let r = run(&["-k", "--shebang", "echo", ":::", "a"]);
    assert_eq!(r.stdout, "a\n");
    assert_eq!(
        r.stderr,
        "forkpool: Warning: --shebang and --shebang-wrap must be the first argument.\n"
    );
}
