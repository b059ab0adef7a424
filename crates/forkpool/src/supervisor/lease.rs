//! The direct path: one task at a time with nobody in between.
//!
//! A task normally takes four hops: the caller hands it to the supervisor,
//! which writes it to a worker, which writes the result back to the
//! supervisor, which completes the task's slot. When the pool is idle the
//! supervisor instead *lends* one idle worker: it stops watching that
//! worker's socket and leaves the socket (a duplicate of its descriptor)
//! and the frame reader here. A `submit` that finds the lease writes its
//! `RUN` frame to the worker itself, and the `join` that follows reads the
//! worker's `RESULTS` frame itself: two parties, as in a bare socketpair
//! round trip. The caller then offers the worker again for the next task.
//! The worker sees nothing new: the same frames on the same socket.
//!
//! The supervisor still learns of every task. The hand-off is published
//! here, under this lock, before the frame is written; the supervisor
//! *adopts* it into the worker's ledger (see `ledger.rs`) whenever it
//! wakes: before it settles a worker's death, when a task is aborted, when
//! it is asked to stop, and at once when the task has a timeout (the
//! caller wakes it then, through the poller's notify, since the timeout is
//! the supervisor's to enforce). Every rule of the ledger and the status
//! page (timeouts, the doom handshake, abort, death and blame) then holds
//! unchanged. Tasks the callers finished before the supervisor looked are
//! only counted (`skipped`): the ledger numbers items as the worker does.
//!
//! Who reads the worker's socket is the one delicate part: only one side
//! at a time. A caller reads only while `reading` (inside `join`); the
//! supervisor takes the worker back (*reclaims* it) only while no caller
//! is reading, and otherwise asks for it (`wanted`): the reader hands it
//! back when its result has come. A reader that meets the end of the
//! stream or a bad frame hands the worker back too, and the supervisor
//! settles it as any dead or misbehaving worker. `supervisor/README.md`
//! ("The direct path") has the whole design.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use super::job::Job;
use crate::ipc::frame::FrameReader;
use crate::ipc::outbox::Outbox;
use crate::ipc::protocol::{self, FromWorker};
use crate::slot::{Part, Slot, lock};
use crate::stats::Counters;

/// The largest encoded argument that takes the direct path: its `RUN`
/// frame always fits whole in the idle worker's empty socket buffer.
pub(crate) const MAX_DIRECT_BYTES: u64 = 16 * 1024;

/// Where the lent worker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No worker is lent: the supervisor has them all.
    Idle,
    /// An idle worker waits for a caller.
    Offered,
    /// A caller wrote job `job_id` to it.
    Taken,
    /// A caller gave it back (the worker is gone, misbehaved, is out of
    /// `max_tasks_per_worker`, or the supervisor wanted it).
    Returned,
}

