//! Handing queued jobs to workers: which worker takes a job, within its
//! window (README, "The dispatch window"), taking back the jobs queued
//! behind a stuck item (README, "Recall"), and writing the frames out.

use std::time::{Duration, Instant};

use super::Supervisor;
use super::job::Job;
use super::shared::Stop;
use super::stream;
use super::worker::Worker;
use crate::error::TaskError;
use crate::ipc::protocol;
use crate::ipc::status;

/// A worker is handed another job only while the work it already holds
/// is estimated at less than this: enough to hide a round trip, small
/// enough that other workers are not starved and cancels still land.
const WINDOW_NS: f64 = 4_000_000.0;
/// A worker whose running item has taken longer than this is "stuck" for
/// dispatch: it is handed nothing more, and the jobs queued behind that
/// item are taken back for idle workers (see `recall_stuck`).
const STUCK_NS: u64 = 2 * WINDOW_NS as u64;
/// The most jobs queued at one worker.
const MAX_JOBS_PER_WORKER: usize = 256;
/// The most encoded bytes queued at one worker.
const MAX_BYTES_PER_WORKER: usize = 8 << 20;

impl Supervisor {
    /// Estimated worker time for `items` items.
    fn estimate_ns(&self, items: u64) -> f64 {
        // Until something has been measured, assume each job fills the
        // window, so that slow tasks are not piled onto the first worker.
        self.item_ns.map_or(WINDOW_NS, |ns| ns * items as f64)
    }

    /// The least-loaded worker that can take `job` now.
    fn pick_worker(&self, job: &Job, coarse_now: u64) -> Option<u64> {
        let job_ns = self.estimate_ns(u64::from(job.count));
        let mut best: Option<(u64, u64)> = None;
        for (&id, worker) in &self.workers {
            // A worker serves one stream at a time, and nothing else then;
            // a lent worker is the callers' (`lease.rs`).
            if !worker.accepting() || worker.stream.is_some() || self.lent == Some(id) {
                continue;
            }
            let ledger = &worker.ledger;
            let fits = ledger.is_empty()
                || (self.stuck_on(worker, coarse_now).is_err()
                    && ledger.outstanding_jobs() < MAX_JOBS_PER_WORKER
                    && ledger.outstanding_bytes() + job.size() as usize <= MAX_BYTES_PER_WORKER
                    && self.estimate_ns(ledger.outstanding_items()) + job_ns <= WINDOW_NS);
            let load = ledger.outstanding_items();
            if fits && best.is_none_or(|(best_load, _)| load < best_load) {
                best = Some((load, id));
            }
        }
        best.map(|(_, id)| id)
    }

    /// The number of the item `worker` has been running for longer than
    /// `STUCK_NS`, if it has.
    /// `Err` holds, if an item is running, how long until it would be.
    fn stuck_on(&self, worker: &Worker, coarse_now: u64) -> Result<u64, Option<Duration>> {
        let snapshot = worker.status.snapshot();
        if !snapshot.running() || snapshot.started <= worker.ledger.acked_items() {
            return Err(None);
        }
        self.overran(snapshot.started_at_ns, coarse_now, Duration::from_nanos(STUCK_NS))
            .map(|()| snapshot.started)
            .map_err(Some)
    }

