//! What can go wrong: building a pool ([`Error`]) and running a task
//! ([`TaskError`]).

use std::fmt;
use std::io;
use std::time::Duration;

use crate::sys::signal::describe as describe_signal;

/// How a task ended without a result.
///
/// Every submitted task ends exactly once: with its value, or with one of
/// these, which says why.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The task panicked; `message` is the panic's message, `location`
    /// where it panicked.
    Panicked {
        /// The panic message (`panic!("...")`'s text).
        message: String,
        /// Where the task panicked, as `file:line:column` (`None` for a
        /// panic raised with `std::panic::resume_unwind`, which reports no
        /// location).
        location: Option<String>,
        /// The worker's backtrace at the panic, when backtraces are enabled
        /// (`RUST_BACKTRACE=1` or `full` in the environment the pool was
        /// built in, as for a panic in your own process); `None` otherwise.
        backtrace: Option<String>,
    },
    /// The worker process died while running the task: killed by `signal`
    /// (e.g. 11, `SIGSEGV`), or exited with `exit_code` (e.g. the task called
    /// `std::process::exit(3)`). Both are `None` when the worker was lost
    /// without a status (its zygote died). The pool replaced the worker.
    Crashed {
        /// The signal that killed the worker, if one did.
        signal: Option<i32>,
        /// The worker's exit code, if it exited.
        exit_code: Option<i32>,
    },
    /// The task ran longer than the pool's `task_timeout`; its worker (and
    /// the worker's process group) was killed and replaced.
    TimedOut {
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// The task allocated past the pool's `memory_limit`; its worker was
    /// replaced.
    MemoryLimitExceeded {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The task used more CPU time than the pool's
    /// [`Rlimit::CpuSeconds`](crate::Rlimit::CpuSeconds) allows (the kernel
    /// sent `SIGXCPU`); its worker was replaced.
    CpuLimitExceeded {
        /// The limit, in CPU seconds.
        seconds: u64,
    },
    /// The task was cancelled before it started, and never ran.
    Cancelled,
    /// The argument or the result could not be serialized or deserialized
    /// (or exceeded the pool's message size limit), or the process that
    /// received it had no room for the descriptors of its shared buffers
    /// (its open-files limit; see [`SharedBytes`](crate::SharedBytes),
    /// "One open file each"). The message says which.
    Codec {
        /// What the codec reported.
        message: String,
    },
    /// The pool was terminated (or dropped while terminating) before the
    /// task finished.
    PoolShutdown,
    /// No worker could be started to run the task (for instance,
    /// `worker_init` kept panicking). The pool keeps trying now and then,
    /// and takes tasks again once a worker starts.
    WorkerStartFailed {
        /// Why the last start failed.
        message: String,
    },
    /// The worker sent bytes that are not a valid message; it was killed
    /// and replaced.
    Protocol {
        /// What was wrong with the message.
        message: String,
    },
    /// A cluster task's node went silent (it died, was stopped, or lost its
    /// network) for longer than the cluster's `node_timeout` while it held
    /// the task; the task was not run again (or, with `retries`, every run
    /// allowed was lost the same way). See [`cluster`](crate::cluster).
    NodeLost {
        /// The name of the last node that held the task (`host:pid:...`).
        node: String,
        /// How many times the task was handed to a node and lost.
        attempts: u32,
    },
    /// No live node of the cluster runs this function with these argument
    /// and result types: none offers its name, or the nodes that do were
    /// built from another version of the program. Never retried.
    Unsupported {
        /// The function's registered name.
        name: String,
        /// Why, in words.
        reason: String,
    },
    /// The cluster lost its Redis broker (unreachable for longer than
    /// `node_timeout`, or restarted without the cluster's data) before the
    /// task's result came back.
    BrokerLost {
        /// What went wrong.
        message: String,
    },
    /// The cluster client itself stopped before the task's result came
    /// back: its process was stalled (stopped, frozen) for longer than
    /// its keys live in the broker, so the broker dropped them, or one of
    /// its threads failed. Not the broker's fault, unlike
    /// [`BrokerLost`](TaskError::BrokerLost).
    ClientStopped {
        /// What happened.
        message: String,
    },
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked {
                message,
                location,
                backtrace,
            } => {
                match location {
                    Some(location) => write!(f, "task panicked at {location}: {message}")?,
                    None => write!(f, "task panicked: {message}")?,
                }
                if let Some(backtrace) = backtrace {
                    write!(f, "\nstack backtrace:\n{}", backtrace.trim_end())?;
                }
                Ok(())
            }
            TaskError::Crashed {
                signal: Some(signal), ..
            } => write!(f, "worker process crashed: killed by {}", describe_signal(*signal)),
            TaskError::Crashed {
                signal: None,
                exit_code: Some(code),
            } => write!(f, "worker process exited with code {code} while running the task"),
            TaskError::Crashed {
                signal: None,
                exit_code: None,
            } => f.write_str("worker process was lost while running the task"),
            TaskError::TimedOut { after } => {
                write!(f, "task timed out after {after:?}; its worker was killed and replaced")
            }
            TaskError::MemoryLimitExceeded { limit } => write!(
                f,
                "task exceeded the worker memory limit of {limit} bytes ({}); its worker was replaced",
                human_bytes(*limit)
            ),
            TaskError::CpuLimitExceeded { seconds } => write!(
                f,
                "task used more than its CPU time limit of {seconds} s (SIGXCPU); its worker was replaced"
            ),
            TaskError::Cancelled => f.write_str("task was cancelled before it started"),
            TaskError::Codec { message } => write!(f, "could not encode or decode the task's data: {message}"),
            TaskError::PoolShutdown => f.write_str("the pool was terminated before the task finished"),
            TaskError::WorkerStartFailed { message } => {
                write!(f, "no worker process could be started: {message}")
            }
            TaskError::Protocol { message } => {
                write!(f, "worker sent a malformed message ({message}); it was replaced")
            }
            TaskError::NodeLost { node, attempts: 1 } => {
                write!(
                    f,
                    "node {node} went silent while holding the task; it was not run again"
                )
            }
            TaskError::NodeLost { node, attempts } => {
                write!(f, "the task was lost with its node {attempts} times, last with {node}")
            }
            TaskError::Unsupported { name, reason } => write!(f, "no node can run `{name}`: {reason}"),
            TaskError::BrokerLost { message } => write!(f, "lost the cluster's Redis broker: {message}"),
            TaskError::ClientStopped { message } => {
                write!(f, "the cluster client stopped before the task ended: {message}")
            }
        }
    }
}

