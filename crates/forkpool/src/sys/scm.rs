//! Receiving descriptors (`SCM_RIGHTS`), and saying why some did not come.
//!
//! A receiver takes each descriptor a message carries into its own table.
//! When that table is full (`EMFILE`: the process reached its
//! `RLIMIT_NOFILE`), the kernel installs the descriptors that fit, drops
//! the rest, and says so with `MSG_CTRUNC`; the bytes of the message still
//! arrive whole. [`recv_with_fds`] reports that as a [`Shortage`], worked
//! out right away (before anything else in the process can open or close
//! a descriptor), so that the task the descriptors belonged to can fail
//! with the cause and the fix instead of "a descriptor is missing".

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};

/// The most descriptors one `SCM_RIGHTS` message carries (`SCM_MAX_FD`).
pub(crate) const MAX_FDS_PER_MESSAGE: usize = 253;

/// Why the kernel dropped descriptors sent to this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shortage {
    /// The process has as many descriptors open as `RLIMIT_NOFILE` (its
    /// soft limit, `limit`) allows (`EMFILE`).
    OpenFiles { limit: u64 },
    /// The system's table of open files is full (`ENFILE`).
    SystemFiles,
    /// A descriptor could be opened again right after: another thread
    /// closed some meanwhile, or a security module refused the ones
    /// received. `limit` is the open-files limit, for the message.
    Unknown { limit: u64 },
}

impl Shortage {
    /// Works out why descriptors could not be taken just now, by asking
    /// the kernel for one more (a duplicate of `probe`, closed at once).
    pub(crate) fn diagnose(probe: impl AsFd) -> Shortage {
        match rustix::io::fcntl_dupfd_cloexec(probe, 0) {
            Err(Errno::MFILE) => Shortage::OpenFiles {
                limit: open_files_limit(),
            },
            Err(Errno::NFILE) => Shortage::SystemFiles,
            Ok(_) | Err(_) => Shortage::Unknown {
                limit: open_files_limit(),
            },
        }
    }

    /// Classifies an error of a call that makes a descriptor (`memfd_create`,
    /// `pipe`, `pidfd_open`...): `Some` when it is a shortage of descriptors.
    pub(crate) fn of_error(error: &io::Error) -> Option<Shortage> {
        match error.raw_os_error() {
            Some(libc::EMFILE) => Some(Shortage::OpenFiles {
                limit: open_files_limit(),
            }),
            Some(libc::ENFILE) => Some(Shortage::SystemFiles),
            _ => None,
        }
    }
}

/// This process's soft `RLIMIT_NOFILE` (`u64::MAX` when unlimited).
pub(crate) fn open_files_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// What one receive returned.
#[derive(Debug)]
pub(crate) struct Received {
    /// Bytes written to the buffer; 0 at end of stream.
    pub(crate) bytes: usize,
    /// The descriptors that came (close-on-exec), in the order sent.
    pub(crate) fds: Vec<OwnedFd>,
    /// Some descriptors sent with these bytes were dropped by the kernel
    /// (`MSG_CTRUNC`): the ones in `fds` are the first of them.
    pub(crate) lost: Option<Shortage>,
}

/// Receives once from a stream socket into `buf`, with the descriptors of
/// at most one `SCM_RIGHTS` message (the kernel never returns two
/// senders' descriptors in one receive). `WouldBlock` and `Interrupted`
/// are passed through for the caller to handle.
pub(crate) fn recv_with_fds(socket: impl AsFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        &socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    // Diagnosed while the descriptors that did arrive are still held, so
    // that the table is as full as it was when the kernel gave up.
    let lost = msg
        .flags
        .contains(ReturnFlags::CTRUNC)
        .then(|| Shortage::diagnose(&socket));
    Ok(Received {
        bytes: msg.bytes,
        fds,
        lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_soft_one_the_kernel_shows() {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
        let soft = line["Max open files".len()..].split_whitespace().next().unwrap();
        let expected = if soft == "unlimited" {
            u64::MAX
        } else {
            soft.parse().unwrap()
        };
        assert_eq!(open_files_limit(), expected);
    }

    #[test]
    fn a_shortage_is_told_from_other_errors() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(matches!(Shortage::of_error(&emfile), Some(Shortage::OpenFiles { .. })));
        let enfile = io::Error::from_raw_os_error(libc::ENFILE);
        assert_eq!(Shortage::of_error(&enfile), Some(Shortage::SystemFiles));
        assert_eq!(Shortage::of_error(&io::Error::from_raw_os_error(libc::ENOMEM)), None);
    }

    #[test]
    fn with_room_to_spare_the_cause_is_unknown() {
        let (a, _b) = rustix::pipe::pipe().unwrap();
        assert!(matches!(Shortage::diagnose(&a), Shortage::Unknown { .. }));
    }
}
