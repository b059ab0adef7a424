//! Descriptors the kernel dropped on their way to this process, and the
//! message of the item they belonged to.
//!
//! A process out of descriptors (at its `RLIMIT_NOFILE`, typically a
//! consumer that holds thousands of `SharedBytes`) still receives the
//! bytes of every frame, but the kernel drops the descriptors that do not
//! fit (`MSG_CTRUNC`, see `sys::scm`). The frame reader keeps each
//! descriptor in its place (`FrameFds`), so exactly the items that lost
//! one fail, each with a [`Lost`]: a `TaskError::Codec` that says how many
//! of its buffers did not come, why, and what to do about it. The other
//! items of the frame, the stream the item belonged to, the worker and the
//! pool go on.

use std::io;
use std::os::fd::OwnedFd;

use super::protocol::Item;
use crate::shm::lanes;
use crate::sys::scm::Shortage;

/// An item's descriptors that did not all arrive: the ones that did are
/// held until the message is made, then closed.
#[derive(Debug)]
pub(crate) struct Lost {
    /// The item's descriptors, `None` where one was dropped.
    fds: Vec<Option<OwnedFd>>,
    shortage: Shortage,
}

/// Which process received the item (or failed to make a descriptor):
/// the advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    /// The process that submitted the task (a result, a stream item).
    Caller,
    /// A worker (a task's argument, a stream's start).
    Worker,
    /// A cluster node, reading its workers' results to pass them on.
    #[cfg_attr(
        not(feature = "cluster"),
        expect(dead_code, reason = "only a cluster node reads for others")
    )]
    Node,
    /// Whichever process made a shared buffer.
    Process,
}

impl Lost {
    /// The loss of the empty places of `fds`, for `shortage`.
    pub(crate) fn new(fds: Vec<Option<OwnedFd>>, shortage: Shortage) -> Lost {
        Lost { fds, shortage }
    }

    /// Why `item` cannot be decoded, said by `receiver`. Its descriptors
    /// were taken after `extra` descriptors of the frame's own (a
    /// stream's ring and credit); then come its out-of-line body's, then
    /// its shared buffers'.
    ///
    /// The descriptors that did arrive are closed; an out-of-line body's
    /// lane is handed back to its creator first, as for an item that
    /// decoded (see `shm/README.md`, "Lanes").
    pub(crate) fn message(self, item: &Item<'_>, extra: usize, receiver: Receiver) -> String {
        if let Some(body) = item.out_of_line()
            && body.board
            && let Some(Some(board)) = self.fds.get(extra + 1)
        {
            lanes::say_done(board);
        }
        let body = extra + item.out_of_line().map_or(0, |b| b.fds());
        let missing: Vec<usize> = (self.fds.iter().enumerate())
            .filter_map(|(i, fd)| fd.is_none().then_some(i))
            .collect();
        let mut what = Vec::new();
        if missing.iter().any(|&i| i < extra) {
            what.push("the stream's ring".to_owned());
        }
        if missing.iter().any(|&i| (extra..body).contains(&i)) {
            what.push("the memfd of its large encoding".to_owned());
        }
        match missing.iter().filter(|&&i| i >= body).count() {
            0 => {}
            1 => what.push("1 shared buffer".to_owned()),
            n => what.push(format!("{n} shared buffers")),
        }
        let what = what.join(" and ");
        format!("{what} could not be received: {}", cause(self.shortage, receiver))
    }
}