impl std::error::Error for TaskError {}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Why a pool could not be built.
///
/// ```
/// let err = forkpool::Pool::builder().workers(0).build().unwrap_err();
/// assert_eq!(err.kind(), forkpool::ErrorKind::InvalidConfig);
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
}

/// The kind of an [`Error`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A builder setting is out of range.
    InvalidConfig,
    /// A process (zygote or worker) could not be started.
    Spawn,
    /// The `preload` hook panicked or left threads running.
    Preload,
    /// The `worker_init` hook panicked or crashed in a new worker.
    WorkerInit,
    /// An operating-system call failed.
    Io,
    /// A least-privilege setting cannot be enforced: `run_as` in a process
    /// without the privilege to change ids, or a sandbox this kernel cannot
    /// enforce (see [`Sandbox::unenforceable`](crate::Sandbox::unenforceable)).
    LeastPrivilege,
    /// The cluster's Redis broker could not be reached or spoke
    /// unexpectedly (see [`cluster`](crate::cluster)).
    Broker,
    /// The broker refused the cluster's user: a wrong user name or
    /// password, or an ACL that lacks a command or the `fp:*` keys.
    Permission,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(message: impl Into<String>, source: io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            message: message.into(),
            source: Some(source),
        }
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What went wrong, broadly.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_messages_name_the_signal_or_code() {
        let segv = TaskError::Crashed {
            signal: Some(11),
            exit_code: None,
        };
        assert_eq!(segv.to_string(), "worker process crashed: killed by SIGSEGV (11)");
        let exit = TaskError::Crashed {
            signal: None,
            exit_code: Some(3),
        };
        assert!(exit.to_string().contains("exited with code 3"));
        let lost = TaskError::NodeLost {
            node: "web1:42:7".into(),
            attempts: 1,
        };
        assert!(lost.to_string().contains("web1:42:7"), "{lost}");
        let oom = TaskError::MemoryLimitExceeded { limit: 64 << 20 };
        let panicked = TaskError::Panicked {
            message: "boom".into(),
            location: Some("src/job.rs:12:5".into()),
            backtrace: None,
        };
        assert_eq!(panicked.to_string(), "task panicked at src/job.rs:12:5: boom");
        let traced = TaskError::Panicked {
            message: "boom".into(),
            location: Some("src/job.rs:12:5".into()),
            backtrace: Some("   0: job::run\n".into()),
        };
        assert_eq!(
            traced.to_string(),
            "task panicked at src/job.rs:12:5: boom\nstack backtrace:\n   0: job::run"
        );
        assert!(oom.to_string().contains("64.0 MiB"), "{oom}");
    }

    #[test]
    fn errors_chain_their_source() {
        let e = Error::io("could not start the zygote", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().starts_with("could not start the zygote: "));
    }
}
