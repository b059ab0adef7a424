//! `--hostgroups` (`--hgrp`): an argument says which host groups may run
//! its job, as GNU parallel documents it.
//!
//! With the option, an argument's text from its first `@` on is taken off
//! and names the groups, `+` between them: `::: x@grp1 y@grp1+grp2`. A job
//! runs on a host in one of the groups of its first argument; an argument
//! without groups may run anywhere. A host is in the groups of its
//! sshlogin (`-S @grp1+grp2/host`) and in the group of its own name (`h1`,
//! `2/h1`). Groups that no sshlogin has are added as sshlogins of that
//! name, with GNU's warning (`Adding hostgroups: ...`). The job sees its
//! host's groups in `$PARALLEL_HOSTGROUPS` (`{hgrp}`) and its own in
//! `$PARALLEL_ARGHOSTGROUPS` (`{agrp}`).

use super::cluster::Cluster;
use super::hosts::{Host, Phase};
use super::login::{Entry, Login};
use crate::jobs::Job;

impl Cluster {
    /// Makes sure some host is in one of `groups`: if none is, each group
    /// no host has becomes an sshlogin of that name (as GNU parallel
    /// does). Returns GNU's warning then.
    pub(crate) fn adopt_groups(&mut self, groups: &[String]) -> Option<String> {
        let hosts = &self.table.hosts;
        let known = |g: &String| {
            hosts
                .iter()
                .any(|h| h.phase != Phase::Retired && h.login.groups.contains(g))
        };
        if groups.iter().any(known) {
            return None;
        }
        for group in groups {
            if let Ok(Entry::Login(login)) = Login::parse(group) {
                let host = Host::new(login, &self.settings.ssh, self.settings.multiplex);
                self.table.hosts.push(host);
            }
        }
        Some(format!("Adding hostgroups: {}", groups.join(" ")))
    }
}

/// Takes the groups off every argument of `job`; its groups are its
/// first argument's (`None`: any host).
pub(crate) fn take(job: &mut Job) {
    let mut first = None;
    for (i, value) in job.records.iter_mut().flatten().enumerate() {
        let groups = strip(value);
        if i == 0 {
            first = groups;
        }
    }
    for value in &mut job.args {
        strip(value);
    }
    job.hostgroups = first;
}

/// Cuts `value` at its first `@` that has something after it; the groups
/// named after it.
fn strip(value: &mut Vec<u8>) -> Option<Vec<String>> {
    let at = value
        .iter()
        .position(|&b| b == b'@')
        .filter(|&at| at + 1 < value.len())?;
    let groups = String::from_utf8_lossy(&value[at + 1..])
        .split('+')
        .map(str::to_owned)
        .collect();
    value.truncate(at);
    Some(groups)
}

/// `$PARALLEL_HOSTGROUPS` (the host's groups) and
/// `$PARALLEL_ARGHOSTGROUPS` (the job's; all the host's when it named
/// none, as in GNU parallel), `+` between the names.
pub(crate) fn variables(host_groups: &[String], job_groups: Option<&[String]>) -> [(Vec<u8>, Vec<u8>); 2] {
    let joined = |groups: &[String]| groups.join("+").into_bytes();
    [
        (b"PARALLEL_HOSTGROUPS".to_vec(), joined(host_groups)),
        (
            b"PARALLEL_ARGHOSTGROUPS".to_vec(),
            joined(job_groups.unwrap_or(host_groups)),
        ),
    ]
}

/// Whether a host in `host_groups` may run a job of `job_groups`.
pub(crate) fn allows(host_groups: &[String], job_groups: Option<&[String]>) -> bool {
    job_groups.is_none_or(|wanted| wanted.iter().any(|g| host_groups.contains(g)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(values: &[&str]) -> Job {
        let records: Vec<Vec<Vec<u8>>> = values.iter().map(|v| vec![v.as_bytes().to_vec()]).collect();
        let mut job = Job::for_test(records);
        take(&mut job);
        job
    }

    #[test]
    fn the_first_arguments_groups_are_the_jobs() {
        let j = job(&["x@g1+g2", "y@g3"]);
        assert_eq!(j.hostgroups, Some(vec!["g1".to_owned(), "g2".to_owned()]));
        assert_eq!(j.args, [b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(j.records[1][0], b"y");
        let j = job(&["a", "b@g"]);
        assert_eq!(j.hostgroups, None, "an argument without groups runs anywhere");
        // As GNU's `s:@(.+)::`: from the first @, and only with a name after it.
        let j = job(&["me@host@g"]);
        assert_eq!(
            (j.args[0].as_slice(), j.hostgroups),
            (&b"me"[..], Some(vec!["host@g".to_owned()]))
        );
        let j = job(&["trailing@"]);
        assert_eq!((j.args[0].as_slice(), j.hostgroups), (&b"trailing@"[..], None));
    }

    #[test]
    fn a_host_runs_jobs_of_its_groups() {
        let host = ["g1".to_owned(), "h1".to_owned()];
        assert!(allows(&host, None));
        assert!(allows(&host, Some(&["g2".to_owned(), "g1".to_owned()])));
        assert!(!allows(&host, Some(&["g2".to_owned()])));
    }
}
