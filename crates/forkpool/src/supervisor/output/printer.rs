//! The printer: a thread that writes tagged lines to the process's
//! standard output and error, so that the supervisor never blocks on them.
//!
//! The supervisor must not wait on a terminal or a full pipe (timeouts and
//! every other worker would wait with it), so it queues lines here. And a
//! task's lines must be out before its result is: so a result that arrives
//! while lines are still queued is queued behind them, and the printer
//! hands it to the task's slot once they are written. With nothing queued
//! (the common case) results go straight to their slot.
//!
//! The queue is bounded: past `HIGH_WATER` bytes the supervisor stops
//! reading the workers' pipes (their writes then block, as they would on a
//! slow terminal), and the printer wakes it once the queue is back under
//! `LOW_WATER`.
//!
//! Lines are written to descriptors 1 and 2 directly, not through Rust's
//! `Stdout`: a thread of the program holding the `Stdout` lock while it
//! waits for a task would otherwise wait forever.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use polling::Poller;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

use crate::slot::{Part, Slot, lock};

/// Above this many queued bytes the supervisor stops reading pipes...
const HIGH_WATER: usize = 4 << 20;
/// ...until the queue is back under this many.
const LOW_WATER: usize = 1 << 20;

#[derive(Debug)]
enum Command {
    /// Bytes for stdout (0) or stderr (1).
    Write(usize, Vec<u8>),
    /// A result to hand over once everything queued before it is written.
    Deliver(Arc<Slot>, Part),
}

#[derive(Debug, Default)]
struct Queue {
    commands: VecDeque<Command>,
    /// Bytes queued, the one being written included.
    bytes: usize,
    /// A command is being carried out.
    busy: bool,
    /// The supervisor stopped reading pipes: wake it under `LOW_WATER`.
    paused: bool,
    closed: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Printer {
    queue: Mutex<Queue>,
    ready: Condvar,
    poller: Arc<Poller>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Where lines go: the process's stdout and stderr, or (in tests) other
/// descriptors.
#[derive(Debug)]
enum Targets {
    Standard,
    #[cfg_attr(not(test), allow(dead_code))]
    Other([OwnedFd; 2]),
}

impl Printer {
    /// Starts the printer thread; `poller` is the supervisor's.
    pub(crate) fn start(poller: Arc<Poller>) -> io::Result<Arc<Printer>> {
        Printer::start_with(poller, Targets::Standard)
    }

    fn start_with(poller: Arc<Poller>, targets: Targets) -> io::Result<Arc<Printer>> {
        let printer = Arc::new(Printer {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            poller,
            thread: Mutex::new(None),
        });
        let worker = printer.clone();
        let handle = std::thread::Builder::new()
            .name("forkpool-output".into())
            .spawn(move || worker.run(targets))?;
        *lock(&printer.thread) = Some(handle);
        Ok(printer)
    }

    /// Queues `bytes` (whole tagged lines) for stdout (0) or stderr (1).
    pub(crate) fn write(&self, stream: usize, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let mut queue = lock(&self.queue);
        queue.bytes += bytes.len();
        queue.commands.push_back(Command::Write(stream, bytes));
        drop(queue);
        self.ready.notify_one();
    }

    /// Hands `part` to `slot` once every line queued so far is written.
    pub(crate) fn deliver(&self, slot: Arc<Slot>, part: Part) {
        let mut queue = lock(&self.queue);
        if queue.commands.is_empty() && !queue.busy {
            drop(queue);
            slot.add(part);
            return;
        }
        queue.commands.push_back(Command::Deliver(slot, part));
        drop(queue);
        self.ready.notify_one();
    }

    /// Whether the supervisor should stop reading pipes for now. If so, it
    /// will be woken (through its poller) when it may go on; see
    /// [`take_resume`](Self::take_resume).
    pub(crate) fn congested(&self) -> bool {
        let mut queue = lock(&self.queue);
        let congested = queue.bytes > HIGH_WATER;
        queue.paused |= congested;
        congested
    }

    /// True (once) when pipes paused for congestion may be read again.
    pub(crate) fn take_resume(&self) -> bool {
        let mut queue = lock(&self.queue);
        let resume = queue.paused && queue.bytes < LOW_WATER;
        if resume {
            queue.paused = false;
        }
        resume
    }

    /// Writes and delivers everything queued, then stops the thread.
    pub(crate) fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_one();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }

    fn run(&self, targets: Targets) {
        let (stdout, stderr) = (io::stdout(), io::stderr());
        let fds = match &targets {
            Targets::Standard => [stdout.as_fd(), stderr.as_fd()],
            Targets::Other([out, err]) => [out.as_fd(), err.as_fd()],
        };
        loop {
            let mut queue = lock(&self.queue);
            let command = loop {
                if let Some(command) = queue.commands.pop_front() {
                    break command;
                }
                if queue.closed {
                    return;
                }
                queue = self
                    .ready
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            };
            queue.busy = true;
            drop(queue);
            let done = match command {
                Command::Write(stream, bytes) => {
                    write_all(fds[stream.min(1)], &bytes);
                    bytes.len()
                }
                Command::Deliver(slot, part) => {
                    slot.add(part);
                    0
                }
            };
            let mut queue = lock(&self.queue);
            queue.busy = false;
            queue.bytes -= done;
            let wake = queue.paused && queue.bytes < LOW_WATER;
            drop(queue);
            if wake {
                let _ = self.poller.notify();
            }
        }
    }
}

/// Writes all of `bytes` to `fd`, waiting out `EAGAIN` (the program may
/// have made its stdout non-blocking). Gives up on any other error: there
/// is nobody to tell.
fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
                let _ = rustix::event::poll(&mut fds, None);
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TaskError;
    use crate::slot::Label;

    fn failed() -> Part {
        Part::Failed {
            first: 0,
            count: 1,
            error: TaskError::Cancelled,
        }
    }

    #[test]
    fn results_wait_for_the_lines_before_them_and_a_full_queue_pauses_the_reader() {
        let poller = Arc::new(Poller::new().unwrap());
        let (out_r, out_w) = rustix::pipe::pipe().unwrap();
        let (err_r, err_w) = rustix::pipe::pipe().unwrap();
        let printer = Printer::start_with(poller.clone(), Targets::Other([out_w, err_w])).unwrap();

        // Nothing queued: a result goes straight to its slot.
        let slot = crate::slot::Slot::new(1, Label::task(1));
        printer.deliver(slot.clone(), failed());
        assert!(slot.is_finished());

        // Nobody reads stdout: the pipe fills, the printer blocks on it,
        // and the queue grows past the high-water mark.
        let line = vec![b'x'; 64 << 10];
        let mut queued = 0;
        while !printer.congested() {
            printer.write(0, line.clone());
            queued += line.len();
        }
        assert!(queued > HIGH_WATER);
        let late = crate::slot::Slot::new(1, Label::task(2));
        printer.deliver(late.clone(), failed());
        assert!(!late.is_finished(), "lines queued before it are not written yet");
        printer.write(1, b"to stderr\n".to_vec());
        assert!(!printer.take_resume());

        // Reading unblocks it; the supervisor is woken under low water.
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < queued {
            got += rustix::io::read(&out_r, &mut buf).unwrap();
        }
        assert_eq!(got, queued);
        let mut events = polling::Events::new();
        poller.wait(&mut events, None).unwrap();
        assert!(printer.take_resume());
        assert!(!printer.take_resume(), "once");
        printer.close();
        assert!(late.is_finished(), "delivered after the lines, before close returns");
        let n = rustix::io::read(&err_r, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"to stderr\n");
    }
}
