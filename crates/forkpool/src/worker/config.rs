//! Settings a worker (and the zygote) receive from the supervisor.

use serde::{Deserialize, Serialize};

use crate::confine::Confinement;
use crate::sys::code::CodeOffset;

/// How each worker is set up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerConfig {
    /// `worker_init`, run once before the first task.
    pub(crate) init: Option<CodeOffset>,
    /// Bytes the worker's tasks may allocate beyond its start-up state.
    pub(crate) memory_limit: Option<u64>,
    /// Items after which the worker exits and is replaced.
    pub(crate) max_tasks: Option<u64>,
    /// Resident bytes after an item above which the worker exits (between
    /// items) and is replaced.
    pub(crate) recycle_above: Option<u64>,
    /// `timeout_grace` is set: `SIGTERM` must not end the worker itself
    /// (see `sys::signal::survive_sigterm`).
    pub(crate) survive_sigterm: bool,
    /// Largest frame body either side accepts.
    pub(crate) max_message: u32,
    /// Descriptors 1 and 2 are pipes to the supervisor, which attributes
    /// what tasks write there (`TaskOutput::Tagged` and `Capture`).
    pub(crate) capture_output: bool,
    /// What the worker gives up before `worker_init` (see `confine`).
    pub(crate) confine: Confinement,
}

/// What the zygote needs: its preload hook and the workers' settings.
/// Exec-started workers get this too and run `preload` themselves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ZygoteConfig {
    pub(crate) preload: Option<CodeOffset>,
    pub(crate) worker: WorkerConfig,
}
