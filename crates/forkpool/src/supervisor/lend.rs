//! The supervisor's side of the direct path: lending an idle worker to
//! callers, and taking it back (see `lease.rs` and `README.md`, "The
//! direct path").

use std::sync::Arc;

use super::Supervisor;
use super::lease::Loan;
use super::worker::KillCause;
use crate::error::TaskError;
use crate::ipc::frame::FrameReader;
use crate::ipc::protocol;

impl Supervisor {
    /// Lends an idle worker to callers, when the whole pool is idle: no
    /// job queued or held by any worker, no stop asked for. Task output
    /// other than `Inherit` needs the supervisor to read each worker's
    /// pipes beside its results, so then nothing is lent.
    pub(super) fn lend(&mut self) {
        if self.lent.is_some()
            || self.stop.is_some()
            || self.broken
            || self.starting
            || self.output.is_some()
            || !self.queue.is_empty()
            || self.shared.lease.is_claimed()
            || self.workers.values().any(|w| !w.ledger.is_empty())
        {
            return;
        }
        let Some((&id, worker)) = self
            .workers
            .iter_mut()
            .find(|(_, w)| w.accepting() && w.stream.is_none() && w.unsent() == 0 && !w.writable)
        else {
            return;
        };
        let socket = match &worker.lease_fd {
            Some(fd) => fd.clone(),
            None => match worker.socket.fd().try_clone_to_owned() {
                Ok(fd) => worker.lease_fd.insert(Arc::new(fd)).clone(),
                // Out of descriptors: everything goes by the supervisor.
                Err(_) => return,
            },
        };
        // Its socket is the borrower's to read now, and blocking: a caller
        // then sends and receives with one system call each, as over a
        // bare socketpair. (The supervisor makes it non-blocking again when
        // it takes the worker back.)
        if rustix::io::ioctl_fionbio(&*socket, false).is_err() {
            return;
        }
        worker.socket.pause();
        let spare = self
            .spare_reader
            .take()
            .unwrap_or_else(|| FrameReader::new(protocol::frame_limit(self.config.max_message)));
        let reader = std::mem::replace(&mut worker.reader, spare);
        let loan = Loan {
            worker: id,
            socket,
            memory: worker.memory_sent,
            pool_memory: self.config.memory_limit,
            budget: worker.budget,
            timed: self.config.task_timeout.is_some(),
            max_message: self.config.max_message,
        };
        self.shared.lease.offer(loan, reader);
        self.lent = Some(id);
    }

    /// Takes into the lent worker's ledger what callers did with it, and
    /// takes the worker back if the supervisor needs it (`want`, work
    /// queued, a stop, the worker dying or being killed) or a caller gave
    /// it back, unless a caller is reading its socket right now (it then
    /// gives the worker back as soon as its result has come).
    pub(super) fn settle_lease(&mut self, want: bool) {
        let Some(id) = self.lent else {
            return;
        };
        let want_back = want
            || self.stop.is_some()
            || self.broken
            || !self.queue.is_empty()
            || !self.inbox.is_empty()
            || self
                .workers
                .get(&id)
                .is_none_or(|w| w.ended.is_some() || w.kill.is_some() || w.closing.is_some() || w.eof_at.is_some());
        let Some(account) = self.shared.lease.account(want_back) else {
            self.lent = None;
            return;
        };
        let Some(worker) = self.workers.get_mut(&account.worker) else {
            // Cannot happen: a lent worker is settled only once it is back.
            if let Some((_, job)) = account.adopt {
                job.fail(TaskError::Protocol {
                    message: "the worker it was handed to is unknown".into(),
                });
            }
            if account.reclaimed.is_some() {
                self.lent = None;
            }
            return;
        };
        let mut trouble = account.trouble;
        let counters = &self.shared.counters;
        for job in account.acked {
            // Their callers took them out of `running` (the slot's hold
            // is released): the ledger's ack leaves `running` alone.
            if let Err(message) = worker.ledger.ack(job, 0, 1) {
                trouble.get_or_insert(message);
            }
        }
        worker.ledger.skip(account.skipped);
        if let Some((job_id, job)) = account.adopt {
            self.task_timeouts |= job.slot.limits().timeout.is_some();
            let slot = job.slot.clone();
            // Into the ledger's `running` first, then out of the callers'
            // count: `Pool::stats` may count it twice for that moment, but
            // never not at all. An aborted task is in neither.
            worker.ledger.dispatch(job_id, job);
            if slot.unhold(1) {
                counters.direct_done(1);
            }
        }
        worker.budget = account.budget;
        if let Some(reader) = account.reclaimed {
            self.spare_reader = Some(std::mem::replace(&mut worker.reader, reader));
            self.lent = None;
            let protocol_kill = matches!(worker.kill, Some(KillCause::Protocol(_)));
            let watched = rustix::io::ioctl_fionbio(worker.socket.fd(), true).is_ok()
                && worker.socket.resume(true, false).is_ok();
            if worker.eof_at.is_none() && !protocol_kill && !watched {
                // Unwatchable: handled as a worker whose socket closed.
                worker.eof_at = Some(std::time::Instant::now());
            }
        }
        if let Some(message) = trouble {
            self.kill_worker(id, KillCause::Protocol(message));
        }
    }
}
