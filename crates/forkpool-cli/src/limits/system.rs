//! How many jobs the system lets us run at once: file handles (each job
//! holds a few: its output pipes and its pidfd) and processes (`ulimit
//! -u`, the kernel's thread limit, a container's `pids.max`).
//!
//! GNU parallel finds its limit by opening files and forking dummy
//! processes until one fails; we read the same limits and what is in use
//! instead, which costs a few small reads rather than a fork per slot, and
//! count as it counts, so that both say the same number:
//! - file handles: GNU parallel has some of its own open (3, one per input
//!   file, one per `:::` list and one more if there is any), keeps 12
//!   spare, then takes 4 per job until an `open` fails, and counts the job
//!   it failed on too: `(free - 12) / 4 + 1` jobs, none if even the 12 do
//!   not fit ([`gnu_fd_bound`]). We need 3 per job at most (a pidfd and two
//!   pipes), so its count always fits ours but for very few handles, where
//!   ours is the lower;
//! - processes: GNU parallel forks 2 spare processes, then one per job
//!   until a fork fails, that one counted too: the processes left less
//!   one. So do we; the spare one is our guardian's (started after this
//!   count), so that simple jobs all fit, and the first that does not (a
//!   job's own children took its room) lowers the bound, as with GNU.

use std::fs;

/// What one running job costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// File handles it keeps open in forkpool.
    pub(crate) fds: usize,
    /// Processes it is at least (the job; a compressor per stream...).
    pub(crate) processes: usize,
    /// The file handles GNU parallel would have open of its own, besides
    /// those it inherited, when it counts: see [`gnu_own_fds`].
    pub(crate) gnu_own_fds: usize,
}

/// The file handles GNU parallel 20221122 has open of its own (beside the
/// ones it inherited) when it counts how many jobs fit: 3, one per input
/// file (`::::`, `-a`; standard input is already open), one per `:::` list
/// and one more if there is any `:::` list (measured against it with
/// `ulimit -n`).
pub(crate) fn gnu_own_fds(files: usize, lists: usize) -> usize {
    3 + files + lists + usize::from(lists > 0)
}

/// The file handles GNU parallel 20221122 has open of its own while jobs
/// run (beside the inherited ones and the jobs' own): one more than when
/// it counts, with or without `:::` lists (measured in `/proc/PID/fd`).
pub(crate) fn gnu_run_fds(files: usize, lists: usize) -> usize {
    4 + files + lists
}

/// The file handles GNU parallel holds for each job, running or (under
/// `-k`) ended but not yet printed: its stdout and stderr files, each
/// open to write and to read.
pub(crate) const GNU_FDS_PER_JOB: usize = 4;

/// The file handles GNU parallel opens (and closes) before it starts a
/// job, to see that it may: perl's 7, open3's 2, and one per output
/// stream. When one does not open, it starts no job then and warns, once.
pub(crate) const GNU_FDS_TO_START: usize = 7 + 2 + 2;

/// GNU parallel's warning when its check before starting a job
/// ([`GNU_FDS_TO_START`]) finds too few file handles.
pub(crate) const NO_MORE_FILE_HANDLES: &str = "Warning: No more file handles. \n\
     Warning: Try running 'parallel -j0 -N 100 --pipe parallel -j0'\n\
     Warning: or increasing 'ulimit -n' (try: ulimit -n `ulimit -Hn`)\n\
     Warning: or increasing 'nofile' in /etc/security/limits.conf\n\
     Warning: or increasing /proc/sys/fs/file-max";

/// The file handles GNU parallel could open when started as we were (the
/// soft limit less the inherited ones); `None` without a limit.
pub(crate) fn free_for_gnu() -> Option<usize> {
    fd_room().map(|room| room.free_for_gnu)
}

