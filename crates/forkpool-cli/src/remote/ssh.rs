//! The ssh command line for one host, and its ControlMaster.
//!
//! The ssh command is the login's own (`-S '/usr/bin/ssh -p 2222 host'`),
//! else `--ssh`, else `$PARALLEL_SSH`, else `ssh`: the system's OpenSSH,
//! so `~/.ssh/config`, agents and `ProxyJump` work as they do for the
//! user. It is run directly when it is plain words (no local shell per
//! job), through `sh -c` otherwise.
//!
//! Jobs share connections through ControlMasters (see `masters`): a
//! master is `ssh -M -N -S SOCKET host`, and a job connects with `-S SOCKET
//! -o ControlMaster=no`, skipping the login.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use super::login::Login;
use crate::replace::push_quoted;

/// How to run ssh to one host.
#[derive(Debug, Clone)]
pub(crate) struct Ssh {
    /// The command as typed (`ssh -F cfg`).
    command: String,
    /// Its words, when it has no shell syntax.
    words: Option<Vec<String>>,
    password: Option<String>,
    /// `-p PORT -l USER HOST`.
    target: Vec<String>,
    /// Whether masters may be used: the login has no ssh command of its
    /// own (as GNU parallel's `-M` rule has it).
    pub(crate) can_multiplex: bool,
}

/// A command to start: a program with arguments, or a shell line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) argv: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
}

impl Ssh {
    /// The ssh command for `login`; `default` is `--ssh` or
    /// `$PARALLEL_SSH` or `ssh`.
    pub(crate) fn new(login: &Login, default: &str) -> Ssh {
        let command = login.ssh.clone().unwrap_or_else(|| default.to_owned());
        let words = crate::shell::split_plain_words(command.as_bytes())
            .filter(|w| !w.is_empty())
            .map(|w| {
                w.into_iter()
                    .map(|w| String::from_utf8_lossy(&w).into_owned())
                    .collect()
            });
        let mut target = Vec::new();
        if let Some(port) = &login.port {
            target.extend(["-p".to_owned(), port.clone()]);
        }
        if let Some(user) = &login.user {
            target.extend(["-l".to_owned(), user.clone()]);
        }
        target.push(login.host.clone());
        Ssh {
            command,
            words,
            password: login.password.clone(),
            target,
            can_multiplex: login.ssh.is_none(),
        }
    }

    /// Whether the command is OpenSSH's `ssh` (whose masters we know how
    /// to run), not some other program.
    pub(crate) fn is_openssh(&self) -> bool {
        self.password.is_none()
            && self
                .words
                .as_ref()
                .and_then(|w| w.first())
                .is_some_and(|program| program.rsplit('/').next() == Some("ssh"))
    }

    /// The options that go between the command and the host.
    fn options(&self, control: Option<&Path>) -> Vec<String> {
        let mut options = Vec::new();
        if let Some(socket) = control {
            options.extend([
                "-S".to_owned(),
                socket.display().to_string(),
                "-o".to_owned(),
                "ControlMaster=no".to_owned(),
            ]);
        }
        options.extend(self.target.iter().cloned());
        options
    }

    /// `ssh [-S SOCKET] [-p PORT] [-l USER] HOST -- REMOTE...`, ready to
    /// spawn. The remote words must be safe for the remote shell as they
    /// are (ssh joins them with spaces).
    pub(crate) fn run(&self, control: Option<&Path>, remote: &[String]) -> Command {
        let mut tail = self.options(control);
        tail.push("--".to_owned());
        tail.extend(remote.iter().cloned());
        self.command_with(&tail)
    }

    /// The ssh command with these arguments after its own words.
    fn command_with(&self, tail: &[String]) -> Command {
        let mut argv: Vec<OsString> = Vec::new();
        let mut env = Vec::new();
        if let Some(password) = &self.password {
            argv.extend(["sshpass".into(), "-e".into()]);
            env.push(("SSHPASS".into(), password.into()));
        }
        match &self.words {
            Some(words) => {
                argv.extend(words.iter().map(OsString::from));
                argv.extend(tail.iter().map(OsString::from));
            }
            None => {
                // Shell syntax in the command: the shell runs it.
                let mut line = self.command.clone().into_bytes();
                for word in tail {
                    line.push(b' ');
                    push_quoted(&mut line, word.as_bytes());
                }
                argv.extend(["/bin/sh".into(), "-c".into()]);
                argv.push(OsString::from(String::from_utf8_lossy(&line).into_owned()));
            }
        }
        Command { argv, env }
    }

