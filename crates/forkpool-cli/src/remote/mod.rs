//! Running jobs on other machines: GNU parallel's `--sshlogin` family,
//! file transfer, `--env`, `--onall`, and Slurm.
//!
//! - `login.rs`: sshlogins, as `-S` and `--sshloginfile` give them;
//! - `ssh.rs`: the ssh command line for a host, and its ControlMasters;
//! - `wrapper.rs`: the remote wrapper that runs a job and kills its
//!   process group when the connection dies;
//! - `hosts.rs`: the hosts, their job slots and state, which host a job
//!   goes to;
//! - `cluster.rs`: a run's hosts at work: setting them up, probing a host
//!   that failed, shutting down;
//! - `launch.rs`: a job's command for its host;
//! - `transfer.rs`: `--transferfile`, `--return`, `--cleanup`, `--basefile`
//!   with rsync; `env.rs`: `--env`; `onall.rs`: `--onall`/`--nonall`;
//!   `slurm.rs`: jobs as Slurm job steps.
//!
//! `README.md` beside this file tells how a remote job starts, how it dies
//! with forkpool, and how hosts fail.

pub(crate) mod cluster;
pub(crate) mod env;
pub(crate) mod hostgroups;
pub(crate) mod hosts;
pub(crate) mod launch;
pub(crate) mod login;
pub(crate) mod masters;
pub(crate) mod onall;
pub(crate) mod slurm;
pub(crate) mod ssh;
pub(crate) mod transfer;
pub(crate) mod wrapper;

use std::time::Duration;

use login::{Login, LoginFile};
use transfer::Rsync;

/// The options of this room, as typed.
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct RemoteFlags {
    /// Run jobs on these hosts: [@GROUP/][N/][SSHCMD ][USER@]HOST[:PORT], ':' for this machine, comma-separated or repeated.
    #[arg(
        short = 'S',
        long = "sshlogin",
        value_name = "LOGINS",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) sshlogin: Vec<String>,
    /// Read sshlogins from FILE, one a line ('..' is ~/.parallel/sshloginfile); re-read when it changes.
    #[arg(
        long = "sshloginfile",
        visible_alias = "slf",
        value_name = "FILE",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) sshloginfile: Vec<String>,
    /// The ssh command [default: $PARALLEL_SSH, else ssh].
    #[arg(
        long = "ssh",
        value_name = "CMD",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) ssh: Option<String>,
    /// Wait this long between starting ssh connections.
    #[arg(
        long = "sshdelay",
        visible_alias = "ssh-delay",
        value_name = "DURATION",
        help_heading = "Remote"
    )]
    pub(crate) sshdelay: Option<String>,
    /// Check every host's login first; leave out those that fail.
    #[arg(
        long = "filter-hosts",
        visible_alias = "filterhosts",
        alias = "filter-host",
        help_heading = "Remote"
    )]
    pub(crate) filter_hosts: bool,
    /// Share ssh connections with ControlMaster even when the ssh command is not plain OpenSSH.
    #[arg(short = 'M', long = "controlmaster", help_heading = "Remote")]
    pub(crate) controlmaster: bool,
    /// Log in anew for every job instead of sharing ssh connections.
    #[arg(long = "no-controlmaster", help_heading = "Remote", conflicts_with = "controlmaster")]
    pub(crate) no_controlmaster: bool,
    /// Run the command once on every host, with no arguments.
    #[arg(long = "nonall", help_heading = "Remote")]
    pub(crate) nonall: bool,
    /// Run every job on every host.
    #[arg(long = "onall", help_heading = "Remote")]
    pub(crate) onall: bool,
    /// Copy FILE to the host before the job (replacement strings allowed).
    #[arg(
        long = "transferfile",
        visible_alias = "tf",
        aliases = ["transfer-file", "transfer-files", "transferfiles"],
        value_name = "FILE",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) transferfile: Vec<String>,
    /// Copy the input ({}) to the host before the job: --transferfile {}.
    #[arg(long = "transfer", help_heading = "Remote")]
    pub(crate) transfer: bool,
    /// Copy FILE back from the host after the job.
    #[arg(
        long = "return",
        value_name = "FILE",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) returns: Vec<String>,
    /// --transfer --return FILE --cleanup.
    #[arg(
        long = "trc",
        value_name = "FILE",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) trc: Vec<String>,
    /// Copy FILE to every host once, before its first job.
    #[arg(
        long = "basefile",
        visible_alias = "bf",
        value_name = "FILE",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) basefile: Vec<String>,
    /// Options for rsync [default: $PARALLEL_RSYNC_OPTS, else -rlDzR].
    #[arg(
        long = "rsync-opts",
        alias = "rsyncopts",
        value_name = "OPTIONS",
        help_heading = "Remote",
        allow_hyphen_values = true
    )]
    pub(crate) rsync_opts: Option<String>,
    /// Run each job as a Slurm job step (srun --exact -N1 -n1) in the current allocation.
    #[arg(long = "slurm", help_heading = "Remote")]
    pub(crate) slurm: bool,
    /// An argument ARG@GRP[+GRP...] runs only on hosts of those groups (-S @GRP/host).
    #[arg(
        long = "hostgroups",
        visible_alias = "hgrp",
        alias = "hostgroup",
        alias = "hostgrp",
        help_heading = "Remote"
    )]
    pub(crate) hostgroups: bool,
}

