//! A real OpenSSH server on loopback, for the remote tests.
//!
//! One `sshd` serves the whole test binary (started lazily by the first
//! test that needs it). It listens on a free port of 127.0.0.1 with a host
//! key generated for it, and lets in one user, `forkpool-test` (login
//! shell `/bin/sh`, created if missing), with a key generated for it. A
//! test `ssh_config` names the server `h1` to `h4`, so "many machines"
//! are one, and `dead` a closed port.
//!
//! The server is stopped by its pid, by a shell that waits on a pipe from
//! this process: when the test binary exits, however it exits (a panic,
//! a kill), the pipe closes and the shell kills the server.
//!
//! Tests that cannot have a server (not root, no sshd) say so and skip.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The test user.
pub(crate) const USER: &str = "forkpool-test";
/// Where sshd is.
const SSHD: &str = "/usr/sbin/sshd";

/// A running server and the files that go with it.
pub(crate) struct Server {
    pub(crate) port: u16,
    /// The server's pid.
    pub(crate) pid: u32,
    /// Held open: the watchdog kills the server when it closes.
    _watchdog: Mutex<(Child, ChildStdin)>,
}

/// The environment of the tests.
pub(crate) struct Fixture {
    /// The directory with keys, configs and the `ssh_config` (removed by
    /// the server's watchdog when the tests end).
    pub(crate) dir: tempfile::TempDir,
    pub(crate) server: Server,
    /// The `ssh_config` with `h1`..`h4` and `dead`.
    pub(crate) ssh_config: PathBuf,
    /// The test user's uid and home.
    pub(crate) uid: u32,
    pub(crate) home: PathBuf,
}

static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();

/// The shared fixture, or `None` (with a message) if this machine cannot
/// have one.
pub(crate) fn fixture() -> Option<&'static Fixture> {
    FIXTURE
        .get_or_init(|| match Fixture::start() {
            Ok(f) => Some(f),
            Err(why) => {
                eprintln!("remote tests skipped: {why}");
                None
            }
        })
        .as_ref()
}

/// Runs a command; its stdout, or why it failed.
fn run(command: &mut Command) -> Result<String, String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0")
}

/// Creates the test user if it is not there (idempotent), with a login
/// shell of `/bin/sh` and an account that is not locked (so sshd lets it
/// in with a key).
fn ensure_user() -> Result<(u32, PathBuf), String> {
    if run(Command::new("id").arg("-u").arg(USER)).is_err() {
        // Another test binary may create it at the same moment.
        let _ = run(Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]));
    }
    run(Command::new("usermod").args(["-p", "*", "-s", "/bin/sh", USER]))?;
    let uid: u32 = run(Command::new("id").arg("-u").arg(USER))?
        .trim()
        .parse()
        .map_err(|e| format!("uid: {e}"))?;
    let passwd = run(Command::new("getent").args(["passwd", USER]))?;
    let home = passwd.trim().split(':').nth(5).unwrap_or("/").to_owned();
    std::fs::create_dir_all(&home).map_err(|e| format!("{home}: {e}"))?;
    let _ = run(Command::new("chown").args([USER, &home]));
    Ok((uid, PathBuf::from(home)))
}

impl Server {
    /// Starts an sshd on a free port with the fixture's keys. The
    /// watchdog of the `owner` (the fixture's own server) also removes the
    /// directory when the tests end.
    pub(crate) fn start(dir: &Path, owner: bool) -> Result<Server, String> {
        // sshd needs its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join(format!("sshd_config.{port}"));
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\n\
                     Port {port}\n\
                     HostKey {dir}/host_key\n\
                     PidFile none\n\
                     AuthorizedKeysFile {dir}/authorized_keys\n\
                     AllowUsers {USER}\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     MaxStartups 200\n\
                     PerSourceMaxStartups none\n\
                     LogLevel ERROR\n",
                    dir = dir.display()
                ),
            )
            .map_err(|e| e.to_string())?;
            let log = dir.join(format!("sshd.{port}.log"));
            let cleanup = if owner {
                format!("; sleep 0.2; rm -rf {}", dir.display())
            } else {
                String::new()
            };
            let command = format!("{SSHD} -D -f {} -E {}", config.display(), log.display());
            let (mut child, stdin, pid) = watchdog(&command, &cleanup)?;
            // Listening?
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Server {
                        port,
                        pid,
                        _watchdog: Mutex::new((child, stdin)),
                    });
                }
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            last = std::fs::read_to_string(&log).unwrap_or_default();
            drop(stdin);
            let _ = child.wait();
        }
        Err(format!("sshd did not start: {last}"))
    }

    /// Kills the server and every connection it serves, at once (a host
    /// that dies).
    pub(crate) fn kill(&self) {
        // The listener first (no new login gets in), then what it served.
        let served = descendants(self.pid);
        signal(self.pid, "KILL");
        for pid in served {
            signal(pid, "KILL");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut guard) = self._watchdog.lock() {
            let (child, stdin) = &mut *guard;
            let _ = stdin.write_all(b"\n");
            let _ = child.wait();
        }
    }
}

