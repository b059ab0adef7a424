//! When to start a guardian again after one died, and what to tell the
//! owner's user: a pure schedule, with no process in it, so that every
//! case is a unit test.
//!
//! The rule (see `guardian.rs` for why):
//! - a guardian that dies after having run for [`STABLE`] is replaced at
//!   once, silently: one death is an accident (the OOM killer, a stray
//!   `kill`), and the owner has a new guardian a moment later;
//! - a guardian that dies again within [`STABLE`] of its start, or one
//!   that cannot be started (`EAGAIN` under `RLIMIT_NPROC`, `ENOMEM`), is
//!   tried again after a delay that doubles from [`FIRST_DELAY`] up to
//!   [`MAX_DELAY`], for as long as the owner runs: never a spin, never a
//!   give-up (the children are still the owner's, fully supervised; only
//!   the owner's own `SIGKILL` is uncovered meanwhile);
//! - the owner's user hears of it once per such lapse ([`News::Unguarded`]
//!   when the first restart is put off or fails), and once more when a
//!   guardian has run for [`STABLE`] again ([`News::Guarded`]).

use std::time::{Duration, Instant};

/// A guardian that has run this long was not killed in a loop: its
/// death starts a new lapse.
pub(crate) const STABLE: Duration = Duration::from_secs(1);
/// The first delay before another restart in a lapse.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(10);
/// The longest delay between restarts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);

/// What the owner's user should hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum News {
    /// The children have no guardian for longer than an instant: the
    /// guardian keeps dying, or cannot be started (the reason).
    Unguarded(String),
    /// A guardian has run again for [`STABLE`] after [`News::Unguarded`].
    Guarded,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Restarts {
    /// When the running guardian started (`None`: none runs).
    started: Option<Instant>,
    /// Deaths and failed starts in a row, without a guardian that ran for
    /// [`STABLE`] in between.
    streak: u32,
    /// When to try to start one (`None` while one runs).
    due: Option<Instant>,
    /// [`News::Unguarded`] was said and [`News::Guarded`] is owed.
    said: bool,
}

impl Restarts {
    /// A guardian started at `now`.
    pub(crate) fn started(&mut self, now: Instant) {
        self.started = Some(now);
        self.due = None;
    }

    /// The running guardian died at `now`. The next start is due at once
    /// after a stable guardian, later within a lapse; says so if it is
    /// put off.
    pub(crate) fn died(&mut self, now: Instant) -> Option<News> {
        let stable = self
            .started
            .take()
            .is_some_and(|at| now.saturating_duration_since(at) >= STABLE);
        if stable {
            self.streak = 0;
        }
        self.streak = self.streak.saturating_add(1);
        self.due = Some(now + self.delay());
        (self.streak > 1)
            .then(|| self.lapse(format!("its guardian process died {} times in a row", self.streak)))
            .flatten()
    }

    /// A start failed at `now` because of `error`: the next one is put
    /// off.
    pub(crate) fn failed(&mut self, now: Instant, error: &std::io::Error) -> Option<News> {
        self.started = None;
        self.streak = self.streak.saturating_add(1).max(2);
        self.due = Some(now + self.delay());
        self.lapse(format!("its guardian process cannot be started again: {error}"))
    }

