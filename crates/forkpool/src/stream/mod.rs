//! Streaming tasks: a generator in a worker, its items read as it makes
//! them. See `README.md` beside this file for the design.
//!
//! - `entry.rs`: the typed entry point, which turns the user's closure into
//!   a [`Generator`](entry::Generator) the worker can drive.
//! - `ring.rs`: the shared ring the items travel through, and the credits.
//! - `link.rs`: what the consumer and the supervisor share about a stream.
//! - `consumer.rs`: taking items, returning credit, and the stream's end.
//!
//! The worker's loop is `worker/stream.rs`; the supervisor's part (which
//! worker serves which stream, cancelling, stopping) is
//! `supervisor/stream.rs`.

mod consumer;
pub(crate) mod entry;
pub(crate) mod link;
pub(crate) mod ring;

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::ipc::lost::{Receiver, explain};
use crate::ipc::outbox::Attachment;
use crate::options::Limits;
use crate::output::Captured;
use crate::pool::{Pool, encode_item};
use crate::slot::{Label, Slot, next_id};
use crate::supervisor::Job;
use crate::sys::code::CodeOffset;
use consumer::{Open, Step, Waiter};
use link::Link;
use ring::RingReader;

/// How a stream ended, as its worker reports it: the one record of the
/// `RESULTS` frame that ends a stream's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct End {
    /// Items made, all of them in the ring (or in frames) by now.
    pub(crate) items: u64,
    /// The worker stopped the generator before it was done (the stream
    /// was cancelled, or the pool stopped it).
    pub(crate) stopped: bool,
}

impl Pool {
    /// Runs `f(arg)` in a worker and streams the items of the iterator it
    /// returns, as the worker makes them.
    ///
    /// `f` is a function or a closure that captures nothing, as for
    /// [`submit`](Pool::submit) (checked at compile time); `arg` and the
    /// items are `serde` types. The returned [`TaskStream`] is an
    /// `Iterator` of `Result<T, TaskError>` and a `futures_core::Stream`:
    ///
    /// ```
    /// let pool = forkpool::Pool::builder().workers(2).build()?;
    /// let squares = pool.stream(|n: u64| (0..n).map(|i| i * i), 5);
    /// let got: Vec<u64> = squares.collect::<Result<_, _>>().unwrap();
    /// assert_eq!(got, [0, 1, 4, 9, 16]);
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    ///
    /// - The worker runs ahead of the consumer by a bounded amount (see
    ///   [`TaskStream`], "Flow control"), so an endless generator with a
    ///   slow consumer holds bounded memory on both sides.
    /// - A stream occupies one worker from its first item to its end: the
    ///   other workers go on with other tasks. In a pool of one worker,
    ///   tasks submitted while a stream is open wait for it to end (or to
    ///   be dropped).
    /// - [`task_timeout`](crate::PoolBuilder::task_timeout) bounds the time
    ///   each item takes (from the previous one, not counting time spent
    ///   waiting for a slow consumer): a healthy endless stream is never
    ///   killed.
    /// - If the generator panics, crashes or times out, the stream yields
    ///   every item made before that, then one `Err` saying why, then
    ///   `None`. A stream that started never runs again.
    /// - If `arg` cannot be serialized, the stream yields one
    ///   [`TaskError::Codec`] and ends.
    pub fn stream<F, A, I, T>(&self, f: F, arg: A) -> TaskStream<T>
    where
        F: Fn(A) -> I + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = T> + 'static,
        I::IntoIter: 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        self.task().stream(f, arg)
    }

    /// Encodes `arg`, makes the stream's ring, and hands the stream to the
    /// supervisor as one job of `entry`: the one way a stream is submitted.
    pub(crate) fn submit_stream<A: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        entry: CodeOffset,
        arg: &A,
        limits: Limits,
    ) -> TaskStream<T> {
        let id = next_id();
        let mut data = Vec::with_capacity(32);
        let mut fds = Vec::new();
        let size = match encode_item(&mut data, &mut fds, self, arg) {
            Ok(size) => size,
            Err(error) => return TaskStream::failed(id, error),
        };
        let made = RingReader::create().and_then(|(ring, ring_fd)| {
            let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
            let credit = rustix::event::eventfd(0, flags)?;
            Ok((ring, ring_fd, Arc::new(credit)))
        });
        let (ring, ring_fd, credit) = match made {
            Ok(made) => made,
            Err(e) => {
                let message = format!(
                    "cannot make the stream's ring buffer: {}",
                    explain(&e, Receiver::Caller)
                );
                return TaskStream::failed(id, TaskError::Codec { message });
            }
        };
        let link = Arc::new(Link::new(
            Attachment::new(Arc::new(ring_fd)),
            Attachment::new(credit.clone()),
        ));
        let slot = Slot::with(1, Label::task(id), limits, self.counters());
        let job = Job::new(entry, slot.clone(), data, fds, 1, size, true).with_stream(link.clone());
        self.shared().submit(job);
        TaskStream {
            state: State::Open(Box::new(Open {
                slot,
                link,
                ring,
                credit,
                shared: self.shared().clone(),
                limit: self.max_message(),
                seq: 0,
                awaiting_frame: false,
                end: None,
                output: Default::default(),
                sleeping: false,
                futex_waker: None,
            })),
            id,
            captured: None,
            item: PhantomData,
        }
    }
}

