//! How a process ended.

use serde::{Deserialize, Serialize};

/// How a child process ended, as `waitid` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitReason {
    /// It called `exit` (or returned from `main`) with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled {
        /// The signal number, e.g. 11 for `SIGSEGV`.
        signal: i32,
        /// Whether a core dump was written.
        core_dumped: bool,
    },
}

impl ExitReason {
    /// Converts a `waitid` result.
    pub(crate) fn from_waitid(status: &rustix::process::WaitIdStatus) -> Self {
        match (status.exit_status(), status.terminating_signal()) {
            (Some(code), _) => ExitReason::Exited(code),
            (None, Some(signal)) => ExitReason::Signaled {
                signal,
                core_dumped: status.dumped(),
            },
            // waitid(WEXITED) only reports terminated children; anything
            // else is reported as a plain failure code.
            (None, None) => ExitReason::Exited(-1),
        }
    }

    /// Converts a `std::process::ExitStatus`.
    pub(crate) fn from_std(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitReason::Exited(code),
            (None, Some(signal)) => ExitReason::Signaled {
                signal,
                core_dumped: status.core_dumped(),
            },
            (None, None) => ExitReason::Exited(-1),
        }
    }

    /// True for a clean `exit(0)`.
    pub fn success(self) -> bool {
        self == ExitReason::Exited(0)
    }
}

impl std::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitReason::Exited(code) => write!(f, "exited with code {code}"),
            ExitReason::Signaled { signal, core_dumped } => {
                write!(f, "killed by {}", super::signal::describe(signal))?;
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}
