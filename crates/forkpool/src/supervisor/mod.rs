//! The supervisor: one thread per pool, owning every process and
//! descriptor of the pool, running one event loop. See `README.md` beside
//! this file for the design.

mod job;
mod lease;
mod ledger;
mod lend;
mod output;
mod overrun;
mod shared;
mod spawner;
mod stream;
mod trace;
mod worker;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Events, Poller};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

pub(crate) use job::Job;
pub(crate) use output::Mode as OutputMode;
use shared::Notes;
pub(crate) use shared::{Pids, Shared, Stop};

use crate::builder::StartMethod;
use crate::error::{Error, ErrorKind, TaskError};
use crate::ipc::lost::{Receiver, explain};
use crate::ipc::protocol;
use crate::ipc::status::{self, Snapshot, StatusPage};
use crate::options::Limits;
use crate::sys::exit::ExitReason;
use crate::sys::poll::Watched;
use crate::worker::config::ZygoteConfig;
use ledger::{Others, Verdict};
use output::{PoolOutput, WorkerOutput, fail};
use spawner::{ExecSpawner, Key, SpawnEvent, Spawner, ZygoteSpawner};
use worker::{Ended, KillCause, Worker};

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
/// A worker whose socket closed but which has not been reported dead
/// after this long is killed.
const EOF_GRACE: Duration = Duration::from_millis(500);
/// A worker told to exit that has not exited after this long is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// After this many start failures in a row, with no worker alive, the
/// pool gives up: queued and new tasks fail with `WorkerStartFailed`.
const MAX_START_FAILURES: u32 = 3;
/// While an aborted task may still be started by the worker it was handed
/// to, how often the supervisor looks.
const ABORT_POLL: Duration = Duration::from_millis(1);
/// The zygote may die this many times a minute before the pool gives up.
const MAX_ZYGOTE_LOSSES: usize = 3;
/// Jobs the inbox keeps room for between wake-ups (see `take_inbox`).
const INBOX_KEPT: usize = 1024;

/// The pool's settings, resolved from the builder.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) task_timeout: Option<Duration>,
    /// After `SIGTERM`, how long a timed-out task's group has before `SIGKILL`.
    pub(crate) timeout_grace: Option<Duration>,
    pub(crate) memory_limit: Option<u64>,
    /// `Rlimit::CpuSeconds`, to name the error of a task killed by SIGXCPU.
    pub(crate) cpu_limit: Option<u64>,
    pub(crate) max_tasks: Option<u64>,
    pub(crate) start: StartMethod,
    pub(crate) zygote: ZygoteConfig,
    pub(crate) max_message: usize,
    /// `None`: workers inherit the process's stdout and stderr.
    pub(crate) output: Option<OutputMode>,
}

/// Starts the supervisor thread and returns once every worker is ready
/// (or the pool failed to start).
pub(crate) fn start(config: Config) -> Result<(Arc<Shared>, JoinHandle<()>), Error> {
    let poller = Arc::new(Poller::new().map_err(|e| Error::io("cannot create a poller", e))?);
    let shared = Arc::new(Shared::new(poller.clone(), config.max_message, config.task_timeout));
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let thread_shared = shared.clone();
    let handle = std::thread::Builder::new()
        .name("forkpool-supervisor".into())
        .spawn(move || match Supervisor::start(config, thread_shared, poller) {
            Ok(mut supervisor) => {
                let _ = tx.send(Ok(()));
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| supervisor.run()));
                if let Err(payload) = ran {
                    // A bug in the supervisor: do not leave tasks waiting
                    // forever or processes running.
                    let reason = crate::worker::panic_message(&*payload);
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| supervisor.abandon(&reason)));
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| Error::io("cannot start the supervisor thread", e))?;
    match rx.recv() {
        Ok(Ok(())) => Ok((shared, handle)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(Error::new(
                ErrorKind::Spawn,
                "the supervisor thread died while starting",
            ))
        }
    }
}

