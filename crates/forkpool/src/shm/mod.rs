//! Shared memory: buffers that cross into workers without being copied.
//!
//! - [`SharedBytes`] / [`SharedBytesMut`] (`bytes.rs`): bytes in a sealed
//!   memfd; the mutable one is what you fill, the frozen one what you send.
//! - [`SharedSlice`] / [`SharedSliceMut`] (`slice.rs`): the same, typed as
//!   a slice of plain-old-data values.
//! - `wire.rs`: how they serialize: inside a task's frame, as a reference
//!   to a descriptor passed beside the frame; anywhere else, as bytes.
//! - `spill.rs`: large ordinary arguments and results, encoded straight
//!   into a memfd that travels beside the frame instead of through the
//!   socket...
//! - `lanes.rs`: ...a lane, reused once its receiver is done with it.
//!
//! `README.md` beside this file describes the layout and lifetime rules.

mod bytes;
pub(crate) mod copy;
pub(crate) mod lanes;
mod slice;
pub(crate) mod spill;
pub(crate) mod wire;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use bytes::{SharedBytes, SharedBytesMut};
pub use slice::{SharedSlice, SharedSliceMut};

use crate::sys::memfd::{Refusal, Sealed, View};

/// The name shared buffers' memfds carry in `/proc/PID/fd` (not a path).
const SHARED_NAME: &std::ffi::CStr = c"forkpool-shared";

/// One sealed memfd, and this process's read-only view of it. Dropping the
/// last reference unmaps it and closes the descriptor; the kernel frees the
/// memory once no process holds either.
#[derive(Debug)]
pub(crate) struct Segment {
    sealed: Sealed,
    view: View,
}

impl Segment {
    fn new(sealed: Sealed, view: View) -> Segment {
        Segment { sealed, view }
    }

    /// Takes a descriptor received beside a frame, announced as `len`
    /// bytes: checks that it is a sealed memfd of that size, and maps it.
    pub(crate) fn receive(fd: OwnedFd, len: u64) -> Result<Segment, Refusal> {
        let sealed = Sealed::check(fd, len)?;
        let view = sealed.view(false).map_err(|e| Refusal::Io(e.to_string()))?;
        Ok(Segment { sealed, view })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.view.bytes()
    }

    /// A segment around any descriptor, announced as `len` bytes and never
    /// mapped here: what a confused or hostile sender could send.
    #[cfg(test)]
    pub(crate) fn bogus(fd: OwnedFd, len: usize) -> Segment {
        Segment {
            sealed: Sealed::unchecked(fd, len),
            view: View::Empty,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sealed.len()
    }
}

impl AsFd for Segment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sealed.fd()
    }
}

#[cfg(test)]
mod tests;
