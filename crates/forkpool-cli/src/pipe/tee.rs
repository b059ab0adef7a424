//! `--pipe --tee`: all of standard input to every job.
//!
//! One thread reads the input a chunk at a time and writes each chunk to
//! every job's stdin, so memory holds one chunk however long the input
//! is. It starts writing only when every job has started (or been
//! dropped), so that none misses the beginning: `--tee` needs all its jobs
//! running at once, which the configuration checks. A job that exits
//! early (`head -1`) just stops getting data.

use std::io::{self, Read};
use std::sync::Arc;

use super::claim::{Seat, Seats, write_all};

/// How much is read at a time.
const CHUNK: usize = 1 << 20;

/// A job's seat at the copier's table (see `claim`).
pub(crate) type Claim = super::claim::Claim<Seats>;

/// Starts the thread that copies `input` to `jobs` jobs; returns their
/// claims.
pub(crate) fn start(input: Box<dyn Read + Send>, jobs: usize) -> io::Result<Vec<Arc<Claim>>> {
    let seats = Arc::new(Seats::new(jobs));
    let claims = (0..jobs)
        .map(|k| Arc::new(Claim::new(k as u64, seats.clone())))
        .collect();
    std::thread::Builder::new()
        .name("forkpool-tee".into())
        .spawn(move || copy(input, &seats))?;
    Ok(claims)
}

fn copy(mut input: Box<dyn Read + Send>, seats: &Seats) {
    let mut outputs: Vec<Seat> = seats.wait_all().into_iter().flatten().collect();
    let mut buf = vec![0u8; CHUNK];
    while !outputs.is_empty() {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // An input we cannot read ends like an empty one.
            Err(_) => break,
        };
        outputs.retain(|seat| write_all(seat, &buf[..n]));
    }
    // Dropping the outputs closes every job's stdin.
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

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
