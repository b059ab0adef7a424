//! What a stream's consumer and the supervisor share.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Waker;

use crate::ipc::frame::FrameFds;
use crate::ipc::outbox::Attachment;
use crate::slot::lock;

/// An item that came in a `YIELD` frame, waiting for the consumer.
#[derive(Debug)]
pub(crate) struct FrameItem {
    /// Its number in the stream.
    pub(crate) seq: u64,
    /// The credit it stands for.
    pub(crate) weight: u64,
    /// The item (header, bytes, trailers; see `ipc::protocol`).
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: FrameFds,
    /// The largest out-of-line body accepted.
    pub(crate) limit: usize,
}

#[derive(Debug, Default)]
struct Inbox {
    frames: VecDeque<FrameItem>,
    waker: Option<Waker>,
}

/// One stream, as its consumer (`TaskStream`) and the supervisor see it.
/// The job that runs it holds it too (`Job::stream`).
#[derive(Debug)]
pub(crate) struct Link {
    /// The ring's memfd, for the worker.
    pub(crate) ring: Attachment,
    /// The `eventfd` the consumer writes when it returns credit to a
    /// worker that waits for it.
    pub(crate) credit: Attachment,
    inbox: Mutex<Inbox>,
    /// How many frame items wait in the inbox (read without its lock).
    waiting: AtomicUsize,
    /// The consumer cancelled (or dropped) the stream.
    cancelled: AtomicBool,
    /// The pool stopped the stream (`shutdown`, or the pool was dropped).
    stopped_by_pool: AtomicBool,
}

impl Link {
    pub(crate) fn new(ring: Attachment, credit: Attachment) -> Link {
        Link {
            ring,
            credit,
            inbox: Mutex::new(Inbox::default()),
            waiting: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            stopped_by_pool: AtomicBool::new(false),
        }
    }

    /// Hands over an item that came in a frame, and wakes the consumer.
    pub(crate) fn push(&self, item: FrameItem) {
        let mut inbox = lock(&self.inbox);
        inbox.frames.push_back(item);
        self.waiting.store(inbox.frames.len(), Ordering::Release);
        let waker = inbox.waker.take();
        drop(inbox);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes the consumer (the worker rang: items wait in the ring).
    pub(crate) fn wake(&self) {
        let waker = lock(&self.inbox).waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Has `waker` woken by the next `push` or `wake`.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut inbox = lock(&self.inbox);
        match &inbox.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => inbox.waker = Some(waker.clone()),
        }
    }

    /// Takes the frame item numbered `seq`, if it is the next one. An item
    /// with another number is a worker that broke the order: `Err`.
    pub(crate) fn take(&self, seq: u64) -> Result<Option<FrameItem>, u64> {
        let mut inbox = lock(&self.inbox);
        match inbox.frames.front() {
            None => Ok(None),
            Some(item) if item.seq == seq => {
                let item = inbox.frames.pop_front();
                self.waiting.store(inbox.frames.len(), Ordering::Release);
                Ok(item)
            }
            Some(item) => Err(item.seq),
        }
    }

    /// Whether a frame item waits.
    pub(crate) fn has_frame(&self) -> bool {
        self.waiting.load(Ordering::Acquire) != 0
    }

    /// Marks the stream cancelled by its consumer; true the first time.
    pub(crate) fn cancel(&self) -> bool {
        !self.cancelled.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Marks the stream stopped by the pool (it ends with `PoolShutdown`).
    pub(crate) fn stop_by_pool(&self) {
        self.stopped_by_pool.store(true, Ordering::Release);
    }

    pub(crate) fn is_stopped_by_pool(&self) -> bool {
        self.stopped_by_pool.load(Ordering::Acquire)
    }
}
