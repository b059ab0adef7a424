//! Task output (`TaskOutput::Tagged` and `Capture`): reading each worker's
//! stdout and stderr pipes, telling whose bytes are whose, and printing or
//! keeping them. `README.md` beside this file explains how output is
//! attributed and why it is exact for what a task's own thread writes.
//!
//! - [`worker`]: one worker's pipes and the attribution of their bytes.
//! - [`sink`]: tagged lines and bounded captures.
//! - [`printer`]: the thread that writes tagged lines, so the supervisor
//!   never blocks on a terminal.

mod printer;
mod sink;
mod worker;

use std::sync::Arc;

use polling::Poller;

pub(crate) use worker::WorkerOutput;

use crate::error::TaskError;
use crate::slot::{Part, Slot};
use crate::supervisor::Job;
use printer::Printer;

/// How the pool takes its tasks' output, when it does not inherit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Print each line with its task's tag.
    Tagged,
    /// Keep the last `limit` bytes of each stream of each task.
    Capture { limit: usize },
}

/// What every worker's output shares: the mode and the printer.
#[derive(Debug)]
pub(crate) struct PoolOutput {
    mode: Mode,
    printer: Arc<Printer>,
}

impl PoolOutput {
    /// Starts the printer thread.
    pub(crate) fn start(mode: Mode, poller: Arc<Poller>) -> std::io::Result<Arc<PoolOutput>> {
        Ok(Arc::new(PoolOutput {
            mode,
            printer: Printer::start(poller)?,
        }))
    }

    /// True (once) when pipes paused because the printer fell behind may
    /// be read again: call [`WorkerOutput::resume`] on every worker.
    pub(crate) fn take_resume(&self) -> bool {
        self.printer.take_resume()
    }

    /// Prints and delivers everything queued, and stops the printer.
    pub(crate) fn close(&self) {
        self.printer.close();
    }

    fn capture_limit(&self) -> Option<usize> {
        match self.mode {
            Mode::Tagged => None,
            Mode::Capture { limit } => Some(limit),
        }
    }

    fn print(&self, stream: usize, bytes: Vec<u8>) {
        self.printer.write(stream, bytes);
    }

    fn deliver(&self, slot: Arc<Slot>, part: Part) {
        self.printer.deliver(slot, part);
    }

    fn congested(&self) -> bool {
        self.printer.congested()
    }
}

/// Ends `job`'s items with `error`: after what their worker printed before,
/// when it has output pipes.
pub(crate) fn fail(output: Option<&WorkerOutput>, job: Job, error: TaskError) {
    match output {
        Some(output) => {
            let (slot, part) = job.failure(error);
            output.deliver(slot, part);
        }
        None => job.fail(error),
    }
}
