//! A page of memory shared between the supervisor and one worker.
//!
//! The page lives in a sealed `memfd` that both processes map `MAP_SHARED`.
//! It is read and written only through atomics, so the two processes never
//! race in the Rust-memory-model sense. The seals stop a misbehaving worker
//! from shrinking the file under the supervisor's mapping (which would turn
//! the supervisor's next read into a `SIGBUS`).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, AtomicU64};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{MemfdFlags, SealFlags};

/// Size of the shared page.
pub(crate) const PAGE_SIZE: usize = 4096;
/// Number of 64-bit words at the start of the page.
pub(crate) const WORDS: usize = 16 + 256;
/// Bytes of free-form text after the words.
pub(crate) const TEXT_SIZE: usize = PAGE_SIZE - WORDS * 8;

/// One mapped page: `WORDS` atomic words, then `TEXT_SIZE` atomic bytes.
#[derive(Debug)]
pub(crate) struct SharedPage {
    map: MmapRaw,
}

impl SharedPage {
    /// Creates a zeroed, sealed page and maps it. The returned descriptor is
    /// what the other process maps (see [`SharedPage::open`]).
    pub(crate) fn create(name: &str) -> io::Result<(SharedPage, OwnedFd)> {
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, PAGE_SIZE as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let page = Self::map(&fd)?;
        Ok((page, fd))
    }

    /// Maps a page created by [`SharedPage::create`] in another process.
    pub(crate) fn open(fd: &OwnedFd) -> io::Result<SharedPage> {
        let size = rustix::fs::fstat(fd)?.st_size;
        if usize::try_from(size).ok() != Some(PAGE_SIZE) {
            return Err(io::Error::other(format!(
                "shared page has size {size}, expected {PAGE_SIZE}"
            )));
        }
        Self::map(fd)
    }

    fn map(fd: &OwnedFd) -> io::Result<SharedPage> {
        let file = File::from(fd.try_clone()?);
        let map = MmapOptions::new().len(PAGE_SIZE).map_raw(&file)?;
        Ok(SharedPage { map })
    }

    /// The atomic words at the start of the page.
    pub(crate) fn words(&self) -> &[AtomicU64; WORDS] {
        let ptr = self.map.as_mut_ptr().cast::<[AtomicU64; WORDS]>();
        // SAFETY: the mapping is PAGE_SIZE bytes long, page-aligned (so
        // aligned for u64), and lives as long as `self`. Every bit pattern is
        // a valid AtomicU64, and both processes only ever access these bytes
        // through atomic operations, so shared references are sound.
        unsafe { &*ptr }
    }

    /// The atomic text bytes after the words.
    pub(crate) fn text(&self) -> &[AtomicU8; TEXT_SIZE] {
        // SAFETY: WORDS * 8 + TEXT_SIZE == PAGE_SIZE, so the range is inside
        // the mapping; AtomicU8 has alignment 1 and no invalid bit patterns,
        // and all accesses from both processes are atomic (as in `words`).
        unsafe { &*self.map.as_mut_ptr().add(WORDS * 8).cast::<[AtomicU8; TEXT_SIZE]>() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn two_mappings_of_one_page_see_each_other() {
        let (a, fd) = SharedPage::create("forkpool-test").unwrap();
        let b = SharedPage::open(&fd).unwrap();
        a.words()[3].store(77, Ordering::Release);
        assert_eq!(b.words()[3].load(Ordering::Acquire), 77);
        b.text()[10].store(b'x', Ordering::Relaxed);
        assert_eq!(a.text()[10].load(Ordering::Relaxed), b'x');
    }

    #[test]
    fn the_page_cannot_be_shrunk() {
        let (_a, fd) = SharedPage::create("forkpool-test").unwrap();
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
    }
}
