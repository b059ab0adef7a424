//! What a node's two threads share: the entries it holds, its idle
//! workers, and how far along stopping it is.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use redis::{Connection, RedisError};

use crate::cluster::broker::{Broker, Down, Link, ServerClock, human_duration, is_permission};
use crate::cluster::registry::RemoteFn;
use crate::error::{Error, ErrorKind};
use crate::pool::Pool;
use crate::slot::{Notifier, Slot, lock};

/// Where the node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Claiming and running tasks.
    Serving = 0,
    /// A stop signal came: no new claims; finishing what it holds.
    Draining = 1,
    /// Everything held was reported; the threads end.
    Done = 2,
    /// A second signal: stop now, leave held entries to the reapers.
    Abandon = 3,
    /// The broker stayed unreachable: `run` fails.
    Failed = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Serving,
            1 => Phase::Draining,
            2 => Phase::Done,
            3 => Phase::Abandon,
            _ => Phase::Failed,
        }
    }
}

/// An entry the node holds: claimed, running (or refused), not yet
/// reported.
#[derive(Debug)]
pub(crate) struct Held {
    /// The task stream it came from.
    pub(crate) stream: Arc<str>,
    pub(crate) entry_id: String,
    /// The entry's task ids (`t`), checked, to send back with the result.
    pub(crate) ids: String,
    /// The client's result stream.
    pub(crate) results: String,
    /// The client's `node_timeout`: heartbeats come well within it.
    pub(crate) node_timeout: Duration,
    /// The entry's items, in order: one slot for a task or a `map` batch,
    /// one per task for tasks sent together.
    pub(crate) slots: Vec<Arc<Slot>>,
    /// How many of its tasks their client aborted (`Task::abort`).
    pub(crate) aborted: usize,
}

impl Held {
    /// The entry's task numbers (checked when it was claimed).
    fn task_ids(&self) -> Vec<u64> {
        crate::cluster::wire::parse_ids(self.ids.as_bytes()).unwrap_or_default()
    }

    /// Whether every task of the entry was aborted by its client, which
    /// then waits for no result.
    pub(crate) fn all_aborted(&self) -> bool {
        self.aborted > 0 && self.aborted >= self.task_ids().len()
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) id: String,
    pub(crate) broker: Broker,
    pool: Option<Pool>,
    pub(crate) offers: Vec<&'static RemoteFn>,
    pub(crate) workers: usize,
    pub(crate) max_message: usize,
    held: Mutex<HashMap<usize, Held>>,
    next_token: AtomicUsize,
    /// Finished slots' tokens, for the reporter.
    pub(crate) finished: Arc<Notifier>,
    idle: Mutex<usize>,
    idle_changed: Condvar,
    phase: AtomicU8,
    failure: Mutex<Option<Error>>,
    /// Every task stream read, to leave its consumer group at the end.
    pub(crate) streams_read: Mutex<HashSet<String>>,
    clock: Mutex<ServerClock>,
    /// How long the broker may stay unreachable before the node fails.
    patience: Duration,
}

impl NodeState {
    pub(crate) fn new(
        id: String,
        broker: Broker,
        pool: Pool,
        offers: Vec<&'static RemoteFn>,
        max_message: usize,
        clock: ServerClock,
        patience: Duration,
    ) -> NodeState {
        let workers = pool.workers();
        NodeState {
            id,
            broker,
            pool: Some(pool),
            offers,
            workers,
            max_message,
            held: Mutex::new(HashMap::new()),
            next_token: AtomicUsize::new(0),
            finished: Arc::new(Notifier::default()),
            idle: Mutex::new(workers),
            idle_changed: Condvar::new(),
            phase: AtomicU8::new(Phase::Serving as u8),
            failure: Mutex::new(None),
            streams_read: Mutex::new(HashSet::new()),
            clock: Mutex::new(clock),
            patience,
        }
    }

    pub(crate) fn pool(&self) -> Option<&Pool> {
        self.pool.as_ref()
    }

