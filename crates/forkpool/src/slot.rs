//! The latch between a submitted task and the supervisor.
//!
//! A slot holds the outcome of one submission of `items` items (1 for
//! `submit`, a chunk for `map`). The supervisor adds results part by part;
//! a chunk can be split across workers (after a crash, or to honour
//! `max_tasks_per_worker`), so parts may arrive in any order. When the parts
//! cover every item the slot completes, and whoever waits is woken: a
//! thread (`Condvar`), a future (`Waker`), or an `as_completed` set
//! (`Notifier`).
//!
//! The state byte settles the race between `cancel` (a user thread) and
//! dispatch (the supervisor): whichever moves it out of `QUEUED` first wins.
//!
//! What a completed slot holds, and its decoding into results, is in
//! [`outcome`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::TaskError;
use crate::options::Limits;
use crate::output::ItemOutput;
use crate::stats::Counters;

mod outcome;

pub(crate) use outcome::{Decoded, Outcome, Part};

/// `Slot::direct` when the task did not go the direct path.
const NOT_DIRECT: u64 = u64::MAX;

/// `Slot::held`: the slot's items were taken out of `running` at once
/// (by `abort`, or by the caller that read their results on the direct
/// path); nobody moves `running` for them any more.
const RELEASED: u64 = 1 << 63;

const QUEUED: u8 = 0;
const DISPATCHED: u8 = 1;
const CANCELLED: u8 = 2;

/// A new task or map id: unique in the process, from 1.
pub(crate) fn next_id() -> u64 {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Which submission a slot's items belong to, for tagging their output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label {
    /// The `Task::id` or `Map::id`.
    pub(crate) id: u64,
    /// For a `map` chunk, the input position of its first item.
    pub(crate) base: Option<u64>,
}

impl Label {
    /// The label of a `submit`.
    pub(crate) fn task(id: u64) -> Label {
        Label { id, base: None }
    }

    /// The tag in front of each line item `index` wrote (`Tagged` output).
    pub(crate) fn tag(&self, index: u32) -> String {
        match self.base {
            None => format!("[task {}] ", self.id),
            Some(base) => format!("[task {}.{}] ", self.id, base + u64::from(index)),
        }
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves
/// the data consistent, so a panic elsewhere does not make it unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes one waiter for "any of these slots finished" (`as_completed`,
/// unordered `map`).
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    ready: Mutex<VecDeque<usize>>,
    cond: Condvar,
}

impl Notifier {
    fn push(&self, token: usize) {
        lock(&self.ready).push_back(token);
        self.cond.notify_one();
    }

