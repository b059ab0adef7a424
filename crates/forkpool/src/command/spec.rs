//! How to start a job: the [`Spec`] a caller fills in, and where the
//! job's standard input ([`Input`]) and outputs ([`Output`]) come from and
//! go. What the supervisor does with it is `Supervisor::spawn`, in
//! `mod.rs`.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

// For the docs' links.
#[cfg(doc)]
use super::{Event, Supervisor};

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
