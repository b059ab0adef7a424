//! The zygote: a single-threaded copy of the program that forks workers.
//!
//! It is the program re-executed and diverted before `main` (see
//! `entry`), so it holds no user thread and no lock: forking it is safe,
//! and each worker starts as a copy-on-write clone that already has
//! whatever `preload` loaded.
//!
//! Its loop waits (with `poll`) on three kinds of descriptor:
//! - the control socket: spawn and kill requests from the supervisor;
//! - a pidfd of the client process: when the client dies, however it
//!   dies, the zygote kills every worker's process group and exits;
//! - a pidfd per worker: when a worker ends, the zygote kills what is left
//!   of its process group, reaps it (`waitid` on the pidfd, so the pid
//!   cannot have been reused), and reports how it ended.
//!
//! It is also a child subreaper: a process a task started is re-parented
//! to the zygote when its own parent dies. A `SIGCHLD` handler (a self-pipe
//! in the loop) has such strays reaped as soon as they end, so none stays
//! a zombie. When a worker ends, its process group is killed, and so are
//! strays that left every live worker's group (with `setsid`: they cannot
//! be traced to a worker); strays still in a live worker's group are left
//! to it. When the zygote exits, every stray is killed.

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

use super::config::ZygoteConfig;
use crate::ipc::control::{self, FromZygote, Received, ToZygote};
use crate::sys;
use crate::sys::exit::ExitReason;
use crate::sys::fork::Forked;

struct Child {
    worker: u64,
    pid: Pid,
    pidfd: OwnedFd,
}

struct Zygote {
    control: OwnedFd,
    client: OwnedFd,
    /// Read end of the `SIGCHLD` self-pipe.
    sigchld: OwnedFd,
    config: ZygoteConfig,
    me: Pid,
    children: Vec<Child>,
}

/// What a freshly forked child needs, handed out of the loop so the
/// zygote's own descriptors can be closed before the worker starts.
struct Start {
    config: ZygoteConfig,
    socket: OwnedFd,
    status: OwnedFd,
    zygote: Pid,
    /// Its stdout and stderr pipes, when task output is not inherited.
    output: Option<[OwnedFd; 2]>,
}

/// The zygote's `main`. Never returns.
pub(crate) fn run(control: OwnedFd, client: Pid) -> ! {
    let _ = sys::abort::ignore_sigpipe();
    // A program that ignores SIGCHLD passes that on through exec, and with
    // it the kernel would reap workers before we could learn how they
    // ended; preload's own children deserve the default too.
    sys::signal_pipe::restore_default(&[libc::SIGCHLD]);
    sys::fds::ensure_standard_fds();
    let me = rustix::process::getpid();
    if control::send(&control, &FromZygote::Hello { pid: me.as_raw_pid() }, &[]).is_err() {
        std::process::exit(0);
    }
    let config = match control::recv::<ToZygote>(&control, false) {
        Ok(Received::Message(ToZygote::Configure(config), _)) => config,
        _ => std::process::exit(0),
    };
    // Until the preload is done the zygote dies with the client outright
    // (PR_SET_PDEATHSIG, set by the spawner); it has no workers to clean up.
    if let Some(preload) = config.preload
        && let Err(message) = super::run_hook(preload, "preload")
    {
        let _ = control::send(&control, &FromZygote::PreloadFailed { message }, &[]);
        std::process::exit(1);
    }
    match sys::threads::count() {
        Ok(1) => {}
        Ok(n) => {
            let message = format!(
                "preload left {n} threads running; the zygote must stay single-threaded so that \
                 workers can be forked safely (start threads in worker_init instead)"
            );
            let _ = control::send(&control, &FromZygote::PreloadFailed { message }, &[]);
            std::process::exit(1);
        }
        Err(e) => {
            let message = format!("cannot count the zygote's threads: {e}");
            let _ = control::send(&control, &FromZygote::PreloadFailed { message }, &[]);
            std::process::exit(1);
        }
    }
    // From here on, watch the client through a pidfd instead, so that its
    // death leads to an orderly kill of every worker's process group.
    let client_fd = match rustix::process::pidfd_open(client, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(_) => std::process::exit(0),
    };
    if rustix::process::getppid() != Some(client) {
        std::process::exit(0);
    }
    let _ = rustix::process::set_parent_process_death_signal(None);
    // Processes a task detaches from its worker's group (`setsid`) would
    // outlive it as orphans; as a subreaper the zygote inherits them, and
    // sweeps them away (see `sweep_strays`).
    let _ = rustix::process::set_child_subreaper(Some(me));
    let Ok(sigchld) = sys::signal_pipe::install(&[libc::SIGCHLD]) else {
        let message = "cannot watch SIGCHLD".to_owned();
        let _ = control::send(&control, &FromZygote::PreloadFailed { message }, &[]);
        std::process::exit(1);
    };
    if control::send(&control, &FromZygote::Ready, &[]).is_err() {
        std::process::exit(0);
    }
    let zygote = Zygote {
        control,
        client: client_fd,
        sigchld,
        config,
        me,
        children: Vec::new(),
    };
    let start = zygote.serve();
    super::run_forked(
        &start.config.worker,
        start.socket,
        start.status,
        start.zygote,
        start.output,
    )
}

