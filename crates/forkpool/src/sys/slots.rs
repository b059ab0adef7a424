//! A table of atomic `i32` slots shared between processes: the command
//! supervisor writes job pids into it (each job writes its own, before
//! `exec`), and the guardian reads it. In a sealed `memfd` for a guardian
//! that is a program of its own; in our own memory for one that shares it.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicI32;

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{MemfdFlags, SealFlags};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct SharedSlots {
    map: MmapRaw,
    len: usize,
}

impl SharedSlots {
    /// Creates a zeroed table of `len` slots; the descriptor goes to the
    /// other process.
    pub(crate) fn create(name: &str, len: usize) -> io::Result<(SharedSlots, OwnedFd)> {
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, (len * 4) as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let slots = Self::map(&fd, len)?;
        Ok((slots, fd))
    }

    /// A zeroed table of `len` slots in our own anonymous memory, for a
    /// process that shares our memory (the `CLONE_VM` guardian): no
    /// `memfd`, no descriptor, one `mmap`.
    pub(crate) fn in_our_memory(len: usize) -> io::Result<SharedSlots> {
        let map = MmapOptions::new().len(len * 4).map_anon()?;
        Ok(SharedSlots {
            map: MmapRaw::from(map),
            len,
        })
    }

    /// Maps a table made by [`SharedSlots::create`] in another process.
    pub(crate) fn open(fd: &OwnedFd) -> io::Result<SharedSlots> {
        let size = rustix::fs::fstat(fd)?.st_size as usize;
        if size == 0 || !size.is_multiple_of(4) {
            return Err(io::Error::other(format!("slot table has size {size}")));
        }
        Self::map(fd, size / 4)
    }

    fn map(fd: &OwnedFd, len: usize) -> io::Result<SharedSlots> {
        let file = File::from(fd.try_clone()?);
        let map = MmapOptions::new().len(len * 4).map_raw(&file)?;
        Ok(SharedSlots { map, len })
    }

    /// The slots.
    pub(crate) fn slots(&self) -> &[AtomicI32] {
        // SAFETY: the mapping is `len * 4` bytes, page-aligned (so aligned
        // for i32), and lives as long as `self`; every bit pattern is a
        // valid AtomicI32, and every process accesses the table only
        // through atomic operations.
        unsafe { std::slice::from_raw_parts(self.map.as_mut_ptr().cast::<AtomicI32>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn both_mappings_see_the_same_slots() {
        let (a, fd) = SharedSlots::create("forkpool-test", 1000).unwrap();
        let b = SharedSlots::open(&fd).unwrap();
        assert_eq!(b.slots().len(), 1000);
        a.slots()[999].store(-5, Ordering::SeqCst);
        assert_eq!(b.slots()[999].load(Ordering::SeqCst), -5);
    }
}
