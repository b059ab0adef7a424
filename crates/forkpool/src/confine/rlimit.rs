//! Resource limits set in every worker.

use rustix::process::{Resource, Rlimit as Limit};
use serde::{Deserialize, Serialize};

use crate::sys;

/// A resource limit (`setrlimit(2)`) set in every worker; see
/// [`PoolBuilder::rlimit`](crate::PoolBuilder::rlimit).
///
/// Each sets both the soft and the hard limit, so that a task cannot raise
/// it again, and never above the hard limit the worker inherited from your
/// process: a limit only ever tightens.
///
/// ```
/// use forkpool::{Pool, Rlimit};
///
/// let pool = Pool::builder()
///     .workers(1)
///     .rlimit(Rlimit::OpenFiles(64))
///     .rlimit(Rlimit::CoreSize(0))
///     .build()?;
/// let opened = pool
///     .submit(
///         |_: ()| {
///             let files: Vec<_> = (0..100).map_while(|_| std::fs::File::open("/dev/null").ok()).collect();
///             files.len()
///         },
///         (),
///     )
///     .join()
///     .unwrap();
/// assert!(opened < 64, "{opened}");
/// # Ok::<(), forkpool::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rlimit {
    /// CPU seconds each task may use (`RLIMIT_CPU`). A task past it ends
    /// with [`TaskError::CpuLimitExceeded`](crate::TaskError::CpuLimitExceeded)
    /// (the kernel's `SIGXCPU`); a task that ignores `SIGXCPU` is killed
    /// one second later (`SIGKILL`, reported as a crash).
    ///
    /// The kernel counts CPU time per *process*, and a worker runs many
    /// tasks; so that one task is not blamed for the time of those before
    /// it, the worker moves its soft limit to "used so far + this many"
    /// before each task (so a task gets at least this many seconds, and at
    /// most about one more: the limit is in whole seconds), under a hard limit
    /// fixed when it starts, and retires (is replaced, between tasks) once
    /// it has used about three tasks' worth. Code that raises its own soft
    /// limit can therefore use at most four times this before `SIGKILL`.
    CpuSeconds(u64),
    /// The most file descriptors the worker may have open (`RLIMIT_NOFILE`):
    /// one more than the highest descriptor number it may open. The worker
    /// holds a few itself (its standard streams, its socket, its status
    /// page), and descriptors passed to a task count too. Opening past it
    /// fails with `EMFILE`.
    OpenFiles(u64),
    /// The largest file, in bytes, a task may write (`RLIMIT_FSIZE`).
    /// Writing past it fails with `EFBIG`: workers with this limit ignore
    /// `SIGXFSZ`, which would otherwise kill them (programs a task starts
    /// inherit both the limit and the ignored signal).
    FileSize(u64),
    /// The most processes (threads included) the workers' *user* may have
    /// (`RLIMIT_NPROC`). The kernel counts every process of that user, the
    /// pool's workers among them, and does not enforce it for root: use it
    /// with [`run_as`](crate::PoolBuilder::run_as). `fork` past it fails
    /// with `EAGAIN`.
    Processes(u64),
    /// The largest core dump, in bytes, a crashing worker may write
    /// (`RLIMIT_CORE`). `CoreSize(0)` means no core dump at all: the worker
    /// is also made non-dumpable, because a `core_pattern` that pipes to a
    /// program ignores `RLIMIT_CORE`. (A worker that
    /// [`run_as`](crate::PoolBuilder::run_as) another user is never
    /// dumpable: see the crate docs.)
    CoreSize(u64),
}

impl Rlimit {
    /// Which limit this is, for "the last one set wins".
    pub(crate) fn same_kind(&self, other: &Rlimit) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    pub(crate) fn value(&self) -> u64 {
        match *self {
            Rlimit::CpuSeconds(n)
            | Rlimit::OpenFiles(n)
            | Rlimit::FileSize(n)
            | Rlimit::Processes(n)
            | Rlimit::CoreSize(n) => n,
        }
    }

