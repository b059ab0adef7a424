//! How many jobs the system lets us run at once: file handles (each job
//! holds a few: its output pipes and its pidfd) and processes (`ulimit
//! -u`, the kernel's thread limit, a container's `pids.max`).
//!
//! GNU parallel finds its limit by opening files and forking dummy
//! processes until one fails; we read the same limits and what is in use
//! instead, which costs a few small reads rather than a fork per slot.

use std::fs;

/// What one running job costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// File handles it keeps open in forkpool.
    pub(crate) fds: usize,
    /// Processes it is at least (the job; a compressor per stream...).
    pub(crate) processes: usize,
}

/// Which resource runs out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scarce {
    FileHandles,
    Processes,
}

/// The most jobs the system allows, and what limits it (`None`: nothing
/// does, short of [`forkpool::command::MAX_RUNNING`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bound {
    pub(crate) jobs: usize,
    pub(crate) scarce: Option<Scarce>,
}

/// File handles kept for everything that is not a job: the supervisor's
/// event loop and signal pipe, the guardian's control pipe, the joblog,
/// the spill file, input files, a job being spawned (its pipes' write
/// ends live until the spawn returns), a compressor's pipes...
const FD_RESERVE: usize = 16;

/// Processes kept for everything else (a `--limit` command, a shell the
/// job starts...).
const PROCESS_RESERVE: usize = 2;

impl Bound {
    /// Nothing holds jobs back short of [`forkpool::command::MAX_RUNNING`].
    pub(crate) const UNLIMITED: Bound = Bound {
        jobs: forkpool::command::MAX_RUNNING,
        scarce: None,
    };

    /// GNU parallel's warning (or, with no job possible, its error).
    pub(crate) fn message(&self, scarce: Scarce, jobs: usize) -> String {
        match scarce {
            _ if jobs == 0 => "Warning: Cannot spawn any jobs.\n\
                 Warning: Try increasing 'ulimit -u' (try: ulimit -u `ulimit -Hu`)\n\
                 Warning: or increasing 'nproc' in /etc/security/limits.conf\n\
                 Warning: or increasing /proc/sys/kernel/pid_max"
                .to_owned(),
            Scarce::FileHandles => format!(
                "Warning: Only enough file handles to run {jobs} jobs in parallel.\n\
                 Warning: Try running 'parallel -j0 -N {jobs} --pipe parallel -j0'\n\
                 Warning: or increasing 'ulimit -n' (try: ulimit -n `ulimit -Hn`)\n\
                 Warning: or increasing 'nofile' in /etc/security/limits.conf\n\
                 Warning: or increasing /proc/sys/fs/file-max"
            ),
            Scarce::Processes => format!(
                "Warning: Only enough available processes to run {jobs} jobs in parallel.\n\
                 Warning: Try increasing 'ulimit -u' (try: ulimit -u `ulimit -Hu`)\n\
                 Warning: or increasing 'nproc' in /etc/security/limits.conf\n\
                 Warning: or increasing /proc/sys/kernel/pid_max"
            ),
        }
    }
}

/// The bound for jobs that each cost `per_job`.
pub(crate) fn bound(per_job: Cost) -> Bound {
    let by_fds = fd_room().map(|room| room.saturating_sub(FD_RESERVE) / per_job.fds.max(1));
    let by_processes = process_room().map(|room| room.saturating_sub(PROCESS_RESERVE) / per_job.processes.max(1));
    let mut bound = Bound::UNLIMITED;
    if let Some(n) = by_fds.filter(|&n| n < bound.jobs) {
        // However few descriptors are left, one job may still fit: try it
        // (a spawn that finds none is retried when another job ends).
        bound = Bound {
            jobs: n.max(1),
            scarce: Some(Scarce::FileHandles),
        };
    }
    if let Some(n) = by_processes.filter(|&n| n < bound.jobs) {
        bound = Bound {
            jobs: n,
            scarce: Some(Scarce::Processes),
        };
    }
    bound
}

/// Descriptors we may still open: the soft limit less those open now.
fn fd_room() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    // The directory's own descriptor is counted too: one spare.
    let open = fs::read_dir("/proc/self/fd").ok()?.count();
    Some(usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(open))
}

/// Processes (threads, which the kernel counts) we may still start: the
/// least of what `ulimit -u`, the kernel and our cgroup leave.
fn process_room() -> Option<usize> {
    [user_room(), kernel_room(), cgroup_room()].into_iter().flatten().min()
}

/// `RLIMIT_NPROC` less our user's threads. Root is not held to it.
fn user_room() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nproc).current?;
    let uid = rustix::process::getuid();
    if uid.is_root() {
        return None;
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut used = 0;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<usize>().ok())
        };
        // The limit counts threads of the real user.
        if field("Uid:") == Some(uid.as_raw() as usize) {
            used += field("Threads:").unwrap_or(1);
        }
    }
    Some(limit.saturating_sub(used))
}

/// The kernel's thread and pid limits less every thread now running.
fn kernel_room() -> Option<usize> {
    let read = |path: &str| fs::read_to_string(path).ok()?.trim().parse::<usize>().ok();
    let most = [read("/proc/sys/kernel/threads-max"), read("/proc/sys/kernel/pid_max")]
        .into_iter()
        .flatten()
        .min()?;
    let loadavg = fs::read_to_string("/proc/loadavg").ok()?;
    let total: usize = loadavg.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok()?;
    Some(most.saturating_sub(total))
}

/// A cgroup v2 `pids.max` less `pids.current`, for us and every cgroup
/// above us that sets one.
fn cgroup_room() -> Option<usize> {
    let cgroup = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?.trim().to_owned();
    let mut dir = std::path::PathBuf::from("/sys/fs/cgroup");
    dir.push(path.trim_start_matches('/'));
    let mut room: Option<usize> = None;
    loop {
        let max = fs::read_to_string(dir.join("pids.max")).ok();
        let current = fs::read_to_string(dir.join("pids.current")).ok();
        if let (Some(max), Some(current)) = (max, current)
            && let (Ok(max), Ok(current)) = (max.trim().parse::<usize>(), current.trim().parse::<usize>())
        {
            let here = max.saturating_sub(current);
            room = Some(room.map_or(here, |r| r.min(here)));
        }
        if dir == std::path::Path::new("/sys/fs/cgroup") || !dir.pop() {
            return room;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_at_least_one_job_and_shrinks_with_the_cost() {
        let cheap = bound(Cost { fds: 1, processes: 1 });
        let dear = bound(Cost {
            fds: 1000,
            processes: 1,
        });
        assert!(cheap.jobs >= 1 && dear.jobs >= 1);
        assert!(dear.jobs <= cheap.jobs);
    }

    #[test]
    fn messages_are_gnu_parallels() {
        let b = Bound {
            jobs: 3,
            scarce: Some(Scarce::FileHandles),
        };
        let m = b.message(Scarce::FileHandles, 3);
        assert!(m.starts_with("Warning: Only enough file handles to run 3 jobs in parallel.\n"));
        assert!(m.contains("parallel -j0 -N 3 --pipe parallel -j0"));
        assert!(
            b.message(Scarce::Processes, 0)
                .starts_with("Warning: Cannot spawn any jobs.")
        );
    }
}
