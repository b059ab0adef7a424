//! Streams in the supervisor: which worker serves which stream, passing
//! its bells and framed items on to the consumer, and stopping it.
//!
//! A stream is a job of one item, dispatched like any other, whose `STREAM`
//! frame carries the ring and the credit `eventfd` beside the argument.
//! Once handed a stream, a worker is handed nothing more until the
//! stream's results come back: it serves one stream at a time, and the
//! other workers take the other tasks. The items themselves never pass
//! through here (they go from the worker to the consumer through the
//! ring); only wake-ups and the few items that hold descriptors do.
//!
//! Stopping: a consumer that cancels or drops its stream abandons its
//! slot; the supervisor posts the job on the worker's status page (the
//! worker looks before each item) and sends `CANCEL` (which wakes a worker
//! waiting for credit). A generator that does not come back within
//! [`STOP_GRACE`] has its worker killed. `shutdown` stops every stream the
//! same way, and fails those not yet handed to a worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Supervisor;
use super::job::Job;
use super::worker::{KillCause, Worker};
use crate::error::TaskError;
use crate::ipc::frame::FrameError;
use crate::ipc::protocol::kind;
use crate::ipc::stream::{self, Yielded};
use crate::slot::Slot;
use crate::stream::link::{FrameItem, Link};

/// How long a stopped stream's generator may take to come back from the
/// item it is making before its worker is killed.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(1);

/// The stream a worker serves.
#[derive(Debug)]
pub(crate) struct Active {
    /// Its job id.
    pub(crate) job: u64,
    link: Arc<Link>,
    slot: Arc<Slot>,
    /// When the worker was told to stop it.
    stopped_at: Option<Instant>,
}

/// Appends the frame that hands `job` (a stream's job) to a worker.
pub(super) fn write_start(worker: &mut Worker, id: u64, job: &Job, link: &Arc<Link>) -> Result<(), FrameError> {
    stream::write_start(
        &mut worker.out,
        id,
        job.entry,
        job.items(),
        &link.ring,
        &link.credit,
        job.fds(),
    )?;
    worker.stream = Some(Active {
        job: id,
        link: link.clone(),
        slot: job.slot.clone(),
        stopped_at: None,
    });
    Ok(())
}

/// The stream `job`, if it is the one `active` names.
fn active(active: Option<&Active>, job: u64) -> Result<&Active, String> {
    match active {
        Some(active) if active.job == job => Ok(active),
        _ => Err(format!("a stream message for job {job}, which is not its stream")),
    }
}

/// `YIELD` from a worker serving `stream`: an item that holds descriptors,
/// for the consumer; `limit` bounds its out-of-line body.
pub(super) fn on_yield(stream: Option<&Active>, item: Yielded<'_>, limit: usize) -> Result<(), String> {
    active(stream, item.job)?.link.push(FrameItem {
        seq: item.seq,
        weight: item.weight,
        bytes: item.item.to_vec(),
        fds: item.fds,
        limit,
    });
    Ok(())
}

impl Worker {
    /// `BELL`: wake the consumer.
    pub(super) fn on_bell(&mut self, job: u64) -> Result<(), String> {
        active(self.stream.as_ref(), job)?.link.wake();
        Ok(())
    }

    /// Tells the worker to stop its stream, once.
    fn stop_stream(&mut self, now: Instant) {
        let Some(active) = &mut self.stream else {
            return;
        };
        if active.stopped_at.is_some() {
            return;
        }
        active.stopped_at = Some(now);
        let job = active.job;
        // The page is what the worker looks at between items; the frame
        // wakes it if it waits for credit.
        self.status.abandon(job);
        // (A frame of eight bytes cannot fail to be framed.)
        let _ = stream::write_job(self.out.buf(), kind::CANCEL, job);
    }
}

impl Supervisor {
    /// Streams whose consumer let go: tell their workers to stop.
    pub(super) fn cancel_abandoned_streams(&mut self) {
        let now = Instant::now();
        for worker in self.workers.values_mut() {
            if worker.stream.as_ref().is_some_and(|a| a.slot.is_abandoned()) {
                worker.stop_stream(now);
            }
        }
    }

    /// The pool is stopping: every stream ends. Those not handed to a
    /// worker yet fail (they never started); the others are stopped.
    pub(super) fn stop_streams(&mut self) {
        let now = Instant::now();
        let queue = std::mem::take(&mut self.queue);
        for job in queue {
            match &job.stream {
                Some(link) => {
                    link.stop_by_pool();
                    job.fail(TaskError::Cancelled);
                }
                None => self.queue.push_back(job),
            }
        }
        for worker in self.workers.values_mut() {
            if let Some(active) = &worker.stream {
                active.link.stop_by_pool();
                worker.stop_stream(now);
            }
        }
    }

    /// Whether a job arriving while the pool stops must be refused: a
    /// stream would keep a shutdown waiting (none can arrive, as streams
    /// are made through the pool, but never let one hang it).
    pub(super) fn refuse_while_stopping(&self, job: &Job) -> bool {
        self.stop.is_some() && job.stream.is_some()
    }

    /// Stopped streams whose generator has not come back within
    /// [`STOP_GRACE`]: their workers are to be killed (the consumer does
    /// not want the item, and the pool needs the worker). Returns the
    /// kills, and when to look again.
    pub(super) fn overdue_streams(&self, now: Instant) -> (Vec<(u64, KillCause)>, Option<Instant>) {
        let mut kills = Vec::new();
        let mut next: Option<Instant> = None;
        let mut look_at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for (&id, worker) in &self.workers {
            let Some(Active {
                link,
                stopped_at: Some(stopped_at),
                ..
            }) = &worker.stream
            else {
                continue;
            };
            if worker.kill.is_some() || worker.ended.is_some() {
                continue;
            }
            let deadline = *stopped_at + STOP_GRACE;
            if now < deadline {
                look_at(deadline);
                continue;
            }
            // Only the stream itself is ever killed for this: jobs before
            // it finish, and a stopped stream that has not started is
            // skipped by the worker.
            let snapshot = worker.status.snapshot();
            let running = worker.ledger.outstanding_jobs() == 1
                && snapshot.running()
                && snapshot.started > worker.ledger.acked_items();
            if !running {
                look_at(now + STOP_GRACE);
                continue;
            }
            // As for a timeout: only while the stream is still the item
            // that runs, never a task after it.
            if worker.status.doom(snapshot.started) {
                let error = if link.is_stopped_by_pool() || self.stop.is_some() {
                    TaskError::PoolShutdown
                } else {
                    TaskError::Cancelled
                };
                kills.push((id, KillCause::Stopped(error)));
            } else {
                look_at(now + Duration::from_millis(1));
            }
        }
        (kills, next)
    }
}
