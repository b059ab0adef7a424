//! Steps of starting a job that come before the spawn: the wrapping of
//! its command line and `-v`'s line on standard output.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;

use forkpool::command::{Input, JobId, Output, SpawnError, Spec, Stream};

use super::{Runner, Running, values};
use crate::jobs::Job;
use crate::output::Mode;
use crate::replace::Multi;

impl Runner<'_> {
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
