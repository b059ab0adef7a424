//! What the frames between the supervisor and a worker carry.
//!
//! Supervisor → worker:
//! - `RUN`: `job u64 | entry i64 | count u32 | items`, where `items` is
//!   `count` times `len u32 | bytes` (each an encoded argument).
//! - `CONFIG`: the worker's settings (exec start only; forked workers
//!   inherit them from the zygote).
//!
//! Worker → supervisor:
//! - `READY`: `pid u32`, once `worker_init` has run.
//! - `INIT_FAILED`: the `worker_init` panic message, UTF-8.
//! - `RESULTS`: `job u64 | first u32 | count u32 | elapsed_ns u64 | records`,
//!   where `records` is `count` times `tag u8 | len u32 | bytes`: the
//!   outcome of items `first..first + count` of the job.
//! - `OUTPUT_MARK`: `stdout u64 | stderr u64`, only when the pool's task
//!   output goes through pipes: how many bytes had been written to each
//!   pipe when the item the next frame (`RESULTS`, or `READY`) reports
//!   last on ended. See `supervisor/output/README.md`.
//!
//! All integers are little-endian. Every parser here checks every length
//! against the bytes actually present.

use super::frame::{self, Cursor, Frame, FrameError};

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
    pub(crate) const READY: u8 = 10;
    pub(crate) const INIT_FAILED: u8 = 11;
    pub(crate) const RESULTS: u8 = 12;
    pub(crate) const OUTPUT_MARK: u8 = 13;
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

/// Appends one item (`len u32 | bytes`), with the bytes written by `fill`.
pub(crate) fn push_item<E>(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Err(e) = fill(out) {
        out.truncate(at);
        return Err(e);
    }
    let len = out.len() - at - 4;
    match u32::try_from(len) {
        Ok(len) => {
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
            Ok(())
        }
        Err(_) => {
            out.truncate(at);
            // Callers check sizes against the frame limit before this can
            // happen; an item over 4 GiB is reported as empty-and-invalid.
            out.extend_from_slice(&u32::MAX.to_le_bytes());
            Ok(())
        }
    }
}

/// Iterates over `count` items.
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
    type Item = Result<&'a [u8], FrameError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some((|| {
            let len = self.cursor.u32("item length cut")? as usize;
            self.cursor.take(len, "item body cut")
        })())
    }
}

/// The byte offset of item `k` in a run of items (k may equal the count,
/// giving the total length).
pub(crate) fn item_offset(items: &[u8], k: u32) -> Result<usize, FrameError> {
    let mut it = Items::new(items, k);
    for item in &mut it {
        item?;
    }
    Ok(items.len() - it.cursor.rest().len())
}

// ------------------------------------------------------------------ run --

/// A `RUN` frame's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run<'a> {
    pub(crate) job: u64,
    pub(crate) entry: i64,
    pub(crate) count: u32,
    pub(crate) items: &'a [u8],
}

/// Appends a `RUN` frame for `count` items whose encoding is `items`.
pub(crate) fn write_run(out: &mut Vec<u8>, job: u64, entry: i64, count: u32, items: &[u8]) -> Result<(), FrameError> {
    let at = frame::begin_frame(out, kind::RUN);
    out.extend_from_slice(&job.to_le_bytes());
    out.extend_from_slice(&entry.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(items);
    frame::end_frame(out, at)
}

fn parse_run(body: &[u8]) -> Result<Run<'_>, FrameError> {
    let mut c = Cursor::new(body, "run");
    let job = c.u64("job id cut")?;
    let entry = c.u64("entry cut")? as i64;
    let count = c.u32("count cut")?;
    let items = c.rest();
    if item_offset(items, count)? != items.len() {
        return Err(FrameError::Malformed {
            what: "run",
            why: "bytes after the last item",
        });
    }
    Ok(Run {
        job,
        entry,
        count,
        items,
    })
}

