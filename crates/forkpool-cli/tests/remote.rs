//! The `forkpool` command on many machines, against a real OpenSSH server
//! on loopback (see `remote/sshd.rs`): `-S` and its forms, sshlogin
//! files, ControlMaster, file transfer, `--env`, `--onall`, joblog and
//! friends with remote jobs, hosts that refuse or die, and nothing left
//! running anywhere when forkpool is killed.
//!
//! Every test skips (saying so) where no server can run: not root, or no
//! `sshd`.

#[path = "remote/sshd.rs"]
mod sshd;

#[path = "remote/control.rs"]
mod control;
#[path = "remote/errors.rs"]
mod errors;
#[path = "remote/files.rs"]
mod files;
#[path = "remote/hosts.rs"]
mod hosts;
#[path = "remote/kill.rs"]
mod kill;
#[path = "remote/onall.rs"]
mod onall;
#[path = "remote/robin.rs"]
mod robin;
#[path = "remote/slurm.rs"]
mod slurm;
#[path = "remote/vars.rs"]
mod vars;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) use sshd::Fixture;

/// The fixture, or a skip: `let Some(f) = fixture() else { return };`.
pub(crate) fn fixture() -> Option<&'static Fixture> {
    sshd::fixture()
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: i32,
}

impl Run {
    pub(crate) fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub(crate) fn sorted(&self) -> Vec<&str> {
        let mut lines = self.lines();
        lines.sort_unstable();
        lines
    }
}

/// `forkpool ARGS` reaching the test hosts through `$PARALLEL_SSH`, with
/// `/bin/sh` as the shell here and there.
pub(crate) fn command(f: &Fixture, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forkpool"));
    cmd.args(args)
        .env("PARALLEL_SSH", f.ssh())
        .env("PARALLEL_SHELL", "/bin/sh")
        .env("SHELL", "/bin/sh")
        .env_remove("PARALLEL")
        .stdin(Stdio::null());
    cmd
}

/// Runs it to the end.
pub(crate) fn run(f: &Fixture, args: &[&str]) -> Run {
    finish(command(f, args))
}

/// Runs a command to the end.
pub(crate) fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().expect("forkpool runs");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Starts it with stdout and stderr piped.
pub(crate) fn spawn(f: &Fixture, args: &[&str]) -> Child {
    command(f, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("forkpool starts")
}

/// A directory both we and the test user can write, removed afterwards.
pub(crate) struct Scratch(tempfile::TempDir);

impl Scratch {
    pub(crate) fn new() -> Scratch {
        let dir = tempfile::Builder::new().prefix("forkpool-remote-").tempdir().unwrap();
        Command::new("chmod").arg("1777").arg(dir.path()).status().unwrap();
        Scratch(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    pub(crate) fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    pub(crate) fn root(&self) -> &Path {
        self.0.path()
    }

    pub(crate) fn file(&self, name: &str, content: &str) -> String {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }
}

/// Waits (up to 20 s) until `ready()` holds.
pub(crate) fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A marker unique to this call, to find a test's own remote processes.
pub(crate) fn marker(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "fpmark{}x{}x{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The joblog's lines but the header, split in columns.
pub(crate) fn joblog(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    lines.map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

/// The highest number of jobs that ran at once, from `start`/`end` lines
/// the jobs appended to a log.
pub(crate) fn most_at_once(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut now, mut most) = (0usize, 0usize);
    for line in text.lines() {
        match line {
            "start" => {
                now += 1;
                most = most.max(now);
            }
            "end" => now = now.saturating_sub(1),
            _ => {}
        }
    }
    most
}
