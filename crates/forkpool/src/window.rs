//! What a lazy `map` keeps in flight, whether a local pool's chunks or a
//! cluster's batches: the window of submitted slots, yielded in input
//! order or as they finish, and the size of the next chunk, learned from
//! how long items took.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::TaskError;
use crate::ipc::outbox::Attachment;
use crate::slot::{Notifier, Slot};

/// The inputs of one chunk, encoded.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    /// The items, as a job carries them.
    pub(crate) data: Vec<u8>,
    /// Their descriptors (out-of-line bodies, shared buffers).
    pub(crate) fds: Vec<Attachment>,
    pub(crate) count: u32,
    /// The size of their encodings, inline or out of line.
    pub(crate) size: u64,
    /// An input that could not be encoded, which ended the chunk early: it
    /// keeps its place in the order as a chunk of one that has failed.
    pub(crate) failed: Option<TaskError>,
    /// The input ran out.
    pub(crate) input_done: bool,
}

/// Encodes up to `items` inputs with `encode` (which appends one item and
/// returns its size), and about `max_bytes` (a single larger item still
/// goes).
pub(crate) fn encode_chunk<A>(
    input: &mut impl Iterator<Item = A>,
    items: usize,
    max_bytes: u64,
    mut encode: impl FnMut(&mut Vec<u8>, &mut Vec<Attachment>, &A) -> Result<u64, TaskError>,
) -> Chunk {
    let mut chunk = Chunk::default();
    while (chunk.count as usize) < items && chunk.size < max_bytes {
        let Some(arg) = input.next() else {
            chunk.input_done = true;
            break;
        };
        match encode(&mut chunk.data, &mut chunk.fds, &arg) {
            Ok(size) => {
                chunk.count += 1;
                chunk.size += size;
            }
            Err(error) => {
                chunk.failed = Some(error);
                break;
            }
        }
    }
    chunk
}

/// Slots in flight, yielded in input order or as they finish.
#[derive(Debug)]
pub(crate) struct Window {
    ordered: bool,
    /// Ordered: slots in input order.
    in_order: VecDeque<Arc<Slot>>,
    /// Unordered: slots by token, `None` once collected.
    by_token: Vec<Option<Arc<Slot>>>,
    free_tokens: Vec<usize>,
    notifier: Arc<Notifier>,
    len: usize,
}

impl Window {
    pub(crate) fn new(ordered: bool) -> Window {
        Window {
            ordered,
            in_order: VecDeque::new(),
            by_token: Vec::new(),
            free_tokens: Vec::new(),
            notifier: Arc::new(Notifier::default()),
            len: 0,
        }
    }

    /// Slots in flight.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_ordered(&self) -> bool {
        self.ordered
    }

    /// Adds a submitted slot.
    pub(crate) fn push(&mut self, slot: Arc<Slot>) {
        self.len += 1;
        if self.ordered {
            self.in_order.push_back(slot);
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

    /// Waits for the next slot to yield (the oldest, or any that finished)
    /// and takes it out; `None` when none is in flight.
    pub(crate) fn next(&mut self) -> Option<Arc<Slot>> {
        if self.len == 0 {
            return None;
        }
        let slot = if self.ordered {
            let slot = self.in_order.pop_front()?;
            slot.wait(None);
            slot
        } else {
            let token = self.notifier.pop(None)?;
            self.free_tokens.push(token);
            self.by_token.get_mut(token)?.take()?
        };
        self.len -= 1;
        Some(slot)
    }

    /// Every slot in flight.
    pub(crate) fn slots(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.in_order.iter().chain(self.by_token.iter().flatten())
    }
}

/// The size of the next chunk: one item at first, then sized from the
/// worker time items took to about `target_ns` of work per chunk, growing
/// at most `GROWTH`-fold at a time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkSize {
    items: usize,
    target_ns: f64,
    max: usize,
}

/// A chunk is at most this many times larger than the one before.
const GROWTH: usize = 8;

impl ChunkSize {
    pub(crate) fn new(target_ns: f64, max: usize) -> ChunkSize {
        ChunkSize {
            items: 1,
            target_ns,
            max,
        }
    }

    /// Items in the next chunk.
    pub(crate) fn items(&self) -> usize {
        self.items
    }

    /// Learns that a chunk of `items` items took `elapsed_ns`.
    pub(crate) fn learn(&mut self, items: u32, elapsed_ns: u64) {
        if items == 0 || elapsed_ns == 0 {
            return;
        }
        let per_item = elapsed_ns as f64 / f64::from(items);
        let ideal = (self.target_ns / per_item).clamp(1.0, self.max as f64) as usize;
        self.items = ideal.min(self.items.saturating_mul(GROWTH)).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TaskError;
    use crate::slot::{Label, Part};

    fn finish(slot: &Slot) {
        slot.add(Part::Failed {
            first: 0,
            count: slot.items(),
            error: TaskError::Cancelled,
        });
    }

    #[test]
    fn ordered_windows_yield_in_order_and_unordered_as_they_finish() {
        let (a, b) = (Slot::new(1, Label::task(1)), Slot::new(2, Label::task(2)));
        let mut w = Window::new(true);
        w.push(a.clone());
        w.push(b.clone());
        finish(&b);
        finish(&a);
        assert_eq!(w.next().unwrap().items(), 1);
        assert_eq!(w.next().unwrap().items(), 2);
        assert!(w.next().is_none());

        let (a, b) = (Slot::new(1, Label::task(1)), Slot::new(2, Label::task(2)));
        let mut w = Window::new(false);
        w.push(a.clone());
        w.push(b.clone());
        assert_eq!(w.slots().count(), 2);
        finish(&b);
        assert_eq!(w.next().unwrap().items(), 2);
        finish(&a);
        assert_eq!(w.next().unwrap().items(), 1);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn chunks_grow_at_most_eightfold_towards_the_target() {
        let mut size = ChunkSize::new(1_000_000.0, 1000);
        assert_eq!(size.items(), 1);
        size.learn(1, 10); // 10 ns an item: the target is 100,000 items
        assert_eq!(size.items(), 8);
        size.learn(8, 80);
        assert_eq!(size.items(), 64);
        size.learn(64, 640);
        assert_eq!(size.items(), 512);
        size.learn(512, 5120);
        assert_eq!(size.items(), 1000);
        size.learn(1, 10_000_000); // slow now: one at a time
        assert_eq!(size.items(), 1);
    }
}
