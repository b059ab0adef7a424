//! The node's claiming loop (on the thread that called `Node::run`).
//!
//! It finds the clients' task streams for the functions it serves in the
//! `fp:queues` directory, and reads new entries with `XREADGROUP`, never
//! more than it has idle workers: with several streams, each read names at
//! most that many (taking turns) with a `COUNT` that keeps the total
//! within the idle count. Every entry is checked before anything runs: its
//! task id, its head (the wire version, a name and type hash that match the
//! stream's and a function this node serves), and its items (framing and
//! size). What passes goes to the local pool as it came; what does not
//! becomes an already-failed slot, reported like any result.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use super::IO_TIMEOUT;
use super::state::{Held, NodeState, Phase};
use crate::cluster::broker::Link;
use crate::cluster::keys;
use crate::cluster::streams::{self, Entry};
use crate::cluster::wire::{self, TaskHead};
use crate::error::TaskError;
use crate::slot::{self, Label, Slot, lock};
use crate::sys::stop_signals::StopSignals;

/// How long one `XREADGROUP` blocks (and so how soon a signal is seen).
const BLOCK: Duration = Duration::from_millis(200);
/// How often the directory is read while busy (it is also read each time
/// a read comes back empty).
const REFRESH: Duration = Duration::from_secs(1);
/// The most items one entry may carry (a `map` batch's limit).
const MAX_ITEMS: u32 = 65_536;
/// The heartbeat basis for an entry whose head cannot be read.
const FALLBACK_NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// The loop's body; returns when the node stops.
pub(crate) fn run(state: &NodeState, conn: Connection, signals: &StopSignals) {
    let mut link = Link::new(conn, IO_TIMEOUT);
    let mut streams: Vec<String> = Vec::new();
    let mut refresh_at = Instant::now();
    let mut turn = 0usize;
    loop {
        match signals.received() {
            0 => {}
            1 => state.set_phase(Phase::Draining),
            _ => state.set_phase(Phase::Abandon),
        }
        match state.phase() {
            Phase::Serving => {}
            Phase::Draining => {
                if state.holds_nothing() {
                    return;
                }
                state.wait_a_little(BLOCK);
                continue;
            }
            Phase::Done | Phase::Abandon | Phase::Failed => return,
        }
        let Some(c) = state.connection(&mut link) else {
            state.wait_a_little(BLOCK);
            continue;
        };
        if Instant::now() >= refresh_at {
            match directory(state, c) {
                Ok(found) => streams = found,
                Err(e) => {
                    state.call_failed(&mut link, &e);
                    state.wait_a_little(BLOCK);
                    continue;
                }
            }
            refresh_at = Instant::now() + REFRESH;
        }
        let idle = state.wait_idle(BLOCK);
        if idle == 0 {
            continue;
        }
        if streams.is_empty() {
            state.wait_a_little(BLOCK);
            refresh_at = Instant::now();
            continue;
        }
        let chosen: Vec<&String> = (0..streams.len().min(idle))
            .map(|i| &streams[(turn + i) % streams.len()])
            .collect();
        turn = turn.wrapping_add(chosen.len());
        let count = (idle / chosen.len()).max(1);
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(keys::GROUP)
            .arg(&state.id)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(200))
            .arg("STREAMS")
            .arg(&chosen);
        for _ in &chosen {
            read.arg(">");
        }
        // The clients' aborted tasks, read right after the claim in the
        // same round trip: a task aborted before it was taken never runs.
        let mut abort_keys: Vec<String> = chosen
            .iter()
            .filter_map(|s| keys::parse_queue(s).map(|q| keys::aborts(q.client)))
            .collect();
        abort_keys.sort();
        abort_keys.dedup();
        let mut pipe = redis::pipe();
        pipe.add_command(read);
        for key in &abort_keys {
            pipe.cmd("XRANGE").arg(key).arg("-").arg("+");
        }
        let replies = pipe.ignore_errors().query::<Vec<Value>>(c).and_then(|mut replies| {
            let first = if replies.is_empty() {
                Value::Nil
            } else {
                replies.remove(0)
            };
            if let Value::ServerError(e) = first {
                return Err(e.into());
            }
            Ok((first, aborted_ids(replies)))
        });
        let (reply, aborted) = match replies {
            Ok(replies) => replies,
            Err(e) if matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) => {
                // A client's stream expired or was deleted (while we were
                // blocked on it, for UNBLOCKED): forget it, look again.
                let detail = e.detail().unwrap_or_default().to_owned();
                streams.retain(|s| !detail.contains(s.as_str()));
                refresh_at = Instant::now();
                continue;
            }
            Err(e) => {
                state.call_failed(&mut link, &e);
                state.wait_a_little(BLOCK);
                refresh_at = Instant::now();
                continue;
            }
        };
        let arrived = streams::read_reply(reply);
        if arrived.iter().all(|(_, entries)| entries.is_empty()) {
            refresh_at = Instant::now();
        }
        for (stream, entries) in arrived {
            let stream: Arc<str> = stream.into();
            if !entries.is_empty() {
                lock(&state.streams_read).insert(stream.to_string());
            }
            state.take_workers(entries.len());
            for entry in entries {
                take(state, &stream, entry, &aborted);
            }
        }
    }
}

