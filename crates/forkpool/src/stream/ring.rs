//! The ring a stream's items travel through: shared memory that the
//! worker writes and the consumer reads, with the flow-control counters
//! beside it. See `README.md` beside this file for why a ring.
//!
//! Layout (one memfd, every access atomic; one cache line per writer):
//! - word 0 `TAIL`: bytes committed by the worker (ever-growing; the
//!   position in the data area is `TAIL % RING_BYTES`);
//! - words 1–3: what the worker had produced when it last began to wait
//!   for credit (items, bytes of `YIELD` frames, descriptors);
//! - words 8–11: what the consumer has consumed: `HEAD` (bytes), items,
//!   `YIELD` bytes, descriptors;
//! - word 16 `READER_WAITING` (a 32-bit futex word: 0, or how the
//!   consumer sleeps), word 24 `WRITER_WAITING`: who sleeps;
//! - word 32: the data area's size, written by the creator;
//! - from byte 4096: the data area, [`RING_BYTES`] bytes of records.
//!
//! A record is a header word (`kind << 32 | length`) and `length` bytes
//! of payload, padded to a word: an item (its `postcard` bytes), a marker
//! holding the place of an item that travels in a `YIELD` frame, or a wrap
//! (the rest of the data area is unused; go on from its start). Records
//! never straddle the end of the data area.
//!
//! The worker writes a record, then publishes `TAIL` (sequentially
//! consistent); the consumer copies committed records out (word by word,
//! atomically, so a misbehaving worker can hand it garbage but never a
//! data race), then publishes how far it got. Sleeping is the classic
//! two-flag handshake: each side sets its `*_WAITING` flag and then looks
//! again before it sleeps, and the other side looks at the flag after each
//! publication, so a wake-up is never lost. A consumer blocked in `next`
//! sleeps on a futex on its flag, which the worker wakes directly; an async
//! consumer's `Waker` is woken through the supervisor (`BELL`).

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Wake, Waker};

use rustix::thread::futex;

use crate::sys::page::SharedWords;

/// Bytes of the data area.
pub(crate) const RING_BYTES: usize = 1 << 20;
/// The largest record (header word included) the ring takes. An item whose
/// encoding is larger travels in a `YIELD` frame, its place held by a
/// marker.
pub(crate) const RECORD_MAX: usize = 64 << 10;
/// The largest payload of an item record.
pub(crate) const PAYLOAD_MAX: usize = RECORD_MAX - 8;
/// The most items the worker makes ahead of the consumer.
pub(crate) const MAX_ITEMS_AHEAD: u64 = 65_536;
/// The most bytes of `YIELD` frames (their encoding, out-of-line bodies and
/// shared buffers) in flight; one item may pass it when it is alone.
pub(crate) const MAX_FRAME_BYTES_AHEAD: u64 = 16 << 20;
/// The most descriptors in flight in `YIELD` frames; one item may pass it
/// when it is alone.
pub(crate) const MAX_FDS_AHEAD: u64 = 64;

const HEADER_BYTES: usize = 4096;
const HEADER_WORDS: usize = HEADER_BYTES / 8;
const TOTAL_WORDS: usize = HEADER_WORDS + RING_BYTES / 8;
/// The consumer copies at most about this much out of the ring at once.
const CHUNK: usize = 64 << 10;
/// The worker allocates the data area's pages ahead of its writes, a page
/// at first (the first item should not wait for 1 MiB of pages), then
/// twice what it has, up to this much at a time.
const ALLOCATE_STEP: u64 = 64 << 10;
/// The name the ring's memfd carries in `/proc/PID/fd` (not a path).
const NAME: &std::ffi::CStr = c"forkpool-stream";

const TAIL: usize = 0;
const PRODUCED_ITEMS: usize = 1;
const PRODUCED_FRAME_BYTES: usize = 2;
const PRODUCED_FDS: usize = 3;
const HEAD: usize = 8;
const ITEMS_READ: usize = 9;
const FRAME_BYTES_READ: usize = 10;
const FDS_READ: usize = 11;
const READER_WAITING: usize = 16;
const WRITER_WAITING: usize = 24;
const CAPACITY: usize = 32;

/// `READER_WAITING`: the consumer sleeps on the futex...
const FUTEX_SLEEPER: u32 = 1;
/// ...or it waits for its `Waker`, which only the supervisor can reach.
const BELL_SLEEPER: u32 = 2;

