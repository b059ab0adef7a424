//! `--shard` and `--bin`: one job per job slot, all running at once, and
//! every input line sent to the job its key chooses, so that all the lines
//! of a key reach the same job.
//!
//! - `--shard`: the job is the key's hash modulo the jobs. Where perl is
//!   installed, perl hashes, as GNU parallel's sharder does:
//!   `hex(B::hash($key)) % jobs`, in a perl started with `PERL_HASH_SEED`
//!   set (GNU sets it to its pid), so a key goes to the job it goes to
//!   with GNU (with Debian's perl 5.36, whose `B::hash` is then the same
//!   whatever the seed). Without perl, the hash is SipHash with a seed per
//!   run: equal keys still share a job, but which job differs.
//! - `--bin`: the key is a number, and the job is that number modulo the
//!   jobs with perl's `%` (a negative number wraps to a non-negative
//!   remainder; fractions are truncated; text counts as its leading number,
//!   or 0). A remainder of 0 goes to the last job, k to job k: GNU's binner
//!   opens the last job's fifo first.
//!
//! One thread, the sharder, reads standard input a chunk at a time, splits
//! it into lines, computes their keys (perl for an expression, a batch per
//! round trip) and writes each job its share of the chunk. Memory holds one
//! chunk (two with an expression: perl keys one while the other is dealt);
//! a job that does not read holds the sharder up (as GNU's sharders wait on
//! their fifos), one that has exited just stops getting lines.
//! The sharder starts only when every job has started (or was dropped),
//! so none misses the beginning.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::claim::{Seat, Seats, write_all};
use super::in_flight::InFlight;
use super::key::{ColSep, Keyer};
use super::settings::Spread;
use crate::jobs::{Job, io_reason};
use crate::replace::{EvalError, Unevaluated};

/// How much is read at a time.
const CHUNK: usize = 1 << 20;

/// A job's seat at the sharder's table (see `claim`).
pub(crate) type Claim = super::claim::Claim<Seats>;

/// Which job a key goes to.
#[derive(Debug)]
pub(crate) enum Route {
    /// `--shard`: by the key's hash.
    Hash(RandomState),
    /// `--bin`: by the key's value.
    Number,
}

impl Route {
    /// The job (from 0) of `jobs` that gets `key`.
    pub(crate) fn job(&self, key: &[u8], jobs: usize) -> usize {
        let jobs = jobs.max(1);
        match self {
            Route::Hash(state) => (state.hash_one(key) % jobs as u64) as usize,
            Route::Number => match bin(key, jobs as u64) {
                // GNU's binner: remainder 0 is the last job, k is job k.
                0 => jobs - 1,
                k => k as usize - 1,
            },
        }
    }
}

/// perl's `KEY % bins`, KEY read as perl reads a number.
pub(crate) fn bin(key: &[u8], bins: u64) -> u64 {
    let bins_i = i128::from(bins);
    match numify(key) {
        Number::Int(n) => n.rem_euclid(bins_i) as u64,
        Number::Float(f) if !f.is_finite() => 0,
        Number::Float(f) => {
            let t = f.trunc();
            if t.abs() < 18_446_744_073_709_551_616.0 {
                (t as i128).rem_euclid(bins_i) as u64
            } else {
                // perl takes the floating remainder of values that big.
                let r = (t.abs() % bins as f64) as u64;
                if t < 0.0 && r != 0 { bins - r } else { r }
            }
        }
    }
}

enum Number {
    Int(i128),
    Float(f64),
}

