//! Workers started by executing a fresh copy of the program.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use polling::Poller;
use rustix::process::{Pid, PidfdFlags, Signal};

use super::{KEY_GUARDIAN, SpawnEvent, Spawner, pidfd_worker, worker_pidfd_key};
use crate::error::{Error, ErrorKind};
use crate::guardian::{self, Guardian};
use crate::sys::exit::ExitReason;
use crate::sys::poll::Watched;
use crate::worker::config::ZygoteConfig;
use crate::worker::entry::{PARENT_VAR, ROLE_VAR, ROLE_WORKER, WORKER_SOCKET_FD, WORKER_STATUS_FD};

#[derive(Debug)]
struct ExecChild {
    child: Child,
    pid: Pid,
    pidfd: Watched,
    /// Its slot in the guardian's table.
    slot: Option<u32>,
}

/// See the parent module. Each worker is a direct child of the client;
/// its pidfd sits in the supervisor's poller, and it is reaped by
/// `waitid` once the pidfd reports its exit.
///
/// A worker dies with the client (`PR_SET_PDEATHSIG`), but what its task
/// started would not: a guardian process (see `guardian.rs`) kills every
/// worker's process group if the client dies without cleaning up. Its
/// pidfd is in the supervisor's poller too (`KEY_GUARDIAN`): if it dies,
/// another one is started at once and guards the same table.
#[derive(Debug)]
pub(crate) struct ExecSpawner {
    poller: Arc<Poller>,
    config: ZygoteConfig,
    children: HashMap<u64, ExecChild>,
    guardian: Guardian,
}

impl ExecSpawner {
    /// A spawner for a pool of `workers` workers.
    pub(crate) fn new(poller: Arc<Poller>, config: ZygoteConfig, workers: usize) -> Result<ExecSpawner, Error> {
        // Room for the pool, plus the workers retiring or dying while their
        // replacements start.
        let guardian = Guardian::start(
            workers.saturating_mul(2).saturating_add(8),
            poller.clone(),
            KEY_GUARDIAN,
        )
        .map_err(|e| Error::io("cannot start the guardian process", e).with_kind(ErrorKind::Spawn))?;
        Ok(ExecSpawner {
            poller,
            config,
            children: HashMap::new(),
            guardian,
        })
    }

    fn forget(&mut self, child: &ExecChild) {
        if let Some(slot) = child.slot {
            self.guardian.release(slot);
        }
    }
}

fn kill(child: &ExecChild) {
    // Unreaped, so the pid (and with it the group id) is still its own.
    let _ = rustix::process::kill_process_group(child.pid, Signal::KILL);
    let _ = rustix::process::pidfd_send_signal(child.pidfd.fd(), Signal::KILL);
}

impl Drop for ExecSpawner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Spawner for ExecSpawner {
    fn spawn(
        &mut self,
        worker: u64,
        socket: OwnedFd,
        status: OwnedFd,
        output: Option<[OwnedFd; 2]>,
    ) -> io::Result<Option<u32>> {
        let mut command = Command::new("/proc/self/exe");
        if let Some([out, err]) = output {
            command.stdout(Stdio::from(out)).stderr(Stdio::from(err));
        }
        command
            .arg0(crate::sys::spawn::program_arg0())
            .args(std::env::args_os().skip(1))
            .env(ROLE_VAR, ROLE_WORKER)
            .env(PARENT_VAR, std::process::id().to_string())
            // How the guardian finds a worker (and what it started) that
            // is not in its table yet.
            .env(guardian::MARKER_VAR, std::process::id().to_string())
            .stdin(Stdio::null())
            .process_group(0);
        crate::sys::spawn::inherit_and_die_with_parent(
            &mut command,
            vec![(socket, WORKER_SOCKET_FD), (status, WORKER_STATUS_FD)],
        );
        let mut child = command.spawn()?;
        drop(command);
        let pid = Pid::from_raw(child.id() as i32).ok_or_else(|| io::Error::other("invalid pid"))?;
        let watched = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .map_err(io::Error::from)
            .and_then(|fd| Watched::new(self.poller.clone(), fd, worker_pidfd_key(worker), true, false));
        match watched {
            Ok(pidfd) => {
                let raw = child.id();
                // Without a free slot the marker still lets the guardian
                // find it.
                let slot = self.guardian.take_slot();
                if let Some(slot) = slot {
                    self.guardian.slot(slot).store(pid.as_raw_pid(), Ordering::SeqCst);
                }
                self.children.insert(
                    worker,
                    ExecChild {
                        child,
                        pid,
                        pidfd,
                        slot,
                    },
                );
                Ok(Some(raw))
            }
            Err(e) => {
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    fn config_frame(&self) -> Option<&ZygoteConfig> {
        Some(&self.config)
    }

    fn kill(&mut self, worker: u64) {
        if let Some(child) = self.children.get(&worker) {
            kill(child);
        }
    }

    fn terminate(&mut self, worker: u64) {
        if let Some(child) = self.children.get(&worker) {
            // Unreaped, so the pid (and with it the group id) is still its own.
            let _ = rustix::process::kill_process_group(child.pid, Signal::TERM);
        }
    }

    fn on_event(&mut self, key: usize, _readable: bool, _writable: bool, events: &mut Vec<SpawnEvent>) {
        if key == KEY_GUARDIAN {
            let before = self.guardian.pid();
            let news = self.guardian.on_exit();
            if news.is_some() || self.guardian.pid() != before {
                super::super::trace::guardian(self.guardian.pid(), news.as_ref());
            }
            return;
        }
        let Some(worker) = pidfd_worker(key) else { return };
        let Some(mut child) = self.children.remove(&worker) else {
            return;
        };
        // Whatever the worker started dies with it.
        let _ = rustix::process::kill_process_group(child.pid, Signal::KILL);
        let reason = child.child.wait();
        self.forget(&child);
        match reason {
            Ok(reason) => events.push(SpawnEvent::Exited {
                worker,
                reason: ExitReason::from_std(reason),
            }),
            // Someone else reaped it (the program ignores SIGCHLD, or calls
            // `waitpid(-1)` itself): how it ended is unknown.
            Err(e) => events.push(SpawnEvent::Vanished {
                worker,
                message: format!("its exit status was taken by someone else ({e})"),
            }),
        }
    }

    fn tick(&mut self, now: Instant) -> Option<Instant> {
        if let Some(news) = self.guardian.tick(now) {
            super::super::trace::guardian(self.guardian.pid(), Some(&news));
        }
        self.guardian.wake_at()
    }

    fn restart(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn zygote_pid(&self) -> Option<u32> {
        None
    }

    fn shutdown(&mut self) {
        for child in self.children.values() {
            kill(child);
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        for (_, mut child) in std::mem::take(&mut self.children) {
            super::zygote::wait_readable(child.pidfd.fd(), deadline);
            let _ = child.child.wait();
            self.forget(&child);
        }
    }
}
