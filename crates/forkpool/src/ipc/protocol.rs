//! What the frames between the supervisor and a worker carry.
//!
//! Supervisor → worker:
//! - `RUN`: `job u64 | entry i64 | count u32 | items`, where `items` is
//!   `count` items (each an encoded argument; see "Items" below).
//! - `CONFIG`: the worker's settings (exec start only; forked workers
//!   inherit them from the zygote).
//! - `STREAM`, `CANCEL`: a streaming task, and stopping it (see
//!   `ipc::stream`).
//!
//! Worker → supervisor:
//! - `READY`: `pid u32`, once `worker_init` has run.
//! - `INIT_FAILED`: the `worker_init` panic message, UTF-8.
//! - `RESULTS`: `job u64 | first u32 | count u32 | elapsed_ns u64 | records`,
//!   where `records` is `count` times `tag u8 | item`: the outcome of
//!   items `first..first + count` of the job. Always sent with the
//!   `ATTACHED` bit (the descriptor count comes first, often 0): a worker
//!   does not know whether a result holds descriptors until it has run.
//! - `OUTPUT_MARK`: `stdout u64 | stderr u64`, only when the pool's task
//!   output goes through pipes: how many bytes had been written to each
//!   pipe when the item the next frame (`RESULTS`, or `READY`) reports
//!   last on ended. See `supervisor/output/README.md`.
//! - `BELL`, `YIELD`: a stream's wake-up and its items that hold
//!   descriptors (see `ipc::stream`).
//!
//! Items: `head u32 | inline bytes | [body u64] | [fds u32]`. The low 30
//! bits of `head` are the number of inline bytes. With `OUT_OF_LINE` set,
//! the bytes are not inline but the first `body & !BOARD` bytes of a
//! sealed memfd, the item's first descriptor (a lane: a large argument or
//! result, see `shm::spill`); with `BOARD` (the top bit of `body`) set, its
//! second descriptor is the lane's board, on which the receiver says it is
//! done with the lane (see `shm::lanes`). With `FDS` set, the item owns
//! `fds` more descriptors (its `SharedBytes`, numbered from 0 within the
//! item, see `shm::wire`). An item's descriptors follow those of the items
//! before it in the frame's list.
//!
//! All integers are little-endian. Every parser here checks every length
//! against the bytes actually present.

use super::frame::{self, Cursor, Frame, FrameError, FrameFds};
use super::outbox::{Attachment, Outbox};
use super::stream;

/// The largest frame body either side accepts, for a pool whose arguments
/// and results may each be `max_message` bytes: a `map` chunk carries up to
/// 1 MiB of items plus one item that does not fit, and a results frame up
/// to 256 KiB of records plus one record.
pub(crate) fn frame_limit(max_message: usize) -> usize {
    max_message.saturating_add((1 << 20) + (64 << 10))
}

/// Frame kinds.
pub(crate) mod kind {
    pub(crate) const RUN: u8 = 1;
    pub(crate) const CONFIG: u8 = 2;
    /// A streaming task (see `ipc::stream`).
    pub(crate) const STREAM: u8 = 3;
    pub(crate) const CANCEL: u8 = 4;
    pub(crate) const LIMITS: u8 = 5;
    pub(crate) const READY: u8 = 10;
    pub(crate) const INIT_FAILED: u8 = 11;
    pub(crate) const RESULTS: u8 = 12;
    pub(crate) const OUTPUT_MARK: u8 = 13;
    pub(crate) const BELL: u8 = 14;
    pub(crate) const YIELD: u8 = 15;
}

/// The outcome of one item, as the worker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Tag {
    /// The item returned; the bytes are its encoded result.
    Ok = 0,
    /// The item panicked; the bytes are the panic message.
    Panicked = 1,
    /// The argument could not be decoded or the result encoded; the bytes
    /// are the codec's message.
    Codec = 2,
    /// The item was skipped: its job was abandoned (no bytes).
    Cancelled = 3,
}

