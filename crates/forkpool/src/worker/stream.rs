//! A streaming task in the worker: drive the generator, one item at a
//! time, into the stream's ring (see `crate::stream`).
//!
//! For each item: look whether the stream was cancelled (the abandoned-jobs
//! ring of the status page, one load); take credit, or wait for it; stamp
//! the item's start on the status page (that is what `task_timeout`
//! measures); run the generator to its next item and encode it; write it
//! into the ring, or, when it holds descriptors or is too large for the
//! ring, send it in a `YIELD` frame and put a marker in the ring; commit,
//! and ring the consumer's bell if it said it sleeps. Each item is in the
//! ring (or in the socket) before the generator runs again, so a crash
//! loses nothing that was made.

use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};

use super::{Worker, panic};
use crate::ipc::codec::{CallError, Input, Sink};
use crate::ipc::frame::{FrameError, FrameReader};
use crate::ipc::lost::Receiver;
use crate::ipc::outbox::Attachment;
use crate::ipc::protocol::{self, Items, Tag, ToWorker, kind};
use crate::ipc::status::{self, Begin};
use crate::ipc::stream::{self as frames, Start};
use crate::stream::End;
use crate::stream::entry::Generator;
use crate::stream::ring::{PAYLOAD_MAX, RingWriter};
use crate::sys;

/// A stream whose generator has been made.
pub(super) struct Opened {
    job: u64,
    ring: RingWriter,
    credit: OwnedFd,
    generator: Box<dyn Generator>,
    since: Instant,
}

/// How waiting for credit ended.
enum Wait {
    Credit,
    Stop,
}

/// How the generator ended.
enum Ending {
    Done {
        stopped: bool,
    },
    /// The argument, an item or the ring: the codec's message.
    Codec(String),
    /// `f`, the generator or its `Drop` panicked.
    Panicked(panic::Caught),
    /// Skipped: cancelled before it started.
    Cancelled,
}