/// The lent worker, as the supervisor lent it.
#[derive(Debug)]
pub(crate) struct Loan {
    pub(crate) worker: u64,
    /// A duplicate of the worker's socket.
    pub(crate) socket: Arc<OwnedFd>,
    /// The memory limit the worker applies to items now: a task with
    /// another one goes by the supervisor, which tells the worker.
    pub(crate) memory: Option<u64>,
    /// The pool's memory limit (an argument larger than the limit is
    /// refused without a worker).
    pub(crate) pool_memory: Option<u64>,
    /// Items the worker may still be handed (`max_tasks_per_worker`).
    pub(crate) budget: Option<u64>,
    /// The pool has a task timeout: the supervisor must time every task.
    pub(crate) timed: bool,
    /// The largest result accepted.
    pub(crate) max_message: usize,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    loan: Option<Loan>,
    /// The worker's frame reader: whoever reads the socket uses it (a
    /// caller takes it out while it reads).
    reader: Option<FrameReader>,
    /// A caller is reading the socket.
    reading: bool,
    /// The job written to the worker, and whether the supervisor adopted it.
    job_id: u64,
    job: Option<Job>,
    adopted: bool,
    /// The supervisor wants the worker back (or the task's holder stopped
    /// waiting in `join`): hand it back instead of offering it again.
    wanted: bool,
    /// Items callers finished before the supervisor adopted them.
    skipped: u64,
    /// Adopted jobs whose results a caller took.
    acked: Vec<u64>,
    /// A caller read something other than the results it expected.
    trouble: Option<String>,
    /// Where `RUN` frames are written (kept: no allocation per task).
    out: Outbox,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Lease {
    state: Mutex<State>,
    /// A worker is offered: a hint read without the lock, so that a
    /// `submit` while nothing is lent (a busy pool) costs one load.
    open: AtomicBool,
    /// Jobs wait in the supervisor's inbox: nothing may overtake them, so
    /// nothing goes straight to the lent worker until the supervisor has
    /// taken them (submissions from one thread run in order).
    claimed: AtomicBool,
    /// Job ids, for the supervisor and for callers of the direct path.
    /// The supervisor takes one per job: on a line of its own, away from
    /// the flags every `submit` reads.
    next_job: CachePadded<AtomicU64>,
    /// Counted as running while the supervisor has not adopted them.
    counters: Arc<Counters>,
}

/// What the supervisor must do after looking at the lease.
#[derive(Debug, Default)]
pub(crate) struct Account {
    /// The lent worker.
    pub(crate) worker: u64,
    /// Adopted jobs whose results a caller took, in order: ack them (the
    /// caller already took them out of `running`, see `Slot::release_hold`).
    pub(crate) acked: Vec<u64>,
    /// Then: items callers finished that the ledger never saw.
    pub(crate) skipped: u64,
    /// Then: a job a caller handed over, to add to the ledger (and then
    /// take out of the direct counters).
    pub(crate) adopt: Option<(u64, Job)>,
    /// The worker's `max_tasks_per_worker` budget as callers left it.
    pub(crate) budget: Option<u64>,
    /// A caller saw the worker send nonsense: kill it for that.
    pub(crate) trouble: Option<String>,
    /// The worker is back, with its reader: watch its socket again.
    pub(crate) reclaimed: Option<FrameReader>,
}

/// How a caller's read of the lent worker ended.
enum Read {
    Results(Part),
    /// End of stream, or an error: the worker is gone.
    Lost,
    /// A frame that is not this job's results.
    Bad(String),
}

impl Lease {
    pub(crate) fn new(counters: Arc<Counters>) -> Lease {
        Lease {
            state: Mutex::new(State {
                phase: Phase::Idle,
                loan: None,
                reader: None,
                reading: false,
                job_id: 0,
                job: None,
                adopted: false,
                wanted: false,
                skipped: 0,
                acked: Vec::new(),
                trouble: None,
                out: Outbox::default(),
            }),
            open: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            next_job: CachePadded::new(AtomicU64::new(0)),
            counters,
        }
    }

    /// A fresh job id.
    pub(crate) fn next_job_id(&self) -> u64 {
        self.next_job.fetch_add(1, Ordering::Relaxed)
    }

    // ------------------------------------------------ the caller's side --

    /// Writes `job` (one item, no descriptors) straight to the lent
    /// worker, if one is offered and the job may go there. Returns the
    /// job's id, or the job for the supervisor. `notify` wakes the
    /// supervisor; it is called when the supervisor must adopt the job at
    /// once (it has a timeout, or the worker is already gone).
    pub(crate) fn hand(&self, job: Job, notify: impl FnOnce()) -> Result<u64, Job> {
        if job.count != 1 || !job.fds().is_empty() || job.size() > MAX_DIRECT_BYTES || job.stream.is_some() {
            return Err(job);
        }
        if !self.open.load(Ordering::Relaxed) || self.claimed.load(Ordering::Acquire) {
            return Err(job);
        }
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if state.phase != Phase::Offered {
            return Err(job);
        }
        let (Some(loan), out) = (&mut state.loan, &mut state.out) else {
            return Err(job);
        };
        let limits = job.slot.limits();
        let too_big = limits
            .memory
            .or(loan.pool_memory)
            .is_some_and(|limit| job.size() > limit);
        if limits.memory != loan.memory || too_big || loan.budget == Some(0) {
            return Err(job);
        }
        let id = self.next_job_id();
        if out.unsent() > 0 {
            // Left from a worker that was gone.
            *out = Outbox::default();
        }
        if protocol::write_run(out, id, job.entry, 1, job.items(), &[]).is_err() || !job.slot.begin_dispatch() {
            // The supervisor fails it the same way (or skips it: cancelled).
            return Err(job);
        }
        if let Some(budget) = &mut loan.budget {
            *budget -= 1;
        }
        let timed = loan.timed || limits.timeout.is_some();
        let written = send_all(out, &loan.socket);
        self.counters.direct(1);
        if !job.slot.hold(1) {
            // Cannot happen: nobody has its handle yet to abort it.
            self.counters.direct_done(1);
        }
        state.phase = if written { Phase::Taken } else { Phase::Returned };
        self.open.store(false, Ordering::Relaxed);
        state.job_id = id;
        state.job = Some(job);
        state.adopted = false;
        drop(guard);
        if timed || !written {
            notify();
        }
        Ok(id)
    }

