//! Helpers shared by the integration tests: looking at processes and
//! descriptors through `/proc`.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The state letter of a process (`R`, `S`, `Z`...), `None` if it is gone.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

/// True when the process no longer runs (gone, or a zombie).
pub fn is_dead(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

/// The parent pid of a process.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// Every process whose parent is `pid` (zombies included).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Some(child) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
            && parent_of(child) == Some(pid)
        {
            out.push(child);
        }
    }
    out.sort();
    out
}

/// This process's open descriptors, with what they point at.
pub fn open_fds() -> Vec<(String, String)> {
    let mut out: Vec<_> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), target)
        })
        .collect();
    out.sort();
    out
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh path in the temp directory (not created).
pub fn temp_path(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "forkpool-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Reads a pid that a task wrote to `path`, waiting for it to appear.
pub fn read_pid(path: &std::path::Path) -> u32 {
    let mut pid = None;
    assert!(
        wait_for(Duration::from_secs(10), || {
            pid = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok());
            pid.is_some()
        }),
        "no pid appeared in {}",
        path.display()
    );
    pid.unwrap()
}

/// Sends `signal` to `pid`.
pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// The pids listed in `path`, one a line (none if it is missing); the
/// file is removed.
pub fn take_pids(path: &std::path::Path) -> Vec<u32> {
    let pids = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    std::fs::remove_file(path).ok();
    pids
}

/// Runs the `#[ignore]`d test `name` of this test binary in a fresh
/// process with `envs` set, and checks that it ran and passed. For
/// scenarios that need their own environment or process.
pub fn run_helper_test(name: &str, envs: &[(&str, &std::ffi::OsStr)]) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--test-threads=1"])
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{name} did not run:\n{stdout}");
}

/// True when this process is root. Otherwise prints that `test` is
/// skipped (it needs root, as CI has) and returns false.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED {test}: needs root (CI runs as root)");
    }
    root
}

/// The value of `key:` in a `/proc/<pid>/status` text, whitespace
/// normalised (`"Uid"` gives `"0 0 0 0"`).
pub fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs the `#[ignore]`d test `name` of this test binary as a client
/// process with `envs` set, and waits for the line in which it prints
/// `PIDS` and the pids of its pool's processes. Returns the running client
/// and those pids.
pub fn start_client_helper(name: &str, envs: &[(&str, &std::ffi::OsStr)]) -> (std::process::Child, Vec<u32>) {
    use std::io::BufRead;
    #[expect(clippy::zombie_processes, reason = "returned to the caller, which waits for it")]
    let mut client = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    // libtest prints "test NAME ... " before the helper's own output.
    loop {
        line.clear();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "the client helper {name} ended early"
        );
        if let Some(at) = line.find("PIDS ") {
            let pids = line[at + 5..].split_whitespace().map(|p| p.parse().unwrap()).collect();
            return (client, pids);
        }
    }
}

/// Refuses to be serialized.
#[derive(Debug)]
pub struct Unsendable;

impl serde::Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to be serialized"))
    }
}

impl<'de> serde::Deserialize<'de> for Unsendable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unsendable)
    }
}

/// A running guardian (see `guardian.rs`) among `owner`'s children,
/// other than those in `old`, once it shows as one: named
/// `forkpool-guardi` (one sharing the owner's memory names itself so, once
/// it runs) or executed as `forkpool-guardian` (the nested case).
pub fn guardian_of(owner: u32, old: &[u32]) -> Option<u32> {
    children_of(owner).into_iter().find(|&pid| {
        let named =
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "forkpool-guardi");
        let executed =
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"forkpool-guardian\0"));
        !old.contains(&pid) && (named || executed) && !is_dead(pid)
    })
}

/// Kills `owner`'s guardian with `SIGKILL` and waits (generously: the
/// machine may be loaded) until `owner` has started another; returns it.
/// `killed` collects the guardians killed so far.
pub fn kill_guardian_and_wait_for_another(owner: u32, killed: &mut Vec<u32>) -> u32 {
    let look = |killed: &[u32]| {
        let mut found = None;
        wait_for(Duration::from_secs(30), || {
            found = guardian_of(owner, killed);
            found.is_some()
        });
        found
    };
    let guardian = look(killed).unwrap_or_else(|| panic!("{owner} has no guardian: children {:?}", children_of(owner)));
    kill(guardian, libc::SIGKILL);
    killed.push(guardian);
    look(killed).unwrap_or_else(|| {
        panic!(
            "{owner} started no guardian after {killed:?} were killed: children {:?}",
            children_of(owner)
        )
    })
}

/// Kills these processes with `SIGKILL` if dropped while a test panics:
/// what a failed scenario would otherwise leave running for ever (after a
/// pass they are gone already, and are left alone).
pub struct Leftovers(pub Vec<u32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for &pid in &self.0 {
                kill(pid, libc::SIGKILL);
            }
        }
    }
}
