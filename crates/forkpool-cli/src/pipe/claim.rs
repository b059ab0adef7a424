//! A job's seat at the table of a thread that feeds several jobs at once
//! (`--round-robin`'s dealer, `--tee`'s copier, `--shard`'s sharder). The job holds its claim
//! until it starts, then hands its pipe over with [`Claim::attach`]; a job
//! that never starts (the run stopped first) drops its claim, and the
//! thread stops waiting for it.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

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

/// A job's pipe at a [`Seats`] table: its write end and the count of what
/// was written there.
pub(crate) type Seat = (OwnedFd, Arc<AtomicU64>);

/// The table of a thread that feeds jobs which must all run at once
/// (`--tee`, `--shard`): it waits until every job has started (or was
/// dropped), so that none misses the beginning, then takes their pipes,
/// indexed by the claims' numbers.
#[derive(Debug)]
pub(crate) struct Seats {
    state: Mutex<Seated>,
    all_in: Condvar,
}

#[derive(Debug)]
struct Seated {
    seats: Vec<Option<Seat>>,
    /// Jobs that started or were dropped.
    settled: usize,
}

impl Seats {
    /// A table for `jobs` jobs, whose claims are numbered from 0.
    pub(crate) fn new(jobs: usize) -> Seats {
        Seats {
            state: Mutex::new(Seated {
                seats: (0..jobs).map(|_| None).collect(),
                settled: 0,
            }),
            all_in: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Seated> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for every job, then takes their pipes (`None`: the job was
    /// dropped).
    pub(crate) fn wait_all(&self) -> Vec<Option<Seat>> {
        let mut state = self.lock();
        while state.settled < state.seats.len() {
            state = self.all_in.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::take(&mut state.seats)
    }
}

impl Table for Seats {
    fn attach(&self, seq: u64, fd: OwnedFd, sent: Arc<AtomicU64>) {
        let mut state = self.lock();
        if let Some(seat) = usize::try_from(seq).ok().and_then(|k| state.seats.get_mut(k)) {
            *seat = Some((fd, sent));
        }
        state.settled += 1;
        self.all_in.notify_one();
    }

    fn gone(&self, _seq: u64) {
        self.lock().settled += 1;
        self.all_in.notify_one();
    }
}

/// Writes all of `data` to a job's pipe, blocking; false if the job is
/// gone.
pub(crate) fn write_all((fd, sent): &Seat, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => {
                sent.fetch_add(n as u64, Ordering::Relaxed);
                data = &data[n..];
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}