/// The items of a streaming task, as its worker makes them: see
/// [`Pool::stream`].
///
/// An [`Iterator`] of `Result<T, TaskError>` (its `next` waits for the
/// next item) and a [`futures_core::Stream`] of the same (for async code,
/// any runtime). Either way it yields the generator's items in order, then,
/// if the stream failed, one `Err` saying why, then `None` for good. The
/// one `Err` that does not end it is an item that could not be received
/// (below): [`is_done`](TaskStream::is_done) tells the two apart.
///
/// ```
/// use forkpool::{Pool, TaskError};
///
/// let pool = Pool::builder().workers(1).build()?;
/// let mut items = pool.stream(
///     |_: ()| (0..3u8).map(|i| if i == 2 { panic!("no more") } else { i }),
///     (),
/// );
/// assert_eq!(items.next(), Some(Ok(0)));
/// assert_eq!(items.next(), Some(Ok(1)));
/// assert!(matches!(items.next(), Some(Err(TaskError::Panicked { .. }))));
/// assert_eq!(items.next(), None);
/// # Ok::<(), forkpool::Error>(())
/// ```
///
/// # Flow control
///
/// Items travel through a ring of shared memory between the worker and
/// this handle; the worker writes each item there before it asks the
/// generator for the next one, so nothing it made is lost if it dies.
/// It runs ahead of the consumer by at most 65,536 items and 1 MiB of
/// encoded items (less the room for one item of up to 64 KiB); an item
/// larger than that, or one that holds [`SharedBytes`](crate::SharedBytes),
/// travels beside the ring as a message of its own, and at most 16 MiB
/// (counting their out-of-line bodies and shared buffers) and 64
/// descriptors of those are in flight, or a single item when it alone is
/// larger. When the worker has no credit left it waits, without counting
/// towards `task_timeout`, until the consumer has taken half of that
/// window back.
///
/// # Items that cannot be received
///
/// An item holding [`SharedBytes`](crate::SharedBytes) brings one file
/// descriptor per buffer into this process. A consumer that keeps many
/// of them reaches its open-files limit (`RLIMIT_NOFILE`, `ulimit -n`);
/// the kernel then delivers the item's bytes but drops its descriptors.
/// That item, and only it, is yielded as `Err(TaskError::Codec)` in its
/// place, saying how many buffers could not be received, at what limit,
/// and what to do (drop buffers you no longer need, or raise the limit);
/// the stream goes on with the next item. Each later item that cannot get
/// its descriptors fails the same way; items without descriptors, and
/// items that arrive once the consumer has let some go, come whole. So a
/// loop that collects `Ok`s and counts `Err`s sees every item exactly
/// once; `collect::<Result<Vec<_>, _>>()` stops at the first such `Err`
/// (and drops, so cancels, the stream) as it does for any other.
///
/// Why not end the stream there, as a failed generator does: the
/// generator is healthy, the item was made and is not made again, and the
/// consumer may free descriptors and go on; ending would lose every item
/// after it. Every other error still ends the stream.
///
/// ```
/// # use forkpool::{Pool, SharedBytes, TaskError};
/// # let pool = Pool::builder().workers(1).build()?;
/// let mut kept = Vec::new();
/// for item in pool.stream(|n: u32| (0..n).map(|i| SharedBytes::copy_from(&[i as u8]).unwrap()), 100) {
///     match item {
///         Ok(bytes) => kept.push(bytes),
///         // Out of descriptors for this one: the stream goes on.
///         Err(TaskError::Codec { message }) if message.contains("could not be received") => {
///             kept.clear();
///         }
///         Err(other) => return Err(other.into()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Cancelling
///
/// [`cancel`](TaskStream::cancel), or dropping the stream, stops it: the
/// worker drops the generator before making another item and takes the
/// next task (the same process). A generator that does not come back from
/// the item it is making within a second of the cancel (or that is
/// waiting for something that never comes) has its worker killed and
/// replaced instead, as a task past its timeout would: nobody wants what
/// it makes, and the pool needs the worker.
///
/// # When the pool stops
///
/// [`Pool::shutdown`], [`Pool::terminate`] and dropping the pool end every
/// open stream: the consumer still gets the items made before that, then
/// `Err(TaskError::PoolShutdown)`, then `None` (a stream that had not
/// started yet yields `Err(TaskError::Cancelled)`). `shutdown` stops the
/// generators the way `cancel` does, so it does not wait for an endless
/// stream. A `TaskStream` may outlive its pool.
///
/// # What the generator prints
///
/// A stream is one task for [`TaskOutput`](crate::TaskOutput): under
/// `Tagged` every line `f` and its generator write is tagged
/// `[task ID] `, with [`id`](TaskStream::id) as the ID, and the lines
/// stream as they are written; all of them are out before the stream
/// yields its end. Under `Capture`, [`captured`](TaskStream::captured)
/// hands back what it wrote once the stream has ended, including what it
/// wrote just before a crash or a timeout kill:
///
/// ```
/// use forkpool::{Pool, TaskOutput};
///
/// let pool = Pool::builder().workers(1).task_output(TaskOutput::Capture).build()?;
/// let mut items = pool.stream(|n: u8| (0..n).inspect(|i| println!("made {i}")), 2);
/// assert_eq!(items.by_ref().collect::<Result<Vec<u8>, _>>(), Ok(vec![0, 1]));
/// let printed = items.captured().unwrap();
/// assert_eq!(printed.stdout, b"made 0\nmade 1\n");
/// # Ok::<(), forkpool::Error>(())
/// ```
#[must_use = "a stream does nothing useful unless it is read; dropping it cancels it"]
pub struct TaskStream<T> {
    state: State,
    /// Its task id (the tag of its `Tagged` lines).
    id: u64,
    /// What it wrote, with how it ended, from its end until taken.
    captured: Option<Captured<()>>,
    item: PhantomData<fn() -> T>,
}

