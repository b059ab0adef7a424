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
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};

use super::outbox::MAX_FDS_PER_MESSAGE;

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

/// The descriptors that came with one frame, in the order they were sent.
#[derive(Debug, Default)]
pub(crate) struct FrameFds {
    fds: VecDeque<OwnedFd>,
    /// Every descriptor the frame announced arrived (none was lost to a
    /// truncated control message, e.g. when this process ran out of
    /// descriptors).
    intact: bool,
}

impl FrameFds {
    /// Descriptors that arrived with nothing announcing them.
    pub(crate) fn none() -> FrameFds {
        FrameFds {
            fds: VecDeque::new(),
            intact: true,
        }
    }

    /// Takes the next `n` descriptors, in order. A descriptor that did not
    /// arrive is `None`; once any is missing, every later one counts as
    /// missing too (which ones were lost cannot be known).
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Vec<Option<OwnedFd>> {
        if n == 0 {
            return Vec::new();
        }
        (0..n)
            .map(|_| if self.intact { self.fds.pop_front() } else { None })
            .collect()
    }

    /// How many descriptors are left.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.fds.len()
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
    truncated: bool,
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
        self.compact();
        // In-memory input: grow as any `Vec` does (not `make_room`'s
        // fallible path, which guards a socket's reads).
        let need = self.end.saturating_add(bytes.len());
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
        if !fds.is_empty() {
            self.arrivals.push_back(Arrival {
                at: self.base + self.end as u64 - 1,
                fds,
                truncated: false,
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
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(&mut self.buf[self.end..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        let truncated = msg.flags.contains(ReturnFlags::CTRUNC);
        if msg.bytes > 0 && (truncated || !fds.is_empty()) {
            self.arrivals.push_back(Arrival {
                at: self.base + (self.end + msg.bytes) as u64 - 1,
                fds,
                truncated,
            });
        }
        self.end += msg.bytes;
        Ok(msg.bytes)
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
        let mut fds = FrameFds::none();
        while self.arrivals.front().is_some_and(|a| a.at < frame_end) {
            let Some(arrival) = self.arrivals.pop_front() else {
                break;
            };
            if arrival.at < frame_start {
                // Sent with a frame that has been handled: nobody's.
                continue;
            }
            fds.fds.extend(arrival.fds);
            fds.intact &= !arrival.truncated;
        }
        let body_start = self.start + HEADER_LEN;
        self.start += total;
        let mut body = &self.buf[body_start..body_start + len];
        if kind & ATTACHED != 0 {
            match body.split_first_chunk::<4>() {
                Some((count, rest)) => {
                    body = rest;
                    fds.intact &= u32::from_le_bytes(*count) as usize == fds.fds.len();
                }
                // Too short to say: no descriptor is trusted, and the
                // body fails to parse as whatever kind it claims to be.
                None => fds.intact = false,
            }
        } else {
            // Descriptors nobody announced: close them.
            fds.fds.clear();
        }
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
