//! How shared buffers serialize.
//!
//! While the pool encodes a task's argument or result (or, later, a stream
//! item) into a frame, a thread-local *outgoing table* is active: a
//! [`SharedBytes`](super::SharedBytes) then writes only `(index, length)`,
//! `index` being its place in the item's list of descriptors, which travel
//! beside the frame. Decoding a frame's item makes its received descriptors
//! the *incoming table*, and a `SharedBytes` reads `(index, length)` back,
//! checks the descriptor (a memfd, sealed, of that length) and maps it.
//!
//! Outside those two moments, and with any human-readable format even
//! inside them (a `serde_json` call nested in a `Serialize` impl), a
//! `SharedBytes` is plain bytes both ways. The tables are thread-local
//! because `serde` offers no other way to reach from a `Serialize` impl to
//! the frame being built; they are only active around the pool's own
//! `postcard` calls, never while task code runs.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Segment, SharedBytes};
use crate::ipc::outbox::Attachment;

/// `ENCODING` bit: an outgoing table is active.
const ACTIVE: u8 = 1;
/// `ENCODING` bit: a buffer was put in the outgoing table since it became
/// active.
const PUSHED: u8 = 2;

thread_local! {
    /// Whether an outgoing table is active and holds anything (one cell,
    /// so that an item without shared buffers costs two plain accesses).
    static ENCODING: Cell<u8> = const { Cell::new(0) };
    static OUTGOING: RefCell<Vec<Arc<Segment>>> = const { RefCell::new(Vec::new()) };
    /// An incoming table is active (possibly empty).
    static DECODING: Cell<bool> = const { Cell::new(false) };
    static INCOMING: RefCell<Incoming> = const { RefCell::new(Incoming::EMPTY) };
    /// Why the last buffer was refused (`postcard` keeps no message).
    static REFUSAL: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The table of the last decoding that failed, for `decoding_again`.
    static FAILED: RefCell<Option<Incoming>> = const { RefCell::new(None) };
}

/// The descriptors of the item being decoded.
#[derive(Debug)]
struct Incoming {
    fds: Vec<Option<OwnedFd>>,
    /// Descriptors already checked and mapped (an index may appear twice).
    segments: Vec<Option<Arc<Segment>>>,
}

impl Incoming {
    const EMPTY: Incoming = Incoming {
        fds: Vec::new(),
        segments: Vec::new(),
    };

    fn take(&mut self, index: u32, len: u64, unit: usize) -> Result<Arc<Segment>, String> {
        let index = index as usize;
        if !len.is_multiple_of(unit as u64) {
            return Err(format!(
                "shared buffer {index} is {len} bytes, not a whole number of {unit}-byte values"
            ));
        }
        if let Some(Some(segment)) = self.segments.get(index) {
            return if segment.len() as u64 == len {
                Ok(segment.clone())
            } else {
                Err(format!("shared buffer {index} is named twice with different lengths"))
            };
        }
        let fd = self
            .fds
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(|| format!("the descriptor of shared buffer {index} is missing"))?;
        let segment = Arc::new(Segment::receive(fd, len).map_err(|e| format!("shared buffer {index}: {e}"))?);
        if self.segments.len() <= index {
            self.segments.resize(index + 1, None);
        }
        self.segments[index] = Some(segment.clone());
        Ok(segment)
    }
}

/// Ends an outgoing table's activity on a panic, forgetting what the
/// panicking encoding left in it.
struct EncodeReset;

impl Drop for EncodeReset {
    fn drop(&mut self) {
        if ENCODING.with(|e| e.replace(0)) & PUSHED != 0 {
            OUTGOING.with(|t| t.borrow_mut().clear());
        }
    }
}

/// Puts the decoding flag back as it was, even on a panic.
struct DecodeReset {
    outer: bool,
}

impl Drop for DecodeReset {
    #[inline]
    fn drop(&mut self) {
        DECODING.with(|d| d.set(self.outer));
    }
}

/// Runs `encode` with an outgoing table active; the buffers it put there
/// are appended to `fds`, as the item's descriptors.
#[inline(always)]
pub(crate) fn encoding<R>(fds: &mut Vec<Attachment>, encode: impl FnOnce() -> R) -> R {
    let outer = ENCODING.with(|e| e.replace(ACTIVE));
    if outer != 0 {
        return nested_encoding(fds, outer, encode);
    }
    let reset = EncodeReset;
    let result = encode();
    std::mem::forget(reset);
    if ENCODING.with(|e| e.replace(0)) & PUSHED != 0 {
        take_outgoing(fds);
    }
    result
}

#[cold]
#[inline(never)]
fn take_outgoing(fds: &mut Vec<Attachment>) {
    let table = OUTGOING.with(|t| std::mem::take(&mut *t.borrow_mut()));
    fds.extend(table.into_iter().map(Attachment::new));
}

/// `encoding` inside another (a task submitted from inside a `Serialize`
/// impl), whose state was `outer`: the outer item's table is kept aside
/// meanwhile.
#[cold]
#[inline(never)]
fn nested_encoding<R>(fds: &mut Vec<Attachment>, outer: u8, encode: impl FnOnce() -> R) -> R {
    let saved = OUTGOING.with(|t| std::mem::take(&mut *t.borrow_mut()));
    /// Puts the outer item's table and state back, even on a panic.
    struct Restore(Option<Vec<Arc<Segment>>>, u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            let saved = self.0.take().unwrap_or_default();
            OUTGOING.with(|t| *t.borrow_mut() = saved);
            ENCODING.with(|e| e.set(self.1));
        }
    }
    let restore = Restore(Some(saved), outer);
    let result = encode();
    if ENCODING.with(|e| e.replace(ACTIVE)) & PUSHED != 0 {
        take_outgoing(fds);
    }
    drop(restore);
    result
}

