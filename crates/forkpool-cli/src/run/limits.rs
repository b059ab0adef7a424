//! The run's side of `--memsuspend` and `--limit`: suspending, resuming
//! and requeueing running jobs as the limits say.

use forkpool::command::{JobId, Supervisor};

use super::{Killed, Runner, Running};
use crate::limits::gate::{Action, JobView};

impl Runner<'_> {
    /// `--memsuspend` and `--limit` on the running jobs.
    pub(super) fn enforce_limits(&mut self) {
        let views: Vec<JobView> = self
            .running
            .iter()
            .filter(|(_, r)| r.killed.is_none())
            .map(|(id, r)| JobView {
                id: *id,
                seq: r.job.seq,
                started: r.started,
                suspended: r.suspended,
            })
            .collect();
        for action in self.gate.enforce(self.config, &views) {
            let (id, signal) = match action {
                Action::Suspend(id) => (id, libc::SIGSTOP),
                Action::Resume(id) => (id, libc::SIGCONT),
                Action::Requeue(id) => {
                    let seq = self.config.termseq.clone();
                    if let (Some(r), Some(s)) = (self.running.get_mut(&id), self.supervisor.as_mut()) {
                        r.killed = Some(Killed::Limit);
                        wake_if_suspended(s, id, r);
                        s.terminate(id, &seq);
                    }
                    continue;
                }
            };
            if let Some(r) = self.running.get_mut(&id) {
                r.suspended = signal == libc::SIGSTOP;
            }
            if let Some(s) = self.supervisor.as_mut() {
                s.signal(id, signal);
            }
        }
    }
}

/// A job stopped by `--memsuspend` would not act on the `TERM` of a
/// termination sequence: let it run again first.
pub(super) fn wake_if_suspended(supervisor: &mut Supervisor, id: JobId, running: &mut Running) {
    if std::mem::take(&mut running.suspended) {
        supervisor.signal(id, libc::SIGCONT);
    }
}
