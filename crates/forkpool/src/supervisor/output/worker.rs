//! One worker's output pipes, and whose bytes are whose.
//!
//! Positions count every byte ever written to a pipe. The supervisor has
//! read `read` bytes of each, handed those before `given` to someone, and
//! holds the rest (`loose`) until it knows whose they are. Marks from the
//! worker (see `worker/output.rs`) end an item's output at a position;
//! bytes past the last mark belong to the item running when they were read,
//! which the status page tells once no mark that moved is still on its way.
//! `README.md` beside this file has the argument.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use polling::Poller;
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use super::PoolOutput;
use super::sink::{Lines, Tail, item_output};
use crate::ipc::status::StatusPage;
use crate::slot::{Part, Slot};
use crate::supervisor::ledger::Ledger;
use crate::supervisor::spawner::worker_output_key;
use crate::sys::poll::Watched;

/// Bytes read from a pipe at a time.
const READ_SIZE: usize = 64 * 1024;
/// Reads per pipe per readiness event, so that one chatty worker cannot
/// hold the loop.
const READS_PER_EVENT: usize = 4;
/// Loose bytes kept, per pipe, while nobody can be blamed for them; past
/// this they are printed as the worker's.
const LOOSE_CAP: usize = 1 << 20;
/// The most a dead worker's pipes are drained of (a process it started may
/// still be writing).
const DRAIN_CAP: u64 = 16 << 20;

/// The item the bytes past the last mark are being handed to.
#[derive(Debug)]
struct Item {
    /// Its number over the worker's life.
    number: u64,
    slot: Arc<Slot>,
    index: u32,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Lines([Lines; 2]),
    Capture([Tail; 2]),
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct WorkerOutput {
    pool: Arc<PoolOutput>,
    /// The read ends; `None` once at end of stream.
    pipes: [Option<Watched>; 2],
    /// Not watched, for the printer's sake (see `PoolOutput::resume`).
    paused: bool,
    read: [u64; 2],
    given: [u64; 2],
    /// Bytes at positions `given..read`.
    loose: [Vec<u8>; 2],
    /// The position in the last mark.
    mark: [u64; 2],
    /// Marks received that moved the position.
    marks: u64,
    /// A mark received whose frame has not come yet.
    next_mark: Option<[u64; 2]>,
    item: Option<Item>,
    /// For output nobody else can be blamed for: `[worker PID] `.
    own: Option<[Lines; 2]>,
    pid: Option<u32>,
}

impl WorkerOutput {
    /// Creates worker `id`'s pipes, watched under its keys. The write ends
    /// are for the worker's stdout and stderr.
    pub(crate) fn new(
        pool: Arc<PoolOutput>,
        poller: &Arc<Poller>,
        id: u64,
    ) -> std::io::Result<(WorkerOutput, [OwnedFd; 2])> {
        let pipe = |stream: usize| -> std::io::Result<(Watched, OwnedFd)> {
            let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
            // Only our end is non-blocking: a task writing a lot waits for
            // us, as it would for a terminal.
            rustix::io::ioctl_fionbio(&read, true)?;
            let read = Watched::new(poller.clone(), read, worker_output_key(id, stream), true, false)?;
            Ok((read, write))
        };
        let (out, out_w) = pipe(0)?;
        let (err, err_w) = pipe(1)?;
        let output = WorkerOutput {
            pool,
            pipes: [Some(out), Some(err)],
            paused: false,
            read: [0; 2],
            given: [0; 2],
            loose: [Vec::new(), Vec::new()],
            mark: [0; 2],
            marks: 0,
            next_mark: None,
            item: None,
            own: None,
            pid: None,
        };
        Ok((output, [out_w, err_w]))
    }

    /// The worker's pid, for tagging its own output.
    pub(crate) fn set_pid(&mut self, pid: u32) {
        self.pid.get_or_insert(pid);
    }

    // ------------------------------------------------------------ events --

    /// Pipe `stream` is readable.
    pub(crate) fn on_readable(&mut self, stream: usize, status: &StatusPage, ledger: &Ledger) {
        if self.pool.congested() {
            self.pause();
            return;
        }
        for _ in 0..READS_PER_EVENT {
            if self.read_once(stream, status).is_none() {
                break;
            }
        }
        self.blame_running(status, ledger);
    }

    /// Watches the pipes again after a pause for congestion.
    pub(crate) fn resume(&mut self) {
        if std::mem::take(&mut self.paused) {
            for pipe in self.pipes.iter_mut().flatten() {
                let _ = pipe.resume(true, false);
            }
        }
    }

