//! The client's writer thread: sends task entries, many per round trip,
//! and keeps the client alive in the broker.
//!
//! User threads never wait for the broker to accept a task: `submit`
//! queues an entry in the outbox and returns. The writer takes everything
//! queued at once and sends it as one pipeline of `XADD`s, so a burst of
//! submissions costs one round trip, not one each.
//!
//! Every heartbeat (a quarter of `node_timeout`, at most a second) it
//! refreshes the lifetime of the client's keys and its entries in the
//! `fp:queues` directory, and runs the reaper (see `reaper.rs`) over the
//! streams with tasks in flight.
//!
//! If the connection breaks, the tasks being sent at that moment end with
//! `BrokerLost` (whether the broker took them cannot be known, and sending
//! them again could run them twice); tasks submitted while it is down wait
//! for the writer to reconnect. If the broker stays unreachable for
//! `node_timeout`, every task in flight and every one waiting ends with
//! `BrokerLost`, and so do new ones until the broker is reached again;
//! then the client works on (see `recovery.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use redis::{Connection, Value};

use super::broker::{Link, ServerClock, human_duration, millis};
use super::keys;
use super::reaper;
use super::recovery;
use super::session::{OutEntry, Session, query_offers};
use super::wire::{self, ResultHead};
use crate::error::TaskError;

/// The most payload bytes in an entry of several submissions.
const MAX_ENTRY_BYTES: usize = 1 << 20;
/// The abort stream's cap: a node reads it whole every heartbeat.
const MAX_ABORTS: usize = 4096;
/// How soon tasks kept while the broker was unreachable are tried again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// The connection, or `None` while the broker cannot be reached; an
/// outage is declared when that lasts `node_timeout`. A new connection is
/// checked first (`recovery::resync`): nothing is sent to a broker that
/// lost the client's streams before they are made again.
fn connection<'l>(session: &Session, line: &'l mut Line) -> Option<&'l mut Connection> {
    let Line { link, seen } = line;
    if session.doubts.load(Ordering::Acquire) != *seen {
        link.forget();
    }
    if let Err(down) = link.get(&session.broker) {
        if down.for_how_long >= session.settings.node_timeout {
            session.outage(format!(
                "the broker was unreachable for {}: {}",
                human_duration(down.for_how_long),
                down.error
            ));
        }
        return None;
    }
    if link.take_reconnected() {
        let conn = link.get(&session.broker).ok()?;
        if let Err(e) = recovery::resync(session, conn) {
            link.failed(&e);
            return None;
        }
        *seen = session.doubts.load(Ordering::Acquire);
    }
    link.get(&session.broker).ok()
}

/// The writer's connection, and the session's `doubts` it has seen: when
/// the reader found the broker gone, or reconnected, this connection is
/// made again before the next task goes out on it.
struct Line {
    link: Link,
    seen: u64,
}

/// The thread's body.
pub(crate) fn run(session: Arc<Session>, conn: Connection) {
    let mut link = Line {
        link: Link::new(conn, session.settings.io_timeout()),
        seen: 0,
    };
    let beat = session.settings.heartbeat();
    let mut next_beat = Instant::now() + beat;
    let mut entries = Vec::new();
    let mut aborts: Vec<u64> = Vec::new();
    // Tasks kept while the broker is briefly unreachable.
    let mut unsent: Vec<OutEntry> = Vec::new();
    loop {
        let wake = if unsent.is_empty() {
            next_beat
        } else {
            next_beat.min(Instant::now() + RETRY)
        };
        let wake = if aborts.is_empty() {
            wake
        } else {
            wake.min(Instant::now() + RETRY)
        };
        let stop = session.outbox.wait(wake, &mut entries, &mut aborts);
        if !aborts.is_empty() {
            tell_aborts(&session, &mut link, &mut aborts);
        }
        if !entries.is_empty() || !unsent.is_empty() {
            unsent.append(&mut entries);
            unsent = send(&session, &mut link, std::mem::take(&mut unsent));
        }
        if Instant::now() >= next_beat {
            heartbeat(&session, &mut link);
            next_beat = Instant::now() + beat;
        }
        if stop {
            // Wake the result reader so that it sees the stop.
            if let Some(conn) = connection(&session, &mut link) {
                let _: redis::RedisResult<Value> = redis::cmd("XADD")
                    .arg(&session.results_key)
                    .arg("NOMKSTREAM")
                    .arg("*")
                    .arg(wire::TASK)
                    .arg(0)
                    .arg(wire::HEAD)
                    .arg(wire::encode(&ResultHead::Stop))
                    .query(conn);
            }
            return;
        }
    }
}

