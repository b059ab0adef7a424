//! Length-prefixed frames.
//!
//! A frame is a 4-byte little-endian body length, a 1-byte kind, then the
//! body. The reader never trusts a length: a frame longer than the
//! configured maximum, a stream that ends inside a frame, or a body that
//! does not parse is a [`FrameError`], never a panic, a huge allocation up
//! front, or a wait for bytes that will not come.
//!
//! Descriptors travel beside frames (`SCM_RIGHTS`): a frame whose kind has
//! the [`ATTACHED`] bit announces how many, and the reader hands them over
//! with the frame they were sent with (see `fds` for how they are matched).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

pub(crate) use super::lost::Lost;
use crate::sys::scm::{self, MAX_FDS_PER_MESSAGE, Shortage};

/// Bytes before the body: length (4) and kind (1).
pub(crate) const HEADER_LEN: usize = 5;

/// The bit of the kind byte that says descriptors travel with the frame:
/// the body then starts with their number (`u32`), and the descriptors
/// arrive with the frame's own bytes (see `fds`).
pub(crate) const ATTACHED: u8 = 0x80;

/// Why a stream of frames could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// A header announced a body larger than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversized { len: usize, max: usize },
    /// The stream ended inside a frame. (The supervisor attributes a cut
    /// frame to the worker's death instead; the decoder's tests check it.)
    #[error("stream ended inside a frame ({have} of {need} bytes received)")]
    #[cfg_attr(
        not(any(test, feature = "fuzzing")),
        expect(dead_code, reason = "only the end-of-stream check in tests builds it")
    )]
    Truncated { have: usize, need: usize },
    /// The kind byte names no known message.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The body does not have the layout its kind requires.
    #[error("malformed {what} frame: {why}")]
    Malformed { what: &'static str, why: &'static str },
}

/// The descriptors that came with one frame, in the order they were sent:
/// one place per descriptor the frame announced, `None` for one that did
/// not arrive.
#[derive(Debug, Default)]
pub(crate) struct FrameFds {
    places: VecDeque<Option<OwnedFd>>,
    /// The kernel dropped some of them (this process was out of
    /// descriptors, say): why.
    lost: Option<Shortage>,
}

impl FrameFds {
    /// Descriptors that arrived with nothing announcing them.
    pub(crate) fn none() -> FrameFds {
        FrameFds::default()
    }

    /// Places the descriptors of a frame that announced `count`, from the
    /// receives that brought them (`arrivals`, in order). The sender sends
    /// them in batches of [`MAX_FDS_PER_MESSAGE`] (the last one smaller),
    /// one receive each, so a batch the kernel cut short (it keeps the
    /// first descriptors of a message and drops the rest) still says
    /// exactly which places are empty: nothing shifts between the items of
    /// the frame. Arrivals that do not fit that pattern leave every place
    /// empty (none can be trusted to be the one it seems); the descriptors
    /// are closed.
    fn assemble(count: usize, arrivals: Vec<Arrival>) -> FrameFds {
        let batches = arrivals.len();
        let mut places = VecDeque::with_capacity(count.min(1 << 16));
        let mut lost = None;
        // As many batches as the count takes (which also bounds the places
        // made below by the bytes received, whatever the count says).
        let mut fits = count.div_ceil(MAX_FDS_PER_MESSAGE) == batches;
        for (i, arrival) in arrivals.into_iter().enumerate() {
            places.extend(arrival.fds.into_iter().map(Some));
            let batch_end = if i + 1 == batches {
                count
            } else {
                (i + 1).saturating_mul(MAX_FDS_PER_MESSAGE)
            };
            if arrival.lost.is_some() {
                lost = lost.or(arrival.lost);
                fits &= places.len() <= batch_end;
                if fits {
                    places.resize_with(batch_end, || None);
                }
            } else {
                fits &= places.len() == batch_end;
            }
        }
        if !fits || places.len() != count {
            places.clear();
        }
        FrameFds { places, lost }
    }

    /// Takes the next `n` descriptors, in order: an item's. A descriptor
    /// that did not arrive is `None`. If the kernel dropped any of them
    /// (see [`Lost`]), the item cannot be decoded: the ones that did
    /// arrive are closed, and the error says why.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<Vec<Option<OwnedFd>>, Lost> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let fds: Vec<Option<OwnedFd>> = (0..n).map(|_| self.places.pop_front().flatten()).collect();
        match self.lost {
            Some(shortage) if fds.iter().any(Option::is_none) => Err(Lost::new(fds, shortage)),
            _ => Ok(fds),
        }
    }

    /// How many places are left.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.places.len()
    }
}

