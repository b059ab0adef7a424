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

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use serde::de::DeserializeOwned;

use crate::error::TaskError;
use crate::ipc::codec;
use crate::ipc::frame::FrameFds;
use crate::ipc::protocol::{Record, Records, Tag};

const QUEUED: u8 = 0;
const DISPATCHED: u8 = 1;
const CANCELLED: u8 = 2;

/// Locks a mutex, ignoring poisoning: every critical section here leaves
/// the data consistent, so a panic elsewhere does not make it unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Results for a run of items.
#[derive(Debug)]
pub(crate) enum Part {
    /// Items `first..first + count` reported by a worker, as records.
    Records {
        first: u32,
        count: u32,
        bytes: Vec<u8>,
        /// The records' descriptors.
        fds: FrameFds,
        /// The largest out-of-line result accepted.
        limit: usize,
        elapsed_ns: u64,
    },
    /// Items `first..first + count` failed with `error`.
    Failed { first: u32, count: u32, error: TaskError },
}

impl Part {
    fn first(&self) -> u32 {
        match self {
            Part::Records { first, .. } | Part::Failed { first, .. } => *first,
        }
    }

    fn count(&self) -> u32 {
        match self {
            Part::Records { count, .. } | Part::Failed { count, .. } => *count,
        }
    }
}

/// The complete outcome of a slot: parts in item order, covering all items.
#[derive(Debug)]
pub(crate) struct Outcome {
    parts: Vec<Part>,
}

impl Outcome {
    /// Total worker time the items took, as the workers measured it.
    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Records { elapsed_ns, .. } => *elapsed_ns,
                Part::Failed { .. } => 0,
            })
            .sum()
    }

    /// Decodes every item's result, in order, onto `out`.
    pub(crate) fn decode_into<R: DeserializeOwned>(self, out: &mut VecDeque<Result<R, TaskError>>) {
        for part in self.parts {
            match part {
                Part::Failed { count, error, .. } => {
                    out.extend((0..count).map(|_| Err(error.clone())));
                }
                Part::Records {
                    count,
                    bytes,
                    mut fds,
                    limit,
                    ..
                } => {
                    let mut decoded = 0;
                    for record in Records::new(&bytes).take(count as usize) {
                        decoded += 1;
                        out.push_back(match record {
                            Ok(record) => {
                                let item_fds = fds.take(record.item.fds());
                                decode_record(record, item_fds, limit)
                            }
                            Err(e) => Err(TaskError::Protocol { message: e.to_string() }),
                        });
                    }
                    // The supervisor checked the count; this only guards a
                    // broken invariant without losing an item.
                    out.extend((decoded..count).map(|_| {
                        Err(TaskError::Protocol {
                            message: "missing result record".into(),
                        })
                    }));
                }
            }
        }
    }

    /// Decodes the outcome of a single-item slot.
    pub(crate) fn decode_one<R: DeserializeOwned>(self) -> Result<R, TaskError> {
        let mut out = VecDeque::with_capacity(1);
        self.decode_into(&mut out);
        out.pop_front().unwrap_or_else(|| {
            Err(TaskError::Protocol {
                message: "no result".into(),
            })
        })
    }
}

fn decode_record<R: DeserializeOwned>(
    record: Record<'_>,
    fds: Vec<Option<OwnedFd>>,
    limit: usize,
) -> Result<R, TaskError> {
    match record.tag {
        Tag::Ok => codec::decode(&record.item, fds, limit).map_err(|e| TaskError::Codec {
            message: format!("cannot decode the result: {}", e.reason()),
        }),
        Tag::Panicked => Err(TaskError::Panicked {
            message: String::from_utf8_lossy(record.item.inline).into_owned(),
        }),
        Tag::Codec => Err(TaskError::Codec {
            message: String::from_utf8_lossy(record.item.inline).into_owned(),
        }),
        Tag::Cancelled => Err(TaskError::Cancelled),
    }
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
    covered: u32,
    waker: Option<Waker>,
    listener: Option<(Arc<Notifier>, usize)>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Slot {
    state: AtomicU8,
    finished: AtomicBool,
    /// Nobody wants the results any more (see `abandon`).
    abandoned: AtomicBool,
    items: u32,
    inner: Mutex<Inner>,
    cond: Condvar,
}

impl Slot {
    /// A slot for `items` items, queued.
    pub(crate) fn new(items: u32) -> Arc<Slot> {
        Arc::new(Slot {
            state: AtomicU8::new(QUEUED),
            finished: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            items,
            inner: Mutex::new(Inner::default()),
            cond: Condvar::new(),
        })
    }

    /// A slot that is already finished: all `items` failed with `error`
    /// (used when an argument cannot even be encoded).
    pub(crate) fn failed(items: u32, error: TaskError) -> Arc<Slot> {
        let slot = Slot::new(items);
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
        let part = Part::Failed {
            first: 0,
            count: self.items,
            error: TaskError::Cancelled,
        };
        self.add_locked(inner, part);
        true
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
        inner.covered = inner.covered.saturating_add(part.count());
        inner.assembling.push(part);
        if inner.covered < self.items {
            return;
        }
        let mut parts = std::mem::take(&mut inner.assembling);
        parts.sort_by_key(Part::first);
        inner.outcome = Some(Outcome { parts });
        // Finished: no longer cancellable.
        let _ = self
            .state
            .compare_exchange(QUEUED, DISPATCHED, Ordering::AcqRel, Ordering::Acquire);
        self.finished.store(true, Ordering::Release);
        let waker = inner.waker.take();
        let listener = inner.listener.take();
        drop(inner);
        self.cond.notify_all();
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
            match deadline {
                None => inner = self.cond.wait(inner).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        return false;
                    };
                    inner = self
                        .cond
                        .wait_timeout(inner, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        drop(inner);
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
    use crate::ipc::protocol::ResultsWriter;

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
        let slot = Slot::new(4);
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
        let mut out = VecDeque::new();
        outcome.decode_into::<u32>(&mut out);
        let got: Vec<_> = out.into_iter().collect();
        assert_eq!(got, vec![Ok(10), Err(TaskError::Cancelled), Ok(30), Ok(40)]);
    }

    #[test]
    fn cancel_wins_only_before_dispatch() {
        let a = Slot::new(1);
        assert!(a.cancel());
        assert!(!a.begin_dispatch());
        assert_eq!(a.take().unwrap().decode_one::<u32>(), Err(TaskError::Cancelled));

        let b = Slot::new(1);
        assert!(b.begin_dispatch());
        assert!(!b.cancel());
        assert!(!b.is_finished());
    }

    #[test]
    fn listeners_and_deadlines() {
        let slot = Slot::new(1);
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
