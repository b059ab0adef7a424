//! The `RESULTS` frame: a worker's report of how a run of a job's items
//! ended, one [`Record`] per item (a [`Tag`] and an item). Built record by
//! record with [`ResultsWriter`], read back with [`Records`].

use super::item::{Item, push_item, read_item};
use super::kind;
use crate::ipc::frame::{self, Cursor, FrameError, FrameFds};
use crate::ipc::outbox::{Attachment, Outbox};

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

pub(super) fn parse_results(body: &[u8], fds: FrameFds) -> Result<Results<'_>, FrameError> {
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