/// The leading number of `text`, as perl converts a string: blanks, a
/// sign, digits, a fraction, an exponent; `Inf`/`NaN`; else 0.
fn numify(text: &[u8]) -> Number {
    let text = std::str::from_utf8(text).unwrap_or_default();
    let s = text.trim_start();
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let digits_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_end = i;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if i == digits_start || (i == digits_start + 1 && int_end == digits_start) {
        let word = s[digits_start..].to_ascii_lowercase();
        let negative = s.starts_with('-');
        return if word.starts_with("inf") {
            Number::Float(if negative { f64::NEG_INFINITY } else { f64::INFINITY })
        } else if word.starts_with("nan") {
            Number::Float(f64::NAN)
        } else {
            Number::Int(0)
        };
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            i = j;
        }
    }
    let number = &s[..i];
    if i == int_end
        && let Ok(n) = number.parse::<i128>()
        && (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&n)
    {
        return Number::Int(n);
    }
    Number::Float(number.parse().unwrap_or(0.0))
}

/// The running sharder: the jobs' claims, and the thread, whose result is
/// the error that stopped it, if any (an expression that died).
pub(crate) struct Sharder {
    pub(crate) claims: Vec<Arc<Claim>>,
    pub(crate) thread: JoinHandle<Result<(), String>>,
}

/// Sets the sharder up for `spread` over standard input (`raw`) and
/// `jobs` jobs: a column name is looked up in the input's first line
/// (which, as in GNU, no job gets), perl is started for an expression.
/// Every error comes here, before any job.
pub(crate) fn start_for(spread: &Spread, raw: Box<dyn Read + Send>, jobs: usize) -> Result<Sharder, String> {
    let mut raw = raw;
    let colsep = ColSep::new(&spread.colsep, true)?;
    let header = if spread.key.names_a_column() {
        super::group_by::first_line(&mut raw).map_err(|e| format!("cannot read input: {}", io_reason(&e)))?
    } else {
        Vec::new()
    };
    let column = spread.key.column_number(&header, &colsep)?;
    let (keyer, route) = if spread.bin {
        (Keyer::new(spread.key.clone(), column, colsep, true)?, Route::Number)
    } else {
        // With perl, the keyer picks the jobs as GNU does; SipHash without.
        let keyer = Keyer::for_shard(spread.key.clone(), column, colsep)?;
        (keyer, Route::Hash(RandomState::new()))
    };
    start(raw, jobs, keyer, route).map_err(|e| format!("cannot start {}: {}", spread.key.option, io_reason(&e)))
}

/// The jobs of a `--shard`/`--bin` run, made up front; once they are all
/// handed out, the last call waits for the sharder and reports the
/// expression that stopped it, if one died.
pub(crate) struct SpreadJobs {
    pub(crate) ready: VecDeque<Job>,
    pub(crate) thread: Option<JoinHandle<Result<(), String>>>,
}

impl Unevaluated for SpreadJobs {
    fn next_unevaluated(&mut self) -> io::Result<Option<Job>> {
        if let Some(job) = self.ready.pop_front() {
            return Ok(Some(job));
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(why))) => Err(io::Error::other(EvalError(why))),
            Some(Err(_)) => Err(io::Error::other("the sharder failed")),
            _ => Ok(None),
        }
    }

    fn input_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}

/// Starts the sharder over `input` for `jobs` jobs.
pub(crate) fn start(input: Box<dyn Read + Send>, jobs: usize, keyer: Keyer, route: Route) -> io::Result<Sharder> {
    let seats = Arc::new(Seats::new(jobs));
    let claims = (0..jobs)
        .map(|k| Arc::new(Claim::new(k as u64, seats.clone())))
        .collect();
    let thread = std::thread::Builder::new()
        .name("forkpool-shard".into())
        .spawn(move || spread(input, &seats, jobs, keyer, &route))?;
    Ok(Sharder { claims, thread })
}

