//! Stopping the pool: `shutdown` (finish the work, then close every
//! worker), `terminate` (cancel what is queued, kill what runs), and the
//! teardown that kills and reaps whatever is left, also after a panic in
//! the loop.

use std::time::Instant;

use super::Supervisor;
use super::ledger::{Others, Verdict};
use super::output::fail;
use super::shared::Stop;
use super::worker::{KillCause, Worker};
use crate::error::TaskError;

impl Supervisor {
    pub(super) fn begin_terminate(&mut self) {
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

    /// True when the loop may end.
    pub(super) fn finished(&mut self, now: Instant) -> bool {
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
    pub(super) fn abandon(&mut self, reason: &str) {
        self.set_broken(format!("the pool's supervisor failed: {reason}"));
        self.take_inbox();
        for job in self.queue.drain(..) {
            job.fail(TaskError::PoolShutdown);
        }
        self.teardown();
    }

    /// Kills and reaps everything left.
    pub(super) fn teardown(&mut self) {
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