    /// The same as a shell line (for scripts that also run rsync):
    /// `remote` is the command for the remote shell, quoted here as one
    /// word for ours.
    pub(crate) fn line(&self, control: Option<&Path>, remote: &[u8]) -> Vec<u8> {
        let mut line = self.prefix(control);
        line.extend_from_slice(b" -- ");
        push_quoted(&mut line, remote);
        line
    }

    /// `[sshpass -e ]SSH [-S SOCKET -o ControlMaster=no] [-p P] [-l U] HOST`
    /// as a shell line. (`SSHPASS` goes in the job's environment.)
    fn prefix(&self, control: Option<&Path>) -> Vec<u8> {
        let mut line = Vec::new();
        if self.password.is_some() {
            line.extend_from_slice(b"sshpass -e ");
        }
        line.extend_from_slice(self.command.as_bytes());
        for word in self.options(control) {
            line.push(b' ');
            push_quoted(&mut line, word.as_bytes());
        }
        line
    }

    /// What rsync's `-e` gets: the ssh command and its options, without the
    /// host (rsync puts it after them).
    pub(crate) fn rsync_shell(&self, control: Option<&Path>) -> Vec<u8> {
        let mut line = Vec::new();
        if self.password.is_some() {
            line.extend_from_slice(b"sshpass -e ");
        }
        line.extend_from_slice(self.command.as_bytes());
        let options = self.options(control);
        // Everything but the host.
        for word in &options[..options.len() - 1] {
            line.push(b' ');
            push_quoted(&mut line, word.as_bytes());
        }
        line
    }

    /// The host as rsync names it (`[user@]host`; the port is in `-e`).
    pub(crate) fn rsync_host(&self) -> String {
        self.target.last().cloned().unwrap_or_default()
    }

    /// The variables the job's environment needs (`SSHPASS`).
    pub(crate) fn env(&self) -> Vec<(OsString, OsString)> {
        self.password.iter().map(|p| ("SSHPASS".into(), p.into())).collect()
    }

    /// A master for this host, listening on `socket`: `ssh -M -N`, under a
    /// shell that removes the socket and, if it is the last, the
    /// directory when ssh ends, however it ends (ssh removes its socket
    /// itself on `SIGTERM`, the guardian's signal if we are killed; the
    /// shell catches the signal and then cleans up what is left).
    pub(crate) fn master(&self, socket: &Path) -> Command {
        let mut line = b"trap : TERM HUP INT; ".to_vec();
        if self.password.is_some() {
            line.extend_from_slice(b"sshpass -e ");
        }
        line.extend_from_slice(self.command.as_bytes());
        line.extend_from_slice(b" -M -N -o ControlPersist=no -S ");
        push_quoted(&mut line, socket.as_os_str().as_encoded_bytes());
        for word in &self.target {
            line.push(b' ');
            push_quoted(&mut line, word.as_bytes());
        }
        line.extend_from_slice(b" </dev/null; rm -f ");
        push_quoted(&mut line, socket.as_os_str().as_encoded_bytes());
        if let Some(dir) = socket.parent() {
            line.extend_from_slice(b"; rmdir ");
            push_quoted(&mut line, dir.as_os_str().as_encoded_bytes());
            line.extend_from_slice(b" 2>/dev/null");
        }
        line.extend_from_slice(b"; exit 0");
        Command {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                OsString::from(String::from_utf8_lossy(&line).into_owned()),
            ],
            env: self.env(),
        }
    }
}

/// The private directory of a run's control sockets, removed when dropped
/// (the masters remove their sockets, and the last one the directory, if
/// we cannot: see [`Ssh::master`]).
///
/// If forkpool is killed, the guardian stops the masters: `SIGTERM`, and
/// `SIGKILL` a moment later. A master that has not cleaned up by then (a
/// loaded machine) would leave its socket behind, so a janitor watches
/// the run: a shell in a process group of its own, which no guardian
/// stops, blocked reading a pipe that only this process holds open. When
/// the pipe closes (we dropped it, or we died however we died) it removes
/// the sockets and the directory, and exits.
#[derive(Debug)]
pub(crate) struct ControlDir {
    dir: Option<tempfile::TempDir>,
    janitor: Option<Janitor>,
}

/// The shell that removes the directory once the run is gone.
#[derive(Debug)]
struct Janitor {
    child: std::process::Child,
    /// Our end of its stdin: dropping it (or dying) wakes it.
    watch: Option<std::process::ChildStdin>,
}

impl Janitor {
    /// `sh -c 'read _; rm ...'`, in its own process group, holding none of
    /// our output (a reader of our stdout must not wait for it).
    fn start(dir: &Path) -> std::io::Result<Janitor> {
        let quoted = |path: &Path| {
            let mut word = Vec::new();
            push_quoted(&mut word, path.as_os_str().as_encoded_bytes());
            String::from_utf8_lossy(&word).into_owned()
        };
        let script = format!("read _; rm -f {dir}/h*-*; rmdir {dir}", dir = quoted(dir));
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()?;
        let watch = child.stdin.take();
        Ok(Janitor { child, watch })
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        drop(self.watch.take());
        let _ = self.child.wait();
    }
}

