//! What the pool has done so far: [`Pool::stats`](crate::Pool::stats).
//!
//! Counters are relaxed atomics shared by the pool's handles and its
//! supervisor. Each is bumped where the event is decided, once per
//! submission or chunk (never per `map` item), so that counting costs the
//! hot path one atomic add per batch. Ends are counted before the result
//! is handed to the task's holder, and `running` is moved by the workers'
//! ledgers as they take and acknowledge work (before the results reach
//! the slot): whoever has seen a result reads counters that include it.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::error::TaskError;

/// A snapshot of a pool's counters; see [`Pool::stats`](crate::Pool::stats).
///
/// Counts are of tasks: one per `submit`, one per `map` item. Each
/// submitted task is counted once in `completed` or `failed` when it ends;
/// until then it is `queued` or `running`. A task whose result you have
/// (from `join`, `map`, ...) is already counted as ended, and no longer as
/// running; so is an aborted task, from the moment `abort` returns (with
/// `aborted` counted). A snapshot taken while tasks move may count one in
/// transit twice or not at all; `queued` is derived (submitted minus the
/// rest) and never below zero.
///
/// The worker gauges follow the supervisor, a moment later: an aborted
/// running task's worker counts in `workers_lost` (and its replacement in
/// `workers_started`, `workers`) once the supervisor has killed and
/// reaped it, which `join` does not wait for. A task aborted before its
/// worker started it costs no worker: the worker skips it.
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
///
/// Grouped by who writes them, each group on cache lines of its own: the
/// threads that submit bump `submitting` once per submission, the
/// supervisor (and whoever completes a task) bumps `settling` once per
/// result. Sharing one line, every task would move it between the
/// submitting core and the supervisor's twice (measured: submit-all 5-10%
/// slower, see `benches/local_ab`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitting: CachePadded<Submitting>,
    settling: CachePadded<Settling>,
}

#[derive(Debug, Default)]
struct Submitting {
    submitted: AtomicU64,
    /// Tasks handed straight to a lent worker that the supervisor has not
    /// yet counted in `running` (see `supervisor/lease.rs`).
    direct: AtomicU64,
    /// Tasks that ever went the direct path.
    direct_total: AtomicU64,
}

#[derive(Debug, Default)]
struct Settling {
    /// Items handed to workers (their ledgers) whose results have not come
    /// back: moved by the ledgers as they change, so that it is exact at
    /// the moment a result becomes visible to its task's holder.
    running: AtomicU64,
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
        add(&self.submitting.submitted, tasks);
    }

    pub(crate) fn completed(&self, tasks: u64) {
        add(&self.settling.completed, tasks);
    }

    /// `tasks` tasks ended with `error`.
    #[cold]
    pub(crate) fn failed(&self, tasks: u64, error: &TaskError) {
        let s = &self.settling;
        add(&s.failed, tasks);
        match error {
            TaskError::Cancelled => add(&s.cancelled, tasks),
            TaskError::TimedOut { .. } => add(&s.timed_out, tasks),
            TaskError::Crashed { .. } => add(&s.crashed, tasks),
            _ => {}
        }
    }

    /// Tasks went straight to a lent worker.
    pub(crate) fn direct(&self, tasks: u64) {
        add(&self.submitting.direct, tasks);
        add(&self.submitting.direct_total, tasks);
    }

    /// Tasks of the direct path ended, or the supervisor now counts them.
    pub(crate) fn direct_done(&self, tasks: u64) {
        self.submitting.direct.fetch_sub(tasks, Ordering::Relaxed);
    }

    /// A running task was aborted (also counted in `failed`).
    pub(crate) fn aborted(&self) {
        add(&self.settling.aborted, 1);
    }

    /// `items` more items are in workers' hands (a ledger took them).
    pub(crate) fn running_more(&self, items: u64) {
        if items > 0 {
            add(&self.settling.running, items);
        }
    }

    /// `items` fewer items are in workers' hands (a ledger acked them,
    /// took them back, or settled them, or they were aborted).
    pub(crate) fn running_less(&self, items: u64) {
        if items > 0 {
            self.settling.running.fetch_sub(items, Ordering::Relaxed);
        }
    }

    /// The supervisor's gauge: workers alive. Written only when it
    /// changes, as the supervisor publishes it on every wake-up.
    pub(crate) fn set_workers(&self, workers: u64) {
        if self.settling.workers.load(Ordering::Relaxed) != workers {
            self.settling.workers.store(workers, Ordering::Relaxed);
        }
    }

    pub(crate) fn worker_started(&self) {
        add(&self.settling.workers_started, 1);
    }

    pub(crate) fn worker_lost(&self) {
        add(&self.settling.workers_lost, 1);
    }

    pub(crate) fn worker_recycled(&self) {
        add(&self.settling.workers_recycled, 1);
    }

    pub(crate) fn snapshot(&self) -> PoolStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (s, e) = (&self.submitting, &self.settling);
        // Ended first, submitted last: read in this order, a task never
        // counts as ended before it counts as submitted.
        let completed = get(&e.completed);
        let failed = get(&e.failed);
        // Wrapping: an aborted direct task leaves `direct` through
        // `running` (see `Slot::release_hold`), so `running` alone may
        // dip below zero; the sum is what counts, and a sum caught in
        // transit below zero reads as zero.
        let running = get(&e.running).wrapping_add(get(&s.direct));
        let running = if running > u64::MAX / 2 { 0 } else { running };
        let submitted = get(&s.submitted);
        PoolStats {
            submitted,
            queued: submitted.saturating_sub(completed + failed + running),
            running,
            completed,
            failed,
            cancelled: get(&e.cancelled),
            aborted: get(&e.aborted),
            timed_out: get(&e.timed_out),
            crashed: get(&e.crashed),
            workers: get(&e.workers),
            workers_started: get(&e.workers_started),
            workers_lost: get(&e.workers_lost),
            workers_recycled: get(&e.workers_recycled),
            direct: get(&s.direct_total),
        }
    }
}