impl Zygote {
    /// Serves until it is time to exit (in the zygote), or returns in a
    /// newly forked child with everything the zygote owned closed.
    fn serve(mut self) -> Start {
        loop {
            let mut fds = Vec::with_capacity(3 + self.children.len());
            fds.push(PollFd::new(&self.control, PollFlags::IN));
            fds.push(PollFd::new(&self.client, PollFlags::IN));
            fds.push(PollFd::new(&self.sigchld, PollFlags::IN));
            fds.extend(self.children.iter().map(|c| PollFd::new(&c.pidfd, PollFlags::IN)));
            match rustix::event::poll(&mut fds, None) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => self.exit_now(),
            }
            let control_ready = !fds[0].revents().is_empty();
            let client_gone = !fds[1].revents().is_empty();
            let child_signal = !fds[2].revents().is_empty();
            let ended: Vec<usize> = fds[3..]
                .iter()
                .enumerate()
                .filter(|(_, fd)| !fd.revents().is_empty())
                .map(|(i, _)| i)
                .collect();
            drop(fds);
            if client_gone {
                self.exit_now();
            }
            let any_ended = !ended.is_empty();
            for index in ended.into_iter().rev() {
                let child = self.children.remove(index);
                let reason = reap(&child);
                let message = FromZygote::Exited {
                    worker: child.worker,
                    reason,
                };
                if control::send(&self.control, &message, &[]).is_err() {
                    self.exit_now();
                }
            }
            if any_ended {
                self.sweep_strays(false);
            }
            if child_signal {
                let mut buf = [0u8; 64];
                while matches!(rustix::io::read(&self.sigchld, &mut buf), Ok(n) if n > 0) {}
                self.reap_strays();
            }
            if control_ready && let Some(start) = self.on_control() {
                return start;
            }
        }
    }

    fn on_control(&mut self) -> Option<Start> {
        let (message, fds) = match control::recv::<ToZygote>(&self.control, false) {
            Ok(Received::Message(message, fds)) => (message, fds),
            Ok(Received::Closed) => self.exit_now(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return None,
            Err(_) => self.exit_now(),
        };
        match message {
            ToZygote::Spawn { worker } => self.spawn(worker, fds),
            ToZygote::Kill { worker } => {
                if let Some(child) = self.children.iter().find(|c| c.worker == worker) {
                    kill(child);
                }
                None
            }
            ToZygote::Terminate { worker } => {
                if let Some(child) = self.children.iter().find(|c| c.worker == worker) {
                    let _ = rustix::process::kill_process_group(child.pid, Signal::TERM);
                }
                None
            }
            ToZygote::Configure(_) => None,
        }
    }

    fn spawn(&mut self, worker: u64, fds: Vec<OwnedFd>) -> Option<Start> {
        // A socket and a status page, then the output pipes if the pool
        // takes its tasks' output.
        let mut fds = fds.into_iter();
        let (socket, status) = match (fds.next(), fds.next()) {
            (Some(socket), Some(status)) => (socket, status),
            _ => {
                let message = "spawn request without a socket and a status page".to_owned();
                let _ = control::send(&self.control, &FromZygote::SpawnFailed { worker, message }, &[]);
                return None;
            }
        };
        let output = match (fds.next(), fds.next()) {
            (Some(out), Some(err)) if self.config.worker.capture_output => Some([out, err]),
            (None, None) if !self.config.worker.capture_output => None,
            _ => {
                let message = "spawn request with the wrong output pipes".to_owned();
                let _ = control::send(&self.control, &FromZygote::SpawnFailed { worker, message }, &[]);
                return None;
            }
        };
        match sys::fork::fork_single_threaded() {
            Ok(Forked::Child) => {
                let start = Start {
                    config: self.config.clone(),
                    socket,
                    status,
                    zygote: self.me,
                    output,
                };
                // Returning drops `self` in this child, closing the control
                // socket, the client's pidfd and every other worker's pidfd:
                // they are the zygote's, not the worker's.
                Some(start)
            }
            Ok(Forked::Parent(pid)) => {
                drop((socket, status, output));
                // Also set here, so that a kill right after this reply
                // already reaches the group.
                let _ = rustix::process::setpgid(Some(pid), Some(pid));
                match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
                    Ok(pidfd) => {
                        self.children.push(Child { worker, pid, pidfd });
                        let message = FromZygote::Spawned {
                            worker,
                            pid: pid.as_raw_pid(),
                        };
                        if control::send(&self.control, &message, &[]).is_err() {
                            self.exit_now();
                        }
                    }
                    Err(e) => {
                        // Without a pidfd we cannot reap it safely: kill it
                        // and reap by pid (it is our child and unreaped, so
                        // the pid is still its own).
                        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
                        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                        let message = format!("pidfd_open failed: {e}");
                        let _ = control::send(&self.control, &FromZygote::SpawnFailed { worker, message }, &[]);
                    }
                }
                None
            }
            Err(e) => {
                let message = format!("fork failed: {e}");
                let _ = control::send(&self.control, &FromZygote::SpawnFailed { worker, message }, &[]);
                None
            }
        }
    }

    /// Kills every worker's process group, reaps them all, and exits.
    fn exit_now(&mut self) -> ! {
        for child in &self.children {
            kill(child);
        }
        for child in &self.children {
            reap(child);
        }
        self.sweep_strays(true);
        std::process::exit(0)
    }

    /// Reaps the zygote's children that are not workers and have ended.
    fn reap_strays(&self) {
        let workers: Vec<Pid> = self.children.iter().map(|c| c.pid).collect();
        for pid in children_of(self.me).into_iter().filter(|p| !workers.contains(p)) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        }
    }

    /// Kills the zygote's children that are not workers, handed to us
    /// because we are a subreaper: all of them with `exiting`, otherwise
    /// those outside every live worker's process group (a dead worker's
    /// group was killed when it was reaped). With `exiting`, waits for each
    /// to die; otherwise they are reaped when their `SIGCHLD` comes.
    fn sweep_strays(&self, exiting: bool) {
        let workers: Vec<Pid> = self.children.iter().map(|c| c.pid).collect();
        for pid in children_of(self.me).into_iter().filter(|p| !workers.contains(p)) {
            if !exiting && rustix::process::getpgid(Some(pid)).is_ok_and(|group| workers.contains(&group)) {
                // A live worker's task still owns it.
                continue;
            }
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let options = if exiting {
                rustix::process::WaitOptions::empty()
            } else {
                rustix::process::WaitOptions::NOHANG
            };
            let _ = rustix::process::waitpid(Some(pid), options);
        }
    }
}

/// The children of process `pid` (from `/proc/<pid>/task/<pid>/children`).
fn children_of(pid: Pid) -> Vec<Pid> {
    let raw = pid.as_raw_pid();
    std::fs::read_to_string(format!("/proc/{raw}/task/{raw}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok().and_then(Pid::from_raw))
        .collect()
}

/// SIGKILL to the worker's process group and to the worker itself (in
/// case a task moved it to another group).
fn kill(child: &Child) {
    let _ = rustix::process::kill_process_group(child.pid, Signal::KILL);
    let _ = rustix::process::pidfd_send_signal(&child.pidfd, Signal::KILL);
}

/// Kills what is left of an ended worker's process group, then reaps it.
/// The worker is not reaped yet, so its pid (which is the group id) cannot
/// have been reused.
fn reap(child: &Child) -> ExitReason {
    let _ = rustix::process::kill_process_group(child.pid, Signal::KILL);
    loop {
        match rustix::process::waitid(WaitId::PidFd(child.pidfd.as_fd()), WaitIdOptions::EXITED) {
            Ok(Some(status)) => return ExitReason::from_waitid(&status),
            Err(Errno::INTR) => {}
            Ok(None) | Err(_) => return ExitReason::Exited(-1),
        }
    }
}
