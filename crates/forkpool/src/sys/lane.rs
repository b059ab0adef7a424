//! Lanes: memfds a process writes through its own mapping and lends to
//! another process again and again (large arguments and results; the pool
//! of them is `shm/lanes.rs`).
//!
//! A fresh memfd costs its pages: on this kind of machine a page touched for
//! the first time costs microseconds (allocation, zeroing, accounting), so a
//! 256 MiB transfer through a new memfd pays ~65,000 of them before a byte
//! is read. A lane keeps its pages from one transfer to the next.
//!
//! What makes lending it sound (see `memfd.rs` for the receiver's side):
//! before its first loan a lane is sealed against resizing and against any
//! *new* writable mapping or `write(2)` (`F_SEAL_FUTURE_WRITE`), so the
//! creator's own mapping, made before the seal, is the only way left to
//! change it. While it is lent the creator turns that mapping read-only,
//! so a stray write faults instead of changing bytes a receiver is reading;
//! it makes it writable again only once the receiver said it is done (the
//! caller's contract, see `shm/lanes.rs`).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use memmap2::{Advice, MmapMut, MmapOptions, RemapOptions};
use rustix::fs::SealFlags;
use rustix::mm::MprotectFlags;

use super::memfd;

/// Lanes are whole pages.
const PAGE: usize = 4096;

/// A memfd this process writes through its own mapping and lends; see the
/// module docs.
#[derive(Debug)]
pub(crate) struct Lane {
    fd: OwnedFd,
    /// The whole file, writable unless `lent`.
    map: MmapMut,
    /// Sealed: its size is final and no new writer can appear.
    sealed: bool,
    /// Lent: the mapping is read-only.
    lent: bool,
}

impl Lane {
    /// A new lane of at least `capacity` bytes, its pages allocated.
    pub(crate) fn create(name: &CStr, capacity: usize) -> io::Result<Lane> {
        let capacity = round_up(capacity.max(1))?;
        let fd = memfd::create(name)?;
        rustix::fs::ftruncate(&fd, capacity as u64)?;
        // SAFETY: the memfd was created by this process just now and has not
        // been shared (nor sealed): no one else can resize or map it. The
        // mapping is `capacity` bytes, the file's size.
        let map = unsafe { MmapOptions::new().len(capacity).map_mut(&fd)? };
        let lane = Lane {
            fd,
            map,
            sealed: false,
            lent: false,
        };
        lane.populate(0)?;
        Ok(lane)
    }