/// Writes aborted tasks' numbers to the client's abort stream, which the
/// nodes holding its tasks read (see `node/reporter.rs`). Kept for later
/// while the broker cannot be reached; dropped in an outage (the tasks'
/// nodes are then cut off too).
fn tell_aborts(session: &Session, link: &mut Line, aborts: &mut Vec<u64>) {
    if session.unavailable().is_some() {
        aborts.clear();
        return;
    }
    let Some(conn) = connection(session, link) else {
        return;
    };
    let key = keys::aborts(&session.id);
    let mut pipe = redis::pipe();
    for task in aborts.iter() {
        pipe.cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_ABORTS)
            .arg("*")
            .arg(wire::TASK)
            .arg(task)
            .ignore();
    }
    pipe.cmd("PEXPIRE")
        .arg(&key)
        .arg(millis(session.settings.key_ttl()))
        .ignore();
    match pipe.query::<()>(conn) {
        Ok(()) => aborts.clear(),
        Err(e) => {
            if !link.link.failed(&e) {
                aborts.clear();
            }
        }
    }
}

/// One stream entry: one task, or a burst of quick submissions.
struct Batch {
    key: String,
    tasks: Vec<u64>,
    head: Vec<u8>,
    payload: Vec<u8>,
}

/// Puts queued tasks into entries: consecutive submissions of one function
/// share an entry while they take little work together (see
/// `Queue::coalesce`); a `map` batch is an entry of its own.
fn batch(session: &Session, entries: Vec<OutEntry>) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut open: Option<(OutEntry, Vec<u64>, usize)> = None;
    let close = |open: Option<(OutEntry, Vec<u64>, usize)>, batches: &mut Vec<Batch>| {
        if let Some((first, tasks, _)) = open {
            let items = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
            let separate = tasks.len() > 1;
            batches.push(Batch {
                key: first.queue.key.clone(),
                head: session.head(&first.queue, items, true, separate),
                tasks,
                payload: first.payload,
            });
        }
    };
    for entry in entries {
        if !entry.submit {
            close(open.take(), &mut batches);
            batches.push(Batch {
                key: entry.queue.key.clone(),
                head: session.head(&entry.queue, entry.items, false, false),
                tasks: vec![entry.task],
                payload: entry.payload,
            });
            continue;
        }
        match &mut open {
            Some((first, tasks, limit))
                if Arc::ptr_eq(&first.queue, &entry.queue)
                    && tasks.len() < *limit
                    && first.payload.len() + entry.payload.len() <= MAX_ENTRY_BYTES =>
            {
                tasks.push(entry.task);
                first.payload.extend_from_slice(&entry.payload);
            }
            _ => {
                close(open.take(), &mut batches);
                let limit = entry.queue.stats.coalesce().min(wire::MAX_IDS);
                let task = entry.task;
                open = Some((entry, vec![task], limit));
            }
        }
    }
    close(open, &mut batches);
    batches
}