#[derive(Debug)]
struct Supervisor {
    config: Config,
    shared: Arc<Shared>,
    poller: Arc<Poller>,
    events: Events,
    spawner: Box<dyn Spawner>,
    workers: BTreeMap<u64, Worker>,
    queue: VecDeque<Job>,
    inbox: Vec<Job>,
    spawn_events: Vec<SpawnEvent>,
    next_worker: u64,
    stop: Option<Stop>,
    /// Running estimate of worker time per item, in ns.
    item_ns: Option<f64>,
    /// True until every initial worker is ready.
    starting: bool,
    startup_error: Option<Error>,
    start_failures: u32,
    respawn_after: Option<Instant>,
    /// Tasks fail at once with `WorkerStartFailed` (see `set_broken`).
    broken: bool,
    /// ...but only until a worker starts again: the failures may have been
    /// passing (out of descriptors or memory for a moment).
    recoverable: bool,
    zygote_losses: Vec<Instant>,
    /// The coarse clock's tick (see `status::coarse_resolution`).
    coarse_tick: Duration,
    /// Task output, unless workers inherit stdout and stderr.
    output: Option<Arc<PoolOutput>>,
    /// Some worker may hold a task `Task::abort` ended (see `tick`).
    aborts_pending: bool,
    /// Some task came with its own timeout (`Pool::task`).
    task_timeouts: bool,
    /// The worker lent to callers for the direct path (`lease.rs`).
    lent: Option<u64>,
    /// A frame reader to put in a lent worker's place.
    spare_reader: Option<crate::ipc::frame::FrameReader>,
}

impl Supervisor {
    fn start(config: Config, shared: Arc<Shared>, poller: Arc<Poller>) -> Result<Supervisor, Error> {
        let spawner: Box<dyn Spawner> = match config.start {
            StartMethod::Zygote => Box::new(ZygoteSpawner::start(poller.clone(), config.zygote.clone())?),
            StartMethod::Exec => Box::new(ExecSpawner::new(poller.clone(), config.zygote.clone(), config.workers)?),
        };
        // After the spawner: from here on, `teardown` stops the printer.
        let output = match config.output {
            Some(mode) => Some(
                PoolOutput::start(mode, poller.clone()).map_err(|e| Error::io("cannot start the output thread", e))?,
            ),
            None => None,
        };
        let mut supervisor = Supervisor {
            config,
            shared,
            poller,
            events: Events::new(),
            spawner,
            workers: BTreeMap::new(),
            queue: VecDeque::new(),
            inbox: Vec::new(),
            spawn_events: Vec::new(),
            next_worker: 0,
            stop: None,
            item_ns: None,
            starting: true,
            startup_error: None,
            start_failures: 0,
            respawn_after: None,
            broken: false,
            recoverable: false,
            zygote_losses: Vec::new(),
            coarse_tick: status::coarse_resolution(),
            output,
            aborts_pending: false,
            task_timeouts: false,
            lent: None,
            spare_reader: None,
        };
        loop {
            let now = Instant::now();
            supervisor.settle_ended();
            if let Some(error) = supervisor.startup_error.take() {
                supervisor.teardown();
                return Err(error);
            }
            supervisor.maintain(now);
            supervisor.flush_all(now);
            if supervisor.workers.values().filter(|w| w.ready).count() >= supervisor.config.workers {
                supervisor.starting = false;
                supervisor.publish_pids();
                supervisor.publish_gauges();
                return Ok(supervisor);
            }
            let deadline = supervisor.tick(now);
            supervisor.wait(deadline);
        }
    }

    /// The event loop.
    fn run(&mut self) {
        loop {
            let now = Instant::now();
            self.take_inbox();
            self.resume_output();
            self.settle_ended();
            self.maintain(now);
            self.dispatch();
            self.flush_all(now);
            if self.finished(now) {
                break;
            }
            let deadline = self.tick(now);
            self.publish_gauges();
            self.lend();
            self.wait(deadline);
        }
        self.teardown();
        self.publish_gauges();
    }

    // ------------------------------------------------------------ inbox --

    fn take_inbox(&mut self) {
        let Notes {
            stop,
            abandoned,
            aborted,
        } = self.shared.take_inbox(&mut self.inbox);
        // Before anything looks at a ledger: the tasks callers handed
        // straight to the lent worker.
        // An aborted task may be the lent worker's: the supervisor reads
        // what it sends from now on.
        self.settle_lease(stop.is_some() || aborted);
        self.aborts_pending |= aborted;
        if abandoned {
            for worker in self.workers.values_mut() {
                for id in worker.ledger.newly_abandoned() {
                    worker.status.abandon(id);
                }
            }
            self.cancel_abandoned_streams();
        }
        if stop.is_some() && self.stop != Some(Stop::Terminate) && stop != self.stop {
            self.stop = stop;
            // Streams may be endless: the pool stops them rather than wait.
            self.stop_streams();
            if stop == Some(Stop::Terminate) {
                self.begin_terminate();
            }
        }
        // Emptied, not dropped: it goes back as the next inbox, so that
        // submissions push without growing a fresh `Vec` each time.
        let mut jobs = std::mem::take(&mut self.inbox);
        for job in jobs.drain(..) {
            if self.broken {
                job.fail(self.broken_error());
            } else if self.stop == Some(Stop::Terminate) || self.refuse_while_stopping(&job) {
                job.fail(TaskError::Cancelled);
            } else {
                self.queue.push_back(job);
            }
        }
        jobs.shrink_to(INBOX_KEPT);
        self.inbox = jobs;
    }

