//! The guardian: a small process that outlives its owner's process just
//! long enough to stop every child it left behind.
//!
//! Two owners use one: the command supervisor (`command`), whose jobs are
//! children of its process, and a pool started with `StartMethod::Exec`,
//! whose workers are. Each child runs in its own process group. If the
//! owner's process dies without cleaning up (a `SIGKILL`, a crash), the
//! children die with it (`PR_SET_PDEATHSIG`, for workers) or run on as
//! orphans (jobs), and in both cases whatever *they* started would run on.
//! The guardian prevents that: it holds a pidfd of the owner's process and
//! a shared table where the owner writes each child's pid (its process
//! group) as soon as it is spawned. When the owner's process dies, the
//! guardian sends every registered process group `SIGTERM`, waits briefly,
//! then `SIGKILL`s what is left, and exits. When the owner shuts down
//! normally it says goodbye on the guardian's control pipe and reaps it;
//! the pipe closing without a goodbye also means the owner died.
//!
//! A child spawned in the instant before the owner died may not be in the
//! table yet. Every child's environment holds `FORKPOOL_SUPERVISOR=<pid>`,
//! so the guardian also looks through `/proc/*/environ` for processes
//! carrying its owner's pid (a few times over a short moment, so a child
//! still being executed is found too), and stops those.
//!
//! The guardian is the program itself, re-executed and diverted before
//! `main` (see `worker::entry`), in a process group of its own so that a
//! Ctrl-C meant for the program does not kill it too. Its start is not
//! waited for: the owner goes on as soon as the kernel has loaded it.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::sys::slots::SharedSlots;
use crate::worker::entry::{GUARDIAN_CONTROL_FD, GUARDIAN_TABLE_FD, PARENT_VAR, ROLE_GUARDIAN, ROLE_VAR};

/// How long children get between `SIGTERM` and `SIGKILL` when the
/// guardian cleans up after a dead owner.
const GRACE: Duration = Duration::from_millis(200);

/// The environment variable that marks an owner's children.
pub(crate) const MARKER_VAR: &str = "FORKPOOL_SUPERVISOR";

/// The owner's handle on its guardian.
#[derive(Debug)]
pub(crate) struct Guardian {
    table: SharedSlots,
    free: Vec<u32>,
    control: Option<OwnedFd>,
    /// Our child until `Drop` reaps it, so its pid cannot be reused.
    pid: Pid,
}

