//! Large arguments and results: encoded straight into a memfd.
//!
//! An encoded item goes into the frame being built, as long as it stays
//! small. Once it passes [`SPILL_AT`] bytes, what it has so far moves into
//! a new memfd and the rest of the encoding is written there, in chunks
//! through a small staging area (so that encoding a `Vec<u8>` byte by byte
//! costs a `Vec::push` a byte, not a system call). The memfd is then sealed
//! and travels beside the frame as the item's out-of-line body; the
//! receiver maps it read-only and decodes from the mapping. One copy on
//! each side (into the mapping; out of it into the receiver's values), no
//! socket buffers, and the frame itself stays small.
//!
//! The size limit (`max_message_size`) is checked as the encoding grows, so
//! an argument over it is refused without being encoded whole.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use super::Segment;
use crate::sys::memfd::{self, Sealed, View};

/// Items larger than this travel out of line. Below it, one copy into the
/// socket and one out are cheaper than a memfd's set-up (see
/// `BENCHMARKS.md`, "The data path").
pub(crate) const SPILL_AT: usize = 256 << 10;

/// Once spilled, staged bytes move to the memfd in chunks of this size.
const CHUNK: usize = 256 << 10;

/// The name spilled items' memfds carry in `/proc/PID/fd` (not a path).
const SPILL_NAME: &std::ffi::CStr = c"forkpool-frame";

/// Why an encoding stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpillError {
    /// It passed the size limit.
    TooLarge { limit: usize },
    /// The memfd could not be made or written.
    Memory(String),
}

/// A `postcard` flavor writing one item onto the end of `out`, spilling
/// into a memfd past [`SPILL_AT`] bytes; [`Spill::finish`] gives the memfd,
/// if it spilled.
///
/// The memfd is filled with `write(2)`, never mapped here: the kernel
/// allocates each page as it copies into it, without zeroing it first, and
/// a shortage of memory is an error from the call, not a `SIGBUS`. With
/// no mapping of it anywhere, it is then sealed with `F_SEAL_WRITE`.
pub(crate) struct Spill<'a> {
    out: &'a mut Vec<u8>,
    /// Where the item starts in `out`.
    start: usize,
    limit: usize,
    /// Staged bytes past which `out`'s tail moves on (into a new memfd,
    /// or into the existing one).
    flush_at: usize,
    file: Option<std::fs::File>,
    /// Bytes already in the memfd.
    written: usize,
    /// Why it stopped early, if it did.
    error: Option<SpillError>,
    /// The sealed memfd, once finalized after spilling.
    spilled: Option<Arc<Segment>>,
}

impl<'a> Spill<'a> {
    /// Appends to `out`; refuses encodings over `limit` bytes.
    #[inline]
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize) -> Spill<'a> {
        let start = out.len();
        Spill {
            out,
            start,
            limit,
            flush_at: SPILL_AT.min(limit).saturating_add(1),
            file: None,
            written: 0,
            error: None,
            spilled: None,
        }
    }

    /// After encoding: the memfd it spilled into, if it did, and why it
    /// stopped, if it stopped early.
    #[inline]
    pub(crate) fn finish(self) -> (Option<Arc<Segment>>, Option<SpillError>) {
        (self.spilled, self.error)
    }

    #[inline]
    fn staged(&self) -> usize {
        self.out.len() - self.start
    }

    fn fail(&mut self, error: SpillError) -> postcard::Error {
        self.error = Some(error);
        postcard::Error::SerializeBufferFull
    }

    /// Moves the staged bytes, then `more`, into the memfd (made now if
    /// need be).
    #[cold]
    fn move_out(&mut self, more: &[u8]) -> postcard::Result<()> {
        let total = self.written + self.staged() + more.len();
        if total > self.limit {
            return Err(self.fail(SpillError::TooLarge { limit: self.limit }));
        }
        if total <= SPILL_AT && self.file.is_none() {
            // Only `limit` was near: it is not passed yet.
            self.out.extend_from_slice(more);
            self.flush_at = self.limit - self.written + 1;
            return Ok(());
        }
        if let Err(e) = self.write_out(more) {
            return Err(self.fail(SpillError::Memory(e.to_string())));
        }
        self.flush_at = CHUNK;
        Ok(())
    }

    fn write_out(&mut self, more: &[u8]) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(std::fs::File::from(memfd::create(SPILL_NAME)?)),
        };
        file.write_all(&self.out[self.start..])?;
        file.write_all(more)?;
        self.written += self.out.len() - self.start + more.len();
        self.out.truncate(self.start);
        Ok(())
    }
}

/// The flavor is a reference to the state, so that `postcard` moves a
/// pointer around rather than the whole state (a measurable cost per item
/// for the many tiny items of a `map`).
impl postcard::ser_flavors::Flavor for &mut Spill<'_> {
    /// Nothing: the output stays in the state, so that the result of each
    /// call is a register, not a structure returned through memory.
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.out.push(data);
        if self.staged() >= self.flush_at {
            return self.move_out(&[]);
        }
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.staged() + data.len() >= self.flush_at {
            return self.move_out(data);
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn finalize(self) -> postcard::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        self.seal()
    }
}

impl Spill<'_> {
    #[cold]
    fn seal(&mut self) -> postcard::Result<()> {
        let sealed = self
            .write_out(&[])
            .and_then(|()| self.file.take().ok_or_else(|| std::io::Error::other("no memfd")))
            .and_then(|file| Sealed::from_written(OwnedFd::from(file)));
        match sealed {
            // Sent, not read here: no mapping.
            Ok(sealed) => {
                self.spilled = Some(Arc::new(Segment::new(sealed, View::Empty)));
                Ok(())
            }
            Err(e) => Err(self.fail(SpillError::Memory(e.to_string()))),
        }
    }
}