    fn begin_terminate(&mut self) {
        for job in self.queue.drain(..) {
            job.fail(TaskError::Cancelled);
        }
        for (&id, worker) in &mut self.workers {
            if worker.ended.is_some() {
                continue;
            }
            if worker.ledger.is_empty() && worker.ready {
                close(worker, Instant::now());
            } else if worker.kill.is_none() {
                worker.kill = Some(KillCause::Terminate);
                worker.kill_sent = true;
                self.spawner.kill(id);
            }
        }
    }

    // ------------------------------------------------------------ events --

    /// Waits for I/O or `deadline`, then handles what happened.
    fn wait(&mut self, deadline: Option<Instant>) {
        self.events.clear();
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if self.poller.wait(&mut self.events, timeout).is_err() {
            // Nothing sensible to do but try again; avoid spinning.
            std::thread::sleep(Duration::from_millis(1));
            return;
        }
        let ready: Vec<(usize, bool, bool)> = self.events.iter().map(|e| (e.key, e.readable, e.writable)).collect();
        let now = Instant::now();
        for (key, readable, writable) in ready {
            match spawner::classify(key) {
                Key::Spawner(key) => self.spawner.on_event(key, readable, writable, &mut self.spawn_events),
                Key::WorkerSocket(id) => {
                    if writable && let Some(worker) = self.workers.get_mut(&id) {
                        worker.flush(now);
                    }
                    if readable {
                        self.read_worker(id, now);
                    }
                }
                Key::WorkerOutput(id, stream) => {
                    if let Some(Worker {
                        output: Some(output),
                        status,
                        ledger,
                        ..
                    }) = self.workers.get_mut(&id)
                    {
                        output.on_readable(stream, status, ledger);
                    }
                }
            }
        }
        self.handle_spawn_events();
        self.publish_gauges();
    }

