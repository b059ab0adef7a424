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
//! normally it says goodbye on the guardian's control socket and reaps it;
//! the socket closing without a goodbye also means the owner died.
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
//!
//! # When the guardian dies
//!
//! The owner watches its guardian too: the guardian's pidfd (made by the
//! `clone` itself, `CLONE_PIDFD`; `pidfd_open` for one executed again) is
//! in the owner's event loop, the
//! command supervisor's `wait` or the exec-start pool's supervisor thread.
//! If someone kills the guardian (a `kill -9`, the OOM killer), the owner
//! reaps it and starts another at once, which guards the same table: it
//! shares our memory (or maps the same `memfd`), so it sees every child
//! registered before it started and every one registered after, and finds
//! the rest by their marker. The window in which a `SIGKILL` of the owner
//! would leave its children running is from the guardian's death until
//! the owner's loop has handled the pidfd and cloned a new one: a fraction
//! of a millisecond when the loop is waiting, one turn of the loop when
//! it is busy, and for a command supervisor used as a library, until its
//! next `wait`. The new guardian need not be running yet: if the owner
//! dies before it is, it finds the owner gone and cleans up at once.
//!
//! A guardian that keeps dying (killed within a second of its start, again
//! and again) or cannot be started (`EAGAIN` under `RLIMIT_NPROC`,
//! `ENOMEM`) is started again after 10 ms, then after a delay doubling up
//! to 1 s, for as long as the owner runs (`guardian/restarts.rs`): never a
//! spin, never a panic, and the owner's run does not stop for it, since
//! its children are still supervised by a living owner; only the owner's
//! own death is uncovered meanwhile. Its user hears of it once per lapse
//! (`command::Event::Unguarded`: a warning on the `forkpool` command's
//! stderr; a `tracing` warning for a pool), and again when a guardian has
//! run for a second (`command::Event::Guarded`).

mod restarts;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use polling::Poller;
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};

pub(crate) use restarts::News;
use restarts::Restarts;

use crate::sys::guard::{GOODBYE, SharedGuardian};
use crate::sys::poll::Watched;
use crate::sys::slots::SharedSlots;
use crate::worker::entry::{GUARDIAN_CONTROL_FD, GUARDIAN_TABLE_FD, PARENT_VAR, ROLE_GUARDIAN, ROLE_VAR};

/// The environment variable that marks an owner's children.
pub(crate) const MARKER_VAR: &str = "FORKPOOL_SUPERVISOR";

/// The owner's handle on its guardian.
#[derive(Debug)]
pub(crate) struct Guardian {
    /// The running guardian; `None` while its replacement is put off.
    /// Dropped first (fields drop in order): a guardian sharing our memory
    /// is reaped before the table it reads is unmapped.
    current: Option<Incarnation>,
    table: SharedSlots,
    /// The table's `memfd`, for a guardian that is the program executed
    /// again (each one started gets a copy); `None` for one that shares our
    /// memory, and reads the table there.
    table_fd: Option<OwnedFd>,
    /// Slots released, to be taken again first.
    free: Vec<u32>,
    /// Slots never taken yet start here: a run of one job touches one
    /// slot, not a list of all of them.
    fresh: u32,
    /// The owner's event loop, where the guardian's pidfd is watched
    /// under `key`.
    poller: Arc<Poller>,
    key: usize,
    restarts: Restarts,
}

/// One guardian process, from its start to its reaping.
#[derive(Debug)]
struct Incarnation {
    /// Our end of its control socket. A socket, not a pipe: the goodbye
    /// to a guardian that died is an `EPIPE` (`MSG_NOSIGNAL`), never a
    /// `SIGPIPE` that would kill an owner which does not ignore it.
    control: OwnedFd,
    /// Its pidfd, in the owner's poller: readable once it exited.
    pidfd: Option<Watched>,
    process: Process,
}

/// How the guardian runs.
#[derive(Debug)]
enum Process {
    /// Sharing our memory (reaped by its own `Drop`).
    Shared(SharedGuardian),
    /// The program itself, executed again (reaped by `Incarnation`'s).
    Exec(Pid),
}

impl Drop for Incarnation {
    fn drop(&mut self) {
        // A normal shutdown; to a guardian that died, an `EPIPE`.
        let _ = rustix::net::send(&self.control, &[GOODBYE], rustix::net::SendFlags::NOSIGNAL);
        // Out of the poller before it is reaped.
        self.pidfd = None;
        // A shared guardian is reaped by its own drop, right after this.
        if let Process::Exec(pid) = self.process {
            while let Err(Errno::INTR) = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {}
        }
    }
}

