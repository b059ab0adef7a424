//! When a task has run past its time limit.
//!
//! A worker stamps each item's start on its status page, and the
//! supervisor compares the stamp with its own reading, both on the coarse
//! monotonic clock (`CLOCK_MONOTONIC_COARSE`: a few ns to read, but it
//! moves in ticks of its resolution, 4 ms on most kernels). Either reading
//! may lag the true time by up to a tick, so a difference of readings may
//! overstate the true time by almost a tick. A limit is therefore declared
//! passed only once the readings differ by the limit *plus* a tick: never
//! early. The cost is lateness: the true time is then past the limit by
//! at most two ticks, plus however late the supervisor wakes to look (it
//! sleeps until the earliest such moment, in whole milliseconds).

use std::time::Duration;

/// Whether `limit` has surely passed since `stamp_ns` at `now_ns`, both
/// readings of a clock that moves in steps of `tick`. If not, how long to
/// wait before looking again (at least a millisecond).
pub(super) fn overran(stamp_ns: u64, now_ns: u64, limit: Duration, tick: Duration) -> Result<(), Duration> {
    let elapsed = Duration::from_nanos(now_ns.saturating_sub(stamp_ns));
    match limit.saturating_add(tick).checked_sub(elapsed) {
        Some(left) if !left.is_zero() => Err(left.max(Duration::from_millis(1))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A reading of a clock of resolution `tick` at true time `t`.
    fn coarse(t: u64, tick: u64) -> u64 {
        t / tick * tick
    }

    #[test]
    fn never_early_and_late_by_at_most_two_ticks() {
        for tick in [MS, 4 * MS, 10 * MS] {
            let limit = Duration::from_millis(50);
            let tick_d = Duration::from_nanos(tick);
            // True start and true now, in steps finer than the tick, with
            // starts at every phase of the tick.
            let step = tick / 8;
            for start in (10 * tick..11 * tick).step_by(step as usize) {
                let mut fired = None;
                for now in (start..start + 100 * MS).step_by(step as usize) {
                    let verdict = overran(coarse(start, tick), coarse(now, tick), limit, tick_d);
                    if verdict.is_ok() {
                        fired = Some(now);
                        break;
                    }
                }
                let fired = fired.expect("the limit passes");
                let true_elapsed = Duration::from_nanos(fired - start);
                assert!(
                    true_elapsed >= limit,
                    "early: {true_elapsed:?} < {limit:?} (tick {tick_d:?})"
                );
                assert!(
                    true_elapsed <= limit + 2 * tick_d,
                    "late by more than two ticks: {true_elapsed:?} (tick {tick_d:?})"
                );
            }
        }
    }

    #[test]
    fn says_how_long_to_wait_at_least_a_millisecond() {
        let tick = Duration::from_millis(4);
        let limit = Duration::from_millis(100);
        assert_eq!(overran(0, 30 * MS, limit, tick), Err(Duration::from_millis(74)));
        assert_eq!(
            overran(0, 103 * MS + MS / 2, limit, tick),
            Err(Duration::from_millis(1))
        );
        assert_eq!(overran(0, 104 * MS, limit, tick), Ok(()));
        // A stamp after the reading (the clock read first, stamped after)
        // is no time at all.
        assert_eq!(overran(10 * MS, 0, limit, tick), Err(limit + tick));
    }
}
