//! The supervisor's view of one worker process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;

use super::ledger::Ledger;
use super::output::WorkerOutput;
use crate::ipc::frame::FrameReader;
use crate::ipc::outbox::Outbox;
use crate::ipc::protocol::{self, FromWorker};
use crate::ipc::status::StatusPage;
use crate::slot::Part;
use crate::stats::Counters;
use crate::sys::exit::ExitReason;
use crate::sys::poll::Watched;

/// Why the supervisor killed a worker.
#[derive(Debug, Clone)]
pub(crate) enum KillCause {
    /// Item number `item` (over the worker's life) ran past the timeout.
    TimedOut { item: u64, after: Duration },
    /// It sent bytes that are not a valid message.
    Protocol(String),
    /// The pool is terminating.
    Terminate,
    /// It was not ready (`worker_init` had not returned) within the task
    /// timeout.
    InitTimedOut(Duration),
    /// Its socket closed but it did not exit, or it ignored a shutdown.
    Unresponsive,
    /// Item number `item` (over the worker's life) belongs to a task that
    /// `Task::abort` ended.
    Aborted { item: u64 },
    /// The stream it ran was stopped and its generator did not come back
    /// in time; the stream ends with this error.
    Stopped(crate::error::TaskError),
}

/// How a worker ended.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// Reaped with this status.
    Exited(ExitReason),
    /// Lost with the zygote; no status.
    Lost,
    /// Ended, but its status was taken by someone else.
    Vanished(String),
    /// Never started.
    NotStarted(String),
}

#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) socket: Watched,
    pub(crate) status: StatusPage,
    pub(crate) pid: Option<u32>,
    /// `READY` received: `worker_init` succeeded.
    pub(crate) ready: bool,
    /// Our write side is shut: the worker has been told to exit.
    pub(crate) closing: Option<Instant>,
    pub(crate) reader: FrameReader,
    /// Frames not yet written, with their descriptors.
    pub(crate) out: Outbox,
    /// The largest argument or result.
    max_message: usize,
    /// Whether writable readiness is requested.
    pub(crate) writable: bool,
    pub(crate) ledger: Ledger,
    /// Items it may still be handed (`max_tasks_per_worker`).
    pub(crate) budget: Option<u64>,
    pub(crate) kill: Option<KillCause>,
    pub(crate) kill_sent: bool,
    /// `SIGTERM` was sent (a timeout with `timeout_grace`): the kill is
    /// due at this instant.
    pub(crate) kill_at: Option<Instant>,
    /// The memory limit the worker was last told for its items (`None`:
    /// the pool's).
    pub(crate) memory_sent: Option<u64>,
    pub(crate) eof_at: Option<Instant>,
    pub(crate) ended: Option<Ended>,
    pub(crate) init_error: Option<String>,
    /// Its stdout and stderr pipes, unless task output is inherited.
    pub(crate) output: Option<WorkerOutput>,
    /// The stream it was handed, until the stream's results come back.
    pub(crate) stream: Option<super::stream::Active>,
    /// A duplicate of `socket` for the direct path (`lease.rs`), made the
    /// first time the worker is lent.
    pub(crate) lease_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// What reading from a worker turned up, beyond results.
#[derive(Debug, Default)]
pub(crate) struct News {
    pub(crate) became_ready: bool,
    pub(crate) protocol_error: Option<String>,
}

impl Worker {
    pub(crate) fn new(
        socket: Watched,
        status: StatusPage,
        max_message: usize,
        budget: Option<u64>,
        counters: Arc<Counters>,
    ) -> Worker {
        Worker {
            socket,
            status,
            pid: None,
            ready: false,
            closing: None,
            reader: FrameReader::new(protocol::frame_limit(max_message)),
            out: Outbox::default(),
            max_message,
            writable: false,
            ledger: Ledger::counting(counters),
            budget,
            kill: None,
            kill_sent: false,
            kill_at: None,
            memory_sent: None,
            eof_at: None,
            ended: None,
            init_error: None,
            output: None,
            stream: None,
            lease_fd: None,
        }
    }

    /// Whether new jobs may go to it.
    pub(crate) fn accepting(&self) -> bool {
        self.ready
            && self.kill.is_none()
            && self.ended.is_none()
            && self.eof_at.is_none()
            && self.closing.is_none()
            && self.budget != Some(0)
    }

    /// Whether it counts towards the pool's size (a retiring worker does,
    /// until it has exited: `workers(n)` never runs more than `n` tasks).
    ///
    /// A worker still starting counts until it is settled, even once it
    /// has died: only then is its death known to be a start failure, which
    /// delays the next attempt.
    pub(crate) fn counts_as_live(&self) -> bool {
        if !self.ready {
            // Even killed (its init hung): its death is a start failure.
            return true;
        }
        let dying = self.ended.is_some() || self.eof_at.is_some();
        // A worker that used up `max_tasks_per_worker` still runs its last
        // task: it counts until it has exited, so that its replacement
        // never runs beside it.
        let retiring = self.budget == Some(0) && self.kill.is_none() && self.closing.is_none() && self.ended.is_none();
        retiring || (self.kill.is_none() && self.closing.is_none() && self.budget != Some(0) && !dying)
    }

