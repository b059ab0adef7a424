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
//!   left in its group is killed.
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

pub use descriptors::open_descriptors_below;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;
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

/// The most jobs one supervisor runs at once.
pub const MAX_RUNNING: usize = 1 << 16;

/// Identifies a job of a [`Supervisor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u64);

/// What a job's standard input is.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Input {
    /// `/dev/null`.
    #[default]
    Null,
    /// The supervisor's own standard input.
    Inherit,
    /// A descriptor of the caller's: a file, a pipe's read end, a memfd.
    /// The job gets its own copy, so the caller may close it once
    /// [`Supervisor::spawn`] returns (for a pipe, it should: the job sees
    /// end-of-file only when every write end is closed).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use forkpool::command::{Input, Spec, Supervisor};
    ///
    /// let (read, write) = rustix::pipe::pipe()?;
    /// let mut supervisor = Supervisor::new()?;
    /// let spec = Spec { stdin: Input::Fd(Arc::new(read)), ..Spec::new(["wc", "-c"]) };
    /// supervisor.spawn(&spec)?;
    /// drop(spec);
    /// rustix::io::write(&write, b"hello")?;
    /// drop(write); // end of its input
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Fd(Arc<OwnedFd>),
    /// The controlling terminal, `/dev/tty` (`/dev/null` when there is
    /// none), for a job that talks to the user. Such a job stays in the
    /// supervisor's process group, so that the terminal lets it read (a job
    /// in a group of its own would be stopped by `SIGTTIN`): signals reach
    /// its first process only, and what it starts is not killed with it.
    Tty,
}

impl PartialEq for Input {
    fn eq(&self, other: &Input) -> bool {
        match (self, other) {
            (Input::Null, Input::Null) | (Input::Inherit, Input::Inherit) | (Input::Tty, Input::Tty) => true,
            (Input::Fd(a), Input::Fd(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Input {}

/// Where a job's standard output or error goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Output {
    /// Into a pipe; the supervisor reports it as [`Event::Output`].
    #[default]
    Capture,
    /// To the supervisor's own stream.
    Inherit,
    /// To `/dev/null`.
    Null,
}

/// Which output stream an [`Event::Output`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How to start a job.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The program (looked up in `PATH`) and its arguments.
    pub argv: Vec<OsString>,
    /// Where the program is, when the caller has looked it up already (a
    /// shell's hash of command paths, say): the supervisor then execs it
    /// without searching `PATH` again. `None`: the supervisor searches the
    /// job's `PATH` (from `env`, else ours) as `execvp` does. Either way
    /// the job's `argv[0]` is `argv[0]` as given.
    pub program: Option<PathBuf>,
    /// Variables to set in the job's environment, on top of ours (as it
    /// was when the [`Supervisor`] was created).
    pub env: Vec<(OsString, OsString)>,
    /// Its standard input.
    pub stdin: Input,
    /// Its standard output.
    pub stdout: Output,
    /// Its standard error.
    pub stderr: Output,
    /// Niceness to run at (raising it always works; lowering it needs
    /// privilege and is otherwise ignored).
    pub nice: Option<i32>,
}

impl Spec {
    /// A spec for `argv`, with stdin from `/dev/null` and both outputs
    /// captured.
    pub fn new<I, S>(argv: I) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spec {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Spec::default()
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A job wrote to a captured stream.
    Output {
        /// The job.
        job: JobId,
        /// Which stream.
        stream: Stream,
        /// What it wrote (at most 64 KiB per event).
        data: Vec<u8>,
    },
    /// A job ended and was reaped. Every `Output` event of the job comes
    /// before this one.
    Exited {
        /// The job.
        job: JobId,
        /// How its first process ended.
        reason: ExitReason,
        /// From spawn to exit.
        runtime: Duration,
    },
    /// A signal passed to [`Supervisor::watch_signals`] arrived.
    Signal {
        /// Its number.
        signal: i32,
    },
    /// A [`Waker`] of this supervisor was woken (once, however many times
    /// it was woken since the last `Woken`).
    Woken,
    /// The guardian (see the module docs) keeps dying or cannot be started
    /// again, so for now a `SIGKILL` of this process would leave the jobs
    /// running. The supervisor goes on starting it again, with a delay
    /// that grows to 1 s, for as long as it runs; the jobs themselves are
    /// not affected. Said once per lapse; [`Event::Guarded`] follows when
    /// a guardian has run for a second again.
    Unguarded {
        /// Why, in words (`its guardian process cannot be started again:
        /// Resource temporarily unavailable`).
        reason: String,
    },
    /// A guardian has run for a second again after [`Event::Unguarded`].
    Guarded,
}

/// Wakes a [`Supervisor`] blocked in [`wait`](Supervisor::wait) from
/// another thread: `wait` returns with [`Event::Woken`]. For a thread
/// that produces work (reads input, say) while the supervisor's thread
/// waits on jobs.
///
/// ```no_run
/// use forkpool::command::{Event, Supervisor};
///
/// let mut supervisor = Supervisor::new()?;
/// supervisor.watch_signals(&[libc::SIGINT])?; // so that `wait` has something to wait on
/// let waker = supervisor.waker();
/// std::thread::spawn(move || waker.wake());
/// let mut events = Vec::new();
/// supervisor.wait(None, &mut events)?;
/// assert!(events.contains(&Event::Woken));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Waker {
    poller: Arc<Poller>,
    woken: Arc<AtomicBool>,
}

impl Waker {
    /// Makes the supervisor's current or next `wait` return.
    pub fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        // Fails only if the poller is gone, and then nobody waits.
        let _ = self.poller.notify();
    }
}

/// Why a job could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program was not found in `PATH`.
    #[error("command not found")]
    NotFound,
    /// The program exists but may not be executed.
    #[error("permission denied")]
    PermissionDenied,
    /// The file is not in an executable format (a script without `#!`).
    #[error("exec format error")]
    NotExecutable,
    /// The arguments and environment are more than `exec` takes (`E2BIG`).
    #[error("argument list too long")]
    TooLong,
    /// An argument or environment variable holds a NUL byte, which `exec`
    /// cannot pass.
    #[error("an argument or environment variable contains a NUL byte")]
    NulByte,
    /// Too many jobs are running already (see [`MAX_RUNNING`]).
    #[error("too many jobs running")]
    TooMany,
    /// Some other operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl SpawnError {
    /// Whether the same spawn may succeed later, once other jobs have
    /// ended: too many jobs, or the system short of processes, memory or
    /// descriptors. Every other error is about the job itself.
    pub fn is_transient(&self) -> bool {
        match self {
            SpawnError::TooMany => true,
            SpawnError::Io(e) => matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::EINTR)
            ),
            _ => false,
        }
    }
}

