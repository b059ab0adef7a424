//! A client whose broker went away, or came back without the client's
//! keys: how its tasks end exactly once, and how it works again after.
//!
//! - **Unreachable for less than `node_timeout`**: nothing is lost. The
//!   threads reconnect; tasks submitted meanwhile wait in the writer.
//! - **Unreachable for `node_timeout`** (the writer notices, see
//!   `writer.rs`): [`Session::outage`] ends every task in flight with
//!   `BrokerLost` (whether it ran cannot be known), and every task
//!   submitted while the broker stays unreachable ends the same way at
//!   once. The threads keep trying, with a backoff of up to a second.
//! - **Reached again**: after every reconnection the thread that made it
//!   calls [`resync`] before anything else. If the client's result stream
//!   is still there (a network cut), nothing was lost: results of tasks
//!   that had already ended `BrokerLost` arrive and are dropped as late.
//!   If it is gone (the broker restarted without its data, or the client
//!   was stalled past its keys' lifetime), the tasks whose entries were
//!   sent end now, and the client's streams and consumer groups are made
//!   again. Either way the client takes tasks again: the same `Cluster`
//!   works on.
//!
//! The check and the re-making hold one lock, so that the writer and the
//! reader, both reconnecting, never both re-make the keys; and the writer
//! sends nothing on a new connection before its `resync`, so no task entry
//! can land in a stream that has no consumer group.

use std::sync::atomic::Ordering;

use redis::{Connection, RedisResult};

use super::broker::{human_duration, millis};
use super::session::{Session, make_queue, make_results};
use crate::error::TaskError;
use crate::slot::lock;

/// Checks that the client's keys survived; makes them again if not, after
/// ending the tasks they held. Ends an outage.
///
/// When the client's own heartbeat last went through longer ago than its
/// keys live, while the broker was not known to be down, the client was
/// stalled (stopped, frozen): then it, not the broker, is why they are
/// gone, and its tasks end `ClientStopped`.
pub(crate) fn resync(session: &Session, conn: &mut Connection) -> RedisResult<()> {
    let _one_at_a_time = lock(&session.resyncing);
    session.doubts.fetch_add(1, Ordering::AcqRel);
    let exists: i64 = redis::cmd("EXISTS").arg(&session.results_key).query(conn)?;
    if exists == 0 {
        let since = session.since_beat();
        let stalled = (since >= session.settings.key_ttl() && session.unavailable().is_none()).then_some(since);
        let error = match stalled {
            Some(gap) => TaskError::ClientStopped {
                message: format!(
                    "this client's process did not run for {} (it was stopped or frozen), longer than the \
                     {} its keys live in the broker without a heartbeat; the broker dropped them, so \
                     whether the task ran is unknown",
                    human_duration(gap),
                    human_duration(session.settings.key_ttl())
                ),
            },
            None => TaskError::BrokerLost {
                message: format!(
                    "the broker at {} lost this client's streams (it restarted without its data?), so \
                     whether the task ran is unknown",
                    session.broker.shown()
                ),
            },
        };
        session.pending.fail_sent(&error);
        remake(session, conn)?;
    }
    session.back();
    Ok(())
}

/// Makes the client's result stream, task streams and consumer groups
/// again, as `build` and the first submission of each function did.
fn remake(session: &Session, conn: &mut Connection) -> RedisResult<()> {
    let ttl = millis(session.settings.key_ttl());
    make_results(conn, &session.results_key, ttl)?;
    let lease = session.now_ms().saturating_add(ttl);
    for queue in session.queues() {
        make_queue(conn, &queue.key, ttl, lease)?;
    }
    Ok(())
}
