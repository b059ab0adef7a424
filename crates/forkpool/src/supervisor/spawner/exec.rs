//! Workers started by executing a fresh copy of the program.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use polling::Poller;
use rustix::process::{Pid, PidfdFlags, Signal};

use super::{SpawnEvent, Spawner, pidfd_worker, worker_pidfd_key};
use crate::error::Error;
use crate::sys::exit::ExitReason;
use crate::sys::poll::Watched;
use crate::worker::config::ZygoteConfig;
use crate::worker::entry::{PARENT_VAR, ROLE_VAR, ROLE_WORKER, WORKER_SOCKET_FD, WORKER_STATUS_FD};

#[derive(Debug)]
struct ExecChild {
    child: Child,
    pid: Pid,
    pidfd: Watched,
}

/// See the parent module. Each worker is a direct child of the client;
/// its pidfd sits in the supervisor's poller, and it is reaped by
/// `waitid` once the pidfd reports its exit.
#[derive(Debug)]
pub(crate) struct ExecSpawner {
    poller: Arc<Poller>,
    config: ZygoteConfig,
    children: HashMap<u64, ExecChild>,
}

impl ExecSpawner {
    pub(crate) fn new(poller: Arc<Poller>, config: ZygoteConfig) -> ExecSpawner {
        ExecSpawner {
            poller,
            config,
            children: HashMap::new(),
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
    fn spawn(&mut self, worker: u64, socket: OwnedFd, status: OwnedFd) -> io::Result<Option<u32>> {
        let mut command = Command::new("/proc/self/exe");
        command
            .arg0(crate::sys::spawn::program_arg0())
            .args(std::env::args_os().skip(1))
            .env(ROLE_VAR, ROLE_WORKER)
            .env(PARENT_VAR, std::process::id().to_string())
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
                self.children.insert(worker, ExecChild { child, pid, pidfd });
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

    fn on_event(&mut self, key: usize, _readable: bool, _writable: bool, events: &mut Vec<SpawnEvent>) {
        let Some(worker) = pidfd_worker(key) else { return };
        let Some(mut child) = self.children.remove(&worker) else {
            return;
        };
        // Whatever the worker started dies with it.
        let _ = rustix::process::kill_process_group(child.pid, Signal::KILL);
        let reason = child.child.wait().map_or(ExitReason::Exited(-1), ExitReason::from_std);
        events.push(SpawnEvent::Exited { worker, reason });
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
        for (_, mut child) in self.children.drain() {
            super::zygote::wait_readable(child.pidfd.fd(), deadline);
            let _ = child.child.wait();
        }
    }
}
