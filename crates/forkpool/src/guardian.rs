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
//! The guardian is a fork of the owner's process when that is cheap and
//! sound, and otherwise the program itself, re-executed and diverted before
//! `main` (see `worker::entry`); either way in a process group of its own
//! so that a Ctrl-C meant for the program does not kill it too, and not
//! waited for: the owner goes on at once.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::sys::fork::Forked;
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
    /// When it is cheap and sound (see [`fork_is_fitting`]) the guardian is
    /// a `fork` of this process that never execs: a fraction of a
    /// millisecond, where executing the program again costs its whole
    /// start-up (the dynamic loader, the runtime) on the machine's CPUs
    /// beside the first jobs. Otherwise it is started with `posix_spawn`
    /// (glibc runs the child on our memory until it execs, no page tables
    /// copied), not waited for beyond the exec. Either way nothing waits
    /// for it to be ready: the table is ours before it exists, and if we
    /// die before it is up, it finds us gone when it starts and cleans up
    /// at once.
    pub(crate) fn start(capacity: usize) -> io::Result<Guardian> {
        use crate::sys::posix_spawn::{self, Request, Stdio};
        let (table, table_fd) = SharedSlots::create("forkpool-jobs", capacity)?;
        let (control_read, control_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let free = (0..capacity as u32).rev().collect();
        if fork_is_fitting() {
            let owner = rustix::process::getpid();
            match crate::sys::fork::fork_single_threaded()? {
                Forked::Child => {
                    crate::sys::fork::become_helper(&[table_fd.as_raw_fd(), control_read.as_raw_fd()]);
                    // Its own process group, as the exec'd guardian's: a
                    // Ctrl-C meant for us must not reach it.
                    let _ = rustix::process::setpgid(None, None);
                    // What `ps` and `top` call it (the exec'd one's name).
                    let _ = rustix::thread::set_name(c"forkpool-guardi");
                    // A panic must end the guardian here: unwinding out of
                    // `start` would run the owner's own code a second time,
                    // in this process, on descriptors it no longer has.
                    let guard = std::panic::AssertUnwindSafe(move || run(table_fd, control_read, owner));
                    let _ = std::panic::catch_unwind(guard);
                    crate::sys::fork::exit_now(101)
                }
                Forked::Parent(pid) => {
                    return Ok(Guardian {
                        table,
                        free,
                        control: Some(control_write),
                        pid,
                    });
                }
            }
        }
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
            // A Ctrl-C meant for the program must not reach it.
            own_group: true,
        })?;
        Ok(Guardian {
            table,
            free,
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

/// Whether the guardian may be a plain `fork` of this process: only with
/// one thread (after `fork` in a threaded process only async-signal-safe
/// code may run, and the guardian runs ordinary code); only if we are not
/// ourselves another owner's child (a forked guardian's environment is
/// ours, marker included, and that owner's guardian would stop it before
/// it has stopped our children); and only while we are small (a fork
/// copies our page tables, and makes our first write to each page
/// afterwards a copy: for a big process, executing the program again is
/// cheaper).
fn fork_is_fitting() -> bool {
    const SMALL: u64 = 64 << 20;
    if std::env::var_os(MARKER_VAR).is_some() {
        return false;
    }
    let resident_kib = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
        line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
    });
    resident_kib.is_some_and(|kib| kib * 1024 < SMALL) && crate::sys::threads::is_single_threaded()
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
        crate::sys::fork::exit_now(111)
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
            Err(_) => crate::sys::fork::exit_now(1),
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
                Ok(1) if byte[0] == GOODBYE => crate::sys::fork::exit_now(0),
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
    crate::sys::fork::exit_now(0)
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
