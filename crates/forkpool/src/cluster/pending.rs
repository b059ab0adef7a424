//! The client's table of tasks sent and not yet ended: where "every task
//! ends exactly once" is decided.
//!
//! A task is put in the table before its entry is sent, and whoever takes
//! it out settles it: the result reader (a node's result, or a verdict of
//! the client's reaper, read from the result stream in the order the
//! broker recorded them), or whoever finds the broker gone. Taking out is
//! one `HashMap::remove` under a lock, so exactly one of them gets the
//! task; a second result for the same task finds nothing and is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use crate::error::TaskError;
use crate::slot::{Part, Slot, lock};

/// Worker time per item above which submissions are never sent together.
const COALESCE_NS: f64 = 2_000_000.0;
/// The most submissions in one entry.
const MAX_COALESCED: usize = 1024;

/// What the client learns about one function as its tasks end.
#[derive(Debug, Default)]
pub(crate) struct FnStats {
    /// Tasks in flight.
    pub(crate) outstanding: AtomicUsize,
    /// Running estimate of worker time per item, in ns.
    item_ns: Mutex<Option<f64>>,
}

impl FnStats {
    /// Learns from a result: `items` items took `elapsed_ns` of worker time.
    pub(crate) fn note_elapsed(&self, items: u32, elapsed_ns: u64) {
        if items == 0 || elapsed_ns == 0 {
            return;
        }
        let sample = elapsed_ns as f64 / f64::from(items);
        let mut estimate = lock(&self.item_ns);
        *estimate = Some(estimate.map_or(sample, |e| 0.8 * e + 0.2 * sample));
    }

    /// How many submitted tasks the writer may put in one entry: as many as
    /// take about 2 ms of work together, once tasks have proved quick; one
    /// until anything is known, so that slow tasks are never piled onto one
    /// node.
    pub(crate) fn coalesce(&self) -> usize {
        match *lock(&self.item_ns) {
            Some(ns) if ns > 0.0 => ((COALESCE_NS / ns) as usize).clamp(1, MAX_COALESCED),
            _ => 1,
        }
    }
}

/// A task in flight.
#[derive(Debug)]
pub(crate) struct PendingTask {
    pub(crate) slot: Arc<Slot>,
    pub(crate) items: u32,
    /// Its function's.
    pub(crate) stats: Arc<FnStats>,
    /// The writer has sent its entry (it may be in the broker).
    pub(crate) sent: bool,
}

impl PendingTask {
    /// Ends every item with `error`.
    pub(crate) fn fail(self, error: TaskError) {
        let count = self.items;
        self.settle(vec![Part::Failed { first: 0, count, error }]);
    }

