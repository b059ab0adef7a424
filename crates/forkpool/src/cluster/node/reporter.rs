//! The node's reporter thread: results out, claims and offers alive.
//!
//! - When a held entry's slot finishes, its outcome (the workers' result
//!   records, forwarded without decoding, or the error) is written to the
//!   client's result stream with `XADD NOMKSTREAM` (a client that is gone
//!   is not brought back as an empty stream), and the worker counts as idle
//!   again. Only then is the entry acknowledged and deleted (`XACK`,
//!   `XDEL`), in a second round trip off the result's path: an entry is
//!   never acknowledged without its result in the broker, so a node that
//!   dies in between leaves it to the client's reaper, whose verdict then
//!   comes after the result and is dropped.
//! - Every quarter of the shortest `node_timeout` among the entries it
//!   holds, it renews its claim on all of them (`XCLAIM ... JUSTID` to
//!   itself, which resets their idle time), so that a long task is never
//!   taken back from a live node.
//! - With each renewal it reads the abort streams (`fp:{C}:a`) of the
//!   clients whose tasks it holds: a task its client aborted
//!   (`Task::abort`) is aborted in the local pool (its worker's process
//!   group is killed, or it is skipped if not started), and an entry all
//!   of whose tasks were aborted is acknowledged without a result.
//! - Every second it renews its offers in `fp:offer:NAME` (a 5 s lease, by
//!   the broker's clock), which is how clients know a live node serves a
//!   function.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult, Value};

use super::IO_TIMEOUT;
use super::state::{Held, NodeState, Phase};
use crate::cluster::broker::{Link, ServerClock, millis};
use crate::cluster::keys;
use crate::cluster::streams;
use crate::cluster::wire::{self, ResultHead};
use crate::error::TaskError;
use crate::slot::Part;

/// How long an offer lasts without renewal.
const OFFER_LEASE: Duration = Duration::from_secs(5);
/// How often offers are renewed.
const OFFER_EVERY: Duration = Duration::from_secs(1);
/// The most results written in one round trip.
const BATCH: usize = 512;

/// A result ready to be written.
#[derive(Debug)]
struct Report {
    stream: std::sync::Arc<str>,
    entry_id: String,
    ids: String,
    results: String,
    items: u32,
    head: Vec<u8>,
    body: Vec<u8>,
    /// The broker refused this result once already.
    refused: bool,
    /// Its client aborted every task of it: acknowledged without a result.
    aborted: bool,
}

impl Report {
    fn new(state: &NodeState, held: Held) -> Report {
        let aborted = held.all_aborted();
        // The slots' parts, numbered across the entry's items.
        let mut parts = Vec::new();
        let mut offset = 0u32;
        for slot in &held.slots {
            let count = slot.items();
            match slot.take() {
                Some(outcome) => parts.extend(outcome.into_parts().into_iter().map(|p| {
                    let first = offset + p.first();
                    wire::rebase(p, first)
                })),
                None => parts.push(Part::Failed {
                    first: offset,
                    count,
                    error: TaskError::Protocol {
                        message: "the node lost the task's outcome".into(),
                    },
                }),
            }
            offset += count;
        }
        let (parts, body) = wire::parts_to_wire(parts);
        Report {
            stream: held.stream,
            entry_id: held.entry_id,
            ids: held.ids,
            results: held.results,
            items: offset,
            head: wire::encode(&ResultHead::Ran {
                node: state.id.clone(),
                parts,
            }),
            body,
            refused: false,
            aborted,
        }
    }

    /// The broker refused the result (too large, out of memory): report
    /// that instead, once; a second refusal leaves the entry unacknowledged
    /// for the client's reaper.
    fn refused(mut self, state: &NodeState, why: &str) -> Option<Report> {
        if self.refused {
            return None;
        }
        let (parts, body) = wire::parts_to_wire(vec![Part::Failed {
            first: 0,
            count: self.items,
            error: TaskError::Protocol {
                message: format!("the broker refused the task's result: {why}"),
            },
        }]);
        self.head = wire::encode(&ResultHead::Ran {
            node: state.id.clone(),
            parts,
        });
        self.body = body;
        self.refused = true;
        Some(self)
    }
}

