//! The pool: where tasks are submitted.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::builder::PoolBuilder;
use crate::error::TaskError;
use crate::ipc::codec;
use crate::ipc::outbox::Attachment;
use crate::map::Map;
use crate::options::{Limits, TaskOptions};
use crate::slot::{self, Label, Slot};
use crate::stats::{Counters, PoolStats};
use crate::supervisor::{Job, Shared, Stop};
use crate::sys::code::CodeOffset;
use crate::task::Task;

/// A pool of worker processes.
///
/// Tasks are plain functions or non-capturing closures; their argument and
/// result cross into the worker with `serde`. A task that panics, crashes,
/// hangs or runs out of memory costs that task alone: it ends with a
/// [`TaskError`](crate::TaskError), its worker is replaced, and every other
/// task goes on.
///
/// ```
/// use forkpool::{Pool, TaskError};
///
/// let pool = Pool::builder().workers(2).build()?;
/// assert_eq!(pool.submit(|x: u64| x * x, 7).join(), Ok(49));
///
/// let squares: Vec<u64> = pool.map(|x: u64| x * x, 0..5).collect::<Result<_, _>>().unwrap();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
///
/// let crash = pool.submit(|_: ()| -> u8 { std::process::abort() }, ());
/// assert!(matches!(crash.join(), Err(TaskError::Crashed { signal: Some(6), .. })));
/// pool.shutdown();
/// # Ok::<(), forkpool::Error>(())
/// ```
///
/// `Pool` is `Send` and `Sync`: share it between threads by reference or in
/// an `Arc`. Dropping it is [`shutdown`](Pool::shutdown).
pub struct Pool {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    workers: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers)
            .field("pids", &self.shared.pids())
            .finish()
    }
}

impl Pool {
    /// A builder with the default settings.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A pool with the default settings (one worker per CPU).
    pub fn new() -> Result<Pool, crate::Error> {
        PoolBuilder::default().build()
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, thread: JoinHandle<()>, workers: usize) -> Pool {
        Pool {
            shared,
            thread: Some(thread),
            workers,
        }
    }

