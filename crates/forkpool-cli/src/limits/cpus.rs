//! What "a CPU" is for `-j N%`, `-j +N`, `-j -N` and `--load N%`: a CPU
//! thread, unless `--use-cores-instead-of-threads` or
//! `--use-sockets-instead-of-threads` (alias `--use-cpus-instead-of-cores`)
//! say otherwise, as in GNU parallel.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The unit CPUs are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Unit {
    /// Hardware threads we may run on (the default).
    #[default]
    Threads,
    /// Physical cores.
    Cores,
    /// Filled sockets.
    Sockets,
}

static UNIT: OnceLock<Unit> = OnceLock::new();

/// Chooses the unit, once, before anything counts CPUs.
pub(crate) fn set_unit(unit: Unit) {
    let _ = UNIT.set(unit);
}

/// The number of CPUs, in the chosen unit (at least 1).
pub(crate) fn cpus() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let threads = threads();
        // Cores and sockets are capped by the threads we may run on, as
        // GNU parallel caps them (`taskset -c 0` makes one of each).
        match UNIT.get().copied().unwrap_or_default() {
            Unit::Threads => threads,
            Unit::Cores => topology("thread_siblings").unwrap_or(threads).min(threads),
            Unit::Sockets => topology("physical_package_id").unwrap_or(1).min(threads),
        }
        .max(1)
    })
}

/// The CPU threads we may run on: our affinity mask, as GNU parallel
/// counts them (its `Cpus_allowed`); one system call. (Not
/// `available_parallelism`, which also divides a cgroup's CPU quota out,
/// reading three or four files for it, and which GNU does not do.)
fn threads() -> usize {
    rustix::thread::sched_getaffinity(None)
        .map(|set| set.count() as usize)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The number of distinct values of a topology file over the CPUs the
/// kernel lists (as GNU parallel reads them): distinct `thread_siblings`
/// masks are cores, distinct `physical_package_id`s are sockets.
fn topology(file: &str) -> Option<usize> {
    let mut seen = HashSet::new();
    for cpu in 0.. {
        match std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/{file}")) {
            Ok(value) => {
                seen.insert(value.trim().to_owned());
            }
            Err(_) => break,
        }
    }
    (!seen.is_empty()).then_some(seen.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_at_least_as_many_threads_as_cores_and_sockets() {
        let cores = topology("thread_siblings");
        let sockets = topology("physical_package_id");
        if let (Some(cores), Some(sockets)) = (cores, sockets) {
            assert!(sockets <= cores, "{sockets} sockets, {cores} cores");
        }
        assert!(cpus() >= 1);
    }
}