/// Sends `pid` a signal (with the shell's `kill`: procps may be missing).
pub(crate) fn signal(pid: u32, name: &str) {
    let _ = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -{name} {pid}"))
        // It may be gone already: that is no news.
        .stderr(Stdio::null())
        .status();
}

/// A daemon guarded by a watchdog: `sh` starts `command` in the
/// background, says its pid, and kills it by that pid (then runs `after`)
/// when our end of the shell's stdin closes, which happens however this
/// process ends. Returns the shell, our end of its stdin, and the pid.
pub(crate) fn watchdog(command: &str, after: &str) -> Result<(Child, ChildStdin, u32), String> {
    let script = format!("{command} & pid=$!; echo $pid; read _; kill $pid 2>/dev/null; wait $pid{after}");
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let pid: u32 = line.trim().parse().map_err(|e| format!("pid {line:?}: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    Ok((child, stdin, pid))
}

/// Every descendant of `pid` (from `/proc`).
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
                continue;
            };
            if let Some(ppid) = after.split(' ').nth(1).and_then(|s| s.parse().ok()) {
                parents.push((p, ppid));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

impl Fixture {
    fn start() -> Result<Fixture, String> {
        if !is_root() {
            return Err("they need root (to run sshd and create the test user)".to_owned());
        }
        if !Path::new(SSHD).exists() {
            return Err(format!("{SSHD} is not installed (apt-get install openssh-server)"));
        }
        let (uid, home) = ensure_user()?;
        let dir = tempfile::Builder::new()
            .prefix("forkpool-sshd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let path = dir.path();
        // The user's sshd reads the authorized keys: the dir must be open.
        run(Command::new("chmod").arg("755").arg(path))?;
        for key in ["host_key", "user_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path.join(key)))?;
        }
        std::fs::copy(path.join("user_key.pub"), path.join("authorized_keys")).map_err(|e| e.to_string())?;
        run(Command::new("chmod").arg("644").arg(path.join("authorized_keys")))?;
        let server = Server::start(path, true)?;
        let ssh_config = path.join("ssh_config");
        std::fs::write(
            &ssh_config,
            ssh_config_text(path, server.port, &[("h1 h2 h3 h4", server.port)]),
        )
        .map_err(|e| e.to_string())?;
        let fixture = Fixture {
            dir,
            server,
            ssh_config,
            uid,
            home,
        };
        // Wait until a login works (the first can be slow).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match run(Command::new("ssh")
                .arg("-F")
                .arg(&fixture.ssh_config)
                .args(["h1", "true"]))
            {
                Ok(_) => return Ok(fixture),
                Err(e) if Instant::now() > deadline => return Err(format!("cannot log in: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// `ssh -F CONFIG`: what `--ssh` or `$PARALLEL_SSH` get.
    pub(crate) fn ssh(&self) -> String {
        format!("ssh -F {}", self.ssh_config.display())
    }

    /// A second server, with its own alias in a config of its own: a host
    /// that a test may kill.
    pub(crate) fn second_server(&self, alias: &str) -> (Server, PathBuf) {
        let server = Server::start(self.dir.path(), false).expect("second sshd");
        let config = self.dir.path().join(format!("ssh_config.{alias}.{}", server.port));
        std::fs::write(
            &config,
            ssh_config_text(
                self.dir.path(),
                self.server.port,
                &[("h1 h2 h3 h4", self.server.port), (alias, server.port)],
            ),
        )
        .unwrap();
        (server, config)
    }

    /// The test user's live processes whose command line contains
    /// `marker` (zombies, which are dead, are not counted).
    pub(crate) fn processes_with(&self, marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(status) = std::fs::read_to_string(path.join("status")) else {
                continue;
            };
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok());
            let zombie = status
                .lines()
                .find_map(|l| l.strip_prefix("State:"))
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if uid != Some(self.uid) || zombie {
                continue;
            }
            let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(cmdline);
            }
        }
        found
    }
}

/// An `ssh_config` for these aliases, and `dead` on a closed port.
fn ssh_config_text(dir: &Path, _main: u16, aliases: &[(&str, u16)]) -> String {
    let mut text = String::new();
    let dead = free_port();
    for (names, port) in aliases.iter().copied().chain([("dead", dead)]) {
        text.push_str(&format!(
            "Host {names}\n\
             \x20 HostName 127.0.0.1\n\
             \x20 Port {port}\n\
             \x20 User {USER}\n\
             \x20 IdentityFile {dir}/user_key\n\
             \x20 IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile /dev/null\n\
             \x20 StrictHostKeyChecking no\n\
             \x20 BatchMode yes\n\
             \x20 LogLevel ERROR\n\
             \x20 ConnectTimeout 10\n",
            dir = dir.display()
        ));
    }
    text
}
