//! What the stream entries carry.
//!
//! A task entry (`XADD fp:{CLIENT}:q:NAME:HASH`) has three fields:
//! - `t`: the client's task ids, in decimal, separated by commas: one for a
//!   `submit` or a `map` batch; several for a burst of quick submissions
//!   the writer put in one entry (`separate`: each item is a task of its
//!   own);
//! - `h`: a [`TaskHead`] in postcard: the function's name and type hash
//!   (checked against the stream's, and against the node's registry), the
//!   number of items, the attempt, the time limits;
//! - `p`: the items, `head u32 | postcard bytes` each, inline (no
//!   descriptors: nothing but bytes crosses machines): a layout a local
//!   pool's job carries, so a node hands them to its pool as they came.
//!
//! A result entry (`XADD fp:{CLIENT}:r`) has `t`, `h` (a [`ResultHead`])
//! and, for results that ran, `b`: the workers' result records (`tag u8 |
//! item` each), forwarded by the node as its pool produced them, except
//! that a large result the worker put out of line (in a memfd) is read
//! back inline. The client's reaper writes its verdicts (lost, no node) to the
//! same stream, so that every outcome of a task is read in the order the
//! broker recorded them, and the first one wins.
//!
//! Nothing here is trusted: every head is decoded from untrusted bytes,
//! every count and length is checked against the bytes present, and a
//! result whose parts do not tile the task's items exactly is a
//! `Protocol` error for the task, never a panic.
//!
//! The result parts, to and from the wire, are in [`parts`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::ipc::protocol::{Items, push_item};
use crate::shm;

mod parts;

pub(crate) use parts::{parts_from_wire, parts_to_wire, rebase, split_parts};

/// Changes whenever the layout of these entries does.
pub(crate) const VERSION: u8 = 1;

/// Field names.
pub(crate) const TASK: &str = "t";
pub(crate) const HEAD: &str = "h";
pub(crate) const PAYLOAD: &str = "p";
pub(crate) const BODY: &str = "b";

/// The head of a task entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TaskHead {
    pub(crate) version: u8,
    pub(crate) name: String,
    pub(crate) type_hash: u64,
    /// Items in the payload: 1 for `submit`, a batch for `map`.
    pub(crate) items: u32,
    /// How many times the task was handed out and lost before.
    pub(crate) attempt: u32,
    /// `submit`: an item that started is never run again by the node's
    /// pool. (`map` items may be, as in a local `map`.)
    pub(crate) at_most_once: bool,
    /// Each item is a task of its own (submissions sent together): the
    /// node runs each as its own job, exactly as a local `submit`.
    pub(crate) separate: bool,
    /// The client's `task_timeout`, per item.
    pub(crate) task_timeout_ns: Option<u64>,
    /// The client's `node_timeout`: the node refreshes its claim well
    /// within it.
    pub(crate) node_timeout_ns: u64,
}

impl TaskHead {
    pub(crate) fn task_timeout(&self) -> Option<Duration> {
        self.task_timeout_ns.map(Duration::from_nanos)
    }

    pub(crate) fn node_timeout(&self) -> Duration {
        Duration::from_nanos(self.node_timeout_ns)
    }
}

/// The head of a result entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ResultHead {
    /// A node ran the task (or refused it): the parts cover every item.
    Ran { node: String, parts: Vec<PartHead> },
    /// The client's reaper: the task's node went silent.
    Lost { node: String, attempts: u32 },
    /// The client's reaper: no live node serves the function any more.
    Orphaned { name: String, reason: String },
    /// The first entry, which creates the stream.
    Hello,
    /// Wakes the client's reader when the client shuts down.
    Stop,
}

/// One run of items in a [`ResultHead::Ran`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PartHead {
    /// Items `first..first + count` as records, `len` bytes of the body.
    Records {
        first: u32,
        count: u32,
        len: u32,
        elapsed_ns: u64,
    },
    /// Items `first..first + count` failed with `error`.
    Failed { first: u32, count: u32, error: WireError },
}

