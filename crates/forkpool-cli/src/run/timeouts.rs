//! `--timeout` (a fixed time, or a percentage of the median runtime of
//! the jobs that succeeded) and `--memfree`'s killing of the youngest job.

use std::time::{Duration, Instant};

use super::{Killed, Runner, wake_if_suspended};
use crate::config::Timeout;

/// The median of successful runtimes, for `--timeout N%`, kept in
/// bounded memory with the remedian (Rousseeuw & Bassett, 1990) over three
/// levels of 999, as GNU parallel does (though sorting numerically).
#[derive(Debug, Default)]
pub(super) struct Remedian {
    index: usize,
    levels: [Vec<f64>; 3],
    pub(super) median: Option<f64>,
}

impl Remedian {
    pub(super) fn add(&mut self, value: f64) {
        let i = self.index;
        self.index += 1;
        put(&mut self.levels[0], i % 999, value);
        let m0 = median_of(&self.levels[0]);
        put(&mut self.levels[1], i / 999 % 999, m0);
        let m1 = median_of(&self.levels[1]);
        put(&mut self.levels[2], i / 999 / 999 % 999, m1);
        self.median = Some(median_of(&self.levels[2]));
    }
}

fn put(level: &mut Vec<f64>, at: usize, value: f64) {
    match level.get_mut(at) {
        Some(slot) => *slot = value,
        None => level.push(value),
    }
}

fn median_of(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

impl Runner<'_> {
    fn timeout_of(&self) -> Option<Duration> {
        match self.config.timeout? {
            Timeout::Fixed(d) => Some(d),
            Timeout::Median(pct) => self.median.median.map(|m| Duration::from_secs_f64((m * pct).max(0.0))),
        }
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        let timeout = self.timeout_of()?;
        self.running
            .values()
            .filter(|r| r.killed.is_none())
            .filter_map(|r| r.started.checked_add(timeout))
            .min()
    }

    pub(super) fn enforce_timeouts(&mut self) {
        let Some(timeout) = self.timeout_of() else { return };
        let now = Instant::now();
        let seq = self.config.termseq.clone();
        for (id, running) in &mut self.running {
            if running.killed.is_none() && now.duration_since(running.started) >= timeout {
                running.killed = Some(Killed::Timeout);
                let line = String::from_utf8_lossy(&running.command).into_owned();
                self.progress.suspend(|| {
                    warning!("This job was killed because it timed out:\n{line}");
                });
                if let Some(s) = self.supervisor.as_mut() {
                    wake_if_suspended(s, *id, running);
                    s.terminate(*id, &seq);
                }
            }
        }
    }

    /// `--memfree`: under half the limit free, kill the youngest job (it
    /// goes back on the queue).
    pub(super) fn enforce_memfree(&mut self) {
        let Some(memfree) = self.config.memfree else { return };
        if self.running.len() < 2 || crate::limits::memory::free().is_none_or(|a| a >= memfree / 2) {
            return;
        }
        let youngest = self
            .running
            .iter()
            .filter(|(_, r)| r.killed.is_none())
            .max_by_key(|(_, r)| r.started)
            .map(|(id, _)| *id);
        if let Some(id) = youngest {
            let seq = self.config.termseq.clone();
            if let (Some(r), Some(s)) = (self.running.get_mut(&id), self.supervisor.as_mut()) {
                r.killed = Some(Killed::Memfree);
                wake_if_suspended(s, id, r);
                s.terminate(id, &seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remedian_follows_the_median() {
        let mut r = Remedian::default();
        for v in [5.0, 1.0, 3.0] {
            r.add(v);
        }
        assert_eq!(r.median, Some(3.0));
        let mut big = Remedian::default();
        for i in 0..5000 {
            big.add(f64::from(i % 100));
        }
        let m = big.median.unwrap();
        assert!((40.0..=60.0).contains(&m), "{m}");
    }
}
