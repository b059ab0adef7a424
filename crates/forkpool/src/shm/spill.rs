//! Large arguments and results: encoded straight into a lane.
//!
//! An encoded item goes into the frame being built, as long as it stays
//! small. Once it passes [`SPILL_AT`] bytes, what it has so far moves into
//! a lane (a memfd this process maps writable and reuses, see `lanes.rs`)
//! and the rest of the encoding is copied there: a large byte string in
//! one copy, anything encoded piece by piece through a staging area (so
//! that encoding a `Vec<u8>` costs a `Vec::push` a byte). The lane is then
//! lent and travels beside the frame as the item's out-of-line body; the
//! receiver maps it read-only and decodes from the mapping. One copy on
//! each side (into the lane; out of it into the receiver's values), no
//! socket buffers, the frame itself stays small, and a lane reused from an
//! earlier item costs no new pages.
//!
//! The size limit (`max_message_size`) is checked as the encoding grows, so
//! an argument over it is refused without being encoded whole (at most the
//! buffer it is written into fills up first).

use super::lanes::{Lanes, Writing};
use crate::ipc::lost::{Receiver, explain};
use crate::ipc::outbox::Attachment;

/// Items larger than this travel out of line. Below it, one copy into the
/// socket and one out are cheaper than a lane's mapping and descriptors
/// (see `BENCHMARKS.md`, "The data path").
pub(crate) const SPILL_AT: usize = 256 << 10;

/// Once spilled, staged bytes move to the lane in chunks of this size.
const CHUNK: usize = 256 << 10;

/// Runs of at most this many bytes are copied byte by byte (see
/// `try_extend`).
const SHORT: usize = 16;

/// Why an encoding stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpillError {
    /// It passed the size limit.
    TooLarge { limit: usize },
    /// The lane could not be made or written (out of memory, or of
    /// descriptors).
    Memory(String),
}

/// An item's body out of line: what to send beside the frame (the lane,
/// then its board if it has one) and the length of its encoding.
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) fds: Vec<Attachment>,
    pub(crate) len: u64,
}

/// A `postcard` flavor writing one item onto the end of `out`, spilling
/// into a lane once it passes [`SPILL_AT`] bytes.
///
/// Almost every item is small, and a `map` encodes millions a second: for
/// them this is `Vec::push` and `Vec::extend_from_slice`, nothing more.
/// Sizes are looked at only where `out` would have to grow (and once at
/// the end, by [`Spill::is_inline`]): `out`'s spare capacity is the staging
/// area, so an item never takes more memory than `out` already has before
/// it is spilled or refused. Everything about spilling lives in
/// [`Spilled`], made only when it spills.
pub(crate) struct Spill<'a> {
    out: &'a mut Vec<u8>,
    /// Where the item starts in `out`.
    start: usize,
    limit: usize,
    lanes: &'a Lanes,
    /// The state of an encoding that spilled or failed.
    cold: Option<Box<Spilled<'a>>>,
}

/// What a spilled (or failed) encoding needs beyond `Spill`.
#[derive(Default)]
struct Spilled<'a> {
    lane: Option<Writing<'a>>,
    /// Bytes already in the lane.
    written: usize,
    /// Why it stopped early, if it did.
    error: Option<SpillError>,
}

impl<'a> Spill<'a> {
    /// Appends to `out`, spilling into a lane of `lanes`; refuses
    /// encodings over `limit` bytes.
    #[inline(always)]
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize, lanes: &'a Lanes) -> Spill<'a> {
        Spill {
            start: out.len(),
            out,
            limit,
            lanes,
            cold: None,
        }
    }

    /// After a successful encoding: whether it is all in `out`, within
    /// `SPILL_AT` and the limit (the common case).
    #[inline(always)]
    pub(crate) fn is_inline(&self) -> bool {
        self.cold.is_none() && self.staged() <= SPILL_AT.min(self.limit)
    }