    /// Waits for job `id`'s results on the lent worker and completes
    /// `slot` with them, then offers the worker again. Returns without
    /// completing the slot when the supervisor has taken the worker back
    /// (the slot then completes the usual way) or the worker is lost.
    pub(crate) fn drive(&self, id: u64, slot: &Slot, notify: impl FnOnce()) {
        self.read_for(id, slot, true, notify);
    }

    /// Like [`drive`](Lease::drive), without waiting: completes `slot`
    /// if job `id`'s results are already in the worker's socket (a task
    /// whose reply has come IS finished, whoever asks: `is_finished`,
    /// `wait_timeout`, `abort`, a poll). Reads only what is there; a
    /// result still partly on its way stays in the frame reader for the
    /// next read.
    pub(crate) fn peek(&self, id: u64, slot: &Slot, notify: impl FnOnce()) {
        self.read_for(id, slot, false, notify);
    }

    fn read_for(&self, id: u64, slot: &Slot, block: bool, notify: impl FnOnce()) {
        let (socket, mut reader, max_message) = {
            let mut state = lock(&self.state);
            if state.phase != Phase::Taken || state.job_id != id || state.reading {
                return;
            }
            let Some((socket, max_message)) = state.loan.as_ref().map(|l| (l.socket.clone(), l.max_message)) else {
                return;
            };
            let Some(reader) = state.reader.take() else {
                return;
            };
            state.reading = true;
            (socket, reader, max_message)
        };
        let read = read_results(&socket, &mut reader, id, max_message, block);
        let mut state = lock(&self.state);
        state.reading = false;
        state.reader = Some(reader);
        let part = match read {
            // Not there yet (`peek`): nothing changes.
            None => return,
            Some(Read::Results(part)) => {
                if state.adopted {
                    // Out of `running` now, before the slot has it; the
                    // ledger's ack then leaves `running` alone.
                    state.acked.push(id);
                    self.counters.running_less(slot.release_hold());
                } else {
                    state.skipped += 1;
                    state.job = None;
                    if slot.unhold(1) {
                        self.counters.direct_done(1);
                    }
                }
                let spent = state.loan.as_ref().is_some_and(|loan| loan.budget == Some(0));
                if state.wanted || spent || self.claimed.load(Ordering::Acquire) {
                    state.phase = Phase::Returned;
                } else {
                    state.phase = Phase::Offered;
                    self.open.store(true, Ordering::Relaxed);
                }
                Some(part)
            }
            Some(Read::Lost) => {
                state.phase = Phase::Returned;
                None
            }
            Some(Read::Bad(message)) => {
                state.trouble = Some(message);
                state.phase = Phase::Returned;
                None
            }
        };
        let returned = state.phase == Phase::Returned;
        drop(state);
        if returned {
            notify();
        }
        if let Some(part) = part {
            slot.add(part);
        }
    }

    /// The holder of job `id`'s task will not read its results here (it
    /// waits another way, or not at all): the supervisor should.
    pub(crate) fn release(&self, id: u64, notify: impl FnOnce()) {
        let mut state = lock(&self.state);
        if state.phase == Phase::Taken && state.job_id == id && !state.reading && !state.wanted {
            state.wanted = true;
            drop(state);
            notify();
        }
    }

    /// A job was put in the supervisor's inbox (called under its lock).
    pub(crate) fn claim(&self) {
        // Written only when it changes: a burst of submissions then
        // writes the line once, not once per task.
        if !self.claimed.load(Ordering::Relaxed) {
            self.claimed.store(true, Ordering::Release);
        }
    }

    // -------------------------------------------- the supervisor's side --