impl Worker {
    /// Starts the stream `start` asks for: counts and stamps it as an
    /// item, maps its ring and makes its generator. `None` when there is
    /// nothing to drive (skipped, recalled, or it failed to start: its
    /// results are sent).
    pub(super) fn open_stream(&mut self, mut start: Start<'_>) -> Option<Opened> {
        if self.recalled_up_to.is_some_and(|last| start.job <= last) {
            return None;
        }
        let since = Instant::now();
        // The ring and the credit `eventfd` come first, then the item's.
        let taken = start.fds.take(2 + start.item.fds());
        let now = status::coarse_now_ns();
        sys::abort::clear_errno();
        if self.status.clear_stale_panic() {
            panic::forget_report();
        }
        self.items_run += 1;
        let skip = self.status.is_abandoned(start.job, &mut None);
        match self.status.begin(self.items_run, now) {
            Begin::Started => {}
            Begin::Doomed => {
                // The previous item ran past its timeout: the kill is on
                // its way (its results were sent with its job).
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(60));
                }
            }
            Begin::Recalled(last) => {
                self.items_run -= 1;
                self.recalled_up_to = Some(last);
                return None;
            }
        }
        if let Some(cpu) = &mut self.cpu {
            cpu.before_task(now);
        }
        let opened = match taken {
            _ if skip => Err(Ending::Cancelled),
            Ok(mut fds) => {
                let ring = fds.remove(0);
                let credit = fds.remove(0);
                self.make_generator(start.entry, start.item, fds, ring, credit)
            }
            Err(lost) => {
                let message = CallError::Decode(lost.message(&start.item, 2, Receiver::Worker)).message();
                Err(Ending::Codec(message))
            }
        };
        match opened {
            Ok((ring, credit, generator)) => Some(Opened {
                job: start.job,
                ring,
                credit,
                generator,
                since,
            }),
            Err(ending) => {
                self.end_stream(start.job, ending, 0, since);
                None
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn make_generator(
        &mut self,
        entry: i64,
        item: protocol::Item<'_>,
        fds: Vec<Option<OwnedFd>>,
        ring: Option<OwnedFd>,
        credit: Option<OwnedFd>,
    ) -> Result<(RingWriter, OwnedFd, Box<dyn Generator>), Ending> {
        let codec = Ending::Codec;
        let (Some(ring), Some(credit)) = (ring, credit) else {
            return Err(codec("the stream's ring did not arrive".into()));
        };
        let ring = RingWriter::open(ring).map_err(|e| codec(format!("cannot map the stream's ring: {e}")))?;
        let entry = sys::code::stream_entry_at(entry).map_err(|e| codec(e.to_string()))?;
        let input = Input {
            item,
            fds,
            limit: self.max_message,
        };
        match catch_unwind(AssertUnwindSafe(|| entry(input))) {
            Ok(Ok(generator)) => Ok((ring, credit, generator)),
            Ok(Err(e)) => Err(codec(e.message())),
            Err(payload) => Err(Ending::Panicked(self.caught(payload))),
        }
    }

    /// A panic caught in task code.
    fn caught(&mut self, payload: Box<dyn std::any::Any + Send>) -> panic::Caught {
        let caught = panic::take_caught(&*payload);
        // Dropping a payload can itself panic; never let that out.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        self.status.clear_panic();
        caught
    }

    /// Runs an opened stream to its end and reports it.
    pub(super) fn drive_stream(&mut self, opened: Opened, reader: &mut FrameReader) {
        let Opened {
            job,
            mut ring,
            credit,
            mut generator,
            since,
        } = opened;
        let limit = self.max_message;
        let mut staging = Vec::with_capacity(256);
        let mut fds = Vec::new();
        let mut abandoned = None;
        let ending = loop {
            if self.status.is_abandoned(job, &mut abandoned) {
                break Ending::Done { stopped: true };
            }
            if !ring.has_credit() {
                match self.wait_for_credit(&mut ring, &credit, reader, job, &mut abandoned) {
                    Wait::Credit => {}
                    Wait::Stop => break Ending::Done { stopped: true },
                }
            }
            self.status.stamp(status::coarse_now_ns());
            sys::abort::clear_errno();
            if self.status.clear_stale_panic() {
                panic::forget_report();
            }
            staging.clear();
            let sink = Sink {
                out: &mut staging,
                fds: &mut fds,
                limit,
                lanes: &self.stream_lanes,
            };
            let made = catch_unwind(AssertUnwindSafe(|| generator.next_into(sink)));
            match made {
                Ok(None) => break Ending::Done { stopped: false },
                Ok(Some(Ok(_))) => {
                    if let Err(message) = self.emit(&mut ring, job, &staging, &mut fds) {
                        break Ending::Codec(message);
                    }
                }
                Ok(Some(Err(e))) => break Ending::Codec(e.message()),
                Err(payload) => break Ending::Panicked(self.caught(payload)),
            }
            if ring.commit() {
                self.ring_bell(job);
            }
        };
        // Dropping the generator runs task code too.
        let ending = match catch_unwind(AssertUnwindSafe(move || drop(generator))) {
            Err(payload) if matches!(ending, Ending::Done { .. }) => Ending::Panicked(self.caught(payload)),
            _ => ending,
        };
        let items = ring.produced().items;
        // The ring is unmapped before the consumer can learn of the end.
        drop(ring);
        drop(credit);
        self.end_stream(job, ending, items, since);
    }

    /// Puts the encoded item in `staging` (owning `fds`) in the ring, or
    /// in a `YIELD` frame with a marker in the ring.
    fn emit(
        &mut self,
        ring: &mut RingWriter,
        job: u64,
        staging: &[u8],
        fds: &mut Vec<Attachment>,
    ) -> Result<(), String> {
        // The common case, read straight off the header: inline bytes and
        // no descriptors (see `protocol`, "Items").
        if let Some((head, inline)) = staging.split_first_chunk::<4>()
            && u32::from_le_bytes(*head) as usize == inline.len()
            && fds.is_empty()
            && inline.len() <= PAYLOAD_MAX
        {
            return ring
                .push_item(inline)
                .map_err(|e| format!("no memory for the stream's ring: {e}"));
        }
        let item = match Items::new(staging, 1).next() {
            Some(Ok(item)) => item,
            _ => return Err("an item was encoded wrong".into()),
        };
        let count = fds.len() as u64;
        let mut weight = item.inline.len() as u64;
        for fd in fds.iter() {
            weight += rustix::fs::fstat(fd.as_fd()).map_or(0, |stat| stat.st_size as u64);
        }
        let seq = ring.produced().items;
        frames::write_yield(&mut self.out, job, seq, weight, staging, std::mem::take(fds))
            .map_err(|e| format!("cannot send a stream item: {e}"))?;
        // In the socket before its marker is in the ring: never lost.
        self.flush();
        ring.push_marker(weight, count)
            .map_err(|e| format!("no memory for the stream's ring: {e}"))
    }

    /// Tells the supervisor that items wait for a consumer that sleeps.
    fn ring_bell(&mut self, job: u64) {
        if frames::write_job(self.out.buf(), kind::BELL, job).is_ok() {
            self.flush();
        }
    }

    /// Waits until the consumer returns credit or the stream is cancelled.
    /// Meanwhile no item is being made, and none is timed.
    fn wait_for_credit(
        &mut self,
        ring: &mut RingWriter,
        credit: &OwnedFd,
        reader: &mut FrameReader,
        job: u64,
        abandoned: &mut Option<(u64, bool)>,
    ) -> Wait {
        self.status.pause();
        loop {
            if ring.begin_wait() {
                return Wait::Credit;
            }
            let mut fds = [
                PollFd::new(&self.socket, PollFlags::IN),
                PollFd::new(credit, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => std::process::exit(0),
            }
            let socket_ready = !fds[0].revents().is_empty();
            if !fds[1].revents().is_empty() {
                // Reset the count; the ring says how much credit there is.
                let _ = rustix::io::read(credit, &mut [0u8; 8]);
            }
            if socket_ready && self.read_while_streaming(reader, job) {
                return Wait::Stop;
            }
            if self.status.is_abandoned(job, abandoned) {
                return Wait::Stop;
            }
        }
    }

    /// Reads what the supervisor sent while a stream runs: only `CANCEL`
    /// is expected. Returns true when the stream must stop (cancelled, or
    /// the supervisor is gone).
    fn read_while_streaming(&mut self, reader: &mut FrameReader, job: u64) -> bool {
        match reader.read_from(&self.socket) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
        let mut stop = false;
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return stop,
                Err(e) => self.die(e),
            };
            match protocol::parse_to_worker(frame) {
                Ok(ToWorker::Cancel { job: cancelled }) => stop |= cancelled == job,
                Ok(ToWorker::Config(_)) => {}
                Ok(ToWorker::Run(_) | ToWorker::Stream(_) | ToWorker::Limits { .. }) => {
                    self.die(FrameError::Malformed {
                        what: "run",
                        why: "a task for a worker that is running a stream",
                    })
                }
                Err(e) => self.die(e),
            }
        }
    }

    /// Ends stream `job` (item number `items_run`) and sends its end.
    fn end_stream(&mut self, job: u64, ending: Ending, items: u64, since: Instant) {
        if let Some(marks) = &mut self.marks
            && !matches!(ending, Ending::Cancelled)
        {
            // What the stream printed ends here (see `output`).
            marks.item_ended(self.status);
        }
        self.status.end(self.items_run);
        let mut writer = self.begin_results(job, 0);
        match ending {
            Ending::Done { stopped } => {
                let end = End { items, stopped };
                let limit = self.max_message;
                let lanes = &self.stream_lanes;
                let written = writer.record(self.out.buf(), Tag::Ok, |out, fds| {
                    crate::ipc::codec::encode(&end, Sink { out, fds, limit, lanes }).map(drop)
                });
                if written.is_err() {
                    writer.inline_record(self.out.buf(), Tag::Codec, b"cannot encode the stream's end");
                }
            }
            Ending::Codec(message) => self.text_record(&mut writer, Tag::Codec, &message),
            // After the end stamp, as for any task (see `run_job`).
            Ending::Panicked(caught) => self.panic_record(&mut writer, caught),
            Ending::Cancelled => writer.inline_record(self.out.buf(), Tag::Cancelled, b""),
        }
        self.hand_over(writer, since);
    }
}
