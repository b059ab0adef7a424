//! The consumer's side of a stream: items out of the ring (and out of
//! `YIELD` frames, in their places), credit back to the worker, and the
//! stream's end from its slot.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::End;
use super::link::{FrameItem, Link};
use super::ring::{Record, RingReader, Sleeper};
use crate::error::TaskError;
use crate::ipc::codec;
use crate::ipc::lost::Receiver;
use crate::ipc::protocol::{Item, Items};
use crate::output::ItemOutput;
use crate::slot::Slot;
use crate::supervisor::Shared;

/// How long a blocking `next` looks for the worker's next item before it
/// sleeps. Short: an item a generator is about to finish is taken without
/// a wake-up, but the loop never spends much CPU. A consumer faster than
/// its generator sleeps between bursts, and the worker wakes it with one
/// system call a burst (the first item it commits after the consumer said
/// it sleeps), not one per item.
const SPIN: Duration = Duration::from_micros(5);

/// How the consumer waits when there is nothing yet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Waiter<'a> {
    /// Blocked in `next`: it looks again for a while, then sleeps on the
    /// ring's futex ([`RingReader::sleep`]).
    Blocking,
    /// `poll_next`: this waker is woken.
    Async(&'a Waker),
}

/// What one step of the consumer came to.
#[derive(Debug)]
pub(crate) enum Step<T> {
    Item(T),
    /// This item failed on its own (its descriptors could not be
    /// received): the stream goes on with the next.
    Failed(TaskError),
    /// The stream is over: with this error, or cleanly.
    End(Option<TaskError>),
    /// Nothing yet; the waker will be woken.
    Pending,
}

/// An open stream, as its consumer holds it.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) slot: Arc<Slot>,
    pub(crate) link: Arc<Link>,
    pub(crate) ring: RingReader,
    pub(crate) credit: Arc<OwnedFd>,
    pub(crate) shared: Arc<Shared>,
    /// The largest out-of-line item accepted.
    pub(crate) limit: usize,
    /// Items taken so far (markers included): the next item's number.
    pub(crate) seq: u64,
    /// A marker was read; its frame has not been taken yet.
    pub(crate) awaiting_frame: bool,
    /// The end the worker reported, once the slot finished.
    pub(crate) end: Option<Result<End, TaskError>>,
    /// What the generator wrote, once the slot finished (empty unless the
    /// pool captures output).
    pub(crate) output: ItemOutput,
    /// The consumer told the worker it sleeps (and may not have been
    /// woken by the worker, which would have cleared that).
    pub(crate) sleeping: bool,
    /// The waker of a consumer blocked in `next` (made once).
    pub(crate) futex_waker: Option<Waker>,
}

impl Open {
    /// Cancels the stream (idempotent): the worker stops its generator
    /// between items, and the consumer yields nothing more.
    pub(crate) fn cancel(&self) {
        if self.link.cancel() {
            if self.slot.abandon() {
                self.shared.note_abandoned();
            }
            // A consumer parked in another thread must see it.
            self.link.wake();
        }
    }

    /// Ends the stream early with `error`: the worker is told to stop.
    fn fail<T>(&self, error: TaskError) -> Step<T> {
        self.cancel();
        Step::End(Some(error))
    }

    /// Takes the next item, or says why there is none (then `waiter` will
    /// be woken when there may be news).
    pub(crate) fn step<T: DeserializeOwned>(&mut self, waiter: Waiter<'_>) -> Step<T> {
        if self.sleeping {
            // Awake: the worker need not ring for us.
            self.ring.end_wait();
            self.sleeping = false;
        }
        loop {
            if self.link.is_cancelled() {
                return Step::End(None);
            }
            if self.awaiting_frame {
                match self.link.take(self.seq) {
                    Ok(Some(item)) => {
                        self.awaiting_frame = false;
                        return self.frame_item(item);
                    }
                    Ok(None) => {}
                    Err(seq) => return self.out_of_order(seq),
                }
                if self.slot.is_finished() {
                    // The marker is written after the frame was sent, and
                    // the supervisor reads all a worker sent before it ends
                    // the task: the frame cannot still be on its way.
                    if let Ok(Some(item)) = self.link.take(self.seq) {
                        self.awaiting_frame = false;
                        return self.frame_item(item);
                    }
                    return self.fail(TaskError::Protocol {
                        message: format!("stream item {} never arrived", self.seq),
                    });
                }
            } else {
                match self.ring.next_record() {
                    Some(Ok(Record::Item(bytes))) => {
                        self.seq += 1;
                        let item = Item::inline(bytes, 0);
                        return match codec::decode(&item, Vec::new(), self.limit) {
                            Ok(value) => Step::Item(value),
                            Err(e) => self.fail(decode_error(e.reason())),
                        };
                    }
                    Some(Ok(Record::Marker)) => {
                        self.awaiting_frame = true;
                        continue;
                    }
                    Some(Err(corrupt)) => return self.corrupt(corrupt.0),
                    None => {}
                }
                match self.ring.refill() {
                    Err(corrupt) => return self.corrupt(corrupt.0),
                    Ok((copied, wake)) => {
                        if wake {
                            self.return_credit();
                        }
                        if copied {
                            continue;
                        }
                    }
                }
                if self.slot.is_finished() {
                    // Everything the worker committed before it ended is in
                    // the ring by now: only then is the end the end.
                    if self.ring.has_committed() {
                        continue;
                    }
                    // A worker that died between sending an item's frame and
                    // writing its marker: the frame is the next item.
                    match self.link.take(self.seq) {
                        Ok(Some(item)) => return self.frame_item(item),
                        Ok(None) => {}
                        Err(seq) => return self.out_of_order(seq),
                    }
                    return self.finish();
                }
            }
            let blocking = matches!(waiter, Waiter::Blocking);
            if blocking && self.spin() {
                continue;
            }
            // Announce, then look once more before sleeping.
            let waker = match waiter {
                Waiter::Async(waker) => waker.clone(),
                Waiter::Blocking => self.futex_waker.get_or_insert_with(|| self.ring.waker()).clone(),
            };
            self.link.register(&waker);
            if let Poll::Ready(outcome) = self.slot.poll_take(&mut Context::from_waker(&waker)) {
                self.set_end(outcome);
                continue;
            }
            self.ring
                .begin_wait(if blocking { Sleeper::Futex } else { Sleeper::Bell });
            if self.ring.has_committed() || self.link.has_frame() || self.link.is_cancelled() || self.slot.is_finished()
            {
                self.ring.end_wait();
                continue;
            }
            self.sleeping = true;
            return Step::Pending;
        }
    }