    /// The supervisor took its inbox (called under its lock).
    pub(crate) fn unclaim(&self) {
        if self.claimed.load(Ordering::Relaxed) {
            self.claimed.store(false, Ordering::Release);
        }
    }

    /// Whether jobs wait in the inbox.
    pub(crate) fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// Lends a worker: callers may now hand it tasks.
    pub(crate) fn offer(&self, loan: Loan, reader: FrameReader) {
        let mut state = lock(&self.state);
        debug_assert_eq!(state.phase, Phase::Idle);
        state.phase = Phase::Offered;
        self.open.store(true, Ordering::Relaxed);
        state.loan = Some(loan);
        state.reader = Some(reader);
        state.wanted = false;
    }

    /// What callers did since the last look, and the worker back if
    /// `want_back` (or a caller gave it back) and no caller is reading its
    /// socket. `None` when no worker is lent.
    pub(crate) fn account(&self, want_back: bool) -> Option<Account> {
        let mut state = lock(&self.state);
        let worker = state.loan.as_ref()?.worker;
        let mut account = Account {
            worker,
            acked: std::mem::take(&mut state.acked),
            skipped: std::mem::take(&mut state.skipped),
            trouble: state.trouble.take(),
            ..Account::default()
        };
        if let Some(job) = state.job.take() {
            // Counted as direct until the ledger has it (`settle_lease`).
            state.adopted = true;
            account.adopt = Some((state.job_id, job));
        }
        let reclaim = match state.phase {
            Phase::Idle => false,
            Phase::Returned => true,
            Phase::Offered => want_back,
            Phase::Taken if state.reading => {
                state.wanted |= want_back;
                false
            }
            Phase::Taken => want_back || state.wanted,
        };
        account.budget = state.loan.as_ref().and_then(|loan| loan.budget);
        if reclaim {
            let max_message = state.loan.take().map_or(0, |loan| loan.max_message);
            let reader = state.reader.take();
            state.phase = Phase::Idle;
            self.open.store(false, Ordering::Relaxed);
            state.wanted = false;
            account.reclaimed = Some(reader.unwrap_or_else(|| FrameReader::new(protocol::frame_limit(max_message))));
        }
        Some(account)
    }
}

/// Writes all of `out` to the socket, waiting for room if it must (the
/// worker is idle and reading, so it makes room). False if the worker is
/// gone.
fn send_all(out: &mut Outbox, socket: &OwnedFd) -> bool {
    loop {
        match out.flush(socket.as_fd()) {
            Ok(()) => return true,
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [rustix::event::PollFd::new(socket, rustix::event::PollFlags::OUT)];
                let _ = rustix::event::poll(&mut fds, None);
            }
            Err(_) => return false,
        }
    }
}

/// Reads until job `id`'s results have come (or the worker is lost).
/// Without `block`, reads only what the socket holds now: `None` when the
/// results are not (all) there yet.
fn read_results(socket: &OwnedFd, reader: &mut FrameReader, id: u64, max_message: usize, block: bool) -> Option<Read> {
    Some(loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                break match protocol::parse_from_worker(frame) {
                    Ok(FromWorker::Results(results))
                        if results.job == id && results.first == 0 && results.count == 1 =>
                    {
                        Read::Results(Part::Records {
                            first: 0,
                            count: 1,
                            bytes: results.records.to_vec(),
                            fds: results.fds,
                            limit: max_message,
                            elapsed_ns: results.elapsed_ns,
                        })
                    }
                    Ok(FromWorker::Results(results)) => Read::Bad(format!(
                        "results for job {} items {}+{}, expected job {id}",
                        results.job, results.first, results.count
                    )),
                    Ok(_) => Read::Bad("a frame other than results for a task".into()),
                    Err(e) => Read::Bad(e.to_string()),
                };
            }
            Ok(None) => {}
            Err(e) => break Read::Bad(e.to_string()),
        }
        if !block && !crate::sys::poll::readable_within(socket.as_fd(), std::time::Duration::ZERO) {
            return None;
        }
        // The socket blocks while lent (see `lend.rs`): one receive waits.
        match reader.read_from(socket) {
            Ok(0) => break Read::Lost,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [rustix::event::PollFd::new(socket, rustix::event::PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, None);
            }
            Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => break Read::Bad(e.to_string()),
            Err(_) => break Read::Lost,
        }
    })
}
