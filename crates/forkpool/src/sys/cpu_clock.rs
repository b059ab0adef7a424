//! The CPU clock `RLIMIT_CPU` is measured against.
//!
//! The kernel compares `RLIMIT_CPU` with the process's *profiling* clock
//! (user + system time, sampled at each tick), not with the scheduler's
//! precise runtime that `CLOCK_PROCESS_CPUTIME_ID` reads. The two drift
//! apart, by a third on a busy virtual machine, so a limit computed from
//! the scheduler's clock fires early. The profiling clock has no name in
//! libc, only a number: `MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_PROF)`.

use std::io;

/// `MAKE_PROCESS_CPUCLOCK(pid 0 = this process, CPUCLOCK_PROF = 0)`, that
/// is `(~0 << 3) | 0`.
const PROCESS_PROF_CLOCK: libc::clockid_t = !0 << 3;

/// CPU time this process has used, as `RLIMIT_CPU` counts it, in ns.
pub(crate) fn profiling_ns() -> io::Result<u64> {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; an
    // unknown clock id is an EINVAL error, not undefined behaviour.
    if unsafe { libc::clock_gettime(PROCESS_PROF_CLOCK, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn moves_forward_with_work() {
        let before = super::profiling_ns().unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while super::profiling_ns().unwrap() == before && start.elapsed().as_secs() < 5 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(super::profiling_ns().unwrap() > before);
    }
}