/// A lower bound of [`free_for_gnu`], cheaply: of the numbers below the
/// soft limit's first [`CHEAP_WINDOW`], those not open now (every number
/// from there up to the limit may be taken: the bound holds whatever is
/// open there). Under a lower limit, the limit less every descriptor open.
/// One `poll`, where listing `/proc/self/fd` took a twentieth of a one-job
/// run.
pub(crate) fn free_at_least() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    let window = usize::try_from(limit).unwrap_or(usize::MAX).min(CHEAP_WINDOW);
    let open = forkpool::command::open_descriptors_below(window).ok()?;
    Some(window.saturating_sub(open))
}

/// The descriptor numbers [`free_at_least`] looks at: enough for GNU
/// parallel's check before each job up to some fifty jobs at once
/// (`4 + 4 per job + 11`); a run with more is counted exactly, once.
const CHEAP_WINDOW: usize = 256;

/// GNU parallel's count of the jobs `free` file handles allow (those not
/// open, below the limit, once its own are open): 12 kept, then 4 per
/// job, and the job whose 4 did not fit is counted too.
pub(crate) fn gnu_fd_bound(free: usize) -> usize {
    match free.checked_sub(GNU_SPARE_FDS) {
        Some(left) => left / 4 + 1,
        None => 0,
    }
}

/// The file handles GNU parallel keeps spare before it counts any job:
/// with fewer, it runs none, even at `-j1`.
const GNU_SPARE_FDS: usize = 12;

