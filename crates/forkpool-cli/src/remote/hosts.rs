//! The hosts of a run: their job slots, their state, and which host a job
//! goes to.
//!
//! A host is set up before it gets jobs (see `setup`): its CPUs counted
//! when `-j` depends on them, its login checked (`--filter-hosts`), its
//! masters started (`-M`), its `--basefile`s sent. Hosts become ready one
//! by one, and jobs start on the first while the others are still being
//! set up.
//!
//! A host fails when ssh itself fails (exit 255) and a fresh login then
//! fails too: it is *down*, gets no more jobs, and the jobs that failed
//! there run again elsewhere (they did not fail; the host did).
//!
//! `--retries` moves a failed job to another host: a job goes to the free
//! host it has failed on least, and waits for a busy one rather than
//! rerunning where it failed more often, as GNU parallel does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use forkpool::command::JobId;

use super::login::Login;
use super::ssh::Ssh;

/// A host's index in the run's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub(crate) struct HostId(pub(crate) usize);

/// Where a host is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not set up yet.
    New,
    /// Its CPUs being counted, or its login checked.
    Checking { job: JobId, deadline: Instant },
    /// Its masters being started (`-M`).
    Connecting { deadline: Instant },
    /// Its `--basefile`s being sent.
    Sending { job: JobId },
    /// Running jobs.
    Ready,
    /// ssh failed on it: a fresh login says whether it is still up.
    Suspect { job: JobId, deadline: Instant },
    /// Gone: no more jobs.
    Down,
    /// Taken out of the `--sshloginfile`: no more jobs.
    Retired,
}

/// One ControlMaster of a host (see `masters`).
#[derive(Debug, Clone)]
pub(crate) struct Master {
    pub(crate) socket: PathBuf,
    /// Its process; `None` once it ended.
    pub(crate) job: Option<JobId>,
    /// Its socket is there: clients can use it.
    pub(crate) ready: bool,
    /// A job uses it now (one at a time).
    pub(crate) busy: bool,
}

/// One host of the run.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) login: Login,
    pub(crate) name: String,
    pub(crate) ssh: Ssh,
    pub(crate) phase: Phase,
    /// Its CPUs, once known.
    pub(crate) cpus: Option<usize>,
    /// How many jobs it runs at once.
    pub(crate) slots: usize,
    pub(crate) running: usize,
    /// Its jobs go over shared connections (`masters`).
    pub(crate) multiplex: bool,
    pub(crate) masters: Vec<Master>,
    /// Masters that failed or died.
    pub(crate) master_failures: u32,
    /// It was set up (basefiles sent) once.
    pub(crate) set_up: bool,
}

impl Host {
    pub(crate) fn new(login: Login, default_ssh: &str, multiplex: super::Multiplex) -> Host {
        let ssh = Ssh::new(&login, default_ssh);
        let multiplex = !login.is_local()
            && match multiplex {
                super::Multiplex::Never => false,
                super::Multiplex::Always => ssh.can_multiplex,
                super::Multiplex::Auto => ssh.can_multiplex && ssh.is_openssh(),
            };
        Host {
            multiplex,
            master_failures: 0,
            set_up: false,
            name: login.name(),
            cpus: login.cpus,
            ssh,
            login,
            phase: Phase::New,
            slots: 0,
            running: 0,
            masters: Vec::new(),
        }
    }

    pub(crate) fn is_local(&self) -> bool {
        self.login.is_local()
    }

    /// Whether it can take a job now: a free slot, and a free master for
    /// it (or no master coming: it logs in directly).
    pub(crate) fn has_room(&self) -> bool {
        if self.phase != Phase::Ready || self.running >= self.slots {
            return false;
        }
        if !self.multiplex || self.master_for_job().is_some() {
            return true;
        }
        let connecting = self.masters.iter().any(|m| m.job.is_some() && !m.ready);
        let alive = self.masters.iter().filter(|m| m.job.is_some()).count();
        let more_coming = connecting || (alive < self.slots && self.master_failures < super::masters::MAX_FAILURES);
        !more_coming
    }

    /// The master a new job should use: a free ready one.
    pub(crate) fn master_for_job(&self) -> Option<usize> {
        self.masters.iter().position(|m| m.ready && !m.busy && m.job.is_some())
    }

