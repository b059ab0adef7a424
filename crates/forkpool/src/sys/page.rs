//! A page of memory shared between the supervisor and one worker.
//!
//! The page lives in a sealed `memfd` that both processes map `MAP_SHARED`.
//! It is read and written only through atomics, so the two processes never
//! race in the Rust-memory-model sense. The seals stop a misbehaving worker
//! from shrinking the file under the supervisor's mapping (which would turn
//! the supervisor's next read into a `SIGBUS`).

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};

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

/// Any number of 64-bit words shared read-write between two processes
/// (a stream's ring, see `stream::ring`), accessed only through atomics.
///
/// Like [`SharedPage`], the memfd is sealed against resizing before its
/// descriptor leaves this process, so that the other process cannot turn
/// our next access into a `SIGBUS`; unlike it, both sides may write.
#[derive(Debug)]
pub(crate) struct SharedWords {
    map: MmapRaw,
    words: usize,
}

impl SharedWords {
    /// Creates `words` zeroed words, sealed against resizing, with the
    /// first `allocate` bytes' pages allocated now (the rest are allocated
    /// by whoever writes them, see [`SharedWords::allocate`]). Returns the
    /// mapping and the descriptor the other process maps.
    pub(crate) fn create(name: &CStr, words: usize, allocate: usize) -> io::Result<(SharedWords, OwnedFd)> {
        let bytes = words
            .checked_mul(8)
            .ok_or_else(|| io::Error::other("shared words too large"))?;
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, bytes as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        Self::allocate(&fd, 0, allocate.min(bytes) as u64)?;
        let shared = Self::map(&fd, words)?;
        Ok((shared, fd))
    }

    /// Maps `words` words created by [`SharedWords::create`] in another
    /// process, checking the size.
    pub(crate) fn open(fd: &OwnedFd, words: usize) -> io::Result<SharedWords> {
        let size = rustix::fs::fstat(fd)?.st_size;
        if u64::try_from(size).ok() != Some(words as u64 * 8) {
            return Err(io::Error::other(format!(
                "shared memory has size {size}, expected {}",
                words * 8
            )));
        }
        let seals = rustix::fs::fcntl_get_seals(fd)?;
        if !seals.contains(SealFlags::SHRINK) {
            return Err(io::Error::other("shared memory is not sealed against shrinking"));
        }
        Self::map(fd, words)
    }

    /// Allocates the pages of bytes `from..to` of `fd`'s memory, so that
    /// writing them later cannot fault for lack of memory: a shortage is
    /// this error instead of a `SIGBUS`.
    pub(crate) fn allocate(fd: &OwnedFd, from: u64, to: u64) -> io::Result<()> {
        if to > from {
            rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), from, to - from)?;
        }
        Ok(())
    }

    fn map(fd: &OwnedFd, words: usize) -> io::Result<SharedWords> {
        let file = File::from(fd.try_clone()?);
        let map = MmapOptions::new().len(words * 8).map_raw(&file)?;
        Ok(SharedWords { map, words })
    }

    /// The first four bytes of word `index`, as a 32-bit atomic: what a
    /// futex waits on. Such a word must only ever be accessed this way.
    pub(crate) fn futex_word(&self, index: usize) -> Option<&AtomicU32> {
        if index >= self.words {
            return None;
        }
        // SAFETY: `index` is within the mapping (checked above), and the
        // mapping is page-aligned, so the address is aligned for u32. Every
        // bit pattern is a valid AtomicU32, the mapping lives as long as
        // `self`, and callers access this word only through this atomic
        // (never as the AtomicU64 `words` also covers), in both processes.
        Some(unsafe { &*self.map.as_mut_ptr().cast::<AtomicU64>().add(index).cast::<AtomicU32>() })
    }

    /// The words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        let ptr = self.map.as_mut_ptr().cast::<AtomicU64>();
        // SAFETY: the mapping is `words * 8` bytes long, page-aligned (so
        // aligned for u64), and lives as long as `self`; the file is sealed
        // against shrinking, so every page stays backed. Every bit pattern
        // is a valid AtomicU64, and both processes only ever access these
        // bytes through atomic operations, so shared references are sound.
        unsafe { std::slice::from_raw_parts(ptr, self.words) }
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
    fn shared_words_are_shared_and_cannot_be_shrunk() {
        let (a, fd) = SharedWords::create(c"forkpool-test", 1024, 4096).unwrap();
        let b = SharedWords::open(&fd, 1024).unwrap();
        b.words()[1000].store(5, Ordering::Release);
        assert_eq!(a.words()[1000].load(Ordering::Acquire), 5);
        assert!(SharedWords::open(&fd, 1023).is_err(), "the size is checked");
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
        SharedWords::allocate(&fd, 4096, 8192).unwrap();
        assert!(SharedWords::allocate(&fd, 0, 1 << 20).is_err(), "cannot grow");
    }

    #[test]
    fn the_page_cannot_be_shrunk() {
        let (_a, fd) = SharedPage::create("forkpool-test").unwrap();
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
    }
}
