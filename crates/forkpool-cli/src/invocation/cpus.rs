//! `--number-of-sockets`, `--number-of-cores` and `--number-of-threads`,
//! counted as GNU parallel counts them on Linux.
//!
//! The topology comes from `/sys/devices/system/cpu/cpuN/topology`
//! (distinct `physical_package_id`s are sockets, distinct
//! `thread_siblings` masks are cores, the CPUs are threads), else from
//! `/proc/cpuinfo`. Each is then capped by the CPUs this process may run
//! on (`Cpus_allowed` in `/proc/self/status`, which `taskset` narrows).
//!
//! GNU parallel's test variables work too: `$PARALLEL_CPUINFO` (text
//! read as `/proc/cpuinfo`, and no cap), `$PARALLEL_LSCPU` (text read as
//! `lscpu`'s output) and `$PARALLEL_CPUPREFIX` (a directory read as
//! `/sys/devices/system/cpu`).

use std::collections::HashSet;
use std::path::Path;

/// The counts, each at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) sockets: usize,
    pub(crate) cores: usize,
    pub(crate) threads: usize,
}

/// Counts this machine's CPUs.
pub(crate) fn count() -> Counts {
    let cpuinfo = std::env::var("PARALLEL_CPUINFO").ok().filter(|c| !c.is_empty());
    let lscpu = std::env::var("PARALLEL_LSCPU").ok().filter(|c| !c.is_empty());
    let raw = if let Some(text) = &cpuinfo {
        Some(from_cpuinfo(text))
    } else if let Some(text) = &lscpu {
        Some(from_lscpu(text))
    } else {
        let prefix = std::env::var_os("PARALLEL_CPUPREFIX")
            .filter(|p| Path::new(p).join("cpu0/topology/thread_siblings").exists())
            .map_or_else(|| "/sys/devices/system/cpu".into(), std::path::PathBuf::from);
        from_topology(&prefix).or_else(|| std::fs::read_to_string("/proc/cpuinfo").ok().map(|t| from_cpuinfo(&t)))
    };
    let raw = raw.unwrap_or_else(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Raw {
            sockets: n,
            cores: n,
            threads: n,
        }
    });
    let active = if cpuinfo.is_some() {
        None
    } else {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| allowed_cpus(&status))
    };
    finish(raw, active)
}

/// Counts as read, before the cap; 0 where unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Raw {
    sockets: usize,
    cores: usize,
    threads: usize,
}

/// Fills in what is unknown and caps each count by the CPUs we may use.
fn finish(raw: Raw, active: Option<usize>) -> Counts {
    let sockets = raw.sockets.max(1);
    let cores = raw.cores.max(1);
    let threads = if raw.threads == 0 { cores } else { raw.threads };
    let active = active.filter(|&a| a > 0).unwrap_or(threads);
    Counts {
        sockets: sockets.min(active),
        cores: cores.min(active),
        threads: threads.min(active),
    }
}

/// Reads `PREFIX/cpuN/topology/` for N = 0, 1, ... while it exists.
fn from_topology(prefix: &Path) -> Option<Raw> {
    let mut packages = HashSet::new();
    let mut siblings = HashSet::new();
    let mut threads = 0;
    loop {
        let dir = prefix.join(format!("cpu{threads}/topology"));
        let (Ok(package), Ok(sibling)) = (
            std::fs::read_to_string(dir.join("physical_package_id")),
            std::fs::read_to_string(dir.join("thread_siblings")),
        ) else {
            break;
        };
        packages.insert(package);
        siblings.insert(sibling);
        threads += 1;
    }
    (threads > 0).then_some(Raw {
        sockets: packages.len(),
        cores: siblings.len(),
        threads,
    })
}

/// Reads `/proc/cpuinfo`'s `physical id`, `core id` and `processor` lines.
fn from_cpuinfo(text: &str) -> Raw {
    let mut sockets = HashSet::new();
    let mut cores = HashSet::new();
    let mut physical = String::new();
    let mut threads = 0;
    for line in text.lines() {
        let value = |name: &str| {
            line.strip_prefix(name)
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, v)| v.to_owned())
        };
        if let Some(id) = value("physical id") {
            physical = id.clone();
            sockets.insert(id);
        }
        if let Some(core) = value("core id") {
            cores.insert((physical.clone(), core));
        }
        if line.len() >= 9
            && line[..9].eq_ignore_ascii_case("processor")
            && line
                .split_once(':')
                .is_some_and(|(_, v)| v.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        {
            threads += 1;
        }
    }
    let cores = if cores.is_empty() { threads } else { cores.len() };
    Raw {
        sockets: sockets.len().max(1),
        cores,
        threads,
    }
}

