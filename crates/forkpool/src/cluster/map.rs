//! `Cluster::map`: lazy, batched, bounded, like `Pool::map`, with batches
//! sized for a trip through the broker.
//!
//! Items are encoded on the caller's thread into batches, each one stream
//! entry (one `XADD`, sent with the other entries queued at that moment in
//! one pipeline), which a node hands to its local pool as one job. The
//! first batch holds one item; later ones are sized from the worker time
//! items took (the nodes report it), aiming at [`TARGET_BATCH_NS`] of work
//! per batch so that the broker's per-entry cost vanishes for tiny items,
//! and growing at most eightfold at a time. A window of batches is in
//! flight: twice the live nodes' workers, plus two.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::session::{Queue, Session};
use super::wire;
use crate::error::TaskError;
use crate::slot::{self, Label, Slot};
use crate::window::{ChunkSize, Window, encode_chunk};

/// Worker time a batch should take, once item times are known.
const TARGET_BATCH_NS: f64 = 4_000_000.0;
/// The most items in one batch.
const MAX_BATCH_ITEMS: usize = 65_536;
/// The most encoded bytes in one batch (a single larger item still goes).
const MAX_BATCH_BYTES: u64 = 1 << 20;

/// The iterator returned by [`Cluster::map`](super::Cluster::map) and
/// [`Cluster::map_unordered`](super::Cluster::map_unordered).
///
/// Yields one `Result` per input. When no live node serves the function,
/// every item is [`TaskError::Unsupported`].
pub struct RemoteMap<'c, I, R> {
    session: &'c Session,
    queue: Result<Arc<Queue>, TaskError>,
    input: I,
    input_done: bool,
    window: Window,
    batch: ChunkSize,
    ready: VecDeque<Result<R, TaskError>>,
    result: PhantomData<fn() -> R>,
}

impl<I, R> fmt::Debug for RemoteMap<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteMap")
            .field("ordered", &self.window.is_ordered())
            .field("batches_in_flight", &self.window.len())
            .field("batch_items", &self.batch.items())
            .finish_non_exhaustive()
    }
}

impl<'c, I, A, R> RemoteMap<'c, I, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned,
{
    pub(crate) fn new(session: &'c Session, queue: Result<Arc<Queue>, TaskError>, input: I, ordered: bool) -> Self {
        RemoteMap {
            session,
            queue,
            input,
            input_done: false,
            window: Window::new(ordered),
            batch: ChunkSize::new(TARGET_BATCH_NS, MAX_BATCH_ITEMS),
            ready: VecDeque::new(),
            result: PhantomData,
        }
    }

    /// Sends batches until the window is full or the input ends.
    fn fill(&mut self) {
        let queue = match &self.queue {
            Ok(queue) => queue.clone(),
            Err(error) => {
                // Nothing can run: each input fails, lazily.
                if !self.input_done {
                    match self.input.next() {
                        Some(_) => self.ready.push_back(Err(error.clone())),
                        None => self.input_done = true,
                    }
                }
                return;
            }
        };
        let max_in_flight = 2 * queue.workers() + 2;
        while self.window.len() < max_in_flight && !self.input_done {
            let max = self.session.settings.max_message;
            let batch = encode_chunk(&mut self.input, self.batch.items(), MAX_BATCH_BYTES, |data, _, arg| {
                wire::encode_inline(data, arg, max)
            });
            self.input_done = batch.input_done;
            if batch.count > 0 {
                let (slot, _) = self.session.send(&queue, batch.count, batch.data, false);
                self.window.push(slot);
            }
            if let Some(error) = batch.failed {
                self.window
                    .push(Slot::failed(1, Label::task(slot::next_id()), error, None));
            }
        }
    }
}

impl<I, A, R> Iterator for RemoteMap<'_, I, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.ready.pop_front() {
                return Some(result);
            }
            self.fill();
            if let Some(result) = self.ready.pop_front() {
                return Some(result);
            }
            let slot = self.window.next()?;
            let items = slot.items();
            if let Some(outcome) = slot.take() {
                self.batch.learn(items, outcome.elapsed_ns());
                self.ready.extend(outcome.into_results::<R>());
            }
        }
    }
}
