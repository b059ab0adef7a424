//! What a client's handles share with its two threads: settings, the
//! table of tasks in flight, the outbox the writer drains, the task
//! streams made so far, and whether the broker is reachable (see
//! `recovery.rs` for what happens when it was not).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult, Value};

use super::broker::{Broker, ServerClock, is_connection_error, millis};
use super::keys::{self, Offer};
use super::pending::{FnStats, Pending, PendingTask};
use super::registry::{RemoteFn, registry};
use super::streams;
use super::wire::{self, TaskHead};

use crate::error::TaskError;
use crate::slot::{self, Label, Slot, lock};
use crate::task::RemoteAbort;

/// How long a verdict that no node serves a function is reused before
/// asking the broker again (a verdict that some node does is renewed by the
/// writer's heartbeat, so that submissions do not wait for the broker).
const OFFERS_FRESH: Duration = Duration::from_millis(500);

/// A client's settings, resolved from its builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) node_timeout: Duration,
    pub(crate) max_message: usize,
}

impl Settings {
    /// How often the writer refreshes leases and runs the reaper.
    pub(crate) fn heartbeat(&self) -> Duration {
        (self.node_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// How long the client's keys live without a refresh: a client that
    /// was SIGKILLed leaves keys that expire this long after its last
    /// heartbeat.
    pub(crate) fn key_ttl(&self) -> Duration {
        (self.node_timeout * 3).max(Duration::from_secs(2))
    }

    /// How long one call to the broker may take before the connection is
    /// given up as broken.
    pub(crate) fn io_timeout(&self) -> Duration {
        self.node_timeout
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}

/// One function's task stream, as this client uses it.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) f: &'static RemoteFn,
    pub(crate) key: String,
    /// Tasks in flight, and what their results taught.
    pub(crate) stats: Arc<FnStats>,
    offers: Mutex<OfferState>,
}

#[derive(Debug)]
struct OfferState {
    checked_at: Option<Instant>,
    /// The live nodes' workers serving it, or why none does.
    verdict: Result<usize, String>,
    /// Since when no live node has served it (while checked).
    unserved_since: Option<Instant>,
}

impl Queue {
    fn new(f: &'static RemoteFn, key: String) -> Queue {
        Queue {
            f,
            key,
            stats: Arc::new(FnStats::default()),
            offers: Mutex::new(OfferState {
                checked_at: None,
                verdict: Err("not checked yet".into()),
                unserved_since: None,
            }),
        }
    }

    /// Records what the broker said about who serves the function; returns
    /// the verdict: the number of workers serving it, or why none does.
    pub(crate) fn record_offers(&self, offers: &[Offer]) -> Result<usize, String> {
        let ours: usize = offers
            .iter()
            .filter(|o| o.type_hash == self.f.type_hash)
            .map(|o| o.workers.max(1))
            .sum();
        let verdict = if ours > 0 {
            Ok(ours)
        } else if offers.is_empty() {
            Err("no live node serves it".to_owned())
        } else {
            let untraced = self.f.untraced.as_ref().map_or_else(String::new, |why| {
                format!(" (its hash covers only the types' names, as {why})")
            });
            Err(format!(
                "the live nodes that serve it take argument or result types of another shape (they \
                 were built from another version of the program); this program's is `{}`{untraced}",
                self.f.signature
            ))
        };
        let now = Instant::now();
        let mut state = lock(&self.offers);
        state.checked_at = Some(now);
        state.unserved_since = match verdict {
            Ok(_) => None,
            Err(_) => state.unserved_since.or(Some(now)),
        };
        state.verdict = verdict.clone();
        verdict
    }

    /// The last verdict, if it is recent enough to reuse: a served one for
    /// `served_for`, an unserved one for [`OFFERS_FRESH`].
    fn fresh_verdict(&self, served_for: Duration) -> Option<Result<usize, String>> {
        let state = lock(&self.offers);
        let age = if state.verdict.is_ok() {
            served_for
        } else {
            OFFERS_FRESH
        };
        let fresh = state.checked_at.is_some_and(|t| t.elapsed() < age);
        fresh.then(|| state.verdict.clone())
    }

    /// The number of workers serving it at the last check (at least 1).
    pub(crate) fn workers(&self) -> usize {
        lock(&self.offers).verdict.clone().unwrap_or(1).max(1)
    }

    /// Whether no node has served it for at least `patience`.
    pub(crate) fn unserved_for(&self, patience: Duration) -> bool {
        lock(&self.offers)
            .unserved_since
            .is_some_and(|t| t.elapsed() >= patience)
    }

    /// The error for a task no node can run.
    pub(crate) fn unsupported(&self, reason: String) -> TaskError {
        TaskError::Unsupported {
            name: self.f.name.to_owned(),
            reason,
        }
    }
}

/// Reads which live nodes offer `name` (by the broker's clock).
pub(crate) fn query_offers(conn: &mut Connection, name: &str, now_ms: u64) -> RedisResult<Vec<Offer>> {
    let members: Value = redis::cmd("ZRANGE")
        .arg(keys::offers(name))
        .arg(now_ms)
        .arg("+inf")
        .arg("BYSCORE")
        .query(conn)?;
    Ok(streams::strings(members)
        .iter()
        .filter_map(|m| keys::parse_offer(m))
        .collect())
}

/// Makes a client's result stream (with a first entry, which a stream
/// needs to exist) and gives it a lifetime of `ttl` ms.
pub(crate) fn make_results(conn: &mut Connection, key: &str, ttl: u64) -> RedisResult<()> {
    redis::pipe()
        .cmd("XADD")
        .arg(key)
        .arg("*")
        .arg(wire::TASK)
        .arg(0)
        .arg(wire::HEAD)
        .arg(wire::encode(&wire::ResultHead::Hello))
        .ignore()
        .cmd("PEXPIRE")
        .arg(key)
        .arg(ttl)
        .ignore()
        .query(conn)
}

/// Makes a task stream with its consumer group (if not there yet), gives
/// it a lifetime of `ttl` ms, and lists it in the directory with a lease
/// until `lease` (broker ms).
pub(crate) fn make_queue(conn: &mut Connection, key: &str, ttl: u64, lease: u64) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(keys::GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .cmd("PEXPIRE")
        .arg(key)
        .arg(ttl)
        .cmd("ZADD")
        .arg(keys::QUEUES)
        .arg(lease)
        .arg(key)
        .cmd("PEXPIRE")
        .arg(keys::QUEUES)
        .arg(ttl.saturating_mul(2));
    let replies: Vec<Value> = pipe.ignore_errors().query(conn)?;
    for reply in replies {
        if let Value::ServerError(e) = reply
            && e.code() != "BUSYGROUP"
        {
            return Err(e.into());
        }
    }
    Ok(())
}

/// A task waiting for the writer.
#[derive(Debug)]
pub(crate) struct OutEntry {
    pub(crate) queue: Arc<Queue>,
    pub(crate) task: u64,
    pub(crate) items: u32,
    /// A `submit` (may share an entry with others); `false` for a `map`
    /// batch.
    pub(crate) submit: bool,
    pub(crate) payload: Vec<u8>,
}

#[derive(Debug, Default)]
struct OutboxState {
    entries: Vec<OutEntry>,
    /// Tasks ended by `Task::abort` after they were handed to the writer.
    aborts: Vec<u64>,
    stop: bool,
}

/// Task entries handed from user threads to the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    cond: Condvar,
}

impl Outbox {
    fn push(&self, entry: OutEntry) {
        lock(&self.state).entries.push(entry);
        self.cond.notify_one();
    }

