//! ControlMasters: a host's ssh connections, logged in once and shared.
//!
//! A fresh ssh login costs hundreds of milliseconds (key exchange,
//! authentication, a new sshd); a session over an open connection costs a
//! few. So each host that is reached with OpenSSH gets masters (`ssh -M
//! -N`), one per job slot, and each job runs over a master of its own:
//! one session per connection, so no sshd's `MaxSessions` can refuse it.
//! A host's masters log in a few at a time (no `MaxStartups` to trip), and
//! the host takes jobs as soon as its first master is up; the others follow
//! while jobs run.
//!
//! A master that cannot connect leaves its slot to a direct login (after a
//! few failures the host stops trying); a host none of whose masters
//! connect is checked with a plain login, and used without masters if that
//! works (an ssh that is not OpenSSH, say) or counted down if it does not.
//!
//! The sockets live in a private directory of the run, removed at the end;
//! each master runs under a shell that removes its socket (and, if it is
//! the last, the directory) however the master ends, so none outlives
//! the run even if forkpool is killed (see `ssh::Ssh::master`).

use std::time::Instant;

use forkpool::command::{JobId, Supervisor, TermSeq};

use super::cluster::{Change, Cluster};
use super::hosts::{HostId, Master, Phase};

/// Masters of one host logging in at once.
const AT_ONCE: usize = 4;
/// Masters of a host that may fail before it stops trying.
pub(crate) const MAX_FAILURES: u32 = 3;

impl Cluster {
    /// Starts a host's masters (it has its slots).
    pub(crate) fn connect(&mut self, id: HostId, supervisor: &mut Supervisor, changes: &mut Vec<Change>) {
        self.table.get_mut(id).phase = Phase::Connecting {
            deadline: Instant::now() + super::cluster::CONNECT_TIMEOUT,
        };
        self.ramp_up(id, supervisor);
        if self.table.get(id).masters.iter().all(|m| m.job.is_none()) {
            // Not even one could start.
            self.give_up_masters(id, supervisor, changes);
        }
    }

    /// Starts more masters while the host has slots without one.
    pub(crate) fn ramp_up(&mut self, id: HostId, supervisor: &mut Supervisor) {
        let Some(control) = &self.control else { return };
        let host = self.table.get_mut(id);
        if !host.multiplex || host.master_failures >= MAX_FAILURES {
            return;
        }
        loop {
            let alive = host.masters.iter().filter(|m| m.job.is_some()).count();
            let connecting = host.masters.iter().filter(|m| m.job.is_some() && !m.ready).count();
            if alive >= host.slots || connecting >= AT_ONCE {
                return;
            }
            let socket = control.socket(id.0, host.masters.len());
            match super::cluster::spawn(supervisor, host.ssh.master(&socket), false) {
                Ok(job) => host.masters.push(Master {
                    socket,
                    job: Some(job),
                    ready: false,
                    busy: false,
                }),
                Err(_) => {
                    host.master_failures += 1;
                    return;
                }
            }
        }
    }

    /// Marks the masters whose socket is there; the first one up lets the
    /// host go on (to its basefiles, then jobs). Past the deadline with
    /// none up, the masters are given up.
    pub(crate) fn check_sockets(&mut self, id: HostId, supervisor: &mut Supervisor, changes: &mut Vec<Change>) {
        let host = self.table.get_mut(id);
        for m in &mut host.masters {
            if m.job.is_some() && !m.ready && m.socket.exists() {
                m.ready = true;
            }
        }
        let any_ready = host.masters.iter().any(|m| m.ready);
        if let Phase::Connecting { deadline } = host.phase {
            if any_ready {
                self.send_basefiles(id, supervisor, changes);
            } else if Instant::now() >= deadline || host.master_failures >= MAX_FAILURES {
                self.give_up_masters(id, supervisor, changes);
            }
        }
        if matches!(self.table.get(id).phase, Phase::Ready | Phase::Sending { .. }) {
            self.ramp_up(id, supervisor);
        }
    }

    /// No master of the host connects: stop them, and see whether a plain
    /// login works.
    fn give_up_masters(&mut self, id: HostId, supervisor: &mut Supervisor, changes: &mut Vec<Change>) {
        let host = self.table.get_mut(id);
        for m in &mut host.masters {
            if let Some(job) = m.job.take() {
                supervisor.terminate(job, &TermSeq::immediate(libc::SIGTERM));
            }
            m.ready = false;
        }
        host.multiplex = false;
        // The probe decides: up (jobs log in directly) or down.
        host.phase = Phase::Ready;
        if !self.suspect(id, supervisor) {
            let name = self.table.get(id).name.clone();
            self.host_down(id, format!("Cannot log in to {name}: its jobs run elsewhere."), changes);
        }
    }

    /// A master ended: its slot logs in directly until another master
    /// takes its place.
    pub(crate) fn master_ended(&mut self, id: HostId, job: JobId) {
        let host = self.table.get_mut(id);
        for m in host.masters.iter_mut().filter(|m| m.job == Some(job)) {
            m.job = None;
            m.ready = false;
            host.master_failures += 1;
        }
    }
}