impl Tag {
    fn from_u8(b: u8) -> Option<Tag> {
        match b {
            0 => Some(Tag::Ok),
            1 => Some(Tag::Panicked),
            2 => Some(Tag::Codec),
            3 => Some(Tag::Cancelled),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- items --

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
fn read_item<'a>(cursor: &mut Cursor<'a>) -> Result<Item<'a>, FrameError> {
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
    cursor: Cursor<'a>,
    left: u32,
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

// ------------------------------------------------------------------ run --

/// A `RUN` frame's body.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) job: u64,
    pub(crate) entry: i64,
    pub(crate) count: u32,
    pub(crate) items: &'a [u8],
    /// The items' descriptors, in order.
    pub(crate) fds: FrameFds,
}

impl<'a> Run<'a> {
    /// Its items.
    pub(crate) fn items(&self) -> RunItems<'a> {
        RunItems {
            cursor: Cursor::new(self.items, "run"),
            left: self.count,
        }
    }
}

/// Appends a `RUN` frame for `count` items whose encoding is `items` and
/// whose descriptors are `fds`.
pub(crate) fn write_run(
    out: &mut Outbox,
    job: u64,
    entry: i64,
    count: u32,
    items: &[u8],
    fds: &[Attachment],
) -> Result<(), FrameError> {
    let buf = out.buf();
    let at = frame::begin_frame_with_fds(buf, kind::RUN, fds.len())?;
    buf.extend_from_slice(&job.to_le_bytes());
    buf.extend_from_slice(&entry.to_le_bytes());
    buf.extend_from_slice(&count.to_le_bytes());
    buf.extend_from_slice(items);
    if let Err(e) = frame::end_frame(buf, at) {
        out.truncate(at);
        return Err(e);
    }
    out.attach(at, fds.to_vec());
    Ok(())
}

fn parse_run(body: &[u8], fds: FrameFds) -> Result<Run<'_>, FrameError> {
    let mut c = Cursor::new(body, "run");
    let job = c.u64("job id cut")?;
    let entry = c.u64("entry cut")? as i64;
    let count = c.u32("count cut")?;
    // Its items are checked as they are read (see `RunItems`).
    let items = c.rest();
    Ok(Run {
        job,
        entry,
        count,
        items,
        fds,
    })
}

/// `memory` in a `LIMITS` frame meaning "the pool's own limit".
const POOL_LIMIT: u64 = u64::MAX;

/// Appends a `LIMITS` frame: the items of the `RUN` frames that follow may
/// allocate `memory` bytes (`None`: as the pool allows).
pub(crate) fn write_limits(out: &mut Vec<u8>, memory: Option<u64>) -> Result<(), FrameError> {
    let at = frame::begin_frame(out, kind::LIMITS);
    out.extend_from_slice(&memory.unwrap_or(POOL_LIMIT).to_le_bytes());
    frame::end_frame(out, at)
}

fn parse_limits(body: &[u8]) -> Result<Option<u64>, FrameError> {
    let mut c = Cursor::new(body, "limits");
    let memory = c.u64("memory limit cut")?;
    c.expect_end("bytes after the memory limit")?;
    Ok((memory != POOL_LIMIT).then_some(memory))
}