/// Runs `decode` with `fds` as the incoming table. If it fails, the table
/// (with the buffers it had taken) is kept for [`decoding_again`].
pub(crate) fn decoding<T, E>(fds: Vec<Option<OwnedFd>>, decode: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let outer = DECODING.with(|d| d.replace(true));
    let _reset = DecodeReset { outer };
    if !outer && fds.is_empty() {
        // The table stays empty (and untouched, for speed) for the many
        // items without descriptors.
        return decode();
    }
    /// Puts the table that was active back, even on a panic (closing
    /// what this one did not use).
    struct Restore(Option<Incoming>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(saved) = self.0.take() {
                drop(INCOMING.with(|t| std::mem::replace(&mut *t.borrow_mut(), saved)));
            }
        }
    }
    let table = Incoming {
        fds,
        segments: Vec::new(),
    };
    let mut restore = Restore(Some(INCOMING.with(|t| std::mem::replace(&mut *t.borrow_mut(), table))));
    let result = decode();
    if result.is_err()
        && !outer
        && let Some(saved) = restore.0.take()
    {
        // Kept for a second reading of why it failed.
        let failed = INCOMING.with(|t| std::mem::replace(&mut *t.borrow_mut(), saved));
        FAILED.with(|f| *f.borrow_mut() = Some(failed));
    }
    result
}

/// [`decoding`] for an item without descriptors, the common case: an empty
/// table, which is what the table is outside any other decoding.
#[inline(always)]
pub(crate) fn decoding_plain<T, E>(decode: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if DECODING.with(|d| d.replace(true)) {
        return decoding(Vec::new(), decode);
    }
    let reset = DecodeReset { outer: false };
    let result = decode();
    drop(reset);
    result
}

/// Drops what a failed decoding left for [`decoding_again`].
pub(crate) fn forget_failed() {
    drop(FAILED.with(|f| f.borrow_mut().take()));
}

/// Runs `decode` again over the same item after [`decoding`] failed, with
/// the buffers that attempt had already taken (each descriptor can be
/// taken only once), to find out why it failed (see
/// `ipc::serde_message`).
#[cold]
pub(crate) fn decoding_again<R>(decode: impl FnOnce() -> R) -> R {
    let table = FAILED.with(|f| f.borrow_mut().take()).unwrap_or(Incoming::EMPTY);
    let outer = DECODING.with(|d| d.replace(true));
    let _reset = DecodeReset { outer };
    let saved = INCOMING.with(|t| std::mem::replace(&mut *t.borrow_mut(), table));
    let result = decode();
    INCOMING.with(|t| *t.borrow_mut() = saved);
    result
}

/// Why the last shared buffer decoded on this thread was refused: call
/// when decoding failed, for a message better than the codec's.
pub(crate) fn take_refusal() -> Option<String> {
    REFUSAL.with(|r| r.borrow_mut().take())
}

/// `Serialize` for a shared buffer.
pub(crate) fn serialize<S: Serializer>(segment: &Arc<Segment>, serializer: S) -> Result<S::Ok, S::Error> {
    if !serializer.is_human_readable() && ENCODING.with(Cell::get) & ACTIVE != 0 {
        let index = OUTGOING.with(|t| {
            let mut table = t.borrow_mut();
            match table.iter().position(|s| Arc::ptr_eq(s, segment)) {
                Some(index) => index,
                None => {
                    table.push(segment.clone());
                    table.len() - 1
                }
            }
        });
        ENCODING.with(|e| e.set(e.get() | PUSHED));
        let index = u32::try_from(index).map_err(|_| serde::ser::Error::custom("too many shared buffers"))?;
        return (index, segment.len() as u64).serialize(serializer);
    }
    serializer.serialize_bytes(segment.bytes())
}

/// `Deserialize` for a shared buffer of `unit`-byte values.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D, unit: usize) -> Result<Arc<Segment>, D::Error> {
    if !deserializer.is_human_readable() && DECODING.with(Cell::get) {
        let (index, len) = <(u32, u64)>::deserialize(deserializer)?;
        return INCOMING.with(|t| t.borrow_mut().take(index, len, unit)).map_err(|why| {
            REFUSAL.with(|r| *r.borrow_mut() = Some(why.clone()));
            de::Error::custom(why)
        });
    }
    let bytes = deserializer.deserialize_byte_buf(BytesVisitor)?;
    if !bytes.len().is_multiple_of(unit) {
        return Err(de::Error::custom(format!(
            "{} bytes are not a whole number of {unit}-byte values",
            bytes.len()
        )));
    }
    Ok(bytes.segment().clone())
}

/// Plain bytes (or a sequence of `u8`, as `serde_json` writes them) into
/// a new shared buffer.
struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = SharedBytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<SharedBytes, E> {
        SharedBytes::copy_from(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SharedBytes, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        SharedBytes::copy_from(&bytes).map_err(de::Error::custom)
    }
}
