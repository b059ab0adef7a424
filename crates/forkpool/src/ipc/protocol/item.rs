//! Items: one encoded argument or result inside a `RUN` or `RESULTS`
//! frame, with the descriptors it owns (its layout is in the module docs,
//! "Items"). Writing them ([`close_item`], [`push_item`]), reading them
//! one by one ([`Items`], [`RunItems`]), and measuring a run of them
//! without reading it ([`extent`]).

use crate::ipc::frame::{Cursor, FrameError};

/// `head` bit: the item owns descriptors; their number follows its bytes.
const ITEM_FDS: u32 = 1 << 31;
/// `head` bit: the item's bytes are in a memfd, whose size follows.
const ITEM_OUT_OF_LINE: u32 = 1 << 30;
/// The most bytes an item carries inline.
pub(crate) const MAX_INLINE: usize = (ITEM_OUT_OF_LINE - 1) as usize;
/// [`Item::head`] bit, never on the wire: what should have been an item
/// could not be read.
const ITEM_CUT: u32 = 1;
/// `body` bit: a board follows the body's descriptor.
const BODY_BOARD: u64 = 1 << 63;

/// How an item's header and trailers describe it.
///
/// Plain integers, no `Option` or `bool` inside: a `map` walks millions of
/// these a second, and this shape stays in registers (and lets
/// `Option<Item>` use the slice's pointer as its niche) where a nested
/// `Option<(u64, bool)>` made every item a round of stores and misaligned
/// reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    /// The inline bytes (empty when out of line).
    pub(crate) inline: &'a [u8],
    /// How many `SharedBytes` descriptors the item owns.
    pub(crate) shared_fds: u32,
    /// The `ITEM_OUT_OF_LINE` bit of its header, or `ITEM_CUT`.
    head: u32,
    /// Its out-of-line body's word (`len | BODY_BOARD`), if out of line.
    body: u64,
}

/// An item's body out of line: the first `len` bytes of its first
/// descriptor, with a board as its second if `board`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfLine {
    pub(crate) len: u64,
    pub(crate) board: bool,
}

impl OutOfLine {
    /// The descriptors the body owns.
    pub(crate) fn fds(&self) -> usize {
        1 + usize::from(self.board)
    }
}

impl<'a> Item<'a> {
    /// An item of `inline` bytes owning `shared_fds` descriptors.
    pub(crate) fn inline(inline: &'a [u8], shared_fds: u32) -> Item<'a> {
        Item {
            inline,
            shared_fds,
            head: 0,
            body: 0,
        }
    }

    /// An item whose bytes are out of line.
    #[cfg(test)]
    pub(crate) fn out_of_line_body(body: OutOfLine, shared_fds: u32) -> Item<'static> {
        Item {
            inline: &[],
            shared_fds,
            head: ITEM_OUT_OF_LINE,
            body: body.len | if body.board { BODY_BOARD } else { 0 },
        }
    }

    /// Whether it is not really an item: the run it belongs to is cut or
    /// malformed here (see [`RunItems`]).
    pub(crate) fn is_cut(&self) -> bool {
        self.head & ITEM_CUT != 0
    }

    /// Its body, if it is out of line.
    #[inline]
    pub(crate) fn out_of_line(&self) -> Option<OutOfLine> {
        (self.head & ITEM_OUT_OF_LINE != 0).then_some(OutOfLine {
            len: self.body & !BODY_BOARD,
            board: self.body & BODY_BOARD != 0,
        })
    }

    /// Every descriptor the item owns: the out-of-line body's, then its
    /// shared ones.
    #[inline]
    pub(crate) fn fds(&self) -> usize {
        let body = if self.head & ITEM_OUT_OF_LINE == 0 {
            0
        } else {
            1 + usize::from(self.body & BODY_BOARD != 0)
        };
        body + self.shared_fds as usize
    }

    /// The size of its encoding, wherever it is.
    pub(crate) fn size(&self) -> u64 {
        if self.head & ITEM_OUT_OF_LINE == 0 {
            self.inline.len() as u64
        } else {
            self.body & !BODY_BOARD
        }
    }
}

/// Writes the header of an item whose inline bytes are `out[at + 4..]`
/// (`out[at..at + 4]` was reserved for it), then its trailers.
#[inline]
pub(crate) fn close_item(
    out: &mut Vec<u8>,
    at: usize,
    out_of_line: Option<OutOfLine>,
    shared_fds: u32,
) -> Result<(), String> {
    let inline = out.len() - at - 4;
    if inline > MAX_INLINE || (out_of_line.is_some() && inline != 0) {
        return Err(format!("an item of {inline} inline bytes cannot be framed"));
    }
    let mut head = inline as u32;
    if let Some(body) = out_of_line {
        if body.len & BODY_BOARD != 0 {
            return Err(format!("an item of {} bytes cannot be framed", body.len));
        }
        head |= ITEM_OUT_OF_LINE;
        let board = if body.board { BODY_BOARD } else { 0 };
        out.extend_from_slice(&(body.len | board).to_le_bytes());
    }
    if shared_fds > 0 {
        head |= ITEM_FDS;
        out.extend_from_slice(&shared_fds.to_le_bytes());
    }
    out[at..at + 4].copy_from_slice(&head.to_le_bytes());
    Ok(())
}