/// What the supervisor sends a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToWorker<'a> {
    Run(Run<'a>),
    Config(&'a [u8]),
}

/// Decodes a frame the supervisor sent.
pub(crate) fn parse_to_worker(frame: Frame<'_>) -> Result<ToWorker<'_>, FrameError> {
    match frame.kind {
        kind::RUN => parse_run(frame.body).map(ToWorker::Run),
        kind::CONFIG => Ok(ToWorker::Config(frame.body)),
        other => Err(FrameError::UnknownKind(other)),
    }
}

// -------------------------------------------------------------- results --

/// A `RESULTS` frame's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Results<'a> {
    pub(crate) job: u64,
    pub(crate) first: u32,
    pub(crate) count: u32,
    pub(crate) elapsed_ns: u64,
    /// `count` records, already checked to be well-formed.
    pub(crate) records: &'a [u8],
}

/// Builds a `RESULTS` frame record by record.
#[derive(Debug)]
pub(crate) struct ResultsWriter {
    at: usize,
    count: u32,
}

const RESULTS_COUNT_AT: usize = frame::HEADER_LEN + 8 + 4;
const RESULTS_ELAPSED_AT: usize = RESULTS_COUNT_AT + 4;

impl ResultsWriter {
    /// Starts a `RESULTS` frame for `job`, whose first record is item `first`.
    pub(crate) fn begin(out: &mut Vec<u8>, job: u64, first: u32) -> ResultsWriter {
        let at = frame::begin_frame(out, kind::RESULTS);
        out.extend_from_slice(&job.to_le_bytes());
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        ResultsWriter { at, count: 0 }
    }

    /// Records written so far.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Appends a record whose bytes are written by `fill`. If `fill` fails,
    /// its partial output is removed and the error returned, so the caller
    /// can write a different record instead.
    pub(crate) fn record<E>(
        &mut self,
        out: &mut Vec<u8>,
        tag: Tag,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = out.len();
        out.push(tag as u8);
        push_item(out, fill).inspect_err(|_| out.truncate(at))?;
        self.count += 1;
        Ok(())
    }

    /// Forgets the last record, whose bytes the caller has removed.
    pub(crate) fn uncount(&mut self) {
        self.count = self.count.saturating_sub(1);
    }

    /// Finishes the frame with the time its items took.
    pub(crate) fn finish(self, out: &mut [u8], elapsed_ns: u64) -> Result<(), FrameError> {
        let a = self.at + RESULTS_COUNT_AT;
        out[a..a + 4].copy_from_slice(&self.count.to_le_bytes());
        let e = self.at + RESULTS_ELAPSED_AT;
        out[e..e + 8].copy_from_slice(&elapsed_ns.to_le_bytes());
        frame::end_frame(out, self.at)
    }
}

/// One item outcome inside a `RESULTS` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) tag: Tag,
    pub(crate) bytes: &'a [u8],
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
            let len = self.cursor.u32("record length cut")? as usize;
            let bytes = self.cursor.take(len, "record body cut")?;
            Ok(Record { tag, bytes })
        })())
    }
}

fn parse_results(body: &[u8]) -> Result<Results<'_>, FrameError> {
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
    })
}

/// What a worker sends the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        kind::RESULTS => parse_results(frame.body).map(FromWorker::Results),
        kind::OUTPUT_MARK => {
            let mut c = Cursor::new(frame.body, "output mark");
            let position = [c.u64("stdout position cut")?, c.u64("stderr position cut")?];
            c.expect_end("trailing bytes")?;
            Ok(FromWorker::OutputMark(position))
        }
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
        let mut out = Vec::new();
        write_ready(&mut out, 4242).unwrap();
        let mut w = ResultsWriter::begin(&mut out, 7, 0);
        for (tag, text) in [(Tag::Ok, "a"), (Tag::Panicked, "boom"), (Tag::Codec, "bad")] {
            w.record(&mut out, tag, |o| {
                o.extend_from_slice(text.as_bytes());
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        w.finish(&mut out, 99).unwrap();
        out
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
        assert_eq!(
            records[1],
            Record {
                tag: Tag::Panicked,
                bytes: b"boom"
            }
        );
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
                bytes[4] = [kind::READY, kind::INIT_FAILED, kind::RESULTS, kind::OUTPUT_MARK][(next() % 4) as usize];
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
        assert_eq!(parse_from_worker(frame).unwrap(), FromWorker::OutputMark([7, u64::MAX]));
        let frame = reader.next_frame().unwrap().unwrap();
        assert_eq!(parse_from_worker(frame).unwrap(), FromWorker::Ready { pid: 1 });
        let mut short = Vec::new();
        let at = frame::begin_frame(&mut short, kind::OUTPUT_MARK);
        short.extend_from_slice(&[1; 9]);
        frame::end_frame(&mut short, at).unwrap();
        assert!(decode(&short, 1 << 10).is_err());
    }

    #[test]
    fn run_frames_round_trip_and_reject_trailing_bytes() {
        let mut items = Vec::new();
        for v in [b"x".as_slice(), b"", b"yz"] {
            push_item(&mut items, |o| {
                o.extend_from_slice(v);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        let mut out = Vec::new();
        write_run(&mut out, 3, -77, 3, &items).unwrap();
        let mut reader = FrameReader::new(1 << 10);
        reader.push(&out);
        let ToWorker::Run(run) = parse_to_worker(reader.next_frame().unwrap().unwrap()).unwrap() else {
            panic!("not a run")
        };
        assert_eq!((run.job, run.entry, run.count), (3, -77, 3));
        let got: Vec<_> = Items::new(run.items, run.count).map(Result::unwrap).collect();
        assert_eq!(got, [b"x".as_slice(), b"", b"yz"]);

        let mut bad = Vec::new();
        write_run(&mut bad, 3, 0, 2, &items).unwrap();
        let mut reader = FrameReader::new(1 << 10);
        reader.push(&bad);
        assert!(parse_to_worker(reader.next_frame().unwrap().unwrap()).is_err());
    }
}
