//! Descriptors registered with the supervisor's poller.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use polling::{Event, PollMode, Poller};

/// A descriptor owned together with its registration in a [`Poller`].
///
/// `Poller::add` is `unsafe` because a descriptor must leave the poller
/// before it is closed. Owning both makes that automatic: `Drop` deletes
/// the registration, and only then does the descriptor close.
#[derive(Debug)]
pub(crate) struct Watched {
    fd: OwnedFd,
    poller: Arc<Poller>,
    key: usize,
    registered: bool,
}

impl Watched {
    /// Registers `fd` (level-triggered) under `key`.
    pub(crate) fn new(
        poller: Arc<Poller>,
        fd: OwnedFd,
        key: usize,
        readable: bool,
        writable: bool,
    ) -> io::Result<Watched> {
        // SAFETY: `fd` moves into the returned `Watched`, whose `Drop`
        // deletes it from the poller before the `OwnedFd` field is dropped
        // and closes it; if `add` fails nothing was registered.
        unsafe { poller.add_with_mode(&fd, Event::new(key, readable, writable), PollMode::Level)? };
        Ok(Watched {
            fd,
            poller,
            key,
            registered: true,
        })
    }

    /// Changes which readiness is reported.
    pub(crate) fn set_interest(&self, readable: bool, writable: bool) -> io::Result<()> {
        if !self.registered {
            return Ok(());
        }
        self.poller
            .modify_with_mode(&self.fd, Event::new(self.key, readable, writable), PollMode::Level)
    }

    /// Stops watching the descriptor for good, but keeps it open. Needed at
    /// end of stream: epoll reports a hung-up descriptor whatever the
    /// interest, so one left registered would wake the loop forever.
    pub(crate) fn pause(&mut self) {
        if self.registered {
            let _ = self.poller.delete(&self.fd);
            self.registered = false;
        }
    }

    /// Watches the descriptor again after [`pause`](Self::pause), under the
    /// same key.
    pub(crate) fn resume(&mut self, readable: bool, writable: bool) -> io::Result<()> {
        if !self.registered {
            // SAFETY: as in `new`: the descriptor is owned by `self`, whose
            // `Drop` deletes the registration before the descriptor closes.
            unsafe {
                self.poller
                    .add_with_mode(&self.fd, Event::new(self.key, readable, writable), PollMode::Level)?
            };
            self.registered = true;
        }
        Ok(())
    }

    /// The descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.pause();
    }
}

/// Waits until `fd` is readable (or hung up), or `wait` has passed:
/// whether it became readable. An interrupted or failed wait counts as
/// readable, so that the caller goes on to read and sees what happened.
pub(crate) fn readable_within(fd: BorrowedFd<'_>, wait: std::time::Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    !matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(0))
}
