//! The run: start jobs while slots and limits allow, collect their output
//! and exits, and stop when the input ends, `--halt` says so, or a signal
//! arrives.
//!
//! Signals: the first `SIGINT` or `SIGTERM` stops new jobs and is passed
//! on to every running job's process group; the second kills them. Output
//! a job produced before it ended is printed either way, and nothing is
//! left running when `forkpool` exits (the command supervisor kills and
//! reaps its jobs, and its guardian does so even if `forkpool` is killed).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, Instant, SystemTime};

use forkpool::ExitReason;
use forkpool::command::{Event, JobId, Output, SpawnError, Spec, Stream, Supervisor, TermSeq};

use crate::config::{Config, Resume, Tag, Timeout};
use crate::halt::{Tally, When};
use crate::joblog::{Entry, Joblog, Open, Prior};
use crate::jobs::{Job, JobSource, Prepared, io_reason};
use crate::output::{Mode, Printer};
use crate::progress::Progress;
use crate::results::{JobFiles, Results};
use crate::shell::Launch;
use crate::template::{Template, Values};

/// How often limits that cannot wake us (`--memfree`, `--load`) are
/// checked again while they hold jobs back.
const RECHECK: Duration = Duration::from_millis(100);

/// Why a job was killed by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Killed {
    Timeout,
    Halt,
    Memfree,
    Signal,
}

/// Why no new job starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Halt,
    Signal,
    Fatal,
}

#[derive(Debug)]
struct Running {
    job: Job,
    slot: usize,
    attempts: u32,
    command: Vec<u8>,
    started_at: SystemTime,
    started: Instant,
    stdout_bytes: u64,
    killed: Option<Killed>,
    files: Option<JobFiles>,
}

/// Jobs still to run: read as needed, or all read up front.
#[derive(Debug)]
enum Queue {
    Stream(JobSource),
    Collected(VecDeque<Job>),
}

/// The median of successful runtimes, for `--timeout N%`, kept in
/// bounded memory with the remedian (Rousseeuw & Bassett, 1990) over three
/// levels of 999, as GNU parallel does (though sorting numerically).
#[derive(Debug, Default)]
struct Remedian {
    index: usize,
    levels: [Vec<f64>; 3],
    median: Option<f64>,
}

