//! Supervising external commands: the engine behind the `forkpool`
//! command-line tool, usable on its own.
//!
//! A [`Supervisor`] starts commands ("jobs") and runs one event loop over
//! them. Each job:
//! - runs in a process group of its own, so that a kill reaches everything
//!   it started;
//! - is watched through a pidfd and reaped with `waitid` on it, never by a
//!   pid that could have been reused;
//! - has its stdout and stderr captured through pipes (or inherited);
//! - can be stopped with a termination sequence (`TERM`, wait, ...,
//!   `KILL`) sent to its whole group;
//! - leaves nothing behind: when its first process exits, whatever else is
//!   left in its group is killed; but while a termination sequence runs,
//!   the sequence goes on as long as the group has members (as GNU
//!   parallel's does), and the job's exit is reported when it ends.
//!
//! Nothing outlives the supervisor either. Dropping it kills and reaps
//! every job, and a small guardian process (see `guardian.rs`) stops them
//! if the supervisor's process dies without dropping it, even by
//! `SIGKILL`. Jobs find `FORKPOOL_SUPERVISOR` (the supervisor's pid) in
//! their environment: it is how the guardian recognises them. If the
//! guardian itself dies (someone kills it), [`Supervisor::wait`] notices
//! and starts another that guards the same jobs; one that keeps dying or
//! cannot be started is retried with a growing delay, and reported once as
//! [`Event::Unguarded`]. Until the next `wait`, the jobs are unguarded:
//! keep calling `wait` while jobs run.
//!
//! ```no_run
//! use forkpool::command::{Event, Spec, Supervisor};
//!
//! let mut supervisor = Supervisor::new()?;
//! let job = supervisor.spawn(&Spec::new(["echo", "hello"]))?;
//! let mut events = Vec::new();
//! while supervisor.running() > 0 {
//!     supervisor.wait(None, &mut events)?;
//! }
//! for event in events {
//!     match event {
//!         Event::Output { data, .. } => print!("{}", String::from_utf8_lossy(&data)),
//!         Event::Exited { job: j, reason, .. } => assert!(j == job && reason.success()),
//!         _ => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod descriptors;
mod environment;
mod error;
mod event;
mod program;
mod spec;
mod termseq;

pub use descriptors::open_descriptors_below;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use polling::{Events, Poller};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::guardian::{self, Guardian};
use crate::sys::exit::ExitReason;
use crate::sys::poll::Watched;
use environment::Environment;
pub use error::SpawnError;
pub use event::{Event, Stream, Waker};
pub use program::{find_program, is_executable};
pub use spec::{Input, Output, Spec};
pub use termseq::{TermSeq, TermSeqError, parse_signal};

/// The most jobs one supervisor runs at once.
pub const MAX_RUNNING: usize = 1 << 16;

/// Identifies a job of a [`Supervisor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u64);

#[derive(Debug)]
struct KillPlan {
    steps: Vec<(i32, Duration)>,
    next: usize,
    next_at: Instant,
}

#[derive(Debug)]
struct Job {
    pid: Pid,
    /// Its process group is its own (not with [`Input::Tty`]).
    own_group: bool,
    /// Until the first process is reaped.
    pidfd: Option<Watched>,
    /// How the first process ended, if it did while a termination
    /// sequence ran: the job lingers until its group is empty or the
    /// sequence is over.
    leader: Option<ExitReason>,
    stdout: Option<Watched>,
    stderr: Option<Watched>,
    slot: u32,
    started: Instant,
    kill: Option<KillPlan>,
}

/// How often a lingering group ([`Job::leader`]) is looked at.
const LINGER_POLL: Duration = Duration::from_millis(5);

const KEY_SIGNALS: usize = 0;
const KEY_GUARDIAN: usize = 1;

/// The most one [`Event::Output`] carries.
const OUTPUT_CHUNK: usize = 64 * 1024;

fn key(id: u64, part: usize) -> usize {
    4 + id as usize * 4 + part
}

const PART_PIDFD: usize = 0;
const PART_STDOUT: usize = 1;
const PART_STDERR: usize = 2;

