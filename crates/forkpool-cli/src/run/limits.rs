//! The run's side of the limits: `-j 0` held back by the system (said
//! before the first job), one job fewer at once when the system has no
//! more processes, and `--memsuspend` and `--limit` suspending, resuming
//! and requeueing running jobs.

use forkpool::command::{JobId, Supervisor};

use super::{Killed, Launched, Runner, Running, Stop};
use crate::jobs::Job;
use crate::limits::gate::{Action, JobView};
use crate::limits::system;

impl Runner<'_> {
    /// `-j 0` bounded by the system: GNU parallel reads the input until it
    /// has as many jobs as the bound (or the input ends) before it starts
    /// one, and warns if it has; with `--pipe` it reads nothing first, and
    /// always warns. So do we, with the jobs the input has ready: input
    /// still to come is not waited for (a job that could start now would
    /// wait on it); when it comes, the first job held back by the bound
    /// brings the warning.
    pub(super) fn warn_before_start(&mut self, bound: usize) {
        if !self.gate.may_warn() {
            return;
        }
        let blocks = self.config.pipe.as_ref().is_some_and(|p| !p.tee);
        while !blocks && self.retry.len() < bound && self.stop.is_none() {
            match self.next_new_job() {
                Some(job) => self.retry.push_back((job, 0)),
                None => break,
            }
        }
        if (blocks || self.retry.len() >= bound)
            && let Some(message) = self.gate.at_bound_warning()
        {
            self.progress.suspend(|| warning!("{message}"));
        }
    }

    /// Before a job starts: GNU parallel's warning when its check of the
    /// file handles (a few opened and closed again, with each job it
    /// holds keeping four) would find too few. (GNU then waits for jobs to
    /// end before it starts the next; we need fewer and start it.)
    pub(super) fn check_file_handles(&mut self) {
        if let Some(message) = self.gate.out_of_file_handles(self.printer.open_jobs()) {
            self.progress.suspend(|| warning!("{message}"));
        }
    }

    /// A spawn found no process left (`EAGAIN`): as GNU parallel, run one
    /// job fewer at once from now on, say so, and try the job again soon;
    /// with one job at once already, the run ends (those running finish)
    /// with status 255.
    pub(super) fn no_more_processes(&mut self, job: Job, attempts: u32) -> Launched {
        match self.gate.fewer_processes() {
            Some(now) => {
                self.progress
                    .suspend(|| warning!("{}", system::fewer_processes_message(now)));
                self.retry.push_front((job, attempts));
                Launched::Later
            }
            None => {
                let args: Vec<String> = job
                    .args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                self.progress.suspend(|| {
                    error!(
                        "No more processes: cannot run a single job. Something is wrong at {}.",
                        args.join(" ")
                    );
                });
                self.forget(job.seq);
                self.stop.get_or_insert(Stop::Fatal);
                Launched::Yes
            }
        }
    }

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