    /// The token of a finished slot; waits until one finishes or
    /// `deadline` passes (`None` if it passed first).
    pub(crate) fn pop(&self, deadline: Option<Instant>) -> Option<usize> {
        let mut ready = lock(&self.ready);
        loop {
            if let Some(token) = ready.pop_front() {
                return Some(token);
            }
            match deadline {
                None => ready = self.cond.wait(ready).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    ready = self
                        .cond
                        .wait_timeout(ready, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    outcome: Option<Outcome>,
    assembling: Vec<Part>,
    outputs: Vec<(u32, ItemOutput)>,
    covered: u32,
    /// Threads blocked in `wait`: only then does finishing notify the
    /// condition variable (a system call each time, waiter or not; most
    /// `join`s of a submit-all find their task finished).
    waiters: u32,
    waker: Option<Waker>,
    listener: Option<(Arc<Notifier>, usize)>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Slot {
    label: Label,
    state: AtomicU8,
    finished: AtomicBool,
    /// Nobody wants the results any more (see `abandon`).
    abandoned: AtomicBool,
    /// Ended by `abort` while a worker had it: its worker must go.
    aborted: AtomicBool,
    items: u32,
    /// This submission's own limits (`Pool::task`), over the pool's.
    limits: Limits,
    /// The pool's counters, told how each part ended.
    counters: Option<Arc<Counters>>,
    /// The job id when `submit` wrote it straight to a lent worker
    /// (`NOT_DIRECT` otherwise): its holder's `join` reads the result
    /// there (see `supervisor/lease.rs`). Set by the submitting thread
    /// before it has the handle.
    direct: AtomicU64,
    /// How many of its items are counted in the pool's `running` (by the
    /// workers' ledgers, or as handed straight to a lent worker), plus
    /// `RELEASED`. Whoever takes items out of `running` takes them out
    /// here first, so that each is taken out exactly once: `abort` takes
    /// them all at the moment the task ends, and `Pool::stats` is exact
    /// when its holder sees `Cancelled`, long before the supervisor has
    /// killed the worker and settled its ledger.
    held: AtomicU64,
    inner: Mutex<Inner>,
    cond: Condvar,
}

impl Slot {
    /// A slot for `items` items, queued.
    #[cfg(any(test, feature = "cluster"))]
    pub(crate) fn new(items: u32, label: Label) -> Arc<Slot> {
        Slot::with(items, label, Limits::default(), None)
    }

    /// A slot for `items` items, queued, with its own `limits`, reporting
    /// to `counters`.
    pub(crate) fn with(items: u32, label: Label, limits: Limits, counters: Option<Arc<Counters>>) -> Arc<Slot> {
        if let Some(counters) = &counters {
            counters.submitted(u64::from(items));
        }
        Arc::new(Slot {
            label,
            state: AtomicU8::new(QUEUED),
            finished: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            items,
            limits,
            counters,
            direct: AtomicU64::new(NOT_DIRECT),
            held: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
            cond: Condvar::new(),
        })
    }

    /// A slot that is already finished: all `items` failed with `error`
    /// (used when an argument cannot even be encoded).
    pub(crate) fn failed(items: u32, label: Label, error: TaskError, counters: Option<Arc<Counters>>) -> Arc<Slot> {
        let slot = Slot::with(items, label, Limits::default(), counters);
        slot.state.store(DISPATCHED, Ordering::Relaxed);
        slot.add(Part::Failed {
            first: 0,
            count: items,
            error,
        });
        slot
    }

    /// Number of items.
    pub(crate) fn items(&self) -> u32 {
        self.items
    }

    /// Which submission this is.
    pub(crate) fn label(&self) -> Label {
        self.label
    }

    /// This submission's own limits.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Records that the task went the direct path as job `id`.
    pub(crate) fn set_direct(&self, id: u64) {
        self.direct.store(id, Ordering::Relaxed);
    }

    /// The job id, if the task went the direct path.
    pub(crate) fn direct(&self) -> Option<u64> {
        let id = self.direct.load(Ordering::Relaxed);
        (id != NOT_DIRECT).then_some(id)
    }

    /// Counts `items` more of its items as running. False when the slot
    /// was released (`abort`): they are not to be counted.
    pub(crate) fn hold(&self, items: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held & RELEASED == 0).then_some(held + items)
            })
            .is_ok()
    }

    /// Counts `items` of its items as running no more. False when the
    /// slot was released: whoever released it took them out already.
    pub(crate) fn unhold(&self, items: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held & RELEASED == 0).then_some(held.saturating_sub(items))
            })
            .is_ok()
    }

    /// Releases the slot: returns how many of its items were counted as
    /// running, for the caller to take out of `running`; from now on
    /// `hold` and `unhold` do nothing.
    pub(crate) fn release_hold(&self) -> u64 {
        // The count goes to zero with it: a second release (an abort
        // racing the caller that read the result) takes out nothing.
        self.held.swap(RELEASED, Ordering::AcqRel) & !RELEASED
    }

    /// Keeps what item `index` wrote, for `join_captured`. Must come
    /// before the part that finishes the item; an item that runs twice
    /// (a `map` item re-run after a crash) keeps both runs' output.
    pub(crate) fn add_output(&self, index: u32, output: ItemOutput) {
        let mut inner = lock(&self.inner);
        if inner.outcome.is_none() && !self.is_finished() {
            inner.outputs.push((index, output));
        }
    }

    /// Claims the slot for dispatch. False when it was cancelled first.
    pub(crate) fn begin_dispatch(&self) -> bool {
        match self
            .state
            .compare_exchange(QUEUED, DISPATCHED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == DISPATCHED,
        }
    }

    /// Cancels the slot if no worker has been handed it yet. On success
    /// every item fails with `Cancelled`.
    ///
    /// Decided under the slot's lock, so that `true` always means the slot
    /// ends as cancelled: a slot the supervisor has already finished (say,
    /// failed while shutting down) is not cancellable any more.
    pub(crate) fn cancel(&self) -> bool {
        let mut inner = lock(&self.inner);
        if self.is_finished()
            || self
                .state
                .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        inner.covered = 0;
        inner.assembling.clear();
        inner.outputs.clear();
        let part = Part::Failed {
            first: 0,
            count: self.items,
            error: TaskError::Cancelled,
        };
        self.add_locked(inner, part);
        true
    }