impl Remedian {
    fn add(&mut self, value: f64) {
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
    joblog: Option<Joblog>,
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
    last_start: Option<Instant>,
    delay: Option<Duration>,
    median: Remedian,
    input_done: bool,
    our_pid: OsString,
}

impl<'c> Runner<'c> {
    /// Sets a run up: the joblog, the job queue, the supervisor.
    pub(crate) fn new(config: &'c Config, prepared: Prepared) -> Result<Runner<'c>, String> {
        let Prepared {
            command,
            tag,
            results,
            jobs,
        } = prepared;
        let (joblog, prior) = match (&config.joblog, config.dry_run) {
            (Some((path, append)), false) => {
                let how = if *append || config.resume != Resume::No {
                    Open::Append
                } else {
                    Open::Create
                };
                let (log, prior) = Joblog::open(path, how)
                    .map_err(|e| format!("cannot open the joblog '{}': {}", path.display(), io_reason(&e)))?;
                (Some(log), prior)
            }
            _ => (None, Prior::default()),
        };
        let mut jobs = jobs;
        let needs_all = config.shuffle || config.bar || config.eta || config.halt.needs_total();
        let (queue, total) = if needs_all {
            let mut all = jobs
                .collect_all()
                .map_err(|e| format!("cannot read input: {}", io_reason(&e)))?;
            if config.shuffle {
                crate::jobs::shuffle(&mut all);
            }
            let total = all.len() as u64;
            (Queue::Collected(all.into()), Some(total))
        } else {
            (Queue::Stream(jobs), None)
        };
        let supervisor = if config.dry_run {
            None
        } else {
            let mut supervisor = Supervisor::new().map_err(|e| format!("cannot start jobs: {e}"))?;
            supervisor
                .watch_signals(&[libc::SIGINT, libc::SIGTERM])
                .map_err(|e| format!("cannot watch signals: {e}"))?;
            Some(supervisor)
        };
        let progress = Progress::new(config.bar, config.progress, config.eta, total);
        Ok(Runner {
            config,
            command,
            tag,
            results,
            queue,
            total,
            supervisor,
            printer: Printer::new(config.mode, config.keep_order),
            joblog,
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
            last_start: None,
            delay: config.delay.map(|d| d.base),
            median: Remedian::default(),
            input_done: false,
            our_pid: std::process::id().to_string().into(),
        })
    }

    /// Runs until done; returns the exit status.
    pub(crate) fn run(mut self) -> i32 {
        let mut events = Vec::new();
        loop {
            let wake = self.start_jobs();
            if self.running.is_empty() && (self.stop.is_some() || (self.input_done && self.retry.is_empty())) {
                break;
            }
            let deadline = [wake, self.next_timeout()].into_iter().flatten().min();
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
        }
        self.progress.finish();
        if let Err(e) = self.printer.flush_all() {
            self.output_failed(&e);
        }
        if let Some(s) = self.supervisor.as_mut() {
            s.unwatch_signals(&[libc::SIGINT, libc::SIGTERM]);
        }
        if self.broken_pipe {
            // What a shell reports for a process killed by SIGPIPE.
            return 128 + libc::SIGPIPE;
        }
        match self.stop {
            Some(Stop::Fatal | Stop::Signal) => 255,
            _ => match self.halt_status {
                Some(status) if status < 0 => 255,
                Some(status) => status,
                None => self.config.halt.final_status(&self.tally),
            },
        }
    }

    fn fatal(&mut self, message: &str) {
        eprintln!("forkpool: {message}");
        self.stop_and_kill(Stop::Fatal, Killed::Signal);
    }

    fn stop_and_kill(&mut self, stop: Stop, why: Killed) {
        self.stop.get_or_insert(stop);
        let seq = self.config.termseq.clone();
        for (id, running) in &mut self.running {
            running.killed.get_or_insert(why);
            if let Some(s) = self.supervisor.as_mut() {
                s.terminate(*id, &seq);
            }
        }
    }

    // --------------------------------------------------------- starting --

    fn next_new_job(&mut self) -> Option<Job> {
        if self.input_done {
            return None;
        }
        let next = match &mut self.queue {
            Queue::Collected(jobs) => Ok(jobs.pop_front()),
            Queue::Stream(source) => source.next_job(),
        };
        match next {
            Ok(Some(job)) => Some(job),
            Ok(None) => {
                self.input_done = true;
                None
            }
            Err(e) => {
                self.input_done = true;
                self.fatal(&format!("cannot read input: {}", io_reason(&e)));
                None
            }
        }
    }

    /// Starts jobs while allowed. Returns when to look again if a limit
    /// (delay, memory, load) holds jobs back.
    fn start_jobs(&mut self) -> Option<Instant> {
        while self.running.len() < self.config.jobs && self.stop.is_none() {
            let now = Instant::now();
            if let (Some(delay), Some(last)) = (self.delay, self.last_start)
                && now < last + delay
            {
                return Some(last + delay);
            }
            if let Some(memfree) = self.config.memfree
                && !self.running.is_empty()
                && available_memory().is_some_and(|a| a < memfree)
            {
                return Some(now + RECHECK);
            }
            if let Some(load) = self.config.load
                && !self.running.is_empty()
                && running_processes().is_some_and(|p| p as f64 >= load)
            {
                return Some(now + RECHECK);
            }
            let (job, attempts) = match self.retry.pop_front() {
                Some(next) => next,
                None => match self.next_new_job() {
                    Some(job) => (job, 0),
                    None => return None,
                },
            };
            if self.already_done(&job) {
                continue;
            }
            self.launch(job, attempts);
        }
        None
    }

    /// `--resume`: whether an earlier run already did this job.
    fn already_done(&self, job: &Job) -> bool {
        match self.config.resume {
            Resume::No => false,
            Resume::Skip => {
                self.prior.jobs.contains_key(&job.seq)
                    || (self.joblog.is_none()
                        && self
                            .results
                            .as_ref()
                            .is_some_and(|r| r.done(&job.records, values(job, 0))))
            }
            Resume::RetryFailed => self.prior.jobs.get(&job.seq).copied().unwrap_or(false),
        }
    }

    fn launch(&mut self, job: Job, attempts: u32) {
        let slot = self
            .free_slots
            .pop_first()
            .unwrap_or(self.config.jobs + self.running.len() + 1);
        let line = self.command.render(values(&job, slot), self.config.multi);
        if self.config.verbose {
            let mut shown = line.clone();
            shown.push(b'\n');
            let _ = self
                .progress
                .suspend(|| io::Write::write_all(&mut io::stderr(), &shown));
        }
        self.tally.started += 1;
        self.last_start = Some(Instant::now());
        if self.config.dry_run {
            let mut shown = line;
            shown.push(b'\n');
            self.printer.start(job.seq, None);
            let printed = self
                .printer
                .output(job.seq, Stream::Stdout, &shown)
                .and_then(|()| self.printer.finish(job.seq));
            if let Err(e) = printed {
                self.output_failed(&e);
            }
            self.tally.completed += 1;
            self.free_slots.insert(slot);
            return;
        }
        let tag = match &self.config.tag {
            Tag::None => None,
            Tag::Args => Some(job.args.join(&b' ')),
            Tag::Template(_) => self
                .tag
                .as_ref()
                .map(|t| t.render(values(&job, slot), crate::template::Multi::Single)),
        };
        let files = match &self.results {
            None => None,
            Some(results) => match results.open(&job.records, values(&job, slot)) {
                Ok(files) => Some(files),
                Err(e) => {
                    self.free_slots.insert(slot);
                    self.fatal(&format!("cannot create the result files: {}", io_reason(&e)));
                    return;
                }
            },
        };
        if files.is_none() {
            self.printer.start(job.seq, tag);
        }
        let mut running = Running {
            job,
            slot,
            attempts,
            command: line,
            started_at: SystemTime::now(),
            started: Instant::now(),
            stdout_bytes: 0,
            killed: None,
            files,
        };
        let plan = self.config.shell.plan(&running.command);
        let spawned = match plan {
            Launch::Nothing => {
                self.complete(running, ExitReason::Exited(0));
                return;
            }
            Launch::Direct { argv, env } => match self.spawn(&running, argv, env) {
                // Not an executable format: the shell runs it as a script.
                Err(SpawnError::NotExecutable) => self.spawn(&running, self.shell_argv(&running.command), Vec::new()),
                other => other,
            },
            Launch::Shell(argv) => self.spawn(&running, argv, Vec::new()),
        };
        match spawned {
            Ok(id) => {
                self.running.insert(id, running);
                self.progress.update(self.running.len(), self.tally.completed);
            }
            Err(SpawnError::NotFound | SpawnError::PermissionDenied | SpawnError::NotExecutable) => {
                // As the shell would have: a message and 127 or 126.
                let (code, what) = match spawned {
                    Err(SpawnError::NotFound) => (127, "command not found"),
                    _ => (126, "Permission denied"),
                };
                let message = self.shell_error(&running.command, what);
                self.job_output(&mut running, Stream::Stderr, &message);
                self.complete(running, ExitReason::Exited(code));
            }
            Err(e) => {
                // Out of processes or descriptors: try again once a job ends.
                let Running { job, slot, .. } = running;
                self.printer.discard(job.seq);
                self.free_slots.insert(slot);
                self.tally.started -= 1;
                self.retry.push_front((job, attempts));
                if self.running.is_empty() {
                    self.fatal(&format!("cannot start a job: {e}"));
                }
            }
        }
    }

    fn shell_argv(&self, line: &[u8]) -> Vec<OsString> {
        vec![
            self.config.shell.path.clone().into_os_string(),
            "-c".into(),
            OsString::from_vec(line.to_vec()),
        ]
    }

    /// The shell's own wording for a command it cannot run.
    fn shell_error(&self, line: &[u8], what: &str) -> Vec<u8> {
        let program = line
            .split(|b| b.is_ascii_whitespace())
            .find(|w| !w.is_empty())
            .unwrap_or(b"");
        let shell = self.config.shell.path.display().to_string();
        let mut message = if self.config.shell.is_bash {
            format!("{shell}: line 1: ").into_bytes()
        } else {
            format!("{shell}: 1: ").into_bytes()
        };
        message.extend_from_slice(
            &crate::template::quoted(program)
                .iter()
                .filter(|&&b| b != b'\'')
                .copied()
                .collect::<Vec<_>>(),
        );
        message.extend_from_slice(format!(": {what}\n").as_bytes());
        message
    }

    fn spawn(
        &mut self,
        running: &Running,
        argv: Vec<OsString>,
        mut env: Vec<(OsString, OsString)>,
    ) -> Result<JobId, SpawnError> {
        env.push(("PARALLEL_SEQ".into(), running.job.seq.to_string().into()));
        env.push(("PARALLEL_JOBSLOT".into(), running.slot.to_string().into()));
        env.push(("PARALLEL_PID".into(), self.our_pid.clone()));
        let (stdout, stderr) = if self.config.mode == Mode::Ungroup && running.files.is_none() {
            (Output::Inherit, Output::Inherit)
        } else {
            (Output::Capture, Output::Capture)
        };
        let spec = Spec {
            argv,
            env,
            stdout,
            stderr,
            nice: self.config.nice,
            ..Spec::default()
        };
        match self.supervisor.as_mut() {
            Some(s) => s.spawn(&spec),
            None => Err(SpawnError::Io(io::Error::other("no supervisor"))),
        }
    }

    // ----------------------------------------------------------- events --

    fn handle(&mut self, event: Event) {
        match event {
            Event::Output { job, stream, data } => {
                if let Some(mut running) = self.running.remove(&job) {
                    self.job_output(&mut running, stream, &data);
                    self.running.insert(job, running);
                }
            }
            Event::Exited { job, reason, .. } => {
                if let Some(running) = self.running.remove(&job) {
                    self.complete(running, reason);
                }
            }
            Event::Signal { signal } => self.on_signal(signal),
            _ => {}
        }
    }

    fn job_output(&mut self, running: &mut Running, stream: Stream, data: &[u8]) {
        if stream == Stream::Stdout {
            running.stdout_bytes += data.len() as u64;
        }
        if let Some(files) = &mut running.files {
            let file = match stream {
                Stream::Stdout => &mut files.stdout,
                Stream::Stderr => &mut files.stderr,
            };
            if let Err(e) = crate::results::write(file, data) {
                self.fatal(&format!("cannot write the result files: {}", io_reason(&e)));
            }
            return;
        }
        let seq = running.job.seq;
        let printer = &mut self.printer;
        let written = self.progress.suspend(|| printer.output(seq, stream, data));
        if let Err(e) = written {
            self.output_failed(&e);
        }
    }

    fn output_failed(&mut self, error: &io::Error) {
        if error.kind() == io::ErrorKind::BrokenPipe {
            // Whoever read our output is gone: stop quietly, as a pipeline
            // member killed by SIGPIPE would.
            self.broken_pipe = true;
            self.stop_and_kill(Stop::Fatal, Killed::Signal);
        } else if self.stop != Some(Stop::Fatal) {
            self.fatal(&format!("cannot write output: {}", io_reason(error)));
        }
    }

    fn on_signal(&mut self, signal: i32) {
        self.interrupts += 1;
        let name = forkpool::signal_name(signal).map_or_else(|| signal.to_string(), |n| n.to_string());
        if self.interrupts == 1 {
            self.stop.get_or_insert(Stop::Signal);
            if let Some(s) = self.supervisor.as_mut() {
                s.signal_all(signal);
            }
            if !self.running.is_empty() {
                let n = self.running.len();
                self.progress.suspend(|| {
                    eprintln!(
                        "forkpool: {name} received: starting no more jobs, passed it on to {n} running job{}; \
                         send it again to kill them.",
                        if n == 1 { "" } else { "s" }
                    );
                });
            }
        } else {
            self.stop = Some(Stop::Signal);
            for running in self.running.values_mut() {
                running.killed.get_or_insert(Killed::Signal);
            }
            if let Some(s) = self.supervisor.as_mut() {
                s.terminate_all(&TermSeq::immediate(libc::SIGKILL));
            }
        }
    }

    /// A job ended: retry it, or log it, print its output, count it and
    /// see whether to halt.
    fn complete(&mut self, running: Running, reason: ExitReason) {
        let (mut exitval, signal) = match reason {
            ExitReason::Exited(code) => (i64::from(code), 0),
            ExitReason::Signaled { signal, .. } => (0, signal),
        };
        if running.killed.is_some() {
            exitval = -1;
        }
        let failed = exitval != 0 || signal != 0;
        let Running {
            job,
            slot,
            attempts,
            command,
            started_at,
            started,
            stdout_bytes,
            killed,
            files,
        } = running;
        self.free_slots.insert(slot);
        let retry = match killed {
            // Killed to free memory: it goes back on the queue.
            Some(Killed::Memfree) => self.stop.is_none(),
            Some(Killed::Halt | Killed::Signal) => false,
            _ => failed && self.stop.is_none() && (self.config.retries == 0 || attempts + 1 < self.config.retries),
        };
        if retry {
            if files.is_none() {
                self.printer.discard(job.seq);
            }
            self.tally.started -= 1;
            self.retry.push_back((job, attempts + 1));
            return;
        }
        let runtime = started.elapsed();
        if let Some(log) = &mut self.joblog {
            let entry = Entry {
                seq: job.seq,
                start: started_at,
                runtime,
                receive: stdout_bytes,
                exitval,
                signal,
                command: &command,
            };
            if let Err(e) = log.record(&entry) {
                self.fatal(&format!("cannot write the joblog: {}", io_reason(&e)));
            }
        }
        match files {
            Some(files) => {
                if let Err(e) = files.finish(job.seq) {
                    self.fatal(&format!("cannot write the result files: {}", io_reason(&e)));
                }
            }
            None => {
                let printer = &mut self.printer;
                let printed = self.progress.suspend(|| printer.finish(job.seq));
                if let Err(e) = printed {
                    self.output_failed(&e);
                }
            }
        }
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
        let verdict = self.config.halt.check(&self.tally, failed, status, self.total);
        if let Some(message) = verdict.message {
            let line = String::from_utf8_lossy(&command).into_owned();
            self.progress.suspend(|| eprintln!("forkpool: {message}\n{line}"));
        }
        if let Some((when, exit)) = verdict.halt
            && self.halt_status.is_none()
        {
            self.halt_status = Some(exit);
            match when {
                When::Now => self.stop_and_kill(Stop::Halt, Killed::Halt),
                When::Soon | When::Never => {
                    self.stop.get_or_insert(Stop::Halt);
                    if !self.running.is_empty() {
                        let n = self.running.len();
                        self.progress.suspend(|| {
                            eprintln!("forkpool: Starting no more jobs. Waiting for {n} jobs to finish.");
                        });
                    }
                }
            }
        }
        self.progress.update(self.running.len(), self.tally.completed);
    }

    // ----------------------------------------------------------- limits --

    fn timeout_of(&self) -> Option<Duration> {
        match self.config.timeout? {
            Timeout::Fixed(d) => Some(d),
            Timeout::Median(pct) => self.median.median.map(|m| Duration::from_secs_f64((m * pct).max(0.0))),
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        let timeout = self.timeout_of()?;
        self.running
            .values()
            .filter(|r| r.killed.is_none())
            .filter_map(|r| r.started.checked_add(timeout))
            .min()
    }

    fn enforce_timeouts(&mut self) {
        let Some(timeout) = self.timeout_of() else { return };
        let now = Instant::now();
        let seq = self.config.termseq.clone();
        for (id, running) in &mut self.running {
            if running.killed.is_none() && now.duration_since(running.started) >= timeout {
                running.killed = Some(Killed::Timeout);
                let line = String::from_utf8_lossy(&running.command).into_owned();
                self.progress.suspend(|| {
                    eprintln!(
                        "forkpool: Warning: This job was killed because it timed out:\nforkpool: Warning: {line}"
                    );
                });
                if let Some(s) = self.supervisor.as_mut() {
                    s.terminate(*id, &seq);
                }
            }
        }
    }

    /// `--memfree`: under half the limit free, kill the youngest job (it
    /// goes back on the queue).
    fn enforce_memfree(&mut self) {
        let Some(memfree) = self.config.memfree else { return };
        if self.running.len() < 2 || available_memory().is_none_or(|a| a >= memfree / 2) {
            return;
        }
        let youngest = self
            .running
            .iter()
            .filter(|(_, r)| r.killed.is_none())
            .max_by_key(|(_, r)| r.started)
            .map(|(id, _)| *id);
        if let Some(id) = youngest {
            if let Some(r) = self.running.get_mut(&id) {
                r.killed = Some(Killed::Memfree);
            }
            let seq = self.config.termseq.clone();
            if let Some(s) = self.supervisor.as_mut() {
                s.terminate(id, &seq);
            }
        }
    }
}

fn values(job: &Job, slot: usize) -> Values<'_> {
    Values {
        args: &job.args,
        seq: job.seq,
        slot,
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|l| {
        let kb = l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim();
        kb.parse::<u64>().ok().map(|kb| kb * 1024)
    })
}

/// Processes running now (from `/proc/loadavg`), not counting ourselves.
fn running_processes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let running: u64 = text.split_whitespace().nth(3)?.split('/').next()?.parse().ok()?;
    Some(running.saturating_sub(1))
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
