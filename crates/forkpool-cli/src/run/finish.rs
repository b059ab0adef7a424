//! A job ended: tried again (`--retries`, a job killed to free memory),
//! or logged (the joblog, a `--results` table), its output printed in
//! its turn, counted, and `--halt` asked whether the run goes on.

use forkpool::ExitReason;

use super::{Killed, Runner, Running, Stop};
use crate::config::Timeout;
use crate::halt::When;
use crate::joblog::Finished;
use crate::jobs::io_reason;

impl Runner<'_> {
    /// A job ended: retry it, or log it, print its output, count it and
    /// see whether to halt.
    pub(super) fn complete(&mut self, running: Running, reason: ExitReason) {
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
