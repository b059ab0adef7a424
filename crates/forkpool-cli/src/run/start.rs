//! One job started ([`Runner::launch`]): its command line rendered and
//! measured against GNU parallel's limit, `-p`, `-v` and `--filter`,
//! `--dry-run`'s line, its result and `--files` files, `--template`s,
//! `--shellquote`, its `--pipe` input, and the spawn (here, on a host,
//! or through the shell when the program cannot start by itself). Below
//! it, its steps that come before the spawn: the wrapping of its command
//! line and `-v`'s line on standard output.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, Instant, SystemTime};

use forkpool::ExitReason;
use forkpool::command::{Input, JobId, Output, SpawnError, Spec, Stream};

use super::{Launched, Runner, Running, Stop, values};
use crate::config::Tag;
use crate::joblog::Finished;
use crate::jobs::{Job, io_reason};
use crate::output::Mode;
use crate::replace::{Multi, Template};
use crate::shell::Launch;

impl Runner<'_> {
    pub(super) fn launch(&mut self, mut job: Job, attempts: u32) -> Launched {
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
            // appended, as in GNU parallel; with --cat/--fifo the file is.
            self.command.render_unappended(values(&job, slot), self.config.multi)
        } else {
            self.command.render(values(&job, slot), self.config.multi)
        };
        if line.is_empty() && self.config.pipe.is_some() {
            // `--pipe ::: cmd1 cmd2` with more blocks than commands: as in
            // GNU parallel, a block with nothing to go into stops the run.
            // Unlike there, the jobs started go on, their output is
            // printed, and the error comes last (`Stop::NoCommand`).
            self.never_runs(job.seq, slot);
            self.stop.get_or_insert(Stop::NoCommand);
            return Launched::Yes;
        }
        // `$PARALLEL_ENV`'s code runs in front of every command line.
        let prefix = self.config.parallel_env.as_ref().map_or(0, Vec::len);
        // A job is measured as GNU parallel measures it, by its estimate
        // (which counts a record of several values' context once per
        // value, and every record as wide as the first). A line of several
        // records is not measured again: it was filled to fit, by perl's
        // values where it has `{= =}`, and GNU checks only as it fills
        // (a value false then is computed again where it is used, and may
        // be longer: the line runs, as in GNU).
        let one_record = job.records.len() == 1 && self.config.pipe.is_none();
        let filled = job.records.len() > 1 && self.config.pipe.is_none();
        let len = (!filled).then(|| {
            prefix
                + if self.config.pipe.is_none() {
                    let widths = job.records.iter().map(Vec::len);
                    let estimate =
                        self.shape
                            .job_len(widths, self.config.multi, self.command.context(), values(&job, slot));
                    self.config.measure().of_len(estimate)
                } else {
                    self.config.measure().of(&line)
                }
        });
        if let Some(len) = len.filter(|&len| len >= self.config.max_line) {
            // GNU parallel's limit, so that a script that works with one
            // works with the other. As there, no new job starts, the
            // running ones finish, and the run exits 255.
            self.never_runs(job.seq, slot);
            self.stop.get_or_insert(Stop::TooLong);
            // As GNU parallel words it: the record's values (else the
            // longest value), cut at 50 bytes.
            let (index, value) = if one_record {
                (0, job.args.join(&b' '))
            } else {
                job.args
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, a)| a.len())
                    .map_or((0, Vec::new()), |(i, a)| (i, a.clone()))
            };
            let mut shown = String::from_utf8_lossy(&value[..value.len().min(50)]).into_owned();
            if value.len() > 50 {
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
            // Its words are repeated per argument as the command's are
            // (`-X`, `-N2`: `T{}` is `Ta Tb`), as in GNU parallel.
            Tag::Template(_) => self.tag.as_ref().map(|t| {
                let tag = t.render(values(&job, slot), self.config.multi);
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
                Err(failure) => {
                    if self.stop.is_none() {
                        self.died = Some(failure.status);
                    }
                    self.fatal(&failure.message);
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

    /// The command line wrapped as it will run, when it differs from
    /// `line` (`--workdir DIR` runs `cd DIR || exit 255; LINE`; for
    /// `--shellquote`, the command GNU parallel would run to print it). An
    /// error if the work directory cannot be made.
    pub(super) fn wrap(&self, line: &[u8], job: &Job, slot: usize) -> Result<Option<Vec<u8>>, String> {
        if self.config.shellquote > 0 {
            return Ok(Some(crate::shellquote::gnu_wrapper(line, self.config.shellquote)));
        }
        let Some(workdir) = &self.workdir else {
            return Ok(None);
        };
        let render = |t: &crate::replace::Template| t.render(values(job, slot), Multi::Single);
        workdir.wrap(line, render, job.seq).map(Some)
    }

    /// `--filter`: whether every expression holds for this job.
    pub(super) fn passes_filters(&mut self, job: &Job, slot: usize) -> Result<bool, String> {
        let multi = if job.records.len() > 1 {
            Multi::Join
        } else {
            Multi::Single
        };
        let expressions: Vec<Vec<u8>> = self
            .filters
            .iter()
            .map(|f| f.render(values(job, slot), multi))
            .collect();
        if self.evaluator.is_none() {
            let started =
                crate::filter::Evaluator::start().map_err(|e| format!("cannot start perl for --filter: {e}"))?;
            self.evaluator = Some(started);
        }
        let evaluator = self.evaluator.as_mut().ok_or("no perl for --filter")?;
        evaluator.all_true(&expressions).map_err(|e| format!("--filter: {e}"))
    }

    /// `-v`: the command goes out as the first thing the job prints (so
    /// it is grouped, ordered and tagged with its output, and counted in
    /// the joblog's bytes received, as in GNU parallel); with `-u`,
    /// straight to standard output.
    pub(super) fn show_on_stdout(&mut self, running: &mut Running) {
        let level = self.config.show.stdout;
        if level == 0 {
            return;
        }
        let mut line = if level > 1 {
            // A --pipepart job: with the reader of its part, as GNU shows it.
            crate::pipe::shown::as_run(running.job.stdin.as_ref(), running.to_run())
                .unwrap_or_else(|| running.to_run().to_vec())
        } else {
            running.command.clone()
        };
        line.push(b'\n');
        if self.config.mode == Mode::Ungroup && running.files.is_none() {
            if self.printer.silenced() {
                return;
            }
            let written = self.progress.suspend(|| {
                let mut out = io::stdout().lock();
                out.write_all(&line).and_then(|()| out.flush())
            });
            if let Err(e) = written {
                self.output_failed(&e);
            }
        } else {
            self.job_output(running, Stream::Stdout, &line);
        }
    }

    pub(super) fn shell_argv(&self, line: &[u8]) -> Vec<OsString> {
        vec![
            self.config.shell.path().as_os_str().to_owned(),
            "-c".into(),
            OsString::from_vec(line.to_vec()),
        ]
    }

    pub(super) fn spawn(
        &mut self,
        running: &Running,
        argv: Vec<OsString>,
        mut env: Vec<(OsString, OsString)>,
        input: Option<&crate::pipe::Launch>,
    ) -> Result<JobId, SpawnError> {
        env.push(("PARALLEL_SEQ".into(), running.job.seq.to_string().into()));
        env.push(("PARALLEL_JOBSLOT".into(), running.slot.to_string().into()));
        env.push(("PARALLEL_PID".into(), self.our_pid.clone()));
        self.job_env(running, &mut env);
        let (stdout, stderr) = if self.config.mode == Mode::Ungroup && running.files.is_none() {
            if self.printer.silenced() {
                (Output::Null, Output::Null)
            } else {
                (Output::Inherit, Output::Inherit)
            }
        } else if running.out_file.is_some() {
            // `--files` keeps standard output; standard error is thrown
            // away, as GNU parallel does.
            (Output::Capture, Output::Null)
        } else {
            (Output::Capture, Output::Capture)
        };
        if let Some(input) = input {
            // Last, so that --cat/--fifo's $PARALLEL_TMP (the file `{}`
            // names) wins over any other.
            env.extend(input.env.iter().cloned());
        }
        let stdin = match input {
            Some(input) => input.stdin.clone(),
            None if self.config.tty => Input::Tty,
            // `sem`'s command reads sem's stdin, as in GNU parallel.
            None if self.config.semaphore => Input::Inherit,
            None => Input::Null,
        };
        // Looked up once per program and run (the shell's hash of command
        // paths, which `$_` came from too), so the job execs it at once;
        // a job with a `PATH` of its own is searched for by the supervisor.
        let program = if env.iter().any(|(name, _)| name == "PATH") {
            None
        } else {
            argv.first().and_then(|name| crate::shell::which(name))
        };
        let spec = Spec {
            argv,
            program,
            env,
            stdin,
            stdout,
            stderr,
            nice: self.config.nice,
        };
        match self.supervisor.as_mut() {
            Some(s) => s.spawn(&spec),
            None => Err(SpawnError::Io(io::Error::other("no supervisor"))),
        }
    }
}
