//! `--pipe` from a pipe, cut the plain way, *relayed*: the bytes go from
//! standard input to the job's own pipe by `splice`, page references
//! moved in the kernel, never copied (`cat FILE | forkpool --pipe` then
//! costs what `cat FILE | wc -l` costs: one copy into a pipe, one out).
//!
//! One thread, the relay, owns standard input. For each block it asks for
//! a job (a claim, as `--round-robin`'s dealer does) and, once the job
//! runs, fills the job's pipe while the job reads it. It finds where the
//! block ends without reading the block: the bytes wait in the input pipe
//! while `tee` duplicates them into a pipe of ours, the front is dropped
//! (`splice` to `/dev/null`) and only the last page or so is read to find
//! the last record end (`peek`). The bytes up to there are moved to the
//! job; the few after it (the start of a record) are read into `carry`,
//! the next round's first bytes, so that the input pipe can fill again.
//! The blocks are exactly the stream cutter's and the spool's: from its
//! start, a block ends at the last cut within `--block` bytes; a window
//! without one grows the block by 30%, with GNU's warning.
//!
//! A slow job must not hold up the input: while its pipe is full the relay
//! waits for room, but once the input pipe has stayed full (the producer
//! held up) for [`PATIENCE`] in all, the rest of the block goes into a
//! memfd (a copy, as the spool makes of every block), which a thread of
//! its own feeds into the job's pipe afterwards, and the relay moves on to
//! the next block, for the next job. A job that reads as fast as the input
//! comes gets its whole block without a copy.
//!
//! Used where a job's block is given once: a second attempt of a job
//! (`--retries`, `--memfree`, a remote host failing) needs the spool's
//! memfds, and a dry run needs no jobs started (see `source`).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::MemfdFlags;
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

use super::part::grow_block;
use super::refill::{Refill, bytes_in, pump};
use super::separator::Separator;
use super::settings::MAX_BLOCK;

/// A job's seat at the relay (see `claim`).
pub(crate) type Claim = super::claim::Claim<Shared>;

/// What the job source gets from the relay.
pub(crate) type Request = io::Result<Arc<Claim>>;

/// The size the relay gives its pipes (the input's too): big windows mean
/// few rounds.
const PIPE_SIZE: usize = 1 << 20;

/// How long a job may hold up the input (its pipe full, and the input
/// pipe full behind it) before the rest of its block is spilled.
const PATIENCE: Duration = Duration::from_millis(5);

/// How often a stalled relay looks at whether the job holds the input up.
const TICK: Duration = Duration::from_millis(1);

enum Note {
    Attached(u64, OwnedFd, Arc<AtomicU64>),
    Gone(u64),
}

/// What the jobs tell the relay.
pub(crate) struct Shared {
    notes: Mutex<Sender<Note>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    fn post(&self, note: Note) {
        let _ = self.notes.lock().unwrap_or_else(PoisonError::into_inner).send(note);
    }
}

impl super::claim::Table for Shared {
    fn attach(&self, seq: u64, fd: OwnedFd, sent: Arc<AtomicU64>) {
        self.post(Note::Attached(seq, fd, sent));
    }

    fn gone(&self, seq: u64) {
        self.post(Note::Gone(seq));
    }
}

