//! What jobs report while they run: their output (to the printer, a
//! `--files` file or `--results` files), their end, and signals.

use std::io;

use forkpool::command::{Event, Stream};

use super::{Killed, Runner, Running, Stop};
use crate::jobs::io_reason;

impl Runner<'_> {
    pub(super) fn handle(&mut self, event: Event) {
        match event {
            // The hosts' own jobs (setup, probes, masters): see `remote.rs`.
            Event::Output { job, stream, data } if !self.running.contains_key(&job) => {
                self.remote_output(job, stream, &data);
            }
            Event::Exited { job, reason, .. } if !self.running.contains_key(&job) => {
                self.remote_exited(job, reason);
            }
            Event::Output { job, stream, data } => {
                if let Some(mut running) = self.running.remove(&job) {
                    let data = self.remote_stderr(&mut running, stream, data);
                    let was_fatal = self.stop == Some(Stop::Fatal);
                    self.job_output(&mut running, stream, &data);
                    self.running.insert(job, running);
                    // (A run stopped before, by a perl expression that
                    // died, lets its running jobs finish.)
                    if !was_fatal && self.stop == Some(Stop::Fatal) {
                        // Its output could not be written: it stops too.
                        self.stop_and_kill(Stop::Fatal, Killed::Signal);
                    }
                }
            }
            Event::Exited { job, reason, .. } => {
                if let Some(running) = self.running.remove(&job) {
                    self.complete(running, reason);
                }
            }
            Event::Signal { signal } => self.on_signal(signal),
            // Its guardian keeps dying: the run goes on, the library keeps
            // starting another (see `forkpool::command`).
            Event::Unguarded { reason } => self.progress.suspend(|| {
                warning!("{reason}; retrying. Until one runs, jobs would outlive a SIGKILL of this process.");
            }),
            Event::Guarded => self.progress.suspend(|| warning!("a guardian process runs again.")),
            // The input thread has news: the loop looks for jobs anyway.
            _ => {}
        }
    }

    pub(super) fn job_output(&mut self, running: &mut Running, stream: Stream, data: &[u8]) {
        if stream == Stream::Stdout {
            running.stdout_bytes += data.len() as u64;
        }
        if let Some(file) = &mut running.out_file {
            if stream == Stream::Stdout
                && let Err(e) = file.write(data)
            {
                self.fatal(&format!(
                    "cannot write the --files output of job {}: {e}",
                    running.job.seq
                ));
            }
            return;
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

    pub(super) fn output_failed(&mut self, error: &io::Error) {
        if crate::parset::is_too_few(error) {
            self.fatal(&error.to_string());
        } else if error.kind() == io::ErrorKind::BrokenPipe {
            // Whoever read our output is gone: stop quietly, as a pipeline
            // member killed by SIGPIPE would.
            self.broken_pipe = true;
            self.stop_and_kill(Stop::Fatal, Killed::Signal);
        } else if !self.output_warned {
            // Like GNU parallel, go on running the jobs (their effects may
            // matter more than their output), but say so, once, and fail
            // the run (GNU parallel is silent and exits 0).
            self.output_warned = true;
            error!("cannot write output: {}", io_reason(error));
        }
    }
}