/// The thread's body.
pub(crate) fn run(state: &NodeState, conn: Connection) {
    let mut link = Link::new(conn, IO_TIMEOUT);
    let mut unsent: Vec<Report> = Vec::new();
    let mut unacked: Vec<Report> = Vec::new();
    let mut last_beat = Instant::now();
    let mut next_offer = Instant::now() + OFFER_EVERY;
    loop {
        match state.phase() {
            Phase::Abandon | Phase::Failed => return,
            Phase::Done if state.holds_nothing() && unsent.is_empty() && unacked.is_empty() => return,
            _ => {}
        }
        // Claims are renewed a quarter of the shortest node_timeout after
        // the last renewal, which covers entries claimed since.
        let interval = beat_interval(state.shortest_node_timeout());
        let next_beat = last_beat + interval;
        let deadline = next_beat
            .min(next_offer)
            .min(Instant::now() + interval.min(Duration::from_millis(100)));
        if unacked.is_empty()
            && let Some(token) = state.finished.pop(Some(deadline))
        {
            collect(state, token, &mut unsent);
        }
        while unsent.len() < BATCH {
            let Some(token) = state.finished.pop(Some(Instant::now())) else {
                break;
            };
            collect(state, token, &mut unsent);
        }
        let Some(c) = state.connection(&mut link) else {
            continue;
        };
        // Entries whose client aborted them: no result, only the ack.
        let (dropped, kept): (Vec<Report>, Vec<Report>) =
            std::mem::take(&mut unsent).into_iter().partition(|r| r.aborted);
        unsent = kept;
        if !dropped.is_empty() {
            state.give_workers(dropped.len());
            unacked.extend(dropped);
        }
        let done = (|| -> RedisResult<()> {
            if !unsent.is_empty() {
                let refusals = post(c, &unsent)?;
                state.give_workers(unsent.len());
                for (report, refusal) in std::mem::take(&mut unsent).into_iter().zip(refusals) {
                    match refusal {
                        None => unacked.push(report),
                        Some(why) => {
                            if let Some(again) = report.refused(state, &why) {
                                state.take_workers(1);
                                unsent.push(again);
                            }
                        }
                    }
                }
            } else if !unacked.is_empty() {
                acknowledge(c, &unacked)?;
                unacked.clear();
            }
            if Instant::now() >= next_beat {
                last_beat = Instant::now();
                heartbeat(state, c)?;
            }
            if Instant::now() >= next_offer {
                advertise(state, c)?;
                next_offer = Instant::now() + OFFER_EVERY;
            }
            Ok(())
        })();
        if let Err(e) = done {
            state.call_failed(&mut link, &e);
        }
    }
}

fn collect(state: &NodeState, token: usize, into: &mut Vec<Report>) {
    if let Some(held) = state.release(token) {
        into.push(Report::new(state, held));
    }
}

/// Writes results (one round trip); for each, why the broker refused it.
fn post(conn: &mut Connection, reports: &[Report]) -> RedisResult<Vec<Option<String>>> {
    let mut pipe = redis::pipe();
    for r in reports {
        pipe.cmd("XADD")
            .arg(&r.results)
            .arg("NOMKSTREAM")
            .arg("*")
            .arg(wire::TASK)
            .arg(&r.ids)
            .arg(wire::HEAD)
            .arg(&r.head);
        if !r.body.is_empty() {
            pipe.arg(wire::BODY).arg(&r.body);
        }
    }
    let replies: Vec<Value> = pipe.ignore_errors().query(conn)?;
    Ok(replies
        .into_iter()
        .map(|reply| match reply {
            Value::ServerError(e) => Some(e.to_string()),
            _ => None,
        })
        .collect())
}

/// Acknowledges and deletes reported entries (one round trip).
fn acknowledge(conn: &mut Connection, reports: &[Report]) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    for r in reports {
        pipe.cmd("XACK")
            .arg(&*r.stream)
            .arg(keys::GROUP)
            .arg(&r.entry_id)
            .ignore();
        pipe.cmd("XDEL").arg(&*r.stream).arg(&r.entry_id).ignore();
    }
    // A stream deleted meanwhile (its client ended) is no error here.
    pipe.ignore_errors().query::<Value>(conn).map(drop)
}

