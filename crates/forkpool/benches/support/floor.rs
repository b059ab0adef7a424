//! The floor: what the cheapest cross-process call and process start cost
//! on this machine, measured in the same run as the pool. Shared by
//! `benches/pool.rs` and `examples/bench.rs`.
//!
//! A pipe round trip costs very different amounts depending on whether the
//! two processes share a CPU (a direct switch, a few µs) or not (a wake-up
//! on another CPU, tens of µs on a VM). An unpinned measurement lands on
//! either, run by run, so each placement is measured pinned.
#![allow(dead_code, unreachable_pub)]

use std::os::fd::OwnedFd;
use std::time::Duration;

/// Pins the calling thread to `cpus`.
pub fn pin(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and
    // sched_setaffinity only read and write that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills the zeroed set we pass; CPU_ISSET only
    // reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// A child process that echoes bytes back over a pair of pipes.
pub struct Echo {
    to_child: OwnedFd,
    from_child: OwnedFd,
    pid: libc::pid_t,
}

impl Echo {
    /// Starts the echo child pinned to `child_cpu` (if given). The child
    /// only uses read, write and _exit (async-signal-safe), so this is
    /// sound even in a threaded process.
    pub fn start(child_cpu: Option<usize>) -> Echo {
        let (child_in, to_child) = rustix::pipe::pipe().unwrap();
        let (from_child, child_out) = rustix::pipe::pipe().unwrap();
        // SAFETY: the child calls only async-signal-safe functions
        // (sched_setaffinity, read, write, _exit) before exiting.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            if let Some(cpu) = child_cpu {
                pin(&[cpu]);
            }
            let mut byte = [0u8; 1];
            while rustix::io::read(&child_in, &mut byte) == Ok(1) {
                if rustix::io::write(&child_out, &byte).is_err() {
                    break;
                }
            }
            // SAFETY: leaves the child without running the parent's exit
            // handlers.
            unsafe { libc::_exit(0) };
        }
        Echo {
            to_child,
            from_child,
            pid,
        }
    }

    /// One byte there and back.
    pub fn round_trip(&self) {
        let mut byte = [1u8];
        rustix::io::write(&self.to_child, &byte).unwrap();
        rustix::io::read(&self.from_child, &mut byte).unwrap();
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        // SAFETY: kill and waitpid on our own child; no memory is involved.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Median pipe round trip with this thread on `parent_cpu` and the echo
/// child on `child_cpu`. Restores the thread's affinity afterwards.
pub fn pipe_round_trip(parent_cpu: usize, child_cpu: usize, rounds: u32) -> Duration {
    let all = allowed_cpus();
    let echo = Echo::start(Some(child_cpu));
    pin(&[parent_cpu]);
    for _ in 0..1000 {
        echo.round_trip();
    }
    let time = median(11, rounds, || (0..rounds).for_each(|_| echo.round_trip()));
    pin(&all);
    time
}

/// `fork` then `waitpid` for a child that exits at once.
pub fn fork_and_wait() {
    // SAFETY: the child only calls _exit (async-signal-safe).
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Median of `runs` timings of `f`, each divided by `per`.
pub fn median(runs: usize, per: u32, mut f: impl FnMut()) -> Duration {
    median_of(runs, || {
        let start = std::time::Instant::now();
        f();
        start.elapsed() / per
    })
}

/// Median of `runs` durations that `f` measures itself.
pub fn median_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[runs / 2]
}

/// A payload's trip through a raw pipe between two processes and back:
/// `size` bytes written into a pipe by this process and read by a child,
/// which writes them back into another pipe for this process to read.
///
/// The bytes written exist (and are paged in) before the clock starts.
/// With `fresh`, each side reads into a buffer it allocates on the clock,
/// as a receiver must to own what it received (the pages of a new buffer
/// are zeroed and mapped as the read fills them); without, into a buffer
/// allocated and paged in beforehand: the bandwidth of the pipe alone.
pub fn pipe_transfer(size: usize, fresh: bool) -> Duration {
    let (child_in, to_child) = rustix::pipe::pipe().unwrap();
    let (from_child, child_out) = rustix::pipe::pipe().unwrap();
    let (ready_r, ready_w) = rustix::pipe::pipe().unwrap();
    let payload = vec![7u8; size];
    let mut reused = if fresh { Vec::new() } else { vec![1u8; size] };
    // SAFETY: the child only calls read, write, malloc (through Vec) and
    // _exit; it is forked from a process whose other threads hold no lock
    // the child needs: the benchmark's pool workers are other processes,
    // and its supervisor thread is parked in epoll_wait between tasks.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut mine = if fresh { Vec::new() } else { vec![1u8; size] };
        let _ = rustix::io::write(&ready_w, b"r");
        if fresh {
            mine = vec![0u8; size];
        }
        let ok = read_exact(&child_in, &mut mine) && write_all(&child_out, &mine);
        // SAFETY: leaves the child without running the parent's exit
        // handlers.
        unsafe { libc::_exit(i32::from(!ok)) };
    }
    drop((child_in, child_out, ready_w));
    let mut byte = [0u8];
    rustix::io::read(&ready_r, &mut byte).unwrap();
    let start = std::time::Instant::now();
    assert!(write_all(&to_child, &payload));
    if fresh {
        reused = vec![0u8; size];
    }
    assert!(read_exact(&from_child, &mut reused));
    let took = start.elapsed();
    // SAFETY: reaps our own child; no memory is involved.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    drop(reused);
    took
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

fn read_exact(fd: &OwnedFd, mut buf: &mut [u8]) -> bool {
    while !buf.is_empty() {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return false,
            Ok(n) => buf = &mut buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// CPU time (user and system) process `pid` (or `"self"`) has used, from
/// `/proc/PID/stat`, in the kernel's ticks of 10 ms. Zero if it is gone.
pub fn process_cpu(pid: &str) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces).
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
