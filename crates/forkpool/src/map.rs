//! `Pool::map`: lazy, batched, bounded.
//!
//! Inputs are encoded on the caller's thread into chunks, each submitted
//! as one job whose items the worker runs one by one. Chunk sizes adapt:
//! the first chunk holds one item, and later ones are sized from the
//! worker time items took, aiming at a couple of milliseconds per chunk, so
//! that per-chunk overhead vanishes for tiny items and slow items are
//! spread one per chunk. At most a window of chunks is in flight, which
//! bounds memory however long the input is.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::TaskError;
use crate::pool::{Pool, encode_item};
use crate::slot::Slot;
use crate::supervisor::Job;
use crate::sys::code::CodeOffset;
use crate::window::{ChunkSize, Window, encode_chunk};

/// Worker time a chunk should take, once item times are known.
const TARGET_CHUNK_NS: f64 = 1_500_000.0;
/// The most items in one chunk.
const MAX_CHUNK_ITEMS: usize = 65_536;
/// The most encoded bytes in one chunk, inline or out of line (a single
/// larger item still goes).
const MAX_CHUNK_BYTES: u64 = 1 << 20;

/// The iterator returned by [`Pool::map`] and [`Pool::map_unordered`].
///
/// Yields one `Result` per input. Dropping it early cancels the chunks no
/// worker has been handed, and has workers skip the items of the others
/// that have not started: only the items running at that moment finish
/// (their results are discarded).
pub struct Map<'pool, I, R> {
    pool: &'pool Pool,
    input: I,
    input_done: bool,
    entry: CodeOffset,
    window: Window,
    max_in_flight: usize,
    chunk: ChunkSize,
    ready: VecDeque<Result<R, TaskError>>,
    result: PhantomData<fn() -> R>,
}

impl<I, R> fmt::Debug for Map<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("ordered", &self.window.is_ordered())
            .field("chunks_in_flight", &self.window.len())
            .field("chunk_items", &self.chunk.items())
            .finish_non_exhaustive()
    }
}

impl<'pool, I, A, R> Map<'pool, I, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned,
{
    pub(crate) fn new(pool: &'pool Pool, entry: CodeOffset, input: I, ordered: bool) -> Self {
        Map {
            pool,
            input,
            input_done: false,
            entry,
            window: Window::new(ordered),
            max_in_flight: 2 * pool.workers() + 2,
            chunk: ChunkSize::new(TARGET_CHUNK_NS, MAX_CHUNK_ITEMS),
            ready: VecDeque::new(),
            result: PhantomData,
        }
    }

    /// Submits chunks until the window is full or the input ends.
    fn fill(&mut self) {
        let mut jobs = Vec::new();
        while self.window.len() < self.max_in_flight && !self.input_done {
            let max = self.pool.max_message();
            let chunk = encode_chunk(
                &mut self.input,
                self.chunk.items(),
                MAX_CHUNK_BYTES,
                |data, fds, arg| encode_item(data, fds, max, arg),
            );
            self.input_done = chunk.input_done;
            if chunk.count > 0 {
                let slot = Slot::new(chunk.count);
                jobs.push(Job::new(
                    self.entry,
                    slot.clone(),
                    chunk.data,
                    chunk.fds,
                    chunk.count,
                    chunk.size,
                    false,
                ));
                self.window.push(slot);
            }
            if let Some(error) = chunk.failed {
                self.window.push(Slot::failed(1, error));
            }
        }
        if !jobs.is_empty() {
            self.pool.shared().submit_all(jobs);
        }
    }
}

impl<I, A, R> Iterator for Map<'_, I, R>
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
            let slot = self.window.next()?;
            let items = slot.items();
            if let Some(outcome) = slot.take() {
                self.chunk.learn(items, outcome.elapsed_ns());
                outcome.decode_into(&mut self.ready);
            }
        }
    }
}

impl<I, R> Drop for Map<'_, I, R> {
    fn drop(&mut self) {
        let mut tell = false;
        for slot in self.window.slots() {
            tell |= slot.abandon();
        }
        if tell {
            self.pool.shared().note_abandoned();
        }
    }
}