    fn read_worker(&mut self, id: u64, now: Instant) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let news = worker.read(&mut self.item_ns, now);
        if news.became_ready {
            trace::worker_started(worker.pid);
            self.start_failures = 0;
            if self.broken && self.recoverable {
                self.broken = false;
                self.shared.clear_broken();
            }
            self.publish_pids();
        }
        if let Some(message) = news.protocol_error {
            self.kill_worker(id, KillCause::Protocol(message));
        }
    }

    fn kill_worker(&mut self, id: u64, cause: KillCause) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        if worker.kill.is_some() || worker.ended.is_some() {
            return;
        }
        if matches!(cause, KillCause::Protocol(_)) {
            // Stop reading: nothing more from it can be trusted.
            worker.socket.pause();
        }
        let grace = match cause {
            KillCause::TimedOut { .. } => self.config.timeout_grace.filter(|g| !g.is_zero()),
            _ => None,
        };
        trace::killing(worker.pid, &cause, grace.is_some());
        worker.kill = Some(cause);
        match grace.and_then(|grace| Instant::now().checked_add(grace)) {
            Some(at) => {
                // SIGTERM now, SIGKILL when the grace is over (`tick`).
                worker.kill_at = Some(at);
                self.spawner.terminate(id);
            }
            None => {
                worker.kill_sent = true;
                self.spawner.kill(id);
            }
        }
    }

    fn handle_spawn_events(&mut self) {
        let events = std::mem::take(&mut self.spawn_events);
        for event in events {
            match event {
                SpawnEvent::Spawned { worker, pid } => {
                    if let Some(w) = self.workers.get_mut(&worker) {
                        w.pid = Some(pid);
                        if let Some(output) = &mut w.output {
                            output.set_pid(pid);
                        }
                    }
                }
                SpawnEvent::SpawnFailed { worker, message } => {
                    if let Some(w) = self.workers.get_mut(&worker) {
                        w.ended = Some(Ended::NotStarted(message));
                    }
                }
                SpawnEvent::Exited { worker, reason } => {
                    if let Some(w) = self.workers.get_mut(&worker) {
                        w.ended = Some(Ended::Exited(reason));
                    }
                }
                SpawnEvent::Vanished { worker, message } => {
                    if let Some(w) = self.workers.get_mut(&worker) {
                        w.ended = Some(Ended::Vanished(message));
                    }
                }
                SpawnEvent::Lost { message } => self.zygote_lost(message),
            }
        }
    }

    fn zygote_lost(&mut self, message: String) {
        for worker in self.workers.values_mut() {
            if worker.ended.is_none()
                && let Some(pid) = worker.pid.and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
            {
                // The workers die with the zygote (PR_SET_PDEATHSIG), but
                // what their tasks started is in their process groups and
                // would run on. A group outlives its leader while any
                // member lives; an empty one may be gone, and its id is
                // reused only after the pid space wraps around.
                let _ = crate::sys::signal::send_to_group(pid, libc::SIGKILL);
            }
            worker.ended.get_or_insert(Ended::Lost);
        }
        if self.starting {
            self.startup_error = Some(Error::new(ErrorKind::Spawn, message));
            return;
        }
        let now = Instant::now();
        self.zygote_losses
            .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        self.zygote_losses.push(now);
        if self.zygote_losses.len() > MAX_ZYGOTE_LOSSES {
            self.set_broken(format!("{message}, {} times within a minute", self.zygote_losses.len()));
            return;
        }
        if self.stop == Some(Stop::Terminate) {
            return;
        }
        if let Err(e) = self.spawner.restart() {
            self.set_broken(format!("{message}, and it could not be restarted: {e}"));
        }
    }

    // ------------------------------------------------------------ deaths --

    fn settle_ended(&mut self) {
        let ended: Vec<u64> = self
            .workers
            .iter()
            // A lent worker is settled once it is back (`settle_lease`).
            .filter(|&(&id, w)| w.ended.is_some() && self.lent != Some(id))
            .map(|(&id, _)| id)
            .collect();
        for id in ended {
            let Some(mut worker) = self.workers.remove(&id) else {
                continue;
            };
            // Whatever it wrote before it died is still in the socket.
            let news = worker.read(&mut self.item_ns, Instant::now());
            if let Some(message) = news.protocol_error
                && worker.kill.is_none()
            {
                worker.kill = Some(KillCause::Protocol(message));
            }
            let snapshot = worker.status.snapshot();
            if !worker.ready {
                self.start_failed(start_failure_message(&worker));
            }
            // What it wrote before it died belongs to the item it ran.
            if let Some(output) = &mut worker.output {
                output.on_death(&worker.status, &worker.ledger);
            }
            let verdict = self.verdict(&worker, &snapshot);
            self.count_end(&worker, &verdict);
            let output = worker.output.take();
            let settlement = worker.ledger.settle(&snapshot, &verdict);
            for (job, error) in settlement.failed {
                fail(output.as_ref(), job, error);
            }
            for job in settlement.retry.into_iter().rev() {
                if self.broken {
                    // No worker will ever take it.
                    job.fail(self.broken_error());
                } else {
                    self.queue.push_front(job);
                }
            }
        }
        self.publish_pids();
    }

    /// Counts a worker's end for `Pool::stats`: replaced on purpose, or lost.
    fn count_end(&self, worker: &Worker, verdict: &Verdict) {
        if !worker.ready {
            return;
        }
        let exited_cleanly = matches!(worker.ended, Some(Ended::Exited(ExitReason::Exited(0))));
        let retired = worker.kill.is_none() && exited_cleanly && (worker.budget == Some(0) || verdict.no_fault);
        let lost = !retired && (worker.closing.is_none() || worker.kill.is_some());
        if retired {
            self.shared.counters.worker_recycled();
        } else if lost {
            self.shared.counters.worker_lost();
        }
        trace::worker_ended(worker.pid, worker.ended.as_ref(), retired, lost);
    }

    /// Reads the workers' pipes again once the printer has caught up.
    fn resume_output(&mut self) {
        if self.output.as_ref().is_some_and(|o| o.take_resume()) {
            for output in self.workers.values_mut().filter_map(|w| w.output.as_mut()) {
                output.resume();
            }
        }
    }

    fn broken_error(&self) -> TaskError {
        TaskError::WorkerStartFailed {
            message: self.shared.broken_reason(),
        }
    }

    fn verdict(&self, worker: &Worker, snapshot: &Snapshot) -> Verdict {
        let others = if self.stop == Some(Stop::Terminate) {
            Others::Fail(TaskError::Cancelled)
        } else {
            Others::Retry
        };
        let (running, killed_for, blame_first_if_idle) = match &worker.kill {
            Some(KillCause::TimedOut { item, after }) => (TaskError::TimedOut { after: *after }, Some(*item), false),
            Some(KillCause::Protocol(message)) => (
                TaskError::Protocol {
                    message: message.clone(),
                },
                None,
                true,
            ),
            Some(KillCause::Terminate) => (TaskError::PoolShutdown, None, false),
            // Its slot has ended already; this error goes nowhere.
            Some(KillCause::Aborted { item }) => (TaskError::Cancelled, Some(*item), false),
            Some(KillCause::Stopped(error)) => (error.clone(), None, false),
            Some(KillCause::Unresponsive | KillCause::InitTimedOut(_)) | None => {
                (self.error_from_end(worker, snapshot), None, false)
            }
        };
        Verdict {
            running,
            killed_for,
            blame_first_if_idle,
            others,
            // It left between tasks on purpose (`recycle_above`): what it
            // held goes elsewhere without counting against it.
            no_fault: worker.kill.is_none() && snapshot.flags & status::FLAG_RETIRED != 0,
        }
    }

    /// Why a worker that died on its own took its running item with it.
    fn error_from_end(&self, worker: &Worker, snapshot: &Snapshot) -> TaskError {
        if snapshot.flags & status::FLAG_OUT_OF_MEMORY != 0
            && let Some(limit) = self
                .limits_of_running(worker, snapshot)
                .memory
                .or(self.config.memory_limit)
        {
            return TaskError::MemoryLimitExceeded { limit };
        }
        match &worker.ended {
            Some(Ended::Exited(ExitReason::Signaled { signal, .. })) => {
                if *signal == libc::SIGABRT
                    && let Some(report) = &snapshot.panic
                {
                    // Built with `panic = "abort"`: the hook recorded it.
                    return report.clone().into_error();
                }
                if *signal == libc::SIGXCPU
                    && let Some(seconds) = self.config.cpu_limit
                {
                    return TaskError::CpuLimitExceeded { seconds };
                }
                TaskError::Crashed {
                    signal: Some(*signal),
                    exit_code: None,
                }
            }
            Some(Ended::Exited(ExitReason::Exited(code))) => TaskError::Crashed {
                signal: None,
                exit_code: Some(*code),
            },
            Some(Ended::Lost | Ended::Vanished(_) | Ended::NotStarted(_)) | None => TaskError::Crashed {
                signal: None,
                exit_code: None,
            },
        }
    }

    /// The limits of the item `worker` runs (or ran last), as its task set
    /// them (`Pool::task`); the pool's apply where they are `None`.
    fn limits_of_running(&self, worker: &Worker, snapshot: &Snapshot) -> Limits {
        worker
            .ledger
            .item(snapshot.started)
            .map_or_else(Limits::default, |(slot, _)| slot.limits())
    }

    fn start_failed(&mut self, message: String) {
        if self.starting {
            self.startup_error
                .get_or_insert_with(|| Error::new(ErrorKind::WorkerInit, message));
            return;
        }
        self.start_failures += 1;
        let backoff = Duration::from_millis(50 << self.start_failures.min(6));
        self.respawn_after = Some(Instant::now() + backoff);
        let any_alive = self.workers.values().any(|w| w.ready && w.ended.is_none());
        if self.start_failures >= MAX_START_FAILURES && !any_alive && !self.broken {
            self.set_broken(message);
            // Keep trying, at the slowest back-off, one worker at a time.
            self.recoverable = true;
        }
    }

    /// Fails queued tasks, and new ones from now on, with
    /// `WorkerStartFailed`: no worker can take them. For good, unless
    /// `start_failed` marks it recoverable.
    fn set_broken(&mut self, message: String) {
        self.recoverable = false;
        if self.broken {
            return;
        }
        self.broken = true;
        self.shared.set_broken(&message);
        for job in self.queue.drain(..) {
            job.fail(TaskError::WorkerStartFailed {
                message: message.clone(),
            });
        }
    }

    // ------------------------------------------------------ maintenance --

    fn has_work(&self) -> bool {
        !self.queue.is_empty() || self.workers.values().any(|w| !w.ledger.is_empty())
    }

    /// Starts workers until the pool has its size.
    fn maintain(&mut self, now: Instant) {
        if (self.broken && !self.recoverable) || self.startup_error.is_some() {
            // No more attempts: no back-off to wake up for either.
            self.respawn_after = None;
            return;
        }
        let wanted = match self.stop {
            // While broken, one worker at a time probes for recovery.
            None if self.broken => 1,
            None => self.config.workers,
            Some(Stop::Shutdown) if self.has_work() => self.config.workers,
            Some(_) => 0,
        };
        if self.respawn_after.is_some_and(|t| now < t) {
            return;
        }
        self.respawn_after = None;
        let live = self.workers.values().filter(|w| w.counts_as_live()).count();
        for _ in live..wanted {
            self.spawn_worker();
        }
    }

    fn spawn_worker(&mut self) {
        let id = self.next_worker;
        self.next_worker += 1;
        let result = (|| -> std::io::Result<Worker> {
            let (ours, theirs) =
                rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
            rustix::io::ioctl_fionbio(&ours, true)?;
            let (page, page_fd) = StatusPage::create()?;
            let socket = Watched::new(self.poller.clone(), ours, spawner::worker_socket_key(id), true, false)?;
            let (mut output, pipes) = match &self.output {
                Some(pool) => {
                    let (output, pipes) = WorkerOutput::new(pool.clone(), &self.poller, id)?;
                    (Some(output), Some(pipes))
                }
                None => (None, None),
            };
            let pid = self.spawner.spawn(id, theirs, page_fd, pipes)?;
            if let (Some(output), Some(pid)) = (&mut output, pid) {
                output.set_pid(pid);
            }
            let mut worker = Worker::new(
                socket,
                page,
                self.config.max_message,
                self.config.max_tasks,
                self.shared.counters.clone(),
            );
            worker.pid = pid;
            worker.output = output;
            if let Some(config) = self.spawner.config_frame() {
                let bytes = postcard::to_allocvec(config).map_err(std::io::Error::other)?;
                protocol::write_config(worker.out.buf(), &bytes).map_err(std::io::Error::other)?;
            }
            Ok(worker)
        })();
        match result {
            Ok(worker) => {
                self.shared.counters.worker_started();
                self.workers.insert(id, worker);
            }
            Err(e) => self.start_failed(format!("cannot start a worker: {}", explain(&e, Receiver::Caller))),
        }
    }

    /// Updates what `Pool::stats` reads of the supervisor's own state.
    /// (`running` is kept by the ledgers themselves.)
    fn publish_gauges(&self) {
        let alive = self.workers.values().filter(|w| w.ready && w.ended.is_none()).count();
        self.shared.counters.set_workers(alive as u64);
    }

    /// Publishes the pids of the workers whose process still exists: one
    /// that has exited stays in `workers` until its socket and output are
    /// drained, and may by then have a replacement beside it.
    fn publish_pids(&self) {
        self.shared.set_pids(Pids {
            zygote: self.spawner.zygote_pid(),
            workers: self
                .workers
                .values()
                .filter(|w| w.ended.is_none())
                .filter_map(|w| w.pid)
                .collect(),
        });
    }

    // --------------------------------------------------------- dispatch --

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

    /// Whether `limit` has surely passed since `stamp_ns`, a worker's stamp
    /// on the coarse clock (see `overrun.rs`); if not, how long to wait.
    fn overran(&self, stamp_ns: u64, coarse_now: u64, limit: Duration) -> Result<(), Duration> {
        overrun::overran(stamp_ns, coarse_now, limit, self.coarse_tick)
    }

    /// Takes back, for idle workers, the jobs queued behind an item that
    /// has run long: work queued for a worker's window must not wait for a
    /// slow task it did not know about. Only while a worker is idle and
    /// nothing else waits; only whole jobs that have not started (the
    /// worker confirms through its status page, so none runs twice).
    /// Returns when to look again, if something might become recallable.
    fn recall_stuck(&mut self, now: Instant) -> Option<Instant> {
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

    fn dispatch(&mut self) {
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

    fn flush_all(&mut self, now: Instant) {
        for worker in self.workers.values_mut() {
            if worker.unsent() > 0 && !worker.writable {
                worker.flush(now);
            }
        }
    }

    // ------------------------------------------------------------ timers --

    /// Enforces timeouts and grace periods; returns when to look again.
    fn tick(&mut self, now: Instant) -> Option<Instant> {
        let recall_at = self.recall_stuck(now);
        let mut next: Option<Instant> = match (self.respawn_after, recall_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut earliest = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        // Large arguments' lanes nobody used for a while are let go.
        if let Some(due) = self.shared.lanes.trim(now) {
            earliest(due);
        }
        // A guardian put off (it keeps dying) is started when due.
        if let Some(due) = self.spawner.tick(now) {
            earliest(due);
        }
        let coarse_now = status::coarse_now_ns();
        let mut kills = Vec::new();
        let mut graces_over = Vec::new();
        // Per-task settings and aborts need the running item's task; only
        // then is it looked up.
        let look_up = self.aborts_pending || self.task_timeouts;
        for (&id, worker) in &self.workers {
            if worker.ended.is_some() {
                continue;
            }
            if let Some(at) = worker.kill_at
                && !worker.kill_sent
            {
                if now >= at {
                    graces_over.push(id);
                } else {
                    earliest(at);
                }
            }
            if worker.ready && worker.kill.is_none() && !worker.ledger.is_empty() {
                let snapshot = worker.status.snapshot();
                let running = snapshot.running() && snapshot.started > worker.ledger.acked_items();
                let task = if running && look_up {
                    worker.ledger.item(snapshot.started).map(|(slot, _)| slot)
                } else {
                    None
                };
                if task.as_ref().is_some_and(|slot| slot.is_aborted()) && worker.status.doom(snapshot.started) {
                    // Doomed first, like a timeout: the kill cannot land on
                    // the next task.
                    kills.push((
                        id,
                        KillCause::Aborted {
                            item: snapshot.started - 1,
                        },
                    ));
                    continue;
                }
                let timeout = task.and_then(|slot| slot.limits().timeout).or(self.config.task_timeout);
                if running && let Some(timeout) = timeout {
                    let wait = match self.overran(snapshot.started_at_ns, coarse_now, timeout) {
                        // Doom before killing: if the item finished
                        // meanwhile and the next one started, the kill would
                        // land on an innocent item; then look again at the
                        // new one.
                        Ok(()) if worker.status.doom(snapshot.started) => {
                            kills.push((
                                id,
                                KillCause::TimedOut {
                                    item: snapshot.started - 1,
                                    after: timeout,
                                },
                            ));
                            continue;
                        }
                        Ok(()) => Duration::from_millis(1),
                        Err(wait) => wait,
                    };
                    // (A timeout too long to represent as an instant never
                    // comes.)
                    if let Some(at) = now.checked_add(wait) {
                        earliest(at);
                    }
                } else if !running
                    && let Some(timeout) = self.task_timeouts_at(worker)
                    && let Some(at) = now.checked_add(timeout)
                {
                    earliest(at);
                }
            }
            // A worker_init that hangs must not hang the pool: it runs
            // under the task timeout too, from when it starts (the worker
            // stamps that on its page; exec-mode preload comes before).
            if let Some(timeout) = self.config.task_timeout
                && !worker.ready
                && worker.kill.is_none()
            {
                let snapshot = worker.status.snapshot();
                if snapshot.started == 0 && snapshot.started_at_ns != 0 {
                    match self.overran(snapshot.started_at_ns, coarse_now, timeout) {
                        Ok(()) => {
                            kills.push((id, KillCause::InitTimedOut(timeout)));
                            continue;
                        }
                        Err(wait) => {
                            if let Some(at) = now.checked_add(wait) {
                                earliest(at);
                            }
                        }
                    }
                } else if let Some(at) = now.checked_add(timeout.min(Duration::from_secs(1))) {
                    // Not in worker_init yet: look again.
                    earliest(at);
                }
            }
            if let Some(eof) = worker.eof_at
                && !worker.kill_sent
            {
                if now >= eof + EOF_GRACE {
                    kills.push((id, KillCause::Unresponsive));
                } else {
                    earliest(eof + EOF_GRACE);
                }
            }
            if let Some(closed) = worker.closing
                && !worker.kill_sent
            {
                if now >= closed + CLOSE_GRACE {
                    kills.push((id, KillCause::Unresponsive));
                } else {
                    earliest(closed + CLOSE_GRACE);
                }
            }
        }
        if self.aborts_pending {
            self.aborts_pending = self
                .workers
                .values()
                .any(|w| w.kill.is_none() && w.ledger.holds_aborted());
            if self.aborts_pending {
                // The aborted task may start at any moment (it was handed
                // over before the abort): look again soon.
                earliest(now + ABORT_POLL);
            }
        }
        let (overdue, stream_next) = self.overdue_streams(now);
        kills.extend(overdue);
        if let Some(at) = stream_next {
            earliest(at);
        }
        for (id, cause) in kills {
            self.kill_worker(id, cause);
            if let Some(at) = self.workers.get(&id).and_then(|w| w.kill_at) {
                // A grace began: the kill is due then.
                earliest(at);
            }
        }
        for id in graces_over {
            if let Some(worker) = self.workers.get_mut(&id) {
                worker.kill_sent = true;
                self.spawner.kill(id);
            }
        }
        next
    }

    /// The shortest timeout of the items `worker` holds, for a worker whose
    /// next item has not started yet: when to look again.
    fn task_timeouts_at(&self, worker: &Worker) -> Option<Duration> {
        let own = if self.task_timeouts {
            worker.ledger.shortest_timeout()
        } else {
            None
        };
        match (own, self.config.task_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---------------------------------------------------------- stopping --

    /// True when the loop may end.
    fn finished(&mut self, now: Instant) -> bool {
        match self.stop {
            None => false,
            Some(Stop::Shutdown) => {
                if !self.has_work() {
                    for worker in self.workers.values_mut() {
                        if worker.ended.is_none() && worker.closing.is_none() && worker.kill.is_none() {
                            close(worker, now);
                        }
                    }
                }
                self.workers.is_empty()
            }
            Some(Stop::Terminate) => {
                for worker in self.workers.values_mut() {
                    if worker.ended.is_none() && worker.closing.is_none() && worker.kill.is_none() {
                        close(worker, now);
                    }
                }
                self.workers.is_empty()
            }
        }
    }

    /// After a panic in the loop: fail everything outstanding, refuse new
    /// work, kill and reap every process.
    fn abandon(&mut self, reason: &str) {
        self.set_broken(format!("the pool's supervisor failed: {reason}"));
        self.take_inbox();
        for job in self.queue.drain(..) {
            job.fail(TaskError::PoolShutdown);
        }
        self.teardown();
    }

    /// Kills and reaps everything left.
    fn teardown(&mut self) {
        self.settle_lease(true);
        for job in self.queue.drain(..) {
            job.fail(TaskError::PoolShutdown);
        }
        let ids: Vec<u64> = self.workers.keys().copied().collect();
        for id in ids {
            self.spawner.kill(id);
        }
        self.spawner.shutdown();
        // Any worker still listed died with the zygote; fail its items.
        for (_, mut worker) in std::mem::take(&mut self.workers) {
            if let Some(output) = &mut worker.output {
                output.on_death(&worker.status, &worker.ledger);
            }
            let snapshot = worker.status.snapshot();
            let verdict = Verdict {
                running: TaskError::PoolShutdown,
                killed_for: None,
                blame_first_if_idle: false,
                others: Others::Fail(TaskError::PoolShutdown),
                no_fault: false,
            };
            for (job, error) in worker.ledger.settle(&snapshot, &verdict).failed {
                fail(worker.output.as_ref(), job, error);
            }
        }
        self.publish_pids();
        if let Some(output) = &self.output {
            // Everything queued is printed, every result delivered.
            output.close();
        }
    }
}

/// Tells a worker to exit by closing our sending side: it sees end of
/// stream once it has read what was sent.
fn close(worker: &mut Worker, now: Instant) {
    let _ = rustix::net::shutdown(worker.socket.fd(), rustix::net::Shutdown::Write);
    worker.closing = Some(now);
}

fn start_failure_message(worker: &Worker) -> String {
    if let Some(message) = &worker.init_error {
        return message.clone();
    }
    if let Some(KillCause::InitTimedOut(timeout)) = &worker.kill {
        return format!("worker_init did not return within the task timeout ({timeout:?})");
    }
    match &worker.ended {
        Some(Ended::NotStarted(message)) => format!("cannot start a worker: {message}"),
        Some(Ended::Exited(reason)) => format!("a new worker {reason} before it was ready"),
        Some(Ended::Vanished(message)) => format!("a new worker ended before it was ready, and {message}"),
        Some(Ended::Lost) | None => "a new worker was lost before it was ready".into(),
    }
}
