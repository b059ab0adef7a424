//! Arguments and results as items of a frame: `postcard` bytes, inline or
//! out of line, with the descriptors of the shared buffers they hold.
//!
//! [`encode`] writes one item (see `protocol` for the layout) and collects
//! its descriptors; [`decode`] reads one back from the bytes and the
//! descriptors that came with it. Both treat what they are given as
//! untrusted: a missing descriptor, one that is not a sealed memfd, or one
//! whose size is not the announced one is an error for that item alone.

use std::os::fd::OwnedFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::bulk;
use super::outbox::Attachment;
use super::protocol::{self, Item, OutOfLine};
use crate::shm::lanes::{self, Lanes};
use crate::shm::spill::{Body, Spill, SpillError};
use crate::shm::wire;
use crate::sys::memfd::Sealed;

/// Why a task's data could not cross the process boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The argument did not decode as `A`.
    Decode(String),
    /// The result did not encode.
    Encode(String),
}

impl CallError {
    pub(crate) fn message(&self) -> String {
        match self {
            CallError::Decode(m) => format!("cannot decode the argument: {m}"),
            CallError::Encode(m) => format!("cannot encode the result: {m}"),
        }
    }

    /// The bare reason, for callers that say what was being coded.
    pub(crate) fn reason(&self) -> &str {
        match self {
            CallError::Decode(m) | CallError::Encode(m) => m,
        }
    }
}

/// Where one encoded item goes.
#[derive(Debug)]
pub(crate) struct Sink<'a> {
    /// The buffer of items it is appended to.
    pub(crate) out: &'a mut Vec<u8>,
    /// The descriptors of the items in `out`; the item's are appended.
    pub(crate) fds: &'a mut Vec<Attachment>,
    /// The most bytes its encoding may take.
    pub(crate) limit: usize,
    /// Where it goes if it is large.
    pub(crate) lanes: &'a Lanes,
}

impl Sink<'_> {
    /// The same sink, for one item.
    #[inline(always)]
    pub(crate) fn reborrow(&mut self) -> Sink<'_> {
        Sink {
            out: self.out,
            fds: self.fds,
            limit: self.limit,
            lanes: self.lanes,
        }
    }
}

/// Encodes `value` as one item at the end of `sink`. Returns the size of
/// its encoding. On error nothing is appended.
///
/// Inlined into each task's entry point: for the common small item without
/// descriptors it costs the encoding itself, a reserved header and two
/// thread-local flags; everything else is in [`finish_encoding`].
#[inline(always)]
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, sink: Sink<'_>) -> Result<u64, CallError> {
    let Sink { out, fds, limit, lanes } = sink;
    let at = out.len();
    let fds_at = fds.len();
    out.extend_from_slice(&[0; 4]);
    let mut spill = Spill::new(out, limit, lanes);
    let result = wire::encoding(fds, || postcard::serialize_with_flavor(value, &mut spill));
    if result.is_ok() && fds.len() == fds_at && spill.is_inline() {
        // Inline, no descriptors: at most `SPILL_AT` bytes, so the header
        // is the length alone.
        let out = spill.into_out();
        let size = out.len() - at - 4;
        debug_assert!(size <= protocol::MAX_INLINE);
        out[at..at + 4].copy_from_slice(&(size as u32).to_le_bytes());
        return Ok(size as u64);
    }
    finish_encoding(
        result.map_err(|e| super::serde_message::of_encoding(value, &e)),
        spill,
        Encoded { at, fds, fds_at },
    )
}

/// Where an item's encoding went, besides its bytes.
struct Encoded<'a> {
    /// Its header's place in `out`.
    at: usize,
    fds: &'a mut Vec<Attachment>,
    /// Its first descriptor's place in `fds`.
    fds_at: usize,
}

