//! What a worker has been handed, and what becomes of it when the worker
//! dies.
//!
//! A worker runs the items of its jobs strictly in order. The ledger
//! counts items handed over (`dispatched`) and items whose results came
//! back (`acked`); the worker's status page counts items it `started` and
//! `completed`. When a worker dies those four numbers place every
//! outstanding item exactly:
//!
//! ```text
//!   acked ≤ completed ≤ started ≤ dispatched
//!   [0, acked)              results received: done
//!   [acked, completed)      finished, results lost with the worker: run again
//!   started - 1             running, if completed < started: this one failed
//!   [started, dispatched)   never started: run again elsewhere
//! ```
//!
//! This module is pure bookkeeping, with no OS calls, so that every death
//! scenario is unit-tested.

use std::collections::VecDeque;
use std::sync::Arc;

use super::job::Job;
use crate::error::TaskError;
use crate::ipc::status::Snapshot;
use crate::slot::Slot;
use crate::stats::Counters;

/// A job that was on a worker that died with nothing to blame is retried;
/// after this many such deaths it is failed instead, so that a job that
/// kills workers before any of its items starts cannot loop forever.
pub(crate) const MAX_BYSTANDER: u8 = 3;

#[derive(Debug)]
struct InFlight {
    job: Job,
    /// Items of this job whose results came back.
    acked: u32,
    /// The worker has been told the job is abandoned.
    abandon_posted: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    jobs: VecDeque<InFlight>,
    /// Job ids, parallel to `jobs`.
    ids: VecDeque<u64>,
    acked: u64,
    dispatched: u64,
    /// The pool's counters: `running` moves with `dispatched - acked`
    /// here, before a result reaches its slot (`Pool::stats` is exact
    /// when a result is seen). `None` in unit tests.
    counters: Option<Arc<Counters>>,
}

impl Drop for Ledger {
    /// A ledger dropped unsettled (its worker left with nothing in hand,
    /// or the pool is gone) takes its items out of `running`.
    fn drop(&mut self) {
        self.running_less_all();
    }
}

/// Results that matched the ledger.
#[derive(Debug)]
pub(crate) struct Acked {
    pub(crate) slot: Arc<Slot>,
    /// Index, within the slot, of the first item acked.
    pub(crate) first: u32,
}

/// What to do about a dead worker's running item and the rest.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// The error for the item that was running, if one was.
    pub(crate) running: TaskError,
    /// The item (counted over the worker's life) we killed the worker for.
    /// If another item is found running, it is innocent and is retried.
    pub(crate) killed_for: Option<u64>,
    /// When no item was running, fail the first outstanding one anyway
    /// (for a worker that sent garbage between items).
    pub(crate) blame_first_if_idle: bool,
    /// What happens to outstanding items other than the failed one.
    pub(crate) others: Others,
    /// The worker left on purpose between items: items it had not started
    /// run elsewhere without counting as bystanders of a death.
    pub(crate) no_fault: bool,
}

/// See [`Verdict::others`].
#[derive(Debug, Clone)]
pub(crate) enum Others {
    /// Run them again on another worker.
    Retry,
    /// Fail them with this error (the pool is terminating).
    Fail(TaskError),
}

/// The settlement of a dead worker's ledger.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    /// Items that end with an error.
    pub(crate) failed: Vec<(Job, TaskError)>,
    /// Items to run again, in their original order.
    pub(crate) retry: Vec<Job>,
}

impl Ledger {
    /// An empty ledger that keeps `counters`' `running` in step with it.
    pub(crate) fn counting(counters: Arc<Counters>) -> Ledger {
        let mut ledger = Ledger::default();
        ledger.counters = Some(counters);
        ledger
    }

    /// Counts `items` of `slot` in `running`, unless it was aborted.
    fn running_more(&self, slot: &Slot, items: u64) {
        if let Some(counters) = &self.counters {
            counters.running_more(items);
            if !slot.hold(items) {
                // Aborted before we counted it: it is not running.
                counters.running_less(items);
            }
        }
    }

    /// Takes `items` of `slot` out of `running`, unless its abort (or the
    /// caller that read it on the direct path) did already.
    fn running_less(&self, slot: &Slot, items: u64) {
        if let Some(counters) = &self.counters
            && items > 0
            && slot.unhold(items)
        {
            counters.running_less(items);
        }
    }

    /// Takes every outstanding item out of `running`.
    fn running_less_all(&self) {
        for flight in &self.jobs {
            self.running_less(&flight.job.slot, u64::from(flight.job.count - flight.acked));
        }
    }

