//! The run's remote side, as the run loop sees it: jobs placed on hosts
//! (`-S`), run in a work dir (`--workdir`) or as Slurm steps (`--slurm`);
//! the hosts' own jobs (setup, probes, masters) handed to the cluster;
//! a job whose ssh failed held until its host is found up or down.
//!
//! The mechanism is in `crate::remote`; this file is the glue.

use std::time::Instant;

use forkpool::ExitReason;
use forkpool::command::{JobId, SpawnError, Stream};

use super::{Runner, Running};
use crate::config::Config;
use crate::jobs::Job;
use crate::remote::cluster::{Change, Cluster};
use crate::remote::hosts::HostId;
use crate::remote::launch::{Launch, Placement, Templates};
use crate::remote::slurm::Slurm;
use crate::shell::Launch as Plan;

/// What ssh exits with when it fails itself.
const SSH_FAILED: i32 = 255;
/// Times a job may lose its host before its ssh failure counts as its own.
const HOST_FAILURES_PER_JOB: u32 = 5;

/// The remote state of a run.
#[derive(Debug)]
pub(super) struct RemoteRun {
    pub(super) cluster: Option<Cluster>,
    templates: Templates,
    /// Jobs whose ssh failed, until their host's probe says whether the
    /// host or the job failed.
    held: Vec<(Running, ExitReason)>,
    /// Jobs waiting for a host they have failed on less often.
    parked: Vec<(Job, u32)>,
    slurm: Option<Slurm>,
    /// Said once that no host is left.
    all_gone_said: bool,
    /// The hosts' job slots last told to `--round-robin`.
    told_slots: Option<usize>,
}

impl RemoteRun {
    /// The remote state, if the run has any (`None`: a plain local run).
    pub(super) fn new(config: &Config, templates: Templates) -> Result<Option<RemoteRun>, String> {
        let settings = &config.remote;
        if !settings.has_hosts() && templates.is_empty() && settings.slurm.is_none() {
            return Ok(None);
        }
        let cluster = if settings.has_hosts() && !config.dry_run {
            // What `-j 0` means: as many as the system allows.
            let unbounded = config.slots.bound.jobs;
            Some(Cluster::new(
                settings,
                unbounded,
                config.termseq.clone(),
                config.nice.unwrap_or(0),
                &config.files.tmpdir,
            )?)
        } else {
            None
        };
        Ok(Some(RemoteRun {
            cluster,
            templates,
            held: Vec::new(),
            parked: Vec::new(),
            slurm: settings.slurm.clone(),
            all_gone_said: false,
            told_slots: None,
        }))
    }
}

