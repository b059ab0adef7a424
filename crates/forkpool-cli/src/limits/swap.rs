//! `--noswap`: start no job while the computer swaps both in and out.
//!
//! GNU parallel samples `vmstat 1 2` in the background every ten seconds
//! (and waits a second for the first sample). The kernel's own counters
//! (`pswpin` and `pswpout` in `/proc/vmstat`) cost one small read, so they
//! are compared over the last second instead, with no wait up front.

use std::time::{Duration, Instant};

/// Swap counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    at: Instant,
    swapped_in: u64,
    swapped_out: u64,
}

/// The window over which swap activity is judged.
const WINDOW: Duration = Duration::from_secs(1);

/// Watches swap activity.
#[derive(Debug, Default)]
pub(crate) struct Swap {
    /// The sample activity is measured against.
    base: Option<Sample>,
    /// The newest sample.
    last: Option<Sample>,
}

fn sample() -> Option<Sample> {
    let text = std::fs::read_to_string("/proc/vmstat").ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(Sample {
        at: Instant::now(),
        swapped_in: field("pswpin")?,
        swapped_out: field("pswpout")?,
    })
}

/// Swapping in and out between the two samples.
fn active(from: Sample, to: Sample) -> bool {
    to.swapped_in > from.swapped_in && to.swapped_out > from.swapped_out
}

impl Swap {
    /// Whether the computer swaps in *and* out now (as GNU parallel, swap
    /// in × swap out > 0). Unknown (no `/proc/vmstat`) is not swapping.
    pub(crate) fn swapping(&mut self) -> bool {
        sample().is_some_and(|now| self.judge(now))
    }

    /// Takes in a new sample: swapping since the window's start or since
    /// the previous sample.
    fn judge(&mut self, now: Sample) -> bool {
        let base = *self.base.get_or_insert(now);
        let swapping = active(base, now) || self.last.is_some_and(|last| active(last, now));
        if now.at.duration_since(base.at) >= WINDOW {
            self.base = Some(now);
        }
        self.last = Some(now);
        swapping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64, swapped_in: u64, swapped_out: u64) -> Sample {
        Sample {
            at: start + Duration::from_millis(ms),
            swapped_in,
            swapped_out,
        }
    }

    #[test]
    fn swapping_is_both_in_and_out() {
        let t = Instant::now();
        let mut swap = Swap::default();
        assert!(!swap.judge(at(t, 0, 10, 10)), "a first sample is compared with itself");
        assert!(!swap.judge(at(t, 100, 20, 10)), "only in");
        assert!(swap.judge(at(t, 200, 20, 30)), "in, then out, within the window");
        let mut quiet = Swap::default();
        assert!(!quiet.judge(at(t, 0, 5, 5)));
        assert!(!quiet.judge(at(t, 1500, 5, 9)), "only out");
        assert!(quiet.judge(at(t, 1600, 6, 10)), "both since the window started");
        assert!(quiet.judge(at(t, 3000, 6, 10)), "still within the window that saw it");
        assert!(!quiet.judge(at(t, 3100, 6, 10)), "and quiet again a window later");
    }

    #[test]
    fn the_counters_are_read_where_the_kernel_has_them() {
        if std::path::Path::new("/proc/vmstat").exists() {
            assert!(sample().is_some());
        }
    }
}