/// Reads `lscpu`'s `CPU(s)`, `Thread(s) per core` and `Socket(s)`.
fn from_lscpu(text: &str) -> Raw {
    let field = |names: &[&str]| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            names
                .iter()
                .any(|n| name.trim().eq_ignore_ascii_case(n))
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
    };
    let threads = field(&["CPU(s)"]).unwrap_or(0);
    let per_core = field(&["Thread(s) per core"]).unwrap_or(0);
    Raw {
        sockets: field(&["Socket(s)", "CPU Socket(s)"]).unwrap_or(0),
        cores: threads.checked_div(per_core).unwrap_or(0),
        threads,
    }
}

/// The number of CPUs in the `Cpus_allowed` mask of `/proc/self/status`.
fn allowed_cpus(status: &str) -> Option<usize> {
    let mask = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed:"))?.trim();
    let mut n = 0;
    for c in mask.chars().filter(|&c| c != ',') {
        n += c.to_digit(16)?.count_ones() as usize;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_SOCKETS_HYPERTHREADED: &str = "\
processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n\
processor\t: 1\nphysical id\t: 0\ncore id\t\t: 1\n\n\
processor\t: 2\nphysical id\t: 1\ncore id\t\t: 0\n\n\
processor\t: 3\nphysical id\t: 1\ncore id\t\t: 1\n\n\
processor\t: 4\nphysical id\t: 0\ncore id\t\t: 0\n\n\
processor\t: 5\nphysical id\t: 0\ncore id\t\t: 1\n\n\
processor\t: 6\nphysical id\t: 1\ncore id\t\t: 0\n\n\
processor\t: 7\nphysical id\t: 1\ncore id\t\t: 1\n";

    #[test]
    fn cpuinfo_counts_sockets_cores_and_threads() {
        let raw = from_cpuinfo(TWO_SOCKETS_HYPERTHREADED);
        assert_eq!(
            raw,
            Raw {
                sockets: 2,
                cores: 4,
                threads: 8
            }
        );
        // No topology lines (some VMs, ARM): one socket, a core per thread.
        let flat = from_cpuinfo("processor : 0\nprocessor : 1\nprocessor : 2\n");
        assert_eq!(
            finish(flat, None),
            Counts {
                sockets: 1,
                cores: 3,
                threads: 3
            }
        );
    }

    #[test]
    fn counts_are_capped_by_the_cpus_we_may_use() {
        let raw = from_cpuinfo(TWO_SOCKETS_HYPERTHREADED);
        assert_eq!(
            finish(raw, Some(3)),
            Counts {
                sockets: 2,
                cores: 3,
                threads: 3
            }
        );
        assert_eq!(allowed_cpus("Name:\tx\nCpus_allowed:\tff,00000003\n"), Some(10));
        assert_eq!(allowed_cpus("Cpus_allowed:\t1\n"), Some(1));
        assert_eq!(allowed_cpus("nothing"), None);
    }

    #[test]
    fn sysfs_topology_is_read_cpu_by_cpu() {
        let dir = tempfile::tempdir().unwrap();
        // 1 socket, 2 cores with 2 threads each.
        for (cpu, siblings) in [(0, "3"), (1, "c"), (2, "3"), (3, "c")] {
            let topo = dir.path().join(format!("cpu{cpu}/topology"));
            std::fs::create_dir_all(&topo).unwrap();
            std::fs::write(topo.join("physical_package_id"), "0\n").unwrap();
            std::fs::write(topo.join("thread_siblings"), format!("{siblings}\n")).unwrap();
        }
        assert_eq!(
            from_topology(dir.path()),
            Some(Raw {
                sockets: 1,
                cores: 2,
                threads: 4
            })
        );
        assert_eq!(from_topology(&dir.path().join("none")), None);
    }

    #[test]
    fn lscpu_output_is_read_as_gnu_parallel_reads_it() {
        let text = "CPU(s):                 16\nOn-line CPU(s) list:    0-15\n\
                    Thread(s) per core:     2\nCore(s) per socket:     4\nSocket(s):              2\n";
        assert_eq!(
            finish(from_lscpu(text), None),
            Counts {
                sockets: 2,
                cores: 8,
                threads: 16
            }
        );
    }
}
