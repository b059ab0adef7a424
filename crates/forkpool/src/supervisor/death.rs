//! Settling a worker that died: the fate of every item it held (see
//! `ledger.rs`), and which error the running one gets, from why it died
//! (README, "Death: two signals, in any order").

use std::time::Instant;

use super::Supervisor;
use super::ledger::{Others, Verdict};
use super::output::fail;
use super::shared::Stop;
use super::trace;
use super::worker::{Ended, KillCause, Worker};
use crate::error::TaskError;
use crate::ipc::status::{self, Snapshot};
use crate::options::Limits;
use crate::sys::exit::ExitReason;

impl Supervisor {
    pub(super) fn settle_ended(&mut self) {
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