/// Whether jobs share ssh connections (ControlMasters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Multiplex {
    /// When the ssh command is OpenSSH's (the default).
    #[default]
    Auto,
    /// `-M`: whatever the ssh command.
    Always,
    /// `--no-controlmaster`: a fresh login per job.
    Never,
}

/// `--onall` or `--nonall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnAll {
    /// Every job on every host.
    Jobs,
    /// The command alone on every host.
    NoArgs,
}

/// `--workdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Workdir {
    /// `.`: the current dir, relative to the home dir if under it.
    Here,
    /// `...`: a new dir per job under `~/.parallel/tmp`, removed after it.
    Fresh,
    /// A dir (replacement strings allowed).
    Dir(Vec<u8>),
}

/// The checked remote settings of a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// The sshlogins (empty: everything runs here, as before).
    pub(crate) logins: Vec<Login>,
    /// `-S` values as typed and `--sshloginfile`s, read again when the
    /// files change.
    pub(crate) sshlogin_values: Vec<String>,
    pub(crate) files: Vec<LoginFile>,
    /// The ssh command for sshlogins without their own.
    pub(crate) ssh: String,
    pub(crate) ssh_delay: Option<Duration>,
    pub(crate) filter_hosts: bool,
    pub(crate) multiplex: Multiplex,
    pub(crate) on_all: Option<OnAll>,
    /// `--transferfile`s (templates, as typed).
    pub(crate) transfer: Vec<Vec<u8>>,
    pub(crate) returns: Vec<Vec<u8>>,
    pub(crate) cleanup: bool,
    pub(crate) basefiles: Vec<Vec<u8>>,
    pub(crate) workdir: Option<Workdir>,
    /// `--env`, resolved.
    pub(crate) env: env::Exported,
    pub(crate) rsync: Rsync,
    /// `-j` as typed: each host's slots follow from it.
    pub(crate) jobs: Option<String>,
    pub(crate) slurm: Option<slurm::Slurm>,
    /// `--hostgroups`.
    pub(crate) hostgroups: bool,
}

impl Settings {
    /// Whether jobs are placed on hosts (anything but plain local runs).
    pub(crate) fn has_hosts(&self) -> bool {
        !self.logins.is_empty() || !self.files.is_empty()
    }

    /// The job slots of all the hosts together, when they are known before
    /// any host is reached (each login's `N/`, `:`'s own CPUs, or a `-j`
    /// that does not depend on CPUs); `None` when a host's CPUs must be
    /// counted first, or the hosts come from a file (read as the run goes).
    /// `unbounded` is what `-j 0` allows in all. It matches what the
    /// run's hosts get once set up (`cluster`).
    pub(crate) fn known_slots(&self, unbounded: usize) -> Option<usize> {
        if self.logins.is_empty() || !self.files.is_empty() || self.filter_hosts {
            return None;
        }
        let per_host = (unbounded / self.logins.len()).max(1);
        let jobs = self.jobs.as_deref();
        self.logins.iter().try_fold(0usize, |total, login| {
            let cpus = match (login.cpus, login.is_local()) {
                (Some(n), _) => n,
                (None, true) => crate::config::cpus(),
                (None, false) if hosts::needs_cpus(jobs) => return None,
                (None, false) => 1,
            };
            Some(total.saturating_add(hosts::slots_for(jobs, cpus, per_host)))
        })
    }
}

/// The options remote jobs share with local ones, whose flags live in
/// their own rooms (`--workdir`, `--env`, `--cleanup`), and `-j`, all as
/// typed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shared<'a> {
    pub(crate) jobs: Option<&'a str>,
    pub(crate) workdir: Option<&'a str>,
    pub(crate) env: &'a [String],
    pub(crate) cleanup: bool,
}

