//! Limits on running jobs: how many at once (`-j` in every form, bounded
//! by what the system gives), and what holds the next one back or stops a
//! running one: `--limit`, `--memsuspend`, `--noswap`.
//!
//! (`--delay`, `--memfree` and `--load` are older and live in `run`; they
//! share [`memory::free`] with `--memsuspend`.)

pub(crate) mod command;
pub(crate) mod cpus;
pub(crate) mod gate;
pub(crate) mod memory;
pub(crate) mod slots;
pub(crate) mod swap;
pub(crate) mod system;

use crate::shell::Shell;
use crate::units::parse_size;

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct LimitFlags {
    /// Before starting a job run COMMAND: exit 0 starts it, 1 waits, 2 also kills the youngest job ("io N", "load N" and "mem N" are built in).
    #[arg(
        long = "limit",
        value_name = "COMMAND",
        allow_hyphen_values = true,
        help_heading = "Jobs"
    )]
    pub(crate) limit: Option<String>,
    /// Suspend the youngest jobs while less than 2 x SIZE memory is free (one job runs below SIZE).
    #[arg(long = "memsuspend", value_name = "SIZE", help_heading = "Jobs")]
    pub(crate) memsuspend: Option<String>,
    /// Start no job while the computer swaps both in and out.
    #[arg(long = "noswap", help_heading = "Jobs")]
    pub(crate) noswap: bool,
    /// For -j N% +N -N and --load N%: count physical cores, not CPU threads.
    #[arg(
        long = "use-cores-instead-of-threads",
        visible_alias = "usecoresinsteadofthreads",
        help_heading = "Jobs"
    )]
    pub(crate) cores: bool,
    /// For -j N% +N -N and --load N%: count CPU sockets, not CPU threads.
    #[arg(
        long = "use-sockets-instead-of-threads",
        visible_aliases = ["usesocketsinsteadofthreads", "use-cpus-instead-of-cores", "usecpusinsteadofcores"],
        help_heading = "Jobs"
    )]
    pub(crate) sockets: bool,
}

/// The checked limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    /// `--limit`.
    pub(crate) limit: Option<command::Limit>,
    /// `--memsuspend`, in bytes.
    pub(crate) memsuspend: Option<u64>,
    /// `--noswap`.
    pub(crate) noswap: bool,
}

impl LimitFlags {
    /// Chooses the CPU unit; call before anything counts CPUs.
    pub(crate) fn set_cpu_unit(&self) {
        cpus::set_unit(if self.sockets {
            cpus::Unit::Sockets
        } else if self.cores {
            cpus::Unit::Cores
        } else {
            cpus::Unit::Threads
        });
    }

    /// Checks the values.
    pub(crate) fn resolve(&self, shell: &Shell) -> Result<Limits, String> {
        let limit = self
            .limit
            .as_deref()
            .map(|l| command::Limit::parse(l, shell))
            .transpose()?;
        let memsuspend = self
            .memsuspend
            .as_deref()
            .map(|m| {
                parse_size(m)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("invalid --memsuspend {m:?}: use a size such as 500M or 2G"))
            })
            .transpose()?;
        Ok(Limits {
            limit,
            memsuspend,
            noswap: self.noswap,
        })
    }
}
