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

use super::outbox::Attachment;
use super::protocol::{self, Item};
use crate::shm::spill::{Spill, SpillError};
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
}

/// Encodes `value` as one item at the end of `sink`. Returns the size of
/// its encoding. On error nothing is appended.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, sink: Sink<'_>) -> Result<u64, CallError> {
    let Sink { out, fds, limit } = sink;
    let at = out.len();
    let fds_at = fds.len();
    out.extend_from_slice(&[0; 4]);
    let mut spill = Spill::new(out, limit);
    let result = wire::encoding(fds, || postcard::serialize_with_flavor(value, &mut spill));
    let (spilled, why) = spill.finish();
    if let Err(e) = result {
        out.truncate(at);
        fds.truncate(fds_at);
        return Err(CallError::Encode(match why {
            Some(SpillError::TooLarge { limit }) => {
                format!("it is over the pool's message size limit of {limit} bytes")
            }
            Some(SpillError::Memory(m)) => format!("no memory for it: {m}"),
            None => e.to_string(),
        }));
    }
    let shared = (fds.len() - fds_at) as u32;
    let size = match spilled {
        Some(body) => {
            let size = body.len() as u64;
            fds.insert(fds_at, Attachment::new(body));
            protocol::close_item(out, at, Some(size), shared).map(|()| size)
        }
        None => {
            let size = (out.len() - at - 4) as u64;
            protocol::close_item(out, at, None, shared).map(|()| size)
        }
    };
    size.map_err(|m| {
        out.truncate(at);
        fds.truncate(fds_at);
        CallError::Encode(m)
    })
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
#[inline]
pub(crate) fn decode<T: DeserializeOwned>(
    item: &Item<'_>,
    mut fds: Vec<Option<OwnedFd>>,
    limit: usize,
) -> Result<T, CallError> {
    let fail = |m: String| Err(CallError::Decode(m));
    let body;
    let bytes = match item.out_of_line {
        None => item.inline,
        Some(size) => {
            if size > limit as u64 {
                return fail(format!(
                    "it is {size} bytes, over the pool's message size limit of {limit} bytes"
                ));
            }
            let Some(Some(fd)) = (!fds.is_empty()).then(|| fds.remove(0)) else {
                return fail("the descriptor of its body is missing".into());
            };
            let sealed = match Sealed::check(fd, size) {
                Ok(sealed) => sealed,
                Err(refusal) => return fail(format!("its body: {refusal}")),
            };
            // Read whole right away: map every page at once.
            body = match sealed.view(true) {
                Ok(view) => view,
                Err(e) => return fail(format!("cannot map its body: {e}")),
            };
            body.bytes()
        }
    };
    wire::decoding(fds, || postcard::from_bytes(bytes))
        .map_err(|e| CallError::Decode(wire::take_refusal().unwrap_or_else(|| e.to_string())))
}
