//! Workers forked by a zygote process.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::Poller;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::{Pid, PidfdFlags, Signal};

use super::{KEY_ZYGOTE_CONTROL, KEY_ZYGOTE_PIDFD, SpawnEvent, Spawner};
use crate::error::{Error, ErrorKind};
use crate::ipc::control::{self, FromZygote, Received, ToZygote};
use crate::sys::exit::ExitReason;
use crate::sys::poll::Watched;
use crate::worker::config::ZygoteConfig;
use crate::worker::entry::{PARENT_VAR, ROLE_VAR, ROLE_ZYGOTE, ZYGOTE_CONTROL_FD};

/// How long a new zygote may take to say hello (it does so before
/// `preload`, so this only bounds process start-up).
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a zygote asked to exit may take before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Zygote {
    child: Child,
    pid: u32,
    control: Watched,
    pidfd: Watched,
    /// Messages the control socket had no room for yet. Sends never block:
    /// a supervisor blocked on a send while the zygote blocks on its reply
    /// would deadlock (hundreds of spawns at once fill both sockets).
    outbox: std::collections::VecDeque<(Vec<u8>, Vec<OwnedFd>)>,
}

impl Zygote {
    fn send(&mut self, message: &ToZygote, fds: Vec<OwnedFd>) -> io::Result<()> {
        let bytes = control::encode(message)?;
        self.outbox.push_back((bytes, fds));
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        while let Some((bytes, fds)) = self.outbox.front() {
            let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
            match control::send_bytes(self.control.fd(), bytes, &borrowed, true) {
                Ok(()) => {
                    self.outbox.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.control.set_interest(true, !self.outbox.is_empty())
    }
}

/// See the parent module.
#[derive(Debug)]
pub(crate) struct ZygoteSpawner {
    poller: Arc<Poller>,
    config: ZygoteConfig,
    zygote: Option<Zygote>,
}

impl ZygoteSpawner {
    /// Starts the zygote and waits until its `preload` has run.
    pub(crate) fn start(poller: Arc<Poller>, config: ZygoteConfig) -> Result<ZygoteSpawner, Error> {
        let mut spawner = ZygoteSpawner {
            poller,
            config,
            zygote: None,
        };
        spawner.restart()?;
        Ok(spawner)
    }

    fn lose(&mut self, message: String, events: &mut Vec<SpawnEvent>) {
        if let Some(mut zygote) = self.zygote.take() {
            let _ = rustix::process::pidfd_send_signal(zygote.pidfd.fd(), Signal::KILL);
            let _ = zygote.child.wait();
            events.push(SpawnEvent::Lost { message });
        }
    }
}

impl Drop for ZygoteSpawner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Spawner for ZygoteSpawner {
    fn spawn(
        &mut self,
        worker: u64,
        socket: OwnedFd,
        status: OwnedFd,
        output: Option<[OwnedFd; 2]>,
    ) -> io::Result<Option<u32>> {
        let Some(zygote) = &mut self.zygote else {
            return Err(io::Error::other("the zygote is not running"));
        };
        let mut fds = vec![socket, status];
        fds.extend(output.into_iter().flatten());
        zygote.send(&ToZygote::Spawn { worker }, fds)?;
        Ok(None)
    }

    fn config_frame(&self) -> Option<&ZygoteConfig> {
        None
    }

    fn kill(&mut self, worker: u64) {
        if let Some(zygote) = &mut self.zygote {
            let _ = zygote.send(&ToZygote::Kill { worker }, Vec::new());
        }
    }

    fn terminate(&mut self, worker: u64) {
        if let Some(zygote) = &mut self.zygote {
            let _ = zygote.send(&ToZygote::Terminate { worker }, Vec::new());
        }
    }

    fn on_event(&mut self, key: usize, readable: bool, writable: bool, events: &mut Vec<SpawnEvent>) {
        if key == KEY_ZYGOTE_CONTROL
            && writable
            && let Some(zygote) = &mut self.zygote
            && let Err(e) = zygote.flush()
        {
            return self.lose(format!("the zygote's control socket failed: {e}"), events);
        }
        if key == KEY_ZYGOTE_CONTROL && !readable {
            return;
        }
        match key {
            KEY_ZYGOTE_CONTROL => loop {
                let Some(zygote) = &self.zygote else { return };
                match control::recv::<FromZygote>(zygote.control.fd(), true) {
                    Ok(Received::Message(message, _)) => match message {
                        FromZygote::Spawned { worker, pid } => events.push(SpawnEvent::Spawned {
                            worker,
                            pid: pid as u32,
                        }),
                        FromZygote::SpawnFailed { worker, message } => {
                            events.push(SpawnEvent::SpawnFailed { worker, message });
                        }
                        FromZygote::Exited { worker, reason } => events.push(SpawnEvent::Exited { worker, reason }),
                        FromZygote::Hello { .. } | FromZygote::Ready | FromZygote::PreloadFailed { .. } => {}
                    },
                    Ok(Received::Closed) => {
                        return self.lose("the zygote closed its control socket".into(), events);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return self.lose(format!("the zygote's control socket failed: {e}"), events),
                }
            },
            KEY_ZYGOTE_PIDFD => {
                if let Some(zygote) = &mut self.zygote {
                    let reason = zygote.child.wait().map(ExitReason::from_std);
                    let message = match reason {
                        Ok(reason) => format!("the zygote process {reason}"),
                        Err(e) => format!("the zygote process ended: {e}"),
                    };
                    self.lose(message, events);
                }
            }
            _ => {}
        }
    }

    fn restart(&mut self) -> Result<(), Error> {
        self.zygote = Some(launch(&self.poller, &self.config)?);
        Ok(())
    }

    fn zygote_pid(&self) -> Option<u32> {
        self.zygote.as_ref().map(|z| z.pid)
    }

    fn shutdown(&mut self) {
        let Some(zygote) = self.zygote.take() else { return };
        let Zygote {
            mut child,
            control,
            pidfd,
            ..
        } = zygote;
        // Closing the control socket is the exit request: the zygote kills
        // whatever is left, reaps it and exits. (A message could block: the
        // zygote may itself be blocked sending us exit reports.)
        drop(control);
        if !wait_readable(pidfd.fd(), Instant::now() + EXIT_GRACE) {
            let _ = rustix::process::pidfd_send_signal(pidfd.fd(), Signal::KILL);
        }
        let _ = child.wait();
    }
}

/// Starts a zygote and takes it through its handshake: `Hello` (it
/// diverted before `main`), then `Ready` (preload done).
fn launch(poller: &Arc<Poller>, config: &ZygoteConfig) -> Result<Zygote, Error> {
    let spawn_error = |what: &str, e: io::Error| Error::io(what.to_owned(), e).with_kind(ErrorKind::Spawn);
    let (ours, theirs) =
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
            .map_err(|e| spawn_error("cannot create the zygote's control socket", e.into()))?;
    let mut command = Command::new("/proc/self/exe");
    command
        // The program's own arguments, so a task reading
        // `std::env::args()` sees what the program was started with.
        .arg0(crate::sys::spawn::program_arg0())
        .args(std::env::args_os().skip(1))
        .env(ROLE_VAR, ROLE_ZYGOTE)
        .env(PARENT_VAR, std::process::id().to_string())
        .stdin(Stdio::null())
        // Its own process group: a Ctrl-C meant for the program does not
        // kill the zygote under a program that handles it.
        .process_group(0);
    crate::sys::spawn::inherit_and_die_with_parent(&mut command, vec![(theirs, ZYGOTE_CONTROL_FD)]);
    let mut child = command
        .spawn()
        .map_err(|e| spawn_error("cannot start the zygote process (/proc/self/exe)", e))?;
    // Closes our copy of the zygote's end.
    drop(command);
    let pid = child.id();
    let pidfd = match Pid::from_raw(pid as i32).map(|p| rustix::process::pidfd_open(p, PidfdFlags::empty())) {
        Some(Ok(fd)) => fd,
        Some(Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error("pidfd_open on the zygote failed", e.into()));
        }
        None => return Err(Error::new(ErrorKind::Spawn, "the zygote has an invalid pid")),
    };
    let fail = |child: &mut Child, pidfd: &OwnedFd, message: String| -> Error {
        let _ = rustix::process::pidfd_send_signal(pidfd, Signal::KILL);
        let _ = child.wait();
        Error::new(ErrorKind::Spawn, message)
    };
    if let Err(e) = control::send(&ours, &ToZygote::Configure(config.clone()), &[]) {
        return Err(fail(&mut child, &pidfd, format!("cannot configure the zygote: {e}")));
    }
    match next_message(&ours, &pidfd, Some(Instant::now() + HELLO_TIMEOUT)) {
        Ok(FromZygote::Hello { .. }) => {}
        Ok(other) => {
            return Err(fail(
                &mut child,
                &pidfd,
                format!("the zygote said {other:?} before hello"),
            ));
        }
        Err(Handshake::TimedOut) => {
            return Err(fail(
                &mut child,
                &pidfd,
                format!(
                    "the zygote did not start within {HELLO_TIMEOUT:?}: forkpool's start-up hook did not run in \
                     /proc/self/exe (is the pool created from a shared library rather than the program?)"
                ),
            ));
        }
        Err(Handshake::Died) => {
            let reason = child.wait().map(ExitReason::from_std);
            let reason = reason.map_or_else(|e| e.to_string(), |r| r.to_string());
            return Err(Error::new(
                ErrorKind::Spawn,
                format!(
                    "the zygote {reason} before it started: forkpool's start-up hook did not run in \
                     /proc/self/exe (is the pool created from a shared library rather than the program?)"
                ),
            ));
        }
        Err(Handshake::Failed(e)) => return Err(fail(&mut child, &pidfd, format!("zygote handshake failed: {e}"))),
    }
    match next_message(&ours, &pidfd, None) {
        Ok(FromZygote::Ready) => {}
        Ok(FromZygote::PreloadFailed { message }) => {
            let _ = child.wait();
            return Err(Error::new(ErrorKind::Preload, message));
        }
        Ok(other) => {
            return Err(fail(
                &mut child,
                &pidfd,
                format!("the zygote said {other:?} before ready"),
            ));
        }
        Err(Handshake::Died) => {
            let reason = child.wait().map(ExitReason::from_std);
            let reason = reason.map_or_else(|e| e.to_string(), |r| r.to_string());
            return Err(Error::new(
                ErrorKind::Preload,
                format!("the zygote {reason} while running preload"),
            ));
        }
        Err(Handshake::TimedOut) => return Err(fail(&mut child, &pidfd, "zygote handshake timed out".into())),
        Err(Handshake::Failed(e)) => return Err(fail(&mut child, &pidfd, format!("zygote handshake failed: {e}"))),
    }
    let control = Watched::new(poller.clone(), ours, KEY_ZYGOTE_CONTROL, true, false)
        .map_err(|e| spawn_error("cannot watch the zygote", e))?;
    let pidfd = Watched::new(poller.clone(), pidfd, KEY_ZYGOTE_PIDFD, true, false)
        .map_err(|e| spawn_error("cannot watch the zygote", e))?;
    Ok(Zygote {
        child,
        pid,
        control,
        pidfd,
        outbox: std::collections::VecDeque::new(),
    })
}

enum Handshake {
    TimedOut,
    Died,
    Failed(io::Error),
}

/// Waits for the next control message, or for the zygote to die.
fn next_message(control: &OwnedFd, pidfd: &OwnedFd, deadline: Option<Instant>) -> Result<FromZygote, Handshake> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.checked_duration_since(Instant::now()).ok_or(Handshake::TimedOut)?;
                Some(Timespec::try_from(left).map_err(|_| Handshake::TimedOut)?)
            }
        };
        let mut fds = [PollFd::new(control, PollFlags::IN), PollFd::new(pidfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return Err(Handshake::TimedOut),
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Handshake::Failed(e.into())),
        }
        if !fds[0].revents().is_empty() {
            match control::recv::<FromZygote>(control, false) {
                Ok(Received::Message(message, _)) => return Ok(message),
                Ok(Received::Closed) => return Err(Handshake::Died),
                Err(e) => return Err(Handshake::Failed(e)),
            }
        }
        if !fds[1].revents().is_empty() {
            return Err(Handshake::Died);
        }
    }
}

/// Waits until `fd` is readable or `deadline` passes.
pub(super) fn wait_readable(fd: impl AsFd, deadline: Instant) -> bool {
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        let Ok(timeout) = Timespec::try_from(left) else {
            return false;
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}