    pub(crate) fn into_pool(mut self) -> Option<Pool> {
        self.pool.take()
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves to `phase`; `Abandon` and `Failed` are final.
    pub(crate) fn set_phase(&self, phase: Phase) {
        let _ = self.phase.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            let now = Phase::from_u8(now);
            (!matches!(now, Phase::Abandon | Phase::Failed)).then_some(phase as u8)
        });
        self.idle_changed.notify_all();
    }

    /// The broker is gone for good: `run` returns `error`.
    pub(crate) fn fail(&self, error: Error) {
        lock(&self.failure).get_or_insert(error);
        self.set_phase(Phase::Failed);
    }

    /// The link's connection, or `None` while the broker cannot be
    /// reached; the node fails when the broker refuses its user, or stays
    /// unreachable for its patience.
    pub(crate) fn connection<'l>(&self, link: &'l mut Link) -> Option<&'l mut Connection> {
        match link.get(&self.broker) {
            Ok(conn) => Some(conn),
            Err(down) => {
                if down.error.kind() == ErrorKind::Permission {
                    self.fail(down.error);
                } else if down.for_how_long >= self.patience {
                    self.fail(out_of_patience(&self.broker, &down, "stopped"));
                }
                None
            }
        }
    }

    /// A call failed: a broken connection is made again (for a while); a
    /// refused permission fails the node; any other refusal (a stream
    /// deleted at the wrong moment) is the caller's to wait out.
    pub(crate) fn call_failed(&self, link: &mut Link, e: &RedisError) {
        if !link.failed(e) && is_permission(e) {
            self.fail(self.broker.error("the broker refused the node", e));
        }
    }

    pub(crate) fn take_failure(&self) -> Option<Error> {
        lock(&self.failure).take()
    }

    /// Waits up to `timeout` for a worker to be idle; the number idle.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> usize {
        let idle = lock(&self.idle);
        if *idle > 0 {
            return *idle;
        }
        *self
            .idle_changed
            .wait_timeout(idle, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// `n` workers become busy (entries were claimed).
    pub(crate) fn take_workers(&self, n: usize) {
        let mut idle = lock(&self.idle);
        *idle = idle.saturating_sub(n);
    }

    /// `n` workers become idle (results were reported).
    pub(crate) fn give_workers(&self, n: usize) {
        let mut idle = lock(&self.idle);
        *idle = (*idle + n).min(self.workers);
        drop(idle);
        self.idle_changed.notify_all();
    }

    /// Holds an entry; each of its slots tells the reporter when it
    /// finishes.
    pub(crate) fn hold(&self, held: Held) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let slots = held.slots.clone();
        lock(&self.held).insert(token, held);
        for slot in slots {
            slot.listen(self.finished.clone(), token);
        }
    }

    /// Takes an entry out once all its slots have finished.
    pub(crate) fn release(&self, token: usize) -> Option<Held> {
        let mut held = lock(&self.held);
        if !held.get(&token)?.slots.iter().all(|s| s.is_finished()) {
            return None;
        }
        let entry = held.remove(&token);
        drop(held);
        self.idle_changed.notify_all();
        entry
    }

    pub(crate) fn holds_nothing(&self) -> bool {
        lock(&self.held).is_empty()
    }

    /// The result streams of the clients whose entries the node holds.
    pub(crate) fn clients_held(&self) -> Vec<String> {
        let mut clients: Vec<String> = lock(&self.held).values().map(|h| h.results.clone()).collect();
        clients.sort();
        clients.dedup();
        clients
    }

    /// Marks the held tasks of the client whose result stream is `results`
    /// that are among `aborted` (task numbers); the slots running them,
    /// for the caller to abort.
    pub(crate) fn mark_aborted(&self, results: &str, aborted: &HashSet<u64>) -> Vec<Arc<Slot>> {
        let mut slots = Vec::new();
        for held in lock(&self.held).values_mut() {
            if held.results != results {
                continue;
            }
            let ids = held.task_ids();
            // One slot per task for tasks sent together, one for a task.
            if ids.len() != held.slots.len() {
                continue;
            }
            for (id, slot) in ids.iter().zip(&held.slots) {
                if aborted.contains(id) && !slot.is_finished() {
                    held.aborted += 1;
                    slots.push(slot.clone());
                }
            }
        }
        slots
    }

    /// The entries held, by stream.
    pub(crate) fn held_by_stream(&self) -> HashMap<Arc<str>, Vec<String>> {
        let mut by_stream: HashMap<Arc<str>, Vec<String>> = HashMap::new();
        for h in lock(&self.held).values() {
            by_stream.entry(h.stream.clone()).or_default().push(h.entry_id.clone());
        }
        by_stream
    }

    /// The shortest `node_timeout` among the clients of the held entries.
    pub(crate) fn shortest_node_timeout(&self) -> Option<Duration> {
        lock(&self.held).values().map(|h| h.node_timeout).min()
    }

    pub(crate) fn now_ms(&self) -> u64 {
        lock(&self.clock).now_ms()
    }

    pub(crate) fn set_clock(&self, clock: ServerClock) {
        *lock(&self.clock) = clock;
    }

    /// Waits up to `timeout` for the held entries to change.
    pub(crate) fn wait_a_little(&self, timeout: Duration) {
        let idle = lock(&self.idle);
        let _ = self.idle_changed.wait_timeout(idle, timeout);
    }
}

/// The node's error when the broker stayed unreachable past its patience;
/// `outcome` says what the node did ("stopped", "did not start").
pub(crate) fn out_of_patience(broker: &Broker, down: &Down, outcome: &str) -> Error {
    Error::new(
        ErrorKind::Broker,
        format!(
            "the broker at {} was unreachable for {} (the node's broker_patience), so the node {outcome}; \
             the last error: {}",
            broker.shown(),
            human_duration(down.for_how_long),
            down.error
        ),
    )
}