/// The live task streams of the functions this node serves (pruning the
/// directory of streams whose lease ended).
fn directory(state: &NodeState, conn: &mut Connection) -> redis::RedisResult<Vec<String>> {
    let now = state.now_ms();
    let (live,): (Value,) = redis::pipe()
        .cmd("ZREMRANGEBYSCORE")
        .arg(keys::QUEUES)
        .arg("-inf")
        .arg(format!("({now}"))
        .ignore()
        .cmd("ZRANGE")
        .arg(keys::QUEUES)
        .arg(now)
        .arg("+inf")
        .arg("BYSCORE")
        .query(conn)?;
    let mut streams: Vec<String> = streams::strings(live)
        .into_iter()
        .filter(|key| {
            keys::parse_queue(key).is_some_and(|q| {
                state
                    .offers
                    .iter()
                    .any(|f| f.name == q.name && f.type_hash == q.type_hash)
            })
        })
        .collect();
    streams.sort();
    Ok(streams)
}

/// The task numbers in replies of `XRANGE` over abort streams.
fn aborted_ids(replies: Vec<Value>) -> HashSet<u64> {
    replies
        .into_iter()
        .flat_map(streams::entries)
        .filter_map(|e| e.field(wire::TASK).and_then(wire::parse_ids))
        .flatten()
        .collect()
}

/// Checks one claimed entry and hands it to the pool (or fails it, or
/// drops it when its client aborted all its tasks).
fn take(state: &NodeState, stream: &Arc<str>, mut entry: Entry, aborted: &HashSet<u64>) {
    let Some(parsed) = keys::parse_queue(stream) else {
        return;
    };
    let results = parsed.results();
    // An entry that cannot be read is answered with a Protocol error (for
    // task 0 when even its ids are unreadable, which no client waits for),
    // so that it is acknowledged and deleted like any other.
    let refuse = |ids: String, message: String| {
        let slot = Slot::failed(1, Label::task(slot::next_id()), TaskError::Protocol { message }, None);
        hold(
            state,
            stream,
            entry.id.clone(),
            ids,
            results.clone(),
            FALLBACK_NODE_TIMEOUT,
            vec![slot],
        );
    };
    let Some(ids) = entry.field(wire::TASK).and_then(wire::parse_ids) else {
        return refuse("0".into(), "an entry without valid task ids".into());
    };
    let ids_field = wire::encode_ids(&ids);
    let head = match entry
        .field(wire::HEAD)
        .map(|h| wire::decode::<TaskHead>(h, "task head"))
    {
        Some(Ok(head)) => head,
        Some(Err(message)) => return refuse(ids_field, message),
        None => return refuse(ids_field, "a task entry without a head".into()),
    };
    let items = head.items.max(1);
    if ids.iter().all(|id| aborted.contains(id)) {
        // Acknowledged without a result (see the reporter).
        let slot = Slot::failed(items, Label::task(slot::next_id()), TaskError::Cancelled, None);
        return state.hold(Held {
            stream: stream.clone(),
            entry_id: entry.id,
            ids: ids_field,
            results,
            node_timeout: head.node_timeout(),
            slots: vec![slot],
            aborted: ids.len(),
        });
    }
    let payload = entry.take(wire::PAYLOAD).unwrap_or_default();
    let slots = match admit(state, &parsed, &head, ids.len(), &payload) {
        Err(error) => vec![Slot::failed(items, Label::task(slot::next_id()), error, None)],
        Ok(f) => match state.pool() {
            Some(pool) if head.separate => pool.submit_each(f.entry, &payload, head.items, head.task_timeout()),
            Some(pool) => vec![pool.submit_items(f.entry, payload, head.items, head.at_most_once, head.task_timeout())],
            None => vec![Slot::failed(
                items,
                Label::task(slot::next_id()),
                TaskError::PoolShutdown,
                None,
            )],
        },
    };
    hold(state, stream, entry.id, ids_field, results, head.node_timeout(), slots);
}

fn hold(
    state: &NodeState,
    stream: &Arc<str>,
    entry_id: String,
    ids: String,
    results: String,
    node_timeout: Duration,
    slots: Vec<Arc<Slot>>,
) {
    state.hold(Held {
        stream: stream.clone(),
        entry_id,
        ids,
        results,
        node_timeout,
        slots,
        aborted: 0,
    });
}

/// Whether this node may run the entry: the function it names, or why not.
fn admit(
    state: &NodeState,
    stream: &keys::QueueKey<'_>,
    head: &TaskHead,
    ids: usize,
    payload: &[u8],
) -> Result<&'static crate::cluster::registry::RemoteFn, TaskError> {
    let unsupported = |reason: String| TaskError::Unsupported {
        name: head.name.clone(),
        reason,
    };
    if head.version != wire::VERSION {
        return Err(unsupported(format!(
            "node {} speaks wire version {}, the task came in version {}",
            state.id,
            wire::VERSION,
            head.version
        )));
    }
    if head.name != stream.name || head.type_hash != stream.type_hash {
        return Err(TaskError::Protocol {
            message: format!("a task entry names `{}` in the stream of `{}`", head.name, stream.name),
        });
    }
    let Some(f) = state
        .offers
        .iter()
        .find(|f| f.name == head.name && f.type_hash == head.type_hash)
    else {
        return Err(unsupported(format!(
            "node {} does not serve it with these argument and result types",
            state.id
        )));
    };
    if head.items == 0 || head.items > MAX_ITEMS {
        return Err(TaskError::Protocol {
            message: format!("a task entry of {} items", head.items),
        });
    }
    let expected_ids = if head.separate { head.items as usize } else { 1 };
    if ids != expected_ids {
        return Err(TaskError::Protocol {
            message: format!("a task entry of {} items with {ids} task ids", head.items),
        });
    }
    wire::check_items(payload, head.items, state.max_message).map_err(|message| TaskError::Codec { message })?;
    Ok(f)
}