    /// Whether a start is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.due.is_some_and(|at| at <= now)
    }

    /// [`News::Guarded`] once the guardian started after a lapse has run
    /// for [`STABLE`].
    pub(crate) fn tick(&mut self, now: Instant) -> Option<News> {
        let settled = self
            .started
            .is_some_and(|at| now.saturating_duration_since(at) >= STABLE);
        if settled {
            self.streak = 0;
            if self.said {
                self.said = false;
                return Some(News::Guarded);
            }
        }
        None
    }

    /// When [`tick`](Restarts::tick) has something to do: a start due,
    /// or news owed.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        let settles = self.started.filter(|_| self.said).map(|at| at + STABLE);
        match (self.due, settles) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The delay before the next start: none for the first of a lapse,
    /// then [`FIRST_DELAY`] doubling up to [`MAX_DELAY`].
    fn delay(&self) -> Duration {
        match self.streak {
            0 | 1 => Duration::ZERO,
            n => FIRST_DELAY.saturating_mul(1 << (n - 2).min(16)).min(MAX_DELAY),
        }
    }

    /// The news of a lapse, once per lapse.
    fn lapse(&mut self, reason: String) -> Option<News> {
        if self.said {
            return None;
        }
        self.said = true;
        Some(News::Unguarded(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_stable_guardian_is_replaced_at_once_and_silently() {
        let t0 = Instant::now();
        let mut r = Restarts::default();
        r.started(t0);
        assert_eq!(r.wake_at(), None, "nothing to do while a guardian runs");
        let died = t0 + ms(5000);
        assert_eq!(r.died(died), None);
        assert!(r.due(died));
        r.started(died);
        // Again long after: still the first of a lapse.
        assert_eq!(r.tick(died + STABLE), None);
        assert_eq!(r.wake_at(), None);
        assert_eq!(r.died(died + ms(5000)), None);
        assert!(r.due(died + ms(5000)));
    }

    #[test]
    fn a_guardian_killed_in_a_loop_is_restarted_with_doubling_delays_and_one_warning() {
        let mut now = Instant::now();
        let mut r = Restarts::default();
        r.started(now);
        now += STABLE;
        let mut news = Vec::new();
        let mut delays = Vec::new();
        for _ in 0..12 {
            news.extend(r.died(now));
            let due = r.wake_at().unwrap();
            delays.push(due - now);
            assert!(due == now || !r.due(now), "put off: not due yet");
            assert!(r.due(due));
            now = due;
            r.started(now);
            news.extend(r.tick(now));
            now += ms(1); // killed again at once
        }
        assert_eq!(
            delays[..9],
            [0, 10, 20, 40, 80, 160, 320, 640, 1000].map(ms),
            "{delays:?}"
        );
        assert!(delays[9..].iter().all(|&d| d == MAX_DELAY), "{delays:?}");
        assert_eq!(
            news,
            [News::Unguarded("its guardian process died 2 times in a row".into())],
            "one warning per lapse"
        );
        // It finally stays up: said once, and the next death is a new lapse.
        assert_eq!(r.tick(now + STABLE), Some(News::Guarded));
        assert_eq!(r.tick(now + STABLE + ms(1)), None);
        assert_eq!(r.died(now + STABLE * 2), None);
        assert!(r.due(now + STABLE * 2));
    }

    #[test]
    fn a_guardian_that_cannot_start_is_retried_for_ever_with_capped_delays() {
        let mut now = Instant::now();
        let mut r = Restarts::default();
        r.started(now);
        now += STABLE * 3;
        assert_eq!(r.died(now), None);
        assert!(r.due(now));
        let eagain = std::io::Error::from_raw_os_error(libc::EAGAIN);
        let first = r.failed(now, &eagain);
        assert!(
            matches!(&first, Some(News::Unguarded(m)) if m.contains("cannot be started again")),
            "{first:?}"
        );
        assert_eq!(r.wake_at(), Some(now + FIRST_DELAY));
        assert!(!r.due(now));
        for _ in 0..40 {
            now = r.wake_at().unwrap();
            assert!(r.due(now));
            assert_eq!(r.failed(now, &eagain), None, "said once");
        }
        assert_eq!(r.wake_at(), Some(now + MAX_DELAY));
        now += MAX_DELAY;
        r.started(now);
        assert_eq!(r.wake_at(), Some(now + STABLE));
        assert_eq!(r.tick(now + ms(10)), None);
        assert_eq!(r.tick(now + STABLE), Some(News::Guarded));
        assert_eq!(r.wake_at(), None);
    }
}