    /// Ends the slot as `Cancelled` wherever it is: queued, it is
    /// cancelled; handed to a worker, it ends now, its results will be
    /// ignored, and the supervisor (told by the caller) kills the worker if
    /// it runs the item, or has it skipped if it has not started it.
    /// Returns `Some(running)` when this call ended the slot, `running`
    /// being whether a worker had it; `None` when it had already ended.
    ///
    /// Decided under the slot's lock, like the results that race it: the
    /// slot ends exactly once, either way.
    pub(crate) fn abort(&self) -> Option<bool> {
        if self.cancel() {
            return Some(false);
        }
        let mut inner = lock(&self.inner);
        if self.is_finished() {
            return None;
        }
        self.abandoned.store(true, Ordering::Release);
        self.aborted.store(true, Ordering::Release);
        inner.covered = 0;
        inner.assembling.clear();
        inner.outputs.clear();
        if let Some(counters) = &self.counters {
            counters.aborted();
            // Not running any more: exact as `join` returns `Cancelled`.
            counters.running_less(self.release_hold());
        }
        let part = Part::Failed {
            first: 0,
            count: self.items,
            error: TaskError::Cancelled,
        };
        self.add_locked(inner, part);
        Some(true)
    }

    /// True when the slot was aborted while a worker had it.
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// True when the slot was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// Cancels the slot if it can be, and otherwise marks it abandoned:
    /// its items may already be with a worker, but nobody will read their
    /// results, so items not yet started should be skipped. Returns true
    /// when the supervisor should be told (the slot was not cancelled
    /// outright and is not finished).
    pub(crate) fn abandon(&self) -> bool {
        if self.cancel() || self.is_finished() {
            return false;
        }
        self.abandoned.store(true, Ordering::Release);
        true
    }

    /// True when nobody wants this slot's results any more.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }

    /// Adds results for some items. Parts must not overlap; the slot
    /// completes when they cover every item.
    pub(crate) fn add(&self, part: Part) {
        let inner = lock(&self.inner);
        self.add_locked(inner, part);
    }

