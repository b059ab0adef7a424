//! The frames that set a worker to work: `RUN` (a job's items, see
//! [`Run`]) and `LIMITS` (the memory limit of the items that follow).

use super::item::RunItems;
use super::kind;
use crate::ipc::frame::{self, Cursor, FrameError, FrameFds};
use crate::ipc::outbox::{Attachment, Outbox};

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

pub(super) fn parse_run(body: &[u8], fds: FrameFds) -> Result<Run<'_>, FrameError> {
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

pub(super) fn parse_limits(body: &[u8]) -> Result<Option<u64>, FrameError> {
    let mut c = Cursor::new(body, "limits");
    let memory = c.u64("memory limit cut")?;
    c.expect_end("bytes after the memory limit")?;
    Ok((memory != POOL_LIMIT).then_some(memory))
}