/// What the supervisor sends a worker.
#[derive(Debug)]
pub(crate) enum ToWorker<'a> {
    Run(Run<'a>),
    Config(&'a [u8]),
    Stream(stream::Start<'a>),
    Cancel {
        job: u64,
    },
    /// The memory limit for the items that follow (`None`: the pool's).
    Limits {
        memory: Option<u64>,
    },
}

/// Decodes a frame the supervisor sent.
pub(crate) fn parse_to_worker(frame: Frame<'_>) -> Result<ToWorker<'_>, FrameError> {
    match frame.kind {
        kind::RUN => parse_run(frame.body, frame.fds).map(ToWorker::Run),
        kind::CONFIG => Ok(ToWorker::Config(frame.body)),
        kind::STREAM => stream::parse_start(frame).map(ToWorker::Stream),
        kind::CANCEL => stream::parse_job(frame.body, "cancel").map(|job| ToWorker::Cancel { job }),
        kind::LIMITS => parse_limits(frame.body).map(|memory| ToWorker::Limits { memory }),
        other => Err(FrameError::UnknownKind(other)),
    }
}

// -------------------------------------------------------------- results --

/// A `RESULTS` frame's body.
#[derive(Debug)]
pub(crate) struct Results<'a> {
    pub(crate) job: u64,
    pub(crate) first: u32,
    pub(crate) count: u32,
    pub(crate) elapsed_ns: u64,
    /// `count` records, already checked to be well-formed.
    pub(crate) records: &'a [u8],
    /// The records' descriptors, in order.
    pub(crate) fds: FrameFds,
}

/// Builds a `RESULTS` frame record by record.
#[derive(Debug)]
pub(crate) struct ResultsWriter {
    at: usize,
    count: u32,
    fds: Vec<Attachment>,
}

/// Offsets, from the frame's start, of the fields filled in at the end.
const RESULTS_FDS_AT: usize = frame::HEADER_LEN;
const RESULTS_COUNT_AT: usize = RESULTS_FDS_AT + 4 + 8 + 4;
const RESULTS_ELAPSED_AT: usize = RESULTS_COUNT_AT + 4;

impl ResultsWriter {
    /// Starts a `RESULTS` frame for `job`, whose first record is item `first`.
    pub(crate) fn begin(out: &mut Vec<u8>, job: u64, first: u32) -> ResultsWriter {
        let at = frame::begin_frame(out, kind::RESULTS | frame::ATTACHED);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&job.to_le_bytes());
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        ResultsWriter {
            at,
            count: 0,
            fds: Vec::new(),
        }
    }

    /// Records written so far.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Appends a record whose item (header and all) is written by `fill`,
    /// which may attach descriptors to it. If `fill` fails, its partial
    /// output is removed and the error returned, so the caller can write a
    /// different record instead.
    pub(crate) fn record<E>(
        &mut self,
        out: &mut Vec<u8>,
        tag: Tag,
        fill: impl FnOnce(&mut Vec<u8>, &mut Vec<Attachment>) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = out.len();
        let fds = self.fds.len();
        out.push(tag as u8);
        if let Err(e) = fill(out, &mut self.fds) {
            out.truncate(at);
            self.fds.truncate(fds);
            return Err(e);
        }
        self.count += 1;
        Ok(())
    }

    /// Appends a record of inline bytes.
    pub(crate) fn inline_record(&mut self, out: &mut Vec<u8>, tag: Tag, bytes: &[u8]) {
        let _ = self.record(out, tag, |out, _| {
            push_item(out, |o| {
                o.extend_from_slice(bytes);
                Ok::<(), ()>(())
            })
        });
    }

    /// Removes what a record that never completed (its `fill` panicked)
    /// left from byte `at` and descriptor `fds` on.
    pub(crate) fn rewind(&mut self, out: &mut Vec<u8>, at: usize, fds: usize) {
        out.truncate(at);
        self.fds.truncate(fds);
    }

    /// Removes the last record, which began at `at` with `fds`
    /// descriptors attached before it.
    pub(crate) fn unrecord(&mut self, out: &mut Vec<u8>, at: usize, fds: usize) {
        self.rewind(out, at, fds);
        self.count = self.count.saturating_sub(1);
    }

    /// Descriptors attached so far.
    pub(crate) fn fds(&self) -> usize {
        self.fds.len()
    }

    /// Finishes the frame with the time its items took, and hands it to
    /// `out` with its descriptors.
    pub(crate) fn finish(self, out: &mut Outbox, elapsed_ns: u64) -> Result<(), FrameError> {
        let buf = out.buf();
        let nfds = u32::try_from(self.fds.len()).map_err(|_| FrameError::Malformed {
            what: "results",
            why: "too many descriptors",
        })?;
        let f = self.at + RESULTS_FDS_AT;
        buf[f..f + 4].copy_from_slice(&nfds.to_le_bytes());
        let a = self.at + RESULTS_COUNT_AT;
        buf[a..a + 4].copy_from_slice(&self.count.to_le_bytes());
        let e = self.at + RESULTS_ELAPSED_AT;
        buf[e..e + 8].copy_from_slice(&elapsed_ns.to_le_bytes());
        frame::end_frame(buf, self.at)?;
        out.attach(self.at, self.fds);
        Ok(())
    }
}

/// One item outcome inside a `RESULTS` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) tag: Tag,
    pub(crate) item: Item<'a>,
}

