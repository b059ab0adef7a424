//! Length-prefixed frames.
//!
//! A frame is a 4-byte little-endian body length, a 1-byte kind, then the
//! body. The reader never trusts a length: a frame longer than the
//! configured maximum, a stream that ends inside a frame, or a body that
//! does not parse is a [`FrameError`], never a panic, a huge allocation up
//! front, or a wait for bytes that will not come.

use std::io;
use std::os::fd::AsFd;

/// Bytes before the body: length (4) and kind (1).
pub(crate) const HEADER_LEN: usize = 5;

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
        not(test),
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

/// One decoded frame, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) kind: u8,
    pub(crate) body: &'a [u8],
}

/// Accumulates bytes from a stream and splits them into frames.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    /// Start of the first byte not yet returned as part of a frame.
    start: usize,
    max_body: usize,
}

impl FrameReader {
    /// A reader that refuses bodies longer than `max_body` bytes.
    pub(crate) fn new(max_body: usize) -> Self {
        FrameReader {
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
            max_body,
        }
    }

    /// Appends bytes (used by tests and by in-memory callers).
    #[cfg(test)]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Reads once from `fd` into the buffer. Returns the number of bytes
    /// read; 0 means end of stream. `WouldBlock` and `Interrupted` are
    /// passed through for the caller to handle.
    pub(crate) fn read_from(&mut self, fd: impl AsFd) -> io::Result<usize> {
        self.compact();
        let want = self.wanted_capacity();
        if self.buf.capacity() - self.buf.len() < want {
            self.buf
                .try_reserve(want)
                .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "cannot grow frame buffer"))?;
        }
        let n = rustix::io::read(fd, rustix::buffer::spare_capacity(&mut self.buf))?;
        Ok(n)
    }

    /// How much free space the next read should have: enough for the rest of
    /// a partially received frame (up to the limit), and at least 64 KiB.
    fn wanted_capacity(&self) -> usize {
        let pending = &self.buf[self.start..];
        let frame_rest = match parse_header(pending) {
            Some((len, _)) if len <= self.max_body => (HEADER_LEN + len).saturating_sub(pending.len()),
            _ => 0,
        };
        frame_rest.max(64 * 1024)
    }

    /// Drops bytes already returned, when that frees a worthwhile amount.
    fn compact(&mut self) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.is_empty() && self.buf.capacity() > 1 << 20 {
            // A huge frame has been handled: give its memory back.
            self.buf.shrink_to(64 << 10);
        }
    }

    /// Returns the next complete frame, `None` if more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        let pending = &self.buf[self.start..];
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
        let body_start = self.start + HEADER_LEN;
        self.start += total;
        Ok(Some(Frame {
            kind,
            body: &self.buf[body_start..body_start + len],
        }))
    }

    /// Checks the stream ended on a frame boundary. Call at end of stream,
    /// after `next_frame` has returned `None`.
    #[cfg(test)]
    pub(crate) fn finish(&self) -> Result<(), FrameError> {
        let pending = &self.buf[self.start..];
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
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { bytes, what }
    }

    fn malformed(&self, why: &'static str) -> FrameError {
        FrameError::Malformed { what: self.what, why }
    }

    pub(crate) fn take(&mut self, n: usize, why: &'static str) -> Result<&'a [u8], FrameError> {
        if self.bytes.len() < n {
            return Err(self.malformed(why));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, why: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, why)?[0])
    }

    pub(crate) fn u32(&mut self, why: &'static str) -> Result<u32, FrameError> {
        let b = self.take(4, why)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, why: &'static str) -> Result<u64, FrameError> {
        let b = self.take(8, why)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn expect_end(&self, why: &'static str) -> Result<(), FrameError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.malformed(why))
        }
    }
}
