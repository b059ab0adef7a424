//! The input thread: reads input and groups it into jobs away from the
//! run's event loop.
//!
//! Reading input can block for as long as whoever writes it likes
//! (`(echo a; sleep 60; echo b) | forkpool ...`). If the event loop read it
//! itself, it could neither reap the jobs that finish meanwhile (their
//! runtimes would grow, and a `--timeout` would kill jobs that had already
//! ended) nor act on `SIGINT`. So a thread reads, a few jobs ahead of need
//! (a small bounded channel: memory stays flat), and wakes the event loop
//! through the supervisor's [`Waker`] each time a job is ready or the input
//! ends.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use forkpool::command::Waker;

use crate::jobs::{Job, JobSource};

/// How many jobs the thread prepares ahead of the event loop.
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

/// Jobs read by the input thread.
#[derive(Debug)]
pub(crate) struct Feed {
    jobs: Receiver<io::Result<Job>>,
}

impl Feed {
    /// Starts the input thread. It ends when the input ends, or when the
    /// feed is dropped and it next has a job to hand over; one blocked on
    /// input at exit just ends with the process.
    pub(crate) fn start(source: JobSource, waker: Waker) -> io::Result<Feed> {
        let (tx, rx) = sync_channel(AHEAD);
        std::thread::Builder::new()
            .name("forkpool-input".into())
            .spawn(move || read_jobs(source, tx, &waker))?;
        Ok(Feed { jobs: rx })
    }

    /// The next job, without waiting.
    pub(crate) fn next(&mut self) -> Next {
        match self.jobs.try_recv() {
            Ok(Ok(job)) => Next::Job(job),
            Ok(Err(e)) => Next::Failed(e),
            Err(TryRecvError::Empty) => Next::Pending,
            Err(TryRecvError::Disconnected) => Next::Done,
        }
    }
}

fn read_jobs(mut source: JobSource, tx: SyncSender<io::Result<Job>>, waker: &Waker) {
    loop {
        let next = match source.next_job() {
            Ok(Some(job)) => Ok(job),
            Ok(None) => break,
            Err(e) => Err(e),
        };
        let failed = next.is_err();
        if tx.send(next).is_err() || failed {
            break;
        }
        waker.wake();
    }
    // Dropping the sender tells the loop the input ended (before the wake,
    // or the loop could look too early and then sleep).
    drop(tx);
    waker.wake();
}
