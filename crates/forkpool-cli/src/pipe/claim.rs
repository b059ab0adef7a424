//! A job's seat at the table of a thread that feeds several jobs at once
//! (`--round-robin`'s dealer, `--tee`'s copier). The job holds its claim
//! until it starts, then hands its pipe over with [`Claim::attach`]; a job
//! that never starts (the run stopped first) drops its claim, and the
//! thread stops waiting for it.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a feeding thread is told about its jobs.
pub(crate) trait Table: Send + Sync {
    /// Job `seq` started: `fd` is its stdin's write end; the thread counts
    /// what it writes there in `sent`.
    fn attach(&self, seq: u64, fd: OwnedFd, sent: Arc<AtomicU64>);
    /// Job `seq` will not start.
    fn gone(&self, seq: u64);
}

/// A job's seat; see the module docs.
#[derive(Debug)]
pub(crate) struct Claim<T: Table> {
    seq: u64,
    table: Arc<T>,
    attached: AtomicBool,
}

impl<T: Table> Claim<T> {
    pub(crate) fn new(seq: u64, table: Arc<T>) -> Claim<T> {
        Claim {
            seq,
            table,
            attached: AtomicBool::new(false),
        }
    }

    /// The job started: its stdin's write end goes to the thread. A second
    /// attempt of the job (it was run again) gets no input: what it would
    /// read has gone by, and dropping `fd` ends its input.
    pub(crate) fn attach(&self, fd: OwnedFd, sent: Arc<AtomicU64>) {
        if !self.attached.swap(true, Ordering::AcqRel) {
            self.table.attach(self.seq, fd, sent);
        }
    }
}

impl<T: Table> Drop for Claim<T> {
    fn drop(&mut self) {
        if !self.attached.load(Ordering::Acquire) {
            self.table.gone(self.seq);
        }
    }
}