fn spread(
    mut input: Box<dyn Read + Send>,
    seats: &Seats,
    jobs: usize,
    mut keyer: Keyer,
    route: &Route,
) -> Result<(), String> {
    let mut outputs = seats.wait_all();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut shares: Vec<Vec<u8>> = vec![Vec::new(); jobs];
    // With an expression: the lines whose jobs perl is computing.
    let mut asked = InFlight::default();
    let mut eof = false;
    while !eof {
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let n = loop {
            match input.read(&mut buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An input we cannot read ends like an empty one.
                Err(_) => break 0,
            }
        };
        buf.truncate(start + n);
        eof = n == 0;
        // Whole lines only, but at the end.
        let whole = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        if keyer.evaluates() {
            // Perl keys these lines while the ones asked before are dealt.
            asked.send(
                &buf[..whole],
                |lines| jobs_ahead(&mut keyer, lines, jobs, route),
                |asked, jobs_of| deal(asked, &jobs_of, &mut shares),
            )?;
        } else {
            let lines: Vec<&[u8]> = buf[..whole].split_inclusive(|&b| b == b'\n').collect();
            if let Some(shards) = keyer.shards(&lines, jobs)? {
                deal(&buf[..whole], &shards, &mut shares);
            } else {
                let keys = keyer.keys(&lines)?;
                for (i, line) in lines.iter().enumerate() {
                    shares[route.job(keys.get(i), jobs)].extend_from_slice(line);
                }
            }
        }
        write_shares(&mut shares, &mut outputs);
        buf.drain(..whole);
    }
    asked.land(
        |none| jobs_ahead(&mut keyer, none, jobs, route),
        |asked, jobs_of| deal(asked, &jobs_of, &mut shares),
    )?;
    write_shares(&mut shares, &mut outputs);
    // Dropping the outputs closes every job's stdin.
    Ok(())
}

/// With an expression: asks perl the jobs of `lines` (by hash for
/// `--shard`, by the keys' values for `--bin`) and returns those of the
/// lines asked before, if any ([`Keyer::keys_ahead`]).
fn jobs_ahead(keyer: &mut Keyer, lines: &[&[u8]], jobs: usize, route: &Route) -> Result<Option<Vec<usize>>, String> {
    if keyer.hashes() {
        return keyer.shards_ahead(lines, jobs);
    }
    Ok(keyer
        .keys_ahead(lines)?
        .map(|keys| (0..keys.len()).map(|i| route.job(keys.get(i), jobs)).collect()))
}

/// Adds each line of `lines` to its job's share.
fn deal(lines: &[u8], jobs_of: &[usize], shares: &mut [Vec<u8>]) {
    let last = shares.len().saturating_sub(1);
    for (line, &job) in lines.split_inclusive(|&b| b == b'\n').zip(jobs_of) {
        shares[job.min(last)].extend_from_slice(line);
    }
}

/// Writes each job its share, and empties the shares.
fn write_shares(shares: &mut [Vec<u8>], outputs: &mut [Option<Seat>]) {
    for (share, output) in shares.iter_mut().zip(outputs.iter_mut()) {
        if !share.is_empty() {
            if let Some(seat) = output
                && !write_all(seat, share)
            {
                // The job is gone: its lines are dropped, as a fifo's
                // reader that exited gets none.
                *output = None;
            }
            share.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_as_perls_modulo() {
        let b = |k: &str| bin(k.as_bytes(), 3);
        assert_eq!([b("0"), b("1"), b("2"), b("3"), b("10")], [0, 1, 2, 0, 1]);
        assert_eq!([b("-1"), b("-2"), b("-3"), b("-5")], [2, 1, 0, 1]);
        assert_eq!(
            [b("-7.5"), b("3abc"), b(" 4"), b("1e1"), b("0x10"), b("abc"), b("")],
            [2, 0, 1, 1, 0, 0, 0]
        );
        assert_eq!([b("1e30"), b("18446744073709551615")], [1, 0]);
        assert_eq!(bin(b"18446744073709551615", 7), 1);
        assert_eq!(bin(b"-18446744073709551615", 7), 5, "below i64: a float");
        assert_eq!(bin(b"-1.8446744073709552e19", 7), 5);
    }

    #[test]
    fn remainder_zero_is_the_last_job() {
        let jobs: Vec<usize> = ["1", "2", "3", "4", "0", "-1"]
            .iter()
            .map(|k| Route::Number.job(k.as_bytes(), 3))
            .collect();
        assert_eq!(jobs, [0, 1, 2, 0, 2, 1]);
    }
}