    /// An `OUTPUT_MARK` frame arrived.
    pub(crate) fn on_mark(&mut self, position: [u64; 2]) -> Result<(), String> {
        match self.next_mark.replace(position) {
            None => Ok(()),
            Some(_) => Err("two output marks in a row".into()),
        }
    }

    /// `READY` arrived: what came before its mark was written by `preload`
    /// and `worker_init`.
    pub(crate) fn on_ready(&mut self, status: &StatusPage, pid: u32) {
        self.set_pid(pid);
        if let Some(mark) = self.next_mark.take() {
            self.fill_to(mark, status);
            self.give_own(mark);
            self.finish_own();
            self.set_mark(mark);
        }
    }

    /// Results arrived whose last item, number `last` over the worker's
    /// life, is item `index` of `slot`: hand that item what it wrote (up to
    /// the mark before the frame), then the results, in that order.
    pub(crate) fn on_results(
        &mut self,
        status: &StatusPage,
        ledger: &Ledger,
        (last, slot, index): (u64, &Arc<Slot>, u32),
        part: Part,
    ) -> Result<(), String> {
        let mark = self.next_mark.take();
        if let Some(mark) = mark
            && self.moves(mark)
        {
            self.fill_to(mark, status);
            self.start_item(last, slot, index);
            self.give_item(mark);
            self.finish_item();
            self.set_mark(mark);
        }
        // Delivered even when the frame is wrong: its items are acked.
        self.pool.deliver(slot.clone(), part);
        // Bytes read while this mark was on its way may be the running
        // item's.
        self.blame_running(status, ledger);
        mark.map(|_| ()).ok_or_else(|| "results without an output mark".into())
    }

    /// The worker is dead (and its socket drained): what is left in the
    /// pipes was written by the item it was running, if any (the last one
    /// started, unless its results came back), and otherwise by nobody we
    /// know. Call before the ledger is settled.
    pub(crate) fn on_death(&mut self, status: &StatusPage, ledger: &Ledger) {
        for stream in 0..2 {
            let start = self.read[stream];
            while self.read[stream] - start < DRAIN_CAP && self.read_once(stream, status).is_some() {}
        }
        let started = status.started();
        let end = self.read;
        match ledger.item(started) {
            Some((slot, index)) => {
                self.start_item(started, &slot, index);
                self.give_item(end);
                self.finish_item();
            }
            None => {
                self.finish_item();
                self.give_own(end);
            }
        }
        self.finish_own();
        self.pipes = [None, None];
    }

    /// Hands `part` over once what was printed before it is out.
    pub(crate) fn deliver(&self, slot: Arc<Slot>, part: Part) {
        self.pool.deliver(slot, part);
    }

    // ----------------------------------------------------------- reading --

    /// Reads once from pipe `stream`: `None` when nothing more is there now.
    fn read_once(&mut self, stream: usize, status: &StatusPage) -> Option<usize> {
        let pipe = self.pipes[stream].as_ref()?;
        let loose = &mut self.loose[stream];
        if loose.capacity() - loose.len() < READ_SIZE && loose.try_reserve(READ_SIZE).is_err() {
            return None;
        }
        loop {
            status.output_read_begin();
            let result = rustix::io::read(pipe.fd(), rustix::buffer::spare_capacity(&mut *loose));
            let n = *result.as_ref().unwrap_or(&0);
            status.output_read_end(stream, n as u64);
            self.read[stream] += n as u64;
            return match result {
                Ok(0) => {
                    // End of stream: every writer is gone.
                    self.pipes[stream] = None;
                    None
                }
                Ok(n) => Some(n),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => None,
                Err(_) => {
                    self.pipes[stream] = None;
                    None
                }
            };
        }
    }

    /// Reads until `mark` is reached: the bytes are in the pipes already
    /// (the worker measured them there), so this does not wait.
    fn fill_to(&mut self, mark: [u64; 2], status: &StatusPage) {
        for (stream, &position) in mark.iter().enumerate() {
            while self.read[stream] < position && self.read_once(stream, status).is_some() {}
        }
    }

    fn pause(&mut self) {
        if !self.paused {
            self.paused = true;
            for pipe in self.pipes.iter_mut().flatten() {
                pipe.pause();
            }
        }
    }

    // ----------------------------------------------------------- blaming --

