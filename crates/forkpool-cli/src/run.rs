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
//! Beside it: `start` (a job's wrapping, `-v`, `--filter`, the spawn),
//! `events` (what running jobs report), `files` (`--files`,
//! `$PARALLEL_TMP`), `timeouts` (`--timeout`, `--memfree`), `limits`
//! (`--memsuspend`, `--limit`) and `signals`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

use forkpool::ExitReason;
use forkpool::command::{JobId, SpawnError, Stream, Supervisor};

use crate::config::{Config, Resume, Tag, Timeout};
use crate::feed::{Feed, Next};
use crate::halt::{Tally, When};
use crate::joblog::{Finished, Joblog, Open, Prior};
use crate::jobs::{Job, Jobs, Prepared, io_reason};
use crate::output::Printer;
use crate::progress::Progress;
use crate::replace::{EvalError, Evaluator, Template, Values};
use crate::results::{JobFiles, Results};
use crate::shell::Launch;

use crate::limits::gate::{Gate, RECHECK};

mod events;
mod files;
mod limits;
mod remote;
mod signals;
mod start;
mod timeouts;

use limits::wake_if_suspended;
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

/// Jobs still to run.
#[derive(Debug)]
enum Queue {
    /// Read as needed by the input thread.
    Feed(Feed),
    /// Read here, as needed: values and regular files, which never keep
    /// us waiting for long (and `--dry-run`, with no jobs to wait for).
    Direct(Box<dyn Jobs>),
    /// All read up front (`--shuf`, `--bar`, `--eta`, `--halt N%`).
    Collected(VecDeque<Job>),
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
    /// `$PARALLEL_TMP` names of ended jobs, by slot, to be used again (see
    /// `run/files.rs`).
    spare_tmp: HashMap<usize, std::path::PathBuf>,
}

