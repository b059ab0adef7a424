//! `--joblog`: one line per finished job, in GNU parallel's exact format,
//! and reading it back for `--resume` and `--resume-failed`.
//!
//! ```text
//! Seq<TAB>Host<TAB>Starttime<TAB>JobRuntime<TAB>Send<TAB>Receive<TAB>Exitval<TAB>Signal<TAB>Command
//! 1<TAB>:<TAB>1700000000.123<TAB>     0.101<TAB>0<TAB>9<TAB>0<TAB>0<TAB>sleep 0.1; echo done
//! ```
//! Exitval is -1 for a job we killed (timeout, halt, memfree), with the
//! signal that killed it in Signal.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// One finished job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry<'a> {
    pub(crate) seq: u64,
    pub(crate) start: SystemTime,
    pub(crate) runtime: Duration,
    /// Bytes of standard output.
    pub(crate) receive: u64,
    pub(crate) exitval: i64,
    pub(crate) signal: i32,
    pub(crate) command: &'a [u8],
}

impl Entry<'_> {
    /// The line, in GNU parallel's format.
    pub(crate) fn line(&self) -> Vec<u8> {
        let start = self.start.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let mut line = format!(
            "{}\t:\t{}.{:03}\t{:>10.3}\t0\t{}\t{}\t{}\t",
            self.seq,
            start.as_secs(),
            start.subsec_millis(),
            self.runtime.as_secs_f64(),
            self.receive,
            self.exitval,
            self.signal
        )
        .into_bytes();
        line.extend_from_slice(self.command);
        line.push(b'\n');
        line
    }
}

/// What an earlier run's joblog says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Prior {
    /// Sequence number → whether that job succeeded.
    pub(crate) jobs: HashMap<u64, bool>,
}

/// An open joblog.
#[derive(Debug)]
pub(crate) struct Joblog {
    file: File,
}

/// How the joblog is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Open {
    /// Start a new log.
    Create,
    /// Add to it (`+FILE`, or resuming).
    Append,
}

impl Joblog {
    /// Opens the log; returns it with what it already held (for resuming).
    pub(crate) fn open(path: &PathBuf, how: Open) -> io::Result<(Joblog, Prior)> {
        let prior = match how {
            Open::Append => read_prior(path)?,
            Open::Create => Prior::default(),
        };
        let mut file = match how {
            Open::Create => File::create(path)?,
            Open::Append => OpenOptions::new().create(true).append(true).open(path)?,
        };
        if how == Open::Create || file.metadata()?.len() == 0 {
            file.write_all(HEADER.as_bytes())?;
        }
        Ok((Joblog { file }, prior))
    }

    /// Logs a finished job (one `write`, so a crash loses at most it).
    pub(crate) fn record(&mut self, entry: &Entry<'_>) -> io::Result<()> {
        self.file.write_all(&entry.line())
    }
}

fn read_prior(path: &PathBuf) -> io::Result<Prior> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Prior::default()),
        Err(e) => return Err(e),
    };
    let mut prior = Prior::default();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        let fields: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
        if fields.len() < 8 {
            continue;
        }
        let number = |f: &[u8]| std::str::from_utf8(f).ok()?.trim().parse::<i64>().ok();
        let (Some(seq), Some(exitval), Some(signal)) = (number(fields[0]), number(fields[6]), number(fields[7])) else {
            // The header, or a line cut by a crash.
            continue;
        };
        let succeeded = exitval == 0 && signal == 0;
        // A later line for the same job (a resumed retry) wins.
        prior.jobs.insert(seq as u64, succeeded);
    }
    Ok(prior)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_gnu_parallel() {
        let entry = Entry {
            seq: 2,
            start: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_292_828_782),
            runtime: Duration::from_millis(1223),
            receive: 0,
            exitval: -1,
            signal: 15,
            command: b"sleep 3; echo done 3",
        };
        assert_eq!(
            String::from_utf8(entry.line()).unwrap(),
            "2\t:\t1795292828.782\t     1.223\t0\t0\t-1\t15\tsleep 3; echo done 3\n"
        );
    }

    #[test]
    fn resuming_reads_which_jobs_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let (mut log, prior) = Joblog::open(&path, Open::Create).unwrap();
            assert!(prior.jobs.is_empty());
            for (seq, exitval) in [(1, 0), (2, 3), (3, 0)] {
                log.record(&Entry {
                    seq,
                    start: SystemTime::now(),
                    runtime: Duration::ZERO,
                    receive: 0,
                    exitval,
                    signal: 0,
                    command: b"x",
                })
                .unwrap();
            }
        }
        // A torn last line is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"4\t:\t12")
            .unwrap();
        let (_, prior) = Joblog::open(&path, Open::Append).unwrap();
        assert_eq!(prior.jobs, HashMap::from([(1, true), (2, false), (3, true)]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches("Seq\tHost").count(),
            1,
            "appending does not repeat the header"
        );
    }
}