/// How often claims are renewed: four times per `node_timeout`.
fn beat_interval(shortest_node_timeout: Option<Duration>) -> Duration {
    shortest_node_timeout
        .map_or(Duration::from_secs(1), |t| t / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Renews the claim on every held entry, and aborts the tasks their
/// clients aborted.
fn heartbeat(state: &NodeState, conn: &mut Connection) -> RedisResult<()> {
    abort_aborted(state, conn)?;
    let by_stream = state.held_by_stream();
    if !by_stream.is_empty() {
        let mut pipe = redis::pipe();
        for (stream, ids) in &by_stream {
            pipe.cmd("XCLAIM")
                .arg(&**stream)
                .arg(keys::GROUP)
                .arg(&state.id)
                .arg(0)
                .arg(ids)
                .arg("JUSTID")
                .ignore();
        }
        pipe.ignore_errors().query::<Value>(conn)?;
    }
    Ok(())
}

/// Reads the abort streams of the clients whose tasks the node holds, and
/// aborts those tasks in the local pool.
fn abort_aborted(state: &NodeState, conn: &mut Connection) -> RedisResult<()> {
    let clients = state.clients_held();
    if clients.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for results in &clients {
        let aborts = results
            .strip_suffix(":r")
            .map_or_else(String::new, |c| format!("{c}:a"));
        pipe.cmd("XRANGE").arg(aborts).arg("-").arg("+");
    }
    let replies: Vec<Value> = pipe.ignore_errors().query(conn)?;
    for (results, reply) in clients.iter().zip(replies) {
        let aborted: HashSet<u64> = streams::entries(reply)
            .iter()
            .filter_map(|e| e.field(wire::TASK).and_then(wire::parse_ids))
            .flatten()
            .collect();
        if aborted.is_empty() {
            continue;
        }
        for slot in state.mark_aborted(results, &aborted) {
            if slot.abort() == Some(true)
                && let Some(pool) = state.pool()
            {
                pool.shared().note_aborted();
            }
        }
    }
    Ok(())
}

/// Renews the node's offers (and prunes offers whose lease ended).
pub(crate) fn advertise(state: &NodeState, conn: &mut Connection) -> RedisResult<()> {
    state.set_clock(ServerClock::read(conn)?);
    let now = state.now_ms();
    let lease = now.saturating_add(millis(OFFER_LEASE));
    let mut pipe = redis::pipe();
    for f in &state.offers {
        let key = keys::offers(f.name);
        pipe.cmd("ZADD")
            .arg(&key)
            .arg(lease)
            .arg(keys::offer_member(f.type_hash, &state.id, state.workers))
            .ignore();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({now}"))
            .ignore();
        pipe.cmd("PEXPIRE").arg(&key).arg(millis(OFFER_LEASE * 2)).ignore();
    }
    pipe.query(conn)
}

/// Takes the node's offers back and leaves the consumer groups it joined
/// (best effort: offers expire anyway). A group is left only when the
/// node holds nothing: leaving deletes the consumer's pending entries,
/// which the clients' reapers must still find.
pub(crate) fn withdraw(state: &NodeState) {
    let Ok(mut conn) = state.broker.connect(IO_TIMEOUT) else {
        return;
    };
    let mut pipe = redis::pipe();
    for f in &state.offers {
        pipe.cmd("ZREM")
            .arg(keys::offers(f.name))
            .arg(keys::offer_member(f.type_hash, &state.id, state.workers))
            .ignore();
    }
    if state.holds_nothing() && state.phase() != Phase::Abandon {
        for stream in crate::slot::lock(&state.streams_read).iter() {
            pipe.cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(stream)
                .arg(keys::GROUP)
                .arg(&state.id)
                .ignore();
        }
    }
    let _: RedisResult<Value> = pipe.ignore_errors().query(&mut conn);
}