impl<'c> Runner<'c> {
    /// Sets a run up: the joblog, the job queue, the supervisor.
    pub(crate) fn new(config: &'c Config, prepared: Prepared) -> Result<Runner<'c>, String> {
        let Prepared {
            command,
            tag,
            results,
            table,
            input_may_block,
            jobs,
            pipe,
            ahead,
            filters,
            workdir,
            templates,
            at_launch,
            remote: remote_templates,
        } = prepared;
        let remote = RemoteRun::new(config, remote_templates)?;
        let (joblog, prior) = match (&config.joblog, config.dry_run) {
            (Some((path, append)), false) => {
                let how = match (config.resume, *append) {
                    (Resume::Skip | Resume::RetryFailed, plus) => Open::Resume { plus },
                    (Resume::No, true) => Open::Append,
                    (Resume::No, false) => Open::Create,
                };
                let (log, prior) = Joblog::open(path, how).map_err(|_| {
                    // GNU parallel's words: it appends to a `+FILE`, and to
                    // a log `--resume` found lines in.
                    let appends = match how {
                        Open::Append => true,
                        Open::Resume { .. } => std::fs::metadata(path).is_ok_and(|m| m.len() > 0),
                        Open::Create => false,
                    };
                    let verb = if appends { "append" } else { "write" };
                    format!("Cannot {verb} to --joblog {}.", path.display())
                })?;
                (Some(log), prior)
            }
            _ => (None, Prior::default()),
        };
        let mut jobs = jobs;
        let needs_all =
            config.shuffle || ((config.bar || config.eta) && config.total_jobs.is_none()) || config.halt.needs_total();
        let collected = if needs_all {
            // (`--shuf`'s shuffle is the job source's: see `jobs`.)
            let all = jobs
                .collect_all()
                .map_err(|e| format!("cannot read input: {}", io_reason(&e)))?;
            Some(all)
        } else {
            None
        };
        let supervisor = if config.dry_run {
            None
        } else {
            let mut supervisor = Supervisor::new().map_err(|e| format!("cannot start jobs: {e}"))?;
            for var in crate::invocation::NOT_FOR_JOBS {
                supervisor.unset_env(var);
            }
            supervisor
                .watch_signals(WATCHED_SIGNALS)
                .map_err(|e| format!("cannot watch signals: {e}"))?;
            Some(supervisor)
        };
        let (queue, total) = match (collected, &supervisor) {
            (Some(all), _) => {
                let total = all.len() as u64;
                (Queue::Collected(all.into()), Some(total))
            }
            (None, Some(supervisor)) if input_may_block => {
                let feed = Feed::start(jobs, ahead, supervisor.waker())
                    .map_err(|e| format!("cannot start reading input: {e}"))?;
                (Queue::Feed(feed), None)
            }
            // Values and regular files: reading never waits for long.
            (None, _) => (Queue::Direct(jobs), None),
        };
        let progress = Progress::new(
            config.bar,
            config.progress,
            config.eta,
            config.total_jobs.or(total),
            config.jobs,
        );
        let mut printer = Printer::new(config.mode, config.keep_order);
        printer.set_tmpdir(&config.files.tmpdir);
        if let Some(colors) = &config.colors {
            printer.set_colors(colors.clone());
        }
        if let Some(compression) = &config.files.compression
            && config.files.names.is_none()
        {
            printer.set_compression(compression.clone());
        }
        if let Some(table) = table {
            if config.resume == Resume::Skip && joblog.is_none() {
                // A table is not read back; GNU parallel says the same
                // (for `--resume`: `--resume-failed` needs no results).
                // (Its message ends in a newline of its own: an empty line.)
                warning!("--resume --results .csv/.tsv/.json is not supported yet");
                say!("");
            }
            printer.set_table(table);
        }
        let has_joblog = joblog.is_some();
        if let Some(joblog) = joblog {
            printer.set_joblog(joblog);
        }
        Ok(Runner {
            config,
            command,
            tag,
            results,
            queue,
            total,
            supervisor,
            printer,
            has_joblog,
            prior,
            progress,
            retry: VecDeque::new(),
            running: HashMap::new(),
            free_slots: (1..=config.jobs).collect(),
            tally: Tally::default(),
            stop: None,
            halt_status: None,
            interrupts: 0,
            broken_pipe: false,
            output_warned: false,
            last_start: None,
            delay: config.delay.map(|d| d.base),
            median: Remedian::default(),
            input_done: false,
            our_pid: std::process::id().to_string().into(),
            pipe,
            gate: Gate::new(config),
            filters,
            evaluator: None,
            workdir,
            templates,
            at_launch,
            remote,
            last_status: 0,
            spare_tmp: HashMap::new(),
        })
    }

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
            Some(Stop::Fatal | Stop::Signal | Stop::TooLong) => 255,
            // `sem` runs one command and exits with its status.
            _ if self.config.semaphore => self.last_status,
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

    // --------------------------------------------------------- starting --

    /// The next job from the input, if one is ready.
    fn next_new_job(&mut self) -> Option<Job> {
        if self.input_done {
            return None;
        }
        let next = match &mut self.queue {
            Queue::Collected(jobs) => match jobs.pop_front() {
                Some(job) => Next::Job(job),
                None => Next::Done,
            },
            Queue::Direct(source) => match source.next_job() {
                Ok(Some(job)) => Next::Job(job),
                Ok(None) => Next::Done,
                Err(e) => Next::Failed(e),
            },
            Queue::Feed(feed) => feed.next(),
        };
        match next {
            Next::Job(job) => {
                // Under `-k`, the jobs after it wait for it from now on.
                self.printer.expect(job.seq);
                Some(job)
            }
            Next::Pending => None,
            Next::Done => {
                self.input_done = true;
                None
            }
            Next::Failed(e) => {
                self.input_done = true;
                if let Some(failed) = EvalError::of(&e) {
                    // A perl expression failed: no new job starts; those
                    // running finish, and the run exits with 255.
                    error!("{failed}");
                    self.stop.get_or_insert(Stop::Fatal);
                } else {
                    self.fatal(&format!("cannot read input: {}", io_reason(&e)));
                }
                None
            }
        }
    }

    /// Starts jobs while allowed. Returns when to look again if a limit
    /// (delay, memory, load) holds the next job back.
    fn start_jobs(&mut self) -> Option<Instant> {
        self.unpark();
        if self.stop.is_some() {
            // No job starts any more: those waiting never will.
            while let Some((job, _)) = self.retry.pop_front() {
                self.forget(job.seq);
            }
        }
        let most = self.gate.max_running();
        for slot in self.free_slots.len() + self.running.len() + 1..=most {
            // `-j FILE` grew.
            self.free_slots.insert(slot);
        }
        if self.tally.started == 0 && self.running.is_empty() {
            // Before the first job, as GNU parallel: whether the system's
            // bound holds `-j 0` back.
            self.warn_before_start(most);
        }
        while self.stop.is_none() {
            if !self.room_for_more(most) {
                if self.gate.may_warn() && !self.running.is_empty() {
                    self.warn_at_bound();
                }
                break;
            }
            let (job, attempts) = match self.retry.pop_front() {
                Some(next) => next,
                None => (self.next_new_job()?, 0),
            };
            if self.already_done(&job) {
                self.forget(job.seq);
                continue;
            }
            if let Some(until) = self.held_back() {
                self.retry.push_front((job, attempts));
                return Some(until);
            }
            self.check_file_handles();
            if self.launch(job, attempts) == Launched::Later {
                return Some(Instant::now() + RECHECK);
            }
        }
        None
    }

    /// `-j 0` held back by the system: say so once, if a job is waiting.
    fn warn_at_bound(&mut self) {
        if let Some(job) = self.retry.pop_front().or_else(|| self.next_new_job().map(|j| (j, 0))) {
            self.retry.push_front(job);
            if let Some(message) = self.gate.at_bound_warning() {
                self.progress.suspend(|| warning!("{message}"));
            }
        }
    }

    /// Until when `--delay`, `--memfree`, `--load` or the limits hold the
    /// next job back, if they do.
    fn held_back(&mut self) -> Option<Instant> {
        let now = Instant::now();
        if let Some(until) = self.remote_held_back() {
            return Some(until);
        }
        if let (Some(delay), Some(last)) = (self.delay, self.last_start)
            && now < last + delay
        {
            return Some(last + delay);
        }
        if let Some(memfree) = self.config.memfree
            && !self.running.is_empty()
            && crate::limits::memory::free().is_some_and(|a| a < memfree)
        {
            return Some(now + RECHECK);
        }
        if let Some(load) = self.config.load
            && !self.running.is_empty()
            && running_processes().is_some_and(|p| p as f64 >= load)
        {
            return Some(now + RECHECK);
        }
        self.gate.hold(self.config, self.running.len())
    }

    /// `--resume`: whether an earlier run already did this job.
    fn already_done(&self, job: &Job) -> bool {
        match self.config.resume {
            Resume::No => false,
            Resume::Skip => {
                self.prior.jobs.contains_key(&job.seq)
                    || (!self.has_joblog
                        && self
                            .results
                            .as_ref()
                            .is_some_and(|r| r.done(&job.records, values(job, 0))))
            }
            Resume::RetryFailed => self.prior.jobs.get(&job.seq).copied().unwrap_or(false),
        }
    }

    /// A job taken from the input will never run (`--resume` skipped it,
    /// or the run stopped before it): `-k` stops waiting for it.
    fn forget(&mut self, seq: u64) {
        let printer = &mut self.printer;
        if let Err(e) = self.progress.suspend(|| printer.forget(seq)) {
            self.output_failed(&e);
        }
    }

    /// A job that was to start in `slot` will not: the slot is free again,
    /// and the job [forgotten](Runner::forget).
    fn never_runs(&mut self, seq: u64, slot: usize) {
        self.free_slots.insert(slot);
        self.forget(seq);
    }

    fn launch(&mut self, mut job: Job, attempts: u32) -> Launched {
        let slot = self
            .free_slots
            .pop_first()
            .unwrap_or(self.config.jobs + self.running.len() + 1);
        if let Some(evaluator) = &self.at_launch
            && let Err((_, failed)) = evaluator.evaluate(&mut [&mut job], slot)
        {
            error!("{failed}");
            self.never_runs(job.seq, slot);
            self.stop.get_or_insert(Stop::Fatal);
            return Launched::Yes;
        }
        let line = if self.command.appended
            && self
                .config
                .pipe
                .as_ref()
                .is_some_and(|p| p.sink == crate::pipe::settings::Sink::Stdin)
        {
            // A --pipe job reads its block, not its arguments: nothing is
            // appended, as in GNU parallel (not even the space); with
            // --cat/--fifo the file is.
            let no_args = Values {
                args: &[],
                ..values(&job, slot)
            };
            let mut line = self.command.render(no_args, self.config.multi);
            line.pop();
            line
        } else {
            self.command.render(values(&job, slot), self.config.multi)
        };
        // `$PARALLEL_ENV`'s code runs in front of every command line.
        let prefix = self.config.parallel_env.as_ref().map_or(0, Vec::len);
        let len = self.config.measure().of(&line) + prefix;
        if len >= self.config.max_line {
            // GNU parallel's limit, so that a script that works with one
            // works with the other. As there, no new job starts, the
            // running ones finish, and the run exits 255.
            self.never_runs(job.seq, slot);
            self.stop.get_or_insert(Stop::TooLong);
            let (index, longest) = job
                .args
                .iter()
                .enumerate()
                .max_by_key(|(_, a)| a.len())
                .map_or((0, &[][..]), |(i, a)| (i, a.as_slice()));
            // As GNU parallel words it: the value, cut at 50 bytes.
            let mut shown = String::from_utf8_lossy(&longest[..longest.len().min(50)]).into_owned();
            if longest.len() > 50 {
                shown.push_str("...");
            }
            let max = self.config.max_line;
            self.progress.suspend(|| {
                error!("Command line too long ({len} >= {max}) at input {index}: {shown}");
            });
            return Launched::Yes;
        }
        let placement = if self.config.dry_run {
            None
        } else {
            match self.remote_place(&job) {
                Ok(placement) => placement,
                Err(()) => {
                    // It failed on the free hosts: it waits for another.
                    self.free_slots.insert(slot);
                    self.park(job, attempts);
                    return Launched::Yes;
                }
            }
        };
        // What runs: the command with its wrapping (`--workdir`'s `cd`).
        let wrapped = match self.wrap(&line, &job, slot) {
            Ok(wrapped) => wrapped,
            Err(message) => {
                self.never_runs(job.seq, slot);
                self.fatal(&message);
                return Launched::Yes;
            }
        };
        let shown_as_run = wrapped.as_deref().unwrap_or(&line);
        let mut skip = false;
        if self.config.show.interactive {
            // `-p`: the question takes the place of `-t`'s line.
            let answer = self.progress.suspend(|| crate::output::verbose::ask(shown_as_run));
            skip = !answer.unwrap_or(false);
        } else if self.config.verbose {
            self.progress
                .suspend(|| crate::output::verbose::to_stderr(shown_as_run));
        }
        if !skip && !self.filters.is_empty() {
            match self.passes_filters(&job, slot) {
                Ok(passes) => skip = !passes,
                Err(message) => {
                    self.never_runs(job.seq, slot);
                    self.fatal(&message);
                    return Launched::Yes;
                }
            }
        }
        self.tally.started += 1;
        self.progress.started(&job.args);
        self.last_start = Some(Instant::now());
        let tag = match &self.config.tag {
            Tag::None => None,
            Tag::Args => Some(crate::replace::tag_of(
                &job.args,
                self.config.strings.trim.unwrap_or_default(),
            )),
            Tag::Template(_) => self.tag.as_ref().map(|t| {
                let tag = t.render(values(&job, slot), crate::replace::Multi::Single);
                self.job_variables_in_tag(tag, placement.as_ref(), job.seq, slot)
            }),
        };
        if self.config.dry_run {
            if skip {
                // Filtered out: it still counts as failed, as in GNU parallel.
                self.tally.failed += 1;
            }
            let command = line.clone();
            let mut shown = if self.config.show.stdout > 1 {
                // A --pipepart job: with the reader of its part, as GNU
                // shows it (`parsort` runs these lines).
                crate::pipe::shown::as_run(job.stdin.as_ref(), shown_as_run).unwrap_or_else(|| shown_as_run.to_vec())
            } else {
                line
            };
            shown.push(b'\n');
            let mut stdout_file = None;
            if let Some(results) = &self.results {
                // As GNU parallel: the result files, and nothing printed.
                match results.dry_run(&job.records, values(&job, slot), job.seq) {
                    Ok(path) => stdout_file = Some(path),
                    Err(e) => self.fatal(&format!("cannot create the result files: {}", io_reason(&e))),
                }
                shown.clear();
            }
            let mut named = None;
            if let Some(end) = self.config.files.names {
                // `--files`: as GNU parallel, the name of the file the
                // output would be in (GNU makes the file and removes it),
                // not the command.
                let name = stdout_file
                    .unwrap_or_else(|| crate::output::files::fresh_name(&self.config.files.tmpdir, "par", ".par"));
                shown = std::os::unix::ffi::OsStringExt::into_vec(name.into_os_string());
                named = self.printer.has_table().then_some(end.byte());
                shown.push(end.byte());
            }
            self.printer.start(job.seq, tag);
            let printed = match named {
                // With a table, GNU's row holds the name (tagged, without its
                // end) and counts no bytes received.
                Some(end) => {
                    shown.pop();
                    let shown_name = self.printer.show_name(job.seq, &shown, end);
                    shown.clear();
                    shown_name
                }
                None => self.printer.output(job.seq, Stream::Stdout, &shown),
            };
            if self.printer.has_table() {
                // `--results FILE.csv`: as in GNU parallel, a row whose
                // output is the command shown.
                let finished = Finished {
                    seq: job.seq,
                    start: SystemTime::now(),
                    runtime: Duration::ZERO,
                    host: ":".to_owned(),
                    send: 0,
                    receive: shown.len() as u64,
                    exitval: 0,
                    signal: 0,
                    command,
                    values: job.input_values(),
                };
                self.printer.set_finished(job.seq, finished);
            }
            let printed = printed.and_then(|()| self.printer.finish(job.seq));
            if let Err(e) = printed {
                self.output_failed(&e);
            }
            self.tally.completed += 1;
            self.free_slots.insert(slot);
            return Launched::Yes;
        }
        let files = match &self.results {
            None => None,
            Some(results) => match results.open(&job.records, values(&job, slot)) {
                Ok(files) => Some(files),
                Err(e) => {
                    self.never_runs(job.seq, slot);
                    self.fatal(&format!("cannot create the result files: {}", io_reason(&e)));
                    return Launched::Yes;
                }
            },
        };
        let out_file = match self.open_out_file(files.is_some()) {
            Ok(file) => file,
            Err(message) => {
                self.never_runs(job.seq, slot);
                self.fatal(&message);
                return Launched::Yes;
            }
        };
        // Even with `--results` files: the printer writes the joblog line.
        self.printer.start(job.seq, tag);
        let mut running = Running {
            job,
            slot,
            attempts,
            command: line,
            wrapped,
            started_at: SystemTime::now(),
            started: Instant::now(),
            stdout_bytes: 0,
            killed: None,
            files,
            placement,
            suspended: false,
            skipped: skip,
            out_file,
            tmp: self.tmp_name(slot),
            filled: Vec::new(),
            input: None,
        };
        self.show_on_stdout(&mut running);
        if running.skipped || running.job.skipped() {
            // Skipped (`-p`, `--filter`, `skip()` in a perl expression): as
            // in GNU parallel, it ends at once, as a failure with exit
            // value -2.
            running.skipped = true;
            self.complete(running, ExitReason::Exited(0));
            return Launched::Yes;
        }
        if !self.templates.is_empty() {
            let render = |t: &Template| t.render(values(&running.job, running.slot), crate::replace::Multi::Single);
            match crate::tmpl::fill(&self.templates, render) {
                Ok(written) => running.filled = written,
                Err(message) => {
                    self.fatal(&message);
                    self.complete(running, ExitReason::Exited(255));
                    return Launched::Yes;
                }
            }
        }
        if self.config.shellquote > 0 {
            // `--shellquote`: the job prints its command quoted, and that is
            // all (GNU parallel runs a perl one-liner to do it).
            let quoted = crate::shellquote::quoted_line(&running.command, self.config.shellquote);
            self.job_output(&mut running, Stream::Stdout, &quoted);
            self.complete(running, ExitReason::Exited(0));
            return Launched::Yes;
        }
        // --pipe: the job's stdin, made ready before it starts.
        let input = match &self.pipe {
            Some(pipe) => pipe.prepare(&running.job).map_err(SpawnError::Io),
            None => Ok(None),
        };
        let spawned = match input {
            Err(e) => Err(e),
            Ok(input) => {
                let line = match input.as_ref().and_then(|i| i.prefix) {
                    Some(prefix) => [prefix, running.to_run()].concat(),
                    None => running.to_run().to_vec(),
                };
                // `$PARALLEL_ENV`'s code runs in front of it.
                let wrapped = self
                    .config
                    .parallel_env
                    .as_ref()
                    .map(|code| crate::invocation::parallel_env::wrap(code, &self.config.shell, &line));
                let to_run = wrapped.as_deref().unwrap_or(&line).to_vec();
                // A --pipe job's block is its remote command's stdin, through
                // ssh, as in GNU parallel; but --cat's and --fifo's files are
                // made here, so those jobs run here.
                let remote = match &input {
                    Some(input) if !input.is_plain_stdin() => None,
                    input => self.remote_launch(&mut running, &to_run, input.as_ref()),
                };
                let spawned = if let Some(spawned) = remote {
                    spawned
                } else {
                    match self.config.shell.plan(&to_run) {
                        Launch::Nothing => {
                            self.complete(running, ExitReason::Exited(0));
                            return Launched::Yes;
                        }
                        Launch::Direct { argv, env } => match self.spawn(&running, argv, env, input.as_ref()) {
                            // Whatever stops the program from starting (not found, not
                            // executable, a script with no interpreter...): the shell
                            // tries, and says so in its own words, with its own status.
                            Err(e) if !e.is_transient() => {
                                self.spawn(&running, self.shell_argv(&line), Vec::new(), input.as_ref())
                            }
                            other => other,
                        },
                        Launch::Shell(argv) => self.spawn(&running, argv, Vec::new(), input.as_ref()),
                    }
                };
                spawned.map(|id| (id, input))
            }
        };
        match spawned {
            Ok((id, input)) => {
                if let Some(input) = input {
                    match input.start() {
                        Ok(attached) => running.input = Some(attached),
                        Err(e) => self.fatal(&format!("cannot give job {} its input: {e}", running.job.seq)),
                    }
                    if self.config.retries == 1 && self.config.memfree.is_none() && running.placement.is_none() {
                        // No second attempt (--retries, or --memfree killing
                        // it to run it again, or its host failing under it):
                        // the block is the writer's alone.
                        running.job.stdin = None;
                    }
                }
                self.running.insert(id, running);
                self.progress.update(self.running.len(), self.tally.completed);
                Launched::Yes
            }
            Err(e) if e.is_transient() => {
                // Out of processes or descriptors: try again soon, or give
                // up if no job of ours is holding them.
                self.remote_unplace(&mut running);
                let Running { job, slot, .. } = running;
                self.printer.discard(job.seq);
                self.free_slots.insert(slot);
                self.tally.started -= 1;
                if crate::limits::system::out_of_processes(&e) {
                    // As GNU parallel: one job fewer at once from now on.
                    return self.no_more_processes(job, attempts);
                }
                self.retry.push_front((job, attempts));
                if self.running.is_empty() {
                    self.fatal(&format!("cannot start a job: {e}"));
                }
                Launched::Later
            }
            Err(e) => {
                // The shell itself could not run this line.
                let (code, reason) = match e {
                    SpawnError::NotFound => (127, format!("{} not found", self.config.shell.path().display())),
                    SpawnError::TooLong => (126, format!("command line too long ({} bytes)", running.to_run().len())),
                    other => (126, other.to_string()),
                };
                let message = format!(
                    "{}: cannot run job {}: {reason}\n",
                    crate::program::name(),
                    running.job.seq
                );
                self.job_output(&mut running, Stream::Stderr, message.as_bytes());
                self.complete(running, ExitReason::Exited(code));
                Launched::Yes
            }
        }
    }

    // ----------------------------------------------------------- events --

    /// A job ended: retry it, or log it, print its output, count it and
    /// see whether to halt.
    fn complete(&mut self, running: Running, reason: ExitReason) {
        let Some((mut running, reason)) = self.remote_ended(running, reason) else {
            return;
        };
        let reason = match &self.config.pipe {
            Some(pipe) if running.killed.is_none() => crate::pipe::status_as_gnu(pipe, reason),
            _ => reason,
        };
        let (host, send, receive) = self.accounting(&running);
        let (mut exitval, signal) = match reason {
            ExitReason::Exited(code) => (i64::from(code), 0),
            ExitReason::Signaled { signal, .. } => (0, signal),
        };
        if running.killed.is_some() {
            exitval = -1;
        }
        if running.skipped {
            exitval = -2;
        }
        let (published, failure) = self.settle_files(&mut running);
        if let Some(message) = failure {
            // As GNU parallel: the compressor failed, so did the job.
            self.progress.suspend(|| error!("{message}"));
            exitval = 255;
        }
        let out_file = running.out_file.take();
        let failed = exitval != 0 || signal != 0;
        // A skipped job is never tried again.
        let skipped = running.skipped;
        let Running {
            job,
            slot,
            attempts,
            command,
            started_at,
            started,
            killed,
            files,
            input,
            ..
        } = running;
        // Its --cat/--fifo file goes now; the joblog wants what it was sent.
        let virgin = input.as_ref().is_some_and(crate::pipe::Attached::virgin);
        let send = send + input.map_or(0, |input| input.sent());
        self.free_slots.insert(slot);
        if killed == Some(Killed::Halt) || virgin {
            // `--halt now` killed it, or it is a --round-robin job the
            // input did not reach: as in GNU parallel, it did not happen
            // (no output, no joblog line, no count).
            if let Some(file) = out_file.filter(|_| virgin) {
                file.remove();
            }
            self.forget(job.seq);
            if virgin {
                // GNU parallel still counts its exit status.
                self.tally.completed += 1;
                if failed {
                    self.tally.failed += 1;
                }
            } else {
                self.tally.started -= 1;
            }
            self.progress.update(self.running.len(), self.tally.completed);
            return;
        }
        let retry = match killed {
            // Killed to free memory: it goes back on the queue.
            Some(Killed::Memfree | Killed::Limit) => self.stop.is_none(),
            Some(Killed::Halt | Killed::Signal) => false,
            _ => {
                failed
                    && !skipped
                    && self.stop.is_none()
                    && (self.config.retries == 0 || attempts + 1 < self.config.retries)
            }
        };
        if retry {
            if let Some(file) = out_file {
                file.remove();
            }
            self.printer.discard(job.seq);
            self.tally.started -= 1;
            self.retry.push_back((job, attempts + 1));
            return;
        }
        let runtime = started.elapsed();
        // A job interrupted by a signal did not really run: like GNU
        // parallel, leave it out of the joblog (so `--resume` runs it
        // again) and the table. Its output is still printed.
        let interrupted = self.stop == Some(Stop::Signal) || killed == Some(Killed::Signal);
        if (self.has_joblog || self.printer.has_table() || crate::parset::active()) && !interrupted {
            let finished = Finished {
                seq: job.seq,
                start: started_at,
                runtime,
                host,
                send,
                receive: published.as_ref().and_then(|p| p.size).unwrap_or(receive),
                exitval,
                signal,
                command: command.clone(),
                values: job.input_values(),
            };
            self.printer.set_finished(job.seq, finished);
        }
        if let Some(files) = files
            && let Err(e) = files.finish(job.seq)
        {
            self.fatal(&format!("cannot write the result files: {}", io_reason(&e)));
        }
        if failed {
            self.printer.set_failed(job.seq);
        }
        if let Some(published) = &published {
            self.publish(job.seq, published, out_file);
        }
        // Prints the job's output (or, with `--results`, nothing), then its
        // joblog line: both in the order GNU parallel writes them.
        let printer = &mut self.printer;
        let printed = self.progress.suspend(|| printer.finish(job.seq));
        if let Err(e) = printed {
            self.output_failed(&e);
        }
        self.check_joblog();
        self.tally.completed += 1;
        if failed {
            self.tally.failed += 1;
        } else if matches!(self.config.timeout, Some(Timeout::Median(_))) {
            self.median.add(runtime.as_secs_f64());
        }
        if let (Some(delay), Some(d)) = (&mut self.delay, self.config.delay)
            && d.auto
        {
            *delay = if failed { delay.mul_f64(1.3) } else { delay.mul_f64(0.9) };
        }
        let status = if exitval != 0 {
            exitval as i32
        } else if signal != 0 {
            128 + signal
        } else {
            0
        };
        self.last_status = status;
        let verdict = self.config.halt.check(&self.tally, failed, status, self.total);
        if let Some(message) = verdict.message {
            let line = String::from_utf8_lossy(&command).into_owned();
            self.progress.suspend(|| {
                tell!("{message}");
                say!("{line}");
            });
        }
        if let Some((when, exit)) = verdict.halt {
            // The first job to meet the condition decides the status.
            self.halt_status.get_or_insert(exit);
            match when {
                When::Now => self.stop_and_kill(Stop::Halt, Killed::Halt),
                When::Soon | When::Never => {
                    self.stop.get_or_insert(Stop::Halt);
                    // Said again after each job that meets it, as GNU does.
                    if !self.running.is_empty() {
                        let n = self.running.len();
                        self.progress.suspend(|| {
                            tell!("Starting no more jobs. Waiting for {n} jobs to finish.");
                        });
                    }
                }
            }
        }
        self.progress.update(self.running.len(), self.tally.completed);
    }
}

fn values(job: &Job, slot: usize) -> Values<'_> {
    job.values(slot)
}

/// Processes running now (from `/proc/loadavg`), not counting ourselves.
fn running_processes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let running: u64 = text.split_whitespace().nth(3)?.split('/').next()?.parse().ok()?;
    Some(running.saturating_sub(1))
}