    /// `out`, for an encoding that [`is_inline`](Spill::is_inline).
    #[inline(always)]
    pub(crate) fn into_out(self) -> &'a mut Vec<u8> {
        self.out
    }

    /// After an encoding that did not end inline: its out-of-line body, if
    /// it has one, or why it failed (a lane it started is given back).
    /// Spills what is still staged if the encoding ended past `SPILL_AT`.
    /// `out` keeps the inline bytes, if any.
    #[cold]
    pub(crate) fn settle(mut self, encoded: bool) -> (&'a mut Vec<u8>, Result<Option<Body>, SpillError>) {
        let settled = self.settled(encoded);
        if settled.is_err()
            && let Some(lane) = self.cold.as_mut().and_then(|c| c.lane.take())
        {
            lane.abandon();
        }
        (self.out, settled)
    }

    fn settled(&mut self, encoded: bool) -> Result<Option<Body>, SpillError> {
        let total = self.cold.as_ref().map_or(0, |c| c.written) + self.staged();
        if let Some(error) = self.cold.as_mut().and_then(|c| c.error.take()) {
            return Err(error);
        }
        if total > self.limit {
            return Err(SpillError::TooLarge { limit: self.limit });
        }
        if !encoded {
            // The caller reports its own error.
            return Ok(None);
        }
        if self.cold.is_none() && total <= SPILL_AT {
            return Ok(None);
        }
        self.write_out(&[])
            .map_err(|e| SpillError::Memory(explain(&e, Receiver::Process)))?;
        let lane = self.cold.as_mut().and_then(|c| c.lane.take());
        let fds = lane
            .ok_or_else(|| std::io::Error::other("no lane"))
            .and_then(Writing::lend)
            .map_err(|e| SpillError::Memory(explain(&e, Receiver::Process)))?;
        Ok(Some(Body { fds, len: total as u64 }))
    }

    /// Bytes of the item in `out`.
    #[inline]
    fn staged(&self) -> usize {
        self.out.len() - self.start
    }

    fn fail(&mut self, error: SpillError) -> postcard::Error {
        self.cold.get_or_insert_with(Box::default).error = Some(error);
        postcard::Error::SerializeBufferFull
    }

    /// `more` does not fit in `out`'s spare capacity: past the limit,
    /// refuses it; past `SPILL_AT`, moves the staged bytes, then `more`,
    /// into the lane (taken now if need be); otherwise lets `out` grow.
    #[cold]
    #[inline(never)]
    fn overflow(&mut self, more: &[u8]) -> postcard::Result<()> {
        let written = self.cold.as_ref().map_or(0, |c| c.written);
        let total = written + self.staged() + more.len();
        if total > self.limit {
            return Err(self.fail(SpillError::TooLarge { limit: self.limit }));
        }
        if total <= SPILL_AT && self.cold.is_none() {
            self.out.extend_from_slice(more);
            return Ok(());
        }
        if let Err(e) = self.write_out(more) {
            return Err(self.fail(SpillError::Memory(explain(&e, Receiver::Process))));
        }
        // Stage at least a chunk between writes.
        self.out.reserve(CHUNK);
        Ok(())
    }

    /// Copies the staged bytes, then `more`, into the lane (taken now if
    /// need be).
    fn write_out(&mut self, more: &[u8]) -> std::io::Result<()> {
        let start = self.start;
        let staged = self.staged();
        let lanes = self.lanes;
        let cold = self.cold.get_or_insert_with(Box::default);
        let end = cold.written + staged + more.len();
        let lane = match &mut cold.lane {
            Some(lane) => lane,
            None => cold.lane.insert(lanes.take(end)?),
        };
        lane.reserve(end, cold.written)?;
        lane.write_at(cold.written, &self.out[start..])?;
        lane.write_at(cold.written + staged, more)?;
        cold.written = end;
        self.out.truncate(start);
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

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        if self.out.len() == self.out.capacity() {
            return self.overflow(&[data]);
        }
        self.out.push(data);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() > self.out.capacity() - self.out.len() {
            return self.overflow(data);
        }
        if data.len() <= SHORT {
            // A varint, most often (postcard writes every integer wider
            // than a byte through here): a call into `memcpy` for 1 to 10
            // bytes cost a `map` of small items more than its own loop.
            for &byte in data {
                self.out.push(byte);
            }
        } else {
            self.out.extend_from_slice(data);
        }
        Ok(())
    }

    #[inline]
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}
