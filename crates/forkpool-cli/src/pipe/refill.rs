//! Keeping a job's pipe full without a wake-up per read.
//!
//! A job reads its pipe in small steps (`wc` and most of coreutils read
//! 16 KiB at a time), and a pipe wakes its writer each time a read makes
//! room in a full pipe. A writer that waits for room the usual way
//! (`poll` for `POLLOUT`, or a blocking `splice`/`write`) is therefore
//! woken for every 16 KiB the job takes, puts 16 KiB back and sleeps
//! again: two context switches, often across CPUs, per 16 KiB. Moving
//! 250 MB to `--pipepart` jobs that way took about 18,000 switches, a
//! fifth of the run's CPU. A pipe has no low-water mark to wait for, so
//! [`Refill`] makes one: once the pipe is full it sleeps for about the
//! time the job takes to read a quarter of it (at the rate it was last
//! seen to read), then tops the pipe up in one go.
//!
//! Why a quarter, not half: the rate is a guess. A job's pace changes
//! under it (it speeds up once its start-up is over, or when the other
//! CPU frees up), and a job that outruns the guess finds its pipe empty
//! and waits for the writer, its CPU idle. Waking at three quarters full
//! leaves the job three quarters of a pipe ahead, enough for a guess
//! three times too slow. On 250 MB of `--pipepart --block 10M wc -l`,
//! `-j2` on 2 CPUs, the CPUs idled 33% of the run waking at half and 20%
//! at three quarters, and the run took 0.8x as long, for the same CPU and
//! about as many context switches (470 against 450).
//!
//! A job that would take longer than [`LONGEST`] to read a quarter pipe
//! wakes its writer seldom anyway, and is waited for the usual way, as is
//! one that took nothing during a sleep (not started yet, busy elsewhere,
//! or gone): woken by its next read, or by its end (the next write then
//! fails). Every wait measures the job's rate again, so a job that speeds
//! up is slept for again.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;

/// The shortest sleep worth taking instead of waking on each read.
const SHORTEST: Duration = Duration::from_micros(50);
/// The longest sleep: a job slower than a quarter pipe in this long wakes
/// its writer seldom enough (a few times per quarter pipe), and is waited
/// for the usual way.
const LONGEST: Duration = Duration::from_millis(5);

/// Waits for room in a job's pipe, a quarter pipe at a time.
#[derive(Debug)]
pub(crate) struct Refill {
    /// The pipe's capacity in bytes.
    size: usize,
    /// Bytes per second the job was last seen to read (`None`: not seen
    /// yet).
    rate: Option<f64>,
}

impl Refill {
    /// For a pipe whose write end is `pipe`.
    pub(crate) fn new(pipe: impl AsFd) -> Refill {
        let size = rustix::pipe::fcntl_getpipe_size(pipe).unwrap_or(64 * 1024);
        Refill { size, rate: None }
    }

    /// The pipe was found full: returns once about a quarter of it is free
    /// again, or once the job read something after being waited for the
    /// usual way (or is gone: the next write says so); whether it had to
    /// wait at all. `Err` only for an error of the pipe itself.
    pub(crate) fn wait(&mut self, pipe: impl AsFd) -> rustix::io::Result<bool> {
        let pipe = pipe.as_fd();
        if bytes_in(pipe)? <= self.low_water() {
            return Ok(false);
        }
        self.wait_until(pipe, None).map(|_| true)
    }

    /// As [`wait`](Self::wait), for at most about `limit`: whether there
    /// is room (false: the time is up first).
    pub(crate) fn wait_at_most(&mut self, pipe: impl AsFd, limit: Duration) -> rustix::io::Result<bool> {
        self.wait_until(pipe, Some(limit))
    }

    /// Waits for room, for at most `limit` (`None`: for as long as it
    /// takes).
    fn wait_until(&mut self, pipe: impl AsFd, limit: Option<Duration>) -> rustix::io::Result<bool> {
        let pipe = pipe.as_fd();
        let limit = limit.unwrap_or(Duration::MAX);
        let low = self.low_water();
        let start = Instant::now();
        loop {
            let queued = bytes_in(pipe)?;
            if queued <= low {
                return Ok(true);
            }
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            let before = Instant::now();
            let napped = match self.nap(queued - low) {
                Some(nap) => {
                    std::thread::sleep(nap.min(left));
                    true
                }
                // Too fast or too slow to be worth a sleep, or seen taking
                // nothing: woken by its next read, as usual.
                None => {
                    if !wait_writable(pipe, left)? {
                        return Ok(false);
                    }
                    false
                }
            };
            let now_queued = bytes_in(pipe)?;
            let taken = queued.saturating_sub(now_queued);
            let took = before.elapsed().as_secs_f64();
            if taken > 0 && took > 0.0 {
                self.rate = Some(taken as f64 / took);
            } else if napped && now_queued >= queued {
                // Not a byte taken while we slept: the job is not reading
                // now (not started yet, busy, or gone).
                self.rate = Some(0.0);
            }
            if !napped {
                // The job read (or is gone): room for a write.
                return Ok(true);
            }
        }
    }

    /// What the pipe holds when the writer should top it up: three
    /// quarters of it (see the module docs).
    fn low_water(&self) -> usize {
        self.size - self.size / 4
    }