    /// Allocates and maps the pages from byte `from` on, in one call
    /// (faults taken by the kernel for the whole range cost far less than
    /// one trap per page on first write), so that a shortage of memory is
    /// this error rather than a `SIGBUS` on a later write.
    fn populate(&self, from: usize) -> io::Result<()> {
        if from >= self.map.len() {
            return Ok(());
        }
        match self
            .map
            .advise_range(Advice::PopulateWrite, from, self.map.len() - from)
        {
            Ok(()) => Ok(()),
            // Kernels before 5.14: allocate, and let the pages be mapped as
            // they are written.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                memfd::allocate(self.fd.as_fd(), from as u64, self.map.len() as u64)
            }
            Err(e) => Err(e),
        }
    }

    /// Its size in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.map.len()
    }

    /// Grows a lane that was never lent to at least `capacity` bytes,
    /// keeping its contents. Returns `false` for a lane already sealed at
    /// its size (the caller moves to a larger lane instead).
    pub(crate) fn grow(&mut self, capacity: usize) -> io::Result<bool> {
        if self.sealed || self.lent {
            return Ok(false);
        }
        let capacity = round_up(capacity)?;
        if capacity <= self.map.len() {
            return Ok(true);
        }
        let old = self.map.len();
        rustix::fs::ftruncate(&self.fd, capacity as u64)?;
        // SAFETY: the memfd is this process's alone (never lent, so never
        // shared) and now `capacity` bytes long, so the larger mapping does
        // not extend past its end. `&mut self` guarantees no reference into
        // the old mapping is alive while it moves.
        unsafe { self.map.remap(capacity, RemapOptions::new().may_move(true))? };
        self.populate(old)?;
        Ok(true)
    }

    /// Copies `bytes` in at byte `at`.
    pub(crate) fn write_at(&mut self, at: usize, bytes: &[u8]) -> io::Result<()> {
        if self.lent {
            return Err(io::Error::other("the lane is lent"));
        }
        let end = at.checked_add(bytes.len()).filter(|&end| end <= self.map.len());
        match end {
            Some(end) => {
                crate::shm::copy::copy(&mut self.map[at..end], bytes, false);
                Ok(())
            }
            None => Err(io::Error::other("past the end of the lane")),
        }
    }

    /// Its bytes (to move a prefix to a larger lane).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Lends it: seals it the first time, and turns this process's mapping
    /// read-only until [`reclaim`](Lane::reclaim).
    pub(crate) fn lend(&mut self) -> io::Result<()> {
        if !self.sealed {
            rustix::fs::fcntl_add_seals(
                &self.fd,
                SealFlags::SHRINK | SealFlags::GROW | SealFlags::FUTURE_WRITE | SealFlags::SEAL,
            )?;
            self.sealed = true;
        }
        if !self.lent {
            self.protect(MprotectFlags::READ)?;
            self.lent = true;
        }
        Ok(())
    }

    /// Takes it back once every receiver is done with it: writable again.
    pub(crate) fn reclaim(&mut self) -> io::Result<()> {
        if self.lent {
            self.protect(MprotectFlags::READ | MprotectFlags::WRITE)?;
            self.lent = false;
        }
        Ok(())
    }

    fn protect(&mut self, flags: MprotectFlags) -> io::Result<()> {
        let len = self.map.len();
        // SAFETY: `map` is a live mapping of exactly `len` bytes owned by
        // this lane; `&mut self` means no reference into it is alive, and
        // it is only written through `write_at`, which refuses while the
        // mapping is read-only. Making a mapping made before the seal
        // writable again is what `F_SEAL_FUTURE_WRITE` allows.
        unsafe { rustix::mm::mprotect(self.map.as_mut_ptr().cast(), len, flags)? };
        Ok(())
    }
}

impl AsFd for Lane {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn round_up(len: usize) -> io::Result<usize> {
    len.checked_next_multiple_of(PAGE)
        .ok_or_else(|| io::Error::other("lane too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::memfd::Sealed;

    #[test]
    fn a_lane_grows_until_lent_and_can_be_written_again_once_reclaimed() {
        let mut lane = Lane::create(c"forkpool-test", 10).unwrap();
        assert_eq!(lane.capacity(), PAGE);
        lane.write_at(0, b"hello").unwrap();
        assert!(lane.grow(3 * PAGE).unwrap());
        assert_eq!((lane.capacity(), &lane.bytes()[..5]), (3 * PAGE, &b"hello"[..]));
        assert!(lane.write_at(3 * PAGE - 1, b"xy").is_err(), "past the end");
        lane.lend().unwrap();
        assert!(lane.write_at(0, b"j").is_err(), "lent");
        assert!(!lane.grow(4 * PAGE).unwrap(), "sealed at its size");
        // A receiver sees a sealed memfd it may map, and nobody else can
        // write it or map it writable.
        let fd = rustix::io::dup(lane.as_fd()).unwrap();
        let mut file = std::fs::File::from(rustix::io::dup(&fd).unwrap());
        assert!(std::io::Write::write_all(&mut file, b"x").is_err());
        // SAFETY: a test of exactly what the seal forbids; the mapping is
        // never used.
        assert!(unsafe { MmapOptions::new().len(PAGE).map_mut(&fd) }.is_err());
        let sealed = Sealed::check(fd, (3 * PAGE) as u64).unwrap();
        assert_eq!(&sealed.map(false).unwrap().unwrap()[..5], b"hello");
        lane.reclaim().unwrap();
        lane.write_at(0, b"J").unwrap();
        assert_eq!(&sealed.map(false).unwrap().unwrap()[..5], b"Jello");
    }
}