impl Guardian {
    /// Starts a guardian with room for `capacity` children at once.
    ///
    /// It is started with `posix_spawn` (glibc runs the child on our
    /// memory until it execs: no page tables copied), so this returns as
    /// soon as the kernel has loaded it; its start-up runs beside our first
    /// jobs, not before them. Nothing needs more: the table is ours before
    /// the guardian exists, and if we die before it is up, it finds us gone
    /// when it starts and cleans up at once.
    pub(crate) fn start(capacity: usize) -> io::Result<Guardian> {
        use crate::sys::posix_spawn::{self, Request, Stdio};
        let (table, table_fd) = SharedSlots::create("forkpool-jobs", capacity)?;
        let (control_read, control_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let own = [
            variable(ROLE_VAR, ROLE_GUARDIAN.as_bytes()),
            variable(PARENT_VAR, std::process::id().to_string().as_bytes()),
        ]
        .into_iter()
        .collect::<Option<Vec<CString>>>()
        .ok_or_else(|| io::Error::other("cannot encode the guardian's environment"))?;
        // Ours, without the marker: if we are ourselves a child of an owner
        // that dies (a job, or a worker), its guardian must not stop this
        // one before it has stopped its own children.
        let inherited: Vec<CString> = std::env::vars_os()
            .filter(|(name, _)| ![ROLE_VAR, PARENT_VAR, MARKER_VAR].iter().any(|n| name == n))
            .filter_map(|(name, value)| variable(&name.to_string_lossy(), value.as_bytes()))
            .collect();
        let envp: Vec<&CStr> = inherited.iter().chain(&own).map(CString::as_c_str).collect();
        // The child dup2s each source to its number, in order: copies above
        // every target first, so that no dup2 clobbers a later source.
        let table_source = rustix::io::fcntl_dupfd_cloexec(&table_fd, 64)?;
        let control_source = rustix::io::fcntl_dupfd_cloexec(&control_read, 64)?;
        let pid = posix_spawn::spawn(&Request {
            program: c"/proc/self/exe",
            argv: &[CString::from(c"forkpool-guardian")],
            envp: &envp,
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Inherit,
            extra: &[
                (table_source.as_raw_fd(), GUARDIAN_TABLE_FD),
                (control_source.as_raw_fd(), GUARDIAN_CONTROL_FD),
            ],
        })?;
        Ok(Guardian {
            table,
            free: (0..capacity as u32).rev().collect(),
            control: Some(control_write),
            pid,
        })
    }

    /// Takes a free slot for a child about to start.
    pub(crate) fn take_slot(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// The slot's atomic, for the child's pid.
    pub(crate) fn slot(&self, slot: u32) -> &std::sync::atomic::AtomicI32 {
        &self.table.slots()[slot as usize]
    }

    /// Releases a slot once its child has been reaped.
    pub(crate) fn release(&mut self, slot: u32) {
        self.table.slots()[slot as usize].store(0, Ordering::SeqCst);
        self.free.push(slot);
    }

    /// The guardian process's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid.as_raw_pid() as u32
    }
}

/// Written on the control pipe before it is closed: a normal shutdown.
/// End of stream without it means the owner died.
const GOODBYE: u8 = b'.';

impl Drop for Guardian {
    fn drop(&mut self) {
        if let Some(control) = self.control.take() {
            let _ = rustix::io::write(&control, &[GOODBYE]);
        }
        while let Err(Errno::INTR) = rustix::process::waitpid(Some(self.pid), rustix::process::WaitOptions::empty()) {}
    }
}

/// `name=value` as a C string (`None` if it holds a NUL).
fn variable(name: &str, value: &[u8]) -> Option<CString> {
    let mut bytes = Vec::with_capacity(name.len() + 1 + value.len());
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(value);
    CString::new(bytes).ok()
}

/// The guardian's `main`. Never returns.
pub(crate) fn run(table: OwnedFd, control: OwnedFd, parent: Pid) -> ! {
    let Ok(table) = SharedSlots::open(&table) else {
        std::process::exit(111)
    };
    // If the parent is already gone (it may die while we start up), that
    // is exactly when the cleaning is needed.
    let Ok(parent_fd) = rustix::process::pidfd_open(parent, PidfdFlags::empty()) else {
        clean_up(&table, parent)
    };
    if rustix::process::getppid() != Some(parent) {
        clean_up(&table, parent);
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
            clean_up(&table, parent);
        }
        if !fds[1].revents().is_empty() {
            // A goodbye is a normal shutdown. End of stream without one is
            // the owner dying: its descriptors close before its pidfd
            // reports the death, so this can come first.
            let mut byte = [0u8; 1];
            match rustix::io::read(&control, &mut byte) {
                Ok(1) if byte[0] == GOODBYE => std::process::exit(0),
                Err(Errno::INTR | Errno::AGAIN) => {}
                _ => clean_up(&table, parent),
            }
        }
    }
}

/// Stops every child of the dead owner: the registered process groups,
/// and any process whose environment carries the owner's marker.
/// `SIGTERM`, a short grace, then `SIGKILL`.
fn clean_up(table: &SharedSlots, parent: Pid) -> ! {
    let mut groups: Vec<Pid> = table
        .slots()
        .iter()
        .filter_map(|slot| Pid::from_raw(slot.load(Ordering::SeqCst)))
        .collect();
    let marker = format!("{MARKER_VAR}={}", parent.as_raw_pid());
    let deadline = Instant::now() + GRACE;
    let alive = |group: &Pid| rustix::process::test_kill_process_group(*group).is_ok();
    let mut first = true;
    loop {
        // Marked processes not yet known (the scan repeats: a child caught
        // mid-spawn shows its marker once its exec has finished).
        for pid in marked_processes(&marker) {
            if !groups.contains(&pid) {
                groups.push(pid);
                let _ = rustix::process::kill_process_group(pid, Signal::TERM);
                let _ = rustix::process::kill_process(pid, Signal::TERM);
            }
        }
        if first {
            for &group in &groups {
                let _ = rustix::process::kill_process_group(group, Signal::TERM);
            }
            first = false;
        }
        if Instant::now() >= deadline || !groups.iter().any(alive) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for group in &groups {
        let _ = rustix::process::kill_process_group(*group, Signal::KILL);
        let _ = rustix::process::kill_process(*group, Signal::KILL);
    }
    std::process::exit(0)
}

/// Processes whose initial environment holds `marker` (`NAME=value`).
fn marked_processes(marker: &str) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = rustix::process::getpid();
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok().and_then(Pid::from_raw))
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{}/environ", pid.as_raw_pid()))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
        })
        .collect()
}