/// One decoded frame, borrowing the reader's buffer, with its descriptors.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) kind: u8,
    pub(crate) body: &'a [u8],
    pub(crate) fds: FrameFds,
}

/// Descriptors received with the bytes up to stream offset `at`.
#[derive(Debug)]
struct Arrival {
    /// Stream offset of the last byte received with them: they belong to
    /// the frame holding that byte (a sender attaches descriptors only to
    /// bytes of their own frame, and the kernel hands them over with the
    /// last bytes a receive returns).
    at: u64,
    fds: Vec<OwnedFd>,
    /// The kernel dropped the rest of them, and why.
    lost: Option<Shortage>,
}

/// Accumulates bytes (and descriptors) from a stream socket and splits
/// them into frames.
#[derive(Debug)]
pub(crate) struct FrameReader {
    /// Always initialised; the bytes not yet returned are `start..end`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    arrivals: VecDeque<Arrival>,
    max_body: usize,
}

impl FrameReader {
    /// A reader that refuses bodies longer than `max_body` bytes.
    pub(crate) fn new(max_body: usize) -> Self {
        FrameReader {
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            base: 0,
            arrivals: VecDeque::new(),
            max_body,
        }
    }

    /// Appends bytes (used by tests and by in-memory callers).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.push_with_fds(bytes, Vec::new());
    }

    /// Appends bytes that arrived with `fds`.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push_with_fds(&mut self, bytes: &[u8], fds: Vec<OwnedFd>) {
        self.push_received(bytes, fds, None);
    }

    /// Appends bytes as one receive returned them: with `fds`, and the
    /// rest of the descriptors sent with them dropped if `lost` says so.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push_received(&mut self, bytes: &[u8], fds: Vec<OwnedFd>, lost: Option<Shortage>) {
        self.compact();
        // In-memory input: grow as any `Vec` does (not `make_room`'s
        // fallible path, which guards a socket's reads).
        let need = self.end.saturating_add(bytes.len());
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
        if !fds.is_empty() || lost.is_some() {
            self.arrivals.push_back(Arrival {
                at: self.base + self.end as u64 - 1,
                fds,
                lost,
            });
        }
    }

    /// Receives once from `socket`, with any descriptors sent alongside
    /// (made close-on-exec). Returns the number of bytes received; 0 means
    /// end of stream. `WouldBlock` and `Interrupted` are passed through for
    /// the caller to handle.
    pub(crate) fn read_from(&mut self, socket: impl AsFd) -> io::Result<usize> {
        self.compact();
        self.make_room(self.wanted_capacity())?;
        let received = scm::recv_with_fds(&socket, &mut self.buf[self.end..])?;
        if received.bytes > 0 && (received.lost.is_some() || !received.fds.is_empty()) {
            self.arrivals.push_back(Arrival {
                at: self.base + (self.end + received.bytes) as u64 - 1,
                fds: received.fds,
                lost: received.lost,
            });
        }
        self.end += received.bytes;
        Ok(received.bytes)
    }

    /// Makes at least `want` bytes of room after the data.
    fn make_room(&mut self, want: usize) -> io::Result<()> {
        let need = self.end.saturating_add(want);
        if self.buf.len() < need {
            self.buf
                .try_reserve(need - self.buf.len())
                .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "cannot grow frame buffer"))?;
            self.buf.resize(need, 0);
        }
        Ok(())
    }

    /// How much free space the next read should have: enough for the rest of
    /// a partially received frame (up to the limit), and at least 64 KiB.
    fn wanted_capacity(&self) -> usize {
        let pending = &self.buf[self.start..self.end];
        let frame_rest = match parse_header(pending) {
            Some((len, _)) if len <= self.max_body => (HEADER_LEN + len).saturating_sub(pending.len()),
            _ => 0,
        };
        frame_rest.max(64 * 1024)
    }

    /// Drops bytes already returned, when that frees a worthwhile amount.
    fn compact(&mut self) {
        if self.start > 0 && (self.start == self.end || self.start >= self.end / 2) {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == 0 && self.buf.len() > 1 << 20 {
            // A huge frame has been handled: give its memory back.
            self.buf.truncate(64 << 10);
            self.buf.shrink_to(64 << 10);
        }
    }

    /// Returns the next complete frame, `None` if more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        let pending = &self.buf[self.start..self.end];
        let Some((len, kind)) = parse_header(pending) else {
            return Ok(None);
        };
        if len > self.max_body {
            return Err(FrameError::Oversized {
                len,
                max: self.max_body,
            });
        }
        let total = HEADER_LEN + len;
        if pending.len() < total {
            return Ok(None);
        }
        let frame_start = self.base + self.start as u64;
        let frame_end = frame_start + total as u64;
        let mut arrivals = Vec::new();
        while self.arrivals.front().is_some_and(|a| a.at < frame_end) {
            let Some(arrival) = self.arrivals.pop_front() else {
                break;
            };
            if arrival.at < frame_start {
                // Sent with a frame that has been handled: nobody's.
                continue;
            }
            arrivals.push(arrival);
        }
        let body_start = self.start + HEADER_LEN;
        self.start += total;
        let mut body = &self.buf[body_start..body_start + len];
        let fds = if kind & ATTACHED != 0 {
            match body.split_first_chunk::<4>() {
                Some((count, rest)) => {
                    body = rest;
                    FrameFds::assemble(u32::from_le_bytes(*count) as usize, arrivals)
                }
                // Too short to say: no descriptor is trusted, and the
                // body fails to parse as whatever kind it claims to be.
                None => FrameFds::none(),
            }
        } else {
            // Descriptors nobody announced: closed (`arrivals` is dropped).
            FrameFds::none()
        };
        Ok(Some(Frame {
            kind: kind & !ATTACHED,
            body,
            fds,
        }))
    }

    /// Checks the stream ended on a frame boundary. Call at end of stream,
    /// after `next_frame` has returned `None`.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn finish(&self) -> Result<(), FrameError> {
        let pending = &self.buf[self.start..self.end];
        if pending.is_empty() {
            return Ok(());
        }
        let need = parse_header(pending).map_or(HEADER_LEN, |(len, _)| HEADER_LEN.saturating_add(len));
        Err(FrameError::Truncated {
            have: pending.len(),
            need,
        })
    }
}