/// See the module docs.
pub struct Supervisor {
    poller: Arc<Poller>,
    events: Events,
    jobs: HashMap<u64, Job>,
    next: u64,
    guardian: Guardian,
    /// What jobs find in their environment: ours, with the guardian's
    /// marker (our pid).
    environment: Environment,
    signals: Option<Watched>,
    woken: Arc<AtomicBool>,
    /// Starts the jobs, on a stack it keeps.
    launcher: crate::sys::clone_spawn::Launcher,
    /// Where output is read into: 64 KiB of capacity, never zeroed (the
    /// kernel writes what `read` returns), so that a run whose jobs print
    /// little touches a page or two of it, not all sixteen.
    buf: Vec<u8>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("running", &self.jobs.len())
            .field("guardian", &self.guardian.pid())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor with no jobs. Starts its guardian process, and takes
    /// a copy of our environment for its jobs (so later changes to ours do
    /// not reach them; set variables per job with [`Spec::env`]).
    pub fn new() -> io::Result<Supervisor> {
        crate::sys::hook::ensure_linked();
        let poller = Arc::new(Poller::new()?);
        Ok(Supervisor {
            guardian: Guardian::start(MAX_RUNNING, poller.clone(), KEY_GUARDIAN)?,
            poller,
            events: Events::new(),
            jobs: HashMap::new(),
            next: 0,
            environment: Environment::capture(
                guardian::MARKER_VAR,
                std::ffi::OsStr::new(&std::process::id().to_string()),
            ),
            signals: None,
            woken: Arc::new(AtomicBool::new(false)),
            launcher: crate::sys::clone_spawn::Launcher::new()?,
            buf: Vec::with_capacity(OUTPUT_CHUNK),
        })
    }

    /// Reports these signals as [`Event::Signal`] instead of their default
    /// action. The handler only writes the number to a pipe; everything
    /// else happens in [`wait`](Supervisor::wait).
    pub fn watch_signals(&mut self, signals: &[i32]) -> io::Result<()> {
        let read = crate::sys::signal_pipe::install(signals)?;
        self.signals = Some(Watched::new(self.poller.clone(), read, KEY_SIGNALS, true, false)?);
        Ok(())
    }

    /// A handle that wakes this supervisor's `wait` from another thread.
    pub fn waker(&self) -> Waker {
        Waker {
            poller: self.poller.clone(),
            woken: self.woken.clone(),
        }
    }

