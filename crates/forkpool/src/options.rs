//! Per-task settings: [`Pool::task`](crate::Pool::task).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::call;
use crate::map::Map;
use crate::pool::Pool;
use crate::stream::TaskStream;
use crate::task::Task;

/// Limits of one submission, over the pool's. `None`: the pool's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) memory: Option<u64>,
}

/// Settings for the tasks submitted through it; see [`Pool::task`].
///
/// A value set here overrides the pool's for these tasks alone; the
/// errors name it ([`TaskError::TimedOut`](crate::TaskError::TimedOut)'s `after`,
/// [`TaskError::MemoryLimitExceeded`](crate::TaskError::MemoryLimitExceeded)'s `limit`).
///
/// ```
/// use std::time::Duration;
/// use forkpool::{Pool, TaskError};
///
/// let pool = Pool::builder().workers(1).build()?;
/// let hang = pool
///     .task()
///     .timeout(Duration::from_millis(200))
///     .submit(|_: ()| -> u8 { loop { std::thread::park() } }, ());
/// assert_eq!(hang.join(), Err(TaskError::TimedOut { after: Duration::from_millis(200) }));
/// # Ok::<(), forkpool::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "task options do nothing until a task is submitted through them"]
pub struct TaskOptions<'pool> {
    pool: &'pool Pool,
    limits: Limits,
}

impl<'pool> TaskOptions<'pool> {
    pub(crate) fn new(pool: &'pool Pool) -> TaskOptions<'pool> {
        TaskOptions {
            pool,
            limits: Limits::default(),
        }
    }

    /// Hard time limit for each of these tasks (each item of a `map`),
    /// instead of the pool's `task_timeout`: a task that runs longer ends
    /// with [`TaskError::TimedOut`](crate::TaskError::TimedOut), its worker (and the worker's process
    /// group) killed and replaced, after the pool's `timeout_grace`.
    ///
    /// Never early; late by up to two ticks of the coarse monotonic clock
    /// (4 ms each on most kernels) plus the supervisor's wake-up and the
    /// kill, as [`PoolBuilder::task_timeout`](crate::PoolBuilder::task_timeout)
    /// details.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// The most memory, in bytes, each of these tasks may allocate,
    /// instead of the pool's `memory_limit` (see
    /// [`PoolBuilder::memory_limit`](crate::PoolBuilder::memory_limit) for
    /// what is counted). A task that allocates past it ends with
    /// [`TaskError::MemoryLimitExceeded`](crate::TaskError::MemoryLimitExceeded) and its worker is replaced.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.limits.memory = Some(bytes);
        self
    }

    /// Like [`Pool::submit`], with these settings.
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Task<R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = f;
        let entry = call::entry_offset::<F, A, R>();
        self.pool.task_with(entry, &arg, self.limits)
    }

    /// Like [`Pool::map`], with these settings.
    pub fn map<F, A, R, I>(&self, f: F, inputs: I) -> Map<'pool, I::IntoIter, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        let entry = call::entry_offset::<F, A, R>();
        Map::new(self.pool, entry, inputs.into_iter(), true).with_limits(self.limits)
    }

    /// Like [`Pool::stream`], with these settings: the timeout bounds each
    /// item the generator makes, the memory limit what the whole stream
    /// allocates.
    pub fn stream<F, A, I, T>(&self, f: F, arg: A) -> TaskStream<T>
    where
        F: Fn(A) -> I + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = T> + 'static,
        I::IntoIter: 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = f;
        self.pool
            .submit_stream(crate::stream::entry::entry_offset::<F, A, I>(), &arg, self.limits)
    }

    /// Like [`Pool::map_unordered`], with these settings.
    pub fn map_unordered<F, A, R, I>(&self, f: F, inputs: I) -> Map<'pool, I::IntoIter, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        let entry = call::entry_offset::<F, A, R>();
        Map::new(self.pool, entry, inputs.into_iter(), false).with_limits(self.limits)
    }
}