/// The rest of [`encode`], for items that failed, spilled or hold shared
/// buffers.
#[cold]
#[inline(never)]
fn finish_encoding(result: Result<(), String>, spill: Spill<'_>, encoded: Encoded<'_>) -> Result<u64, CallError> {
    let Encoded { at, fds, fds_at } = encoded;
    let (out, settled) = spill.settle(result.is_ok());
    let fail = |out: &mut Vec<u8>, fds: &mut Vec<Attachment>, m: String| {
        out.truncate(at);
        fds.truncate(fds_at);
        Err(CallError::Encode(m))
    };
    let body = match (result, settled) {
        (_, Err(SpillError::TooLarge { limit })) => {
            return fail(
                out,
                fds,
                format!("it is over the pool's message size limit of {limit} bytes"),
            );
        }
        (_, Err(SpillError::Memory(m))) => return fail(out, fds, format!("cannot put it out of line: {m}")),
        (Err(m), Ok(_)) => return fail(out, fds, m),
        (Ok(()), Ok(body)) => body,
    };
    let shared = (fds.len() - fds_at) as u32;
    let closed = match body {
        Some(Body { fds: body_fds, len }) => {
            let board = body_fds.len() > 1;
            fds.splice(fds_at..fds_at, body_fds);
            protocol::close_item(out, at, Some(OutOfLine { len, board }), shared).map(|()| len)
        }
        None => {
            let size = (out.len() - at - 4) as u64;
            protocol::close_item(out, at, None, shared).map(|()| size)
        }
    };
    match closed {
        Ok(size) => Ok(size),
        Err(m) => fail(out, fds, m),
    }
}

/// One received item, as a task's entry point takes it.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    pub(crate) item: Item<'a>,
    pub(crate) fds: Vec<Option<OwnedFd>>,
    pub(crate) limit: usize,
}

/// Decodes one item: `item` as its header described it, `fds` the
/// descriptors it owns (`None` for one that did not arrive). `limit`
/// bounds an out-of-line body.
///
/// Inlined into each task's entry point: an inline item without
/// descriptors is `postcard` and a thread-local flag; the rest is in
/// [`decode_attached`].
#[inline(always)]
pub(crate) fn decode<T: DeserializeOwned>(
    item: &Item<'_>,
    fds: Vec<Option<OwnedFd>>,
    limit: usize,
) -> Result<T, CallError> {
    if item.out_of_line().is_none() && fds.is_empty() {
        return wire::decoding_plain(|| postcard::from_bytes(item.inline))
            .map_err(|e| decode_error::<T>(item.inline, e));
    }
    decode_attached(item, fds, limit)
}

/// [`decode`] for an item with descriptors or an out-of-line body.
#[cold]
#[inline(never)]
fn decode_attached<T: DeserializeOwned>(
    item: &Item<'_>,
    mut fds: Vec<Option<OwnedFd>>,
    limit: usize,
) -> Result<T, CallError> {
    let fail = |m: String| Err(CallError::Decode(m));
    let Some(body) = item.out_of_line() else {
        return wire::decoding(fds, || postcard::from_bytes(item.inline))
            .map_err(|e| decode_error::<T>(item.inline, e));
    };
    let mut own = fds.drain(..fds.len().min(body.fds())).collect::<Vec<_>>().into_iter();
    let (fd, board) = (own.next().flatten(), own.next().flatten());
    // Whatever happens to the item, the lane's creator may have it back.
    let _done = board.map(Done);
    if body.len > limit as u64 {
        return fail(format!(
            "it is {} bytes, over the pool's message size limit of {limit} bytes",
            body.len
        ));
    }
    let Some(fd) = fd else {
        return fail("the descriptor of its body is missing".into());
    };
    let sealed = match Sealed::check_holding(fd, body.len) {
        Ok(sealed) => sealed,
        Err(refusal) => return fail(format!("its body: {refusal}")),
    };
    // Read whole right away: map every page at once.
    let view = match sealed.view(true) {
        Ok(view) => view,
        Err(e) => return fail(format!("cannot map its body: {e}")),
    };
    let bytes = view.bytes();
    wire::decoding(fds, || bulk::from_bytes(bytes)).map_err(|e| decode_error::<T>(bytes, e))
}

/// Tells a lane's creator that this process is done with it, when dropped.
struct Done(OwnedFd);

impl Drop for Done {
    fn drop(&mut self) {
        lanes::say_done(&self.0);
    }
}

/// Why `bytes` did not decode as a `T`: the refusal of a shared buffer, if
/// one was refused (`postcard` keeps no message of its own), or the
/// `Deserialize` impl's own message (see `ipc::serde_message`), or
/// `postcard`'s.
#[cold]
#[inline(never)]
fn decode_error<T: DeserializeOwned>(bytes: &[u8], e: postcard::Error) -> CallError {
    let message = wire::take_refusal().unwrap_or_else(|| super::serde_message::of_decoding::<T>(bytes, &e));
    // The failed attempt's buffers are not needed any more.
    wire::forget_failed();
    CallError::Decode(message)
}