    /// The task was ended by `Task::abort` (its slot already says
    /// `Cancelled`): it only stops counting as outstanding.
    pub(crate) fn forget(self) {
        self.stats.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    /// Ends the task with `parts`, which cover its items.
    pub(crate) fn settle(self, parts: Vec<Part>) {
        for part in parts {
            self.slot.add(part);
        }
        self.stats.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    tasks: Mutex<HashMap<u64, PendingTask>>,
    /// Signalled when the table empties.
    empty: Condvar,
    next_id: AtomicU64,
    /// Results that arrived for tasks already ended (late duplicates).
    duplicates: AtomicU64,
}

impl Pending {
    /// Adds a task; returns its id.
    pub(crate) fn insert(&self, task: PendingTask) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        task.stats.outstanding.fetch_add(1, Ordering::AcqRel);
        lock(&self.tasks).insert(id, task);
        id
    }

    /// Takes task `id` out to settle it; `None` if it has already ended.
    pub(crate) fn take(&self, id: u64) -> Option<PendingTask> {
        let mut tasks = lock(&self.tasks);
        let task = tasks.remove(&id);
        if tasks.is_empty() {
            self.empty.notify_all();
        }
        task
    }

    /// Takes task `id` out for an outcome read from the broker; an outcome
    /// for a task that has already ended is counted as dropped.
    pub(crate) fn take_reported(&self, id: u64) -> Option<PendingTask> {
        let task = self.take(id);
        if task.is_none() {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        task
    }

    /// The items of task `id`, if it is still in flight.
    pub(crate) fn items(&self, id: u64) -> Option<u32> {
        lock(&self.tasks).get(&id).map(|t| t.items)
    }

    /// Ends every task in flight with `error`.
    pub(crate) fn fail_all(&self, error: &TaskError) {
        let tasks: Vec<PendingTask> = {
            let mut tasks = lock(&self.tasks);
            let all = tasks.drain().map(|(_, t)| t).collect();
            self.empty.notify_all();
            all
        };
        for task in tasks {
            task.fail(error.clone());
        }
    }

    /// Notes that the writer is sending these tasks' entries; for each,
    /// whether it is still in flight (an aborted one is not sent).
    pub(crate) fn mark_sent(&self, ids: impl IntoIterator<Item = u64>) -> Vec<bool> {
        let mut tasks = lock(&self.tasks);
        ids.into_iter()
            .map(|id| match tasks.get_mut(&id) {
                Some(task) => {
                    task.sent = true;
                    true
                }
                None => false,
            })
            .collect()
    }

    /// Whether task `id` is still in flight.
    pub(crate) fn contains(&self, id: u64) -> bool {
        lock(&self.tasks).contains_key(&id)
    }

    /// Ends every task whose entry was sent with `error` (the broker lost
    /// them); those still waiting for the writer stay.
    pub(crate) fn fail_sent(&self, error: &TaskError) {
        let tasks: Vec<PendingTask> = {
            let mut tasks = lock(&self.tasks);
            let sent: Vec<u64> = tasks.iter().filter(|(_, t)| t.sent).map(|(&id, _)| id).collect();
            let taken = sent.iter().filter_map(|id| tasks.remove(id)).collect();
            if tasks.is_empty() {
                self.empty.notify_all();
            }
            taken
        };
        for task in tasks {
            task.fail(error.clone());
        }
    }

    /// Number of tasks in flight.
    pub(crate) fn len(&self) -> usize {
        lock(&self.tasks).len()
    }

    /// Waits until no task is in flight, or `deadline` passes; returns
    /// whether the table is empty.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> bool {
        let mut tasks = lock(&self.tasks);
        while !tasks.is_empty() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            tasks = self
                .empty
                .wait_timeout(tasks, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Late duplicate results dropped so far.
    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(items: u32, stats: &Arc<FnStats>) -> (PendingTask, Arc<Slot>) {
        let slot = Slot::new(items, crate::slot::Label::task(1));
        (
            PendingTask {
                slot: slot.clone(),
                items,
                stats: stats.clone(),
                sent: false,
            },
            slot,
        )
    }

    #[test]
    fn a_task_is_settled_once_and_a_second_result_is_dropped() {
        let pending = Pending::default();
        let stats = Arc::new(FnStats::default());
        let (t, slot) = task(1, &stats);
        let id = pending.insert(t);
        assert_eq!(stats.outstanding.load(Ordering::Relaxed), 1);
        assert_eq!(pending.items(id), Some(1));
        pending.take_reported(id).unwrap().fail(TaskError::Cancelled);
        assert!(pending.take(id).is_none());
        assert_eq!(pending.duplicates(), 0);
        assert!(pending.take_reported(id).is_none());
        assert_eq!(pending.duplicates(), 1);
        assert_eq!(stats.outstanding.load(Ordering::Relaxed), 0);
        assert_eq!(slot.take().unwrap().decode_one::<u8>(), Err(TaskError::Cancelled));
        assert!(pending.wait_empty(Instant::now()));
    }

    #[test]
    fn fail_all_ends_everything_in_flight() {
        let pending = Pending::default();
        let stats = Arc::new(FnStats::default());
        let slots: Vec<_> = (0..3)
            .map(|_| {
                let (t, slot) = task(2, &stats);
                pending.insert(t);
                slot
            })
            .collect();
        assert!(!pending.wait_empty(Instant::now()));
        let lost = TaskError::BrokerLost { message: "gone".into() };
        pending.fail_all(&lost);
        assert_eq!(pending.len(), 0);
        for slot in slots {
            assert!(slot.is_finished());
        }
        assert_eq!(stats.outstanding.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn fail_sent_ends_only_the_tasks_sent() {
        let pending = Pending::default();
        let stats = Arc::new(FnStats::default());
        let (sent, sent_slot) = task(1, &stats);
        let (kept, kept_slot) = task(1, &stats);
        let sent = pending.insert(sent);
        let kept = pending.insert(kept);
        assert_eq!(pending.mark_sent([sent, 999]), vec![true, false]);
        pending.fail_sent(&TaskError::BrokerLost { message: "gone".into() });
        assert!(sent_slot.is_finished());
        assert!(!kept_slot.is_finished());
        assert!(!pending.contains(sent) && pending.contains(kept));
        assert_eq!(stats.outstanding.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn quick_functions_coalesce_and_slow_or_unknown_ones_do_not() {
        let stats = FnStats::default();
        assert_eq!(stats.coalesce(), 1);
        stats.note_elapsed(10, 10_000); // 1 µs an item
        assert_eq!(stats.coalesce(), MAX_COALESCED);
        let slow = FnStats::default();
        slow.note_elapsed(1, 50_000_000);
        assert_eq!(slow.coalesce(), 1);
    }
}