fn parse_header(bytes: &[u8]) -> Option<(usize, u8)> {
    let header: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    Some((len, header[4]))
}

/// Starts a frame of `kind` at the end of `out`; returns the position to
/// pass to [`end_frame`] once the body has been appended.
pub(crate) fn begin_frame(out: &mut Vec<u8>, kind: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, kind]);
    at
}

/// Starts a frame of `kind` that carries `fds` descriptors (see
/// [`ATTACHED`]); with none, a plain frame.
pub(crate) fn begin_frame_with_fds(out: &mut Vec<u8>, kind: u8, fds: usize) -> Result<usize, FrameError> {
    if fds == 0 {
        return Ok(begin_frame(out, kind));
    }
    let count = u32::try_from(fds).map_err(|_| FrameError::Malformed {
        what: "frame",
        why: "too many descriptors",
    })?;
    let at = begin_frame(out, kind | ATTACHED);
    out.extend_from_slice(&count.to_le_bytes());
    Ok(at)
}

/// Writes the body length of the frame started at `at`.
///
/// Fails if the body does not fit the 32-bit length field.
pub(crate) fn end_frame(out: &mut [u8], at: usize) -> Result<(), FrameError> {
    let len = out.len() - at - HEADER_LEN;
    let len32 = u32::try_from(len).map_err(|_| FrameError::Oversized {
        len,
        max: u32::MAX as usize,
    })?;
    out[at..at + 4].copy_from_slice(&len32.to_le_bytes());
    Ok(())
}

