//! `--memfree` and `--memsuspend`: free memory as GNU parallel measures
//! it, and which jobs `--memsuspend` lets run.

/// Free memory in bytes, as GNU parallel counts it on Linux: `MemFree`,
/// `Buffers`, `Cached` and `SwapCached` from `/proc/meminfo`.
pub(crate) fn free() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let mut sum = 0;
    let mut found = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if matches!(key, "MemFree" | "Buffers" | "Cached" | "SwapCached") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            sum += kb * 1024;
            found = true;
        }
    }
    found.then_some(sum)
}

/// `--memsuspend SIZE` with `free` bytes free: how many of the running
/// jobs (oldest first) may run; the others are suspended. Below twice the
/// size, jobs are suspended; the fewer bytes free, the fewer run (one at
/// `SIZE` or less). `None`: enough memory, every job runs.
pub(crate) fn allowed_to_run(free: u64, size: u64, running: usize) -> Option<usize> {
    let (free, size) = (free as f64, size.max(1) as f64);
    if free >= 2.0 * size {
        return None;
    }
    // GNU parallel: int(1/(2-free/size)) more than the oldest, so that
    // free = size*(2-1/2^n) lets about 2^n jobs run.
    let extra = (1.0 / (2.0 - free / size)).floor().max(0.0) as usize;
    Some((extra + 1).min(running.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_memory_is_read() {
        assert!(free().is_some_and(|f| f > 0));
    }

    #[test]
    fn the_less_memory_the_fewer_jobs_run() {
        const G: u64 = 1 << 30;
        assert_eq!(allowed_to_run(3 * G, G, 8), None);
        assert_eq!(allowed_to_run(2 * G, G, 8), None);
        assert_eq!(allowed_to_run(G / 2, G, 8), Some(1));
        assert_eq!(allowed_to_run(G, G, 8), Some(2));
        assert_eq!(allowed_to_run(3 * G / 2, G, 8), Some(3));
        assert_eq!(allowed_to_run(7 * G / 4, G, 8), Some(5));
        assert_eq!(allowed_to_run(7 * G / 4, G, 2), Some(2), "never more than run");
    }
}