enum State {
    Open(Box<Open>),
    /// Failed before it started: this error, then the end.
    Failed(TaskError),
    Done,
}

impl<T> fmt::Debug for TaskStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Open(open) => {
                if open.slot.is_finished() {
                    "ending"
                } else {
                    "open"
                }
            }
            State::Failed(_) => "failed",
            State::Done => "done",
        };
        f.debug_struct("TaskStream")
            .field("id", &self.id)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<T> TaskStream<T> {
    fn failed(id: u64, error: TaskError) -> TaskStream<T> {
        TaskStream {
            state: State::Failed(error),
            id,
            captured: None,
            item: PhantomData,
        }
    }

    /// This stream's task id, unique in the process among tasks, maps and
    /// streams. Under [`TaskOutput::Tagged`](crate::TaskOutput::Tagged)
    /// each line the stream's generator writes is tagged `[task ID] `.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the stream's generator (and `f`) wrote to stdout and stderr,
    /// once the stream has ended: after it yielded `None`. `result` is
    /// `Ok(())` for a stream that ran to its end, or the `Err` it yielded
    /// last. The bytes are those kept under
    /// [`TaskOutput::Capture`](crate::TaskOutput::Capture) (the last
    /// [`capture_limit`](crate::PoolBuilder::capture_limit) bytes of each);
    /// under the other modes they are empty, the output went to your
    /// process's streams.
    ///
    /// `None` while the stream is open, after the first call, and for a
    /// stream that was cancelled (or dropped its end for a protocol or
    /// decoding error) before its worker reported its end: nobody waits
    /// for the output of a stream that was given up.
    pub fn captured(&mut self) -> Option<Captured<()>> {
        self.captured.take()
    }

    /// Stops the stream. The worker drops the generator before it makes
    /// another item (see "Cancelling" above); items not yet taken are
    /// discarded, and from now on the stream yields `None`. Does nothing
    /// to a stream that has ended.
    pub fn cancel(&self) {
        if let State::Open(open) = &self.state {
            open.cancel();
        }
    }

    /// Whether the stream has yielded its last item (or error). After an
    /// `Err`, false means the stream goes on: that item alone could not be
    /// received (see "Items that cannot be received" above).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

impl<T: DeserializeOwned> TaskStream<T> {
    /// One step; `waiter` is woken after a `Pending`.
    fn step(&mut self, waiter: Waiter<'_>) -> Poll<Option<Result<T, TaskError>>> {
        let step = match &mut self.state {
            State::Done => return Poll::Ready(None),
            State::Failed(_) => {
                let State::Failed(error) = std::mem::replace(&mut self.state, State::Done) else {
                    return Poll::Ready(None);
                };
                self.captured = Some(Captured::new(Err(error.clone()), Default::default()));
                return Poll::Ready(Some(Err(error)));
            }
            State::Open(open) => open.step::<T>(waiter),
        };
        match step {
            Step::Item(item) => Poll::Ready(Some(Ok(item))),
            Step::Failed(error) => Poll::Ready(Some(Err(error))),
            Step::End(error) => {
                if let State::Open(open) = &mut self.state
                    && open.end.is_some()
                    && !open.link.is_cancelled()
                {
                    let result = error.clone().map_or(Ok(()), Err);
                    self.captured = Some(Captured::new(result, std::mem::take(&mut open.output)));
                }
                self.state = State::Done;
                Poll::Ready(error.map(Err))
            }
            Step::Pending => Poll::Pending,
        }
    }
}

impl<T: DeserializeOwned> Iterator for TaskStream<T> {
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step(Waiter::Blocking) {
                Poll::Ready(item) => return item,
                Poll::Pending => {
                    if let State::Open(open) = &self.state {
                        open.ring.sleep();
                    }
                }
            }
        }
    }
}

impl<T: DeserializeOwned> futures_core::Stream for TaskStream<T> {
    type Item = Result<T, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().step(Waiter::Async(cx.waker()))
    }
}

impl<T: DeserializeOwned> futures_core::FusedStream for TaskStream<T> {
    fn is_terminated(&self) -> bool {
        self.is_done()
    }
}

impl<T: DeserializeOwned> std::iter::FusedIterator for TaskStream<T> {}

impl<T> Drop for TaskStream<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}