impl Runner<'_> {
    pub(super) fn cluster(&self) -> Option<&Cluster> {
        self.remote.as_ref().and_then(|r| r.cluster.as_ref())
    }

    /// Whether another job may start now: a host has a free slot (or,
    /// without hosts, fewer than `most`, `-j` now, run).
    pub(super) fn room_for_more(&self, most: usize) -> bool {
        match self.cluster() {
            Some(cluster) => cluster.table.has_room(),
            None => self.running.len() < most,
        }
    }

    /// Jobs the remote side still holds (the run is not over while it
    /// does).
    pub(super) fn remote_holds_jobs(&self) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|r| !r.held.is_empty() || !r.parked.is_empty())
    }

    /// When the remote side needs the loop to come round.
    pub(super) fn remote_wake(&self) -> Option<Instant> {
        self.cluster().and_then(Cluster::next_wake)
    }

    /// `--sshdelay`: until when the next job waits.
    pub(super) fn remote_held_back(&self) -> Option<Instant> {
        self.cluster().and_then(Cluster::held_back)
    }

    /// Parked jobs get another chance (a host may have come free).
    pub(super) fn unpark(&mut self) {
        if let Some(remote) = self.remote.as_mut() {
            for parked in remote.parked.drain(..).rev() {
                self.retry.push_front(parked);
            }
        }
    }

    /// Moves the hosts along, and acts on what changed.
    pub(super) fn remote_advance(&mut self) {
        let (Some(remote), Some(supervisor)) = (self.remote.as_mut(), self.supervisor.as_mut()) else {
            return;
        };
        let Some(cluster) = remote.cluster.as_mut() else { return };
        let changes = cluster.advance(supervisor);
        self.apply(changes);
    }

    /// The host of a job to start, if the run places jobs on hosts.
    /// `Err`: the job should wait for another host (it failed here).
    pub(super) fn remote_place(&mut self, job: &Job) -> Result<Option<Placement>, ()> {
        let Some(cluster) = self.remote.as_mut().and_then(|r| r.cluster.as_mut()) else {
            return Ok(None);
        };
        if let Some(groups) = &job.hostgroups
            && let Some(warning) = cluster.adopt_groups(groups)
        {
            self.progress.suspend(|| warning!("{warning}"));
        }
        let host = cluster.table.pick(job.seq, job.hostgroups.as_deref()).ok_or(())?;
        let mut placement = cluster.start(host);
        placement.arg_groups.clone_from(&job.hostgroups);
        Ok(Some(placement))
    }

    /// Sets a job aside until a host it failed on less often is free.
    pub(super) fn park(&mut self, job: Job, attempts: u32) {
        if let Some(remote) = self.remote.as_mut() {
            remote.parked.push((job, attempts));
        }
    }

    /// Starts a job that is not a plain local one (`line` is what runs,
    /// `input` its `--pipe` block, ssh's stdin for a remote job); `None` if
    /// it is.
    pub(super) fn remote_launch(
        &mut self,
        running: &mut Running,
        line: &[u8],
        input: Option<&crate::pipe::Launch>,
    ) -> Option<Result<JobId, SpawnError>> {
        let remote = self.remote.as_ref()?;
        let files = remote.templates.render(running.job.values(running.slot));
        let watched = self.config.mode != crate::output::Mode::Ungroup || running.files.is_some();
        let launch = match (remote.cluster.as_ref(), running.placement.as_mut()) {
            (Some(cluster), Some(placement)) => {
                cluster.command(placement, line, running.job.seq, running.slot, &files, watched)
            }
            _ => Launch::Local(crate::remote::launch::local_line(line, &files)),
        };
        let (argv, env) = match launch {
            Launch::Remote(command) => (command.argv, command.env),
            Launch::Local(line) => {
                if remote.templates.is_empty() && remote.slurm.is_none() {
                    // A plain local job: the usual way.
                    return None;
                }
                match self.config.shell.plan(&line) {
                    Plan::Nothing => (vec!["true".into()], Vec::new()),
                    Plan::Direct { argv, env } => (argv, env),
                    Plan::Shell(argv) => (argv, Vec::new()),
                }
            }
        };
        let argv = match &remote.slurm {
            Some(slurm) => slurm.wrap(argv),
            None => argv,
        };
        Some(self.spawn(running, argv, env, input))
    }

    /// A remote job's stderr, without what its wrapper says.
    pub(super) fn remote_stderr(&mut self, running: &mut Running, stream: Stream, data: Vec<u8>) -> Vec<u8> {
        match (stream, running.placement.as_mut()) {
            (Stream::Stderr, Some(p)) if p.watched => p.filter_stderr(&data),
            _ => data,
        }
    }

    /// A job that could not start gives its host slot back.
    pub(super) fn remote_unplace(&mut self, running: &mut Running) {
        if let (Some(placement), Some(cluster)) = (
            running.placement.take(),
            self.remote.as_mut().and_then(|r| r.cluster.as_mut()),
        ) {
            cluster.end(&placement, running.job.seq, false);
        }
    }

    /// A job ended. When ssh itself failed (255, and the wrapper did not
    /// say the job exited 255), the host failed, not the job: the job goes
    /// back on the queue and a fresh login checks the host. Where the
    /// wrapper cannot say (`-u`), the job is held until that login tells:
    /// host down, the job runs again; host up, the 255 was the job's.
    /// Otherwise the job's host slot is freed and it goes on to be
    /// completed.
    pub(super) fn remote_ended(&mut self, mut running: Running, reason: ExitReason) -> Option<(Running, ExitReason)> {
        let seq = running.job.seq;
        let tail = running
            .placement
            .as_mut()
            .map(|p| std::mem::take(&mut p.tail))
            .unwrap_or_default();
        if !tail.is_empty() {
            self.job_output(&mut running, Stream::Stderr, &tail);
        }
        let Some(placement) = running.placement.clone() else {
            return Some((running, reason));
        };
        let (Some(remote), Some(supervisor)) = (self.remote.as_mut(), self.supervisor.as_mut()) else {
            return Some((running, reason));
        };
        let Some(cluster) = remote.cluster.as_mut() else {
            return Some((running, reason));
        };
        let ssh_failed = reason == ExitReason::Exited(SSH_FAILED)
            && running.killed.is_none()
            && !placement.checked
            && !placement.said_255
            && !cluster.table.get(placement.host).is_local();
        if running.placement.as_ref().is_some_and(|p| !p.released) {
            cluster.end(&placement, seq, !reason.success());
            if let Some(p) = running.placement.as_mut() {
                p.released = true;
            }
        }
        if reason.success() {
            cluster.table.forget(seq);
        }
        if !ssh_failed {
            return Some((running, reason));
        }
        let may_be_up = cluster.suspect(placement.host, supervisor);
        if placement.watched {
            if cluster.table.host_failed_under(seq) > HOST_FAILURES_PER_JOB {
                // Its hosts keep failing under it: it fails.
                return Some((running, reason));
            }
            self.requeue(running);
        } else if may_be_up {
            remote.held.push((running, reason));
        } else {
            self.requeue(running);
        }
        None
    }

    /// Puts a job whose host failed back on the queue, as if it had not
    /// started.
    fn requeue(&mut self, running: Running) {
        let Running {
            job, slot, attempts, ..
        } = running;
        self.printer.discard(job.seq);
        self.tally.started -= 1;
        self.free_slots.insert(slot);
        self.retry.push_front((job, attempts));
    }

    /// Output of a job that is not the user's (a host's setup).
    pub(super) fn remote_output(&mut self, job: JobId, stream: Stream, data: &[u8]) {
        if let Some(cluster) = self.remote.as_mut().and_then(|r| r.cluster.as_mut()) {
            cluster.on_output(job, stream, data);
        }
    }

    /// A job that is not the user's ended (a host's setup, probe, master).
    pub(super) fn remote_exited(&mut self, job: JobId, reason: ExitReason) {
        let (Some(remote), Some(supervisor)) = (self.remote.as_mut(), self.supervisor.as_mut()) else {
            return;
        };
        let Some(cluster) = remote.cluster.as_mut() else { return };
        let changes = cluster.on_exit(job, reason, supervisor);
        self.apply(changes);
    }

    /// Acts on hosts coming up or going down.
    fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Warning(message) => self.progress.suspend(|| warning!("{message}")),
                Change::Up(host) => self.release_held(host, true),
                Change::Down(host) => self.release_held(host, false),
            }
        }
        self.tell_slots();
        self.check_hosts_left();
    }

    /// Tells `--round-robin` the hosts' job slots, once every host's are
    /// known and whenever they change (a host goes down, or comes).
    fn tell_slots(&mut self) {
        let Some(remote) = self.remote.as_mut() else { return };
        let Some(slots) = remote.cluster.as_ref().and_then(|c| c.table.slots()) else {
            return;
        };
        if remote.told_slots == Some(slots) {
            return;
        }
        remote.told_slots = Some(slots);
        if let Some(pipe) = &self.pipe {
            pipe.set_slots(slots);
        }
    }

    /// The held jobs of `host`: completed as they ended (the host is up:
    /// the failure was theirs), or run again elsewhere (it is down).
    fn release_held(&mut self, host: HostId, up: bool) {
        let Some(remote) = self.remote.as_mut() else { return };
        let (mine, others): (Vec<_>, Vec<_>) = remote
            .held
            .drain(..)
            .partition(|(r, _)| r.placement.as_ref().is_some_and(|p| p.host == host));
        remote.held = others;
        for (mut running, reason) in mine {
            if up {
                if let Some(p) = running.placement.as_mut() {
                    p.checked = true;
                }
                self.complete(running, reason);
            } else {
                self.requeue(running);
            }
        }
    }

    /// With every host down, the jobs left cannot run: the run stops.
    fn check_hosts_left(&mut self) {
        let Some(remote) = self.remote.as_mut() else { return };
        let Some(cluster) = remote.cluster.as_ref() else { return };
        if !cluster.table.all_gone() || remote.all_gone_said {
            return;
        }
        remote.all_gone_said = true;
        let held: Vec<(Running, ExitReason)> = remote.held.drain(..).collect();
        for (mut running, reason) in held {
            if let Some(p) = running.placement.as_mut() {
                p.checked = true;
            }
            self.complete(running, reason);
        }
        self.fatal("There are no hosts left to run jobs on.");
    }

    /// Ends the remote side: basefiles cleaned up, masters stopped, their
    /// sockets removed.
    pub(super) fn remote_shutdown(&mut self) {
        let interrupted = matches!(self.stop, Some(super::Stop::Signal | super::Stop::Fatal));
        let (Some(remote), Some(supervisor)) = (self.remote.as_mut(), self.supervisor.as_mut()) else {
            return;
        };
        if let Some(cluster) = remote.cluster.as_mut() {
            cluster.shutdown(supervisor, interrupted);
        }
    }

    /// A job's sshlogin and host (`:` and `:` on this machine).
    pub(super) fn job_host(&self, placement: Option<&Placement>) -> (String, String) {
        match (self.cluster(), placement) {
            (Some(cluster), Some(p)) => {
                let host = cluster.table.get(p.host);
                (host.name.clone(), host.login.host.clone())
            }
            _ => (":".to_owned(), ":".to_owned()),
        }
    }

    /// `--tagstring` with `--plus`'s `{host}`, `{sshlogin}` or `{slot}`:
    /// they stand for the job's variables (`${PARALLEL_SSHHOST}`...), which
    /// a command's shell expands; a tag is made here, so they are put in
    /// here (GNU parallel prints the variables' names).
    pub(super) fn job_variables_in_tag(
        &self,
        tag: Vec<u8>,
        placement: Option<&Placement>,
        seq: u64,
        slot: usize,
    ) -> Vec<u8> {
        if !tag.windows(11).any(|w| w == b"${PARALLEL_") {
            return tag;
        }
        let (login, host) = self.job_host(placement);
        let mut out = tag;
        for (name, value) in [
            (&b"${PARALLEL_SSHHOST}"[..], host.into_bytes()),
            (b"${PARALLEL_SSHLOGIN}", login.into_bytes()),
            (b"${PARALLEL_JOBSLOT}", slot.to_string().into_bytes()),
            (b"${PARALLEL_SEQ}", seq.to_string().into_bytes()),
        ] {
            let mut replaced = Vec::with_capacity(out.len());
            let mut i = 0;
            while i < out.len() {
                if out[i..].starts_with(name) {
                    replaced.extend_from_slice(&value);
                    i += name.len();
                } else {
                    replaced.push(out[i]);
                    i += 1;
                }
            }
            out = replaced;
        }
        out
    }

    /// The joblog's Host, Send and Receive for a job: `:`, 0 and its
    /// standard output for a local one; the sshlogin, the bytes of
    /// `--transferfile`s, and its output plus the bytes of `--return`ed
    /// files for a remote one.
    pub(super) fn accounting(&self, running: &Running) -> (String, u64, u64) {
        let (Some(cluster), Some(p)) = (self.cluster(), running.placement.as_ref()) else {
            return (":".to_owned(), 0, running.stdout_bytes);
        };
        let returned: u64 = p.returns.iter().map(|f| crate::remote::transfer::size(f)).sum();
        (
            cluster.table.get(p.host).name.clone(),
            p.sent,
            running.stdout_bytes + returned,
        )
    }
}