/// Starts the relay over `input` (a pipe); `read` is what was read from
/// it already (after the header), `eof` whether that was all of it.
/// Returns the channel on which it asks for jobs; it closes at the end of
/// the input.
pub(crate) fn start(
    input: OwnedFd,
    separator: Separator,
    block: u64,
    header: Arc<[u8]>,
    read: Vec<u8>,
    eof: bool,
) -> io::Result<Receiver<Request>> {
    let _ = rustix::pipe::fcntl_setpipe_size(&input, PIPE_SIZE);
    let input_size = rustix::pipe::fcntl_getpipe_size(&input)?;
    let (peek_read, peek_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
    let _ = rustix::pipe::fcntl_setpipe_size(&peek_write, PIPE_SIZE);
    // tee can duplicate only what the peek pipe holds.
    let peek_size = rustix::pipe::fcntl_getpipe_size(&peek_write)?;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let (notes, inbox) = channel();
    let shared = Arc::new(Shared {
        notes: Mutex::new(notes),
    });
    // Room for the one request made while a block is still relayed.
    let (requests, receiver) = sync_channel(1);
    let relay = Relay {
        input,
        input_size,
        input_rate: 0.0,
        separator,
        block: block.clamp(1, MAX_BLOCK),
        header,
        raw: !read.is_empty(),
        carry: read,
        eof,
        peek_read,
        peek_write,
        peek_size,
        null,
        shared,
        inbox,
        requests,
        seq: 0,
        asked: 0,
    };
    std::thread::Builder::new()
        .name("forkpool-relay".into())
        .spawn(move || relay.run())?;
    Ok(receiver)
}

struct Relay {
    input: OwnedFd,
    /// The input pipe's size: full, it holds its producer up.
    input_size: usize,
    /// Bytes per second the producer was last seen to write.
    input_rate: f64,
    separator: Separator,
    block: u64,
    header: Arc<[u8]>,
    /// The window's first bytes, taken out of the input pipe: the start
    /// of a record (no cut in it).
    carry: Vec<u8>,
    /// The carry is what was read before (with the header): it may hold
    /// cuts, and be longer than a block.
    raw: bool,
    eof: bool,
    peek_read: OwnedFd,
    peek_write: OwnedFd,
    peek_size: usize,
    null: OwnedFd,
    shared: Arc<Shared>,
    inbox: Receiver<Note>,
    requests: SyncSender<Request>,
    /// The block being relayed (or the last one).
    seq: u64,
    /// The last block whose job was asked for: `seq` or `seq + 1`.
    asked: u64,
}

impl Relay {
    fn run(mut self) {
        loop {
            // The next block's job was asked for already if the last block
            // saw input beyond its end.
            if self.asked == self.seq {
                match self.more() {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        let _ = self.requests.send(Err(e));
                        return;
                    }
                }
                if !self.ask() {
                    return;
                }
            }
            self.seq += 1;
            let seq = self.seq;
            // The job starts (or is dropped: its block goes to the next).
            let attached = loop {
                match self.inbox.recv() {
                    Ok(Note::Attached(s, fd, sent)) if s == seq => break Some((fd, sent)),
                    Ok(Note::Gone(s)) if s == seq => break None,
                    Ok(_) => {}
                    Err(_) => return,
                }
            };
            let Some((fd, sent)) = attached else { continue };
            if let Err(e) = self.relay_block(Out::new(fd, sent, self.input_size)) {
                let _ = self.requests.send(Err(e));
                return;
            }
        }
    }

    /// Asks for the job of the block after the last one asked for; false
    /// if the run wants no more.
    fn ask(&mut self) -> bool {
        self.asked += 1;
        let claim = Arc::new(Claim::new(self.asked, self.shared.clone()));
        self.requests.send(Ok(claim)).is_ok()
    }

    /// The block being relayed has input after it: the next block's job
    /// is asked for now, so that it starts while this block is finished
    /// rather than after (the input would wait for it).
    fn ask_early(&mut self) {
        if self.asked == self.seq {
            // The channel holds one request: this never blocks.
            let _ = self.ask();
        }
    }

    /// Whether there is another block: waits for input.
    fn more(&mut self) -> io::Result<bool> {
        if !self.carry.is_empty() {
            return Ok(true);
        }
        Ok(!self.eof && self.available()? > 0)
    }

    /// Bytes in the input pipe, waiting for some; 0 at its end.
    fn available(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        loop {
            let mut fds = [PollFd::new(&self.input, PollFlags::IN)];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let n = bytes_in(&self.input)?;
            if n > 0 {
                return Ok(n);
            }
            if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR) {
                self.eof = true;
                return Ok(0);
            }
        }
    }

    /// As [`available`](Self::available), but lets up to about `want`
    /// bytes gather first while the input keeps coming: one round per
    /// half pipe rather than per write of the producer.
    fn gathered(&mut self, want: usize) -> io::Result<usize> {
        let mut n = self.available()?;
        while n < want {
            let nap = match self.input_rate {
                r if r > 0.0 => Duration::from_secs_f64((want - n) as f64 / r),
                _ => Duration::from_micros(100),
            };
            let nap = nap.clamp(Duration::from_micros(50), Duration::from_millis(1));
            let start = Instant::now();
            std::thread::sleep(nap);
            let now = bytes_in(&self.input)?;
            if now <= n {
                // The producer paused (or ended): go on with what is here.
                self.input_rate = 0.0;
                return Ok(now.max(n));
            }
            self.input_rate = (now - n) as f64 / start.elapsed().as_secs_f64();
            n = now;
        }
        Ok(n)
    }

    /// One block into `out` (see the module docs).
    fn relay_block(&mut self, mut out: Out) -> io::Result<()> {
        out.put(&self.input, &self.header)?;
        // Input bytes in the block so far: they end at a cut.
        let mut sent = 0u64;
        loop {
            if self.raw {
                let limit = usize::try_from(self.block - sent).unwrap_or(usize::MAX);
                if self.carry.len() >= limit {
                    // The window is all in the carry.
                    if let Some(cut) = self.separator.last_cut(&self.carry[..limit]) {
                        let rest = self.carry.split_off(cut);
                        out.put(&self.input, &std::mem::replace(&mut self.carry, rest))?;
                        break;
                    }
                    if sent > 0 {
                        break;
                    }
                    if self.block >= MAX_BLOCK {
                        let rest = self.carry.split_off(limit);
                        out.put(&self.input, &std::mem::replace(&mut self.carry, rest))?;
                        break;
                    }
                    self.block = grow_block(self.block);
                    continue;
                }
                // All of it is in the window: up to its last cut goes, the
                // rest is a carry as any other.
                if let Some(cut) = self.separator.last_cut(&self.carry) {
                    let rest = self.carry.split_off(cut);
                    out.put(&self.input, &std::mem::replace(&mut self.carry, rest))?;
                    sent += cut as u64;
                }
                self.raw = false;
            }
            let want = usize::try_from(self.block - sent)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.carry.len())
                .min(self.input_size / 2);
            let avail = self.gathered(want)?;
            if avail == 0 {
                // The end of the input: what is left is the last block.
                let carry = std::mem::take(&mut self.carry);
                out.put(&self.input, &carry)?;
                break;
            }
            let carried = self.carry.len();
            // The pipe's bytes inside this block's window.
            let room = usize::try_from(self.block - sent)
                .unwrap_or(usize::MAX)
                .saturating_sub(carried);
            let full = avail >= room;
            let (cut, n) = self.last_cut(avail.min(room).min(self.peek_size))?;
            if avail > room && (cut.is_some() || sent > 0) {
                // The block ends at a cut inside its window (it will not
                // grow), and input follows the window: there is a next
                // block.
                self.ask_early();
            }
            match cut {
                Some(cut) => {
                    let mut carry = std::mem::take(&mut self.carry);
                    let moved = if cut <= carried {
                        out.put(&self.input, &carry[..cut])?;
                        self.carry = carry.split_off(cut);
                        0
                    } else {
                        out.put(&self.input, &carry)?;
                        out.splice_from(&self.input, cut - carried)?;
                        cut - carried
                    };
                    sent += cut as u64;
                    if full && n == room {
                        break;
                    }
                    // The start of the next record, out of the way.
                    self.take_into_carry(n - moved)?;
                }
                None if full && n == room => {
                    if sent > 0 {
                        // The block ends at its last cut.
                        break;
                    }
                    if self.block >= MAX_BLOCK {
                        // GNU stops growing here, and passes the window whole.
                        let carry = std::mem::take(&mut self.carry);
                        out.put(&self.input, &carry)?;
                        out.splice_from(&self.input, n)?;
                        break;
                    }
                    self.block = grow_block(self.block);
                }
                None => self.take_into_carry(n)?,
            }
        }
        out.finish()
    }

    /// The last cut in the window's first bytes: `carry` and the input
    /// pipe's first `n` bytes (or fewer, if the pipe will not show that
    /// many at once); its position in them, and the bytes looked at.
    /// Reads only the end of those bytes (a page, then more as needed).
    fn last_cut(&mut self, mut n: usize) -> io::Result<(Option<usize>, usize)> {
        if n == 0 {
            // The carry has no cut in it.
            return Ok((None, 0));
        }
        let carried = self.carry.len();
        let overlap = self.separator.fixed_len().saturating_sub(1);
        let mut k = (16 * 1024).min(n);
        loop {
            let tail = match self.peek(n, k)? {
                Peeked::Tail(tail) => tail,
                Peeked::Short(t) => {
                    n = t;
                    k = k.min(n);
                    continue;
                }
            };
            let whole = k == n;
            // With all of the pipe's bytes, the carry's end too: a
            // separator may start there.
            let before = if whole { overlap.min(carried) } else { 0 };
            let mut buf = Vec::with_capacity(before + tail.len());
            buf.extend_from_slice(&self.carry[carried - before..]);
            buf.extend_from_slice(&tail);
            // Positions in the window. A separator seen whole in the last
            // bytes is the last one; if there is none, look further back.
            let base = carried + n - k - before;
            // A cut at the piece's start counts unless it is the window's.
            if let Some(cut) = self.separator.last_cut_in_piece(&buf).filter(|&c| base + c > 0) {
                return Ok((Some(base + cut), n));
            }
            if whole {
                return Ok((None, n));
            }
            k = (k * 4).min(n);
        }
    }

    /// The last `k` of the input pipe's first `n` bytes, leaving them in
    /// the pipe (`tee`, then the front dropped). `Short(t)`: `tee` showed
    /// only `t` bytes (the peek pipe is out of slots), so look at `t`.
    fn peek(&mut self, n: usize, k: usize) -> io::Result<Peeked> {
        let t = loop {
            match rustix::pipe::tee(&self.input, &self.peek_write, n, SpliceFlags::empty()) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(t) => break t,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        if t < n {
            drain(&self.peek_read, &self.null, t)?;
            return Ok(Peeked::Short(t));
        }
        drain(&self.peek_read, &self.null, n - k)?;
        let mut tail = vec![0u8; k];
        read_exact(&self.peek_read, &mut tail)?;
        Ok(Peeked::Tail(tail))
    }

    /// Moves `n` bytes from the input pipe to the end of `carry`.
    fn take_into_carry(&mut self, n: usize) -> io::Result<()> {
        let start = self.carry.len();
        self.carry.resize(start + n, 0);
        read_exact(&self.input, &mut self.carry[start..])
    }
}