    fn add_locked(&self, mut inner: MutexGuard<'_, Inner>, part: Part) {
        if inner.outcome.is_some() || self.finished.load(Ordering::Acquire) {
            return;
        }
        if let Some(counters) = &self.counters {
            match &part {
                Part::Records { count, .. } => counters.completed(u64::from(*count)),
                Part::Failed { count, error, .. } => counters.failed(u64::from(*count), error),
            }
        }
        inner.covered = inner.covered.saturating_add(part.count());
        if inner.covered < self.items {
            inner.assembling.push(part);
            return;
        }
        let parts = if inner.assembling.is_empty() {
            // The common case, a task or a chunk in one part: a `Vec` of
            // exactly one (pushing would allocate room for four).
            vec![part]
        } else {
            let mut parts = std::mem::take(&mut inner.assembling);
            parts.push(part);
            parts.sort_by_key(Part::first);
            parts
        };
        let outputs = std::mem::take(&mut inner.outputs);
        inner.outcome = Some(Outcome { parts, outputs });
        // Finished: no longer cancellable.
        let _ = self
            .state
            .compare_exchange(QUEUED, DISPATCHED, Ordering::AcqRel, Ordering::Acquire);
        self.finished.store(true, Ordering::Release);
        let waker = inner.waker.take();
        let listener = inner.listener.take();
        let waiters = inner.waiters > 0;
        drop(inner);
        if waiters {
            self.cond.notify_all();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        if let Some((notifier, token)) = listener {
            notifier.push(token);
        }
    }

    /// True once every item has a result.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Waits until finished, or until `deadline`. Returns whether finished.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        if self.is_finished() {
            return true;
        }
        let mut inner = lock(&self.inner);
        while !self.is_finished() {
            let left = match deadline.map(|d| d.checked_duration_since(Instant::now())) {
                None => None,
                Some(Some(left)) => Some(left),
                Some(None) => return false,
            };
            inner.waiters += 1;
            inner = match left {
                None => self.cond.wait(inner).unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.cond
                        .wait_timeout(inner, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            inner.waiters -= 1;
        }
        true
    }

    /// Takes the outcome, once finished. Only the first call gets it.
    pub(crate) fn take(&self) -> Option<Outcome> {
        lock(&self.inner).outcome.take()
    }

    /// Takes the outcome if finished; otherwise registers `cx`'s waker.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Outcome>> {
        let mut inner = lock(&self.inner);
        if self.is_finished() {
            return Poll::Ready(inner.outcome.take());
        }
        match &mut inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Pushes `token` onto `notifier` when the slot finishes (at once if it
    /// already has).
    pub(crate) fn listen(&self, notifier: Arc<Notifier>, token: usize) {
        let mut inner = lock(&self.inner);
        if self.is_finished() {
            drop(inner);
            notifier.push(token);
        } else {
            inner.listener = Some((notifier, token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::codec;
    use crate::ipc::frame::FrameFds;
    use crate::ipc::protocol::{ResultsWriter, Tag};

    fn records(values: &[u32]) -> Vec<u8> {
        let mut out = crate::ipc::outbox::Outbox::default();
        let mut w = ResultsWriter::begin(out.buf(), 1, 0);
        for v in values {
            w.record(out.buf(), Tag::Ok, |o, fds| {
                codec::encode(
                    v,
                    codec::Sink {
                        out: o,
                        fds,
                        limit: 1 << 20,
                        lanes: &crate::shm::lanes::Lanes::unkept(),
                    },
                )
                .map(drop)
            })
            .unwrap();
        }
        w.finish(&mut out, 0).unwrap();
        // Strip the frame header and the fixed fields (5 + 4 + 8 + 4 + 4 + 8).
        out.buf().split_off(33)
    }

    fn part(first: u32, values: &[u32], elapsed_ns: u64) -> Part {
        Part::Records {
            first,
            count: values.len() as u32,
            bytes: records(values),
            fds: FrameFds::none(),
            limit: 1 << 20,
            elapsed_ns,
        }
    }

    #[test]
    fn parts_arriving_out_of_order_assemble_in_item_order() {
        let slot = Slot::new(4, Label::task(1));
        assert!(slot.begin_dispatch());
        slot.add(part(2, &[30, 40], 5));
        assert!(!slot.is_finished());
        slot.add(Part::Failed {
            first: 1,
            count: 1,
            error: TaskError::Cancelled,
        });
        slot.add(part(0, &[10], 1));
        assert!(slot.wait(None));
        let outcome = slot.take().unwrap();
        assert_eq!(outcome.elapsed_ns(), 6);
        let got: Vec<_> = outcome.into_results::<u32>().collect();
        assert_eq!(got, vec![Ok(10), Err(TaskError::Cancelled), Ok(30), Ok(40)]);
    }

    #[test]
    fn cancel_wins_only_before_dispatch() {
        let a = Slot::new(1, Label::task(1));
        assert!(a.cancel());
        assert!(!a.begin_dispatch());
        assert_eq!(a.take().unwrap().decode_one::<u32>(), Err(TaskError::Cancelled));

        let b = Slot::new(1, Label::task(2));
        assert!(b.begin_dispatch());
        assert!(!b.cancel());
        assert!(!b.is_finished());
    }

    #[test]
    fn abort_takes_its_items_out_of_running_exactly_once() {
        let counters = Arc::new(Counters::default());
        let slot = Slot::with(1, Label::task(4), Limits::default(), Some(counters.clone()));
        assert!(slot.begin_dispatch());
        // A ledger takes it: counted, then held.
        counters.running_more(1);
        assert!(slot.hold(1));
        assert_eq!(counters.snapshot().running, 1);
        assert_eq!(slot.abort(), Some(true));
        let stats = counters.snapshot();
        assert_eq!((stats.running, stats.queued, stats.aborted), (0, 0, 1));
        // The ledger settling it later leaves `running` alone...
        assert!(!slot.unhold(1));
        // ...and a ledger taking it afterwards does not count it.
        assert!(!slot.hold(1));
        assert_eq!(slot.release_hold(), 0);
    }

    #[test]
    fn listeners_and_deadlines() {
        let slot = Slot::new(1, Label::task(3));
        assert!(!slot.wait(Some(Instant::now())));
        let n = Arc::new(Notifier::default());
        slot.listen(n.clone(), 7);
        assert_eq!(n.pop(Some(Instant::now())), None);
        slot.add(Part::Failed {
            first: 0,
            count: 1,
            error: TaskError::PoolShutdown,
        });
        assert_eq!(n.pop(None), Some(7));
    }
}