    /// The socket of a ready master, for housekeeping commands.
    pub(crate) fn any_socket(&self) -> Option<PathBuf> {
        self.masters
            .iter()
            .find(|m| m.ready && m.job.is_some())
            .map(|m| m.socket.clone())
    }
}

/// Job slots for a host of `cpus` CPUs, by `-j` as typed (`None`: one per
/// CPU). `N` is N; `N%`, `+N` and `-N` are relative to the host's CPUs;
/// `0` is `unbounded`; a file holds one of those.
pub(crate) fn slots_for(jobs: Option<&str>, cpus: usize, unbounded: usize) -> usize {
    let Some(text) = jobs else { return cpus };
    let text = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let n = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    let value = if let Some(rest) = text.strip_prefix('+').filter(|r| digits(r)) {
        cpus as f64 + n(rest)
    } else if let Some(rest) = text.strip_prefix('-').filter(|r| digits(r)) {
        cpus as f64 - n(rest)
    } else if let Some(pct) = text.strip_suffix('%') {
        cpus as f64 * n(pct) / 100.0
    } else if digits(text) {
        match n(text) {
            0.0 => return unbounded,
            v => v,
        }
    } else if let Ok(content) = std::fs::read_to_string(text) {
        return slots_for(Some(content.trim()), cpus, unbounded);
    } else {
        return cpus;
    };
    value.max(0.0).ceil().min(forkpool::command::MAX_RUNNING as f64) as usize
}

/// Whether `-j` needs the host's CPU count.
pub(crate) fn needs_cpus(jobs: Option<&str>) -> bool {
    match jobs.map(str::trim) {
        None => true,
        Some(t) => t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The table of hosts, and what each job has failed on.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) hosts: Vec<Host>,
    /// Job sequence number → failures per host (`--retries`).
    failures: HashMap<u64, HashMap<HostId, u32>>,
    /// Job sequence number → hosts that failed under it.
    host_failures: HashMap<u64, u32>,
}

impl Table {
    /// A table of these hosts.
    pub(crate) fn new(hosts: Vec<Host>) -> Table {
        Table {
            hosts,
            failures: HashMap::new(),
            host_failures: HashMap::new(),
        }
    }

    pub(crate) fn get(&self, id: HostId) -> &Host {
        &self.hosts[id.0]
    }

