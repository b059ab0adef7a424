//! What the pool's handles share with the supervisor thread.
//!
//! User threads never touch a worker. `submit` pushes a job onto the inbox
//! and wakes the supervisor through its poller (`Poller::notify`, which
//! costs one `eventfd` write at most per wake-up, however many jobs arrive
//! meanwhile). The supervisor swaps the whole inbox out at once, so only
//! the job that finds the inbox empty needs to wake it: the jobs pushed
//! after it are taken with it, and do not touch the poller (whose flag
//! lives on the supervisor's side).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;
use polling::Poller;

use super::job::Job;
use super::lease::Lease;
use crate::error::TaskError;
use crate::shm::lanes::{Lanes, Release};
use crate::slot::{Part, lock};
use crate::stats::Counters;

/// How the pool is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Finish everything submitted, then stop.
    Shutdown,
    /// Cancel what is queued, kill what runs, stop.
    Terminate,
}

/// Process ids, for `Pool::worker_pids` and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pids {
    pub(crate) zygote: Option<u32>,
    pub(crate) workers: Vec<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Inbox {
    pub(crate) jobs: Vec<Job>,
    pub(crate) stop: Option<Stop>,
    /// Some slot was abandoned since the last look.
    pub(crate) abandoned: bool,
    /// Some running task was aborted since the last look.
    pub(crate) aborted: bool,
}

/// What the supervisor finds in the inbox besides jobs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Notes {
    pub(crate) stop: Option<Stop>,
    pub(crate) abandoned: bool,
    pub(crate) aborted: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Locked by every submission and by the supervisor: on lines of its
    /// own, apart from what both only read.
    inbox: CachePadded<Mutex<Inbox>>,
    poller: Arc<Poller>,
    broken: AtomicBool,
    broken_reason: Mutex<String>,
    pids: Mutex<Pids>,
    /// Largest encoded argument or result.
    pub(crate) max_message: usize,
    /// What `Pool::stats` reports.
    pub(crate) counters: Arc<Counters>,
    /// The lanes large arguments travel in (see `shm/lanes.rs`).
    pub(crate) lanes: Lanes,
    /// The pool's `task_timeout`, which also caps a cluster client's.
    pub(crate) task_timeout: Option<std::time::Duration>,
    /// The idle worker lent to callers, for the direct path (`lease.rs`).
    pub(crate) lease: Lease,
}

impl Job {
    /// Ends every item of the job with `error`.
    pub(crate) fn fail(self, error: TaskError) {
        let (slot, part) = self.failure(error);
        slot.add(part);
    }

    /// The part that ends every item of the job with `error`, and its slot.
    pub(crate) fn failure(self, error: TaskError) -> (Arc<crate::slot::Slot>, Part) {
        let part = Part::Failed {
            first: self.first,
            count: self.count,
            error,
        };
        (self.slot, part)
    }
}

impl Shared {
    pub(crate) fn new(poller: Arc<Poller>, max_message: usize, task_timeout: Option<std::time::Duration>) -> Shared {
        let counters: Arc<Counters> = Arc::default();
        Shared {
            lease: Lease::new(counters.clone()),
            inbox: CachePadded::new(Mutex::new(Inbox::default())),
            poller,
            broken: AtomicBool::new(false),
            broken_reason: Mutex::new(String::new()),
            pids: Mutex::new(Pids::default()),
            max_message,
            counters,
            lanes: Lanes::new(Release::Unreferenced),
            task_timeout,
        }
    }

    /// Hands a job to the supervisor (or fails it at once if the pool can
    /// no longer start workers).
    pub(crate) fn submit(&self, job: Job) {
        if self.broken.load(Ordering::Acquire) {
            job.fail(TaskError::WorkerStartFailed {
                message: self.broken_reason(),
            });
            return;
        }
        let mut inbox = lock(&self.inbox);
        let first = inbox.jobs.is_empty();
        inbox.jobs.push(job);
        self.lease.claim();
        drop(inbox);
        if first {
            let _ = self.poller.notify();
        }
    }

    /// Hands a job of one item straight to the lent worker if there is one
    /// and the job may go there (see `lease.rs`): its job id then. Hands
    /// it to the supervisor otherwise.
    pub(crate) fn submit_direct(&self, job: Job) -> Option<u64> {
        if self.broken.load(Ordering::Acquire) {
            self.submit(job);
            return None;
        }
        match self.lease.hand(job, || self.wake()) {
            Ok(id) => Some(id),
            Err(job) => {
                self.submit(job);
                None
            }
        }
    }

    /// Wakes the supervisor.
    pub(crate) fn wake(&self) {
        let _ = self.poller.notify();
    }

    /// Hands several jobs over with one lock and one wake-up.
    pub(crate) fn submit_all(&self, jobs: impl IntoIterator<Item = Job>) {
        if self.broken.load(Ordering::Acquire) {
            for job in jobs {
                self.submit(job);
            }
            return;
        }
        let mut inbox = lock(&self.inbox);
        let first = inbox.jobs.is_empty();
        inbox.jobs.extend(jobs);
        self.lease.claim();
        drop(inbox);
        if first {
            let _ = self.poller.notify();
        }
    }

    /// Asks the supervisor to stop. `Terminate` overrides `Shutdown`.
    pub(crate) fn request_stop(&self, stop: Stop) {
        let mut inbox = lock(&self.inbox);
        if inbox.stop != Some(Stop::Terminate) {
            inbox.stop = Some(stop);
        }
        drop(inbox);
        let _ = self.poller.notify();
    }

    /// Tells the supervisor that slots were abandoned (see
    /// `Slot::abandon`), so that workers skip their items.
    /// A task a worker had was aborted: its worker must be killed.
    pub(crate) fn note_aborted(&self) {
        let mut inbox = lock(&self.inbox);
        inbox.abandoned = true;
        inbox.aborted = true;
        drop(inbox);
        let _ = self.poller.notify();
    }

    pub(crate) fn note_abandoned(&self) {
        lock(&self.inbox).abandoned = true;
        let _ = self.poller.notify();
    }

    /// Takes everything submitted since the last call, and whether slots
    /// were abandoned.
    pub(crate) fn take_inbox(&self, into: &mut Vec<Job>) -> Notes {
        let mut inbox = lock(&self.inbox);
        std::mem::swap(&mut inbox.jobs, into);
        self.lease.unclaim();
        Notes {
            stop: inbox.stop,
            abandoned: std::mem::take(&mut inbox.abandoned),
            aborted: std::mem::take(&mut inbox.aborted),
        }
    }

    /// From now on, submissions fail at once with `WorkerStartFailed`.
    pub(crate) fn set_broken(&self, reason: &str) {
        *lock(&self.broken_reason) = reason.to_owned();
        self.broken.store(true, Ordering::Release);
    }

    /// Submissions are accepted again: a worker started after all.
    pub(crate) fn clear_broken(&self) {
        self.broken.store(false, Ordering::Release);
    }

    /// Why the pool can no longer start workers.
    pub(crate) fn broken_reason(&self) -> String {
        lock(&self.broken_reason).clone()
    }

    pub(crate) fn set_pids(&self, pids: Pids) {
        *lock(&self.pids) = pids;
    }

    pub(crate) fn pids(&self) -> Pids {
        lock(&self.pids).clone()
    }
}