    /// How long to sleep while the job reads `bytes`: `None` when waiting
    /// the usual way is better (a job too fast for a sleep to save
    /// anything, too slow for its reads to cost many wake-ups, or seen
    /// taking nothing).
    fn nap(&self, bytes: usize) -> Option<Duration> {
        match self.rate {
            // Not seen yet: a short nap, to see.
            None => Some(SHORTEST),
            Some(rate) if rate > 0.0 => {
                let d = Duration::from_secs_f64(bytes as f64 / rate);
                (SHORTEST..=LONGEST).contains(&d).then_some(d)
            }
            Some(_) => None,
        }
    }
}

/// Bytes waiting in the pipe.
pub(crate) fn bytes_in(pipe: impl AsFd) -> rustix::io::Result<usize> {
    Ok(usize::try_from(rustix::io::ioctl_fionread(pipe)?).unwrap_or(usize::MAX))
}

/// Waits until the pipe takes a write (or its reader is gone), for at
/// most `limit`: whether it does.
fn wait_writable(pipe: impl AsFd, limit: Duration) -> rustix::io::Result<bool> {
    // Beyond a day is for ever.
    let limit = (limit < Duration::from_secs(86_400)).then(|| rustix::event::Timespec {
        tv_sec: i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(limit.subsec_nanos()),
    });
    loop {
        let mut fds = [PollFd::new(&pipe, PollFlags::OUT)];
        match poll(&mut fds, limit.as_ref()) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs `step` until it has moved everything into `pipe`, waiting for
/// a quarter pipe of room (with a [`Refill`]) each time it finds the pipe
/// full. `step()` moves some bytes into the pipe without waiting for room
/// (`SPLICE_F_NONBLOCK`, or a non-blocking descriptor) and returns how
/// many (0: nothing is left), or `EAGAIN` when the pipe is full. Stops at
/// the first other error (the job is gone).
pub(crate) fn pump(pipe: impl AsFd, mut step: impl FnMut() -> rustix::io::Result<usize>) {
    let mut refill = Refill::new(&pipe);
    loop {
        match step() {
            Ok(0) => return,
            Ok(_) | Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let Ok(waited) = refill.wait(&pipe) else { return };
                if !waited {
                    // Room, yet the step could not move a byte (a write
                    // bigger than the room, which must go whole): wait
                    // for a read the plain way.
                    if !matches!(wait_writable(&pipe, LONGEST), Ok(true)) {
                        std::thread::sleep(SHORTEST);
                    }
                }
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::OwnedFd;

    /// A pipe whose reader takes 16 KiB at a time, as `wc` does, pausing
    /// now and then; returns what it read.
    fn reader(read: OwnedFd, pause_every: usize) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut file = std::fs::File::from(read);
            let mut all = Vec::new();
            let mut buf = vec![0u8; 16 * 1024];
            let mut reads = 0;
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    return all;
                }
                all.extend_from_slice(&buf[..n]);
                reads += 1;
                if reads % pause_every == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
        })
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn pump_writes_everything_in_order_to_a_reader_of_any_pace() {
        for pause_every in [1, 7, 1000] {
            let (read, write) = rustix::pipe::pipe().unwrap();
            let _ = rustix::pipe::fcntl_setpipe_size(&write, 256 * 1024);
            rustix::io::ioctl_fionbio(&write, true).unwrap();
            let got = reader(read, pause_every);
            let want = data(3 << 20);
            let mut done = 0;
            pump(&write, || {
                let rest = &want[done..(done + 100_000).min(want.len())];
                if rest.is_empty() {
                    return Ok(0);
                }
                let n = rustix::io::write(&write, rest)?;
                done += n;
                Ok(n)
            });
            drop(write);
            assert!(got.join().unwrap() == want, "pause every {pause_every} reads");
        }
    }

    #[test]
    fn pump_splices_a_file_whole() {
        let want = data(2 << 20);
        let mut file = tempfile();
        std::io::Write::write_all(&mut file, &want).unwrap();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let got = reader(read, 5);
        let mut offset = 0u64;
        pump(&write, || {
            let left = want.len() - offset as usize;
            if left == 0 {
                return Ok(0);
            }
            rustix::pipe::splice(
                &file,
                Some(&mut offset),
                &write,
                None,
                left,
                rustix::pipe::SpliceFlags::NONBLOCK,
            )
        });
        drop(write);
        assert!(got.join().unwrap() == want);
    }

    #[test]
    fn pump_stops_when_the_reader_is_gone() {
        // (Rust ignores SIGPIPE in tests, as the command does: EPIPE.)
        let (read, write) = rustix::pipe::pipe().unwrap();
        rustix::io::ioctl_fionbio(&write, true).unwrap();
        let reader = std::thread::spawn(move || {
            let mut file = std::fs::File::from(read);
            let mut buf = vec![0u8; 16 * 1024];
            file.read_exact(&mut buf).unwrap();
            // Gone, with the pipe full behind it.
        });
        let chunk = vec![7u8; 64 * 1024];
        let mut steps = 0;
        let mut errors = 0;
        pump(&write, || {
            steps += 1;
            rustix::io::write(&write, &chunk).inspect_err(|e| {
                if *e != Errno::AGAIN {
                    errors += 1;
                }
            })
        });
        reader.join().unwrap();
        assert_eq!(errors, 1, "it stopped at the first EPIPE, after {steps} steps");
    }

    fn tempfile() -> std::fs::File {
        let fd = rustix::fs::memfd_create("refill-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        std::fs::File::from(fd)
    }
}
