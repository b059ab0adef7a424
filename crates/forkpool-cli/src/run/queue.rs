//! Which job starts next, and when: jobs come from the input (read here,
//! by the input thread, or all up front) or back from a retry; `--resume`
//! skips those done before; `--delay`, `--memfree`, `--load` and the
//! limits hold the next one back; a job that will never run is forgotten
//! (so that `-k` stops waiting for it).

use std::collections::VecDeque;
use std::time::Instant;

use super::{Launched, Runner, Stop, values};
use crate::config::Resume;
use crate::feed::{Feed, Next};
use crate::jobs::{Job, Jobs, io_reason};
use crate::limits::gate::RECHECK;
use crate::replace::EvalError;

/// Jobs still to run.
#[derive(Debug)]
pub(super) enum Queue {
    /// Read as needed by the input thread.
    Feed(Feed),
    /// Read here, as needed: values and regular files, which never keep
    /// us waiting for long (and `--dry-run`, with no jobs to wait for).
    Direct(Box<dyn Jobs>),
    /// All read up front (`--shuf`, `--bar`, `--eta`, `--halt N%`).
    Collected(VecDeque<Job>),
}

impl Runner<'_> {
    /// The next job from the input, if one is ready.
    pub(super) fn next_new_job(&mut self) -> Option<Job> {
        if self.input_done {
            return None;
        }
        let next = match &mut self.queue {
            Queue::Collected(jobs) => match jobs.pop_front() {
                Some(job) => Next::Job(job),
                None => Next::Done,
            },
            Queue::Direct(source) => match source.next_job() {
                Ok(Some(job)) => Next::Job(job),
                Ok(None) => Next::Done,
                Err(e) => Next::Failed(e),
            },
            Queue::Feed(feed) => feed.next(),
        };
        match next {
            Next::Job(job) => {
                // Under `-k`, the jobs after it wait for it from now on.
                self.printer.expect(job.seq);
                Some(job)
            }
            Next::Pending => None,
            Next::Done => {
                self.input_done = true;
                None
            }
            Next::Failed(e) => {
                self.input_done = true;
                if let Some(failed) = EvalError::of(&e) {
                    // A perl expression failed: no new job starts; those
                    // running finish, and the run exits with 255.
                    error!("{failed}");
                    self.stop.get_or_insert(Stop::Fatal);
                } else {
                    self.fatal(&format!("cannot read input: {}", io_reason(&e)));
                }
                None
            }
        }
    }

    /// Once the run has stopped, no job starts any more: those waiting
    /// never will, nor those the input has ready or would make. They go
    /// at once: a `--round-robin` job holds its seat at the dealer's table
    /// until it is dropped, and the dealer keeps the running jobs' input
    /// open (so they never end) while it waits for one.
    fn drop_unstarted(&mut self) {
        if self.stop.is_none() {
            return;
        }
        while let Some((job, _)) = self.retry.pop_front() {
            self.forget(job.seq);
        }
        if !self.input_done {
            self.input_done = true;
            self.queue = Queue::Collected(VecDeque::new());
        }
    }

    /// Starts jobs while allowed. Returns when to look again if a limit
    /// (delay, memory, load) holds the next job back.
    pub(super) fn start_jobs(&mut self) -> Option<Instant> {
        self.unpark();
        self.drop_unstarted();
        let wake = self.start_more();
        // Starting (or reading the input) may have stopped the run.
        self.drop_unstarted();
        wake
    }

    /// [`start_jobs`](Runner::start_jobs)'s loop: starts jobs until the
    /// slots are full, the input has none ready, or the run stops.
    fn start_more(&mut self) -> Option<Instant> {
        // `-j FILE` is read again only when a job waits to start, as GNU
        // parallel counts its jobs again only then.
        let job_waiting = !self.gate.reads_file() || self.job_waiting();
        let (most, warning) = match self.gate.max_running(self.printer.open_jobs(), job_waiting) {
            Ok(counted) => counted,
            Err(message) => {
                // GNU parallel dies of it: the running jobs are killed.
                self.fatal(&message);
                return None;
            }
        };
        if let Some(message) = warning {
            self.progress.suspend(|| warning!("{message}"));
        }
        for slot in self.free_slots.len() + self.running.len() + 1..=most {
            // `-j FILE` grew.
            self.free_slots.insert(slot);
        }
        if self.tally.started == 0 && self.running.is_empty() {
            // Before the first job, as GNU parallel: whether the system's
            // bound holds `-j 0` back.
            self.warn_before_start(most);
        }
        while self.stop.is_none() {
            if !self.room_for_more(most) {
                if self.gate.may_warn() && !self.running.is_empty() {
                    self.warn_at_bound();
                }
                break;
            }
            let (job, attempts) = match self.retry.pop_front() {
                Some(next) => next,
                None => (self.next_new_job()?, 0),
            };
            if self.already_done(&job) {
                self.forget(job.seq);
                continue;
            }
            if let Some(until) = self.held_back() {
                self.retry.push_front((job, attempts));
                return Some(until);
            }
            self.check_file_handles();
            if self.launch(job, attempts) == Launched::Later {
                return Some(Instant::now() + RECHECK);
            }
        }
        None
    }

    /// Whether a job waits to start (one the input has ready is taken
    /// from it, to be started first).
    fn job_waiting(&mut self) -> bool {
        if self.retry.is_empty()
            && let Some(job) = self.next_new_job()
        {
            self.retry.push_back((job, 0));
        }
        !self.retry.is_empty()
    }

    /// `-j 0` held back by the system: say so once, if a job is waiting.
    fn warn_at_bound(&mut self) {
        if let Some(job) = self.retry.pop_front().or_else(|| self.next_new_job().map(|j| (j, 0))) {
            self.retry.push_front(job);
            if let Some(message) = self.gate.at_bound_warning() {
                self.progress.suspend(|| warning!("{message}"));
            }
        }
    }

    /// Until when `--delay`, `--memfree`, `--load` or the limits hold the
    /// next job back, if they do.
    fn held_back(&mut self) -> Option<Instant> {
        let now = Instant::now();
        if let Some(until) = self.remote_held_back() {
            return Some(until);
        }
        if let (Some(delay), Some(last)) = (self.delay, self.last_start)
            && now < last + delay
        {
            return Some(last + delay);
        }
        if let Some(memfree) = self.config.memfree
            && !self.running.is_empty()
            && crate::limits::memory::free().is_some_and(|a| a < memfree)
        {
            return Some(now + RECHECK);
        }
        if let Some(load) = self.config.load
            && !self.running.is_empty()
            && running_processes().is_some_and(|p| p as f64 >= load)
        {
            return Some(now + RECHECK);
        }
        self.gate.hold(self.config, self.running.len())
    }

    /// `--resume`: whether an earlier run already did this job.
    fn already_done(&self, job: &Job) -> bool {
        match self.config.resume {
            Resume::No => false,
            Resume::Skip => {
                self.prior.jobs.contains_key(&job.seq)
                    || (!self.has_joblog
                        && self
                            .results
                            .as_ref()
                            .is_some_and(|r| r.done(&job.records, values(job, 0))))
            }
            Resume::RetryFailed => self.prior.jobs.get(&job.seq).copied().unwrap_or(false),
        }
    }

    /// A job taken from the input will never run (`--resume` skipped it,
    /// or the run stopped before it): `-k` stops waiting for it.
    pub(super) fn forget(&mut self, seq: u64) {
        let printer = &mut self.printer;
        if let Err(e) = self.progress.suspend(|| printer.forget(seq)) {
            self.output_failed(&e);
        }
    }

    /// A job that was to start in `slot` will not: the slot is free again,
    /// and the job [forgotten](Runner::forget).
    pub(super) fn never_runs(&mut self, seq: u64, slot: usize) {
        self.free_slots.insert(slot);
        self.forget(seq);
    }
}

/// Processes running now (from `/proc/loadavg`), not counting ourselves.
fn running_processes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let running: u64 = text.split_whitespace().nth(3)?.split('/').next()?.parse().ok()?;
    Some(running.saturating_sub(1))
}
