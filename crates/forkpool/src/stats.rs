//! What the pool has done so far: [`Pool::stats`](crate::Pool::stats).
//!
//! Counters are relaxed atomics shared by the pool's handles and its
//! supervisor. Each is bumped where the event is decided, once per
//! submission or chunk (never per `map` item), so that counting costs the
//! hot path one atomic add per batch.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::TaskError;

/// A snapshot of a pool's counters; see [`Pool::stats`](crate::Pool::stats).
///
/// Counts are of tasks: one per `submit`, one per `map` item. Each
/// submitted task is counted once in `completed` or `failed` when it ends;
/// until then it is `queued` or `running` (a snapshot taken while the
/// supervisor moves tasks may be off by the tasks in transit).
///
/// ```
/// let pool = forkpool::Pool::builder().workers(1).build()?;
/// pool.submit(|x: u32| x + 1, 1).join().unwrap();
/// let stats = pool.stats();
/// assert_eq!((stats.submitted, stats.completed, stats.failed), (1, 1, 0));
/// # Ok::<(), forkpool::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Tasks submitted (`submit` calls and `map` items handed to the pool).
    pub submitted: u64,
    /// Tasks waiting for a worker.
    pub queued: u64,
    /// Tasks handed to a worker whose results have not come back.
    pub running: u64,
    /// Tasks that ran in a worker and whose outcome came back from it: a
    /// value, a panic, or a result that could not be encoded.
    pub completed: u64,
    /// Tasks the pool ended with an error of its own: crashed, timed out,
    /// over a limit, cancelled, aborted, shut down, or not encodable.
    pub failed: u64,
    /// Of `failed`: cancelled or aborted ([`TaskError::Cancelled`]).
    pub cancelled: u64,
    /// Of `cancelled`: ended by [`Task::abort`](crate::Task::abort) while
    /// a worker had them.
    pub aborted: u64,
    /// Of `failed`: [`TaskError::TimedOut`].
    pub timed_out: u64,
    /// Of `failed`: [`TaskError::Crashed`].
    pub crashed: u64,
    /// Workers running now.
    pub workers: u64,
    /// Workers started since the pool was built (replacements included).
    pub workers_started: u64,
    /// Workers that died or were killed with work in hand: crashes,
    /// timeouts, aborts, memory limits.
    pub workers_lost: u64,
    /// Workers replaced on purpose between tasks
    /// (`max_tasks_per_worker`, `recycle_above`, the CPU allowance).
    pub workers_recycled: u64,
    /// Of `submitted`: tasks `submit` wrote straight to an idle worker,
    /// whose result `join` read from it, with no supervisor in between
    /// (the direct path, see the crate's theory of operation).
    pub direct: u64,
}

/// The live counters behind [`PoolStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitted: AtomicU64,
    running: AtomicU64,
    /// Tasks handed straight to a lent worker that the supervisor has not
    /// yet counted in `running` (see `supervisor/lease.rs`).
    direct: AtomicU64,
    /// Tasks that ever went the direct path.
    direct_total: AtomicU64,
    /// Direct tasks the supervisor adopted whose results a caller took,
    /// still in `running` until the supervisor acks them.
    direct_acked: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    aborted: AtomicU64,
    timed_out: AtomicU64,
    crashed: AtomicU64,
    workers: AtomicU64,
    workers_started: AtomicU64,
    workers_lost: AtomicU64,
    workers_recycled: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn submitted(&self, tasks: u64) {
        add(&self.submitted, tasks);
    }

    pub(crate) fn completed(&self, tasks: u64) {
        add(&self.completed, tasks);
    }

    /// `tasks` tasks ended with `error`.
    #[cold]
    pub(crate) fn failed(&self, tasks: u64, error: &TaskError) {
        add(&self.failed, tasks);
        match error {
            TaskError::Cancelled => add(&self.cancelled, tasks),
            TaskError::TimedOut { .. } => add(&self.timed_out, tasks),
            TaskError::Crashed { .. } => add(&self.crashed, tasks),
            _ => {}
        }
    }

    /// Tasks went straight to a lent worker.
    pub(crate) fn direct(&self, tasks: u64) {
        add(&self.direct, tasks);
        add(&self.direct_total, tasks);
    }

    /// Tasks of the direct path ended, or the supervisor now counts them.
    pub(crate) fn direct_done(&self, tasks: u64) {
        self.direct.fetch_sub(tasks, Ordering::Relaxed);
    }

    /// A caller took the results of `tasks` direct tasks the supervisor
    /// had adopted (`acked`: false), or the supervisor acked them (true).
    pub(crate) fn direct_acked(&self, tasks: u64, acked: bool) {
        if acked {
            self.direct_acked.fetch_sub(tasks, Ordering::Relaxed);
        } else {
            add(&self.direct_acked, tasks);
        }
    }

    /// A running task was aborted (also counted in `failed`).
    pub(crate) fn aborted(&self) {
        add(&self.aborted, 1);
    }

    /// The supervisor's gauges: tasks handed to workers, workers alive.
    pub(crate) fn set_gauges(&self, running: u64, workers: u64) {
        self.running.store(running, Ordering::Relaxed);
        self.workers.store(workers, Ordering::Relaxed);
    }

    pub(crate) fn worker_started(&self) {
        add(&self.workers_started, 1);
    }

    pub(crate) fn worker_lost(&self) {
        add(&self.workers_lost, 1);
    }

    pub(crate) fn worker_recycled(&self) {
        add(&self.workers_recycled, 1);
    }

    pub(crate) fn snapshot(&self) -> PoolStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // Ended first, submitted last: read in this order, a task never
        // counts as ended before it counts as submitted.
        let completed = get(&self.completed);
        let failed = get(&self.failed);
        let running = (get(&self.running) + get(&self.direct)).saturating_sub(get(&self.direct_acked));
        let submitted = get(&self.submitted);
        PoolStats {
            submitted,
            queued: submitted.saturating_sub(completed + failed + running),
            running,
            completed,
            failed,
            cancelled: get(&self.cancelled),
            aborted: get(&self.aborted),
            timed_out: get(&self.timed_out),
            crashed: get(&self.crashed),
            workers: get(&self.workers),
            workers_started: get(&self.workers_started),
            workers_lost: get(&self.workers_lost),
            workers_recycled: get(&self.workers_recycled),
            direct: get(&self.direct_total),
        }
    }
}
