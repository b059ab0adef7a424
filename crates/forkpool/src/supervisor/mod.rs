//! The supervisor: one thread per pool, owning every process and
//! descriptor of the pool, running one event loop. See `README.md` beside
//! this file for the design.

mod death;
mod dispatch;
mod events;
mod job;
mod lease;
mod ledger;
mod lend;
mod maintain;
mod output;
mod overrun;
mod shared;
mod spawner;
mod stop;
mod stream;
mod timeouts;
mod trace;
mod worker;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Events, Poller};

pub(crate) use job::Job;
pub(crate) use output::Mode as OutputMode;
use shared::Notes;
pub(crate) use shared::{Pids, Shared, Stop};

use crate::builder::StartMethod;
use crate::error::{Error, ErrorKind, TaskError};
use crate::ipc::status;
use crate::worker::config::ZygoteConfig;
use output::PoolOutput;
use spawner::{ExecSpawner, SpawnEvent, Spawner, ZygoteSpawner};
use worker::Worker;

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

    /// Reads the workers' pipes again once the printer has caught up.
    fn resume_output(&mut self) {
        if self.output.as_ref().is_some_and(|o| o.take_resume()) {
            for output in self.workers.values_mut().filter_map(|w| w.output.as_mut()) {
                output.resume();
            }
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
}
