//! `--block-timeout`: standard input read against a deadline. The cutter
//! sets the deadline when it starts reading a window; a read that would
//! wait past it fails with [`io::ErrorKind::TimedOut`] instead, and the
//! cutter cuts what it has (at its last record boundary, as GNU parallel
//! does when its alarm interrupts `read_block`).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

/// When the current read must end (`None`: reads wait as long as needed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Deadline(Arc<Mutex<Option<Instant>>>);

impl Deadline {
    pub(crate) fn set(&self, at: Option<Instant>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A file (standard input) whose reads give up at the deadline.
#[derive(Debug)]
pub(crate) struct Timed<R> {
    input: R,
    deadline: Deadline,
}

impl<R> Timed<R> {
    pub(crate) fn new(input: R, deadline: Deadline) -> Timed<R> {
        Timed { input, deadline }
    }
}

impl Read for Timed<File> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(at) = self.deadline.get() {
            loop {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                let mut fds = [PollFd::from_borrowed_fd(self.input.as_fd(), PollFlags::IN)];
                let timeout = Timespec::try_from(left.max(Duration::from_millis(1))).ok();
                match rustix::event::poll(&mut fds, timeout.as_ref()) {
                    Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
                    Ok(_) => break,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.input.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_gives_up_at_the_deadline_and_then_reads_again() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let deadline = Deadline::default();
        let mut timed = Timed::new(File::from(read), deadline.clone());
        deadline.set(Some(Instant::now() + Duration::from_millis(20)));
        let mut buf = [0u8; 4];
        assert_eq!(timed.read(&mut buf).unwrap_err().kind(), io::ErrorKind::TimedOut);
        rustix::io::write(&write, b"ab").unwrap();
        deadline.set(None);
        assert_eq!(timed.read(&mut buf).unwrap(), 2);
    }
}
