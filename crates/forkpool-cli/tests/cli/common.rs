//! Helpers the test files share beyond running `forkpool` (which the root,
//! `tests/cli.rs`, does): watching processes through `/proc` and signalling
//! them, reading a joblog, counting the CPUs `-j` counts, and measuring a
//! process's peak memory. The root names each of them, so that a file's
//! `use super::*` finds them.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::command;

pub(crate) fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => matches!(stat[stat.rfind(')').unwrap() + 2..].chars().next(), Some('Z' | 'X')),
    }
}

/// The children of `pid` (every thread's, zombies included).
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

pub(crate) fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

pub(crate) fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Every process whose pid was written to `path` goes away soon.
pub(crate) fn assert_all_dead(path: &Path) {
    let all = pids_in(path);
    assert!(!all.is_empty(), "no pids were recorded in {}", path.display());
    assert!(
        wait_for(Duration::from_secs(5), || all.iter().all(|&p| is_dead(p))),
        "processes left behind: {all:?}"
    );
}

/// Starts `forkpool ARGS` and waits until its jobs have written `n` lines.
pub(crate) fn start_and_wait_for_lines(args: &[&str], pid_file: &Path, n: usize) -> std::process::Child {
    let child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || pids_in(pid_file).len() >= n),
        "the jobs did not start"
    );
    child
}

pub(crate) fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

pub(crate) fn joblog_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("Seq\t"))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The CPUs `-j` counts: those we may run on (as GNU parallel counts
/// them), whatever a cgroup's quota.
pub(crate) fn cpus() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count() as usize)
}

/// Peak resident memory of a running process, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// Samples a process's peak resident memory until it is gone; the thread
/// returns the peak in KiB.
pub(crate) fn watch_peak_rss(pid: u32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(rss) = peak_rss_kib(pid) {
            peak = peak.max(rss);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}