/// Iterates over records; stops at the first malformed one with an error.
#[derive(Debug)]
pub(crate) struct Records<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Records<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Records {
            cursor: Cursor::new(bytes, "results"),
        }
    }

    /// Bytes after the records read so far.
    pub(crate) fn remaining(&self) -> usize {
        self.cursor.remaining()
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, FrameError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor.expect_end("").is_ok() {
            return None;
        }
        Some((|| {
            let tag = self.cursor.u8("record tag cut")?;
            let tag = Tag::from_u8(tag).ok_or(FrameError::Malformed {
                what: "results",
                why: "unknown record tag",
            })?;
            let item = read_item(&mut self.cursor)?;
            if tag != Tag::Ok && item.fds() > 0 {
                return Err(FrameError::Malformed {
                    what: "results",
                    why: "descriptors with an error record",
                });
            }
            Ok(Record { tag, item })
        })())
    }
}

fn parse_results(body: &[u8], fds: FrameFds) -> Result<Results<'_>, FrameError> {
    let mut c = Cursor::new(body, "results");
    let job = c.u64("job id cut")?;
    let first = c.u32("first item cut")?;
    let count = c.u32("count cut")?;
    let elapsed_ns = c.u64("elapsed time cut")?;
    let records = c.rest();
    let mut seen = 0u32;
    for record in Records::new(records) {
        record?;
        seen += 1;
    }
    if seen != count {
        return Err(FrameError::Malformed {
            what: "results",
            why: "record count does not match",
        });
    }
    if count == 0 {
        return Err(FrameError::Malformed {
            what: "results",
            why: "no records",
        });
    }
    Ok(Results {
        job,
        first,
        count,
        elapsed_ns,
        records,
        fds,
    })
}