    /// Reads what the worker sent and handles every complete frame.
    /// `item_ns` is the pool's running estimate of time per item.
    pub(crate) fn read(&mut self, item_ns: &mut Option<f64>, now: Instant) -> News {
        let mut news = News::default();
        if matches!(self.kill, Some(KillCause::Protocol(_))) {
            return news;
        }
        for _ in 0..64 {
            match self.reader.read_from(self.socket.fd()) {
                Ok(0) => {
                    // A frame cut short here is part of the worker's death,
                    // not a separate protocol error: nothing to check.
                    self.eof_at.get_or_insert(now);
                    self.socket.pause();
                    break;
                }
                Ok(_) => {
                    self.handle_frames(item_ns, &mut news);
                    if news.protocol_error.is_some() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::OutOfMemory {
                        news.protocol_error = Some(e.to_string());
                    }
                    self.eof_at.get_or_insert(now);
                    self.socket.pause();
                    break;
                }
            }
        }
        news
    }

    fn handle_frames(&mut self, item_ns: &mut Option<f64>, news: &mut News) {
        loop {
            let frame = match self.reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    news.protocol_error = Some(e.to_string());
                    return;
                }
            };
            match protocol::parse_from_worker(frame) {
                Ok(FromWorker::Ready { pid }) => {
                    if self.ready {
                        news.protocol_error = Some("a second READY".into());
                        return;
                    }
                    self.ready = true;
                    self.pid.get_or_insert(pid);
                    news.became_ready = true;
                    if let Some(output) = &mut self.output {
                        output.on_ready(&self.status, pid);
                    }
                }
                Ok(FromWorker::OutputMark(position)) => {
                    let refused = match &mut self.output {
                        Some(output) => output.on_mark(position).err(),
                        None => Some("an output mark, but task output is inherited".into()),
                    };
                    if let Some(message) = refused {
                        news.protocol_error = Some(message);
                        return;
                    }
                }
                Ok(FromWorker::InitFailed { message }) => self.init_error = Some(message),
                Ok(FromWorker::Results(results)) => {
                    if !self.ready {
                        news.protocol_error = Some("results before READY".into());
                        return;
                    }
                    let stream_ended = self.stream.as_ref().is_some_and(|s| s.job == results.job);
                    match self.ledger.ack(results.job, results.first, results.count) {
                        Ok(acked) => {
                            if stream_ended {
                                // Free for other tasks; a stream's length
                                // says nothing of how long items take.
                                self.stream = None;
                            } else {
                                let sample = results.elapsed_ns as f64 / f64::from(results.count);
                                *item_ns = Some(item_ns.map_or(sample, |old| old * 0.75 + sample * 0.25));
                            }
                            let part = Part::Records {
                                first: acked.first,
                                count: results.count,
                                bytes: results.records.to_vec(),
                                fds: results.fds,
                                limit: self.max_message,
                                elapsed_ns: results.elapsed_ns,
                            };
                            let Some(output) = &mut self.output else {
                                acked.slot.add(part);
                                continue;
                            };
                            // The frame's last item, over the worker's life
                            // and in its slot: whose output the mark ends.
                            let last = (self.ledger.acked_items(), &acked.slot, acked.first + results.count - 1);
                            if let Err(message) = output.on_results(&self.status, &self.ledger, last, part) {
                                news.protocol_error = Some(message);
                                return;
                            }
                        }
                        Err(message) => {
                            news.protocol_error = Some(message);
                            return;
                        }
                    }
                }
                Ok(FromWorker::Bell { job }) => {
                    if let Err(message) = self.on_bell(job) {
                        news.protocol_error = Some(message);
                        return;
                    }
                }
                Ok(FromWorker::Yield(item)) => {
                    if let Err(message) = super::stream::on_yield(self.stream.as_ref(), item, self.max_message) {
                        news.protocol_error = Some(message);
                        return;
                    }
                }
                Err(e) => {
                    news.protocol_error = Some(e.to_string());
                    return;
                }
            }
        }
    }

    /// Writes as much pending output as the socket takes.
    pub(crate) fn flush(&mut self, now: Instant) {
        match self.out.flush(self.socket.fd()) {
            Ok(()) => {}
            Err(Errno::AGAIN) => {
                if !self.writable {
                    self.writable = true;
                    let _ = self.socket.set_interest(self.eof_at.is_none(), true);
                }
                return;
            }
            Err(_) => {
                // The worker is gone; its exit will be reported.
                self.out = Outbox::default();
                self.eof_at.get_or_insert(now);
            }
        }
        if self.writable {
            self.writable = false;
            let _ = self.socket.set_interest(self.eof_at.is_none(), false);
        }
    }

    /// Bytes queued for the worker and not yet written.
    pub(crate) fn unsent(&self) -> usize {
        self.out.unsent()
    }
}
