//! What wakes the loop: `wait` on the poller, and what it hands on: a
//! worker's socket readable or writable, its output pipes, and the
//! spawner's news of workers started, exited or lost with the zygote.

use std::time::{Duration, Instant};

use super::Supervisor;
use super::shared::Stop;
use super::spawner::{self, Key, SpawnEvent};
use super::trace;
use super::worker::{Ended, KillCause, Worker};
use crate::error::{Error, ErrorKind};

/// The zygote may die this many times a minute before the pool gives up.
const MAX_ZYGOTE_LOSSES: usize = 3;

impl Supervisor {
    /// Waits for I/O or `deadline`, then handles what happened.
    pub(super) fn wait(&mut self, deadline: Option<Instant>) {
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

    pub(super) fn kill_worker(&mut self, id: u64, cause: KillCause) {
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
}
