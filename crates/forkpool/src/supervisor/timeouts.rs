//! `tick`: the loop's clock. Task timeouts and the doom before the kill
//! (README, "Timeouts"), aborted tasks and kill graces ("Aborts and
//! grace"), and workers that hang in `worker_init`, closed their socket
//! but live on, or do not exit when told. It gives the loop the next
//! moment to look again.

use std::time::{Duration, Instant};

use super::Supervisor;
use super::overrun;
use super::worker::{KillCause, Worker};
use crate::ipc::status;

/// A worker whose socket closed but which has not been reported dead
/// after this long is killed.
const EOF_GRACE: Duration = Duration::from_millis(500);
/// A worker told to exit that has not exited after this long is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// While an aborted task may still be started by the worker it was handed
/// to, how often the supervisor looks.
const ABORT_POLL: Duration = Duration::from_millis(1);

impl Supervisor {
    /// Whether `limit` has surely passed since `stamp_ns`, a worker's stamp
    /// on the coarse clock (see `overrun.rs`); if not, how long to wait.
    pub(super) fn overran(&self, stamp_ns: u64, coarse_now: u64, limit: Duration) -> Result<(), Duration> {
        overrun::overran(stamp_ns, coarse_now, limit, self.coarse_tick)
    }

    /// Enforces timeouts and grace periods; returns when to look again.
    pub(super) fn tick(&mut self, now: Instant) -> Option<Instant> {
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
}