    /// Whether `mark` moved the position.
    fn moves(&self, mark: [u64; 2]) -> bool {
        mark[0] > self.mark[0] || mark[1] > self.mark[1]
    }

    fn set_mark(&mut self, mark: [u64; 2]) {
        if self.moves(mark) {
            self.marks += 1;
        }
        // Positions only grow; a worker saying otherwise is ignored.
        self.mark = [self.mark[0].max(mark[0]), self.mark[1].max(mark[1])];
    }

    /// Hands the loose bytes to the running item, when that is surely
    /// whose they are: the page (read after the bytes were) says which item
    /// runs, and no mark that moved is on its way (an item before it that
    /// wrote would have sent one before it started). Loose bytes nobody can
    /// be blamed for are printed as the worker's once there are too many.
    fn blame_running(&mut self, status: &StatusPage, ledger: &Ledger) {
        if self.loose.iter().all(Vec::is_empty) {
            return;
        }
        let started = status.started();
        if status.output_marks() == self.marks
            && self.next_mark.is_none()
            && let Some((slot, index)) = ledger.item(started)
        {
            self.start_item(started, &slot, index);
            self.give_item(self.read);
        } else if self.loose.iter().any(|l| l.len() > LOOSE_CAP) {
            self.give_own(self.read);
        }
    }

    /// Makes item `number` the one bytes are handed to.
    fn start_item(&mut self, number: u64, slot: &Arc<Slot>, index: u32) {
        if self.item.as_ref().is_some_and(|item| item.number == number) {
            return;
        }
        // Another item was receiving: it has ended (only a worker that
        // lies about positions gets here).
        self.finish_item();
        let sink = match self.pool.capture_limit() {
            None => {
                let tag = slot.label().tag(index);
                Sink::Lines([Lines::new(tag.clone()), Lines::new(tag)])
            }
            Some(limit) => Sink::Capture([Tail::new(limit), Tail::new(limit)]),
        };
        self.item = Some(Item {
            number,
            slot: slot.clone(),
            index,
            sink,
        });
    }

    /// Gives the current item the loose bytes up to `to`.
    fn give_item(&mut self, to: [u64; 2]) {
        for stream in 0..2 {
            let bytes = self.take_loose(stream, to[stream]);
            let Some(item) = &mut self.item else { return };
            match &mut item.sink {
                Sink::Lines(lines) => {
                    let mut out = Vec::new();
                    lines[stream].push(&bytes, &mut out);
                    self.pool.print(stream, out);
                }
                Sink::Capture(tails) => tails[stream].push(&bytes),
            }
        }
    }

    /// The current item has ended: its last partial lines go out, or its
    /// capture goes to its slot.
    fn finish_item(&mut self) {
        let Some(item) = self.item.take() else { return };
        match item.sink {
            Sink::Lines(mut lines) => {
                for (stream, lines) in lines.iter_mut().enumerate() {
                    let mut out = Vec::new();
                    lines.finish(&mut out);
                    self.pool.print(stream, out);
                }
            }
            Sink::Capture(tails) => item.slot.add_output(item.index, item_output(tails)),
        }
    }

    /// Prints the loose bytes up to `to` as the worker's own.
    fn give_own(&mut self, to: [u64; 2]) {
        for stream in 0..2 {
            let bytes = self.take_loose(stream, to[stream]);
            if bytes.is_empty() {
                continue;
            }
            let tag = format!("[worker {}] ", self.pid.unwrap_or(0));
            let own = self
                .own
                .get_or_insert_with(|| [Lines::new(tag.clone()), Lines::new(tag)]);
            let mut out = Vec::new();
            own[stream].push(&bytes, &mut out);
            self.pool.print(stream, out);
        }
    }

    fn finish_own(&mut self) {
        if let Some(mut own) = self.own.take() {
            for (stream, lines) in own.iter_mut().enumerate() {
                let mut out = Vec::new();
                lines.finish(&mut out);
                self.pool.print(stream, out);
            }
        }
    }

    /// Takes the loose bytes of `stream` before position `to`.
    fn take_loose(&mut self, stream: usize, to: u64) -> Vec<u8> {
        let n = (to.saturating_sub(self.given[stream]) as usize).min(self.loose[stream].len());
        self.given[stream] += n as u64;
        let loose = &mut self.loose[stream];
        if n == loose.len() {
            std::mem::take(loose)
        } else {
            let rest = loose.split_off(n);
            std::mem::replace(loose, rest)
        }
    }
}