    fn push_abort(&self, task: u64) {
        lock(&self.state).aborts.push(task);
        self.cond.notify_one();
    }

    /// Asks the writer to finish.
    pub(crate) fn stop(&self) {
        lock(&self.state).stop = true;
        self.cond.notify_one();
    }

    /// Waits until entries are queued, a stop is asked for, or `deadline`;
    /// takes the entries (into `into`) and says whether to stop.
    pub(crate) fn wait(&self, deadline: Instant, into: &mut Vec<OutEntry>, aborts: &mut Vec<u64>) -> bool {
        let mut state = lock(&self.state);
        while state.entries.is_empty() && state.aborts.is_empty() && !state.stop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            state = self
                .cond
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.entries, into);
        aborts.append(&mut state.aborts);
        state.stop
    }
}

/// See the module docs.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) broker: Broker,
    pub(crate) settings: Settings,
    pub(crate) results_key: String,
    pub(crate) pending: Pending,
    pub(crate) outbox: Outbox,
    queues: Mutex<HashMap<TypeId, Arc<Queue>>>,
    /// For user threads' set-up calls (making a stream, asking who serves
    /// a function); `None` after it broke, until reconnected.
    control: Mutex<Option<Connection>>,
    clock: Mutex<ServerClock>,
    /// Whether the client is closed or the broker is down (a fast check
    /// before the locks below).
    trouble: AtomicBool,
    /// What every task gets once the client stopped for good (a thread
    /// failed).
    closed: Mutex<Option<TaskError>>,
    /// Why the broker is taken as down (unreachable for `node_timeout`),
    /// until the writer reaches it again.
    down: Mutex<Option<String>>,
    /// `Cluster::shutdown` has begun: the threads end.
    pub(crate) stopping: AtomicBool,
    /// Held while the client's keys are checked and made again.
    pub(crate) resyncing: Mutex<()>,
    /// When the writer's heartbeat last went through.
    beat_ok: Mutex<Instant>,
    /// How many times the reader found its connection broken, or a thread
    /// that reconnected checked the client's keys (see `recovery.rs`): the
    /// writer makes its own connection again when this moved, rather than
    /// learn that it is dead by losing the tasks it sends on it.
    pub(crate) doubts: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("broker", &self.broker)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        id: String,
        broker: Broker,
        settings: Settings,
        control: Connection,
        clock: ServerClock,
    ) -> Session {
        Session {
            results_key: keys::results(&id),
            id,
            broker,
            settings,
            pending: Pending::default(),
            outbox: Outbox::default(),
            queues: Mutex::new(HashMap::new()),
            control: Mutex::new(Some(control)),
            clock: Mutex::new(clock),
            trouble: AtomicBool::new(false),
            closed: Mutex::new(None),
            down: Mutex::new(None),
            stopping: AtomicBool::new(false),
            resyncing: Mutex::new(()),
            beat_ok: Mutex::new(Instant::now()),
            doubts: AtomicU64::new(0),
        }
    }

    /// The broker's time now, in milliseconds.
    pub(crate) fn now_ms(&self) -> u64 {
        lock(&self.clock).now_ms()
    }

    pub(crate) fn set_clock(&self, clock: ServerClock) {
        *lock(&self.clock) = clock;
    }

    /// A heartbeat that began at `started` went through.
    pub(crate) fn beat_went_through(&self, started: Instant) {
        *lock(&self.beat_ok) = started;
    }

    /// How long since the last heartbeat went through.
    pub(crate) fn since_beat(&self) -> Duration {
        lock(&self.beat_ok).elapsed()
    }

    /// Every task stream made so far.
    pub(crate) fn queues(&self) -> Vec<Arc<Queue>> {
        lock(&self.queues).values().cloned().collect()
    }

    /// The error a task submitted now gets at once: the client was closed
    /// (`ClientStopped`), or the broker is down (`BrokerLost`, until it is
    /// reached again).
    pub(crate) fn unavailable(&self) -> Option<TaskError> {
        if !self.trouble.load(Ordering::Acquire) {
            return None;
        }
        if let Some(error) = lock(&self.closed).clone() {
            return Some(error);
        }
        lock(&self.down)
            .clone()
            .map(|message| TaskError::BrokerLost { message })
    }

    /// Whether the client stopped for good.
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.closed).is_some()
    }

    /// The client stops for good (a thread of it failed): every task in
    /// flight, and every one submitted from now on, ends with `error`.
    pub(crate) fn close_with(&self, error: TaskError) {
        lock(&self.closed).get_or_insert(error);
        self.trouble.store(true, Ordering::Release);
        if let Some(error) = self.unavailable() {
            self.pending.fail_all(&error);
        }
    }

    /// The broker has been unreachable for `node_timeout`: every task in
    /// flight ends `BrokerLost` (whatever became of it cannot be known),
    /// and so does every one submitted until the writer reaches the broker
    /// again ([`back`](Self::back)).
    pub(crate) fn outage(&self, reason: String) {
        lock(&self.down).get_or_insert(reason);
        self.trouble.store(true, Ordering::Release);
        if let Some(error) = self.unavailable() {
            self.pending.fail_all(&error);
        }
    }

    /// The broker is reachable again (and the client's keys are in it).
    pub(crate) fn back(&self) {
        let mut down = lock(&self.down);
        if down.take().is_some() && !self.is_closed() {
            self.trouble.store(false, Ordering::Release);
        }
    }

    /// Runs `f` on the control connection, reconnecting first if needed.
    fn control<T>(&self, f: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T, TaskError> {
        let mut control = lock(&self.control);
        if control.is_none() {
            let conn = self
                .broker
                .connect(self.settings.io_timeout())
                .map_err(|e| TaskError::BrokerLost { message: e.to_string() })?;
            *control = Some(conn);
        }
        let Some(conn) = control.as_mut() else {
            return Err(TaskError::BrokerLost {
                message: "no connection".into(),
            });
        };
        let lost = |e: &redis::RedisError| TaskError::BrokerLost {
            message: self.broker.error("a call to the broker failed", e).to_string(),
        };
        match f(conn) {
            Ok(value) => Ok(value),
            // The connection went stale (the broker restarted since it was
            // last used): these calls may be made twice, so once more on a
            // new one.
            Err(e) if is_connection_error(&e) => {
                *control = None;
                let mut conn = self
                    .broker
                    .connect(self.settings.io_timeout())
                    .map_err(|e| TaskError::BrokerLost { message: e.to_string() })?;
                let value = f(&mut conn).map_err(|e| lost(&e))?;
                *control = Some(conn);
                Ok(value)
            }
            Err(e) => Err(lost(&e)),
        }
    }

    /// The task stream for the remote function whose fn-item type is
    /// `fn_type`, made on first use; and a check that a live node serves
    /// it (fail fast: `Unsupported` when none does).
    pub(crate) fn prepare(&self, fn_type: TypeId, fn_name: &str) -> Result<Arc<Queue>, TaskError> {
        if let Some(error) = self.unavailable() {
            return Err(error);
        }
        let queue = self.queue(fn_type, fn_name)?;
        let served_for = OFFERS_FRESH.max(self.settings.heartbeat() * 3);
        let verdict = match queue.fresh_verdict(served_for) {
            Some(verdict) => verdict,
            None => {
                let now = self.now_ms();
                let offers = self.control(|conn| query_offers(conn, queue.f.name, now))?;
                queue.record_offers(&offers)
            }
        };
        match verdict {
            Ok(_) => Ok(queue),
            Err(reason) => Err(queue.unsupported(reason)),
        }
    }

    fn queue(&self, fn_type: TypeId, fn_name: &str) -> Result<Arc<Queue>, TaskError> {
        if let Some(queue) = lock(&self.queues).get(&fn_type) {
            return Ok(queue.clone());
        }
        let Some(f) = registry().by_type(fn_type) else {
            return Err(TaskError::Unsupported {
                name: fn_name.to_owned(),
                reason: "it is not a #[forkpool::remote] function (closures cannot be sent to other machines)".into(),
            });
        };
        let key = keys::queue(&self.id, f.name, f.type_hash);
        let ttl = millis(self.settings.key_ttl());
        let lease = self.now_ms().saturating_add(ttl);
        self.control(|conn| make_queue(conn, &key, ttl, lease))?;
        let queue = Arc::new(Queue::new(f, key));
        Ok(lock(&self.queues).entry(fn_type).or_insert(queue).clone())
    }

    /// Encodes one argument as a task's single item.
    pub(crate) fn encode_one<A: serde::Serialize>(&self, arg: &A) -> Result<Vec<u8>, TaskError> {
        let mut payload = Vec::with_capacity(32);
        wire::encode_inline(&mut payload, arg, self.settings.max_message)?;
        Ok(payload)
    }

    /// Sends a task of `items` encoded items to `queue`'s stream (`submit`:
    /// one item, run at most once; otherwise a `map` batch); its slot
    /// completes when its result (or a verdict) is read.
    /// Returns the slot and the task's number in the pending table.
    pub(crate) fn send(
        &self,
        queue: &Arc<Queue>,
        items: u32,
        payload: Vec<u8>,
        submit: bool,
    ) -> (Arc<Slot>, Option<u64>) {
        let id = slot::next_id();
        let label = if submit {
            Label::task(id)
        } else {
            Label { id, base: Some(0) }
        };
        if let Some(error) = self.unavailable() {
            return (Slot::failed(items, label, error, None), None);
        }
        let slot = Slot::new(items, label);
        // A cluster task cannot be taken back once handed to the writer.
        slot.begin_dispatch();
        let task = self.pending.insert(PendingTask {
            slot: slot.clone(),
            items,
            stats: queue.stats.clone(),
            sent: false,
        });
        self.outbox.push(OutEntry {
            queue: queue.clone(),
            task,
            items,
            submit,
            payload,
        });
        (slot, Some(task))
    }

    /// The head of an entry for `queue` of `items` items.
    pub(crate) fn head(&self, queue: &Queue, items: u32, submit: bool, separate: bool) -> Vec<u8> {
        wire::encode(&TaskHead {
            version: wire::VERSION,
            name: queue.f.name.to_owned(),
            type_hash: queue.f.type_hash,
            items,
            attempt: 0,
            at_most_once: submit,
            separate,
            task_timeout_ns: self
                .settings
                .task_timeout
                .map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)),
            node_timeout_ns: u64::try_from(self.settings.node_timeout.as_nanos()).unwrap_or(u64::MAX),
        })
    }

    /// Ends task `task` with `error`, if it is still in flight.
    pub(crate) fn fail(&self, task: u64, error: TaskError) {
        if let Some(t) = self.pending.take(task) {
            t.fail(error);
        }
    }
}

impl RemoteAbort for Session {
    /// The task's slot already says `Cancelled`: the task leaves the table
    /// (a result that comes later is dropped), and the writer tells the
    /// nodes, unless the task had not been sent yet (then it never is).
    fn aborted(&self, task: u64) {
        if let Some(pending) = self.pending.take(task) {
            let sent = pending.sent;
            pending.forget();
            if sent {
                self.outbox.push_abort(task);
            }
        }
    }
}
