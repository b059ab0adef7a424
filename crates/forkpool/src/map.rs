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
use crate::options::Limits;
use crate::output::{Captured, ItemOutput};
use crate::pool::{Pool, encode_item};
use crate::slot::{self, Decoded, Label, Slot};
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
    /// See [`Map::id`].
    id: u64,
    input: I,
    input_done: bool,
    /// Inputs taken so far: the input position of the next chunk's first item.
    taken: u64,
    entry: CodeOffset,
    /// The items' own limits (`Pool::task`).
    limits: Limits,
    window: Window,
    max_in_flight: usize,
    chunk: ChunkSize,
    /// The results of the chunk being yielded, decoded one by one.
    ready: Option<Decoded<R>>,
    /// What the items in `ready` wrote, kept only for [`Map::captured`].
    ready_output: Option<VecDeque<ItemOutput>>,
    result: PhantomData<fn() -> R>,
}

impl<I, R> fmt::Debug for Map<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("id", &self.id)
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
            id: slot::next_id(),
            input,
            input_done: false,
            taken: 0,
            entry,
            limits: Limits::default(),
            window: Window::new(ordered),
            max_in_flight: 2 * pool.workers() + 2,
            chunk: ChunkSize::new(TARGET_CHUNK_NS, MAX_CHUNK_ITEMS),
            ready: None,
            ready_output: None,
            result: PhantomData,
        }
    }

    /// Runs the items under `limits`.
    pub(crate) fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// This map's id, unique in the process. Under
    /// [`TaskOutput::Tagged`](crate::TaskOutput::Tagged) the lines written
    /// by the item at input position `i` (from 0) are tagged
    /// `[task ID.i] `.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Yields each item's [`Captured`] result: its value or error, with
    /// what it wrote to stdout and stderr under
    /// [`TaskOutput::Capture`](crate::TaskOutput::Capture) (empty under the
    /// other modes). Plain iteration discards captured output.
    ///
    /// An item that ran twice (its worker died part-way through its chunk,
    /// see [`Pool::map`]) shows what both runs wrote.
    ///
    /// ```
    /// use forkpool::{Pool, TaskOutput};
    ///
    /// let pool = Pool::builder().workers(2).task_output(TaskOutput::Capture).build()?;
    /// for (i, item) in pool.map(|x: u32| { eprintln!("x = {x}"); x * x }, 0..4).captured().enumerate() {
    ///     assert_eq!(item.result, Ok((i * i) as u32));
    ///     assert_eq!(item.stderr, format!("x = {i}\n").into_bytes());
    /// }
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    pub fn captured(mut self) -> CapturedMap<'pool, I, R> {
        self.ready_output.get_or_insert_with(VecDeque::new);
        CapturedMap { map: self }
    }

    /// Submits chunks until the window is full or the input ends.
    fn fill(&mut self) {
        let mut jobs = Vec::new();
        while self.window.len() < self.max_in_flight && !self.input_done {
            let pool = self.pool;
            let chunk = encode_chunk(
                &mut self.input,
                self.chunk.items(),
                MAX_CHUNK_BYTES,
                |data, fds, arg| encode_item(data, fds, pool, arg),
            );
            self.input_done = chunk.input_done;
            if chunk.count > 0 {
                let slot = Slot::with(chunk.count, self.label(), self.limits, self.pool.counters());
                self.taken += u64::from(chunk.count);
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
                // Keeps its place in the order, as a chunk of one that has
                // already failed.
                let label = self.label();
                self.taken += 1;
                self.window.push(Slot::failed(1, label, error, self.pool.counters()));
            }
        }
        if !jobs.is_empty() {
            self.pool.shared().submit_all(jobs);
        }
    }

    /// The label of the next chunk.
    fn label(&self) -> Label {
        Label {
            id: self.id,
            base: Some(self.taken),
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
            if let Some(result) = self.ready.as_mut().and_then(Iterator::next) {
                return Some(result);
            }
            self.fill();
            let slot = self.window.next()?;
            let items = slot.items();
            if let Some(mut outcome) = slot.take() {
                self.chunk.learn(items, outcome.elapsed_ns());
                if let Some(outputs) = &mut self.ready_output {
                    outputs.extend(outcome.take_outputs(items));
                }
                self.ready = Some(outcome.into_results());
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

/// The iterator returned by [`Map::captured`].
pub struct CapturedMap<'pool, I, R> {
    map: Map<'pool, I, R>,
}

impl<I, R> fmt::Debug for CapturedMap<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CapturedMap").field(&self.map).finish()
    }
}

impl<I, R> CapturedMap<'_, I, R> {
    /// The map's id; see [`Map::id`].
    pub fn id(&self) -> u64 {
        self.map.id
    }
}

impl<I, A, R> Iterator for CapturedMap<'_, I, R>
where
    I: Iterator<Item = A>,
    A: Serialize,
    R: DeserializeOwned,
{
    type Item = Captured<R>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self.map.next()?;
        let output = self
            .map
            .ready_output
            .as_mut()
            .and_then(VecDeque::pop_front)
            .unwrap_or_default();
        Some(Captured::new(result, output))
    }
}
