//! `--progress`, `--eta`, `--bar` and `--total-jobs`: GNU parallel's
//! displays on stderr, whether or not it is a terminal.

use super::*;

#[test]
fn progress_displays_are_gnu_parallels_on_stderr_even_off_a_terminal() {
    // As GNU parallel: drawn on stderr whatever it is; stdout untouched.
    for flag in ["--progress", "--eta"] {
        let r = run(&[flag, "-k", "-j2", "echo", ":::", "a", "b"]);
        assert_eq!((r.lines(), r.code), (vec!["a", "b"], 0), "{flag}");
        assert!(
            r.stderr
                .starts_with("\nComputers / CPU cores / Max jobs to run\n1:local / ")
                && r.stderr.contains(
                    " / 2\n\nComputer:jobs running/jobs completed/%of started jobs/Average seconds to complete\n\r"
                ),
            "{flag}: {:?}",
            r.stderr
        );
        assert!(r.stderr.contains("local:0/2/100%/"), "{flag}: {:?}", r.stderr);
        assert!(r.stderr.ends_with("s \n"), "{flag}: {:?}", r.stderr);
    }
    let r = run(&["--eta", "-j1", "echo", ":::", "a", "b"]);
    assert!(r.stderr.contains("\rETA: 0s Left: 0 AVG: "), "{:?}", r.stderr);
    let r = run(&["--bar", "-k", "echo", ":::", "a", "b", "c"]);
    assert!(r.stderr.contains("\r100\r\x1b[7m100% 3:0=0s c "), "{:?}", r.stderr);
    assert!(r.stderr.contains("\r#   0 sec "), "zenity's line: {:?}", r.stderr);
    // --total-jobs gives the total without reading the input first.
    let r = run_with(&["--bar", "--total-jobs", "4", "-k", "echo"], b"a\nb\n");
    assert!(r.stderr.contains("% 2:2="), "{:?}", r.stderr);
}

/// Runs `forkpool ARGS` with its stderr on a fresh pseudo-terminal, and
/// returns what it drew there.
fn run_on_a_terminal(args: &[&str]) -> (String, i32) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).unwrap();
    let mut child = command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::from(terminal))
        .spawn()
        .unwrap();
    // The command's own copy of the terminal is gone once `command` is
    // dropped; reading ends (EIO) when the child's copy closes.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut drawn = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            drawn.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&drawn).into_owned()
    });
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (reader.join().unwrap(), code)
}

#[test]
fn progress_displays_draw_on_a_terminal() {
    for (flag, drawn_text) in [
        ("--bar", "100% 3:0=0s c"),
        ("--progress", "Computers / CPU cores / Max jobs to run"),
        ("--eta", "ETA: "),
    ] {
        let (drawn, code) = run_on_a_terminal(&[flag, "-j1", "sleep 0.3; echo", ":::", "a", "b", "c"]);
        assert_eq!(code, 0, "{flag}");
        assert!(drawn.contains(drawn_text), "{flag} drew: {drawn:?}");
    }
}

/// `PROGRAM ARGS` in a session of its own (`setsid -w`): no controlling
/// terminal, so `/dev/tty` cannot be opened, as under cron or in CI.
fn run_without_a_terminal(program: &[&str], args: &[&str]) -> Run {
    output_of(
        Command::new("setsid")
            .arg("-w")
            .args(program)
            .args(args)
            .env("PARALLEL_SHELL", "/bin/bash"),
    )
}

#[test]
fn progress_displays_without_a_terminal_leave_out_gnu_parallels_tty_errors() {
    // GNU parallel measures the terminal with `tput`/`stty </dev/tty`
    // (at most once a second) and, with no terminal, passes on the
    // shell's complaint about each: "sh: 1: cannot open /dev/tty". The
    // output and exit status are the same; forkpool draws its display at
    // GNU's fallback width (80 columns) without the complaints.
    let forkpool = env!("CARGO_BIN_EXE_forkpool");
    for flag in ["--bar", "--eta", "--progress"] {
        let args = [flag, "-k", "echo", ":::", "a", "b"];
        let theirs = run_without_a_terminal(&["parallel", "--will-cite"], &args);
        let ours = run_without_a_terminal(&[forkpool], &args);
        assert_eq!((&ours.stdout, ours.code), (&theirs.stdout, theirs.code), "{flag}");
        assert!(
            theirs.stderr.contains("cannot open /dev/tty"),
            "GNU {flag}: {:?}",
            theirs.stderr
        );
        assert!(!ours.stderr.contains("/dev/tty"), "{flag}: {:?}", ours.stderr);
        assert!(ours.stderr.contains(if flag == "--bar" {
            "100% 2:0=0s b"
        } else {
            "local:0/2/100%/"
        }));
    }
    // GNU's width then: zenity's line padded to 80 columns.
    let r = run_without_a_terminal(&[forkpool], &["--bar", "echo", ":::", "a"]);
    let zenity = "#   0 sec a";
    assert!(r.stderr.contains(&format!("\r{zenity:<80}\r")), "{:?}", r.stderr);
}
