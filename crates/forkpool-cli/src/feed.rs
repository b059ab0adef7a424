//! The input thread: reads input and groups it into jobs away from the
//! run's event loop, when reading may wait on another process.
//!
//! Reading a pipe or a terminal can block for as long as whoever writes it
//! likes (`(echo a; sleep 60; echo b) | forkpool ...`). If the event loop
//! read it itself, it could neither reap the jobs that finish meanwhile
//! (their runtimes would grow, and a `--timeout` would kill jobs that had
//! already ended) nor act on `SIGINT`. So a thread reads, a bounded number
//! of jobs ahead (memory stays flat), and wakes the event loop through the
//! supervisor's [`Waker`] when the loop is waiting for a job.
//!
//! The hand-over is a queue with hysteresis: when it is full the thread
//! sleeps until the loop has taken half of it, then refills it in one go.
//! A plain bounded channel would wake the thread for every job taken, and
//! at thousands of short jobs a second those wake-ups are the overhead.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use forkpool::command::Waker;

use crate::jobs::{Job, Jobs};

/// How many jobs the thread prepares ahead of the event loop, at most.
const AHEAD: usize = 64;

/// What the feed has for the event loop.
#[derive(Debug)]
pub(crate) enum Next {
    /// A job to run.
    Job(Job),
    /// None ready yet: the waker will wake the loop when there is.
    Pending,
    /// The input has ended.
    Done,
    /// Reading the input failed (the input ends here).
    Failed(io::Error),
}

/// What the two sides share.
#[derive(Debug, Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// `--pipe`: bytes of blocks in `jobs`, kept under the budget.
    bytes: usize,
    /// The input ended (with this error, if reading failed).
    ended: Option<Option<io::Error>>,
    /// The loop found the queue empty and waits for a wake.
    wanted: bool,
    /// The thread waits for room.
    full: bool,
    /// The loop is gone: the thread should stop.
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    room: Condvar,
    /// The most bytes of `--pipe` blocks to queue.
    budget: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Neither side panics while holding the lock; if one did, the
        // queue is still consistent (every change is a single step).
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Jobs read by the input thread.
#[derive(Debug)]
pub(crate) struct Feed {
    shared: Arc<Shared>,
}

impl Feed {
    /// Starts the input thread. It ends when the input ends or the feed
    /// is dropped; one blocked reading input at exit ends with the process.
    /// It reads ahead at most [`AHEAD`] jobs and `budget` bytes of `--pipe`
    /// blocks (at least one job).
    pub(crate) fn start(source: Box<dyn Jobs>, budget: usize, waker: Waker) -> io::Result<Feed> {
        let shared = Arc::new(Shared {
            budget,
            ..Shared::default()
        });
        let feeder = Feeder {
            shared: shared.clone(),
            waker,
        };
        std::thread::Builder::new()
            .name("forkpool-input".into())
            .spawn(move || feeder.run(source))?;
        Ok(Feed { shared })
    }

    /// The next job, without waiting.
    pub(crate) fn next(&mut self) -> Next {
        let mut queue = self.shared.lock();
        if let Some(job) = queue.jobs.pop_front() {
            queue.bytes -= weight(&job);
            if queue.full && queue.jobs.len() <= AHEAD / 2 && queue.bytes <= self.shared.budget / 2 {
                queue.full = false;
                self.shared.room.notify_one();
            }
            return Next::Job(job);
        }
        match queue.ended.take() {
            Some(Some(e)) => {
                queue.ended = Some(None);
                Next::Failed(e)
            }
            Some(None) => {
                queue.ended = Some(None);
                Next::Done
            }
            None => {
                queue.wanted = true;
                Next::Pending
            }
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.closed = true;
        // The jobs read ahead never run: they go now, not when the thread
        // ends (which may wait on them: a `--round-robin` job's claim).
        let unrun = std::mem::take(&mut queue.jobs);
        queue.bytes = 0;
        self.shared.room.notify_one();
        drop(queue);
        drop(unrun);
    }
}

/// The input thread's end.
struct Feeder {
    shared: Arc<Shared>,
    waker: Waker,
}

impl Feeder {
    fn run(self, mut source: Box<dyn Jobs>) {
        let ended = loop {
            match source.next_job() {
                Ok(Some(job)) => {
                    if !self.hand_over(job) {
                        return;
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let mut queue = self.shared.lock();
        queue.ended = Some(ended);
        drop(queue);
        // The loop may be waiting for this; a spare wake costs nothing.
        self.waker.wake();
    }

    /// Queues a job, waiting while the queue is full; false once the loop
    /// is gone.
    fn hand_over(&self, job: Job) -> bool {
        let mut queue = self.shared.lock();
        while (queue.jobs.len() >= AHEAD || queue.bytes >= self.shared.budget) && !queue.closed {
            queue.full = true;
            queue = self.shared.room.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
        if queue.closed {
            return false;
        }
        queue.bytes += weight(&job);
        queue.jobs.push_back(job);
        let wake = std::mem::take(&mut queue.wanted);
        drop(queue);
        if wake {
            self.waker.wake();
        }
        true
    }
}

/// The bytes a queued job holds in memory.
fn weight(job: &Job) -> usize {
    job.stdin.as_ref().map_or(0, crate::pipe::Stdin::in_memory)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use forkpool::command::Supervisor;

    use super::*;
    use crate::config::Batching;
    use crate::input::{Columns, Linking, Records, Source, Splitter};
    use crate::jobs::JobSource;
    use crate::replace::{Multi, Template};

    #[test]
    fn every_job_arrives_once_in_order_however_far_the_reader_runs_ahead() {
        let values: Vec<String> = (0..(AHEAD * 5 + 3)).map(|i| i.to_string()).collect();
        let columns = Columns::new(Source::values(&values), Splitter::new(None));
        let records = Records::new(vec![columns], &[false], Linking::Product);
        let template = Template::plain(&[b"echo".to_vec()]);
        let source = JobSource::new(records, Batching::Single, Multi::Single, template, 1);
        let mut supervisor = Supervisor::new().unwrap();
        let mut feed = Feed::start(Box::new(source), usize::MAX, supervisor.waker()).unwrap();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match feed.next() {
                Next::Job(job) => seen.push(String::from_utf8(job.args[0].clone()).unwrap()),
                Next::Done => break,
                Next::Failed(e) => panic!("{e}"),
                // Nothing queued: the thread's wake (or the deadline) ends
                // the wait.
                Next::Pending => supervisor.wait(Some(deadline), &mut Vec::new()).unwrap(),
            }
            assert!(Instant::now() < deadline, "the feed stalled after {} jobs", seen.len());
        }
        assert_eq!(seen, values);
        assert!(matches!(feed.next(), Next::Done), "the end stays the end");
    }
}