    /// Leaves our variable `name` out of the environment of the jobs
    /// started from now on (a job's [`Spec::env`] may still set it). For
    /// variables meant for this process alone, or too big to copy into
    /// every job.
    ///
    /// ```no_run
    /// let mut supervisor = forkpool::command::Supervisor::new()?;
    /// supervisor.unset_env("HUGE_SETTINGS");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unset_env(&mut self, name: impl AsRef<std::ffi::OsStr>) {
        self.environment.remove(name.as_ref());
    }

    /// Restores the default action of these signals.
    pub fn unwatch_signals(&mut self, signals: &[i32]) {
        crate::sys::signal_pipe::restore_default(signals);
    }

    /// The number of jobs not yet reaped.
    pub fn running(&self) -> usize {
        self.jobs.len()
    }

    /// The pid of a running job.
    pub fn pid(&self, job: JobId) -> Option<u32> {
        self.jobs.get(&job.0).map(|j| j.pid.as_raw_pid() as u32)
    }

    /// Starts a job.
    pub fn spawn(&mut self, spec: &Spec) -> Result<JobId, SpawnError> {
        let Some(program) = spec.argv.first() else {
            return Err(SpawnError::Io(io::Error::other("empty command")));
        };
        let Some(slot) = self.guardian.take_slot() else {
            return Err(SpawnError::TooMany);
        };
        let result = self.spawn_in(spec, program, slot);
        if result.is_err() {
            self.guardian.release(slot);
        }
        result
    }

    fn spawn_in(&mut self, spec: &Spec, program: &OsString, slot: u32) -> Result<JobId, SpawnError> {
        use crate::sys::posix_spawn::{Request, Stdio};
        let program = match &spec.program {
            Some(path) => c_string(path.as_os_str())?,
            None => c_string(&find_program(program, &spec.env)?)?,
        };
        let program = &program;
        let argv = spec.argv.iter().map(|a| c_string(a)).collect::<Result<Vec<_>, _>>()?;
        let own = self.environment.encode(&spec.env)?;
        let envp = self.environment.merged(&own);
        // Our ends of the pipes: close-on-exec, so no other job gets them.
        let pipe = |output: Output| -> io::Result<Option<(OwnedFd, OwnedFd)>> {
            match output {
                // Non-blocking for us; the job's copy of the write end is
                // made blocking in the child (`Stdio::BlockingPipe`): no
                // `ioctl` per pipe here.
                Output::Capture => Ok(Some(rustix::pipe::pipe_with(
                    rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
                )?)),
                Output::Inherit | Output::Null => Ok(None),
            }
        };
        let stdout_pipe = pipe(spec.stdout)?;
        let stderr_pipe = pipe(spec.stderr)?;
        let stdio = |output: Output, pipe: &Option<(OwnedFd, OwnedFd)>| match (output, pipe) {
            (_, Some((_, write))) => Stdio::BlockingPipe(write.as_raw_fd()),
            (Output::Null, None) => Stdio::Null,
            _ => Stdio::Inherit,
        };
        // The terminal, for a job that talks to the user; our copy closes
        // once the job has its own.
        let tty = match spec.stdin {
            Input::Tty => rustix::fs::open(
                "/dev/tty",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOCTTY,
                rustix::fs::Mode::empty(),
            )
            .ok(),
            _ => None,
        };
        let own_group = spec.stdin != Input::Tty;
        let request = Request {
            program,
            argv: &argv,
            envp: &envp,
            stdin: match (&spec.stdin, &tty) {
                (Input::Tty, Some(fd)) => Stdio::Fd(fd.as_raw_fd()),
                (Input::Fd(fd), _) => Stdio::Fd(fd.as_raw_fd()),
                (Input::Inherit, _) => Stdio::Inherit,
                _ => Stdio::Null,
            },
            stdout: stdio(spec.stdout, &stdout_pipe),
            stderr: stdio(spec.stderr, &stderr_pipe),
            extra: &[],
            own_group,
            nice: spec.nice,
        };
        // The job is registered with the guardian right after; a job
        // caught between spawn and registration is still found by the
        // guardian through its environment marker.
        let (pid, pidfd) = self.launcher.spawn(&request).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => SpawnError::NotFound,
            Some(libc::EACCES | libc::EISDIR) => SpawnError::PermissionDenied,
            Some(libc::ENOEXEC) => SpawnError::NotExecutable,
            Some(libc::E2BIG) => SpawnError::TooLong,
            _ => SpawnError::Io(e),
        })?;
        self.guardian
            .slot(slot)
            .store(pid.as_raw_pid(), std::sync::atomic::Ordering::SeqCst);
        // The job has its copies of the write ends; ours must go, or the
        // pipes never report end-of-file.
        let stdout = stdout_pipe.map(|(read, _write)| read);
        let stderr = stderr_pipe.map(|(read, _write)| read);
        let id = self.next;
        self.next += 1;
        let watch = |fd: Option<OwnedFd>, part: usize| -> io::Result<Option<Watched>> {
            fd.map(|fd| Watched::new(self.poller.clone(), fd, key(id, part), true, false))
                .transpose()
        };
        let registered = (|| -> io::Result<Job> {
            Ok(Job {
                pid,
                own_group,
                pidfd: Some(Watched::new(
                    self.poller.clone(),
                    pidfd,
                    key(id, PART_PIDFD),
                    true,
                    false,
                )?),
                leader: None,
                stdout: watch(stdout, PART_STDOUT)?,
                stderr: watch(stderr, PART_STDERR)?,
                slot,
                started: Instant::now(),
                kill: None,
            })
        })();
        match registered {
            Ok(job) => {
                self.jobs.insert(id, job);
                Ok(JobId(id))
            }
            Err(e) => {
                // It runs, but we cannot watch it: stop it and reap it now.
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                Err(SpawnError::Io(e))
            }
        }
    }

    /// Sends `signal` to a job's process group.
    pub fn signal(&mut self, job: JobId, signal: i32) {
        if let Some(j) = self.jobs.get(&job.0) {
            send(j, signal);
        }
    }

    /// Sends `signal` to every job's process group.
    pub fn signal_all(&mut self, signal: i32) {
        for j in self.jobs.values() {
            send(j, signal);
        }
    }

    /// Starts stopping a job with `seq`: the first signal now, the next
    /// ones after their waits, for as long as the job has not exited.
    pub fn terminate(&mut self, job: JobId, seq: &TermSeq) {
        if let Some(j) = self.jobs.get_mut(&job.0) {
            start_plan(j, seq);
        }
    }

    /// [`terminate`](Supervisor::terminate) for every job.
    pub fn terminate_all(&mut self, seq: &TermSeq) {
        for j in self.jobs.values_mut() {
            start_plan(j, seq);
        }
    }

    /// Waits until something happens (or `deadline` passes) and appends
    /// what happened to `events`. Returns at once if there are no jobs,
    /// no watched signals and no deadline; a [`Waker`] also ends the wait.
    /// It is also where a guardian that died is replaced (see the module
    /// docs).
    pub fn wait(&mut self, deadline: Option<Instant>, events: &mut Vec<Event>) -> io::Result<()> {
        let before = events.len();
        loop {
            let now = Instant::now();
            self.advance_kill_plans(now, events);
            if let Some(news) = self.guardian.tick(now) {
                events.push(news.into());
            }
            if events.len() > before || deadline.is_some_and(|d| now >= d) {
                return Ok(());
            }
            if self.jobs.is_empty() && self.signals.is_none() && deadline.is_none() {
                return Ok(());
            }
            let plan_at = self
                .jobs
                .values()
                .filter_map(|j| {
                    let next = j.kill.as_ref().map(|k| k.next_at);
                    // A lingering group is looked at every few ms for members.
                    let look = j.leader.is_some().then(|| now + LINGER_POLL);
                    next.into_iter().chain(look).min()
                })
                .min();
            let wake = [deadline, plan_at, self.guardian.wake_at()].into_iter().flatten().min();
            self.events.clear();
            self.poller
                .wait(&mut self.events, wake.map(|w| w.saturating_duration_since(now)))?;
            let ready: Vec<usize> = self.events.iter().map(|e| e.key).collect();
            for key in ready {
                self.handle(key, events);
            }
            if self.woken.swap(false, Ordering::Acquire) {
                events.push(Event::Woken);
            }
        }
    }

    fn handle(&mut self, key: usize, events: &mut Vec<Event>) {
        if key == KEY_SIGNALS {
            self.read_signals(events);
            return;
        }
        if key == KEY_GUARDIAN {
            // Someone killed it: another one guards the jobs in the table.
            events.extend(self.guardian.on_exit().map(Event::from));
            return;
        }
        let id = ((key - 4) / 4) as u64;
        match (key - 4) % 4 {
            PART_PIDFD => self.reap(id, events),
            PART_STDOUT => self.read_output(id, Stream::Stdout, events, false),
            PART_STDERR => self.read_output(id, Stream::Stderr, events, false),
            _ => {}
        }
    }

    fn read_signals(&mut self, events: &mut Vec<Event>) {
        let Some(pipe) = &self.signals else { return };
        let mut bytes = [0u8; 64];
        loop {
            match rustix::io::read(pipe.fd(), &mut bytes) {
                Ok(0) | Err(_) => return,
                Ok(n) => events.extend(bytes[..n].iter().map(|&b| Event::Signal { signal: i32::from(b) })),
            }
        }
    }

    /// Reads what is available on one of a job's pipes. With `drain`,
    /// reads until the pipe is empty (the job has exited).
    fn read_output(&mut self, id: u64, stream: Stream, events: &mut Vec<Event>, drain: bool) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let pipe = match stream {
            Stream::Stdout => &mut job.stdout,
            Stream::Stderr => &mut job.stderr,
        };
        let Some(fd) = pipe else { return };
        loop {
            self.buf.clear();
            match rustix::io::read(fd.fd(), rustix::buffer::spare_capacity(&mut self.buf)) {
                Ok(0) => {
                    *pipe = None;
                    return;
                }
                Ok(n) => {
                    events.push(Event::Output {
                        job: JobId(id),
                        stream,
                        data: self.buf[..n].to_vec(),
                    });
                    if !drain {
                        return;
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(_) => {
                    *pipe = None;
                    return;
                }
            }
        }
    }

    /// The job's first process has exited: collect the rest of its
    /// output, stop what is left of its group, reap it. While a
    /// termination sequence runs, the group is left to it instead
    /// ([`Job::leader`]).
    fn reap(&mut self, id: u64, events: &mut Vec<Event>) {
        if self
            .jobs
            .get(&id)
            .is_some_and(|job| job.own_group && job.kill.is_some())
        {
            // The job's output ends with its first process, as GNU's
            // does: the rest of the group's goes nowhere.
            self.read_output(id, Stream::Stdout, events, true);
            self.read_output(id, Stream::Stderr, events, true);
            let Some(job) = self.jobs.get_mut(&id) else { return };
            (job.stdout, job.stderr) = (None, None);
            // Reaped, the leader's pid stays the group's id (the kernel
            // reuses no pid a group still has) while the group has members.
            job.leader = job.pidfd.take().map(|fd| wait_pidfd(fd.fd()));
            return;
        }
        self.finish(id, events);
    }

    /// Reports the job's exit: the rest of its output first; what is left
    /// of its group is killed.
    fn finish(&mut self, id: u64, events: &mut Vec<Event>) {
        self.read_output(id, Stream::Stdout, events, true);
        self.read_output(id, Stream::Stderr, events, true);
        let Some(job) = self.jobs.remove(&id) else { return };
        // Unreaped, or its group still has members: its pid is the
        // group's (a gone group's pid may be another's by now).
        let group_left = job.leader.is_none() || rustix::process::test_kill_process_group(job.pid).is_ok();
        if job.own_group && group_left {
            let _ = rustix::process::kill_process_group(job.pid, Signal::KILL);
        }
        let reason = match (job.leader, &job.pidfd) {
            (Some(reason), _) => reason,
            (None, Some(fd)) => wait_pidfd(fd.fd()),
            (None, None) => ExitReason::Exited(-1),
        };
        self.guardian.release(job.slot);
        events.push(Event::Exited {
            job: JobId(id),
            reason,
            runtime: job.started.elapsed(),
        });
    }

    fn advance_kill_plans(&mut self, now: Instant, events: &mut Vec<Event>) {
        let mut done = Vec::new();
        for (&id, job) in &mut self.jobs {
            let Some(plan) = &mut job.kill else { continue };
            // GNU's `kill_sleep`: the next signal goes only to a group
            // that still has members.
            let gone = job.leader.is_some() && rustix::process::test_kill_process_group(job.pid).is_err();
            while !gone && plan.next_at <= now && plan.next < plan.steps.len() {
                let (signal, wait) = plan.steps[plan.next];
                send_to(job.pid, job.own_group, signal);
                plan.next += 1;
                plan.next_at = now + wait;
            }
            if gone || (plan.next >= plan.steps.len() && plan.next_at <= now) {
                job.kill = None;
                if job.leader.is_some() {
                    done.push(id);
                }
            }
        }
        for id in done {
            self.finish(id, events);
        }
    }
}

