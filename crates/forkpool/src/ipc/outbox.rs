//! Frames waiting to be sent, with the descriptors that go beside them.
//!
//! Any frame may carry descriptors (a task's argument or result, and later
//! a stream item, holding `SharedBytes`; a large frame's out-of-line body).
//! They travel as `SCM_RIGHTS` control messages attached to bytes of that
//! same frame, so the reader can tell whose they are: the kernel hands a
//! receiver the descriptors of a send together with the last bytes one
//! receive returns, and never returns bytes past them in the same receive,
//! so the descriptors belong to the frame holding the last byte received
//! (see `FrameReader::read_from`).
//!
//! One message carries at most [`MAX_FDS_PER_MESSAGE`] descriptors
//! (`SCM_MAX_FD`). A frame with more sends them in several messages: one
//! byte of the frame with each full batch, the rest of the frame with the
//! last. A frame with descriptors is at least as many bytes long as it has
//! batches (its header alone is 9 bytes, and each descriptor is named in
//! its body), so there are always enough bytes to carry them.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

pub(crate) use crate::sys::scm::MAX_FDS_PER_MESSAGE;

/// Something whose descriptor is sent beside a frame, kept open (and its
/// memory alive) until the frame has gone.
#[derive(Clone)]
pub(crate) struct Attachment(Arc<dyn AsFd + Send + Sync>);

impl Attachment {
    pub(crate) fn new<T: AsFd + Send + Sync + 'static>(shared: Arc<T>) -> Attachment {
        Attachment(shared)
    }
}

impl AsFd for Attachment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attachment({:?})", self.0.as_fd())
    }
}

/// Descriptors of the frame at `at..end` of the buffer.
struct Attached {
    at: usize,
    end: usize,
    fds: Vec<Attachment>,
    /// How many of them have been sent.
    sent: usize,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("at", &self.at)
            .field("end", &self.end)
            .field("fds", &self.fds.len())
            .field("sent", &self.sent)
            .finish()
    }
}

/// Bytes of whole frames not yet written, and their descriptors.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// The first byte not yet written.
    start: usize,
    attached: VecDeque<Attached>,
}

impl Outbox {
    pub(crate) fn with_capacity(bytes: usize) -> Outbox {
        Outbox {
            buf: Vec::with_capacity(bytes),
            start: 0,
            attached: VecDeque::new(),
        }
    }

    /// The buffer frames are appended to.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Attaches `fds` to the frame that starts at `at` and ends at the end
    /// of the buffer (call right after finishing it).
    pub(crate) fn attach(&mut self, at: usize, fds: Vec<Attachment>) {
        if fds.is_empty() {
            return;
        }
        debug_assert!(at >= self.start && at < self.buf.len());
        self.attached.push_back(Attached {
            at,
            end: self.buf.len(),
            fds,
            sent: 0,
        });
    }

    /// Removes everything from byte `at` on (frames not yet sent, that the
    /// caller decided against).
    pub(crate) fn truncate(&mut self, at: usize) {
        debug_assert!(at >= self.start);
        self.buf.truncate(at);
        while self.attached.back().is_some_and(|a| a.at >= at) {
            self.attached.pop_back();
        }
    }