/// A termination sequence: signals to send to a job's process group, each
/// followed by a wait, until it has exited. GNU parallel's `--termseq`.
///
/// ```
/// let seq: forkpool::command::TermSeq = "TERM,200,KILL,25".parse().unwrap();
/// assert_eq!(seq.to_string(), "TERM,200,KILL,25");
/// assert_eq!(forkpool::command::TermSeq::default().to_string(), "TERM,200,TERM,100,TERM,50,KILL,25");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSeq {
    steps: Vec<(i32, Duration)>,
}

impl Default for TermSeq {
    fn default() -> Self {
        TermSeq {
            steps: vec![
                (libc::SIGTERM, Duration::from_millis(200)),
                (libc::SIGTERM, Duration::from_millis(100)),
                (libc::SIGTERM, Duration::from_millis(50)),
                (libc::SIGKILL, Duration::from_millis(25)),
            ],
        }
    }
}

impl TermSeq {
    /// A sequence of one signal and no wait.
    pub fn immediate(signal: i32) -> TermSeq {
        TermSeq {
            steps: vec![(signal, Duration::ZERO)],
        }
    }
}

/// A `--termseq` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid termination sequence {0:?}: expected SIGNAL,MS[,SIGNAL,MS...], e.g. TERM,200,KILL,25")]
pub struct TermSeqError(String);

impl FromStr for TermSeq {
    type Err = TermSeqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TermSeqError(s.to_owned());
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.is_empty() || !parts.len().is_multiple_of(2) {
            return Err(err());
        }
        let steps = parts
            .chunks(2)
            .map(|pair| {
                let signal = parse_signal(pair[0]).ok_or_else(err)?;
                let wait: u64 = pair[1].parse().map_err(|_| err())?;
                Ok((signal, Duration::from_millis(wait)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TermSeq { steps })
    }
}

impl fmt::Display for TermSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (signal, wait)) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let name = crate::signal_name(*signal).map_or_else(|| signal.to_string(), |n| n.to_string());
            write!(f, "{},{}", name.trim_start_matches("SIG"), wait.as_millis())?;
        }
        Ok(())
    }
}

