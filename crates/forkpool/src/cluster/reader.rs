//! The client's result reader: one thread that reads the client's result
//! stream in order and settles tasks.
//!
//! It blocks in `XREAD` (a second at a time, so that a broker that stops
//! answering is noticed) and deletes what it has read in the same round
//! trip as its next read. Each entry is a node's result or a verdict of
//! the reaper; the first outcome for a task settles it and anything later
//! for that task is dropped (see `pending.rs`).
//!
//! If the connection breaks it reconnects (with a backoff), for as long as
//! the client lives, and checks first that its stream survived
//! (`recovery::resync`, which ends the tasks a broker that restarted
//! without its data lost, and makes the stream again). It reads from the
//! start of the stream after a reconnection: what it had read is deleted,
//! and a stream made again starts over.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{Connection, Value};

use super::broker::Link;
use super::pending::PendingTask;
use super::recovery;
use super::session::Session;
use super::streams::{self, Entry};
use super::wire::{self, PartHead, ResultHead};
use crate::error::TaskError;
use crate::slot::Part;

/// How long one `XREAD` blocks.
pub(crate) const BLOCK: Duration = Duration::from_secs(1);
/// Entries per read.
const COUNT: usize = 1024;

/// The thread's body.
pub(crate) fn run(session: Arc<Session>, conn: Connection) {
    let mut link = Link::new(conn, BLOCK + session.settings.io_timeout());
    let mut last = "0-0".to_owned();
    let mut read = Vec::new();
    loop {
        if session.is_closed() || session.stopping.load(Ordering::Acquire) {
            return;
        }
        if link.get(&session.broker).is_err() {
            // The writer declares an outage if this lasts; here, only
            // try again (`Link` paces the attempts).
            continue;
        }
        if link.take_reconnected() {
            last = "0-0".to_owned();
            let Ok(conn) = link.get(&session.broker) else {
                continue;
            };
            if let Err(e) = recovery::resync(&session, conn) {
                link.failed(&e);
                continue;
            }
        }
        let mut pipe = redis::pipe();
        if !read.is_empty() {
            pipe.cmd("XDEL").arg(&session.results_key).arg(&read).ignore();
        }
        pipe.cmd("XREAD")
            .arg("COUNT")
            .arg(COUNT)
            .arg("BLOCK")
            .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(1000))
            .arg("STREAMS")
            .arg(&session.results_key)
            .arg(&last);
        let Ok(conn) = link.get(&session.broker) else {
            continue;
        };
        let reply: Vec<Value> = match pipe.query(conn) {
            Ok(reply) => reply,
            Err(e) => {
                if !link.failed(&e) {
                    session.close_with(TaskError::BrokerLost {
                        message: session
                            .broker
                            .error("the broker refused to give results", &e)
                            .to_string(),
                    });
                    return;
                }
                session.doubts.fetch_add(1, Ordering::AcqRel);
                continue;
            }
        };
        read.clear();
        for (_, entries) in reply.into_iter().flat_map(streams::read_reply) {
            for entry in entries {
                last.clone_from(&entry.id);
                read.push(entry.id.clone());
                if settle(&session, entry) == Flow::Stop {
                    return;
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

/// Settles the tasks an entry is about.
fn settle(session: &Session, mut entry: Entry) -> Flow {
    let Some(ids) = entry.field(wire::TASK).and_then(wire::parse_ids) else {
        return Flow::Go;
    };
    let fail_all = |error: TaskError| {
        for &id in &ids {
            if let Some(task) = session.pending.take_reported(id) {
                task.fail(error.clone());
            }
        }
    };
    let head = match entry.field(wire::HEAD).map(|h| wire::decode::<ResultHead>(h, "result")) {
        Some(Ok(head)) => head,
        Some(Err(message)) => {
            fail_all(TaskError::Protocol { message });
            return Flow::Go;
        }
        None => {
            fail_all(TaskError::Protocol {
                message: "a result without a head".into(),
            });
            return Flow::Go;
        }
    };
    match head {
        ResultHead::Hello => {}
        ResultHead::Stop => return Flow::Stop,
        ResultHead::Ran { node, parts } => {
            let body = entry.take(wire::BODY).unwrap_or_default();
            ran(session, &ids, &node, parts, &body);
        }
        ResultHead::Lost { node, attempts } => fail_all(TaskError::NodeLost { node, attempts }),
        ResultHead::Orphaned { name, reason } => fail_all(TaskError::Unsupported { name, reason }),
    }
    Flow::Go
}

/// Settles the tasks of a node's result: one task, or several sent
/// together (one item each), whose parts are split among them.
fn ran(session: &Session, ids: &[u64], node: &str, parts: Vec<PartHead>, body: &[u8]) {
    let tasks: Vec<Option<PendingTask>> = ids.iter().map(|&id| session.pending.take_reported(id)).collect();
    if tasks.iter().all(Option::is_none) {
        return;
    }
    let counts: Vec<u32> = match tasks.as_slice() {
        [Some(task)] => vec![task.items],
        // Tasks sent together are single items.
        _ => vec![1; tasks.len()],
    };
    let total = counts.iter().sum();
    let split = wire::parts_from_wire(parts, body, total, session.settings.max_message).and_then(|parts| {
        let elapsed: u64 = parts
            .iter()
            .map(|p| match p {
                Part::Records { elapsed_ns, .. } => *elapsed_ns,
                Part::Failed { .. } => 0,
            })
            .sum();
        if let Some(task) = tasks.iter().flatten().next() {
            task.stats.note_elapsed(total, elapsed);
        }
        wire::split_parts(parts, &counts)
    });
    match split {
        Ok(split) => {
            for (task, parts) in tasks.into_iter().zip(split) {
                if let Some(task) = task {
                    task.settle(parts);
                }
            }
        }
        Err(why) => {
            for task in tasks.into_iter().flatten() {
                task.fail(TaskError::Protocol {
                    message: format!("node {node} sent a malformed result: {why}"),
                });
            }
        }
    }
}