enum Peeked {
    Tail(Vec<u8>),
    Short(usize),
}

/// A block's way to its job: the job's pipe while it takes bytes at once,
/// then a memfd that a thread of its own feeds into the pipe.
struct Out {
    pipe: OwnedFd,
    /// Waits for room in `pipe` a quarter pipe at a time.
    refill: Refill,
    input_size: usize,
    /// How long the job has held the input up so far.
    stalled: Duration,
    sent: Arc<AtomicU64>,
    spill: Option<(File, u64)>,
    /// The job stopped reading (its pipe is `/dev/null` now): what is
    /// left of its block is thrown away, as GNU parallel does.
    gone: bool,
}

impl Out {
    fn new(pipe: OwnedFd, sent: Arc<AtomicU64>, input_size: usize) -> Out {
        let _ = rustix::io::ioctl_fionbio(&pipe, true);
        Out {
            refill: Refill::new(&pipe),
            pipe,
            input_size,
            stalled: Duration::ZERO,
            sent,
            spill: None,
            gone: false,
        }
    }

    fn count(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The job's pipe is full: waits for room; false once the job has
    /// held the input up for [`PATIENCE`] (the rest of its block is then
    /// spilled).
    fn wait_for_room(&mut self, input: &OwnedFd) -> io::Result<bool> {
        loop {
            if self.stalled >= PATIENCE {
                return Ok(false);
            }
            let start = Instant::now();
            let ready = self.refill.wait_at_most(&self.pipe, TICK)?;
            if bytes_in(input).unwrap_or(0) >= self.input_size {
                self.stalled += start.elapsed();
            }
            if ready {
                return Ok(true);
            }
        }
    }

    /// Writes `data`.
    fn put(&mut self, input: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
        if self.gone {
            return Ok(());
        }
        if self.spill.is_none() {
            while !data.is_empty() {
                match rustix::io::write(&self.pipe, data) {
                    Ok(n) => {
                        self.count(n);
                        data = &data[n..];
                    }
                    Err(Errno::INTR) => {}
                    Err(Errno::AGAIN) => {
                        if !self.wait_for_room(input)? {
                            break;
                        }
                    }
                    // The job is gone: the block goes nowhere.
                    Err(_) => return self.discard(),
                }
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let (file, len) = self.spill_file()?;
        file.write_all_at(data, *len)?;
        *len += data.len() as u64;
        Ok(())
    }

    /// Moves `n` bytes from `input`, a pipe.
    fn splice_from(&mut self, input: &OwnedFd, mut n: usize) -> io::Result<()> {
        if self.gone {
            return drain(input, &self.pipe, n);
        }
        if self.spill.is_none() {
            while n > 0 {
                match rustix::pipe::splice(
                    input,
                    None,
                    &self.pipe,
                    None,
                    n,
                    SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
                ) {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                    Ok(m) => {
                        self.count(m);
                        n -= m;
                    }
                    Err(Errno::INTR) => {}
                    Err(Errno::AGAIN) => {
                        if !self.wait_for_room(input)? {
                            break;
                        }
                    }
                    Err(_) => {
                        // The job is gone: the bytes still leave the input.
                        self.discard()?;
                        return drain(input, &self.pipe, n);
                    }
                }
            }
        }
        while n > 0 {
            let (file, len) = self.spill_file()?;
            let mut at = *len;
            match rustix::pipe::splice(input, None, &*file, Some(&mut at), n, SpliceFlags::MOVE) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(m) => {
                    *len = at;
                    n -= m;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn spill_file(&mut self) -> io::Result<&mut (File, u64)> {
        if self.spill.is_none() {
            let fd = rustix::fs::memfd_create("forkpool-block", MemfdFlags::CLOEXEC)?;
            self.spill = Some((File::from(fd), 0));
        }
        self.spill.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::Other))
    }

    /// The job stopped reading: what is left of its block is thrown away
    /// (GNU parallel's behaviour too).
    fn discard(&mut self) -> io::Result<()> {
        self.gone = true;
        self.spill = None;
        self.pipe = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        Ok(())
    }

    /// The block is all here: the job's pipe closes once the memfd, if
    /// any, is fed into it.
    fn finish(self) -> io::Result<()> {
        let Out { pipe, sent, spill, .. } = self;
        let Some((file, len)) = spill else { return Ok(()) };
        std::thread::Builder::new()
            .name("forkpool-spill".into())
            .spawn(move || {
                let mut at = 0;
                pump(&pipe, || {
                    if at >= len {
                        return Ok(0);
                    }
                    let step = usize::try_from(len - at).unwrap_or(usize::MAX).min(1 << 20);
                    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
                    let m = rustix::pipe::splice(&file, Some(&mut at), &pipe, None, step, flags)?;
                    sent.fetch_add(m as u64, Ordering::Relaxed);
                    Ok(m)
                });
            })
            .map(drop)
    }
}

/// Drops `n` bytes from the front of pipe `from`.
fn drain(from: &OwnedFd, null: &OwnedFd, mut n: usize) -> io::Result<()> {
    while n > 0 {
        match rustix::pipe::splice(from, None, null, None, n, SpliceFlags::MOVE) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(m) => n -= m,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn read_exact(from: impl AsFd, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::read(&from, &mut *buf) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(m) => buf = &mut buf[m..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
