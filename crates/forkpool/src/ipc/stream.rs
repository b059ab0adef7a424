//! The frames of a streaming task (see `crate::stream` for the design).
//!
//! Supervisor → worker:
//! - `STREAM`: `job u64 | entry i64 | item`, the argument as one item.
//!   Always `ATTACHED`: its descriptors are the stream's ring, the credit
//!   `eventfd`, then the item's own (see `protocol`, "Items").
//! - `CANCEL`: `job u64`. Stop the stream between items; it also wakes a
//!   worker that waits for credit.
//!
//! Worker → supervisor:
//! - `BELL`: `job u64`. Items are waiting in the ring and an async
//!   consumer said it sleeps (sent at most once per sleep; a consumer
//!   blocked in `next` is woken through the ring's futex instead).
//! - `YIELD`: `job u64 | seq u64 | weight u64 | item`, always `ATTACHED`:
//!   item number `seq` of the stream, one that holds descriptors or is too
//!   large for the ring; `weight` is the bytes it stands for (its encoding
//!   and its shared memory), which the consumer returns as credit. A
//!   marker in the ring holds its place.
//!
//! A stream ends with an ordinary `RESULTS` frame for its job: one record,
//! the stream's end (see `crate::stream::End`), or why it failed.

use super::frame::{self, Cursor, Frame, FrameError, FrameFds};
use super::outbox::{Attachment, Outbox};
use super::protocol::{Item, Items, extent, kind};

/// A `STREAM` frame's body.
#[derive(Debug)]
pub(crate) struct Start<'a> {
    pub(crate) job: u64,
    pub(crate) entry: i64,
    /// The argument.
    pub(crate) item: Item<'a>,
    /// The ring, the credit `eventfd`, then the argument's descriptors.
    pub(crate) fds: FrameFds,
}

/// A `YIELD` frame's body.
#[derive(Debug)]
pub(crate) struct Yielded<'a> {
    pub(crate) job: u64,
    pub(crate) seq: u64,
    pub(crate) weight: u64,
    /// The whole item (header, bytes, trailers), already checked.
    pub(crate) item: &'a [u8],
    pub(crate) fds: FrameFds,
}

/// Appends a `STREAM` frame: `item` is one encoded item owning
/// `item_fds`; `ring` and `credit` go first.
pub(crate) fn write_start(
    out: &mut Outbox,
    job: u64,
    entry: i64,
    item: &[u8],
    ring: &Attachment,
    credit: &Attachment,
    item_fds: &[Attachment],
) -> Result<(), FrameError> {
    let buf = out.buf();
    let at = frame::begin_frame_with_fds(buf, kind::STREAM, 2 + item_fds.len())?;
    buf.extend_from_slice(&job.to_le_bytes());
    buf.extend_from_slice(&entry.to_le_bytes());
    buf.extend_from_slice(item);
    if let Err(e) = frame::end_frame(buf, at) {
        out.truncate(at);
        return Err(e);
    }
    let mut fds = Vec::with_capacity(2 + item_fds.len());
    fds.push(ring.clone());
    fds.push(credit.clone());
    fds.extend_from_slice(item_fds);
    out.attach(at, fds);
    Ok(())
}

/// Reads exactly one item from `bytes`.
fn one_item<'a>(bytes: &'a [u8], what: &'static str) -> Result<Item<'a>, FrameError> {
    let malformed = |why| FrameError::Malformed { what, why };
    if extent(bytes, 1)?.bytes != bytes.len() {
        return Err(malformed("bytes after the item"));
    }
    Items::new(bytes, 1).next().unwrap_or(Err(malformed("no item")))
}

