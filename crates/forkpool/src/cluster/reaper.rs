//! The client's reaper: what becomes of entries whose node went silent,
//! and of entries no node will ever take.
//!
//! A node refreshes its claim on every entry it holds (`XCLAIM` to itself,
//! which resets the entry's idle time) well within the client's
//! `node_timeout`. An entry idle for longer belongs to a node that died,
//! was stopped, or lost the network. The reaper claims it for itself
//! (`XCLAIM` with the same minimum idle time, so an entry whose node woke
//! up meanwhile is left alone) and then either sends it again (when the
//! task has `retries` left) or writes a `Lost` verdict for it to the
//! client's own result stream, and acknowledges and deletes it.
//!
//! The verdict goes through the result stream, not straight to the task,
//! so that the reader settles the task in the broker's order: if the node
//! wrote its result just before it fell silent, that result comes first
//! and wins, and the verdict finds the task already ended.
//!
//! An entry no node has taken, of a function no live node has served for
//! `node_timeout`, would wait forever: the sweep takes such entries (reading
//! them as the reaper) and writes an `Orphaned` verdict for each, which
//! ends the task with `Unsupported`.

use redis::{Connection, RedisResult, Value};

use super::broker::millis;
use super::keys;
use super::session::{Queue, Session};
use super::streams::{self, Entry};
use super::wire::{self, ResultHead, TaskHead};

/// Entries handled per round trip.
const BATCH: usize = 256;
/// Rounds per heartbeat, so that one heartbeat stays short.
const ROUNDS: usize = 16;

/// Claims `queue`'s entries held by silent nodes; sends each again or
/// writes its `Lost` verdict.
pub(crate) fn reap(session: &Session, conn: &mut Connection, queue: &Queue) -> RedisResult<()> {
    let idle = millis(session.settings.node_timeout);
    for _ in 0..ROUNDS {
        let stale: Value = redis::cmd("XPENDING")
            .arg(&queue.key)
            .arg(keys::GROUP)
            .arg("IDLE")
            .arg(idle)
            .arg("-")
            .arg("+")
            .arg(BATCH)
            .query(conn)?;
        let stale = streams::pending_reply(stale);
        if stale.is_empty() {
            return Ok(());
        }
        let mut claim = redis::cmd("XCLAIM");
        claim.arg(&queue.key).arg(keys::GROUP).arg(keys::REAPER).arg(idle);
        for p in &stale {
            claim.arg(&p.id);
        }
        let claimed = streams::entries(claim.query(conn)?);
        let mut pipe = redis::pipe();
        for mut entry in claimed {
            let owner = stale
                .iter()
                .find(|p| p.id == entry.id)
                .map_or_else(String::new, |p| p.consumer.clone());
            resolve(session, queue, &mut entry, &owner, &mut pipe);
        }
        // Entries deleted while pending: just forget them.
        for p in &stale {
            pipe.cmd("XACK").arg(&queue.key).arg(keys::GROUP).arg(&p.id).ignore();
        }
        pipe.query::<()>(conn)?;
        if stale.len() < BATCH {
            return Ok(());
        }
    }
    Ok(())
}

/// Adds to `pipe` what becomes of one claimed entry.
fn resolve(session: &Session, queue: &Queue, entry: &mut Entry, owner: &str, pipe: &mut redis::Pipeline) {
    let ids = entry.field(wire::TASK).and_then(wire::parse_ids);
    let head = entry
        .field(wire::HEAD)
        .and_then(|h| wire::decode::<TaskHead>(h, "task head").ok());
    if let (Some(ids), Some(mut head)) = (ids, head)
        && ids.iter().any(|&id| session.pending.items(id).is_some())
    {
        if head.attempt < session.settings.retries {
            head.attempt += 1;
            let payload = entry.take(wire::PAYLOAD).unwrap_or_default();
            pipe.cmd("XADD")
                .arg(&queue.key)
                .arg("*")
                .arg(wire::TASK)
                .arg(wire::encode_ids(&ids))
                .arg(wire::HEAD)
                .arg(wire::encode(&head))
                .arg(wire::PAYLOAD)
                .arg(payload)
                .ignore();
        } else {
            let verdict = ResultHead::Lost {
                node: owner.to_owned(),
                attempts: head.attempt + 1,
            };
            verdict_entry(session, pipe, &ids, &verdict);
        }
    }
    pipe.cmd("XACK")
        .arg(&queue.key)
        .arg(keys::GROUP)
        .arg(&entry.id)
        .ignore();
    pipe.cmd("XDEL").arg(&queue.key).arg(&entry.id).ignore();
}

/// Adds an `XADD` of a verdict on the tasks `ids` to the client's result
/// stream.
fn verdict_entry(session: &Session, pipe: &mut redis::Pipeline, ids: &[u64], verdict: &ResultHead) {
    pipe.cmd("XADD")
        .arg(&session.results_key)
        .arg("NOMKSTREAM")
        .arg("*")
        .arg(wire::TASK)
        .arg(wire::encode_ids(ids))
        .arg(wire::HEAD)
        .arg(wire::encode(verdict))
        .ignore();
}

/// Takes every entry of `queue` that no node has taken, and ends its task
/// as unsupported: no live node has served the function for
/// `node_timeout`.
pub(crate) fn sweep(session: &Session, conn: &mut Connection, queue: &Queue, reason: &str) -> RedisResult<()> {
    for _ in 0..ROUNDS {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(keys::GROUP)
            .arg(keys::REAPER)
            .arg("COUNT")
            .arg(BATCH)
            .arg("STREAMS")
            .arg(&queue.key)
            .arg(">")
            .query(conn)?;
        let entries: Vec<Entry> = streams::read_reply(reply).into_iter().flat_map(|(_, e)| e).collect();
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for entry in &entries {
            if let Some(ids) = entry.field(wire::TASK).and_then(wire::parse_ids) {
                let verdict = ResultHead::Orphaned {
                    name: queue.f.name.to_owned(),
                    reason: format!("{reason} (for {:?})", session.settings.node_timeout),
                };
                verdict_entry(session, &mut pipe, &ids, &verdict);
            }
            pipe.cmd("XACK")
                .arg(&queue.key)
                .arg(keys::GROUP)
                .arg(&entry.id)
                .ignore();
            pipe.cmd("XDEL").arg(&queue.key).arg(&entry.id).ignore();
        }
        pipe.query::<()>(conn)?;
        if entries.len() < BATCH {
            return Ok(());
        }
    }
    Ok(())
}