    /// Takes back, for idle workers, the jobs queued behind an item that
    /// has run long: work queued for a worker's window must not wait for a
    /// slow task it did not know about. Only while a worker is idle and
    /// nothing else waits; only whole jobs that have not started (the
    /// worker confirms through its status page, so none runs twice).
    /// Returns when to look again, if something might become recallable.
    pub(super) fn recall_stuck(&mut self, now: Instant) -> Option<Instant> {
        if !self.queue.is_empty() || self.stop == Some(Stop::Terminate) {
            return None;
        }
        let idle = self.workers.values().any(|w| w.accepting() && w.ledger.is_empty());
        if !idle {
            return None;
        }
        let coarse_now = status::coarse_now_ns();
        let mut next = None;
        let mut recalled = Vec::new();
        for (&id, worker) in &self.workers {
            if !worker.accepting() || worker.ledger.outstanding_jobs() < 2 {
                continue;
            }
            let started = match self.stuck_on(worker, coarse_now) {
                Ok(started) => started,
                Err(left) => {
                    // Look again when the running item would count as stuck.
                    if let Some(at) = left.and_then(|left| now.checked_add(left)) {
                        next = Some(next.map_or(at, |n: Instant| n.min(at)));
                    }
                    continue;
                }
            };
            if let Some(last) = worker.ledger.recallable_after(started)
                && worker.status.recall(started, last)
            {
                recalled.push((id, started));
            }
        }
        for (id, started) in recalled {
            let Some(worker) = self.workers.get_mut(&id) else {
                continue;
            };
            let jobs = worker.ledger.recall_after(started);
            if jobs.iter().any(|j| j.stream.is_some()) {
                worker.stream = None;
            }
            if let Some(budget) = &mut worker.budget {
                *budget += jobs.iter().map(|j| u64::from(j.count)).sum::<u64>();
            }
            for job in jobs.into_iter().rev() {
                self.queue.push_front(job);
            }
            // Dispatch at once.
            next = Some(now);
        }
        next
    }

    pub(super) fn dispatch(&mut self) {
        if !self.queue.is_empty() {
            self.settle_lease(true);
        }
        let coarse_now = status::coarse_now_ns();
        while let Some(front) = self.queue.front() {
            if front.slot.is_cancelled() {
                self.queue.pop_front();
                continue;
            }
            if front.slot.is_abandoned() {
                if let Some(job) = self.queue.pop_front() {
                    job.fail(TaskError::Cancelled);
                }
                continue;
            }
            let Some(id) = self.pick_worker(front, coarse_now) else {
                break;
            };
            let Some(mut job) = self.queue.pop_front() else { break };
            if !job.slot.begin_dispatch() {
                continue;
            }
            let Some(worker) = self.workers.get_mut(&id) else {
                self.queue.push_front(job);
                break;
            };
            let memory = job.slot.limits().memory;
            if let Some(limit) = memory.or(self.config.memory_limit)
                && job.size() > limit
            {
                // Its input alone cannot fit in a worker: do not kill one to
                // find that out. A chunk is halved until its items fit.
                if job.count > 1 {
                    match job.split_front(job.count / 2) {
                        Ok(head) => {
                            self.queue.push_front(job);
                            self.queue.push_front(head);
                        }
                        Err(e) => job.fail(TaskError::Protocol { message: e.to_string() }),
                    }
                } else {
                    job.fail(TaskError::MemoryLimitExceeded { limit });
                }
                continue;
            }
            if let Some(budget) = worker.budget
                && u64::from(job.count) > budget
            {
                match job.split_front(budget as u32) {
                    Ok(head) => {
                        self.queue.push_front(job);
                        job = head;
                    }
                    Err(e) => {
                        job.fail(TaskError::Protocol { message: e.to_string() });
                        continue;
                    }
                }
            }
            self.task_timeouts |= job.slot.limits().timeout.is_some();
            if worker.memory_sent != memory {
                // The items that follow have their own memory limit.
                if let Err(e) = protocol::write_limits(worker.out.buf(), memory) {
                    job.fail(TaskError::Protocol { message: e.to_string() });
                    continue;
                }
                worker.memory_sent = memory;
            }
            let job_id = self.shared.lease.next_job_id();
            let written = match &job.stream {
                Some(link) => stream::write_start(worker, job_id, &job, &link.clone()),
                None => protocol::write_run(&mut worker.out, job_id, job.entry, job.count, job.items(), job.fds()),
            };
            if let Err(e) = written {
                job.fail(TaskError::Codec { message: e.to_string() });
                continue;
            }
            if let Some(budget) = &mut worker.budget {
                *budget -= u64::from(job.count);
            }
            worker.ledger.dispatch(job_id, job);
        }
    }

    pub(super) fn flush_all(&mut self, now: Instant) {
        for worker in self.workers.values_mut() {
            if worker.unsent() > 0 && !worker.writable {
                worker.flush(now);
            }
        }
    }
}
