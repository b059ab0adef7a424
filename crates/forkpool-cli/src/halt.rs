//! `--halt`: when to stop early, and the exit status, as GNU parallel
//! decides them.

use std::fmt;
use std::str::FromStr;

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Run every job.
    Never,
    /// Start no new job; let running ones finish.
    Soon,
    /// Kill running jobs and stop.
    Now,
}

/// What to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    Fail,
    Success,
    Done,
}

/// How many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Threshold {
    Count(u64),
    Percent(f64),
}

/// A `--halt` policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Halt {
    pub(crate) when: When,
    pub(crate) why: Why,
    pub(crate) threshold: Threshold,
}

impl Default for Halt {
    fn default() -> Self {
        Halt {
            when: When::Never,
            why: Why::Fail,
            threshold: Threshold::Count(0),
        }
    }
}

/// A `--halt` value that does not parse; the text says why, as GNU
/// parallel words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HaltError(pub String);

impl fmt::Display for HaltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Halt {
    type Err = HaltError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expanded = match text {
            "0" => "never".to_owned(),
            "1" => "soon,fail=1".to_owned(),
            "2" => "now,fail=1".to_owned(),
            "-1" => "soon,success=1".to_owned(),
            "-2" => "now,success=1".to_owned(),
            t if t.ends_with('%') && t[..t.len() - 1].chars().all(|c| c.is_ascii_digit()) && t.len() > 1 => {
                format!("soon,fail={t}")
            }
            t => t.to_owned(),
        };
        let parts: Vec<&str> = expanded.split([',', '=']).collect();
        let when = match parts[0] {
            "never" => return Ok(Halt::default()),
            "soon" => When::Soon,
            "now" => When::Now,
            _ => return Err(HaltError("--halt must have 'never', 'soon', or 'now'.".into())),
        };
        let why = match parts.get(1).copied() {
            Some("fail") => Why::Fail,
            Some("success") => Why::Success,
            Some("done") => Why::Done,
            _ => {
                return Err(HaltError(format!(
                    "--halt {} must be followed by ,success or ,fail.",
                    parts[0]
                )));
            }
        };
        let amount = parts.get(2).copied().unwrap_or("");
        let threshold = if let Some(pct) = amount.strip_suffix('%').and_then(|p| p.parse::<u64>().ok()) {
            Threshold::Percent(pct as f64 / 100.0)
        } else if let Ok(n) = amount.parse::<u64>() {
            Threshold::Count(n)
        } else {
            return Err(HaltError(format!(
                "--halt {},{} must be followed by ,number or ,percent%.",
                parts[0], parts[1]
            )));
        };
        if parts.len() > 3 {
            return Err(HaltError(format!("--halt {text}: too many parts.")));
        }
        Ok(Halt { when, why, threshold })
    }
}

/// Jobs so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
}

/// What to do after a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// GNU parallel's status line about the job, if `--halt` tracks it.
    pub(crate) message: Option<&'static str>,
    /// Stop now or soon, with this exit status.
    pub(crate) halt: Option<(When, i32)>,
}

impl Halt {
    /// Whether any percentage needs the total number of jobs.
    pub(crate) fn needs_total(&self) -> bool {
        self.when != When::Never && matches!(self.threshold, Threshold::Percent(_))
    }

    /// Called after a job ended (after `tally` counted it). `status` is the
    /// job's exit status, or 128 + the signal that killed it.
    pub(crate) fn check(&self, tally: &Tally, failed: bool, status: i32, total: Option<u64>) -> Verdict {
        let mut verdict = Verdict {
            message: None,
            halt: None,
        };
        if self.when == When::Never {
            return verdict;
        }
        let limit = match self.why {
            Why::Fail if failed => {
                verdict.message = Some("This job failed:");
                Some(tally.failed)
            }
            Why::Success if !failed => {
                verdict.message = Some("This job succeeded:");
                Some(tally.completed - tally.failed)
            }
            Why::Done => {
                verdict.message = Some("This job finished:");
                Some(tally.completed)
            }
            _ => None,
        };
        let Some(limit) = limit else { return verdict };
        let total = total.unwrap_or(tally.started).max(1);
        let needed = match self.threshold {
            Threshold::Count(n) => n as f64,
            Threshold::Percent(p) => total as f64 * p,
        };
        if (limit as f64) < needed {
            return verdict;
        }
        let exit = match (self.why, self.threshold) {
            (Why::Success, _) => 0,
            // A threshold of nothing is met by the first job it counts;
            // GNU parallel's exit status is then left unset: 0.
            _ if self.is_zero() => 0,
            // A percentage that comes to one job is that job's status.
            (_, Threshold::Percent(_)) if needed == 1.0 => status,
            (_, Threshold::Percent(_)) => (tally.failed as f64 / total as f64 * 100.0).ceil() as i32,
            (_, Threshold::Count(1)) => status,
            // The number of failed jobs, 101 past 100; when none failed
            // (only `done=N` halts then), GNU parallel's count is unset
            // and its `min(unset, 101)` gives 101: scripts see that.
            (_, Threshold::Count(_)) if tally.failed == 0 => 101,
            (_, Threshold::Count(_)) => tally.failed.min(101) as i32,
        };
        verdict.halt = Some((self.when, exit));
        verdict
    }
}