    fn resource(&self) -> Resource {
        match self {
            Rlimit::CpuSeconds(_) => Resource::Cpu,
            Rlimit::OpenFiles(_) => Resource::Nofile,
            Rlimit::FileSize(_) => Resource::Fsize,
            Rlimit::Processes(_) => Resource::Nproc,
            Rlimit::CoreSize(_) => Resource::Core,
        }
    }

    /// Why this value cannot be used, if it cannot.
    pub(crate) fn invalid(&self) -> Option<&'static str> {
        match self {
            Rlimit::CpuSeconds(0) => Some("Rlimit::CpuSeconds must be at least 1 second"),
            Rlimit::OpenFiles(0) => Some("Rlimit::OpenFiles must be at least 1"),
            _ => None,
        }
    }

    /// Sets the limit in this process (a worker). `CpuSeconds` is set up by
    /// [`CpuBudget::start`] instead.
    pub(crate) fn apply(&self) -> Result<(), String> {
        if let Rlimit::CpuSeconds(_) = self {
            return Ok(());
        }
        let value = tighten(self.resource(), self.value());
        rustix::process::setrlimit(
            self.resource(),
            Limit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(|e| format!("cannot set {self:?}: {e}"))?;
        match self {
            Rlimit::FileSize(_) => {
                sys::abort::ignore_sigxfsz().map_err(|e| format!("cannot ignore SIGXFSZ: {e}"))?;
            }
            Rlimit::CoreSize(0) => {
                rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
                    .map_err(|e| format!("cannot make the worker non-dumpable: {e}"))?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// `value`, but never above the hard limit this process already has.
fn tighten(resource: Resource, value: u64) -> u64 {
    match rustix::process::getrlimit(resource).maximum {
        Some(hard) => value.min(hard),
        None => value,
    }
}

/// A worker's per-task CPU allowance, kept on top of the per-process
/// `RLIMIT_CPU` (see [`Rlimit::CpuSeconds`]).
#[derive(Debug)]
pub(crate) struct CpuBudget {
    /// Seconds each task gets.
    per_task: u64,
    /// The hard limit, fixed at start: the most this worker may ever use.
    hard: u64,
    /// What a task started in a fresh worker would get (less than
    /// `per_task` only when the inherited hard limit is lower).
    full: u64,
    /// The soft limit now set.
    soft: u64,
    /// The last reading of the CPU clock, in ns, and the coarse wall-clock
    /// tick it was taken in.
    used_ns: u64,
    read_at: Option<u64>,
}

/// A worker retires once the headroom left under its hard limit is less
/// than one task's; the hard limit is this many tasks' worth.
const TASKS_PER_WORKER: u64 = 4;
/// Added to a reading of the CPU clock before it is rounded up. The clock
/// is read again only once the coarse wall clock has ticked (reading it is
/// dear next to a trivial task, ~0.2 µs), so tasks that ran within one
/// tick since the last reading are not in it: they used at most a tick
/// (a few ms) per busy thread, well within this.
const UNREAD_SLACK_NS: u64 = 50_000_000;

impl CpuBudget {
    /// Sets the hard limit and the first task's soft limit.
    pub(crate) fn start(per_task: u64) -> Result<CpuBudget, String> {
        let used = used_seconds()?;
        let hard = tighten(
            Resource::Cpu,
            used.saturating_add(per_task.saturating_mul(TASKS_PER_WORKER))
                .saturating_add(1),
        );
        let mut budget = CpuBudget::new(per_task, used, hard);
        budget.set(budget.soft)?;
        Ok(budget)
    }

    fn new(per_task: u64, used: u64, hard: u64) -> CpuBudget {
        // The soft limit stays below the hard one, so that SIGXCPU (which
        // the pool reports by name) comes before SIGKILL.
        let ceiling = hard.saturating_sub(1);
        let full = per_task.min(ceiling.saturating_sub(used));
        CpuBudget {
            per_task,
            hard,
            full,
            soft: used.saturating_add(per_task).min(ceiling),
            used_ns: used.saturating_mul(1_000_000_000),
            read_at: None,
        }
    }

    /// CPU seconds used, rounded up, as of the coarse wall-clock tick
    /// `now` (see `UNREAD_SLACK_NS`).
    fn used_at(&mut self, now: u64) -> u64 {
        if self.read_at != Some(now)
            && let Ok(ns) = sys::cpu_clock::profiling_ns()
        {
            self.used_ns = ns;
            self.read_at = Some(now);
        }
        self.used_ns.saturating_add(UNREAD_SLACK_NS).div_ceil(1_000_000_000)
    }

    /// The soft limit a task starting after `used` seconds gets.
    fn soft_for(&self, used: u64) -> u64 {
        used.saturating_add(self.per_task).min(self.hard.saturating_sub(1))
    }

    /// Before each task, at coarse wall-clock time `now`: give it its own
    /// allowance. At most one `clock_gettime` a tick, and a `setrlimit`
    /// only when a whole second has gone by. (Raising the soft limit this
    /// way is exact only on the kernel's own clock: see `sys::cpu_clock`.)
    pub(crate) fn before_task(&mut self, now: u64) {
        let used = self.used_at(now);
        let soft = self.soft_for(used);
        if soft != self.soft {
            // On failure the previous, lower limit stays: a task may be cut
            // short, never given more.
            let _ = self.set(soft);
        }
    }

    /// Between jobs, at coarse wall-clock time `now`: true when the next
    /// task could not get a fresh worker's allowance here, and the worker
    /// should make way for one.
    pub(crate) fn should_retire(&mut self, now: u64) -> bool {
        let used = self.used_at(now);
        self.exhausted_at(used)
    }

    fn exhausted_at(&self, used: u64) -> bool {
        self.soft_for(used).saturating_sub(used) < self.full
    }

    fn set(&mut self, soft: u64) -> Result<(), String> {
        rustix::process::setrlimit(
            Resource::Cpu,
            Limit {
                current: Some(soft),
                maximum: Some(self.hard),
            },
        )
        .map_err(|e| format!("cannot set the CPU time limit: {e}"))?;
        self.soft = soft;
        Ok(())
    }
}

/// CPU seconds this process has used, rounded up, on the clock
/// `RLIMIT_CPU` is compared with and in the unit it is set in.
fn used_seconds() -> Result<u64, String> {
    let ns = sys::cpu_clock::profiling_ns().map_err(|e| format!("cannot read the CPU clock: {e}"))?;
    Ok(ns.div_ceil(1_000_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_gets_its_own_allowance_until_the_worker_retires() {
        // 10 s a task, fresh worker: hard limit at 41 s.
        let budget = CpuBudget::new(10, 0, 41);
        assert_eq!(budget.soft, 10);
        assert_eq!(budget.full, 10);
        // After 7 s of earlier tasks the next one still gets 10.
        assert_eq!(budget.soft_for(7), 17);
        assert!(!budget.exhausted_at(7));
        assert_eq!(budget.soft_for(30), 40);
        assert!(!budget.exhausted_at(30));
        // Past 30 s a task would get less than 10: retire.
        assert_eq!(budget.soft_for(31), 40);
        assert!(budget.exhausted_at(31));
    }

    #[test]
    fn a_lower_inherited_hard_limit_is_kept() {
        // The client allows 5 s in all; the task asked for 10.
        let budget = CpuBudget::new(10, 0, 5);
        assert_eq!(budget.soft, 4);
        assert_eq!(budget.full, 4);
        assert!(!budget.exhausted_at(0));
        assert!(budget.exhausted_at(1));
    }

    #[test]
    fn later_settings_of_a_kind_are_recognised() {
        assert!(Rlimit::OpenFiles(1).same_kind(&Rlimit::OpenFiles(2)));
        assert!(!Rlimit::OpenFiles(1).same_kind(&Rlimit::FileSize(1)));
        assert!(Rlimit::CpuSeconds(0).invalid().is_some());
        assert!(Rlimit::CoreSize(0).invalid().is_none());
    }
}
