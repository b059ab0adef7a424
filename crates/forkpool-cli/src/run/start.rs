//! Steps of starting a job that come before the spawn: the wrapping of
//! its command line and `-v`'s line on standard output.

use std::io::{self, Write};

use forkpool::command::Stream;

use super::{Runner, Running, values};
use crate::jobs::Job;
use crate::output::Mode;
use crate::template::Multi;

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
        let render = |t: &crate::template::Template| t.render(values(job, slot), Multi::Single);
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
            running.to_run()
        } else {
            &running.command[..]
        }
        .to_vec();
        line.push(b'\n');
        if self.config.mode == Mode::Ungroup && running.files.is_none() {
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
}
