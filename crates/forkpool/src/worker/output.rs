//! The worker's side of task output (`TaskOutput::Tagged` and `Capture`).
//!
//! The worker's standard output and error are pipes whose only reader is
//! the supervisor. What a task writes there is a plain byte stream, with no
//! room for markers; what says whose bytes are whose is a *position*: how
//! many bytes had been written to each pipe when an item ended. The worker
//! measures it at the end of every item (after flushing Rust's and C's
//! buffers) as "bytes the supervisor has read" (its count, on the status
//! page) plus "bytes still in the pipe" (`FIONREAD`), and sends it in an
//! `OUTPUT_MARK` frame ahead of the results. An item whose end moved the
//! position has its results sent at once, before the next item starts, so
//! a frame's mark always ends the output of the frame's last item, and of
//! no other. See `supervisor/output/README.md` for the supervisor's side.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use crate::ipc::protocol;
use crate::ipc::status::StatusPage;
use crate::sys;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Marks {
    /// The worker's own handles on the pipes' write ends (a task may
    /// redirect or close descriptors 1 and 2; these stay).
    pipes: [OwnedFd; 2],
    /// The position in the last mark sent.
    sent: [u64; 2],
    /// The position when the last item ended.
    measured: [u64; 2],
    /// Where in the output buffer the mark for the frame being built is.
    reserved: Option<usize>,
}

impl Marks {
    /// For a worker forked by the zygote: the pipes become descriptors 1
    /// and 2.
    pub(crate) fn install(pipes: [OwnedFd; 2]) -> std::io::Result<Marks> {
        rustix::stdio::dup2_stdout(&pipes[0])?;
        rustix::stdio::dup2_stderr(&pipes[1])?;
        Ok(Marks::new(pipes))
    }

    /// For a worker started by `exec`, whose descriptors 1 and 2 are the
    /// pipes already.
    pub(crate) fn from_standard_fds() -> std::io::Result<Marks> {
        let out = rustix::io::fcntl_dupfd_cloexec(std::io::stdout().as_fd(), 3)?;
        let err = rustix::io::fcntl_dupfd_cloexec(std::io::stderr().as_fd(), 3)?;
        Ok(Marks::new([out, err]))
    }

    fn new(pipes: [OwnedFd; 2]) -> Marks {
        sys::stdio::line_buffer_c_stdout();
        Marks {
            pipes,
            sent: [0; 2],
            measured: [0; 2],
            reserved: None,
        }
    }

    /// Call when an item has ended: flushes what the task left in Rust's
    /// and C's buffers, and measures the position. Returns true when the
    /// item (or a process it started) wrote something: its results must
    /// then leave before the next item starts.
    pub(crate) fn item_ended(&mut self, status: &StatusPage) -> bool {
        let _ = std::io::stdout().flush();
        sys::stdio::flush_c_stdout();
        let [out, err] = &self.pipes;
        self.measured = status.output_position(|| {
            [
                rustix::io::ioctl_fionread(out).unwrap_or(0),
                rustix::io::ioctl_fionread(err).unwrap_or(0),
            ]
        });
        self.measured != self.sent
    }

    /// Reserves room for a mark at the end of `out`, ahead of the results
    /// frame about to be built there.
    pub(crate) fn reserve(&mut self, out: &mut Vec<u8>) {
        self.reserved = Some(protocol::write_output_mark(out, self.sent));
    }

    /// Fills the reserved mark with the position the last item ended at,
    /// once the frame after it is complete.
    pub(crate) fn seal(&mut self, out: &mut [u8], status: &StatusPage) {
        if let Some(at) = self.reserved.take()
            && at + 16 <= out.len()
        {
            protocol::patch_output_mark(out, at, self.measured);
            self.advance(status);
        }
    }

    /// Appends a complete mark for what has been written so far (before
    /// `READY`: what `preload` and `worker_init` wrote).
    pub(crate) fn mark_now(&mut self, out: &mut Vec<u8>, status: &StatusPage) {
        self.item_ended(status);
        protocol::write_output_mark(out, self.measured);
        self.advance(status);
    }

    fn advance(&mut self, status: &StatusPage) {
        if self.measured != self.sent {
            status.count_output_mark();
            self.sent = self.measured;
        }
    }
}
