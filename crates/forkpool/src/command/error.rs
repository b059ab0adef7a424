//! Why a job could not start: [`SpawnError`], and which of its kinds are
//! worth trying again later.

use std::io;

// For the docs' links.
#[cfg(doc)]
use super::{MAX_RUNNING, Supervisor};

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