/// A bounds-checked reader over a frame body.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { bytes, what }
    }

    #[inline]
    pub(crate) fn malformed(&self, why: &'static str) -> FrameError {
        FrameError::Malformed { what: self.what, why }
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, why: &'static str) -> Result<&'a [u8], FrameError> {
        if self.bytes.len() < n {
            return Err(self.malformed(why));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    #[inline]
    pub(crate) fn u8(&mut self, why: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, why)?[0])
    }

    #[inline]
    pub(crate) fn u32(&mut self, why: &'static str) -> Result<u32, FrameError> {
        let b = self.take(4, why)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub(crate) fn u64(&mut self, why: &'static str) -> Result<u64, FrameError> {
        let b = self.take(8, why)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Bytes not read yet.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    #[inline]
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    #[inline]
    pub(crate) fn expect_end(&self, why: &'static str) -> Result<(), FrameError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.malformed(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    fn fds(n: usize) -> Vec<OwnedFd> {
        (0..n).map(|_| rustix::io::dup(std::io::stdin()).unwrap()).collect()
    }

    fn raw(fds: &[Option<OwnedFd>]) -> Vec<Option<i32>> {
        fds.iter().map(|fd| fd.as_ref().map(AsRawFd::as_raw_fd)).collect()
    }

    /// A frame announcing `count` descriptors, `len` bytes long in all.
    fn announcing(count: u32, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let at = begin_frame_with_fds(&mut out, 1, count as usize).unwrap();
        out.resize(len, 0);
        end_frame(&mut out, at).unwrap();
        out
    }

    const SHORT: Shortage = Shortage::OpenFiles { limit: 1000 };

    #[test]
    fn a_batch_cut_short_empties_its_own_places_and_shifts_nothing() {
        // 600 descriptors in three batches (253, 253, 94), one byte each
        // for the first two, as the outbox sends them; the kernel kept
        // only 100 of the second.
        let bytes = announcing(600, 64);
        let (first, second, third) = (fds(253), fds(100), fds(94));
        let expect_first: Vec<Option<i32>> = first.iter().map(|f| Some(f.as_raw_fd())).collect();
        let expect_second: Vec<Option<i32>> = second.iter().map(|f| Some(f.as_raw_fd())).collect();
        let expect_third: Vec<Option<i32>> = third.iter().map(|f| Some(f.as_raw_fd())).collect();
        let mut reader = FrameReader::new(1 << 20);
        reader.push_received(&bytes[..1], first, None);
        reader.push_received(&bytes[1..2], second, Some(SHORT));
        reader.push_received(&bytes[2..], third, None);
        let mut frame = reader.next_frame().unwrap().unwrap();
        assert_eq!(frame.fds.len(), 600);
        // Items of 200, 100, 206 and 94 descriptors.
        let a = frame.fds.take(200).unwrap();
        assert_eq!(raw(&a), expect_first[..200]);
        // 53 of the first batch and 47 of the second arrived.
        let b = frame.fds.take(100).unwrap();
        assert_eq!(raw(&b)[..53], expect_first[200..]);
        assert_eq!(raw(&b)[53..], expect_second[..47]);
        // Places 300..506: 53 arrived, then the 153 the kernel dropped.
        let lost = frame.fds.take(206).unwrap_err();
        let item = crate::ipc::protocol::Item::inline(b"", 206);
        let message = lost.message(&item, 0, crate::ipc::lost::Receiver::Caller);
        assert!(
            message.starts_with("153 shared buffers could not be received"),
            "{message}"
        );
        // The third batch is whole, and in its own places.
        let d = frame.fds.take(94).unwrap();
        assert_eq!(raw(&d), expect_third);
        assert_eq!(frame.fds.len(), 0);
    }

    #[test]
    fn a_frame_whose_batches_do_not_add_up_trusts_no_descriptor() {
        // A cut batch that claims more than a batch holds, then another.
        let bytes = announcing(300, 64);
        let mut reader = FrameReader::new(1 << 20);
        reader.push_received(&bytes[..1], fds(260), Some(SHORT));
        reader.push_received(&bytes[1..], fds(10), None);
        let mut frame = reader.next_frame().unwrap().unwrap();
        assert!(frame.fds.take(1).is_err());
        // Without a loss, too few descriptors are missing ones (the
        // item's decoding says so), never someone else's.
        let bytes = announcing(3, 16);
        let mut reader = FrameReader::new(1 << 20);
        reader.push_received(&bytes, fds(2), None);
        let mut frame = reader.next_frame().unwrap().unwrap();
        assert_eq!(raw(&frame.fds.take(3).unwrap()), [None, None, None]);
    }

    #[test]
    fn a_loss_in_one_frame_is_not_the_next_frames() {
        let (one, two) = (announcing(2, 16), announcing(2, 16));
        let mut reader = FrameReader::new(1 << 20);
        reader.push_received(&one, fds(1), Some(SHORT));
        reader.push_received(&two, fds(2), None);
        let mut first = reader.next_frame().unwrap().unwrap();
        assert!(first.fds.take(2).is_err());
        drop(first);
        let mut second = reader.next_frame().unwrap().unwrap();
        assert!(second.fds.take(2).unwrap().iter().all(Option::is_some));
    }
}