    /// Records that `job` was handed to the worker as job `id`.
    pub(crate) fn dispatch(&mut self, id: u64, job: Job) {
        self.dispatched += u64::from(job.count);
        self.running_more(&job.slot, u64::from(job.count));
        self.jobs.push_back(InFlight {
            job,
            acked: 0,
            abandon_posted: false,
        });
        self.ids.push_back(id);
    }

    /// Counts `n` items the worker ran whose results came back without
    /// passing through here (the direct path, see `lease.rs`), so that
    /// the ledger numbers items as the worker does. Only between jobs.
    pub(crate) fn skip(&mut self, n: u64) {
        debug_assert!(self.jobs.is_empty() || n == 0);
        self.dispatched += n;
        self.acked += n;
    }

    /// Ids of outstanding jobs whose slot was abandoned and which have not
    /// been reported yet; each is reported once.
    pub(crate) fn newly_abandoned(&mut self) -> Vec<u64> {
        let mut ids = Vec::new();
        for (flight, &id) in self.jobs.iter_mut().zip(&self.ids) {
            if !flight.abandon_posted && flight.job.slot.is_abandoned() {
                flight.abandon_posted = true;
                ids.push(id);
            }
        }
        ids
    }

    /// The job holding item number `started` (over the worker's life), and
    /// whether that item is its last.
    fn job_holding(&self, started: u64) -> Option<(usize, bool)> {
        let mut end = self.acked;
        for (i, flight) in self.jobs.iter().enumerate() {
            end += u64::from(flight.job.count - flight.acked);
            if end >= started {
                return Some((i, end == started));
            }
        }
        None
    }

    /// The slot of item number `n` (over the worker's life), and its index
    /// there, if the item is outstanding: whose output it writes.
    pub(crate) fn item(&self, n: u64) -> Option<(Arc<Slot>, u32)> {
        let mut end = self.acked;
        if n <= end {
            return None;
        }
        for flight in &self.jobs {
            let start = end;
            end += u64::from(flight.job.count - flight.acked);
            if n <= end {
                let within = flight.acked + (n - start - 1) as u32;
                return Some((flight.job.slot.clone(), flight.job.first + within));
            }
        }
        None
    }

    /// If item number `started` (over the worker's life; the running one)
    /// is the last of its job and other jobs wait behind it: the id of the
    /// last of those, which [`recall_after`](Ledger::recall_after) can take
    /// back.
    pub(crate) fn recallable_after(&self, started: u64) -> Option<u64> {
        match self.job_holding(started) {
            Some((i, true)) if i + 1 < self.jobs.len() => self.ids.back().copied(),
            _ => None,
        }
    }

    /// Takes back every job after the one whose last item is number
    /// `started`; none of their items has started (the worker was told,
    /// see `StatusPage::recall`). In order.
    pub(crate) fn recall_after(&mut self, started: u64) -> Vec<Job> {
        let keep = self.job_holding(started).map_or(self.jobs.len(), |(i, _)| i + 1);
        self.ids.truncate(keep);
        let taken: Vec<Job> = self.jobs.split_off(keep).into_iter().map(|f| f.job).collect();
        let items = taken.iter().map(|j| u64::from(j.count)).sum::<u64>();
        self.dispatched -= items;
        for job in &taken {
            self.running_less(&job.slot, u64::from(job.count));
        }
        taken
    }

    /// Whether it holds a task that `Task::abort` ended.
    pub(crate) fn holds_aborted(&self) -> bool {
        self.jobs.iter().any(|f| f.job.slot.is_aborted())
    }

    /// The shortest timeout a task it holds set for itself.
    pub(crate) fn shortest_timeout(&self) -> Option<std::time::Duration> {
        self.jobs.iter().filter_map(|f| f.job.slot.limits().timeout).min()
    }

    /// Number of items handed over and not yet acked.
    pub(crate) fn outstanding_items(&self) -> u64 {
        self.dispatched - self.acked
    }