    /// Looks for news for up to [`SPIN`]. A busy loop: yielding the CPU
    /// instead would, on a loaded machine, turn the wait into whole time
    /// slices of other processes.
    /// Looks are spaced out, so that items pile up between them (taken in
    /// a batch, not one by one in step with the worker) and the line of the
    /// ring the worker writes is not pulled away from it all the time.
    fn spin(&self) -> bool {
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
            if self.ring.has_committed() || self.link.has_frame() || self.slot.is_finished() || self.link.is_cancelled()
            {
                return true;
            }
            if start.elapsed() >= SPIN {
                return false;
            }
        }
    }

    fn set_end(&mut self, outcome: Option<crate::slot::Outcome>) {
        if self.end.is_none() {
            self.end = Some(match outcome {
                Some(mut outcome) => {
                    self.output = outcome.take_outputs(1).pop().unwrap_or_default();
                    outcome.decode_one::<End>()
                }
                None => Err(TaskError::Protocol {
                    message: "the stream's end was taken twice".into(),
                }),
            });
        }
    }

    /// The stream's end, once every item before it was taken.
    fn finish<T>(&mut self) -> Step<T> {
        if self.end.is_none() {
            self.set_end(self.slot.take());
        }
        let end = self.end.clone().unwrap_or(Err(TaskError::Protocol {
            message: "the stream ended without an outcome".into(),
        }));
        match end {
            Ok(End { stopped: true, .. }) if self.link.is_stopped_by_pool() => Step::End(Some(TaskError::PoolShutdown)),
            Ok(End { stopped: true, .. }) => Step::End(None),
            Ok(End { items, .. }) if items == self.seq => Step::End(None),
            Ok(End { items, .. }) => Step::End(Some(TaskError::Protocol {
                message: format!("the stream reported {items} items but {} arrived", self.seq),
            })),
            Err(error) => Step::End(Some(error)),
        }
    }

    fn frame_item<T: DeserializeOwned>(&mut self, mut item: FrameItem) -> Step<T> {
        self.seq += 1;
        let decoded = match Items::new(&item.bytes, 1).next() {
            Some(Ok(header)) => {
                let fds = item.fds.take(header.fds());
                let wake = self.ring.took_frame(item.weight, header.fds() as u64);
                if wake {
                    self.return_credit();
                }
                match fds {
                    Ok(fds) => codec::decode(&header, fds, item.limit).map_err(|e| decode_error(e.reason())),
                    Err(lost) => {
                        // Only this item's descriptors are gone (this
                        // process was out of them): the next items may
                        // well arrive whole, once some are free again.
                        let message = format!(
                            "cannot receive stream item {} (counting from 0): {}",
                            item.seq,
                            lost.message(&header, 0, Receiver::Caller)
                        );
                        return Step::Failed(TaskError::Codec { message });
                    }
                }
            }
            _ => Err(TaskError::Protocol {
                message: format!("stream item {} is malformed", item.seq),
            }),
        };
        match decoded {
            Ok(value) => Step::Item(value),
            Err(error) => self.fail(error),
        }
    }

    fn out_of_order<T>(&self, seq: u64) -> Step<T> {
        self.fail(TaskError::Protocol {
            message: format!("stream item {seq} came where item {} belongs", self.seq),
        })
    }

    fn corrupt<T>(&self, what: &str) -> Step<T> {
        self.fail(TaskError::Protocol {
            message: format!("the stream's ring holds {what}"),
        })
    }

    /// Wakes a worker that waits for credit.
    fn return_credit(&self) {
        let _ = rustix::io::write(&*self.credit, &1u64.to_ne_bytes());
    }
}

fn decode_error(reason: &str) -> TaskError {
    TaskError::Codec {
        message: format!("cannot decode a stream item: {reason}"),
    }
}