impl Halt {
    /// A threshold of nothing (`fail=0`, `fail=0%`): met by the first job
    /// it counts, and the run's exit status is 0 whatever happens.
    fn is_zero(&self) -> bool {
        match self.threshold {
            Threshold::Count(n) => n == 0,
            Threshold::Percent(p) => p <= 0.0,
        }
    }

    /// The exit status when the run ended without halting: the number of
    /// failed jobs (101 past 100), or, under a `--halt` percentage, the
    /// percentage of started jobs that failed, as GNU parallel reports it.
    pub(crate) fn final_status(&self, tally: &Tally) -> i32 {
        if self.when != When::Never && self.is_zero() {
            // `fail=0` (never met: no job failed): GNU parallel exits 0.
            return 0;
        }
        match (self.when, self.threshold) {
            (When::Soon | When::Now, Threshold::Percent(_)) => {
                (tally.failed as f64 / tally.started.max(1) as f64 * 100.0).ceil() as i32
            }
            _ => tally.failed.min(101) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halt(s: &str) -> Halt {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(halt("now,fail=1").when, When::Now);
        assert_eq!(halt("soon,success=3%").threshold, Threshold::Percent(0.03));
        assert_eq!(halt("2"), halt("now,fail=1"));
        assert_eq!(halt("-1"), halt("soon,success=1"));
        assert_eq!(halt("5%"), halt("soon,fail=5%"));
        assert_eq!(halt("never").when, When::Never);
        for bad in [
            "bogus",
            "now",
            "now,explode=1",
            "soon,fail",
            "soon,fail=x",
            "now,fail=1=2",
        ] {
            assert!(bad.parse::<Halt>().is_err(), "{bad}");
        }
        assert_eq!(
            "bogus".parse::<Halt>().unwrap_err().0,
            "--halt must have 'never', 'soon', or 'now'."
        );
    }

    #[test]
    fn fail_one_exits_with_the_jobs_status() {
        let h = halt("now,fail=1");
        let t = Tally {
            started: 2,
            completed: 2,
            failed: 1,
        };
        assert_eq!(h.check(&t, true, 2, None).halt, Some((When::Now, 2)));
        assert_eq!(h.check(&t, false, 0, None).halt, None);
    }

    #[test]
    fn counts_and_percentages() {
        let h = halt("soon,fail=2");
        let one = Tally {
            started: 3,
            completed: 3,
            failed: 1,
        };
        assert_eq!(h.check(&one, true, 1, None).halt, None);
        let two = Tally { failed: 2, ..one };
        assert_eq!(h.check(&two, true, 3, None).halt, Some((When::Soon, 2)));
        let pct = halt("now,fail=50%");
        assert_eq!(pct.check(&two, true, 3, Some(4)).halt, Some((When::Now, 50)));
        assert_eq!(pct.check(&one, true, 3, Some(4)).halt, None);
        let done = halt("now,done=2");
        let d = Tally {
            started: 2,
            completed: 2,
            failed: 1,
        };
        assert_eq!(
            done.check(&d, false, 0, None),
            Verdict {
                message: Some("This job finished:"),
                halt: Some((When::Now, 1))
            }
        );
        let success = halt("now,success=1");
        assert_eq!(success.check(&d, false, 0, None).halt, Some((When::Now, 0)));
    }

    #[test]
    fn a_run_that_never_halts_reports_the_failed_percentage() {
        let t = Tally {
            started: 6,
            completed: 6,
            failed: 2,
        };
        assert_eq!(halt("soon,fail=50%").final_status(&t), 34);
        assert_eq!(halt("soon,fail=3").final_status(&t), 2);
        assert_eq!(Halt::default().final_status(&t), 2);
    }

    #[test]
    fn a_percentage_of_one_job_and_a_zero_threshold_behave_as_gnu() {
        let t = Tally {
            started: 2,
            completed: 2,
            failed: 1,
        };
        // 25% of 4 jobs is one job: its own status, as with fail=1.
        assert_eq!(
            halt("now,fail=25%").check(&t, true, 3, Some(4)).halt,
            Some((When::Now, 3))
        );
        // fail=0 halts at the first failure, and the run exits 0.
        assert_eq!(
            halt("now,fail=0").check(&t, true, 3, Some(4)).halt,
            Some((When::Now, 0))
        );
        assert_eq!(
            halt("soon,fail=0%").check(&t, true, 3, Some(4)).halt,
            Some((When::Soon, 0))
        );
        assert_eq!(halt("now,fail=0").check(&t, false, 0, Some(4)).halt, None);
        for zero in ["now,fail=0", "soon,fail=0%"] {
            assert_eq!(halt(zero).final_status(&t), 0, "{zero}");
        }
    }
}