    /// Number of jobs not yet fully acked.
    pub(crate) fn outstanding_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Encoded bytes of the outstanding jobs.
    pub(crate) fn outstanding_bytes(&self) -> usize {
        self.jobs.iter().map(|j| j.job.size() as usize).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Items acked over the worker's life.
    pub(crate) fn acked_items(&self) -> u64 {
        self.acked
    }

    /// Matches results for items `first..first + count` of job `id` (counted
    /// within the job). Results must come in order: for the oldest
    /// outstanding job, starting where the last results ended.
    pub(crate) fn ack(&mut self, id: u64, first: u32, count: u32) -> Result<Acked, String> {
        let (Some(front), Some(&front_id)) = (self.jobs.front_mut(), self.ids.front()) else {
            return Err(format!("results for job {id}, but no job is outstanding"));
        };
        if front_id != id {
            return Err(format!("results for job {id}, expected job {front_id}"));
        }
        if first != front.acked {
            return Err(format!("results start at item {first}, expected {}", front.acked));
        }
        let end = first.checked_add(count).filter(|&end| end <= front.job.count);
        let Some(end) = end else {
            return Err(format!(
                "results for {count} items overrun the job's {}",
                front.job.count
            ));
        };
        front.acked = end;
        self.acked += u64::from(count);
        let acked = Acked {
            slot: front.job.slot.clone(),
            first: front.job.first + first,
        };
        let whole = end == front.job.count;
        // Before the caller adds the results to the slot.
        self.running_less(&acked.slot, u64::from(count));
        if whole {
            self.jobs.pop_front();
            self.ids.pop_front();
        }
        Ok(acked)
    }

    /// Settles the ledger of a worker that has died. `snapshot` is its
    /// status page as it was left.
    ///
    /// Every outstanding item gets one fate:
    /// - the item that was running fails with `verdict.running`;
    /// - an item that had started (its result was lost, or it was an
    ///   innocent victim of a late timeout kill) runs again if its job
    ///   allows that (`map`), and otherwise fails: a `submit` task never
    ///   runs twice;
    /// - an item that never started runs again elsewhere.
    ///
    /// When the pool is terminating (`Others::Fail`), items that had
    /// started end with `PoolShutdown` and the rest with that error.
    pub(crate) fn settle(mut self, snapshot: &Snapshot, verdict: &Verdict) -> Settlement {
        // None of it is in a worker's hands any more; counted before any
        // of it fails or is queued again.
        self.running_less_all();
        self.counters = None;
        let consistent = self.acked <= snapshot.completed
            && snapshot.completed <= snapshot.started
            && snapshot.started <= self.dispatched;
        let (mut running, started) = if consistent {
            (
                (snapshot.started > snapshot.completed).then(|| snapshot.started - 1),
                snapshot.started,
            )
        } else {
            // The page was scribbled on: the oldest outstanding item is
            // the best guess of what the worker was doing, and nothing
            // after it is known to have started.
            let oldest = (self.acked < self.dispatched).then_some(self.acked);
            (oldest, self.acked + u64::from(oldest.is_some()))
        };
        let mut innocent = None;
        if let (Some(killed), Some(r)) = (verdict.killed_for, running)
            && killed != r
        {
            // We killed it for an item that had finished by then; whatever
            // was running instead did nothing wrong.
            innocent = Some(r);
            running = None;
        }
        if running.is_none() && innocent.is_none() && verdict.blame_first_if_idle && self.acked < self.dispatched {
            running = Some(self.acked);
        }
        let blamed = running.is_some();
        let killed_by_us = TaskError::Crashed {
            signal: Some(libc::SIGKILL),
            exit_code: None,
        };

        let mut settlement = Settlement::default();
        let mut cursor = self.acked;
        for InFlight { job, acked, .. } in std::mem::take(&mut self.jobs) {
            // Split the job's outstanding items into runs of equal fate.
            let fate = |i: u32| -> Fate {
                let c = cursor + u64::from(i - acked);
                if Some(c) == running {
                    return Fate::Fail(verdict.running.clone());
                }
                let had_started = c < started;
                match (&verdict.others, had_started) {
                    (Others::Fail(_), true) => Fate::Fail(TaskError::PoolShutdown),
                    (Others::Fail(error), false) => Fate::Fail(error.clone()),
                    (Others::Retry, true) if job.at_most_once => Fate::Fail(if Some(c) == innocent {
                        killed_by_us.clone()
                    } else {
                        verdict.running.clone()
                    }),
                    (Others::Retry, _) => Fate::Retry,
                }
            };
            let mut lo = acked;
            while lo < job.count {
                let this = fate(lo);
                let mut hi = lo + 1;
                while hi < job.count && fate(hi) == this {
                    hi += 1;
                }
                match this {
                    Fate::Fail(error) => settlement.failed.push((job.span(lo, hi), error)),
                    Fate::Retry => match job.slice(lo, hi) {
                        Err(e) => {
                            let error = TaskError::Protocol { message: e.to_string() };
                            settlement.failed.push((job.span(lo, hi), error));
                        }
                        Ok(mut piece) => {
                            if !blamed && !verdict.no_fault {
                                piece.bystander = piece.bystander.saturating_add(1);
                            }
                            if piece.bystander >= MAX_BYSTANDER {
                                settlement.failed.push((piece, verdict.running.clone()));
                            } else {
                                settlement.retry.push(piece);
                            }
                        }
                    },
                }
                lo = hi;
            }
            cursor += u64::from(job.count - acked);
        }
        settlement
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    Fail(TaskError),
    Retry,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::job::tests::job_of;

    fn crash() -> TaskError {
        TaskError::Crashed {
            signal: Some(11),
            exit_code: None,
        }
    }

    fn retry_verdict() -> Verdict {
        Verdict {
            running: crash(),
            killed_for: None,
            blame_first_if_idle: false,
            others: Others::Retry,
            no_fault: false,
        }
    }

    fn snap(started: u64, completed: u64) -> Snapshot {
        Snapshot {
            started,
            completed,
            ..Snapshot::default()
        }
    }

    fn spans(jobs: &[Job]) -> Vec<(u32, u32)> {
        jobs.iter().map(|j| (j.first, j.count)).collect()
    }

    #[test]
    fn items_are_found_by_their_number_over_the_workers_life() {
        let mut l = ledger();
        let at = |l: &Ledger, n: u64| l.item(n).map(|(slot, index)| (slot.items(), index));
        assert_eq!(at(&l, 0), None);
        assert_eq!(at(&l, 1), Some((5, 0)));
        assert_eq!(at(&l, 5), Some((5, 4)));
        assert_eq!(at(&l, 6), Some((1, 0)));
        assert_eq!(at(&l, 7), None);
        l.ack(1, 0, 2).unwrap();
        assert_eq!(at(&l, 2), None, "acked");
        assert_eq!(at(&l, 3), Some((5, 2)));
        assert_eq!(at(&l, 6), Some((1, 0)));
    }

    /// Two jobs: a chunk of 5 items (job 1) and a single item (job 2).
    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        l.dispatch(1, job_of(5));
        l.dispatch(2, job_of(1));
        l
    }

    /// Like `ledger`, but every job is a `submit` (at most once).
    fn submit_ledger() -> Ledger {
        let mut l = Ledger::default();
        for id in 1..=3 {
            let mut job = job_of(1);
            job.at_most_once = true;
            l.dispatch(id, job);
        }
        l
    }

    #[test]
    fn results_must_arrive_in_order() {
        let mut l = ledger();
        assert!(l.ack(2, 0, 1).is_err(), "job 2 is not first");
        assert!(l.ack(1, 1, 1).is_err(), "item 0 comes first");
        assert!(l.ack(1, 0, 6).is_err(), "overrun");
        assert_eq!(l.ack(1, 0, 2).unwrap().first, 0);
        assert_eq!(l.ack(1, 2, 3).unwrap().first, 2);
        assert_eq!(l.outstanding_jobs(), 1);
        l.ack(2, 0, 1).unwrap();
        assert!(l.is_empty());
        assert!(l.ack(3, 0, 1).is_err());
    }

    #[test]
    fn a_crash_fails_only_the_running_item_and_retries_the_rest() {
        let mut l = ledger();
        l.ack(1, 0, 1).unwrap(); // item 0 acked
        // Items 1 and 2 completed but their results were lost; item 3 was
        // running when the worker died; item 4 and job 2 never started.
        let s = l.settle(&snap(4, 3), &retry_verdict());
        assert_eq!(s.failed.len(), 1);
        assert_eq!((s.failed[0].0.first, s.failed[0].0.count), (3, 1));
        assert_eq!(s.failed[0].1, crash());
        assert_eq!(spans(&s.retry), [(1, 2), (4, 1), (0, 1)]);
        assert!(s.retry.iter().all(|j| j.bystander == 0));
    }

    #[test]
    fn a_death_between_items_blames_nobody() {
        let mut l = ledger();
        l.ack(1, 0, 5).unwrap();
        let s = l.settle(&snap(5, 5), &retry_verdict());
        assert!(s.failed.is_empty());
        assert_eq!(spans(&s.retry), [(0, 1)]);
        assert_eq!(s.retry[0].bystander, 1);
    }

    #[test]
    fn repeated_deaths_with_no_culprit_end_in_failure() {
        let mut job = job_of(1);
        job.bystander = MAX_BYSTANDER - 1;
        let mut l = Ledger::default();
        l.dispatch(9, job);
        let s = l.settle(&snap(0, 0), &retry_verdict());
        assert!(s.retry.is_empty());
        assert_eq!(s.failed.len(), 1);
    }

    #[test]
    fn a_timeout_kill_spares_an_item_that_started_after_the_deadline_item_finished() {
        let l = ledger();
        let verdict = Verdict {
            running: TaskError::TimedOut {
                after: std::time::Duration::from_secs(1),
            },
            killed_for: Some(2),
            ..retry_verdict()
        };
        // We killed for item 2, but item 3 was running by the time it died.
        let s = l.settle(&snap(4, 3), &verdict);
        assert!(s.failed.is_empty(), "{:?}", s.failed);
        assert_eq!(spans(&s.retry), [(0, 5), (0, 1)]);
        // And when item 2 is still the one running, it times out.
        let s = ledger().settle(&snap(3, 2), &verdict);
        assert_eq!(
            spans(&s.failed.iter().map(|f| f.0.clone()).collect::<Vec<_>>()),
            [(2, 1)]
        );
    }

    #[test]
    fn only_whole_jobs_behind_the_running_item_can_be_recalled() {
        let mut l = ledger();
        l.dispatch(3, job_of(2));
        // Items 1..=5 are job 1, item 6 job 2, items 7..=8 job 3.
        assert_eq!(l.recallable_after(3), None, "item 3 is inside job 1");
        assert_eq!(l.recallable_after(5), Some(3));
        assert_eq!(l.recallable_after(6), Some(3));
        assert_eq!(l.recallable_after(8), None, "nothing behind the last job");
        let taken = l.recall_after(5);
        assert_eq!(spans(&taken), [(0, 1), (0, 2)]);
        assert_eq!(l.outstanding_items(), 5);
        assert_eq!(l.outstanding_jobs(), 1);
        // Numbering goes on where job 1 ends: a job handed over now is item 6.
        l.dispatch(4, job_of(1));
        assert_eq!(l.recallable_after(5), Some(4));
    }

    #[test]
    fn a_scribbled_status_page_blames_the_oldest_outstanding_item() {
        let mut l = ledger();
        l.ack(1, 0, 2).unwrap();
        // started > dispatched: impossible, so the page is not trusted.
        let s = l.settle(&snap(99, 0), &retry_verdict());
        assert_eq!((s.failed[0].0.first, s.failed[0].0.count), (2, 1));
        assert_eq!(spans(&s.retry), [(3, 2), (0, 1)]);
    }

    #[test]
    fn garbage_between_items_blames_the_first_outstanding_item() {
        let verdict = Verdict {
            running: TaskError::Protocol { message: "bad".into() },
            blame_first_if_idle: true,
            ..retry_verdict()
        };
        let s = ledger().settle(&snap(0, 0), &verdict);
        assert_eq!((s.failed[0].0.first, s.failed[0].0.count), (0, 1));
        assert_eq!(spans(&s.retry), [(1, 4), (0, 1)]);
    }

    #[test]
    fn terminate_fails_everything_outstanding() {
        let verdict = Verdict {
            running: TaskError::PoolShutdown,
            others: Others::Fail(TaskError::Cancelled),
            ..retry_verdict()
        };
        let s = ledger().settle(&snap(2, 1), &verdict);
        assert!(s.retry.is_empty());
        let errors: Vec<_> = s.failed.iter().map(|(j, e)| (j.first, j.count, e.clone())).collect();
        // Item 0 ran to completion (its result was lost): it is not
        // "cancelled". Item 1 was running. The rest never started.
        assert_eq!(
            errors,
            [
                (0, 2, TaskError::PoolShutdown),
                (2, 3, TaskError::Cancelled),
                (0, 1, TaskError::Cancelled)
            ]
        );
    }

    #[test]
    fn a_submit_task_that_started_never_runs_again() {
        // Job 1 completed but its result was lost; job 2 was running;
        // job 3 never started.
        let s = submit_ledger().settle(&snap(2, 1), &retry_verdict());
        assert_eq!(s.failed.len(), 2);
        assert!(s.failed.iter().all(|(_, e)| *e == crash()));
        assert_eq!(s.retry.len(), 1, "only the task that never started runs again");
    }

    #[test]
    fn a_submit_task_caught_by_a_late_timeout_kill_fails_as_killed() {
        let verdict = Verdict {
            running: TaskError::TimedOut {
                after: std::time::Duration::from_secs(1),
            },
            killed_for: Some(0),
            ..retry_verdict()
        };
        let mut l = submit_ledger();
        l.ack(1, 0, 1).unwrap();
        let s = l.settle(&snap(2, 1), &verdict);
        assert_eq!(s.failed.len(), 1);
        assert_eq!(
            s.failed[0].1,
            TaskError::Crashed {
                signal: Some(libc::SIGKILL),
                exit_code: None
            }
        );
        assert_eq!(s.retry.len(), 1);
    }
}