const ITEM: u64 = 1;
const MARKER: u64 = 2;
const WRAP: u64 = 3;

/// How much one side has produced or consumed, over the stream's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Items, markers included.
    pub(crate) items: u64,
    /// Bytes of the ring (`TAIL` or `HEAD`), wraps included.
    pub(crate) ring: u64,
    /// Weight of `YIELD` frames.
    pub(crate) frame_bytes: u64,
    /// Descriptors of `YIELD` frames.
    pub(crate) fds: u64,
}

/// Whether the worker, having produced `produced` while the consumer has
/// consumed `consumed`, is within its credit divided by `divisor`: with 1,
/// whether it may make another item; with 2, whether a worker waiting for
/// credit is worth waking (credit is returned in batches, half a window at
/// a time, not item by item).
fn within(produced: Counters, consumed: Counters, divisor: u64) -> bool {
    let items = produced.items.saturating_sub(consumed.items);
    let ring = produced.ring.saturating_sub(consumed.ring);
    let bytes = produced.frame_bytes.saturating_sub(consumed.frame_bytes);
    let fds = produced.fds.saturating_sub(consumed.fds);
    // Room for the largest record even if it has to wrap.
    let ring_window = (RING_BYTES - 2 * RECORD_MAX) as u64;
    items < MAX_ITEMS_AHEAD / divisor
        && ring <= ring_window / divisor
        && (bytes == 0 || bytes < MAX_FRAME_BYTES_AHEAD / divisor)
        && (fds == 0 || fds < MAX_FDS_AHEAD / divisor)
}

fn padded(len: usize) -> u64 {
    (len as u64).div_ceil(8) * 8
}

fn data(shared: &SharedWords) -> &[AtomicU64] {
    &shared.words()[HEADER_WORDS..]
}

/// The consumer's flag, a futex word.
fn reader_waiting(shared: &SharedWords) -> Option<&AtomicU32> {
    shared.futex_word(READER_WAITING)
}

/// How the consumer is about to sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sleeper {
    /// Blocked in `next`, on the futex.
    Futex,
    /// Waiting for a `Waker` (async).
    Bell,
}

/// The worker's side.
#[derive(Debug)]
pub(crate) struct RingWriter {
    shared: SharedWords,
    fd: OwnedFd,
    produced: Counters,
    /// What the consumer had consumed when last looked at.
    consumed: Counters,
    /// Bytes of the data area whose pages are allocated.
    allocated: u64,
}

impl RingWriter {
    /// Maps a ring the consumer created.
    pub(crate) fn open(fd: OwnedFd) -> io::Result<RingWriter> {
        let shared = SharedWords::open(&fd, TOTAL_WORDS)?;
        let capacity = shared.words()[CAPACITY].load(Ordering::Acquire);
        if capacity != RING_BYTES as u64 {
            return Err(io::Error::other(format!("a stream ring of {capacity} bytes")));
        }
        Ok(RingWriter {
            shared,
            fd,
            produced: Counters::default(),
            consumed: Counters::default(),
            allocated: 0,
        })
    }

    /// What has been produced.
    pub(crate) fn produced(&self) -> Counters {
        self.produced
    }

    fn load_consumed(&self) -> Counters {
        let w = self.shared.words();
        Counters {
            items: w[ITEMS_READ].load(Ordering::SeqCst),
            ring: w[HEAD].load(Ordering::SeqCst),
            frame_bytes: w[FRAME_BYTES_READ].load(Ordering::SeqCst),
            fds: w[FDS_READ].load(Ordering::SeqCst),
        }
    }

    /// Whether another item may be made now. Looks at the consumer's
    /// counters only when the last look does not already say yes.
    #[inline]
    pub(crate) fn has_credit(&mut self) -> bool {
        if within(self.produced, self.consumed, 1) {
            return true;
        }
        self.consumed = self.load_consumed();
        within(self.produced, self.consumed, 1)
    }