/// Appends one inline item without descriptors, with the bytes written by
/// `fill`. If `fill` fails, its partial output is removed.
pub(crate) fn push_item<E>(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Err(e) = fill(out) {
        out.truncate(at);
        return Err(e);
    }
    if close_item(out, at, None, 0).is_err() {
        // Callers keep inline items far below the limit; an item that
        // somehow is not is sent as empty, and fails to decode.
        out.truncate(at + 4);
        out[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    }
    Ok(())
}

/// Reads one item. Most items are inline bytes without descriptors; only
/// their header is looked at here, the rest is out of line.
#[inline(always)]
pub(super) fn read_item<'a>(cursor: &mut Cursor<'a>) -> Result<Item<'a>, FrameError> {
    let head = cursor.u32("item header cut")?;
    let inline = cursor.take((head & !(ITEM_FDS | ITEM_OUT_OF_LINE)) as usize, "item body cut")?;
    if head & (ITEM_FDS | ITEM_OUT_OF_LINE) == 0 {
        return Ok(Item::inline(inline, 0));
    }
    read_trailers(cursor, head, inline)
}

/// The trailers of an item that has any (see `read_item`).
#[cold]
#[inline(never)]
fn read_trailers<'a>(cursor: &mut Cursor<'a>, head: u32, inline: &'a [u8]) -> Result<Item<'a>, FrameError> {
    let body = if head & ITEM_OUT_OF_LINE != 0 {
        if !inline.is_empty() {
            return Err(cursor.malformed("an out-of-line item with inline bytes"));
        }
        cursor.u64("item size cut")?
    } else {
        0
    };
    let shared_fds = if head & ITEM_FDS != 0 {
        cursor.u32("item descriptor count cut")?
    } else {
        0
    };
    Ok(Item {
        inline,
        shared_fds,
        head: head & ITEM_OUT_OF_LINE,
        body,
    })
}

/// Iterates over `count` items, each checked as it comes.
#[derive(Debug)]
pub(crate) struct Items<'a> {
    cursor: Cursor<'a>,
    left: u32,
}

impl<'a> Items<'a> {
    pub(crate) fn new(bytes: &'a [u8], count: u32) -> Self {
        Items {
            cursor: Cursor::new(bytes, "run"),
            left: count,
        }
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<Item<'a>, FrameError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(read_item(&mut self.cursor))
    }
}

/// Where the first `k` items of a run of items end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    /// Bytes of the encoding.
    pub(crate) bytes: usize,
    /// Descriptors they own.
    pub(crate) fds: usize,
    /// Their encoded size, inline or not.
    pub(crate) size: u64,
}

/// The extent of the first `k` items of `items` (k may equal the count).
///
/// Walks the headers alone (a worker checks every `RUN` frame whole with
/// it before running any of its items, so this is per item of every
/// `map`): items with trailers are the rare case.
pub(crate) fn extent(items: &[u8], k: u32) -> Result<Extent, FrameError> {
    let cut = |why| FrameError::Malformed { what: "run", why };
    let mut extent = Extent::default();
    let mut at = 0;
    for _ in 0..k {
        let Some(head) = items.get(at..at + 4) else {
            return Err(cut("item header cut"));
        };
        let head = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let inline = (head & !(ITEM_FDS | ITEM_OUT_OF_LINE)) as usize;
        at += 4;
        if items.len() - at < inline {
            return Err(cut("item body cut"));
        }
        at += inline;
        if head & (ITEM_FDS | ITEM_OUT_OF_LINE) == 0 {
            extent.size += inline as u64;
            continue;
        }
        let mut cursor = Cursor::new(&items[at..], "run");
        let item = read_trailers(&mut cursor, head, &items[at - inline..at])?;
        at = items.len() - cursor.remaining();
        extent.fds += item.fds();
        extent.size += item.size();
    }
    extent.bytes = at;
    Ok(extent)
}

/// The items of a run, read as they are run: exactly `count` of them,
/// where an item that is cut or malformed (and every one after it, whose
/// place is then unknown) is an item that [`is_cut`](Item::is_cut).
///
/// Not a `Result` per item, and no walk over the whole run before the
/// first item starts: both cost a `map` of small items measurably.
#[derive(Debug)]
pub(crate) struct RunItems<'a> {
    pub(super) cursor: Cursor<'a>,
    pub(super) left: u32,
}

impl<'a> Iterator for RunItems<'a> {
    type Item = Item<'a>;

    #[inline]
    fn next(&mut self) -> Option<Item<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match read_item(&mut self.cursor) {
            Ok(item) => Some(item),
            Err(_) => {
                self.cursor = Cursor::new(&[], "run");
                Some(Item {
                    inline: &[],
                    shared_fds: 0,
                    head: ITEM_CUT,
                    body: 0,
                })
            }
        }
    }
}
