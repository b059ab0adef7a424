//! Least privilege: what a worker gives up before it runs any user code.
//!
//! The settings come from the builder (`run_as`, `no_new_privileges`,
//! `rlimit`, `sandbox`), are checked in the client by `build()`
//! ([`Confinement::check_client`]), travel to each worker inside its
//! `WorkerConfig`, and are applied by the worker to itself
//! ([`Confinement::apply`]).
//!
//! # Which process does what
//!
//! - The **client** only checks: that it may change ids at all (root, or
//!   `CAP_SETUID` + `CAP_SETGID`), that the kernel can enforce the sandbox,
//!   that the sandbox's paths exist. It never changes its own credentials,
//!   limits or Landlock domain, and its `pre_exec` hooks (the only code that
//!   runs after a `fork` in a threaded process) do nothing new.
//! - The **zygote** keeps the client's credentials and limits, unconfined:
//!   it must go on forking workers, and it runs `preload`, which may read
//!   what tasks will not be allowed to.
//! - Each **worker** confines itself, right after it is forked from the
//!   zygote (single-threaded, so any code may run) or, with the exec start
//!   method, right after it has re-executed `/proc/self/exe` and run
//!   `preload` (before confining, it checks that it is single-threaded:
//!   credentials, `no_new_privs` and Landlock are per thread). It does so
//!   before `worker_init` and every task, which therefore run confined.
//!
//! # Order of operations, in a worker
//!
//! 1. Open what will be needed later and could not be opened afterwards:
//!    the Landlock ruleset and its paths (opened with the client's ids, so
//!    a path the client can name works), and what the worker itself reads
//!    from `/proc` (its code map; its `/proc/self/status` for
//!    `memory_limit`).
//! 2. `run_as`: supplementary groups cleared, then the group id, then the
//!    user id, each real, effective *and* saved, so there is no way back;
//!    then read back and checked (ids, groups, capabilities).
//! 3. The credential change cleared `PR_SET_PDEATHSIG`: it is set again,
//!    and the parent checked, so the worker still dies with its parent.
//!    (It also made the worker non-dumpable, which is kept.)
//! 4. Resource limits, which only ever tighten.
//! 5. `PR_SET_NO_NEW_PRIVS`, then the Landlock sandbox (which requires it).
//!
//! Any failure ends the worker's start with a message that says what did
//! not take (`build()` fails with it, later tasks end with
//! `WorkerStartFailed`): a worker never runs with less confinement than
//! was asked for.

mod identity;
mod rlimit;
mod sandbox;

use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

pub use rlimit::Rlimit;
pub use sandbox::Sandbox;

pub(crate) use identity::RunAs;
pub(crate) use rlimit::CpuBudget;
pub(crate) use sandbox::SandboxSpec;

use crate::sys;

/// Everything a worker gives up, as it travels to the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Confinement {
    pub(crate) run_as: Option<RunAs>,
    pub(crate) no_new_privileges: bool,
    pub(crate) rlimits: Vec<Rlimit>,
    pub(crate) sandbox: Option<SandboxSpec>,
}

/// What stays with the worker after [`Confinement::apply`].
#[derive(Debug, Default)]
pub(crate) struct Confined {
    /// The per-task CPU allowance, with `Rlimit::CpuSeconds`.
    pub(crate) cpu: Option<CpuBudget>,
}

impl Confinement {
    /// True when nothing is to be given up (the worker skips everything).
    pub(crate) fn is_empty(&self) -> bool {
        self == &Confinement::default()
    }

    /// `CpuSeconds`, if set.
    pub(crate) fn cpu_seconds(&self) -> Option<u64> {
        self.rlimits.iter().find_map(|limit| match limit {
            Rlimit::CpuSeconds(n) => Some(*n),
            _ => None,
        })
    }

    /// Whether the worker must be single-threaded when it confines itself
    /// (the calls that change it are per thread).
    fn per_thread(&self) -> bool {
        self.run_as.is_some() || self.no_new_privileges || self.sandbox.is_some()
    }

    /// In the client, for `build()`: what no worker could do.
    pub(crate) fn check_client(&self) -> Result<(), String> {
        match &self.run_as {
            Some(run_as) => run_as.check_client(),
            None => Ok(()),
        }
    }

    /// In a new worker whose parent is `parent`: gives everything up, in
    /// the order the module docs give. Exits quietly if the parent is gone.
    pub(crate) fn apply(&self, parent: Pid) -> Result<Confined, String> {
        if self.is_empty() {
            return Ok(Confined::default());
        }
        if self.per_thread() {
            match sys::threads::count() {
                Ok(1) => {}
                Ok(n) => {
                    return Err(format!(
                        "the worker has {n} threads (did preload start some?); it must have one to drop \
                         privileges, since ids, no_new_privs and Landlock are set per thread"
                    ));
                }
                Err(e) => return Err(format!("cannot count the worker's threads: {e}")),
            }
        }
        // 1. What must be opened first.
        let sandbox = match &self.sandbox {
            Some(spec) => {
                sys::code::prepare();
                Some(spec.prepare()?)
            }
            None => None,
        };
        // 2, 3. Ids, then the parent-death signal they cleared.
        if let Some(run_as) = &self.run_as {
            run_as.drop_privileges()?;
            if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err()
                || rustix::process::getppid() != Some(parent)
            {
                std::process::exit(0);
            }
        }
        // 4. Limits.
        let mut confined = Confined::default();
        for limit in &self.rlimits {
            match limit {
                Rlimit::CpuSeconds(n) => confined.cpu = Some(CpuBudget::start(*n)?),
                other => other.apply()?,
            }
        }
        // 5. no_new_privs, then Landlock.
        if self.no_new_privileges {
            rustix::thread::set_no_new_privs(true).map_err(|e| format!("cannot set no_new_privs: {e}"))?;
        }
        if let Some(sandbox) = sandbox {
            sandbox.enforce()?;
        }
        Ok(confined)
    }
}