/// A [`TaskError`] as it crosses the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireError {
    Panicked {
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    },
    Crashed {
        signal: Option<i32>,
        exit_code: Option<i32>,
    },
    TimedOut {
        after_ns: u64,
    },
    MemoryLimitExceeded {
        limit: u64,
    },
    CpuLimitExceeded {
        seconds: u64,
    },
    Cancelled,
    Codec {
        message: String,
    },
    PoolShutdown,
    WorkerStartFailed {
        message: String,
    },
    Protocol {
        message: String,
    },
    NodeLost {
        node: String,
        attempts: u32,
    },
    Unsupported {
        name: String,
        reason: String,
    },
    BrokerLost {
        message: String,
    },
    ClientStopped {
        message: String,
    },
}

impl From<&TaskError> for WireError {
    fn from(e: &TaskError) -> WireError {
        match e.clone() {
            TaskError::Panicked {
                message,
                location,
                backtrace,
            } => WireError::Panicked {
                message,
                location,
                backtrace,
            },
            TaskError::Crashed { signal, exit_code } => WireError::Crashed { signal, exit_code },
            TaskError::TimedOut { after } => WireError::TimedOut {
                after_ns: u64::try_from(after.as_nanos()).unwrap_or(u64::MAX),
            },
            TaskError::MemoryLimitExceeded { limit } => WireError::MemoryLimitExceeded { limit },
            TaskError::CpuLimitExceeded { seconds } => WireError::CpuLimitExceeded { seconds },
            TaskError::Cancelled => WireError::Cancelled,
            TaskError::Codec { message } => WireError::Codec { message },
            TaskError::PoolShutdown => WireError::PoolShutdown,
            TaskError::WorkerStartFailed { message } => WireError::WorkerStartFailed { message },
            TaskError::Protocol { message } => WireError::Protocol { message },
            TaskError::NodeLost { node, attempts } => WireError::NodeLost { node, attempts },
            TaskError::Unsupported { name, reason } => WireError::Unsupported { name, reason },
            TaskError::BrokerLost { message } => WireError::BrokerLost { message },
            TaskError::ClientStopped { message } => WireError::ClientStopped { message },
        }
    }
}

impl From<WireError> for TaskError {
    fn from(e: WireError) -> TaskError {
        match e {
            WireError::Panicked {
                message,
                location,
                backtrace,
            } => TaskError::Panicked {
                message,
                location,
                backtrace,
            },
            WireError::Crashed { signal, exit_code } => TaskError::Crashed { signal, exit_code },
            WireError::TimedOut { after_ns } => TaskError::TimedOut {
                after: Duration::from_nanos(after_ns),
            },
            WireError::MemoryLimitExceeded { limit } => TaskError::MemoryLimitExceeded { limit },
            WireError::CpuLimitExceeded { seconds } => TaskError::CpuLimitExceeded { seconds },
            WireError::Cancelled => TaskError::Cancelled,
            WireError::Codec { message } => TaskError::Codec { message },
            WireError::PoolShutdown => TaskError::PoolShutdown,
            WireError::WorkerStartFailed { message } => TaskError::WorkerStartFailed { message },
            WireError::Protocol { message } => TaskError::Protocol { message },
            WireError::NodeLost { node, attempts } => TaskError::NodeLost { node, attempts },
            WireError::Unsupported { name, reason } => TaskError::Unsupported { name, reason },
            WireError::BrokerLost { message } => TaskError::BrokerLost { message },
            WireError::ClientStopped { message } => TaskError::ClientStopped { message },
        }
    }
}

/// The most task ids one entry carries.
pub(crate) const MAX_IDS: usize = 4096;

/// `t`: task ids as `1,2,3`.
pub(crate) fn encode_ids(ids: &[u64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out
}

/// Parses `t`: one to [`MAX_IDS`] decimal ids separated by commas.
pub(crate) fn parse_ids(field: &[u8]) -> Option<Vec<u64>> {
    let text = std::str::from_utf8(field).ok()?;
    let ids: Vec<u64> = text
        .split(',')
        .map(|id| {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            id.parse().ok()
        })
        .collect::<Option<_>>()?;
    (1..=MAX_IDS).contains(&ids.len()).then_some(ids)
}

/// Appends `arg` as one inline item, and returns its size. Nothing but
/// bytes crosses machines: an argument holding shared memory
/// (`SharedBytes`, `SharedSlice`) is refused, and none is put out of line.
pub(crate) fn encode_inline<A: Serialize + ?Sized>(out: &mut Vec<u8>, arg: &A, max: usize) -> Result<u64, TaskError> {
    let codec = |message: String| TaskError::Codec { message };
    let mut shared = Vec::new();
    let bytes = shm::wire::encoding(&mut shared, || postcard::to_allocvec(arg));
    if !shared.is_empty() {
        return Err(codec(
            "the argument holds shared memory (SharedBytes or SharedSlice), which does not cross machines: \
             send its bytes (a Vec<u8>) instead"
                .into(),
        ));
    }
    let bytes = bytes.map_err(|e| codec(format!("cannot encode the argument: {e}")))?;
    if bytes.len() > max {
        return Err(codec(format!(
            "the argument is {} bytes, over the cluster's message size limit of {max} bytes",
            bytes.len()
        )));
    }
    push_item(out, |o| {
        o.extend_from_slice(&bytes);
        Ok::<(), TaskError>(())
    })?;
    Ok(bytes.len() as u64)
}

/// Encodes a head (postcard never fails on these types).
pub(crate) fn encode<T: Serialize>(head: &T) -> Vec<u8> {
    postcard::to_allocvec(head).unwrap_or_default()
}

/// Decodes a head from untrusted bytes.
pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("malformed {what}: {e}"))
}

