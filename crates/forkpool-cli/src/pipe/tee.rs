//! `--pipe --tee`: all of standard input to every job.
//!
//! One thread reads the input a chunk at a time and writes each chunk to
//! every job's stdin, so memory holds one chunk however long the input
//! is. It starts writing only when every job has started (or been
//! dropped), so that none misses the beginning: `--tee` needs all its jobs
//! running at once, which the configuration checks. A job that exits
//! early (`head -1`) just stops getting data.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use rustix::io::Errno;

/// How much is read at a time.
const CHUNK: usize = 1 << 20;

/// A job's seat, held by the job until it starts.
#[derive(Debug)]
pub(crate) struct Claim {
    shared: Arc<Shared>,
    attached: AtomicBool,
}

impl Claim {
    /// The job started: this is its stdin's write end.
    pub(crate) fn attach(&self, fd: OwnedFd, sent: Arc<AtomicU64>) {
        if self.attached.swap(true, Ordering::AcqRel) {
            // A second attempt of the job: the input has gone by; it gets
            // none (dropping `fd` ends its input).
            return;
        }
        let mut seats = self.shared.lock();
        seats.outputs.push((fd, sent));
        seats.settled += 1;
        self.shared.all_in.notify_one();
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.attached.load(Ordering::Acquire) {
            self.shared.lock().settled += 1;
            self.shared.all_in.notify_one();
        }
    }
}

#[derive(Debug, Default)]
struct Seats {
    outputs: Vec<(OwnedFd, Arc<AtomicU64>)>,
    /// Jobs that started or were dropped.
    settled: usize,
}

#[derive(Debug, Default)]
struct Shared {
    seats: Mutex<Seats>,
    all_in: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seats> {
        self.seats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the thread that copies `input` to `jobs` jobs; returns their
/// claims.
pub(crate) fn start(input: Box<dyn Read + Send>, jobs: usize) -> io::Result<Vec<Arc<Claim>>> {
    let shared = Arc::new(Shared::default());
    let claims = (0..jobs)
        .map(|_| {
            Arc::new(Claim {
                shared: shared.clone(),
                attached: AtomicBool::new(false),
            })
        })
        .collect();
    std::thread::Builder::new()
        .name("forkpool-tee".into())
        .spawn(move || copy(input, &shared, jobs))?;
    Ok(claims)
}

fn copy(mut input: Box<dyn Read + Send>, shared: &Shared, jobs: usize) {
    let mut outputs = {
        let mut seats = shared.lock();
        while seats.settled < jobs {
            seats = shared.all_in.wait(seats).unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::take(&mut seats.outputs)
    };
    let mut buf = vec![0u8; CHUNK];
    while !outputs.is_empty() {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // An input we cannot read ends like an empty one.
            Err(_) => break,
        };
        outputs.retain(|(fd, sent)| write_all(fd, &buf[..n], sent));
    }
    // Dropping the outputs closes every job's stdin.
}

/// Writes all of `data`; false if the job is gone.
fn write_all(fd: &OwnedFd, mut data: &[u8], sent: &AtomicU64) -> bool {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => {
                sent.fetch_add(n as u64, Ordering::Relaxed);
                data = &data[n..];
            }
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_gets_everything_and_a_dropped_one_holds_nothing_up() {
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let claims = start(Box::new(io::Cursor::new(data.clone())), 3).unwrap();
        let mut readers = Vec::new();
        let mut sents = Vec::new();
        for claim in claims.iter().take(2) {
            let (read, write) = rustix::pipe::pipe().unwrap();
            let sent = Arc::new(AtomicU64::new(0));
            claim.attach(write, sent.clone());
            sents.push(sent);
            readers.push(std::thread::spawn(move || {
                let mut got = Vec::new();
                std::fs::File::from(read).read_to_end(&mut got).unwrap();
                got
            }));
        }
        drop(claims);
        for (reader, sent) in readers.into_iter().zip(sents) {
            assert!(reader.join().unwrap() == data);
            assert_eq!(sent.load(Ordering::Relaxed), data.len() as u64);
        }
    }
}