impl RemoteFlags {
    /// GNU parallel's warning when files are to go to hosts or come back
    /// and no job runs on one (`-S :` is this machine): it names the first
    /// such option in its order. `cleanup`: a `--cleanup` that removes no
    /// `--template` files (those it removes here too).
    pub(crate) fn warn_of_no_hosts(&self, cleanup: bool) {
        let ignored = if !self.trc.is_empty() {
            "--trc"
        } else if self.transfer {
            "--transfer"
        } else if !self.transferfile.is_empty() {
            "--transferfile"
        } else if !self.returns.is_empty() {
            "--return"
        } else if cleanup {
            "--cleanup"
        } else if !self.basefile.is_empty() {
            "--basefile"
        } else {
            return;
        };
        warning!("{ignored} ignored as there are no remote --sshlogin.");
    }

    /// Checks the flags, with the options remote jobs share with local ones.
    pub(crate) fn resolve(&self, shared: Shared<'_>) -> Result<Settings, String> {
        let files = self
            .sshloginfile
            .iter()
            .map(|f| LoginFile::resolve(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.0)?;
        let mut logins = login::collect(&self.sshlogin, &files).map_err(|e| e.0)?;
        if (!self.sshlogin.is_empty() || !files.is_empty()) && logins.is_empty() {
            return Err("No sshlogins to run on.".to_owned());
        }
        let ssh = self
            .ssh
            .clone()
            .or_else(|| std::env::var("PARALLEL_SSH").ok())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "ssh".to_owned());
        let ssh_delay = self
            .sshdelay
            .as_deref()
            .map(|d| {
                // A real number, as Getopt::Long reads GNU's `ssh-delay=f`
                // (`1e3`, `.5`, `1_0`; the option parser refused any other
                // text, `getopt::typed_value_refused`).
                let real = d.replace('_', "").parse::<f64>().ok().filter(|s| s.is_finite());
                real.and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok())
                    .ok_or_else(|| format!("invalid --sshdelay {d:?}: use a number of seconds"))
            })
            .transpose()?;
        let mut transfer: Vec<Vec<u8>> = self.transferfile.iter().map(|s| s.clone().into_bytes()).collect();
        let mut returns: Vec<Vec<u8>> = self.returns.iter().map(|s| s.clone().into_bytes()).collect();
        if self.transfer || !self.trc.is_empty() {
            transfer.push(b"{}".to_vec());
        }
        returns.extend(self.trc.iter().map(|s| s.clone().into_bytes()));
        let workdir = shared.workdir.map(|w| match w {
            "." => Workdir::Here,
            "..." => Workdir::Fresh,
            other => Workdir::Dir(other.as_bytes().to_vec()),
        });
        let rsync = Rsync {
            options: self
                .rsync_opts
                .clone()
                .or_else(|| std::env::var("PARALLEL_RSYNC_OPTS").ok())
                .unwrap_or_else(|| Rsync::default().options),
        };
        let on_all = if self.nonall {
            Some(OnAll::NoArgs)
        } else if self.onall {
            Some(OnAll::Jobs)
        } else {
            None
        };
        let remote = logins.iter().any(|l| !l.is_local());
        let env = if remote {
            env::Exported::resolve(shared.env)?
        } else {
            env::Exported::default()
        };
        if remote && (!transfer.is_empty() || !returns.is_empty() || !self.basefile.is_empty()) {
            transfer::check_rsync()?;
        }
        let basefiles: Vec<Vec<u8>> = self.basefile.iter().map(|s| s.clone().into_bytes()).collect();
        if workdir == Some(Workdir::Fresh) && basefiles.iter().any(|b| !b.starts_with(b"/")) {
            return Err("Work dir '...' will not work with relative basefiles.".to_owned());
        }
        if on_all.is_some() && logins.is_empty() && !self.slurm {
            // As in GNU parallel: with no sshlogin, every host is this one.
            if let Ok(login::Entry::Login(here)) = login::Login::parse(":") {
                logins.push(here);
            }
        }
        let slurm = if self.slurm {
            if !logins.is_empty() {
                return Err("--slurm runs jobs in the Slurm allocation: it does not go with --sshlogin.".to_owned());
            }
            Some(slurm::Slurm::detect()?)
        } else {
            None
        };
        Ok(Settings {
            logins,
            sshlogin_values: self.sshlogin.clone(),
            files,
            ssh,
            ssh_delay,
            filter_hosts: self.filter_hosts,
            multiplex: if self.no_controlmaster {
                Multiplex::Never
            } else if self.controlmaster {
                Multiplex::Always
            } else {
                Multiplex::Auto
            },
            on_all,
            transfer,
            returns,
            cleanup: shared.cleanup || !self.trc.is_empty(),
            basefiles,
            workdir,
            env,
            rsync,
            jobs: shared.jobs.map(str::to_owned),
            slurm,
            hostgroups: self.hostgroups,
        })
    }
}