impl Guardian {
    /// Starts a guardian with room for `capacity` children at once, and
    /// watches its pidfd in `poller` under `key`: when that is ready, call
    /// [`on_exit`](Guardian::on_exit), and call [`tick`](Guardian::tick)
    /// by [`wake_at`](Guardian::wake_at).
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
    pub(crate) fn start(capacity: usize, poller: Arc<Poller>, key: usize) -> io::Result<Guardian> {
        let (table, table_fd) = if std::env::var_os(MARKER_VAR).is_none() {
            // It reads the table in the memory it shares with us: no memfd.
            (SharedSlots::in_our_memory(capacity)?, None)
        } else {
            let (table, fd) = SharedSlots::create("forkpool-jobs", capacity)?;
            (table, Some(fd))
        };
        let mut guardian = Guardian {
            current: None,
            table,
            table_fd,
            free: Vec::new(),
            fresh: 0,
            poller,
            key,
            restarts: Restarts::default(),
        };
        guardian.current = Some(guardian.launch()?);
        guardian.restarts.started(Instant::now());
        Ok(guardian)
    }

    /// Starts one guardian process, watched in the poller.
    fn launch(&self) -> io::Result<Incarnation> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let (control, theirs) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
        let (process, pidfd) = match &self.table_fd {
            None => {
                let owner = rustix::process::getpid();
                let marker = marker(owner);
                let (process, pidfd) = SharedGuardian::start(self.table.slots(), theirs, owner, marker.as_bytes())?;
                (Process::Shared(process), pidfd)
            }
            Some(table_fd) => {
                let pid = spawn_program(table_fd, &theirs)?;
                drop(theirs);
                // Our unreaped child: its pid is still its own.
                match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
                    Ok(pidfd) => (Process::Exec(pid), pidfd),
                    Err(e) => {
                        // Reaped when `control` closes.
                        drop(Incarnation {
                            control,
                            pidfd: None,
                            process: Process::Exec(pid),
                        });
                        return Err(e.into());
                    }
                }
            }
        };
        let mut incarnation = Incarnation {
            control,
            pidfd: None,
            process,
        };
        incarnation.pidfd = Some(Watched::new(self.poller.clone(), pidfd, self.key, true, false)?);
        Ok(incarnation)
    }

    /// The guardian's pidfd is ready: if it exited (someone killed it),
    /// reaps it and starts another at once, or when due (see
    /// `restarts.rs`). What the owner's user should hear, if anything.
    pub(crate) fn on_exit(&mut self) -> Option<News> {
        let exited = self
            .current
            .as_ref()
            .and_then(|c| c.pidfd.as_ref())
            .is_none_or(|pidfd| has_exited(pidfd.fd()));
        if !exited {
            return None;
        }
        // Reaped here: its end of the socket is closed, the goodbye fails.
        self.current = None;
        let now = Instant::now();
        let news = self.restarts.died(now);
        news.or_else(|| self.tick(now))
    }

    /// Starts a guardian if one is due; what the owner's user should hear,
    /// if anything.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<News> {
        if self.current.is_none() && self.restarts.due(now) {
            match self.launch() {
                Ok(incarnation) => {
                    self.current = Some(incarnation);
                    self.restarts.started(now);
                }
                Err(e) => return self.restarts.failed(now, &e),
            }
        }
        self.restarts.tick(now)
    }

    /// When [`tick`](Guardian::tick) has work: a restart put off, or news
    /// owed. `None` in the normal course of things.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        self.restarts.wake_at()
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

    /// The guardian process's pid (`None` while none runs).
    pub(crate) fn pid(&self) -> Option<u32> {
        let pid = match &self.current.as_ref()?.process {
            Process::Shared(process) => process.pid(),
            Process::Exec(pid) => *pid,
        };
        Some(pid.as_raw_pid() as u32)
    }
}

/// Whether the process behind `pidfd` has exited (left unreaped). A
/// pidfd is readable only then; asked anyway, so that a stale readiness
/// never costs a guardian that runs.
fn has_exited(pidfd: std::os::fd::BorrowedFd<'_>) -> bool {
    loop {
        match rustix::process::waitid(
            WaitId::PidFd(pidfd),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        ) {
            Ok(Some(_)) => return true,
            Ok(None) => return false,
            Err(Errno::INTR) => {}
            // Reaped already (`SIGCHLD` ignored): gone.
            Err(_) => return true,
        }
    }
}

/// Starts the program itself as a guardian reading the table in
/// `table_fd`, with `control` as its end of the control socket.
fn spawn_program(table_fd: &OwnedFd, control: &OwnedFd) -> io::Result<Pid> {
    use crate::sys::posix_spawn::{self, Request, Stdio};
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
    let table_source = rustix::io::fcntl_dupfd_cloexec(table_fd, 64)?;
    let control_source = rustix::io::fcntl_dupfd_cloexec(control.as_fd(), 64)?;
    posix_spawn::spawn(&Request {
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
        nice: None,
    })
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
