//! Keeping the pool at its size: starting workers, and the back-off after
//! start failures that keeps a worker that cannot start from spinning
//! (README, "Start failures do not spin").

use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::Supervisor;
use super::output::WorkerOutput;
use super::shared::Stop;
use super::spawner;
use super::worker::Worker;
use crate::error::{Error, ErrorKind, TaskError};
use crate::ipc::lost::{Receiver, explain};
use crate::ipc::protocol;
use crate::ipc::status::StatusPage;
use crate::sys::poll::Watched;

/// After this many start failures in a row, with no worker alive, the
/// pool gives up: queued and new tasks fail with `WorkerStartFailed`.
const MAX_START_FAILURES: u32 = 3;

impl Supervisor {
    pub(super) fn has_work(&self) -> bool {
        !self.queue.is_empty() || self.workers.values().any(|w| !w.ledger.is_empty())
    }

    /// Starts workers until the pool has its size.
    pub(super) fn maintain(&mut self, now: Instant) {
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
    pub(super) fn broken_error(&self) -> TaskError {
        TaskError::WorkerStartFailed {
            message: self.shared.broken_reason(),
        }
    }

    pub(super) fn start_failed(&mut self, message: String) {
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
    pub(super) fn set_broken(&mut self, message: String) {
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
}
