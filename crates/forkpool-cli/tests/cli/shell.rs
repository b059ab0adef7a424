//! The shell the jobs run under and how their programs are found, beside
//! GNU parallel: the nearest shell above us, `$PARALLEL_SHELL` that cannot
//! run, a missing program (127), and `PATH` entries that are empty (the
//! current directory).

use super::*;

/// `PROGRAM ARGS` with `PARALLEL_SHELL` and `PATH` as given, in `dir`.
fn run_in(program: &str, dir: &Path, shell: &str, path: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(program);
    if program == "parallel" {
        cmd.arg("--will-cite");
    }
    output_of(
        cmd.args(args)
            .current_dir(dir)
            .env("PARALLEL_SHELL", shell)
            .env("PATH", path),
    )
}

/// `/usr/bin` and `/bin`, where `parallel`, `perl` and the shells are.
const SYSTEM_PATH: &str = "/usr/bin:/bin";

#[test]
fn a_parallel_shell_that_cannot_run_is_one_error_before_any_job() {
    // As GNU parallel: `$PARALLEL_SHELL` must be a file we may execute,
    // else one error and 255, and no job runs. (Before: one "permission
    // denied" per job.)
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let shell = d.file("not-executable", "#!/bin/sh\n");
    std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = d.s("missing");
    let marker = d.s("ran");
    let job = format!("touch {marker}; echo {{}}");
    for shell in [&shell, &missing] {
        let args = [job.as_str(), ":::", "a", "b"];
        let ours = run_in(env!("CARGO_BIN_EXE_forkpool"), d.0.path(), shell, SYSTEM_PATH, &args);
        let theirs = run_in("parallel", d.0.path(), shell, SYSTEM_PATH, &args);
        assert_eq!(
            (
                ours.stderr.replace("forkpool:", "parallel:"),
                ours.code,
                ours.stdout.as_str()
            ),
            (theirs.stderr.clone(), 255, ""),
            "{shell}"
        );
        assert_eq!(ours.stderr, format!("forkpool: Error: Shell '{shell}' not found.\n"));
        assert!(!Path::new(&marker).exists(), "{shell}: a job ran");
    }
    // A directory is no shell either (GNU parallel lets it through, and
    // then each job is "a bug": the README's differences).
    let ours = run_in(
        env!("CARGO_BIN_EXE_forkpool"),
        d.0.path(),
        d.0.path().to_str().unwrap(),
        SYSTEM_PATH,
        &[&job, ":::", "a"],
    );
    assert_eq!(ours.code, 255, "{}", ours.stderr);
    assert!(ours.stderr.ends_with("' not found.\n"), "{}", ours.stderr);
    assert!(!Path::new(&marker).exists());
    let theirs = run_in(
        "parallel",
        d.0.path(),
        d.0.path().to_str().unwrap(),
        SYSTEM_PATH,
        &["true", ":::", "a"],
    );
    assert!(
        theirs.code != 255 && theirs.stderr.contains("You have found a bug"),
        "GNU parallel changed: update the README: {theirs:?}"
    );
}

#[test]
fn a_missing_command_fails_with_127_and_says_so() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&["--joblog", &log, "no-such-command-xyz", ":::", "1"]);
    assert_eq!(r.code, 1, "counts as one failed job");
    assert!(
        r.stderr.contains("no-such-command-xyz: command not found"),
        "{}",
        r.stderr
    );
    assert_eq!(joblog_rows(Path::new(&log))[0][6], "127");
    let r = run(&["no-such-command-xyz {} | cat", ":::", "1"]);
    assert_eq!(r.code, 0, "inside a pipeline the shell decides, as with GNU parallel");
    // Whatever keeps a program from starting, the shell's own words and
    // status, as if the command had gone through it.
    let d = Dir::new();
    let script = d.file("no-interpreter", "#!/no/such/interpreter\necho hi\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (program, says, status) in [
        ("/no/such/path", "/no/such/path: No such file or directory", 127),
        ("/tmp", "/tmp: Is a directory", 126),
        (script.as_str(), "cannot execute: required file not found", 127),
    ] {
        let r = run(&["--joblog", &log, program, ":::", "1"]);
        assert!(r.stderr.starts_with("/bin/bash: line 1: "), "{program}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{program}: {}", r.stderr);
        assert_eq!(joblog_rows(Path::new(&log))[0][6], status.to_string(), "{program}");
    }
}

#[test]
fn jobs_run_in_the_nearest_shell_above_us_even_through_other_programs() {
    // As GNU parallel: not `timeout`, our parent, but the `sh` above it,
    // by the path `sh` has on PATH.
    let sh = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("sh"))
        .find(|p| p.exists())
        .unwrap();
    let forkpool = env!("CARGO_BIN_EXE_forkpool");
    let out = Command::new("sh")
        .args(["-c", &format!("timeout 60 {forkpool} 'echo $0' ::: x")])
        .env_remove("PARALLEL_SHELL")
        .env("SHELL", "/no/such/shell")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{} x\n", sh.display()));
}

#[test]
fn a_program_found_through_an_empty_path_entry_is_run_as_dot_slash() {
    // An empty entry in PATH (first, last or between) is the current
    // directory, and the shell runs a script found there as `./NAME`: its
    // `$0`. So does GNU parallel (its jobs go through the shell); so must
    // a job forkpool runs without one. (Before: `$0` was `NAME`.)
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let script = d.file("script.sh", "#!/bin/sh\necho \"$0 $1\"\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    for path in [":/usr/bin:/bin", "/usr/bin:/bin:", "/usr/bin::/bin"] {
        for args in [
            &["script.sh", ":::", "x"][..],
            &["-k", "script.sh {}; script.sh", ":::", "y"],
        ] {
            let ours = run_in(env!("CARGO_BIN_EXE_forkpool"), d.0.path(), "/bin/bash", path, args);
            let theirs = run_in("parallel", d.0.path(), "/bin/bash", path, args);
            assert_eq!(
                (&ours.stdout, ours.code),
                (&theirs.stdout, theirs.code),
                "PATH={path} {args:?}: {}",
                ours.stderr
            );
            assert!(ours.stdout.starts_with("./script.sh "), "PATH={path}: {}", ours.stdout);
        }
    }
}
