//! A run's hosts at work: setting each up, probing one whose ssh failed,
//! re-reading the `--sshloginfile`, and shutting down.
//!
//! Everything here runs as jobs of the run's own supervisor (so the
//! guardian stops it too if forkpool is killed), driven by the run's
//! event loop: the loop hands over the events of jobs that are not the
//! user's, and calls [`Cluster::advance`] when [`Cluster::next_wake`]
//! says so. Nothing blocks: a host that takes ten seconds to refuse a
//! login does not hold the others back.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use forkpool::ExitReason;
use forkpool::command::{Event, JobId, Output, Spec, Stream, Supervisor, TermSeq};

use super::hosts::{Host, HostId, Phase, Table, needs_cpus, slots_for};
use super::launch::Placement;
use super::login::{self, LoginFile};
use super::ssh::{self, ControlDir};
use super::transfer::Place;
use super::wrapper;
use super::{Settings, Workdir};

/// How long a login check or probe may take (GNU parallel's
/// `--filter-hosts` allows 10 seconds).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long masters may take to connect.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a connecting host's sockets are looked for.
const SOCKET_POLL: Duration = Duration::from_millis(5);
/// How often the `--sshloginfile`s are looked at (GNU: once a second).
const FILE_CHECK: Duration = Duration::from_secs(1);
/// The command that counts a host's CPUs (run by the wrapper's `sh`).
const COUNT_CPUS: &[u8] = b"nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1";

/// What the run must know of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The host is up (again): it takes jobs.
    Up(HostId),
    /// The host is down: its failed jobs go elsewhere.
    Down(HostId),
    /// A warning for the user.
    Warning(String),
}

/// The run's hosts.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) table: Table,
    pub(crate) settings: Settings,
    pub(super) control: Option<ControlDir>,
    /// Slots for `-j 0` on one host.
    unbounded: usize,
    termseq: TermSeq,
    nice: i32,
    last_ssh: Option<Instant>,
    files: Vec<(LoginFile, Option<SystemTime>)>,
    next_file_check: Instant,
    /// What setup jobs wrote: (stdout, stderr).
    captured: HashMap<JobId, (Vec<u8>, Vec<u8>)>,
}

impl Cluster {
    /// The hosts of `settings`, none set up yet. `unbounded` is what `-j
    /// 0` allows in all; the masters' sockets go under `tmpdir`.
    pub(crate) fn new(
        settings: &Settings,
        unbounded: usize,
        termseq: TermSeq,
        nice: i32,
        tmpdir: &std::path::Path,
    ) -> Result<Cluster, String> {
        let hosts: Vec<Host> = settings
            .logins
            .iter()
            .map(|l| Host::new(l.clone(), &settings.ssh, settings.multiplex))
            .collect();
        let control = if hosts.iter().any(|h| h.multiplex) {
            Some(ControlDir::create(tmpdir).map_err(|e| format!("cannot create the control socket directory: {e}"))?)
        } else {
            None
        };
        let per_host = (unbounded / hosts.len().max(1)).max(1);
        let files = settings.files.iter().map(|f| (f.clone(), f.modified())).collect();
        Ok(Cluster {
            table: Table::new(hosts),
            settings: settings.clone(),
            control,
            unbounded: per_host,
            termseq,
            nice,
            last_ssh: None,
            files,
            next_file_check: Instant::now() + FILE_CHECK,
            captured: HashMap::new(),
        })
    }

    /// The niceness remote jobs run at.
    pub(crate) fn nice(&self) -> i32 {
        self.nice
    }

    /// `--termseq`, for the remote wrapper.
    pub(crate) fn termseq_text(&self) -> String {
        self.termseq.to_string()
    }