    pub(crate) fn get_mut(&mut self, id: HostId) -> &mut Host {
        &mut self.hosts[id.0]
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = HostId> + use<> {
        (0..self.hosts.len()).map(HostId)
    }

    /// Whether some host can take a job now.
    pub(crate) fn has_room(&self) -> bool {
        self.hosts.iter().any(Host::has_room)
    }

    /// The job slots of the hosts that take jobs, once every host's are
    /// known (none is still being set up or checked); `None` before.
    pub(crate) fn slots(&self) -> Option<usize> {
        let mut total = 0usize;
        for host in &self.hosts {
            match host.phase {
                Phase::New | Phase::Checking { .. } => return None,
                Phase::Down | Phase::Retired => {}
                _ => total = total.saturating_add(host.slots),
            }
        }
        Some(total)
    }

    /// Whether every host is down (or retired): nothing can run any more.
    pub(crate) fn all_gone(&self) -> bool {
        self.hosts
            .iter()
            .all(|h| matches!(h.phase, Phase::Down | Phase::Retired))
    }

    /// The host job `seq` should go to now, if any. `None` also when the
    /// job should wait for a busy host it has failed on less often.
    /// `groups`: `--hostgroups`' groups of the job (`None`: any host).
    pub(crate) fn pick(&self, seq: u64, groups: Option<&[String]>) -> Option<HostId> {
        let failed = self.failures.get(&seq);
        let fails = |id: HostId| failed.and_then(|f| f.get(&id)).copied().unwrap_or(0);
        let allowed = |id: HostId| super::hostgroups::allows(&self.get(id).login.groups, groups);
        let live = || {
            self.ids().filter(|&id| {
                !matches!(self.get(id).phase, Phase::Down | Phase::Retired) && self.get(id).slots > 0 && allowed(id)
            })
        };
        let best_anywhere = live().map(fails).min().unwrap_or(0);
        // Among free hosts: fewest failures of this job, then the most
        // free slots (spreading jobs), then the table's order.
        let chosen = self
            .ids()
            .filter(|&id| self.get(id).has_room() && allowed(id))
            .min_by_key(|&id| {
                let h = self.get(id);
                (fails(id), std::cmp::Reverse(h.slots - h.running), id)
            })?;
        (fails(chosen) <= best_anywhere).then_some(chosen)
    }

    /// Notes that job `seq` failed on `host` (for `--retries`).
    pub(crate) fn failed_on(&mut self, seq: u64, host: HostId) {
        *self.failures.entry(seq).or_default().entry(host).or_default() += 1;
    }

    /// Forgets a job that ended for good.
    pub(crate) fn forget(&mut self, seq: u64) {
        self.failures.remove(&seq);
        self.host_failures.remove(&seq);
    }

    /// Counts a host failing under job `seq`; returns how many have.
    pub(crate) fn host_failed_under(&mut self, seq: u64) -> u32 {
        let n = self.host_failures.entry(seq).or_default();
        *n += 1;
        *n
    }

    /// The host whose setup, probe or master `job` is.
    pub(crate) fn owner_of(&self, job: JobId) -> Option<HostId> {
        self.ids().find(|&id| {
            let h = self.get(id);
            let in_phase = match h.phase {
                Phase::Checking { job: j, .. } | Phase::Sending { job: j } | Phase::Suspect { job: j, .. } => j == job,
                _ => false,
            };
            in_phase || h.masters.iter().any(|m| m.job == Some(job))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::login::Entry;

    fn host(name: &str, slots: usize) -> Host {
        let login = match Login::parse(name).unwrap() {
            Entry::Login(l) => l,
            Entry::Groups(_) => unreachable!(),
        };
        let mut h = Host::new(login, "ssh", crate::remote::Multiplex::Never);
        h.phase = Phase::Ready;
        h.slots = slots;
        h
    }

    #[test]
    fn slots_follow_every_form_of_j() {
        assert_eq!(slots_for(None, 8, 99), 8);
        assert_eq!(slots_for(Some("3"), 8, 99), 3);
        assert_eq!(slots_for(Some("50%"), 8, 99), 4);
        assert_eq!(slots_for(Some("150%"), 3, 99), 5, "rounds up");
        assert_eq!(slots_for(Some("+2"), 8, 99), 10);
        assert_eq!(slots_for(Some("-2"), 8, 99), 6);
        assert_eq!(slots_for(Some("-20"), 8, 99), 0);
        assert_eq!(slots_for(Some("0"), 8, 99), 99);
        assert!(needs_cpus(None) && needs_cpus(Some("50%")) && needs_cpus(Some("+1")));
        assert!(!needs_cpus(Some("4")) && !needs_cpus(Some("0")));
    }

    #[test]
    fn jobs_spread_over_free_hosts() {
        let mut t = Table {
            hosts: vec![host("a", 2), host("b", 2)],
            ..Table::default()
        };
        let first = t.pick(1, None).unwrap();
        t.get_mut(first).running += 1;
        let second = t.pick(2, None).unwrap();
        assert_ne!(first, second, "the emptier host first");
        t.get_mut(second).running += 1;
        t.get_mut(HostId(0)).running += 1;
        t.get_mut(HostId(1)).running += 1;
        assert_eq!(t.pick(3, None), None, "all busy");
    }

    #[test]
    fn a_failed_job_waits_for_a_host_it_has_not_failed_on() {
        let mut t = Table {
            hosts: vec![host("a", 1), host("b", 1)],
            ..Table::default()
        };
        t.failed_on(7, HostId(0));
        t.get_mut(HostId(1)).running = 1;
        assert_eq!(t.pick(7, None), None, "b is busy; a is where it failed");
        assert_eq!(t.pick(8, None), Some(HostId(0)), "other jobs still go to a");
        t.get_mut(HostId(1)).running = 0;
        assert_eq!(t.pick(7, None), Some(HostId(1)));
        t.failed_on(7, HostId(1));
        t.get_mut(HostId(1)).running = 1;
        assert_eq!(t.pick(7, None), Some(HostId(0)), "failed everywhere as often: anywhere");
        t.get_mut(HostId(1)).phase = Phase::Down;
        t.failed_on(7, HostId(0));
        assert_eq!(t.pick(7, None), Some(HostId(0)), "down hosts do not count");
    }
}
