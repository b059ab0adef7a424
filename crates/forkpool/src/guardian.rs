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
//! The guardian is a process that shares the owner's memory (see
//! `sys::guard`): no `exec`, no copy of the owner's page tables, about what
//! starting a thread costs. Only an owner that is itself another owner's
//! child starts the program itself again instead, re-executed and diverted
//! before `main` (see `worker::entry`), with an environment cleaned of that
//! owner's marker (see [`Guardian::start`]). Either way the guardian is in
//! a process group of its own, so that a Ctrl-C meant for the program does
//! not kill it too, and nothing waits for it to be ready: the owner goes on
//! at once.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;

use rustix::io::Errno;
use rustix::process::Pid;

use crate::sys::guard::{GOODBYE, SharedGuardian};
use crate::sys::slots::SharedSlots;
use crate::worker::entry::{GUARDIAN_CONTROL_FD, GUARDIAN_TABLE_FD, PARENT_VAR, ROLE_GUARDIAN, ROLE_VAR};

/// The environment variable that marks an owner's children.
pub(crate) const MARKER_VAR: &str = "FORKPOOL_SUPERVISOR";

/// The owner's handle on its guardian.
#[derive(Debug)]
pub(crate) struct Guardian {
    /// Our child until `Drop` reaps it, so its pid cannot be reused.
    /// Dropped first (fields drop in order): a guardian sharing our memory
    /// is reaped before the table it reads is unmapped.
    process: Process,
    table: SharedSlots,
    /// Slots released, to be taken again first.
    free: Vec<u32>,
    /// Slots never taken yet start here: a run of one job touches one
    /// slot, not a list of all of them.
    fresh: u32,
    control: Option<OwnedFd>,
}

/// How the guardian runs.
#[derive(Debug)]
enum Process {
    /// Sharing our memory (reaped by its own `Drop`).
    Shared(SharedGuardian),
    /// The program itself, executed again.
    Exec(Pid),
}

impl Guardian {
    /// Starts a guardian with room for `capacity` children at once.
    ///
    /// Usually the guardian shares our memory (see `sys::guard`): a
    /// fraction of a millisecond, where executing the program again costs
    /// its whole start-up (the dynamic loader, the runtime) on the
    /// machine's CPUs beside the first jobs, and a `fork` copies our page
    /// tables and every page written afterwards. Nothing waits for it to be
    /// ready: the table is ours before it exists, and if we die before it
    /// is up, it finds us gone when it starts and cleans up at once.
    ///
    /// When we are ourselves another owner's child (our environment holds
    /// that owner's marker), a guardian sharing our memory would show that
    /// marker too, and that owner's guardian would stop it before it has
    /// stopped our children. It is then the program itself, started with
    /// `posix_spawn` (glibc runs the child on our memory until it execs, no
    /// page tables copied) with an environment without the marker.
    pub(crate) fn start(capacity: usize) -> io::Result<Guardian> {
        use crate::sys::posix_spawn::{self, Request, Stdio};
        let (control_read, control_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let free = Vec::new();
        if std::env::var_os(MARKER_VAR).is_none() {
            // It reads the table in the memory it shares with us: no memfd.
            let table = SharedSlots::in_our_memory(capacity)?;
            let owner = rustix::process::getpid();
            let marker = marker(owner);
            let process = SharedGuardian::start(table.slots(), control_read, owner, marker.as_bytes())?;
            return Ok(Guardian {
                table,
                free,
                fresh: 0,
                control: Some(control_write),
                process: Process::Shared(process),
            });
        }
        let (table, table_fd) = SharedSlots::create("forkpool-jobs", capacity)?;
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
            fresh: 0,
            control: Some(control_write),
            process: Process::Exec(pid),
        })
    }

    /// Takes a free slot for a child about to start.
    pub(crate) fn take_slot(&mut self) -> Option<u32> {
        if let Some(slot) = self.free.pop() {
            return Some(slot);
        }
        let slot = self.fresh;
        if (slot as usize) < self.table.slots().len() {
            self.fresh += 1;
            return Some(slot);
        }
        None
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
        let pid = match &self.process {
            Process::Shared(process) => process.pid(),
            Process::Exec(pid) => *pid,
        };
        pid.as_raw_pid() as u32
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        if let Some(control) = self.control.take() {
            let _ = rustix::io::write(&control, &[GOODBYE]);
        }
        // A shared guardian is reaped by its own drop, right after this.
        if let Process::Exec(pid) = self.process {
            while let Err(Errno::INTR) = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {}
        }
    }
}

/// What marks the children of `owner`: `FORKPOOL_SUPERVISOR=<pid>`.
fn marker(owner: Pid) -> String {
    format!("{MARKER_VAR}={}", owner.as_raw_pid())
}

/// `name=value` as a C string (`None` if it holds a NUL).
fn variable(name: &str, value: &[u8]) -> Option<CString> {
    let mut bytes = Vec::with_capacity(name.len() + 1 + value.len());
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(value);
    CString::new(bytes).ok()
}

/// The exec'd guardian's `main`. Never returns.
pub(crate) fn run(table: OwnedFd, control: OwnedFd, parent: Pid) -> ! {
    let Ok(table) = SharedSlots::open(&table) else {
        crate::sys::fork::exit_now(111)
    };
    let code = crate::sys::guard::watch(table.slots(), control.as_fd(), parent, marker(parent).as_bytes());
    crate::sys::fork::exit_now(code)
}