/// Checks a task entry's payload: exactly `count` items, none larger than
/// `max` bytes, nothing after them.
pub(crate) fn check_items(payload: &[u8], count: u32, max: usize) -> Result<(), String> {
    let mut seen = 0usize;
    let mut items = Items::new(payload, count);
    for item in &mut items {
        let item = item.map_err(|e| format!("malformed task items: {e}"))?;
        if item.fds() > 0 {
            return Err("a task item refers to descriptors".into());
        }
        if item.inline.len() > max {
            return Err(format!(
                "an argument of {} bytes is over the node's message size limit of {max} bytes",
                item.inline.len()
            ));
        }
        seen += 4 + item.inline.len();
    }
    if seen != payload.len() {
        return Err("bytes after the task's last item".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_error_crosses_the_wire_unchanged() {
        let all = [
            TaskError::Panicked {
                message: "boom".into(),
                location: Some("src/main.rs:3:5".into()),
                backtrace: Some("   0: main\n".into()),
            },
            TaskError::Panicked {
                message: "boom".into(),
                location: None,
                backtrace: None,
            },
            TaskError::Crashed {
                signal: None,
                exit_code: Some(3),
            },
            TaskError::TimedOut {
                after: Duration::from_millis(1500),
            },
            TaskError::MemoryLimitExceeded { limit: 1 << 20 },
            TaskError::CpuLimitExceeded { seconds: 3 },
            TaskError::Cancelled,
            TaskError::Codec { message: "c".into() },
            TaskError::PoolShutdown,
            TaskError::WorkerStartFailed { message: "w".into() },
            TaskError::Protocol { message: "p".into() },
            TaskError::NodeLost {
                node: "n".into(),
                attempts: 2,
            },
            TaskError::Unsupported {
                name: "f".into(),
                reason: "r".into(),
            },
            TaskError::BrokerLost { message: "b".into() },
        ];
        for e in all {
            let wire: WireError = decode(&encode(&WireError::from(&e)), "error").unwrap();
            assert_eq!(TaskError::from(wire), e);
        }
    }

    #[test]
    fn task_ids_round_trip_and_bad_ones_are_refused() {
        assert_eq!(encode_ids(&[7]), "7");
        assert_eq!(encode_ids(&[1, 20, 300]), "1,20,300");
        assert_eq!(parse_ids(b"1,20,300"), Some(vec![1, 20, 300]));
        for bad in [
            &b""[..],
            b",",
            b"1,",
            b"1,,2",
            b"-1",
            b"1 ",
            b"x",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_ids(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let many = encode_ids(&vec![1; MAX_IDS + 1]);
        assert_eq!(parse_ids(many.as_bytes()), None);
    }

    #[test]
    fn task_items_are_checked() {
        let mut p = Vec::new();
        encode_inline(&mut p, &5u32, 100).unwrap();
        encode_inline(&mut p, &"abcdef", 100).unwrap();
        assert!(check_items(&p, 2, 100).is_ok());
        assert!(check_items(&p, 3, 100).is_err());
        assert!(check_items(&p, 1, 100).is_err());
        assert!(check_items(&p, 2, 3).is_err());
        assert!(check_items(&p[..p.len() - 1], 2, 100).is_err());
        assert!(decode::<TaskHead>(&[0xff; 3], "task head").is_err());
    }
}