    /// When [`advance`](Cluster::advance) has something to do.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        for host in &self.table.hosts {
            match host.phase {
                Phase::New => at(Instant::now()),
                Phase::Connecting { deadline } => at((Instant::now() + SOCKET_POLL).min(deadline)),
                Phase::Ready | Phase::Sending { .. } if host.masters.iter().any(|m| m.job.is_some() && !m.ready) => {
                    at(Instant::now() + SOCKET_POLL);
                }
                Phase::Checking { deadline, .. } | Phase::Suspect { deadline, .. } => at(deadline),
                _ => {}
            }
        }
        if self.files.iter().any(|(f, _)| matches!(f, LoginFile::Path(_))) {
            at(self.next_file_check);
        }
        wake
    }

    /// Moves every host along: starts setting up new ones, sees which
    /// masters are listening, gives up on checks that take too long, and
    /// re-reads changed `--sshloginfile`s.
    pub(crate) fn advance(&mut self, supervisor: &mut Supervisor) -> Vec<Change> {
        let mut changes = Vec::new();
        let now = Instant::now();
        if now >= self.next_file_check {
            self.next_file_check = now + FILE_CHECK;
            self.reread_files(&mut changes);
        }
        for id in self.table.ids().collect::<Vec<_>>() {
            match self.table.get(id).phase.clone() {
                Phase::New => self.start_setup(id, supervisor, &mut changes),
                Phase::Connecting { .. } => self.check_sockets(id, supervisor, &mut changes),
                Phase::Ready | Phase::Sending { .. } if self.table.get(id).multiplex => {
                    self.check_sockets(id, supervisor, &mut changes);
                }
                Phase::Checking { job, deadline } | Phase::Suspect { job, deadline } if now >= deadline => {
                    // Its `on_exit` marks the host down.
                    supervisor.terminate(job, &TermSeq::immediate(libc::SIGKILL));
                    let later = now + Duration::from_secs(3600);
                    match &mut self.table.get_mut(id).phase {
                        Phase::Checking { deadline, .. } | Phase::Suspect { deadline, .. } => *deadline = later,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        changes
    }

    /// Whether `job` is one of ours (setup, probe, master).
    pub(crate) fn owns(&self, job: JobId) -> bool {
        self.table.owner_of(job).is_some()
    }

    /// Output of one of our jobs.
    pub(crate) fn on_output(&mut self, job: JobId, stream: Stream, data: &[u8]) {
        if self.owns(job) {
            let (out, err) = self.captured.entry(job).or_default();
            match stream {
                Stream::Stdout => out.extend_from_slice(data),
                Stream::Stderr => err.extend_from_slice(data),
            }
        }
    }

    /// One of our jobs ended.
    pub(crate) fn on_exit(&mut self, job: JobId, reason: ExitReason, supervisor: &mut Supervisor) -> Vec<Change> {
        let mut changes = Vec::new();
        let Some(id) = self.table.owner_of(job) else {
            return changes;
        };
        let (stdout, stderr) = self.captured.remove(&job).unwrap_or_default();
        let ok = reason.success();
        let why = last_line(&stderr).unwrap_or_else(|| describe(reason));
        let name = self.table.get(id).name.clone();
        if self.table.get(id).masters.iter().any(|m| m.job == Some(job)) {
            self.master_ended(id, job);
            return changes;
        }
        match self.table.get(id).phase.clone() {
            Phase::Checking { .. } => {
                if !ok {
                    let message = if self.settings.filter_hosts {
                        format!("Removed {name}.")
                    } else {
                        format!("Cannot log in to {name} ({why}): its jobs run elsewhere.")
                    };
                    self.host_down(id, message, &mut changes);
                    return changes;
                }
                let text = String::from_utf8_lossy(&stdout);
                let cpus = match text.trim().parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        changes.push(Change::Warning(format!(
                            "Could not figure out number of cpus on {name} ({}). Using 1.",
                            text.trim()
                        )));
                        1
                    }
                };
                let host = self.table.get_mut(id);
                host.cpus.get_or_insert(cpus);
                self.after_check(id, supervisor, &mut changes);
            }
            Phase::Sending { .. } => {
                if ok {
                    self.host_up(id, &mut changes);
                } else {
                    self.host_down(
                        id,
                        format!("Copying of --basefile to {name} failed ({why}): its jobs run elsewhere."),
                        &mut changes,
                    );
                }
            }
            Phase::Suspect { .. } => {
                if ok && !self.table.get(id).set_up {
                    // Its masters failed, but a plain login works.
                    self.send_basefiles(id, supervisor, &mut changes);
                } else if ok {
                    self.host_up(id, &mut changes);
                } else {
                    self.host_down(
                        id,
                        format!("{name} is down ({why}): its jobs run elsewhere."),
                        &mut changes,
                    );
                }
            }
            _ => {}
        }
        changes
    }

    /// The host is set up: it takes jobs.
    fn host_up(&mut self, id: HostId, changes: &mut Vec<Change>) {
        let host = self.table.get_mut(id);
        host.phase = Phase::Ready;
        host.set_up = true;
        changes.push(Change::Up(id));
    }

    pub(super) fn host_down(&mut self, id: HostId, message: String, changes: &mut Vec<Change>) {
        let host = self.table.get_mut(id);
        if host.phase == Phase::Retired {
            return;
        }
        host.phase = Phase::Down;
        changes.push(Change::Warning(message));
        changes.push(Change::Down(id));
    }

    /// Starts setting up a new host.
    fn start_setup(&mut self, id: HostId, supervisor: &mut Supervisor, changes: &mut Vec<Change>) {
        let jobs = self.settings.jobs.clone();
        let host = self.table.get_mut(id);
        if host.is_local() {
            let cpus = host.cpus.unwrap_or_else(crate::config::cpus);
            host.slots = slots_for(jobs.as_deref(), cpus, self.unbounded);
            host.phase = Phase::Ready;
            changes.push(Change::Up(id));
            return;
        }
        let must_check = self.settings.filter_hosts || (host.cpus.is_none() && needs_cpus(jobs.as_deref()));
        if !must_check {
            self.after_check(id, supervisor, changes);
            return;
        }
        let words = wrapper::Job {
            command: COUNT_CPUS,
            shell: Some(b"/bin/sh"),
            termseq: self.termseq.to_string(),
            ..wrapper::Job::default()
        }
        .words();
        let command = host.ssh.run(None, &words);
        match spawn(supervisor, command, true) {
            Ok(job) => {
                host.phase = Phase::Checking {
                    job,
                    deadline: Instant::now() + CHECK_TIMEOUT,
                };
            }
            Err(e) => {
                let name = host.name.clone();
                self.host_down(id, format!("Cannot check {name}: {e}."), changes);
            }
        }
    }

    /// The host's CPUs are known (or not needed): its slots follow; then
    /// its masters, its basefiles.
    fn after_check(&mut self, id: HostId, supervisor: &mut Supervisor, changes: &mut Vec<Change>) {
        let jobs = self.settings.jobs.clone();
        let unbounded = self.unbounded;
        let host = self.table.get_mut(id);
        host.slots = slots_for(jobs.as_deref(), host.cpus.unwrap_or(1), unbounded);
        if host.multiplex && self.control.is_some() {
            self.connect(id, supervisor, changes);
        } else {
            self.send_basefiles(id, supervisor, changes);
        }
    }

    /// Sends the `--basefile`s, if any; else the host is ready.
    pub(super) fn send_basefiles(&mut self, id: HostId, supervisor: &mut Supervisor, changes: &mut Vec<Change>) {
        if self.settings.basefiles.is_empty() {
            self.host_up(id, changes);
            return;
        }
        let workdir = self.basefile_workdir();
        let host = self.table.get(id);
        let socket = host.any_socket();
        let place = Place {
            ssh: &host.ssh,
            control: socket.as_deref(),
            workdir: &workdir,
            rsync: &self.settings.rsync,
        };
        let steps: Vec<Vec<u8>> = self.settings.basefiles.iter().map(|f| place.send(f)).collect();
        let command = shell_command(&steps.join(&b" && "[..]), host.ssh.env());
        match spawn(supervisor, command, true) {
            Ok(job) => self.table.get_mut(id).phase = Phase::Sending { job },
            Err(e) => {
                let name = self.table.get(id).name.clone();
                self.host_down(id, format!("Copying of --basefile to {name} failed: {e}."), changes);
            }
        }
    }

    /// Where basefiles go: the work dir, when it is one for all jobs.
    fn basefile_workdir(&self) -> Vec<u8> {
        match &self.settings.workdir {
            None | Some(Workdir::Fresh) => b".".to_vec(),
            Some(Workdir::Here) => super::launch::here_workdir(),
            Some(Workdir::Dir(d)) => d.clone(),
        }
    }

    /// ssh failed (255) on a job of `id`: checks the host with a fresh
    /// login, unless that is under way or the host is known down.
    /// Returns whether the host may still be up.
    pub(crate) fn suspect(&mut self, id: HostId, supervisor: &mut Supervisor) -> bool {
        let host = self.table.get_mut(id);
        match host.phase {
            Phase::Down | Phase::Retired => return false,
            Phase::Suspect { .. } => return true,
            _ => {}
        }
        // A fresh login, not over a master that may be stale.
        let command = host.ssh.run(None, &["exec".to_owned(), "true".to_owned()]);
        match spawn(supervisor, command, true) {
            Ok(job) => {
                host.phase = Phase::Suspect {
                    job,
                    deadline: Instant::now() + CHECK_TIMEOUT,
                };
                true
            }
            Err(_) => false,
        }
    }

    /// Until when `--sshdelay` holds the next remote job back.
    pub(crate) fn held_back(&self) -> Option<Instant> {
        let delay = self.settings.ssh_delay?;
        let until = self.last_ssh? + delay;
        (Instant::now() < until).then_some(until)
    }

    /// A job of sequence number `seq` starts on `id`.
    pub(crate) fn start(&mut self, id: HostId) -> Placement {
        let host = self.table.get_mut(id);
        host.running += 1;
        let master = if host.multiplex { host.master_for_job() } else { None };
        if let Some(k) = master {
            host.masters[k].busy = true;
        }
        if !host.is_local() {
            self.last_ssh = Some(Instant::now());
        }
        Placement {
            host: id,
            master,
            ..Placement::default()
        }
    }

    /// A job placed on a host ended; `failed` notes it for `--retries`.
    pub(crate) fn end(&mut self, placement: &Placement, seq: u64, failed: bool) {
        let host = self.table.get_mut(placement.host);
        host.running = host.running.saturating_sub(1);
        if let Some(k) = placement.master
            && let Some(m) = host.masters.get_mut(k)
        {
            m.busy = false;
        }
        if failed {
            self.table.failed_on(seq, placement.host);
        }
    }

    /// The sshlogin files changed: hosts come, go, or come back.
    fn reread_files(&mut self, changes: &mut Vec<Change>) {
        let mut changed = false;
        for (file, modified) in &mut self.files {
            let now = file.modified();
            if now.is_some() && now != *modified {
                *modified = now;
                changed = true;
            }
        }
        if !changed {
            return;
        }
        let files: Vec<LoginFile> = self.files.iter().map(|(f, _)| f.clone()).collect();
        let logins = match login::collect(&self.settings.sshlogin_values, &files) {
            Ok(logins) => logins,
            Err(e) => {
                // A half-written file: keep the hosts we have.
                changes.push(Change::Warning(format!("{e}")));
                return;
            }
        };
        let names: Vec<String> = logins.iter().map(login::Login::name).collect();
        for host in &mut self.table.hosts {
            if !names.contains(&host.name) && host.phase != Phase::Retired {
                host.phase = Phase::Retired;
            }
        }
        for login in logins {
            let name = login.name();
            match self.table.hosts.iter_mut().find(|h| h.name == name) {
                Some(host) if matches!(host.phase, Phase::Retired | Phase::Down) => {
                    // Back: set it up again (a new `N/` wins).
                    if login.cpus.is_some() {
                        host.cpus = login.cpus;
                    }
                    host.phase = Phase::New;
                }
                Some(_) => {}
                None => self
                    .table
                    .hosts
                    .push(Host::new(login, &self.settings.ssh, self.settings.multiplex)),
            }
        }
    }

    /// Ends the run's remote side: removes the basefiles (`--cleanup`),
    /// stops the masters and removes their sockets. Waits at most a few
    /// seconds; whatever is left, the supervisor's drop kills.
    pub(crate) fn shutdown(&mut self, supervisor: &mut Supervisor, interrupted: bool) {
        let mut waiting: Vec<JobId> = Vec::new();
        if self.settings.cleanup && !self.settings.basefiles.is_empty() && !interrupted {
            let workdir = self.basefile_workdir();
            for host in &self.table.hosts {
                if host.is_local() || !matches!(host.phase, Phase::Ready | Phase::Suspect { .. }) {
                    continue;
                }
                let socket = host.any_socket();
                let place = Place {
                    ssh: &host.ssh,
                    control: socket.as_deref(),
                    workdir: &workdir,
                    rsync: &self.settings.rsync,
                };
                let steps: Vec<Vec<u8>> = self.settings.basefiles.iter().map(|f| place.remove(f, false)).collect();
                if let Ok(job) = spawn(
                    supervisor,
                    shell_command(&steps.join(&b"; "[..]), host.ssh.env()),
                    false,
                ) {
                    waiting.push(job);
                }
            }
            wait_for(supervisor, &mut waiting, Duration::from_secs(30));
        }
        for host in &mut self.table.hosts {
            for m in &mut host.masters {
                if let Some(job) = m.job.take() {
                    supervisor.terminate(job, &TermSeq::default());
                    waiting.push(job);
                }
                m.ready = false;
            }
        }
        wait_for(supervisor, &mut waiting, Duration::from_secs(5));
        self.control = None;
    }
}

/// The sshlogins whose login works (`--filter-hosts` before `--onall`),
/// checked all at once; the others are reported and left out.
pub(crate) fn reachable(settings: &Settings, termseq: TermSeq) -> Result<Vec<login::Login>, String> {
    let mut supervisor = Supervisor::new().map_err(|e| format!("cannot start jobs: {e}"))?;
    let mut settings = settings.clone();
    settings.multiplex = super::Multiplex::Never;
    settings.basefiles.clear();
    settings.filter_hosts = true;
    let mut cluster = Cluster::new(&settings, 1, termseq, 0, &std::env::temp_dir())?;
    let say = |changes: Vec<Change>| {
        for change in changes {
            if let Change::Warning(m) = change {
                warning!("{m}");
            }
        }
    };
    let mut events = Vec::new();
    loop {
        say(cluster.advance(&mut supervisor));
        let settled = cluster
            .table
            .hosts
            .iter()
            .all(|h| matches!(h.phase, Phase::Ready | Phase::Down | Phase::Retired));
        if settled {
            break;
        }
        supervisor
            .wait(cluster.next_wake(), &mut events)
            .map_err(|e| format!("waiting for jobs failed: {e}"))?;
        for event in events.drain(..) {
            match event {
                Event::Output { job, stream, data } => cluster.on_output(job, stream, &data),
                Event::Exited { job, reason, .. } => say(cluster.on_exit(job, reason, &mut supervisor)),
                _ => {}
            }
        }
    }
    Ok(cluster
        .table
        .hosts
        .iter()
        .filter(|h| h.phase == Phase::Ready)
        .map(|h| h.login.clone())
        .collect())
}

/// Starts one of our jobs.
pub(super) fn spawn(
    supervisor: &mut Supervisor,
    command: ssh::Command,
    capture: bool,
) -> Result<JobId, forkpool::command::SpawnError> {
    let spec = Spec {
        argv: command.argv,
        env: command.env,
        stdout: if capture { Output::Capture } else { Output::Null },
        stderr: if capture { Output::Capture } else { Output::Null },
        ..Spec::default()
    };
    supervisor.spawn(&spec)
}

/// `sh -c LINE`.
pub(crate) fn shell_command(line: &[u8], env: Vec<(std::ffi::OsString, std::ffi::OsString)>) -> ssh::Command {
    ssh::Command {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            std::ffi::OsString::from(String::from_utf8_lossy(line).into_owned()),
        ],
        env,
    }
}

/// Waits until these jobs have exited, at most `limit`.
fn wait_for(supervisor: &mut Supervisor, jobs: &mut Vec<JobId>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut events = Vec::new();
    while !jobs.is_empty() && Instant::now() < deadline {
        if supervisor.wait(Some(deadline), &mut events).is_err() {
            break;
        }
        for event in events.drain(..) {
            if let Event::Exited { job, .. } = event {
                jobs.retain(|j| *j != job);
            }
        }
    }
}

/// The last non-empty line of a command's stderr.
fn last_line(stderr: &[u8]) -> Option<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

fn describe(reason: ExitReason) -> String {
    match reason {
        ExitReason::Exited(code) => format!("exit status {code}"),
        ExitReason::Signaled { signal, .. } => {
            format!(
                "killed by {}",
                forkpool::signal_name(signal).unwrap_or("a signal".into())
            )
        }
    }
}