impl ControlDir {
    /// A new directory under `tmpdir` (`--tmpdir`, else `$TMPDIR`, as GNU
    /// parallel puts its ControlMaster sockets), readable by us alone, and
    /// its janitor.
    pub(crate) fn create(tmpdir: &Path) -> std::io::Result<ControlDir> {
        let dir = tempfile::Builder::new().prefix("forkpool-ssh-").tempdir_in(tmpdir)?;
        let janitor = Janitor::start(dir.path())?;
        Ok(ControlDir {
            dir: Some(dir),
            janitor: Some(janitor),
        })
    }

    /// The socket path for master `k` of host `host`.
    pub(crate) fn socket(&self, host: usize, k: usize) -> PathBuf {
        let base = self
            .dir
            .as_ref()
            .map_or_else(|| PathBuf::from("/nonexistent"), |d| d.path().to_path_buf());
        base.join(format!("h{host}-{k}"))
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // The masters may have removed it already.
            let _ = dir.close();
        }
        // Nothing left for it to do: it wakes, finds nothing, and exits.
        drop(self.janitor.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::login::Entry;

    fn login(text: &str) -> Login {
        match Login::parse(text).unwrap() {
            Entry::Login(l) => l,
            Entry::Groups(_) => panic!(),
        }
    }

    fn strings(argv: &[OsString]) -> Vec<String> {
        argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn plain_commands_run_without_a_shell() {
        let ssh = Ssh::new(&login("me@host:2222"), "ssh -F '/my config'");
        let run = ssh.run(None, &["exec".into(), "true".into()]);
        assert_eq!(
            strings(&run.argv),
            [
                "ssh",
                "-F",
                "/my config",
                "-p",
                "2222",
                "-l",
                "me",
                "host",
                "--",
                "exec",
                "true"
            ]
        );
        assert!(run.env.is_empty());
        let mux = ssh.run(Some(Path::new("/d/s")), &["true".into()]);
        assert_eq!(
            strings(&mux.argv)[3..9],
            ["-S", "/d/s", "-o", "ControlMaster=no", "-p", "2222"]
        );
        assert_eq!(ssh.rsync_host(), "host");
        assert_eq!(
            String::from_utf8_lossy(&ssh.rsync_shell(None)),
            "ssh -F '/my config' -p 2222 -l me"
        );
    }

    #[test]
    fn shell_syntax_goes_through_the_shell() {
        let ssh = Ssh::new(&login("host"), "ssh -i $HOME/key");
        let run = ssh.run(None, &["exec".into(), "true".into()]);
        assert_eq!(
            strings(&run.argv),
            ["/bin/sh", "-c", "ssh -i $HOME/key host -- exec true"]
        );
    }

    #[test]
    fn passwords_go_through_sshpass_in_the_environment() {
        let ssh = Ssh::new(&login("me:pw@host"), "ssh");
        let run = ssh.run(None, &["true".into()]);
        assert_eq!(strings(&run.argv)[..3], ["sshpass", "-e", "ssh"]);
        assert_eq!(run.env, [("SSHPASS".into(), "pw".into())]);
        assert!(!strings(&run.argv).iter().any(|a| a.contains("pw")));
    }

    #[test]
    fn own_ssh_commands_are_not_multiplexed() {
        assert!(Ssh::new(&login("host"), "ssh").can_multiplex);
        assert!(!Ssh::new(&login("/usr/bin/ssh host"), "ssh").can_multiplex);
    }

    #[test]
    fn the_janitor_removes_the_sockets_once_its_pipe_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forkpool-ssh-x y");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("h0-0"), "").unwrap();
        std::fs::write(path.join("h1-3"), "").unwrap();
        let mut janitor = Janitor::start(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(path.join("h0-0").exists(), "it waits while the pipe is open");
        // What our death does: the pipe's last writer goes.
        drop(janitor.watch.take());
        janitor.child.wait().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn masters_clean_up_after_themselves() {
        let ssh = Ssh::new(&login("host"), "ssh -F cfg");
        let master = ssh.master(Path::new("/tmp/fp-x/h0-0"));
        let line = strings(&master.argv)[2].clone();
        assert_eq!(
            line,
            "trap : TERM HUP INT; ssh -F cfg -M -N -o ControlPersist=no -S /tmp/fp-x/h0-0 host </dev/null; \
             rm -f /tmp/fp-x/h0-0; rmdir /tmp/fp-x 2>/dev/null; exit 0"
        );
    }
}
