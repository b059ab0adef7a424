//! The guardian: a small process that outlives the command supervisor's
//! process just long enough to stop every job it left behind.
//!
//! Jobs are started by the supervisor's process and are its children, each
//! in its own process group. If that process dies without cleaning up (a
//! `SIGKILL`, a crash), its jobs would run on as orphans. The guardian
//! prevents that: it holds a pidfd of the supervisor's process and a
//! shared table where each job writes its own pid *before* it executes its
//! program (so the registration exists before the program can start
//! anything). When the supervisor's process dies, the guardian sends every
//! registered process group `SIGTERM`, waits briefly, then `SIGKILL`s what
//! is left, and exits. When the supervisor shuts down normally it closes
//! the guardian's control pipe and reaps it.
//!
//! The guardian is the program itself, re-executed and diverted before
//! `main` (see `worker::entry`), in a process group of its own so that a
//! Ctrl-C meant for the program does not kill it too.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::sys::slots::SharedSlots;
use crate::worker::entry::{GUARDIAN_CONTROL_FD, GUARDIAN_TABLE_FD, PARENT_VAR, ROLE_GUARDIAN, ROLE_VAR};

/// How long jobs get between `SIGTERM` and `SIGKILL` when the guardian
/// cleans up after a dead supervisor.
const GRACE: Duration = Duration::from_millis(200);

/// The supervisor's handle on its guardian.
#[derive(Debug)]
pub(crate) struct Guardian {
    table: SharedSlots,
    free: Vec<u32>,
    control: Option<OwnedFd>,
    child: Child,
}

impl Guardian {
    /// Starts a guardian with room for `capacity` running jobs.
    pub(crate) fn start(capacity: usize) -> io::Result<Guardian> {
        let (table, table_fd) = SharedSlots::create("forkpool-jobs", capacity)?;
        let (control_read, control_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let mut command = Command::new("/proc/self/exe");
        command
            .arg0("forkpool-guardian")
            .env(ROLE_VAR, ROLE_GUARDIAN)
            .env(PARENT_VAR, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0);
        crate::sys::spawn::inherit_fds(
            &mut command,
            vec![(table_fd, GUARDIAN_TABLE_FD), (control_read, GUARDIAN_CONTROL_FD)],
        );
        let child = command.spawn()?;
        drop(command);
        Ok(Guardian {
            table,
            free: (0..capacity as u32).rev().collect(),
            control: Some(control_write),
            child,
        })
    }

    /// Takes a free slot for a job about to start.
    pub(crate) fn take_slot(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// The slot's atomic, for the job to write its pid into.
    pub(crate) fn slot(&self, slot: u32) -> &std::sync::atomic::AtomicI32 {
        &self.table.slots()[slot as usize]
    }

    /// Releases a slot once its job has been reaped.
    pub(crate) fn release(&mut self, slot: u32) {
        self.table.slots()[slot as usize].store(0, Ordering::SeqCst);
        self.free.push(slot);
    }

    /// The guardian process's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        // End of stream on the control pipe: exit quietly.
        drop(self.control.take());
        let _ = self.child.wait();
    }
}

/// The guardian's `main`. Never returns.
pub(crate) fn run(table: OwnedFd, control: OwnedFd, parent: Pid) -> ! {
    let Ok(table) = SharedSlots::open(&table) else {
        std::process::exit(111)
    };
    let Ok(parent_fd) = rustix::process::pidfd_open(parent, PidfdFlags::empty()) else {
        std::process::exit(0)
    };
    if rustix::process::getppid() != Some(parent) {
        // The parent died before we could watch it.
        clean_up(&table);
    }
    loop {
        let mut fds = [
            PollFd::new(&parent_fd, PollFlags::IN),
            PollFd::new(&control, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => std::process::exit(1),
        }
        if !fds[0].revents().is_empty() {
            clean_up(&table);
        }
        if !fds[1].revents().is_empty() {
            // The supervisor closed the pipe: a normal shutdown. If it
            // died at the same moment, clean up anyway.
            if is_readable(&parent_fd) {
                clean_up(&table);
            }
            std::process::exit(0);
        }
    }
}

fn is_readable(fd: impl AsFd) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&Timespec::default())), Ok(n) if n > 0)
}

/// Stops every registered job's process group: `SIGTERM`, a short grace,
/// then `SIGKILL`.
fn clean_up(table: &SharedSlots) -> ! {
    let groups: Vec<Pid> = table
        .slots()
        .iter()
        .filter_map(|slot| Pid::from_raw(slot.load(Ordering::SeqCst)))
        .collect();
    for &group in &groups {
        let _ = rustix::process::kill_process_group(group, Signal::TERM);
    }
    let deadline = Instant::now() + GRACE;
    let alive = |group: &&Pid| rustix::process::test_kill_process_group(**group).is_ok();
    while Instant::now() < deadline && groups.iter().any(|g| alive(&g)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    for group in groups.iter().filter(alive) {
        let _ = rustix::process::kill_process_group(*group, Signal::KILL);
    }
    std::process::exit(0)
}