fn c_string(text: &std::ffi::OsStr) -> Result<std::ffi::CString, SpawnError> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(text.as_bytes()).map_err(|_| SpawnError::NulByte)
}

fn start_plan(job: &mut Job, seq: &TermSeq) {
    if seq.steps.is_empty() {
        return;
    }
    job.kill = Some(KillPlan {
        steps: seq.steps.clone(),
        next: 0,
        next_at: Instant::now(),
    });
}

fn send(job: &Job, signal: i32) {
    send_to(job.pid, job.own_group, signal);
}

/// To the job's process group, or to its process if it has none of its
/// own.
fn send_to(pid: Pid, own_group: bool, signal: i32) {
    let _ = if own_group {
        crate::sys::signal::send_to_group(pid, signal)
    } else {
        crate::sys::signal::send_to_process(pid, signal)
    };
}

fn wait_pidfd(pidfd: impl AsFd) -> ExitReason {
    loop {
        match rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED) {
            Ok(Some(status)) => return ExitReason::from_waitid(&status),
            Err(Errno::INTR) => {}
            Ok(None) | Err(_) => return ExitReason::Exited(-1),
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for job in self.jobs.values() {
            send(job, libc::SIGKILL);
        }
        for (_, job) in self.jobs.drain() {
            if let Some(fd) = &job.pidfd {
                wait_pidfd(fd.fd());
            }
            self.guardian.release(job.slot);
        }
        // The guardian's own Drop closes its pipe and reaps it.
    }
}
