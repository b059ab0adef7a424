//! The run: start jobs while slots and limits allow, collect their output
//! and exits, and stop when the input ends, `--halt` says so, or a signal
//! arrives.
//!
//! Signals: the first `SIGINT` or `SIGTERM` stops new jobs and is passed
//! on to every running job's process group; the second kills them. Output
//! a job produced before it ended is printed either way, and nothing is
//! left running when `forkpool` exits (the command supervisor kills and
//! reaps its jobs, and its guardian does so even if `forkpool` is killed).
//!
//! Here: the [`Runner`] and its job loop ([`Runner::run`]), what a
//! running job is, and how the run stops. Beside it, in the order of a
//! job's life: `setup` (the run set up: joblog, queue, supervisor,
//! printer), `queue` (which job starts next, and when: the input,
//! retries, `--resume`, `--delay`, `--memfree`, `--load`), `start` (one
//! job started: its command line, `--dry-run`, `-v`, `--filter`, the
//! wrapping and the spawn), `events` (what running jobs report), `finish`
//! (a job ended: retried, logged, printed, counted, `--halt`), and for
//! options' parts `files` (`--files`, `$PARALLEL_TMP`), `timeouts`
//! (`--timeout`, `--memfree`), `limits` (`--memsuspend`, `--limit`),
//! `remote` and `signals`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

use forkpool::command::{JobId, Supervisor};

use crate::config::Config;
use crate::halt::Tally;
use crate::joblog::Prior;
use crate::jobs::{Job, io_reason};
use crate::limits::gate::Gate;
use crate::output::Printer;
use crate::progress::Progress;
use crate::replace::{Evaluator, Template, Values};
use crate::results::{JobFiles, Results};

mod events;
mod files;
mod finish;
mod limits;
mod queue;
mod remote;
mod setup;
mod signals;
mod start;
mod timeouts;

use limits::wake_if_suspended;
use queue::Queue;
use remote::RemoteRun;
use timeouts::Remedian;

/// Why a job was killed by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Killed {
    Timeout,
    Halt,
    Memfree,
    /// `--limit` said "way over": it goes back on the queue.
    Limit,
    Signal,
}

/// The signals we handle: `SIGINT` and `SIGTERM` interrupt the run,
/// `SIGHUP` only stops new jobs, as in GNU parallel.
const WATCHED_SIGNALS: &[i32] = &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];

/// Why no new job starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `SIGHUP`: the running jobs finish; the status is as usual.
    Hangup,
    /// A command line over GNU parallel's limit: the running jobs finish;
    /// the status is 255.
    TooLong,
    /// `--pipe` with `:::` values as the commands and a block left with
    /// none to go into: the running jobs finish and their output is
    /// printed, then the error is said; the status is 255.
    NoCommand,
    Halt,
    Signal,
    Fatal,
}

#[derive(Debug)]
struct Running {
    job: Job,
    slot: usize,
    attempts: u32,
    /// The command line, as the joblog and messages show it.
    command: Vec<u8>,
    /// What runs, when it differs (wrapped in a `cd` by `--workdir`).
    wrapped: Option<Vec<u8>>,
    started_at: SystemTime,
    started: Instant,
    stdout_bytes: u64,
    killed: Option<Killed>,
    files: Option<JobFiles>,
    /// The host it runs on (`-S`).
    placement: Option<crate::remote::launch::Placement>,
    /// Stopped by `--memsuspend`.
    suspended: bool,
    /// Not to run (`-p` said no, `--filter` said false): it ends as a
    /// failure with exit value -2, as in GNU parallel.
    skipped: bool,
    /// `--files`: where its output goes.
    out_file: Option<crate::output::files::OutFile>,
    /// Its `$PARALLEL_TMP`.
    tmp: std::path::PathBuf,
    /// Files its `--template`s wrote (removed with `--cleanup`).
    filled: Vec<std::path::PathBuf>,
    /// `--pipe`: its input, while it runs.
    input: Option<crate::pipe::Attached>,
}

impl Running {
    /// The line the shell runs.
    fn to_run(&self) -> &[u8] {
        self.wrapped.as_deref().unwrap_or(&self.command)
    }
}

/// Whether a job was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Launched {
    /// Started, or ended already (it could not run).
    Yes,
    /// The system is short of processes or descriptors: it is back on the
    /// queue for a while.
    Later,
}