/// Parses `TERM`, `SIGTERM` or `15`.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..=64).find(|&n| crate::signal_name(n).is_some_and(|full| full.trim_start_matches("SIG") == name))
}

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
    pidfd: Watched,
    stdout: Option<Watched>,
    stderr: Option<Watched>,
    slot: u32,
    started: Instant,
    kill: Option<KillPlan>,
}

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
                pidfd: Watched::new(self.poller.clone(), pidfd, key(id, PART_PIDFD), true, false)?,
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
            self.advance_kill_plans(now);
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
                .filter_map(|j| j.kill.as_ref().map(|k| k.next_at))
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
    /// output, stop what is left of its group, reap it.
    fn reap(&mut self, id: u64, events: &mut Vec<Event>) {
        self.read_output(id, Stream::Stdout, events, true);
        self.read_output(id, Stream::Stderr, events, true);
        let Some(job) = self.jobs.remove(&id) else { return };
        // Unreaped, so its pid (the group id) is still its own.
        if job.own_group {
            let _ = rustix::process::kill_process_group(job.pid, Signal::KILL);
        }
        let reason = wait_pidfd(job.pidfd.fd());
        self.guardian.release(job.slot);
        events.push(Event::Exited {
            job: JobId(id),
            reason,
            runtime: job.started.elapsed(),
        });
    }

    fn advance_kill_plans(&mut self, now: Instant) {
        for job in self.jobs.values_mut() {
            let Some(plan) = &mut job.kill else { continue };
            while plan.next_at <= now && plan.next < plan.steps.len() {
                let (signal, wait) = plan.steps[plan.next];
                send_to(job.pid, job.own_group, signal);
                plan.next += 1;
                plan.next_at = now + wait;
            }
            if plan.next >= plan.steps.len() && plan.next_at <= now {
                job.kill = None;
            }
        }
    }
}

impl From<guardian::News> for Event {
    fn from(news: guardian::News) -> Event {
        match news {
            guardian::News::Unguarded(reason) => Event::Unguarded { reason },
            guardian::News::Guarded => Event::Guarded,
        }
    }
}

/// Where `exec` finds `program`, searched as `execvp` searches: in the
/// job's own `PATH` when `env` sets one, else in ours, else in the
/// default `/bin:/usr/bin`; an empty entry is the current directory, `.`
/// (so a program found there is `./program`, which is what a script run
/// that way sees as `$0`, as under a shell). A name with a `/` is taken as
/// it is. The supervisor finds each job's program with it once, and execs
/// it at that path: the child makes no failed `exec` per `PATH` entry.
///
/// Not found: [`SpawnError::NotFound`], or [`SpawnError::PermissionDenied`]
/// if some entry held a file by that name that may not be run (`execvp`'s
/// `EACCES`).
///
/// ```
/// use std::ffi::{OsStr, OsString};
/// use forkpool::command::find_program;
///
/// let sh = find_program(OsStr::new("sh"), &[])?;
/// assert!(sh.to_string_lossy().ends_with("/sh"));
/// let env = [(OsString::from("PATH"), OsString::from("/nonexistent"))];
/// assert!(find_program(OsStr::new("sh"), &env).is_err());
/// # Ok::<(), forkpool::command::SpawnError>(())
/// ```
pub fn find_program(program: &OsStr, env: &[(OsString, OsString)]) -> Result<OsString, SpawnError> {
    use std::os::unix::ffi::OsStrExt;
    if program.is_empty() {
        return Err(SpawnError::NotFound);
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(program.to_owned());
    }
    let ours;
    let path = match env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, path)) => path.as_os_str(),
        None => {
            ours = std::env::var_os("PATH");
            ours.as_deref().unwrap_or(OsStr::new("/bin:/usr/bin"))
        }
    };
    let mut denied = false;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
        let candidate = Path::new(OsStr::from_bytes(dir)).join(program);
        match std::fs::metadata(&candidate) {
            Ok(m) if runnable(&candidate, &m) => return Ok(candidate.into_os_string()),
            Ok(_) => denied = true,
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied {
        SpawnError::PermissionDenied
    } else {
        SpawnError::NotFound
    })
}

/// Whether `path` is a file that we may execute: a regular file with an
/// execute bit, and `access` says so for our ids, as `exec` will (a
/// directory is not, whatever its bits).
///
/// ```
/// use std::path::Path;
/// use forkpool::command::is_executable;
///
/// assert!(is_executable(Path::new("/bin/sh")));
/// assert!(!is_executable(Path::new("/")));
/// assert!(!is_executable(Path::new("/nonexistent")));
/// ```
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| runnable(path, &m))
}

/// [`is_executable`], the file's metadata read already.
fn runnable(path: &Path, metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    // `access` answers for our ids as `exec` will.
    metadata.is_file()
        && metadata.permissions().mode() & 0o111 != 0
        && rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
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
            wait_pidfd(job.pidfd.fd());
            self.guardian.release(job.slot);
        }
        // The guardian's own Drop closes its pipe and reaps it.
    }
}