pub(crate) fn parse_start(frame: Frame<'_>) -> Result<Start<'_>, FrameError> {
    let mut c = Cursor::new(frame.body, "stream");
    let job = c.u64("job id cut")?;
    let entry = c.u64("entry cut")? as i64;
    let item = one_item(c.rest(), "stream")?;
    Ok(Start {
        job,
        entry,
        item,
        fds: frame.fds,
    })
}

/// Appends a frame that is just a job id (`CANCEL`, `BELL`).
pub(crate) fn write_job(out: &mut Vec<u8>, kind: u8, job: u64) -> Result<(), FrameError> {
    let at = frame::begin_frame(out, kind);
    out.extend_from_slice(&job.to_le_bytes());
    frame::end_frame(out, at)
}

pub(crate) fn parse_job(body: &[u8], what: &'static str) -> Result<u64, FrameError> {
    let mut c = Cursor::new(body, what);
    let job = c.u64("job id cut")?;
    c.expect_end("trailing bytes")?;
    Ok(job)
}

/// Appends a `YIELD` frame for item `seq`, whose encoding (one item, see
/// `protocol`) is `item` and whose descriptors are `fds`.
pub(crate) fn write_yield(
    out: &mut Outbox,
    job: u64,
    seq: u64,
    weight: u64,
    item: &[u8],
    fds: Vec<Attachment>,
) -> Result<(), FrameError> {
    let buf = out.buf();
    let at = frame::begin_frame(buf, kind::YIELD | frame::ATTACHED);
    let count = u32::try_from(fds.len()).map_err(|_| FrameError::Malformed {
        what: "yield",
        why: "too many descriptors",
    })?;
    buf.extend_from_slice(&count.to_le_bytes());
    buf.extend_from_slice(&job.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&weight.to_le_bytes());
    buf.extend_from_slice(item);
    if let Err(e) = frame::end_frame(buf, at) {
        out.truncate(at);
        return Err(e);
    }
    out.attach(at, fds);
    Ok(())
}

pub(crate) fn parse_yield(frame: Frame<'_>) -> Result<Yielded<'_>, FrameError> {
    let mut c = Cursor::new(frame.body, "yield");
    let job = c.u64("job id cut")?;
    let seq = c.u64("sequence number cut")?;
    let weight = c.u64("weight cut")?;
    let item = c.rest();
    one_item(item, "yield")?;
    Ok(Yielded {
        job,
        seq,
        weight,
        item,
        fds: frame.fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::frame::FrameReader;
    use crate::ipc::protocol::{FromWorker, ToWorker, parse_from_worker, parse_to_worker, push_item};
    use std::sync::Arc;

    fn item(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_item(&mut out, |o| {
            o.extend_from_slice(bytes);
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    fn pipe_attachment() -> Attachment {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        Attachment::new(Arc::new(r))
    }

    #[test]
    fn stream_frames_round_trip() {
        let mut out = Outbox::default();
        let (ring, credit) = (pipe_attachment(), pipe_attachment());
        write_start(&mut out, 9, -5, &item(b"arg"), &ring, &credit, &[]).unwrap();
        write_job(out.buf(), kind::CANCEL, 9).unwrap();
        let mut reader = FrameReader::new(1 << 16);
        reader.push_with_fds(out.buf(), Vec::new());
        let ToWorker::Stream(start) = parse_to_worker(reader.next_frame().unwrap().unwrap()).unwrap() else {
            panic!("not a stream")
        };
        assert_eq!((start.job, start.entry, start.item.inline), (9, -5, &b"arg"[..]));
        let ToWorker::Cancel { job } = parse_to_worker(reader.next_frame().unwrap().unwrap()).unwrap() else {
            panic!("not a cancel")
        };
        assert_eq!(job, 9);
    }

    #[test]
    fn yield_and_bell_frames_round_trip_and_are_checked() {
        let mut out = Outbox::default();
        write_yield(&mut out, 3, 77, 1000, &item(b"xyz"), Vec::new()).unwrap();
        write_job(out.buf(), kind::BELL, 3).unwrap();
        let mut reader = FrameReader::new(1 << 16);
        reader.push(out.buf());
        let FromWorker::Yield(y) = parse_from_worker(reader.next_frame().unwrap().unwrap()).unwrap() else {
            panic!("not a yield")
        };
        assert_eq!((y.job, y.seq, y.weight), (3, 77, 1000));
        assert_eq!(y.item, &item(b"xyz")[..]);
        assert!(matches!(
            parse_from_worker(reader.next_frame().unwrap().unwrap()),
            Ok(FromWorker::Bell { job: 3 })
        ));
        // Every cut of a yield frame's body is an error, never a panic.
        let mut whole = Outbox::default();
        write_yield(&mut whole, 3, 77, 1000, &item(b"xyz"), Vec::new()).unwrap();
        let bytes = whole.buf().clone();
        for cut in 9..bytes.len() {
            let mut body = bytes[..cut].to_vec();
            let len = (body.len() - frame::HEADER_LEN) as u32;
            body[..4].copy_from_slice(&len.to_le_bytes());
            let mut reader = FrameReader::new(1 << 16);
            reader.push(&body);
            assert!(
                parse_from_worker(reader.next_frame().unwrap().unwrap()).is_err(),
                "cut {cut}"
            );
        }
    }
}