    /// Runs `f(arg)` in a worker process.
    ///
    /// `f` must be a function or a closure that captures nothing: only the
    /// argument travels to the worker. A capturing closure is rejected at
    /// compile time with a message saying so:
    ///
    /// ```compile_fail,E0080
    /// # let pool = forkpool::Pool::new().unwrap();
    /// let offset = 10;
    /// pool.submit(move |x: u32| x + offset, 1); // error: captures `offset`
    /// ```
    ///
    /// If `arg` cannot be serialized, the task ends at once with
    /// [`TaskError::Codec`](crate::TaskError::Codec).
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Task<R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.task().submit(f, arg)
    }

    /// Settings for one submission (a timeout, a memory limit) that
    /// override the pool's for it alone; see [`TaskOptions`].
    ///
    /// ```
    /// use forkpool::{Pool, TaskError};
    ///
    /// let pool = Pool::builder().workers(1).build()?;
    /// let greedy = pool.task().memory_limit(16 << 20).submit(|n: usize| vec![1u8; n].len(), 1 << 30);
    /// assert_eq!(greedy.join(), Err(TaskError::MemoryLimitExceeded { limit: 16 << 20 }));
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    pub fn task(&self) -> TaskOptions<'_> {
        TaskOptions::new(self)
    }

    /// What the pool has done so far: tasks submitted, queued, running,
    /// completed and failed, and how workers came and went. See
    /// [`PoolStats`].
    pub fn stats(&self) -> PoolStats {
        self.shared.counters.snapshot()
    }

    pub(crate) fn counters(&self) -> Option<Arc<Counters>> {
        Some(self.shared.counters.clone())
    }

    /// Encodes `arg` and hands it to the supervisor as one task of `entry`.
    pub(crate) fn task_with<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        entry: CodeOffset,
        arg: &A,
        limits: Limits,
    ) -> Task<R> {
        let mut data = Vec::with_capacity(32);
        let label = Label::task(slot::next_id());
        let mut fds = Vec::new();
        let slot = match encode_item(&mut data, &mut fds, self, arg) {
            Err(error) => Slot::failed(1, label, error, self.counters()),
            Ok(size) => {
                let slot = Slot::with(1, label, limits, self.counters());
                // Straight to an idle worker when one is lent, otherwise
                // to the supervisor (see `supervisor/lease.rs`).
                if let Some(id) = self
                    .shared
                    .submit_direct(Job::new(entry, slot.clone(), data, fds, 1, size, true))
                {
                    slot.set_direct(id);
                }
                slot
            }
        };
        Task::new(slot, Arc::downgrade(&self.shared))
    }

    /// Runs `count` items already encoded (`len u32 | bytes` each) for the
    /// task entry `entry`, each under `timeout` if given: how a cluster
    /// node hands the pool what arrived from the broker without decoding
    /// and encoding it again. The caller has checked the items' framing and
    /// sizes.
    #[cfg(feature = "cluster")]
    pub(crate) fn submit_items(
        &self,
        entry: CodeOffset,
        data: Vec<u8>,
        count: u32,
        at_most_once: bool,
        timeout: Option<std::time::Duration>,
    ) -> Arc<Slot> {
        let label = Label {
            id: slot::next_id(),
            base: Some(0),
        };
        let slot = Slot::with(count, label, self.capped(timeout), self.counters());
        let size = data.len() as u64;
        let job = Job::new(entry, slot.clone(), data, Vec::new(), count, size, at_most_once);
        self.shared.submit(job);
        slot
    }

    /// Like [`submit_items`](Pool::submit_items), but each item is a task
    /// of its own, exactly as if `submit`ted one by one (several
    /// submissions that crossed the broker together).
    #[cfg(feature = "cluster")]
    pub(crate) fn submit_each(
        &self,
        entry: CodeOffset,
        data: &[u8],
        count: u32,
        timeout: Option<std::time::Duration>,
    ) -> Vec<Arc<Slot>> {
        let limits = self.capped(timeout);
        let mut jobs = Vec::with_capacity(count as usize);
        let mut slots = Vec::with_capacity(count as usize);
        for item in crate::ipc::protocol::Items::new(data, count) {
            let slot = match item {
                // The node checked that its items are inline.
                Ok(item) => {
                    let mut one = Vec::with_capacity(4 + item.inline.len());
                    let pushed = crate::ipc::protocol::push_item(&mut one, |o| {
                        o.extend_from_slice(item.inline);
                        Ok::<(), ()>(())
                    });
                    let slot = Slot::with(1, Label::task(slot::next_id()), limits, self.counters());
                    if pushed.is_ok() {
                        let size = item.inline.len() as u64;
                        jobs.push(Job::new(entry, slot.clone(), one, Vec::new(), 1, size, true));
                    }
                    slot
                }
                Err(e) => Slot::failed(
                    1,
                    Label::task(slot::next_id()),
                    TaskError::Protocol { message: e.to_string() },
                    self.counters(),
                ),
            };
            slots.push(slot);
        }
        self.shared.submit_all(jobs);
        slots
    }

    /// The limits of a cluster client's items: its `timeout`, capped by the
    /// pool's own `task_timeout` (a node's cap on every client's).
    #[cfg(feature = "cluster")]
    fn capped(&self, timeout: Option<std::time::Duration>) -> Limits {
        let timeout = match (timeout, self.shared.task_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Limits { timeout, memory: None }
    }

    /// Runs `f` on every input, in the workers, and yields the results in
    /// input order.
    ///
    /// The iterator is lazy: inputs are pulled only to keep a bounded window
    /// of work in flight (an endless input is fine), and items are batched
    /// into chunks sized from how long items take, so that tiny tasks cost
    /// little more than a function call. Each item still succeeds or fails
    /// on its own: a panic, crash or timeout fails that item only.
    ///
    /// If a worker dies mid-chunk, the chunk's items whose results had not
    /// yet come back (other than the one that crashed) run again on
    /// another worker, so in `map` an item may run more than once; give
    /// side-effecting work to [`submit`](Pool::submit), which runs a task
    /// at most once.
    pub fn map<F, A, R, I>(&self, f: F, inputs: I) -> Map<'_, I::IntoIter, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.task().map(f, inputs)
    }

    /// Like [`map`](Pool::map), but yields results as they finish rather
    /// than in input order.
    pub fn map_unordered<F, A, R, I>(&self, f: F, inputs: I) -> Map<'_, I::IntoIter, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.task().map_unordered(f, inputs)
    }

    /// The number of workers the pool keeps.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The process ids of the current workers.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.pids().workers
    }

    /// The process id of the zygote, when workers are forked from one.
    pub fn zygote_pid(&self) -> Option<u32> {
        self.shared.pids().zygote
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn max_message(&self) -> usize {
        self.shared.max_message
    }

    /// Stops taking work, lets every submitted task finish, then stops and
    /// reaps every process. Blocks until done.
    ///
    /// A stream still open is not waited for (it may never end): its
    /// consumer gets the items already produced, then
    /// `Err(TaskError::PoolShutdown)`.
    pub fn shutdown(mut self) {
        self.stop(Stop::Shutdown);
    }

    /// Cancels queued tasks (they end with
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled)), kills running
    /// ones (they end with
    /// [`TaskError::PoolShutdown`](crate::TaskError::PoolShutdown)), and reaps
    /// every process. Blocks until done.
    pub fn terminate(mut self) {
        self.stop(Stop::Terminate);
    }

    fn stop(&mut self, how: Stop) {
        if let Some(thread) = self.thread.take() {
            self.shared.request_stop(how);
            let _ = thread.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop(Stop::Shutdown);
    }
}

/// Appends `arg` as one encoded item for `pool` (and its descriptors),
/// enforcing the size limit as it is encoded. Returns the size of its
/// encoding.
pub(crate) fn encode_item<A: Serialize + ?Sized>(
    data: &mut Vec<u8>,
    fds: &mut Vec<Attachment>,
    pool: &Pool,
    arg: &A,
) -> Result<u64, TaskError> {
    codec::encode(
        arg,
        codec::Sink {
            out: data,
            fds,
            limit: pool.max_message(),
            lanes: &pool.shared.lanes,
        },
    )
    .map_err(|e| TaskError::Codec {
        message: format!("cannot encode the argument: {}", e.reason()),
    })
}
