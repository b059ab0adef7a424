//! The checked configuration: raw flags resolved into what the run needs.
//! Every bad value is reported here, as one line naming the problem,
//! before any job runs.
//!
//! The record is here: [`Config`] and the types of its fields. Beside it:
//! `resolve` (the flags resolved and checked: [`Config::from_flags`]),
//! `values` (how GNU parallel's Perl reads a value: truth, `--timeout`,
//! `--load`, `--delay`, `--tagstring`'s escapes) and `cost` (what bounds
//! the job slots: a job's file handles and processes, the most jobs the
//! `:::` lists make).

mod cost;
mod resolve;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use forkpool::command::TermSeq;
use regex::bytes::Regex;

pub(crate) use cost::gnu_counted_sources;
pub(crate) use values::{perl_eval_given, perl_true, regex_reason};

use crate::flags::Source;
use crate::halt::Halt;
use crate::input::Linking;
use crate::output::Mode;
use crate::replace::Multi;
use crate::shell::Shell;

/// A usage error: printed as `forkpool: <message>`, exit status 255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How input items are grouped into jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batching {
    /// One record per job.
    Single,
    /// `-n N` / `-N N`: N records per job (`-n0`/`-N0` make no count:
    /// see [`Config::no_args`]).
    Count(usize),
    /// `-X` / `-m`: as many as fit the command line.
    Fill,
}

/// `--timeout`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Timeout {
    Fixed(Duration),
    /// A fraction of the median runtime of successful jobs.
    Median(f64),
}

/// `--delay`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Delay {
    pub(crate) base: Duration,
    /// `auto`: +30% after a failure, -10% after a success.
    pub(crate) auto: bool,
}

/// `--tag` / `--tagstring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    None,
    Args,
    Template(Vec<u8>),
}

/// `--header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Header {
    /// The first line of each source names its columns.
    FirstLine,
    /// `--header 0`: sources are named after their files.
    FileNames,
}

/// `--resume` / `--resume-failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    No,
    Skip,
    RetryFailed,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) command: Vec<Vec<u8>>,
    pub(crate) sources: Vec<Source>,
    pub(crate) delimiter: Vec<u8>,
    pub(crate) colsep: Option<Regex>,
    pub(crate) header: Option<Header>,
    pub(crate) linking: Linking,
    pub(crate) batching: Batching,
    pub(crate) multi: Multi,
    /// `-m`, `-X`: the last of the input is shared out over the slots.
    pub(crate) spread: bool,
    /// `-n0`, `-N0`: each record's values are GNU parallel's `\0noarg`
    /// (see [`crate::replace::NOARG`]): a job reads a record (or, with
    /// `-X`, `-m`, `--xargs`, as many as fit) and uses none of its values.
    pub(crate) no_args: bool,
    /// The longest command line allowed (`-s`, else GNU parallel's).
    pub(crate) max_line: usize,
    /// `-E`, `-r`, `-L`, `--xargs`.
    pub(crate) xargs: crate::xargs::Xargs,
    /// Items end in a newline by default: warn if the input's lines end
    /// in CR-NL, as GNU parallel does.
    pub(crate) check_crlf: bool,
    /// `-N`: positional strings refer to the job's arguments.
    pub(crate) quote: bool,
    pub(crate) jobs: usize,
    /// Where `jobs` came from (`-j 0`, `-j FILE`) and what bounds it.
    pub(crate) slots: crate::limits::slots::Slots,
    /// `--limit`, `--memsuspend`, `--noswap`.
    pub(crate) limits: crate::limits::Limits,
    pub(crate) delay: Option<Delay>,
    pub(crate) memfree: Option<u64>,
    pub(crate) load: Option<f64>,
    pub(crate) nice: Option<i32>,
    pub(crate) shuffle: bool,
    pub(crate) mode: Mode,
    pub(crate) keep_order: bool,
    pub(crate) tag: Tag,
    /// Whether `--tag` (or `--ctag`) was given: `--onall` tags lines with
    /// the host only then, whatever `--tagstring` says (as GNU parallel).
    pub(crate) tag_option: bool,
    pub(crate) results: Option<Vec<u8>>,
    /// `-t`: each command on stderr as it starts.
    pub(crate) verbose: bool,
    /// `-v`, `-v -v`, `--silent`, `-p`.
    pub(crate) show: crate::output::verbose::Verbose,
    /// `--files`, `--tmpdir`, `--compress`.
    pub(crate) files: crate::output::files::Files,
    /// `--process-slot-var`: jobs find their slot - 1 in this variable.
    pub(crate) process_slot_var: std::ffi::OsString,
    /// `--shellquote`, counted: print the commands quoted that many times.
    pub(crate) shellquote: u8,
    /// `--filter`: Perl expressions that must hold for a job to run.
    pub(crate) filters: Vec<Vec<u8>>,
    /// `--workdir`, as given.
    pub(crate) workdir: Option<String>,
    /// `--tty`, `--open-tty`: jobs read the terminal.
    pub(crate) tty: bool,
    /// `--skip-first-line`.
    pub(crate) skip_first_line: bool,
    /// `--template`s, read; `--cleanup` removes what they write.
    pub(crate) templates: Vec<crate::tmpl::Source>,
    pub(crate) cleanup: bool,
    pub(crate) timeout: Option<Timeout>,
    pub(crate) termseq: TermSeq,
    /// `--termseq` was given: a first SIGINT/SIGTERM stops jobs with it.
    pub(crate) termseq_given: bool,
    /// Attempts per job; 0 means until it succeeds.
    pub(crate) retries: u32,
    pub(crate) halt: Halt,
    pub(crate) joblog: Option<(PathBuf, bool)>,
    pub(crate) resume: Resume,
    pub(crate) dry_run: bool,
    pub(crate) bar: bool,
    pub(crate) progress: bool,
    pub(crate) eta: bool,
    /// `--color`, `--color-failed` (none with `-u`).
    pub(crate) colors: Option<crate::output::color::Colors>,
    /// `--total-jobs`: the number of jobs, for `--eta` and `--bar`.
    pub(crate) total_jobs: Option<u64>,
    pub(crate) shell: Shell,
    /// `-S`, `--slurm` and the rest of the remote options.
    pub(crate) remote: crate::remote::Settings,
    /// Replacement strings: `-I`, `--plus`, `--rpl`, `--trim`, `--csv`, colour...
    pub(crate) strings: crate::replace::Settings,
    /// `--pipe`, `--pipepart`: the input cut into blocks for the jobs.
    pub(crate) pipe: Option<crate::pipe::Settings>,
    /// `$PARALLEL_ENV`: shell code run before every command.
    pub(crate) parallel_env: Option<Vec<u8>>,
    /// Running a semaphore's command: it gets our stdin, and its exit
    /// status is ours.
    pub(crate) semaphore: bool,
}

/// The number of CPUs (threads, unless told to count cores or sockets).
pub(crate) fn cpus() -> usize {
    crate::limits::cpus::cpus()
}

impl Config {
    /// How command lines are measured against `max_line`.
    pub(crate) fn measure(&self) -> crate::xargs::length::Measure {
        crate::xargs::length::Measure {
            quote: self.quote,
            shellquote: self.shellquote,
        }
    }
}
