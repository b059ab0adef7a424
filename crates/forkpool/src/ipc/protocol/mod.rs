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
//!
//! Items are in `item.rs`, the `RUN` and `LIMITS` frames in `run.rs`,
//! `RESULTS` in `results.rs`; the other frames, and decoding a frame from
//! either side, here.

mod item;
mod results;
mod run;

pub(crate) use item::{Item, Items, MAX_INLINE, OutOfLine, close_item, extent, push_item};
use results::parse_results;
pub(crate) use results::{Record, Records, Results, ResultsWriter, Tag};
pub(crate) use run::{Run, write_limits, write_run};
use run::{parse_limits, parse_run};

use super::frame::{self, Cursor, Frame, FrameError};
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
    use crate::ipc::outbox::Outbox;

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
