//! A job: a run of consecutive items of one slot, handed to one worker.

use std::ops::Range;
use std::sync::Arc;

use crate::ipc::frame::FrameError;
use crate::ipc::outbox::Attachment;
use crate::ipc::protocol::extent;
use crate::slot::Slot;
use crate::stream::link::Link;
use crate::sys::code::CodeOffset;

/// See the module docs. Cloning shares the encoded items.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The task's entry point.
    pub(crate) entry: CodeOffset,
    /// Where the results go.
    pub(crate) slot: Arc<Slot>,
    /// The encoded items of the whole submission (see `protocol`).
    data: Arc<Vec<u8>>,
    /// The descriptors the submission's items own, in item order (none
    /// for most submissions).
    fds: Option<Arc<Vec<Attachment>>>,
    /// Index, within the slot, of this job's first item.
    pub(crate) first: u32,
    /// Number of items.
    pub(crate) count: u32,
    /// Where this job's items lie in `data`...
    bytes: Range<usize>,
    /// ...and their descriptors in `fds`.
    fd_range: Range<usize>,
    /// The size of this job's encoded items, inline or out of line.
    size: u64,
    /// How many times this job was on a worker that died without any item
    /// to blame; past a limit the job is failed instead of retried.
    pub(crate) bystander: u8,
    /// `submit`: an item that started is never run again, even if its
    /// result was lost with its worker. (`map` items may be re-run.)
    pub(crate) at_most_once: bool,
    /// A streaming task: its one item is the argument, and the worker
    /// gets the stream's ring beside it (see `supervisor/stream.rs`).
    pub(crate) stream: Option<Arc<Link>>,
}

impl Job {
    /// A job for all `count` items encoded in `data`, owning `fds`, of
    /// `size` encoded bytes in all.
    pub(crate) fn new(
        entry: CodeOffset,
        slot: Arc<Slot>,
        data: Vec<u8>,
        fds: Vec<Attachment>,
        count: u32,
        size: u64,
        at_most_once: bool,
    ) -> Job {
        let len = data.len();
        let nfds = fds.len();
        Job {
            entry,
            slot,
            data: Arc::new(data),
            fds: (!fds.is_empty()).then(|| Arc::new(fds)),
            first: 0,
            count,
            bytes: 0..len,
            fd_range: 0..nfds,
            size,
            bystander: 0,
            at_most_once,
            stream: None,
        }
    }

    /// Makes it the job of the stream `link` (a job of one item).
    pub(crate) fn with_stream(mut self, link: Arc<Link>) -> Job {
        self.stream = Some(link);
        self
    }

    /// The encoded items.
    pub(crate) fn items(&self) -> &[u8] {
        &self.data[self.bytes.clone()]
    }

    /// The descriptors the items own, in order.
    pub(crate) fn fds(&self) -> &[Attachment] {
        self.fds.as_ref().map_or(&[], |fds| &fds[self.fd_range.clone()])
    }

    /// The size of the encoded items, inline or out of line.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Items `lo..hi` (counted within this job) as a job of their own.
    pub(crate) fn slice(&self, lo: u32, hi: u32) -> Result<Job, FrameError> {
        debug_assert!(lo <= hi && hi <= self.count);
        let items = self.items();
        let head = extent(items, lo)?;
        let part = extent(&items[head.bytes..], hi - lo)?;
        let fd_start = self.fd_range.start + head.fds;
        Ok(Job {
            entry: self.entry,
            slot: self.slot.clone(),
            data: self.data.clone(),
            fds: self.fds.clone(),
            first: self.first + lo,
            count: hi - lo,
            bytes: self.bytes.start + head.bytes..self.bytes.start + head.bytes + part.bytes,
            fd_range: fd_start..fd_start + part.fds,
            size: part.size,
            bystander: self.bystander,
            at_most_once: self.at_most_once,
            stream: self.stream.clone(),
        })
    }

    /// Items `lo..hi` as a job that can only be failed, not run: it names
    /// the slot and the items but carries none of their bytes. Cannot fail.
    pub(crate) fn span(&self, lo: u32, hi: u32) -> Job {
        Job {
            entry: self.entry,
            slot: self.slot.clone(),
            data: self.data.clone(),
            fds: None,
            first: self.first + lo,
            count: hi.saturating_sub(lo),
            bytes: self.bytes.start..self.bytes.start,
            fd_range: 0..0,
            size: 0,
            bystander: self.bystander,
            at_most_once: self.at_most_once,
            stream: self.stream.clone(),
        }
    }

    /// Splits off the first `n` items; `self` keeps the rest.
    pub(crate) fn split_front(&mut self, n: u32) -> Result<Job, FrameError> {
        let head = self.slice(0, n)?;
        *self = self.slice(n, self.count)?;
        Ok(head)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ipc::protocol::{Items, push_item};

    /// A job of `n` one-byte items `0..n`.
    pub(crate) fn job_of(n: u32) -> Job {
        let mut data = Vec::new();
        for i in 0..n {
            push_item(&mut data, |o| {
                o.push(i as u8);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        let size = data.len() as u64;
        Job::new(
            0,
            Slot::new(n, crate::slot::Label::task(1)),
            data,
            Vec::new(),
            n,
            size,
            false,
        )
    }

    fn values(job: &Job) -> Vec<u8> {
        Items::new(job.items(), job.count)
            .map(|i| i.unwrap().inline[0])
            .collect()
    }

    #[test]
    fn slices_and_splits_keep_item_boundaries() {
        let job = job_of(6);
        let mid = job.slice(2, 5).unwrap();
        assert_eq!((mid.first, mid.count), (2, 3));
        assert_eq!(values(&mid), [2, 3, 4]);
        let inner = mid.slice(1, 2).unwrap();
        assert_eq!((inner.first, values(&inner)), (3, vec![3]));
        let mut rest = job.clone();
        let head = rest.split_front(4).unwrap();
        assert_eq!(values(&head), [0, 1, 2, 3]);
        assert_eq!((rest.first, values(&rest)), (4, vec![4, 5]));
        assert_eq!(job.slice(6, 6).unwrap().count, 0);
    }
}