    /// Announces that the worker is about to sleep until the consumer
    /// returns credit. Returns true (and the worker should not sleep) when
    /// credit arrived meanwhile.
    pub(crate) fn begin_wait(&mut self) -> bool {
        let w = self.shared.words();
        w[PRODUCED_ITEMS].store(self.produced.items, Ordering::SeqCst);
        w[PRODUCED_FRAME_BYTES].store(self.produced.frame_bytes, Ordering::SeqCst);
        w[PRODUCED_FDS].store(self.produced.fds, Ordering::SeqCst);
        w[WRITER_WAITING].store(1, Ordering::SeqCst);
        self.consumed = self.load_consumed();
        if within(self.produced, self.consumed, 1) {
            w[WRITER_WAITING].store(0, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Writes an item's `postcard` bytes (at most [`PAYLOAD_MAX`]); it
    /// is visible once committed.
    pub(crate) fn push_item(&mut self, payload: &[u8]) -> io::Result<()> {
        self.push(ITEM, payload)?;
        self.produced.items += 1;
        Ok(())
    }

    /// Writes the marker of an item sent in a `YIELD` frame of `weight`
    /// bytes and `fds` descriptors.
    pub(crate) fn push_marker(&mut self, weight: u64, fds: u64) -> io::Result<()> {
        self.push(MARKER, &[])?;
        self.produced.items += 1;
        self.produced.frame_bytes += weight;
        self.produced.fds += fds;
        Ok(())
    }

    fn push(&mut self, kind: u64, payload: &[u8]) -> io::Result<()> {
        if payload.len() > PAYLOAD_MAX {
            return Err(io::Error::other("a record too large for the ring"));
        }
        let cap = RING_BYTES as u64;
        let size = 8 + padded(payload.len());
        let mut pos = self.produced.ring % cap;
        if cap - pos < size {
            self.allocate(pos + 8)?;
            data(&self.shared)[(pos / 8) as usize].store(WRAP << 32, Ordering::Relaxed);
            self.produced.ring += cap - pos;
            pos = 0;
        }
        self.allocate(pos + size)?;
        let words = &data(&self.shared)[(pos / 8) as usize..((pos + size) / 8) as usize];
        words[0].store(kind << 32 | payload.len() as u64, Ordering::Relaxed);
        // The payload's bytes in memory order (both sides are one machine),
        // so that the consumer can view its copy of the words as bytes.
        let mut chunks = payload.chunks_exact(8);
        for (word, chunk) in words[1..].iter().zip(&mut chunks) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // At most 7 bytes: a loop, not a call to `memcpy`.
            let mut bytes = [0u8; 8];
            for (to, from) in bytes.iter_mut().zip(rest) {
                *to = *from;
            }
            words[words.len() - 1].store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        self.produced.ring += size;
        Ok(())
    }

    /// Allocates the data area's pages up to byte `end` (and a step
    /// beyond), so that a shortage of memory is an error here, never a
    /// `SIGBUS` on a write.
    fn allocate(&mut self, end: u64) -> io::Result<()> {
        if end <= self.allocated {
            return Ok(());
        }
        let cap = RING_BYTES as u64;
        let step = self.allocated.clamp(4096, ALLOCATE_STEP);
        let to = end.max(self.allocated + step).min(cap);
        let base = HEADER_BYTES as u64;
        SharedWords::allocate(&self.fd, base + self.allocated, base + to)?;
        self.allocated = to;
        Ok(())
    }

    /// Makes everything pushed visible to the consumer, and wakes it if it
    /// said it sleeps (once: the flag is cleared). Returns true when that
    /// takes a bell: the consumer waits for its `Waker`.
    #[inline]
    pub(crate) fn commit(&mut self) -> bool {
        self.shared.words()[TAIL].store(self.produced.ring, Ordering::SeqCst);
        let Some(flag) = reader_waiting(&self.shared) else {
            return false;
        };
        if flag.load(Ordering::SeqCst) == 0 {
            return false;
        }
        match flag.swap(0, Ordering::SeqCst) {
            FUTEX_SLEEPER => {
                let _ = futex::wake(flag, futex::Flags::empty(), 1);
                false
            }
            BELL_SLEEPER => true,
            _ => false,
        }
    }
}

/// Something the consumer found in the ring that it cannot use: a worker
/// that wrote garbage (never ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) &'static str);

/// A record copied out of the ring.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// An item's `postcard` bytes.
    Item(&'a [u8]),
    /// An item that travels in a `YIELD` frame.
    Marker,
}

/// The consumer's side.
#[derive(Debug)]
pub(crate) struct RingReader {
    shared: Arc<SharedWords>,
    consumed: Counters,
    /// Records copied out (as words), not yet returned: `chunk[at..]`.
    chunk: Vec<u64>,
    at: usize,
}

impl RingReader {
    /// Creates a ring; the descriptor goes to the worker.
    pub(crate) fn create() -> io::Result<(RingReader, OwnedFd)> {
        let (shared, fd) = SharedWords::create(NAME, TOTAL_WORDS, HEADER_BYTES)?;
        shared.words()[CAPACITY].store(RING_BYTES as u64, Ordering::Release);
        let reader = RingReader {
            shared: Arc::new(shared),
            consumed: Counters::default(),
            chunk: Vec::new(),
            at: 0,
        };
        Ok((reader, fd))
    }

    /// The next record copied out, if any is left (see [`refill`](Self::refill)).
    #[inline]
    pub(crate) fn next_record(&mut self) -> Option<Result<Record<'_>, Corrupt>> {
        let rest = self.chunk.get(self.at..)?;
        let (&header, rest) = rest.split_first()?;
        let len = (header & 0xffff_ffff) as usize;
        let kind = header >> 32;
        let words = padded(len) as usize / 8;
        self.at += 1 + words;
        Some(match kind {
            ITEM => rest
                .get(..words)
                .and_then(|words| bytemuck::cast_slice::<u64, u8>(words).get(..len))
                .map(Record::Item)
                .ok_or(Corrupt("a cut record")),
            MARKER => Ok(Record::Marker),
            _ => Err(Corrupt("an unknown record")),
        })
    }

    /// Whether the worker has committed records not copied out yet.
    pub(crate) fn has_committed(&self) -> bool {
        self.shared.words()[TAIL].load(Ordering::SeqCst) != self.consumed.ring
    }

    /// Copies committed records out (up to about [`CHUNK`] bytes, after
    /// the ones not yet returned are gone) and returns their room to the
    /// worker. Returns whether any record was copied, and whether the
    /// worker waits for credit and should be woken (the flag is cleared).
    pub(crate) fn refill(&mut self) -> Result<(bool, bool), Corrupt> {
        if self.at < self.chunk.len() {
            return Ok((false, false));
        }
        self.chunk.clear();
        self.at = 0;
        let tail = self.shared.words()[TAIL].load(Ordering::Acquire);
        let cap = RING_BYTES as u64;
        if tail < self.consumed.ring || tail - self.consumed.ring > cap || !tail.is_multiple_of(8) {
            return Err(Corrupt("an impossible ring position"));
        }
        let data = data(&self.shared);
        let mut head = self.consumed.ring;
        let mut items = 0;
        while head < tail && self.chunk.len() < CHUNK / 8 {
            let pos = head % cap;
            let header = data[(pos / 8) as usize].load(Ordering::Relaxed);
            let len = header & 0xffff_ffff;
            if header >> 32 == WRAP {
                if len != 0 {
                    return Err(Corrupt("a malformed wrap record"));
                }
                head += cap - pos;
                continue;
            }
            let size = 8 + padded(len as usize);
            if len > PAYLOAD_MAX as u64 || pos + size > cap || head + size > tail {
                return Err(Corrupt("a record that overruns the ring"));
            }
            // The header as checked, then the payload.
            self.chunk.push(header);
            let payload = &data[(pos / 8) as usize + 1..((pos + size) / 8) as usize];
            self.chunk
                .extend(payload.iter().map(|word| word.load(Ordering::Relaxed)));
            head += size;
            items += 1;
        }
        if head > tail {
            return Err(Corrupt("a wrap past the committed records"));
        }
        let copied = head != self.consumed.ring;
        self.consumed.ring = head;
        self.consumed.items += items;
        Ok((copied, copied && self.publish()))
    }

    /// Records that a `YIELD` frame of `weight` bytes and `fds`
    /// descriptors was taken. Returns whether the worker should be woken.
    pub(crate) fn took_frame(&mut self, weight: u64, fds: u64) -> bool {
        self.consumed.frame_bytes = self.consumed.frame_bytes.saturating_add(weight);
        self.consumed.fds = self.consumed.fds.saturating_add(fds);
        self.publish()
    }

    /// Publishes what was consumed; true when the worker waits for credit
    /// and now has enough of it to be worth waking.
    fn publish(&self) -> bool {
        let w = self.shared.words();
        w[HEAD].store(self.consumed.ring, Ordering::SeqCst);
        w[ITEMS_READ].store(self.consumed.items, Ordering::SeqCst);
        w[FRAME_BYTES_READ].store(self.consumed.frame_bytes, Ordering::SeqCst);
        w[FDS_READ].store(self.consumed.fds, Ordering::SeqCst);
        if w[WRITER_WAITING].load(Ordering::SeqCst) == 0 {
            return false;
        }
        let produced = Counters {
            items: w[PRODUCED_ITEMS].load(Ordering::SeqCst),
            ring: w[TAIL].load(Ordering::SeqCst),
            frame_bytes: w[PRODUCED_FRAME_BYTES].load(Ordering::SeqCst),
            fds: w[PRODUCED_FDS].load(Ordering::SeqCst),
        };
        within(produced, self.consumed, 2) && w[WRITER_WAITING].swap(0, Ordering::SeqCst) != 0
    }

    /// Says the consumer is about to sleep until the worker commits more.
    /// The caller must look at the ring again after this, before sleeping.
    pub(crate) fn begin_wait(&self, how: Sleeper) {
        if let Some(flag) = reader_waiting(&self.shared) {
            let value = match how {
                Sleeper::Futex => FUTEX_SLEEPER,
                Sleeper::Bell => BELL_SLEEPER,
            };
            flag.store(value, Ordering::SeqCst);
        }
    }

    /// The consumer is awake after all.
    pub(crate) fn end_wait(&self) {
        if let Some(flag) = reader_waiting(&self.shared) {
            flag.store(0, Ordering::SeqCst);
        }
    }

    /// Sleeps on the futex until the worker, or [`waker`](Self::waker),
    /// wakes it (returns at once if that already happened). May return
    /// early; the caller looks again either way.
    pub(crate) fn sleep(&self) {
        if let Some(flag) = reader_waiting(&self.shared) {
            let _ = futex::wait(flag, futex::Flags::empty(), FUTEX_SLEEPER, None);
        }
    }

    /// A `Waker` that wakes a consumer asleep in [`sleep`](Self::sleep):
    /// for the supervisor's news (the stream's end, a framed item).
    pub(crate) fn waker(&self) -> Waker {
        Waker::from(Arc::new(FutexWaker(self.shared.clone())))
    }
}

/// See [`RingReader::waker`].
struct FutexWaker(Arc<SharedWords>);

impl Wake for FutexWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(flag) = reader_waiting(&self.0)
            && flag
                .compare_exchange(FUTEX_SLEEPER, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            let _ = futex::wake(flag, futex::Flags::empty(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (RingReader, RingWriter) {
        let (reader, fd) = RingReader::create().unwrap();
        let writer = RingWriter::open(fd).unwrap();
        (reader, writer)
    }

    /// Everything the reader can take now.
    fn drain(reader: &mut RingReader) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            while let Some(record) = reader.next_record() {
                out.push(match record.unwrap() {
                    Record::Item(bytes) => Some(bytes.to_vec()),
                    Record::Marker => None,
                });
            }
            if !reader.refill().unwrap().0 {
                return out;
            }
        }
    }

    #[test]
    fn items_cross_in_order_across_many_wraps() {
        let (mut reader, mut writer) = pair();
        let mut sent = Vec::new();
        let mut got = Vec::new();
        let mut n = 0u32;
        // Sizes from 0 to a full record, so records wrap at every offset.
        while n < 1200 {
            while writer.has_credit() && n < 1200 {
                let len = (n as usize * 7919) % (PAYLOAD_MAX + 1);
                let item: Vec<u8> = (0..len).map(|i| (i as u32 ^ n) as u8).collect();
                if n.is_multiple_of(10) {
                    writer.push_marker(5, 1).unwrap();
                    sent.push(None);
                } else {
                    writer.push_item(&item).unwrap();
                    sent.push(Some(item));
                }
                writer.commit();
                n += 1;
            }
            let before = got.len();
            got.extend(drain(&mut reader));
            // The frames behind the markers are taken as they come.
            let markers = got[before..].iter().filter(|g| g.is_none()).count() as u64;
            reader.took_frame(5 * markers, markers);
        }
        got.extend(drain(&mut reader));
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "items arrive whole and in order");
        assert!(
            writer.produced().ring > 20 * RING_BYTES as u64,
            "the ring wrapped many times"
        );
    }

    #[test]
    fn the_writer_stops_at_its_credit_and_is_woken_in_batches() {
        let (mut reader, mut writer) = pair();
        let item = vec![7u8; 1000];
        let mut made = 0;
        while writer.has_credit() {
            writer.push_item(&item).unwrap();
            writer.commit();
            made += 1;
        }
        let window = (RING_BYTES - 2 * RECORD_MAX) / (8 + 1000);
        assert!(
            (window..=window + 1).contains(&made),
            "{made} items made, window {window}"
        );
        assert!(!writer.begin_wait(), "no credit: the writer sleeps");
        // One chunk consumed is not yet worth a wake-up...
        assert_eq!(reader.refill().unwrap(), (true, false));
        while reader.next_record().is_some() {}
        // ...half the window is.
        let mut woken = false;
        while !woken {
            let (copied, wake) = reader.refill().unwrap();
            assert!(copied);
            while reader.next_record().is_some() {}
            woken = wake;
        }
        assert!(writer.has_credit());
        assert!(!reader.refill().unwrap().1, "one wake-up per wait");
    }

    #[test]
    fn the_item_count_is_a_credit_too() {
        let (mut reader, mut writer) = pair();
        let mut made = 0;
        while writer.has_credit() {
            writer.push_item(&[]).unwrap();
            writer.commit();
            made += 1;
        }
        assert_eq!(
            made, MAX_ITEMS_AHEAD,
            "empty items: the count, not the bytes, is the limit"
        );
        reader.refill().unwrap();
        assert!(writer.has_credit(), "copying a chunk out returns its credit");
    }

    #[test]
    fn frames_in_flight_are_bounded_but_one_always_goes() {
        let (mut reader, mut writer) = pair();
        writer.push_marker(1 << 40, 1).unwrap();
        writer.commit();
        assert!(!writer.has_credit(), "a huge item in flight stops the next");
        reader.refill().unwrap();
        assert_eq!(reader.next_record(), Some(Ok(Record::Marker)));
        reader.took_frame(1 << 40, 1);
        assert!(writer.has_credit());
        for _ in 0..MAX_FDS_AHEAD {
            assert!(writer.has_credit());
            writer.push_marker(10, 1).unwrap();
        }
        assert!(!writer.has_credit(), "descriptors in flight are bounded");
    }

    #[test]
    fn the_reader_announces_sleep_and_the_writer_sees_it_once() {
        let (mut reader, mut writer) = pair();
        writer.push_item(b"a").unwrap();
        assert!(!writer.commit(), "nobody sleeps");
        assert!(reader.has_committed());
        drain(&mut reader);
        reader.begin_wait(Sleeper::Bell);
        assert!(!reader.has_committed());
        writer.push_item(b"b").unwrap();
        assert!(writer.commit(), "the sleeping reader must be rung for");
        writer.push_item(b"c").unwrap();
        assert!(!writer.commit(), "once");
        assert_eq!(drain(&mut reader), [Some(b"b".to_vec()), Some(b"c".to_vec())]);
        // A reader asleep on the futex is woken by the writer itself.
        let reader = std::sync::Arc::new(std::sync::Mutex::new(reader));
        let sleeper = {
            let reader = reader.clone();
            std::thread::spawn(move || {
                let reader = reader.lock().unwrap();
                reader.begin_wait(Sleeper::Futex);
                reader.sleep();
            })
        };
        while !sleeper.is_finished() {
            writer.push_item(b"d").unwrap();
            assert!(!writer.commit(), "no bell for a futex sleeper");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        sleeper.join().unwrap();
    }

    #[test]
    fn garbage_in_the_ring_is_an_error_not_a_panic() {
        let (mut reader, writer) = pair();
        let w = writer.shared.words();
        let d = data(&writer.shared);
        let cases: [(u64, u64, &str); 5] = [
            (9, 8, "position not a multiple of 8"),
            (2 * RING_BYTES as u64, 0, "past the ring"),
            (16, 0x7 << 32, "unknown kind"),
            (16, ITEM << 32 | 100_000, "too long"),
            (16, WRAP << 32 | 3, "bad wrap"),
        ];
        for (tail, header, what) in cases {
            d[0].store(header, Ordering::Relaxed);
            w[TAIL].store(tail, Ordering::SeqCst);
            let refilled = reader.refill();
            let corrupt = refilled.is_err() || matches!(reader.next_record(), Some(Err(_)));
            assert!(corrupt, "{what} was accepted");
            reader.consumed = Counters::default();
            reader.chunk.clear();
            reader.at = 0;
        }
    }
}