/// Whether GNU parallel might find too few file handles for even one job
/// (see [`gnu_fd_bound`]): a cheap look ([`free_at_least`]), so that a
/// run of one job at a time reads the system's bound only when it is low.
pub(crate) fn gnu_may_refuse_one(per_job: Cost) -> bool {
    free_at_least().is_some_and(|free| free < per_job.gnu_own_fds + GNU_SPARE_FDS)
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
/// event loop, its waker and timer, its signal pipe, the guardian's
/// control pipe, the joblog, an input file, a job being spawned (its
/// pipes' write ends live until the spawn returns). (A spill file or a
/// compressor that finds none waits for a job to end: a spawn short of
/// handles is tried again then.)
const FD_RESERVE: usize = 10;

/// Processes kept: GNU parallel's one, which our guardian takes. (A job
/// that starts processes of its own, a `--limit` command... may then find
/// none: a spawn that finds none lowers the bound, as in GNU parallel.)
const PROCESS_RESERVE: usize = 1;

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

/// Whether a spawn failed for want of a process (`EAGAIN`: `ulimit -u`,
/// the kernel's or a cgroup's limit), not of memory or file handles.
pub(crate) fn out_of_processes(error: &forkpool::command::SpawnError) -> bool {
    matches!(error, forkpool::command::SpawnError::Io(e) if e.raw_os_error() == Some(libc::EAGAIN))
}

/// GNU parallel's warning when a job could not be started for want of a
/// process and it runs one job fewer at once from now on (`jobs`).
pub(crate) fn fewer_processes_message(jobs: usize) -> String {
    format!(
        "Warning: No more processes: Decreasing number of running jobs to {jobs}.\n\
         Warning: Try increasing 'ulimit -u' (try: ulimit -u `ulimit -Hu`)\n\
         Warning: or increasing 'nproc' in /etc/security/limits.conf\n\
         Warning: or increasing /proc/sys/kernel/pid_max"
    )
}

/// The bound for jobs that each cost `per_job`.
pub(crate) fn bound(per_job: Cost) -> Bound {
    let by_fds = fd_room().map(|room| {
        // GNU parallel's count, unless ours is lower; however few handles
        // are left by ours, one job may still fit: try it (a spawn that
        // finds none is tried again when another job ends).
        let ours = room.free.saturating_sub(FD_RESERVE) / per_job.fds.max(1);
        let gnu = gnu_fd_bound(room.free_for_gnu.saturating_sub(per_job.gnu_own_fds));
        gnu.min(ours.max(1))
    });
    let by_processes = process_room().map(|room| room.saturating_sub(PROCESS_RESERVE) / per_job.processes.max(1));
    let mut bound = Bound::UNLIMITED;
    if let Some(n) = by_fds.filter(|&n| n < bound.jobs) {
        bound = Bound {
            jobs: n,
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

/// Descriptors that may still be opened.
struct FdRoom {
    /// By us: the numbers below the soft limit not open now.
    free: usize,
    /// By GNU parallel, before it opens its own: those not open when we
    /// were started (the inherited ones: all that are not close-on-exec).
    free_for_gnu: usize,
}

/// The soft limit less the descriptors open now (a descriptor numbered
/// above the limit takes no room: `open` fails when the lowest free number
/// is the limit).
fn fd_room() -> Option<FdRoom> {
    let (limit, open) = open_fds()?;
    // Ours are all close-on-exec: those that are not came with the
    // process. (One that is gone by now, such as the listing's own, is
    // none of them.)
    let inherited = open
        .iter()
        .filter(|fd| {
            fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
                .ok()
                .and_then(|info| {
                    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                    u32::from_str_radix(flags.trim(), 8).ok()
                })
                .is_some_and(|flags| flags & libc::O_CLOEXEC as u32 == 0)
        })
        .count();
    // Every descriptor listed takes room, the listing's own too: one spare.
    Some(FdRoom {
        free: limit.saturating_sub(open.len()),
        free_for_gnu: limit.saturating_sub(inherited),
    })
}

/// The soft limit on descriptors, and the descriptors open now below it
/// (the listing's own among them).
fn open_fds() -> Option<(usize, Vec<usize>)> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let open = fs::read_dir("/proc/self/fd")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.parse::<usize>().ok()))
        .filter(|&fd| fd < limit)
        .collect();
    Some((limit, open))
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
        let cheap = bound(Cost {
            fds: 1,
            processes: 1,
            gnu_own_fds: 3,
        });
        let dear = bound(Cost {
            fds: 1000,
            processes: 1,
            gnu_own_fds: 3,
        });
        assert!(cheap.jobs >= 1 && dear.jobs >= 1);
        assert!(dear.jobs <= cheap.jobs);
    }

    #[test]
    fn the_cheap_count_of_free_handles_is_a_lower_bound_of_the_exact_one() {
        let cheap = free_at_least().expect("ulimit -n is set");
        let exact = free_for_gnu().expect("ulimit -n is set");
        assert!(cheap <= exact, "{cheap} > {exact}");
        // Seven open: the cheap count sees them (they are numbered below
        // its window in a test process), the exact one need not (ours are
        // close-on-exec: GNU parallel would not have them).
        let files: Vec<_> = (0..7)
            .map(|_| std::fs::File::open("/dev/null").expect("/dev/null"))
            .collect();
        let fewer = free_at_least().expect("ulimit -n is set");
        drop(files);
        assert!(fewer <= CHEAP_WINDOW - 7, "{fewer}");
    }

    #[test]
    fn file_handles_are_counted_as_gnu_parallel_counts_them() {
        // As measured with GNU parallel 20221122, with 4 descriptors
        // inherited: `ulimit -n 28; seq 40 | parallel -j0 true` runs 3 at
        // once; with `::: $(seq 40)` instead, `ulimit -n` 25 runs 2, 24
        // runs 1 and 20 none ("Cannot spawn any jobs").
        assert_eq!(gnu_fd_bound(28 - 4 - gnu_own_fds(0, 0)), 3);
        assert_eq!(gnu_fd_bound(25 - 4 - gnu_own_fds(0, 1)), 2);
        assert_eq!(gnu_fd_bound(24 - 4 - gnu_own_fds(0, 1)), 1);
        assert_eq!(gnu_fd_bound(20 - 4 - gnu_own_fds(0, 1)), 0);
        // `:::: FILE ::: a b` and `::: a ::: b` both have 3 more than stdin.
        assert_eq!(gnu_own_fds(1, 1), gnu_own_fds(0, 2));
        assert_eq!(gnu_own_fds(2, 2), 3 + 2 + 2 + 1);
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
