//! Signals sent to forkpool: `SIGINT` and `SIGTERM` stop the run (with
//! `--termseq` the jobs get that; else the signal itself; a second one
//! kills them), `SIGHUP` starts no new jobs, `SIGUSR1` lists the running
//! jobs and `SIGUSR2` turns `--progress` on or off, as in GNU parallel.

use forkpool::command::TermSeq;

use super::{Killed, Runner, Stop};

impl Runner<'_> {
    pub(super) fn on_signal(&mut self, signal: i32) {
        if signal == libc::SIGUSR1 {
            // GNU parallel's list of the jobs running now.
            let mut running: Vec<_> = self.running.values().map(|r| (r.job.seq, &r.command)).collect();
            running.sort_unstable();
            for (_, command) in running {
                tell!("{}", String::from_utf8_lossy(command));
            }
            return;
        }
        if signal == libc::SIGUSR2 {
            self.progress.toggle();
            return;
        }
        if signal == libc::SIGHUP {
            if self.stop.is_none() {
                self.stop = Some(Stop::Hangup);
                let n = self.running.len();
                let mut running: Vec<_> = self.running.values().map(|r| (r.job.seq, &r.command)).collect();
                running.sort_unstable();
                let commands: Vec<String> = running
                    .into_iter()
                    .map(|(_, command)| String::from_utf8_lossy(command).into_owned())
                    .collect();
                self.progress.suspend(|| {
                    tell!("SIGHUP received. No new jobs will be started.");
                    tell!("Waiting for these {n} jobs to finish. Send SIGTERM to stop now.");
                    for command in &commands {
                        tell!("{command}");
                    }
                });
            }
            return;
        }
        self.interrupts += 1;
        if self.interrupts == 1 {
            if matches!(self.stop, None | Some(Stop::Hangup)) {
                self.stop = Some(Stop::Signal);
            }
            // With --termseq, the jobs get that (as GNU parallel stops
            // them on a signal, -u ones too); else the signal itself.
            let termseq = self.config.termseq_given.then(|| self.config.termseq.clone());
            if let Some(s) = self.supervisor.as_mut() {
                match &termseq {
                    Some(seq) => s.terminate_all(seq),
                    None => s.signal_all(signal),
                }
            }
            // (GNU parallel says nothing here: neither does forkpool.)
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
}