/// What a worker sends the supervisor.
#[derive(Debug)]
pub(crate) enum FromWorker<'a> {
    Ready {
        pid: u32,
    },
    InitFailed {
        message: String,
    },
    Results(Results<'a>),
    /// Output positions: `[stdout, stderr]`.
    OutputMark([u64; 2]),
    Bell {
        job: u64,
    },
    Yield(stream::Yielded<'a>),
}

/// Decodes a frame a worker sent. The bytes are untrusted.
pub(crate) fn parse_from_worker(frame: Frame<'_>) -> Result<FromWorker<'_>, FrameError> {
    match frame.kind {
        kind::READY => {
            let mut c = Cursor::new(frame.body, "ready");
            let pid = c.u32("pid cut")?;
            c.expect_end("trailing bytes")?;
            Ok(FromWorker::Ready { pid })
        }
        kind::INIT_FAILED => Ok(FromWorker::InitFailed {
            message: String::from_utf8_lossy(frame.body).into_owned(),
        }),
        kind::RESULTS => parse_results(frame.body, frame.fds).map(FromWorker::Results),
        kind::OUTPUT_MARK => {
            let mut c = Cursor::new(frame.body, "output mark");
            let position = [c.u64("stdout position cut")?, c.u64("stderr position cut")?];
            c.expect_end("trailing bytes")?;
            Ok(FromWorker::OutputMark(position))
        }
        kind::BELL => stream::parse_job(frame.body, "bell").map(|job| FromWorker::Bell { job }),
        kind::YIELD => stream::parse_yield(frame).map(FromWorker::Yield),
        other => Err(FrameError::UnknownKind(other)),
    }
}

/// Appends an `OUTPUT_MARK` frame; returns where its body starts, for
/// [`patch_output_mark`].
pub(crate) fn write_output_mark(out: &mut Vec<u8>, position: [u64; 2]) -> usize {
    let frame_at = frame::begin_frame(out, kind::OUTPUT_MARK);
    let at = out.len();
    out.extend_from_slice(&position[0].to_le_bytes());
    out.extend_from_slice(&position[1].to_le_bytes());
    // 16 bytes: always fits the length field.
    let _ = frame::end_frame(out, frame_at);
    at
}

/// Rewrites the positions of the `OUTPUT_MARK` frame whose body is at `at`.
pub(crate) fn patch_output_mark(out: &mut [u8], at: usize, position: [u64; 2]) {
    out[at..at + 8].copy_from_slice(&position[0].to_le_bytes());
    out[at + 8..at + 16].copy_from_slice(&position[1].to_le_bytes());
}

/// Appends a `READY` frame.
pub(crate) fn write_ready(out: &mut Vec<u8>, pid: u32) -> Result<(), FrameError> {
    let at = frame::begin_frame(out, kind::READY);
    out.extend_from_slice(&pid.to_le_bytes());
    frame::end_frame(out, at)
}

/// Appends an `INIT_FAILED` frame.
pub(crate) fn write_init_failed(out: &mut Vec<u8>, message: &str) -> Result<(), FrameError> {
    let at = frame::begin_frame(out, kind::INIT_FAILED);
    out.extend_from_slice(message.as_bytes());
    frame::end_frame(out, at)
}

/// Appends a `CONFIG` frame.
pub(crate) fn write_config(out: &mut Vec<u8>, config: &[u8]) -> Result<(), FrameError> {
    let at = frame::begin_frame(out, kind::CONFIG);
    out.extend_from_slice(config);
    frame::end_frame(out, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::frame::FrameReader;

    /// A valid stream: READY, then RESULTS for job 7 with three records.
    fn valid_stream() -> Vec<u8> {
        let mut out = Outbox::default();
        write_ready(out.buf(), 4242).unwrap();
        let mut w = ResultsWriter::begin(out.buf(), 7, 0);
        for (tag, text) in [(Tag::Ok, "a"), (Tag::Panicked, "boom"), (Tag::Codec, "bad")] {
            w.inline_record(out.buf(), tag, text.as_bytes());
        }
        w.finish(&mut out, 99).unwrap();
        std::mem::take(out.buf())
    }

    /// Decodes a whole stream the way the supervisor does: every frame,
    /// then the end-of-stream check. Returns the messages or the first error.
    fn decode(bytes: &[u8], max: usize) -> Result<Vec<String>, FrameError> {
        let mut reader = FrameReader::new(max);
        reader.push(bytes);
        let mut seen = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            seen.push(format!("{:?}", parse_from_worker(frame)?));
        }
        reader.finish()?;
        Ok(seen)
    }

    #[test]
    fn a_valid_stream_decodes() {
        let seen = decode(&valid_stream(), 1 << 20).unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[0].contains("4242"));
        let mut reader = FrameReader::new(1 << 20);
        reader.push(&valid_stream());
        reader.next_frame().unwrap();
        let frame = reader.next_frame().unwrap().unwrap();
        let FromWorker::Results(r) = parse_from_worker(frame).unwrap() else {
            panic!("not results")
        };
        assert_eq!((r.job, r.first, r.count, r.elapsed_ns), (7, 0, 3, 99));
        let records: Vec<_> = Records::new(r.records).map(Result::unwrap).collect();
        assert_eq!((records[1].tag, records[1].item.inline), (Tag::Panicked, &b"boom"[..]));
    }

    #[test]
    fn every_cut_of_a_stream_is_an_error_not_a_panic_or_a_hang() {
        let stream = valid_stream();
        for cut in 1..stream.len() {
            match decode(&stream[..cut], 1 << 20) {
                Err(FrameError::Truncated { have, need }) => assert!(have < need, "cut {cut}"),
                // Cutting exactly between the two frames leaves a valid
                // stream of one frame.
                Ok(seen) => assert_eq!(seen.len(), 1, "cut {cut}"),
                Err(other) => panic!("cut {cut}: {other}"),
            }
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_header() {
        let mut header = u32::MAX.to_le_bytes().to_vec();
        header.push(kind::RESULTS);
        assert_eq!(
            decode(&header, 1 << 20),
            Err(FrameError::Oversized {
                len: u32::MAX as usize,
                max: 1 << 20
            })
        );
        // The limit applies to honest frames too.
        assert!(matches!(decode(&valid_stream(), 8), Err(FrameError::Oversized { .. })));
    }

    #[test]
    fn corrupt_frames_are_errors() {
        let frame = |kind: u8, body: &[u8]| {
            let mut out = Vec::new();
            let at = frame::begin_frame(&mut out, kind);
            out.extend_from_slice(body);
            frame::end_frame(&mut out, at).unwrap();
            out
        };
        let results_body = |count: u32, records: &[u8]| {
            let mut b = Vec::new();
            b.extend_from_slice(&1u64.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&0u64.to_le_bytes());
            b.extend_from_slice(records);
            b
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("unknown kind", frame(200, b"")),
            ("ready too short", frame(kind::READY, &[1, 2])),
            ("ready too long", frame(kind::READY, &[1, 2, 3, 4, 5])),
            ("results header cut", frame(kind::RESULTS, &[0; 10])),
            ("no records", frame(kind::RESULTS, &results_body(0, &[]))),
            ("bad tag", frame(kind::RESULTS, &results_body(1, &[9, 0, 0, 0, 0]))),
            (
                "record overruns",
                frame(kind::RESULTS, &results_body(1, &[0, 50, 0, 0, 0, 1])),
            ),
            (
                "count too high",
                frame(kind::RESULTS, &results_body(2, &[0, 0, 0, 0, 0])),
            ),
            (
                "count too low",
                frame(kind::RESULTS, &results_body(1, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            ),
        ];
        for (what, bytes) in cases {
            assert!(decode(&bytes, 1 << 20).is_err(), "{what} was accepted");
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        let stream = valid_stream();
        for at in 0..stream.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bytes = stream.clone();
                bytes[at] ^= flip;
                // Must return (either way) without panicking.
                let _ = decode(&bytes, 1 << 20);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Make plausible headers common, so bodies get parsed.
            if len >= 5 && next() % 2 == 0 {
                let body = (len - 5) as u32;
                bytes[..4].copy_from_slice(&body.to_le_bytes());
                let kinds = [
                    kind::READY,
                    kind::INIT_FAILED,
                    kind::RESULTS,
                    kind::OUTPUT_MARK,
                    kind::BELL,
                    kind::YIELD | frame::ATTACHED,
                    kind::STREAM | frame::ATTACHED,
                    kind::CANCEL,
                ];
                bytes[4] = kinds[(next() % kinds.len() as u64) as usize];
            }
            let _ = decode(&bytes, 1 << 16);
            let mut reader = FrameReader::new(1 << 16);
            reader.push(&bytes);
            while let Ok(Some(frame)) = reader.next_frame() {
                let _ = parse_to_worker(frame);
            }
        }
    }

    #[test]
    fn output_marks_are_patched_in_place() {
        let mut out = vec![0xaa];
        let at = write_output_mark(&mut out, [0, 0]);
        write_ready(&mut out, 1).unwrap();
        patch_output_mark(&mut out, at, [7, u64::MAX]);
        let mut reader = FrameReader::new(1 << 10);
        reader.push(&out[1..]);
        let frame = reader.next_frame().unwrap().unwrap();
        assert!(matches!(
            parse_from_worker(frame).unwrap(),
            FromWorker::OutputMark([7, u64::MAX])
        ));
        let frame = reader.next_frame().unwrap().unwrap();
        assert!(matches!(
            parse_from_worker(frame).unwrap(),
            FromWorker::Ready { pid: 1 }
        ));
        let mut short = Vec::new();
        let at = frame::begin_frame(&mut short, kind::OUTPUT_MARK);
        short.extend_from_slice(&[1; 9]);
        frame::end_frame(&mut short, at).unwrap();
        assert!(decode(&short, 1 << 10).is_err());
    }

    #[test]
    fn run_frames_round_trip_and_cut_items_are_marked() {
        let mut items = Vec::new();
        for v in [b"x".as_slice(), b"", b"yz"] {
            push_item(&mut items, |o| {
                o.extend_from_slice(v);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        let mut out = Outbox::default();
        write_run(&mut out, 3, -77, 3, &items, &[]).unwrap();
        let mut reader = FrameReader::new(1 << 10);
        reader.push(out.buf());
        let ToWorker::Run(run) = parse_to_worker(reader.next_frame().unwrap().unwrap()).unwrap() else {
            panic!("not a run")
        };
        assert_eq!((run.job, run.entry, run.count), (3, -77, 3));
        let got: Vec<_> = run.items().map(|i| (i.inline, i.is_cut())).collect();
        assert_eq!(got, [(b"x".as_slice(), false), (b"", false), (b"yz", false)]);

        // A run announcing more items than it holds: the missing ones are
        // cut, and so is everything after a malformed item.
        let mut bad = Outbox::default();
        write_run(&mut bad, 3, 0, 5, &items[..items.len() - 1], &[]).unwrap();
        let mut reader = FrameReader::new(1 << 10);
        reader.push(bad.buf());
        let ToWorker::Run(run) = parse_to_worker(reader.next_frame().unwrap().unwrap()).unwrap() else {
            panic!("not a run")
        };
        let cut: Vec<_> = run.items().map(|i| i.is_cut()).collect();
        assert_eq!(cut, [false, false, true, true, true]);
    }
}
