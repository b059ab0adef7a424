//! The zygote's control channel: one `SOCK_SEQPACKET` socket between the
//! supervisor and the zygote.
//!
//! Each datagram is one `postcard`-encoded message, so message boundaries
//! need no framing, and descriptors (`SCM_RIGHTS`) travel attached to the
//! exact message they belong to.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::sys::exit::ExitReason;
use crate::worker::config::ZygoteConfig;

/// The largest control message either side accepts.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// The most descriptors one message carries (a spawn request: socket,
/// status page, stdout and stderr pipes).
const MAX_FDS: usize = 4;

/// Supervisor → zygote. (There is no "exit" message: closing the socket is
/// the request, which cannot block and also covers the supervisor's
/// death.)
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToZygote {
    /// First message: what to preload and how workers are set up.
    Configure(ZygoteConfig),
    /// Fork worker `worker`; carries its socket and its status page, then
    /// its stdout and stderr pipes when task output is not inherited.
    Spawn { worker: u64 },
    /// Kill worker `worker` and its process group.
    Kill { worker: u64 },
    /// Send `SIGTERM` to worker `worker`'s process group (a `Kill`
    /// follows after the pool's `timeout_grace`).
    Terminate { worker: u64 },
}

/// Zygote → supervisor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromZygote {
    /// Sent before anything else, so a supervisor can tell a zygote that
    /// started from a binary that never diverted into one.
    Hello { pid: i32 },
    /// `preload` has run; spawn requests may follow.
    Ready,
    /// `preload` failed; the zygote exits after sending this.
    PreloadFailed { message: String },
    /// Worker `worker` is running as `pid`.
    Spawned { worker: u64, pid: i32 },
    /// Worker `worker` could not be forked.
    SpawnFailed { worker: u64, message: String },
    /// Worker `worker` has ended and been reaped.
    Exited { worker: u64, reason: ExitReason },
}

/// Encodes a message for [`send_bytes`].
pub(crate) fn encode<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    let bytes = postcard::to_allocvec(message).map_err(io::Error::other)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(io::Error::other("control message too large"));
    }
    Ok(bytes)
}

/// Sends `message` with `fds` attached, blocking until it is sent.
pub(crate) fn send<T: Serialize>(socket: impl AsFd, message: &T, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    send_bytes(socket, &encode(message)?, fds, false)
}

/// Sends an encoded message with `fds` attached. With `nonblocking`, a full
/// socket gives a `WouldBlock` error and nothing is sent.
pub(crate) fn send_bytes(socket: impl AsFd, bytes: &[u8], fds: &[BorrowedFd<'_>], nonblocking: bool) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::other("too many descriptors for one control message"));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("descriptors do not fit the control buffer"));
    }
    let flags = if nonblocking {
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT
    } else {
        SendFlags::NOSIGNAL
    };
    loop {
        match rustix::net::sendmsg(&socket, &[IoSlice::new(bytes)], &mut control, flags) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What one `recv` produced.
#[derive(Debug)]
pub(crate) enum Received<T> {
    /// A message, with the descriptors that came with it.
    Message(T, Vec<OwnedFd>),
    /// The peer closed its end.
    Closed,
}

/// Receives one message. Received descriptors are `CLOEXEC`.
///
/// With `nonblocking`, an empty socket gives a `WouldBlock` error. A message
/// that does not decode is an `InvalidData` error (its descriptors are
/// closed).
pub(crate) fn recv<T: DeserializeOwned>(socket: impl AsFd, nonblocking: bool) -> io::Result<Received<T>> {
    let flags = if nonblocking {
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT
    } else {
        RecvFlags::CMSG_CLOEXEC
    };
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(&socket, &mut [IoSliceMut::new(&mut buf)], &mut control, flags) {
            Ok(msg) => break msg,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(Received::Closed);
    }
    if msg.flags.intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "control message truncated"));
    }
    let message = postcard::from_bytes(&buf[..msg.bytes])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad control message: {e}")))?;
    Ok(Received::Message(message, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsRawFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None).unwrap()
    }

    #[test]
    fn messages_carry_descriptors() {
        let (a, b) = pair();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send(&a, &ToZygote::Spawn { worker: 7 }, &[r.as_fd(), w.as_fd()]).unwrap();
        match recv::<ToZygote>(&b, false).unwrap() {
            Received::Message(ToZygote::Spawn { worker: 7 }, fds) => {
                assert_eq!(fds.len(), 2);
                assert_ne!(fds[0].as_raw_fd(), r.as_raw_fd());
                // The received write end works.
                rustix::io::write(&fds[1], b"x").unwrap();
                let mut byte = [0u8; 1];
                rustix::io::read(&r, &mut byte).unwrap();
                assert_eq!(&byte, b"x");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_closed_peer_and_garbage_are_reported() {
        let (a, b) = pair();
        rustix::net::send(&a, &[0xff, 0xff, 0xff], SendFlags::empty()).unwrap();
        let err = recv::<ToZygote>(&b, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        drop(a);
        assert!(matches!(recv::<ToZygote>(&b, false).unwrap(), Received::Closed));
    }
}
