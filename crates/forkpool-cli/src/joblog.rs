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
use std::path::Path;
use std::time::{Duration, SystemTime};

const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// What is known of a finished job, kept until its output is printed:
/// its joblog line and (for a `--results` table) its row are written then,
/// so they come in the order the output does (input order under `-k`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finished {
    pub(crate) seq: u64,
    pub(crate) start: SystemTime,
    pub(crate) runtime: Duration,
    /// The sshlogin it ran on (`:` for this machine).
    pub(crate) host: String,
    /// Bytes sent to its host (`--transferfile`).
    pub(crate) send: u64,
    /// Bytes of standard output (and of `--return`ed files).
    pub(crate) receive: u64,
    pub(crate) exitval: i64,
    pub(crate) signal: i32,
    pub(crate) command: Vec<u8>,
    /// The job's input values (for a table row).
    pub(crate) values: Vec<Vec<u8>>,
}

impl Finished {
    /// The start time as GNU parallel writes it: seconds since the epoch,
    /// with milliseconds.
    pub(crate) fn start_text(&self) -> String {
        let start = self.start.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        format!("{}.{:03}", start.as_secs(), start.subsec_millis())
    }

    /// The joblog line, in GNU parallel's format.
    pub(crate) fn line(&self) -> Vec<u8> {
        let mut line = format!(
            "{}\t{}\t{}\t{:>10.3}\t{}\t{}\t{}\t{}\t",
            self.seq,
            self.host,
            self.start_text(),
            self.runtime.as_secs_f64(),
            self.send,
            self.receive,
            self.exitval,
            self.signal
        )
        .into_bytes();
        // One line per job: a newline in the command is written as NUL,
        // as GNU parallel does.
        line.extend(self.command.iter().map(|&b| if b == b'\n' { 0 } else { b }));
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
pub(crate) struct Joblog {
    out: Box<dyn Write + Send>,
}

impl std::fmt::Debug for Joblog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joblog").finish_non_exhaustive()
    }
}

/// How the joblog is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Open {
    /// A new log: truncate, write the header (`-` is standard output).
    Create,
    /// `+FILE`: add lines to it, without a header.
    Append,
    /// `--resume`: read what it says, then add to it if it has anything
    /// (else start it anew, or as `+FILE` says if it does not exist).
    Resume {
        /// The name was given as `+FILE`.
        plus: bool,
    },
}

impl Joblog {
    /// Opens the log; returns it with what it already held (for resuming).
    /// Follows GNU parallel's rules for when to write the header.
    pub(crate) fn open(path: &Path, how: Open) -> io::Result<(Joblog, Prior)> {
        let (append, prior) = match how {
            Open::Create => (false, Prior::default()),
            Open::Append => (true, Prior::default()),
            Open::Resume { plus } => match std::fs::metadata(path) {
                Ok(meta) => (meta.len() > 0, read_prior(path)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => (plus, Prior::default()),
                Err(e) => return Err(e),
            },
        };
        let out: Box<dyn Write + Send> = if append {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        } else {
            let mut out: Box<dyn Write + Send> = if path == Path::new("-") {
                Box::new(io::stdout())
            } else {
                Box::new(File::create(path)?)
            };
            out.write_all(HEADER.as_bytes())?;
            out.flush()?;
            out
        };
        Ok((Joblog { out }, prior))
    }

    /// Adds a line as it is (one written by another run: `--onall`).
    pub(crate) fn write_raw(&mut self, line: &[u8]) -> io::Result<()> {
        self.out.write_all(line)?;
        self.out.flush()
    }

    /// Logs a finished job (one `write`, so a crash loses at most it).
    pub(crate) fn record(&mut self, entry: &Finished) -> io::Result<()> {
        self.out.write_all(&entry.line())?;
        self.out.flush()
    }
}

fn read_prior(path: &Path) -> io::Result<Prior> {
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
        let entry = Finished {
            seq: 2,
            start: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_292_828_782),
            runtime: Duration::from_millis(1223),
            host: ":".to_owned(),
            send: 0,
            receive: 0,
            exitval: -1,
            signal: 15,
            command: b"sleep 3; echo done 3".to_vec(),
            values: Vec::new(),
        };
        assert_eq!(
            String::from_utf8(entry.line()).unwrap(),
            "2\t:\t1795292828.782\t     1.223\t0\t0\t-1\t15\tsleep 3; echo done 3\n"
        );
    }

    #[test]
    fn a_command_with_newlines_stays_on_one_line() {
        let entry = Finished {
            seq: 1,
            start: SystemTime::UNIX_EPOCH,
            runtime: Duration::ZERO,
            host: ":".to_owned(),
            send: 0,
            receive: 0,
            exitval: 0,
            signal: 0,
            command: b"echo 'a\nb'".to_vec(),
            values: Vec::new(),
        };
        assert!(entry.line().ends_with(b"\techo 'a\0b'\n"));
    }

    #[test]
    fn resuming_reads_which_jobs_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let (mut log, prior) = Joblog::open(&path, Open::Create).unwrap();
            assert!(prior.jobs.is_empty());
            for (seq, exitval) in [(1, 0), (2, 3), (3, 0)] {
                log.record(&Finished {
                    seq,
                    start: SystemTime::now(),
                    runtime: Duration::ZERO,
                    host: ":".to_owned(),
                    send: 0,
                    receive: 0,
                    exitval,
                    signal: 0,
                    command: b"x".to_vec(),
                    values: Vec::new(),
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
        let (_, prior) = Joblog::open(&path, Open::Resume { plus: false }).unwrap();
        assert_eq!(prior.jobs, HashMap::from([(1, true), (2, false), (3, true)]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches("Seq\tHost").count(),
            1,
            "resuming does not repeat the header"
        );
    }

    #[test]
    fn the_header_is_written_as_gnu_parallel_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let text = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        let open = |name: &str, how| drop(Joblog::open(&dir.path().join(name), how).unwrap());
        open("new", Open::Create);
        assert_eq!(text("new"), HEADER);
        open("plus", Open::Append);
        assert_eq!(text("plus"), "", "+FILE never writes one");
        open("resumed", Open::Resume { plus: false });
        assert_eq!(text("resumed"), HEADER, "resuming a log that is not there starts one");
        open("resumed-plus", Open::Resume { plus: true });
        assert_eq!(text("resumed-plus"), "");
    }
}
