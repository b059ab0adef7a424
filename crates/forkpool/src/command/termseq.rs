//! Termination sequences ([`TermSeq`], GNU parallel's `--termseq`): the
//! value, its `SIGNAL,MS,...` text form and signal names. The supervisor
//! carries one out per job as a kill plan (`KillPlan` in `mod.rs`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A termination sequence: signals to send to a job's process group, each
/// followed by a wait, until it has exited. GNU parallel's `--termseq`.
///
/// ```
/// let seq: forkpool::command::TermSeq = "TERM,200,KILL,25".parse().unwrap();
/// assert_eq!(seq.to_string(), "TERM,200,KILL,25");
/// assert_eq!(forkpool::command::TermSeq::default().to_string(), "TERM,200,TERM,100,TERM,50,KILL,25");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSeq {
    pub(super) steps: Vec<(i32, Duration)>,
}

impl Default for TermSeq {
    fn default() -> Self {
        TermSeq {
            steps: vec![
                (libc::SIGTERM, Duration::from_millis(200)),
                (libc::SIGTERM, Duration::from_millis(100)),
                (libc::SIGTERM, Duration::from_millis(50)),
                (libc::SIGKILL, Duration::from_millis(25)),
            ],
        }
    }
}

impl TermSeq {
    /// A sequence of one signal and no wait.
    pub fn immediate(signal: i32) -> TermSeq {
        TermSeq {
            steps: vec![(signal, Duration::ZERO)],
        }
    }
}

/// A `--termseq` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid termination sequence {0:?}: expected SIGNAL,MS[,SIGNAL,MS...], e.g. TERM,200,KILL,25")]
pub struct TermSeqError(String);

impl FromStr for TermSeq {
    type Err = TermSeqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TermSeqError(s.to_owned());
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.is_empty() || !parts.len().is_multiple_of(2) {
            return Err(err());
        }
        let steps = parts
            .chunks(2)
            .map(|pair| {
                let signal = parse_signal(pair[0]).ok_or_else(err)?;
                let wait: u64 = pair[1].parse().map_err(|_| err())?;
                Ok((signal, Duration::from_millis(wait)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TermSeq { steps })
    }
}

impl fmt::Display for TermSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (signal, wait)) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let name = crate::signal_name(*signal).map_or_else(|| signal.to_string(), |n| n.to_string());
            write!(f, "{},{}", name.trim_start_matches("SIG"), wait.as_millis())?;
        }
        Ok(())
    }
}

/// Parses `TERM`, `SIGTERM` or `15`.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..=64).find(|&n| crate::signal_name(n).is_some_and(|full| full.trim_start_matches("SIG") == name))
}
