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

use std::sync::Arc;

use super::Segment;
use crate::sys::memfd::Draft;

/// Items larger than this travel out of line. Below it, one copy into the
/// socket and one out are cheaper than a memfd's set-up (see
/// `BENCHMARKS.md`, "The data path").
pub(crate) const SPILL_AT: usize = 256 << 10;

/// Once spilled, staged bytes move to the memfd in chunks of this size.
const CHUNK: usize = 64 << 10;

/// The least a memfd grows by.
const MIN_GROWTH: usize = 4 << 20;

/// The name spilled items' memfds carry in `/proc/PID/fd` (not a path).
const SPILL_NAME: &std::ffi::CStr = c"forkpool-frame";

/// Why an encoding stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpillError {
    /// It passed the size limit.
    TooLarge { limit: usize },
    /// The memfd could not be made or grown.
    Memory(String),
}

/// A `postcard` flavor writing one item onto the end of `out`, spilling
/// into a memfd past [`SPILL_AT`] bytes. Its output is the memfd, if it
/// spilled.
pub(crate) struct Spill<'a> {
    out: &'a mut Vec<u8>,
    /// Where the item starts in `out`.
    start: usize,
    limit: usize,
    /// Staged bytes past which `out`'s tail moves on (into a new memfd,
    /// or into the existing one).
    flush_at: usize,
    draft: Option<Draft>,
    /// Bytes already in the memfd.
    written: usize,
    error: &'a mut Option<SpillError>,
}

impl<'a> Spill<'a> {
    /// Appends to `out`; refuses encodings over `limit` bytes, reporting
    /// why in `error`.
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize, error: &'a mut Option<SpillError>) -> Spill<'a> {
        let start = out.len();
        Spill {
            out,
            start,
            limit,
            flush_at: SPILL_AT.min(limit).saturating_add(1),
            draft: None,
            written: 0,
            error,
        }
    }

    fn staged(&self) -> usize {
        self.out.len() - self.start
    }

    fn fail(&mut self, error: SpillError) -> postcard::Error {
        *self.error = Some(error);
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
        if total > SPILL_AT || self.draft.is_some() {
            let capacity = self.draft.as_ref().map_or(0, Draft::len);
            if total > capacity {
                let grown = total.max(capacity + capacity / 4).max(MIN_GROWTH).min(self.limit);
                let result = match &mut self.draft {
                    Some(draft) => draft.grow(grown),
                    None => Draft::zeroed(SPILL_NAME, grown).map(|d| {
                        self.draft = Some(d);
                    }),
                };
                if let Err(e) = result {
                    return Err(self.fail(SpillError::Memory(e.to_string())));
                }
            }
            let Some(draft) = &mut self.draft else {
                return Err(self.fail(SpillError::Memory("no memfd".into())));
            };
            let bytes = draft.bytes_mut();
            let staged = &self.out[self.start..];
            bytes[self.written..self.written + staged.len()].copy_from_slice(staged);
            self.written += staged.len();
            bytes[self.written..self.written + more.len()].copy_from_slice(more);
            self.written += more.len();
            self.out.truncate(self.start);
            self.flush_at = CHUNK;
        } else {
            // Only `limit` was near: it is not passed yet.
            self.out.extend_from_slice(more);
            self.flush_at = self.limit - self.written + 1;
        }
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for Spill<'_> {
    /// The memfd holding the encoding, if it spilled.
    type Output = Option<Arc<Segment>>;

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

    fn finalize(mut self) -> postcard::Result<Option<Arc<Segment>>> {
        let Some(mut draft) = self.draft.take() else {
            return Ok(None);
        };
        let staged = &self.out[self.start..];
        draft.bytes_mut()[self.written..self.written + staged.len()].copy_from_slice(staged);
        self.written += staged.len();
        self.out.truncate(self.start);
        if let Err(e) = draft.truncate(self.written) {
            return Err(self.fail(SpillError::Memory(e.to_string())));
        }
        // Sealed in place: the mapping goes when the last holder drops the
        // segment (after the frame has gone), off the sending path.
        let (sealed, view) = draft.freeze();
        Ok(Some(Arc::new(Segment::new(sealed, view))))
    }
}