/// Sends tasks, one pipeline for all. While the broker cannot be reached
/// (for less than `node_timeout`), the tasks are given back to be sent
/// later: none of them was sent, so none can run twice.
fn send(session: &Session, link: &mut Line, mut entries: Vec<OutEntry>) -> Vec<OutEntry> {
    // Tasks that ended meanwhile (aborted, or failed by an outage) are not
    // sent.
    entries.retain(|entry| session.pending.contains(entry.task));
    if entries.is_empty() {
        return entries;
    }
    if let Some(error) = session.unavailable() {
        for entry in entries {
            session.fail(entry.task, error.clone());
        }
        return Vec::new();
    }
    let Some(conn) = connection(session, link) else {
        if let Some(error) = session.unavailable() {
            for entry in entries {
                session.fail(entry.task, error.clone());
            }
            return Vec::new();
        }
        return entries;
    };
    // From here on an abort tells the nodes.
    let still = session.pending.mark_sent(entries.iter().map(|e| e.task));
    let mut still = still.into_iter();
    entries.retain(|_| still.next().unwrap_or(false));
    let batches = batch(session, entries);
    let mut pipe = redis::pipe();
    for b in &batches {
        pipe.cmd("XADD")
            .arg(&b.key)
            .arg("*")
            .arg(wire::TASK)
            .arg(wire::encode_ids(&b.tasks))
            .arg(wire::HEAD)
            .arg(&b.head)
            .arg(wire::PAYLOAD)
            .arg(&b.payload);
    }
    let fail = |b: &Batch, message: &str| {
        for &task in &b.tasks {
            session.fail(
                task,
                TaskError::BrokerLost {
                    message: message.to_owned(),
                },
            );
        }
    };
    match pipe.ignore_errors().query::<Vec<Value>>(conn) {
        Ok(replies) => {
            for (b, reply) in batches.iter().zip(replies) {
                if let Value::ServerError(e) = reply {
                    let e: redis::RedisError = e.into();
                    fail(b, &session.broker.error("the broker refused the task", &e).to_string());
                }
            }
        }
        Err(e) => {
            link.link.failed(&e);
            let message = session
                .broker
                .error("the connection broke while the task was being sent", &e)
                .to_string();
            for b in &batches {
                fail(b, &message);
            }
        }
    }
    Vec::new()
}

/// Refreshes leases, then reaps and sweeps the streams with work in flight.
fn heartbeat(session: &Session, link: &mut Line) {
    if session.is_closed() {
        return;
    }
    let Some(conn) = connection(session, link) else {
        return;
    };
    // Taken before the keys' lifetimes are renewed, so that keys that
    // expired for want of a heartbeat always show a gap of at least their
    // lifetime.
    let started = Instant::now();
    match beat(session, conn) {
        Ok(()) => session.beat_went_through(started),
        Err(e) => {
            link.link.failed(&e);
        }
    }
}

fn beat(session: &Session, conn: &mut Connection) -> redis::RedisResult<()> {
    session.set_clock(ServerClock::read(conn)?);
    let ttl = millis(session.settings.key_ttl());
    let lease = session.now_ms().saturating_add(ttl);
    let queues = session.queues();
    let mut pipe = redis::pipe();
    pipe.cmd("PEXPIRE").arg(&session.results_key).arg(ttl);
    pipe.cmd("PEXPIRE").arg(keys::aborts(&session.id)).arg(ttl);
    for queue in &queues {
        pipe.cmd("PEXPIRE").arg(&queue.key).arg(ttl);
        pipe.cmd("ZADD").arg(keys::QUEUES).arg(lease).arg(&queue.key);
    }
    if !queues.is_empty() {
        pipe.cmd("PEXPIRE").arg(keys::QUEUES).arg(ttl.saturating_mul(2));
    }
    let replies: Vec<Value> = pipe.query(conn)?;
    // PEXPIRE answers 0 for a key that no longer exists: the broker lost
    // the client's streams (restarted without them), or the client was
    // stalled past their lifetime. Their results can no longer arrive:
    // those tasks end, and the streams are made again.
    if matches!(replies.first(), Some(Value::Int(0))) {
        return recovery::resync(session, conn);
    }
    for queue in queues {
        // Who serves it, for submissions not to ask (and for the sweep).
        let offers = query_offers(conn, queue.f.name, session.now_ms())?;
        let verdict = queue.record_offers(&offers);
        if queue.stats.outstanding.load(Ordering::Acquire) == 0 {
            continue;
        }
        reaper::reap(session, conn, &queue)?;
        if let Err(reason) = verdict
            && queue.unserved_for(session.settings.node_timeout)
        {
            reaper::sweep(session, conn, &queue, &reason)?;
        }
    }
    Ok(())
}