    /// Bytes not yet written.
    pub(crate) fn unsent(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Writes as much as the socket takes. With a non-blocking socket a
    /// full buffer gives `Err(AGAIN)` (what was written stays written);
    /// other errors mean the peer is gone. Once everything is written the
    /// buffer is emptied (and shrunk if a large frame had grown it).
    pub(crate) fn flush(&mut self, socket: BorrowedFd<'_>) -> Result<(), Errno> {
        while self.start < self.buf.len() {
            // The first frame whose descriptors have not all gone.
            let pending = self.attached.iter().position(|a| a.sent < a.fds.len());
            let n = match pending {
                Some(i) if self.attached[i].at <= self.start => {
                    let a = &mut self.attached[i];
                    let batch = (a.fds.len() - a.sent).min(MAX_FDS_PER_MESSAGE);
                    let last = a.sent + batch == a.fds.len();
                    // Only bytes of this frame go with its descriptors; a
                    // batch before the last takes one byte, leaving bytes
                    // for the batches after it.
                    let end = if last { a.end } else { self.start + 1 };
                    let fds: Vec<BorrowedFd<'_>> = a.fds[a.sent..a.sent + batch].iter().map(|f| f.as_fd()).collect();
                    let n = send_with_fds(socket, &self.buf[self.start..end], &fds)?;
                    a.sent += batch;
                    n
                }
                // Plain bytes, up to that frame.
                Some(i) => send_plain(socket, &self.buf[self.start..self.attached[i].at])?,
                None => send_plain(socket, &self.buf[self.start..])?,
            };
            self.start += n;
            while self
                .attached
                .front()
                .is_some_and(|a| a.sent == a.fds.len() && a.end <= self.start)
            {
                self.attached.pop_front();
            }
        }
        self.buf.clear();
        self.start = 0;
        self.attached.clear();
        if self.buf.capacity() > 1 << 20 {
            // Do not keep a large frame's buffer for the process's life.
            self.buf.shrink_to(64 << 10);
        }
        Ok(())
    }
}

fn send_plain(socket: BorrowedFd<'_>, bytes: &[u8]) -> Result<usize, Errno> {
    loop {
        match rustix::net::send(socket, bytes, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}

/// Sends `bytes` (at least one) with `fds` attached to the first of them.
fn send_with_fds(socket: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize, Errno> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::NOBUFS);
    }
    loop {
        match rustix::net::sendmsg(socket, &[IoSlice::new(bytes)], &mut control, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::frame::{self, FrameReader};
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    use std::os::fd::OwnedFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap()
    }

    /// A frame of kind 1 with `body` and `n` pipe read ends attached; the
    /// write ends are returned so the test can tell which is which.
    fn frame_with_pipes(out: &mut Outbox, body: &[u8], n: usize) -> Vec<OwnedFd> {
        let mut writers = Vec::new();
        let mut fds: Vec<Attachment> = Vec::new();
        for _ in 0..n {
            let (r, w) = rustix::pipe::pipe().unwrap();
            fds.push(Attachment::new(Arc::new(r)));
            writers.push(w);
        }
        let at = frame::begin_frame_with_fds(out.buf(), 1, n).unwrap();
        out.buf().extend_from_slice(body);
        frame::end_frame(out.buf(), at).unwrap();
        out.attach(at, fds);
        writers
    }

    #[test]
    fn descriptors_arrive_with_their_own_frame_even_many_and_interleaved() {
        let (a, b) = pair();
        // Thread the reading so that a full socket cannot stall the test.
        let reader = std::thread::spawn(move || {
            let mut reader = FrameReader::new(1 << 20);
            let mut seen = Vec::new();
            while seen.len() < 4 {
                match reader.read_from(&b) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
                while let Some(mut frame) = reader.next_frame().unwrap() {
                    let n = frame.fds.len();
                    let fds = frame.fds.take(n).unwrap();
                    seen.push((
                        frame.body.to_vec(),
                        fds.into_iter().map(Option::unwrap).collect::<Vec<_>>(),
                    ));
                }
            }
            seen
        });
        let mut out = Outbox::default();
        let w1 = frame_with_pipes(&mut out, b"first", 2);
        let at = frame::begin_frame(out.buf(), 2);
        out.buf().extend_from_slice(&[7; 100_000]);
        frame::end_frame(out.buf(), at).unwrap();
        let w3 = frame_with_pipes(&mut out, &[1; 700], 600);
        let w4 = frame_with_pipes(&mut out, b"", 1);
        out.flush(a.as_fd()).unwrap();
        assert_eq!(out.unsent(), 0);
        let seen = reader.join().unwrap();
        assert_eq!(seen.len(), 4);
        for (frame, (body_len, writers)) in seen.iter().zip([(5, &w1), (100_000, &vec![]), (700, &w3), (0, &w4)]) {
            assert_eq!(frame.0.len(), body_len);
            assert_eq!(frame.1.len(), writers.len());
            // Each received read end is the one sent for it, in order.
            for (r, w) in frame.1.iter().zip(writers.iter()) {
                rustix::io::write(w, b"z").unwrap();
                let mut byte = [0u8];
                assert_eq!(rustix::io::read(r, &mut byte).unwrap(), 1);
            }
        }
    }

    #[test]
    fn a_full_nonblocking_socket_resumes_where_it_stopped() {
        let (a, b) = pair();
        rustix::io::ioctl_fionbio(&a, true).unwrap();
        let mut out = Outbox::default();
        // One pipe, sent 300 times a frame: the same descriptor may be
        // attached several times, and arrives as that many.
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let r = Attachment::new(Arc::new(r));
        for i in 0..12 {
            let at = frame::begin_frame_with_fds(out.buf(), 1, 300).unwrap();
            out.buf().extend_from_slice(&vec![i as u8; 50_000]);
            frame::end_frame(out.buf(), at).unwrap();
            out.attach(at, vec![r.clone(); 300]);
        }
        let mut reader = FrameReader::new(1 << 20);
        let mut frames = 0;
        rustix::io::ioctl_fionbio(&b, true).unwrap();
        loop {
            let flushed = out.flush(a.as_fd());
            match reader.read_from(&b) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            while let Some(mut frame) = reader.next_frame().unwrap() {
                assert_eq!(frame.body, &vec![frames as u8; 50_000][..]);
                let fds = frame.fds.take(300).unwrap();
                assert!(fds.iter().all(Option::is_some), "frame {frames} lost descriptors");
                frames += 1;
            }
            if flushed.is_ok() && frames == 12 {
                break;
            }
            assert!(matches!(flushed, Ok(()) | Err(Errno::AGAIN)));
        }
    }
}
