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
use crate::call;
use crate::error::TaskError;
use crate::pool::encode_item;
use crate::slot::{Notifier, Slot};

/// Worker time a batch should take, once item times are known.
const TARGET_BATCH_NS: f64 = 4_000_000.0;
/// The most items in one batch.
const MAX_BATCH_ITEMS: usize = 65_536;
/// The most encoded bytes in one batch (a single larger item still goes).
const MAX_BATCH_BYTES: usize = 1 << 20;
/// A batch is at most this many times larger than the one before.
const GROWTH: usize = 8;

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
    ordered: bool,
    window: VecDeque<Arc<Slot>>,
    by_token: Vec<Option<Arc<Slot>>>,
    free_tokens: Vec<usize>,
    notifier: Arc<Notifier>,
    in_flight: usize,
    batch_items: usize,
    ready: VecDeque<Result<R, TaskError>>,
    result: PhantomData<fn() -> R>,
}

impl<I, R> fmt::Debug for RemoteMap<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteMap")
            .field("ordered", &self.ordered)
            .field("batches_in_flight", &self.in_flight)
            .field("batch_items", &self.batch_items)
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
            ordered,
            window: VecDeque::new(),
            by_token: Vec::new(),
            free_tokens: Vec::new(),
            notifier: Arc::new(Notifier::default()),
            in_flight: 0,
            batch_items: 1,
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
        while self.in_flight < max_in_flight && !self.input_done {
            let mut data = Vec::new();
            let mut count = 0u32;
            let mut failed = None;
            while (count as usize) < self.batch_items && data.len() < MAX_BATCH_BYTES {
                let Some(arg) = self.input.next() else {
                    self.input_done = true;
                    break;
                };
                match encode_item(&mut data, self.session.settings.max_message, |out| {
                    call::encode_into(&arg, out)
                }) {
                    Ok(()) => count += 1,
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            if count > 0 {
                let slot = self.session.send(&queue, count, data, false);
                self.track(slot);
            }
            if let Some(error) = failed {
                // Keeps its place in the order, as a batch of one that has
                // already failed.
                self.track(Slot::failed(1, error));
            }
        }
    }

    fn track(&mut self, slot: Arc<Slot>) {
        self.in_flight += 1;
        if self.ordered {
            self.window.push_back(slot);
        } else {
            let token = match self.free_tokens.pop() {
                Some(token) => token,
                None => {
                    self.by_token.push(None);
                    self.by_token.len() - 1
                }
            };
            slot.listen(self.notifier.clone(), token);
            self.by_token[token] = Some(slot);
        }
    }

    /// Waits for the next batch to yield (the oldest, or any).
    fn next_batch(&mut self) -> Option<Arc<Slot>> {
        if self.in_flight == 0 {
            return None;
        }
        let slot = if self.ordered {
            let slot = self.window.pop_front()?;
            slot.wait(None);
            slot
        } else {
            let token = self.notifier.pop(None)?;
            self.free_tokens.push(token);
            self.by_token.get_mut(token)?.take()?
        };
        self.in_flight -= 1;
        Some(slot)
    }

    /// Sizes the next batches from how long this one's items took.
    fn learn(&mut self, items: u32, elapsed_ns: u64) {
        if items == 0 || elapsed_ns == 0 {
            return;
        }
        let per_item = elapsed_ns as f64 / f64::from(items);
        let ideal = (TARGET_BATCH_NS / per_item).clamp(1.0, MAX_BATCH_ITEMS as f64) as usize;
        self.batch_items = ideal.min(self.batch_items.saturating_mul(GROWTH)).max(1);
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
            let slot = self.next_batch()?;
            let items = slot.items();
            if let Some(outcome) = slot.take() {
                self.learn(items, outcome.elapsed_ns());
                outcome.decode_into(&mut self.ready);
            }
        }
    }
}