/// Runs everything; returns the exit status.
pub(crate) struct Runner<'c> {
    config: &'c Config,
    command: Template,
    /// How GNU parallel measures `command` against the line budget.
    shape: crate::replace::Shape,
    tag: Option<Template>,
    results: Option<Results>,
    queue: Queue,
    total: Option<u64>,
    supervisor: Option<Supervisor>,
    printer: Printer,
    has_joblog: bool,
    prior: Prior,
    progress: Progress,
    retry: VecDeque<(Job, u32)>,
    running: HashMap<JobId, Running>,
    free_slots: BTreeSet<usize>,
    tally: Tally,
    stop: Option<Stop>,
    halt_status: Option<i32>,
    interrupts: u32,
    broken_pipe: bool,
    /// Said once that output could not be written.
    output_warned: bool,
    last_start: Option<Instant>,
    delay: Option<Duration>,
    median: Remedian,
    input_done: bool,
    our_pid: OsString,
    /// `--pipe`: what the jobs' input needs.
    pipe: Option<crate::pipe::Runtime>,
    /// `-j FILE`, `-j 0`, `--limit`, `--memsuspend`, `--noswap`.
    gate: Gate,
    /// `--filter`'s expressions, and the `perl` that evaluates them
    /// (started for the first job).
    filters: Vec<Template>,
    evaluator: Option<crate::filter::Evaluator>,
    /// `--workdir`.
    workdir: Option<crate::workdir::Workdir>,
    /// `--template`s.
    templates: Vec<crate::tmpl::Filled>,
    /// Perl expressions that need the job's slot are evaluated here.
    at_launch: Option<Evaluator>,
    /// `-S`, `--workdir`, `--slurm`: see `run/remote.rs`.
    remote: Option<RemoteRun>,
    /// The last job's status (exit code, or 128 + signal): a semaphore's.
    last_status: i32,
    /// The exit status of a fatal error that GNU parallel dies of with
    /// Perl's `die` (which exits with the errno): a `--template` that
    /// cannot be written.
    died: Option<i32>,
    /// `$PARALLEL_TMP` names of ended jobs, by slot, to be used again (see
    /// `run/files.rs`).
    spare_tmp: HashMap<usize, std::path::PathBuf>,
}

impl Runner<'_> {
    /// Runs until done; returns the exit status.
    pub(crate) fn run(mut self) -> i32 {
        let mut events = Vec::new();
        loop {
            self.remote_advance();
            let wake = self.start_jobs();
            if self.running.is_empty()
                && !self.remote_holds_jobs()
                && (self.stop.is_some() || (self.input_done && self.retry.is_empty()))
            {
                break;
            }
            let gate_wake = self.gate.next_wake(self.config, self.running.len());
            let redraw = self.progress.tick();
            let deadline = [wake, self.next_timeout(), gate_wake, redraw, self.remote_wake()]
                .into_iter()
                .flatten()
                .min();
            let Some(supervisor) = self.supervisor.as_mut() else {
                break;
            };
            if let Err(e) = supervisor.wait(deadline, &mut events) {
                self.fatal(&format!("waiting for jobs failed: {e}"));
            }
            for event in events.drain(..) {
                self.handle(event);
            }
            self.enforce_timeouts();
            self.enforce_memfree();
            self.enforce_limits();
        }
        self.remote_shutdown();
        self.progress.finish();
        if let Err(e) = self.printer.flush_all() {
            self.output_failed(&e);
        }
        if self.stop == Some(Stop::NoCommand) {
            // Said after the jobs' output, as the last word of the run.
            error!("{}", crate::pipe::settings::NO_COMMAND);
        }
        self.check_joblog();
        if let Some(s) = self.supervisor.as_mut() {
            s.unwatch_signals(WATCHED_SIGNALS);
        }
        if self.broken_pipe {
            // What a shell reports for a process killed by SIGPIPE.
            return 128 + libc::SIGPIPE;
        }
        if self.output_warned {
            // Output was lost (a full disk, an I/O error): the error
            // message comes with GNU parallel's "other error" status, so
            // that `&&` and `set -e` notice (GNU parallel exits 0).
            return 255;
        }
        match self.stop {
            Some(Stop::Fatal) => self.died.unwrap_or(255),
            Some(Stop::Signal | Stop::TooLong | Stop::NoCommand) => 255,
            // `sem` runs one command and exits with its status; a job
            // killed by `--timeout` has GNU's -1, which Perl's `exit`
            // makes 255.
            _ if self.config.semaphore => self.last_status.rem_euclid(256),
            _ => match self.halt_status {
                Some(status) if status < 0 => 255,
                Some(status) => status,
                None => self.config.halt.final_status(&self.tally),
            },
        }
    }

    /// Reports a failure to write the joblog (once: it stops the run).
    fn check_joblog(&mut self) {
        if let Some(e) = self.printer.take_joblog_error() {
            self.fatal(&format!("cannot write the joblog: {}", io_reason(&e)));
        }
    }

    /// A run-time error: said (as every error, `Error: ...`), and the run
    /// stops.
    fn fatal(&mut self, message: &str) {
        error!("{message}");
        self.stop_and_kill(Stop::Fatal, Killed::Signal);
    }

    /// Stops starting jobs and stops the running ones (those not being
    /// stopped already).
    fn stop_and_kill(&mut self, stop: Stop, why: Killed) {
        self.stop.get_or_insert(stop);
        if why == Killed::Halt {
            // `--halt now`: as in GNU parallel, what `-k` was holding back
            // behind a job that is being killed is never printed.
            self.printer.drop_held();
        }
        let seq = self.config.termseq.clone();
        for (id, running) in &mut self.running {
            if running.killed.is_some() {
                continue;
            }
            running.killed = Some(why);
            if let Some(s) = self.supervisor.as_mut() {
                wake_if_suspended(s, *id, running);
                s.terminate(*id, &seq);
            }
        }
    }
}

fn values(job: &Job, slot: usize) -> Values<'_> {
    job.values(slot)
}