/// Why a process could not take or make a descriptor, and what to do
/// about it.
pub(crate) fn cause(shortage: Shortage, receiver: Receiver) -> String {
    let who = match receiver {
        Receiver::Caller => "this process (the caller)".to_owned(),
        Receiver::Worker => format!("the worker (pid {})", std::process::id()),
        Receiver::Node => format!("this node (pid {})", std::process::id()),
        Receiver::Process => format!("this process (pid {})", std::process::id()),
    };
    let advice = match receiver {
        Receiver::Caller | Receiver::Process => {
            "each live SharedBytes or SharedSlice holds one: drop those you no longer need, or raise the limit"
        }
        Receiver::Node => "each large result takes one for a moment: raise the node's limit",
        Receiver::Worker => {
            "each shared buffer of a task's argument takes one in the worker: pass fewer in one task, \
             or raise the limit (the pool's Rlimit::OpenFiles, or the caller's own, which workers inherit)"
        }
    };
    match shortage {
        Shortage::OpenFiles { limit } => format!(
            "{who} has reached its open-files limit (RLIMIT_NOFILE {}; ulimit -n); {advice}",
            limit_text(limit)
        ),
        Shortage::SystemFiles => {
            format!("the system's table of open files is full (ENFILE; sysctl fs.file-max), seen by {who}")
        }
        Shortage::Unknown { limit } => format!(
            "the kernel dropped their descriptors (MSG_CTRUNC) in {who}, most likely at its open-files limit \
             (RLIMIT_NOFILE {}; ulimit -n) for a moment, or refused by a security module; {advice}",
            limit_text(limit)
        ),
    }
}

/// `error`, of a call that makes a descriptor (`memfd_create`, `pipe`,
/// `socketpair`...), with the cause and the fix when it is a shortage of
/// descriptors (`EMFILE`, `ENFILE`).
pub(crate) fn explain(error: &io::Error, receiver: Receiver) -> String {
    match Shortage::of_error(error) {
        Some(shortage) => format!("{error}: {}", cause(shortage, receiver)),
        None => error.to_string(),
    }
}

fn limit_text(limit: u64) -> String {
    if limit == u64::MAX {
        "unlimited".to_owned()
    } else {
        limit.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::OutOfLine;

    fn lost(places: usize, missing: &[usize], shortage: Shortage) -> Lost {
        let fds: Vec<Option<OwnedFd>> = (0..places)
            .map(|i| {
                if missing.contains(&i) {
                    None
                } else {
                    Some(rustix::io::dup(std::io::stdin()).unwrap())
                }
            })
            .collect();
        Lost::new(fds, shortage)
    }

    #[test]
    fn the_message_counts_the_buffers_and_names_the_limit_and_the_fix() {
        let item = Item::inline(b"", 5);
        let m = lost(5, &[2, 3, 4], Shortage::OpenFiles { limit: 20_000 }).message(&item, 0, Receiver::Caller);
        assert_eq!(
            m,
            "3 shared buffers could not be received: this process (the caller) has reached its open-files \
             limit (RLIMIT_NOFILE 20000; ulimit -n); each live SharedBytes or SharedSlice holds one: drop \
             those you no longer need, or raise the limit"
        );
    }

    #[test]
    fn a_worker_names_itself_and_the_pools_limit() {
        let item = Item::inline(b"", 1);
        let m = lost(1, &[0], Shortage::OpenFiles { limit: 64 }).message(&item, 0, Receiver::Worker);
        assert!(
            m.starts_with("1 shared buffer could not be received: the worker (pid "),
            "{m}"
        );
        assert!(m.contains("RLIMIT_NOFILE 64") && m.contains("Rlimit::OpenFiles"), "{m}");
    }

    #[test]
    fn a_body_and_a_ring_are_named_as_such() {
        let body = OutOfLine {
            len: 1 << 20,
            board: true,
        };
        let item = Item::out_of_line_body(body, 1);
        let m = lost(5, &[0, 2, 4], Shortage::Unknown { limit: u64::MAX }).message(&item, 2, Receiver::Worker);
        assert!(
            m.starts_with(
                "the stream's ring and the memfd of its large encoding and 1 shared buffer could not be received"
            ),
            "{m}"
        );
        assert!(m.contains("RLIMIT_NOFILE unlimited"), "{m}");
        let m = lost(1, &[0], Shortage::SystemFiles).message(&Item::inline(b"", 1), 0, Receiver::Caller);
        assert!(m.contains("ENFILE"), "{m}");
    }
}
