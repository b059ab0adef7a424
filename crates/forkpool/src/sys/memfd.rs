//! Anonymous shared memory: memfds, their seals, and mappings of them.
//!
//! A memfd is a file with no name anywhere (nothing in `/dev/shm`), freed
//! by the kernel with its last descriptor or mapping, in whatever process
//! that is. Mapping one is `unsafe` in general because another holder could
//! shrink it (a `SIGBUS` on the next access) or write to it while we hold a
//! `&[u8]` of it. The types here make the two safe cases explicit:
//!
//! - [`Draft`]: a memfd this process just created and has not shared; only
//!   its creator can reach it, so a writable mapping of it is exclusive.
//! - [`Sealed`]: a memfd whose seals forbid shrinking, growing and any new
//!   write (`F_SEAL_WRITE`, or `F_SEAL_FUTURE_WRITE` with the creator's own
//!   mapping turned read-only), checked with `F_GET_SEALS`, of a size that
//!   was checked too. A read-only mapping of it cannot fault or change.
//!
//! Pages are allocated up front (`fallocate`, or `MADV_POPULATE_WRITE`), so
//! that running out of memory is an error from a call, never a `SIGBUS` in
//! the middle of a write.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use memmap2::{Advice, Mmap, MmapMut, MmapOptions};
use rustix::fs::{FallocateFlags, MemfdFlags, SealFlags};
use rustix::io::Errno;

/// The seals a received memfd must carry: its size is fixed...
const SIZE_SEALS: SealFlags = SealFlags::SHRINK.union(SealFlags::GROW);
/// ...and it can no longer be written (either seal will do).
const WRITE_SEALS: SealFlags = SealFlags::WRITE.union(SealFlags::FUTURE_WRITE);

/// Creates an empty memfd (close-on-exec, sealable). `name` shows in
/// `/proc/PID/fd` as `/memfd:NAME (deleted)`; it is not a path.
pub(crate) fn create(name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::memfd_create(
        name,
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?)
}

/// Sets the size of a memfd and allocates its pages, so that writing to
/// them cannot fail later. Growing only (from `from` bytes to `to`).
pub(crate) fn allocate(fd: BorrowedFd<'_>, from: u64, to: u64) -> io::Result<()> {
    if to <= from {
        return Ok(());
    }
    // Mode 0 extends the size too.
    Ok(rustix::fs::fallocate(fd, FallocateFlags::empty(), from, to - from)?)
}

/// Why a received descriptor was refused as shared memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a memfd (`F_GET_SEALS` does not apply to it).
    NotMemfd(String),
    /// A memfd whose seals do not make it immutable.
    NotSealed { missing: String },
    /// Its size is not the one announced.
    WrongSize { announced: u64, actual: u64 },
    /// It is smaller than the bytes announced in it.
    TooSmall { announced: u64, actual: u64 },
    /// It could not be examined or mapped.
    Io(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotMemfd(what) => write!(f, "the descriptor is not a memfd ({what})"),
            Refusal::NotSealed { missing } => {
                write!(
                    f,
                    "the memfd is not sealed against resizing and writing (missing {missing})"
                )
            }
            Refusal::WrongSize { announced, actual } => {
                write!(
                    f,
                    "the memfd holds {actual} bytes but the message announced {announced}"
                )
            }
            Refusal::TooSmall { announced, actual } => {
                write!(
                    f,
                    "the memfd holds {actual} bytes, fewer than the {announced} the message announced"
                )
            }
            Refusal::Io(message) => write!(f, "the memfd cannot be mapped: {message}"),
        }
    }
}

/// A memfd that cannot change any more: see the module docs. (Or, for a
/// lane, that only its creator can change, and will not until this process
/// says it is done with it: see `sys/lane.rs`.)
#[derive(Debug)]
pub(crate) struct Sealed {
    fd: OwnedFd,
    /// The bytes it stands for: all of it, or the first of a lane.
    len: usize,
}

impl Sealed {
    /// Checks that `fd` is a memfd of exactly `len` bytes, sealed against
    /// resizing and writing.
    pub(crate) fn check(fd: OwnedFd, len: u64) -> Result<Sealed, Refusal> {
        Sealed::check_size(fd, len, true)
    }

    /// Checks that `fd` is a memfd of at least `len` bytes, sealed against
    /// resizing and writing; the result stands for its first `len` bytes
    /// (a lane, which may be larger than the item in it).
    pub(crate) fn check_holding(fd: OwnedFd, len: u64) -> Result<Sealed, Refusal> {
        Sealed::check_size(fd, len, false)
    }

    fn check_size(fd: OwnedFd, len: u64, exact: bool) -> Result<Sealed, Refusal> {
        let stat = rustix::fs::fstat(&fd).map_err(|e| Refusal::Io(e.to_string()))?;
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(Refusal::NotMemfd("not a regular file".into()));
        }
        let seals = match rustix::fs::fcntl_get_seals(&fd) {
            Ok(seals) => seals,
            Err(Errno::INVAL) => return Err(Refusal::NotMemfd("it cannot carry seals".into())),
            Err(e) => return Err(Refusal::Io(e.to_string())),
        };
        let mut missing = Vec::new();
        if !seals.contains(SealFlags::SHRINK) {
            missing.push("F_SEAL_SHRINK");
        }
        if !seals.contains(SealFlags::GROW) {
            missing.push("F_SEAL_GROW");
        }
        if !seals.intersects(WRITE_SEALS) {
            missing.push("F_SEAL_WRITE or F_SEAL_FUTURE_WRITE");
        }
        if !missing.is_empty() {
            return Err(Refusal::NotSealed {
                missing: missing.join(", "),
            });
        }
        // Sealed against shrinking, so this size is final.
        let actual = stat.st_size as u64;
        if exact && actual != len {
            return Err(Refusal::WrongSize { announced: len, actual });
        }
        if actual < len {
            return Err(Refusal::TooSmall { announced: len, actual });
        }
        let len = usize::try_from(len).map_err(|_| Refusal::Io("too large to map".into()))?;
        Ok(Sealed { fd, len })
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Any descriptor, claimed to be a sealed memfd of `len` bytes: for
    /// tests that send bad descriptors (it is never mapped).
    #[cfg(test)]
    pub(crate) fn unchecked(fd: OwnedFd, len: usize) -> Sealed {
        Sealed { fd, len }
    }

    /// Maps it read-only. With `populate`, every page is mapped at once
    /// (for data about to be read whole); otherwise pages are mapped as
    /// they are touched. `None` for an empty memfd (nothing to map).
    pub(crate) fn map(&self, populate: bool) -> io::Result<Option<Mmap>> {
        if self.len == 0 {
            return Ok(None);
        }
        let mut options = MmapOptions::new();
        options.len(self.len);
        if populate {
            options.populate();
        }
        // SAFETY: `check`, `Draft::freeze` or `from_written` established that
        // this memfd can neither shrink nor grow and that no new writable
        // mapping or `write(2)` of it is possible: the only writable
        // mapping that can remain is the creator's own, which
        // `Draft::freeze` made read-only and never writes again. (A
        // `Sealed` from `Draft::freeze` on a kernel that refused the write
        // seal never left this process, where nothing writes it.) A lane
        // (`check_holding`) is the one case where the creator writes again:
        // its mapping is read-only while the lane is lent, and the pool's
        // code in the creating process makes it writable only once this
        // process has said it is done (`shm/lanes.rs`), after this mapping
        // is gone. So the mapped bytes stay valid and unchanged for the
        // mapping's life, as `Mmap`'s `&[u8]` requires. The length is at
        // most the file's sealed size.
        let map = unsafe { options.map(&self.fd)? };
        Ok(Some(map))
    }

    /// The descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for Sealed {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A memfd this process created and has not shared yet, writable.
#[derive(Debug)]
pub(crate) struct Draft {
    fd: OwnedFd,
    map: Option<MmapMut>,
    /// Bytes allocated (and mapped).
    len: usize,
}

impl Draft {
    /// A memfd of `len` zero bytes, allocated and mapped writable.
    pub(crate) fn zeroed(name: &CStr, len: usize) -> io::Result<Draft> {
        let fd = create(name)?;
        // Size the file first: a mapping must never extend past its end.
        rustix::fs::ftruncate(&fd, len as u64)?;
        if len == 0 {
            return Ok(Draft { fd, map: None, len });
        }
        // SAFETY: the memfd was created by this process just now and its
        // descriptor never left it (a `Draft` is not sent), so no one else
        // can resize or write it: the mapping is exclusively ours. It is
        // `len` bytes, the file's size.
        let map = unsafe { MmapOptions::new().len(len).map_mut(&fd)? };
        // Allocate the pages and map them in one call, so that a shortage
        // is this error rather than a SIGBUS on the write that touches
        // them. Kernels before 5.14 lack the call: `fallocate` allocates
        // them instead (they are then mapped as they are touched).
        match map.advise(Advice::PopulateWrite) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => allocate(fd.as_fd(), 0, len as u64)?,
            Err(e) => return Err(e),
        }
        Ok(Draft {
            fd,
            map: Some(map),
            len,
        })
    }

    /// The bytes, writable.
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.map {
            Some(map) => &mut map[..self.len],
            None => &mut [],
        }
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(map) => &map[..self.len],
            None => &[],
        }
    }

    /// Seals it against resizing and further writes while keeping its
    /// pages mapped, turned read-only: no copy and no remapping, whatever
    /// the size. Returns the sealed memfd and this process's view of it.
    ///
    /// Cannot fail: on a kernel without `F_SEAL_FUTURE_WRITE` (before 5.1,
    /// which forkpool does not support) the memfd is sealed against
    /// resizing only, and other processes refuse it (`Sealed::check`);
    /// in this process the view is sound either way, the memfd being ours
    /// alone.
    pub(crate) fn freeze(mut self) -> (Sealed, View) {
        let seals = SIZE_SEALS | SealFlags::FUTURE_WRITE | SealFlags::SEAL;
        if rustix::fs::fcntl_add_seals(&self.fd, seals).is_err() {
            let _ = rustix::fs::fcntl_add_seals(&self.fd, SIZE_SEALS);
        }
        let view = match self.map.take() {
            None => View::Empty,
            Some(mut map) => {
                let len = map.len();
                // SAFETY: `map` is a live mapping of exactly `len` bytes that
                // this function owns; changing its protection to read-only
                // affects no Rust reference (none is outstanding: `self` is
                // consumed) and from here on it is only read, through
                // `View::bytes`. Should mprotect fail, the pages stay
                // writable but are still never written.
                unsafe {
                    let _ = rustix::mm::mprotect(map.as_mut_ptr().cast(), len, rustix::mm::MprotectFlags::READ);
                }
                View::Frozen(map, self.len)
            }
        };
        let sealed = Sealed {
            fd: self.fd,
            len: self.len,
        };
        (sealed, view)
    }
}

/// This process's read-only view of a memfd's bytes.
#[derive(Debug)]
pub(crate) enum View {
    /// Nothing to map.
    Empty,
    /// A read-only mapping.
    ReadOnly(Mmap),
    /// The creator's mapping, made read-only by `Draft::freeze` and never
    /// written again; its first `usize` bytes are the data.
    Frozen(MmapMut, usize),
}

impl View {
    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            View::Empty => &[],
            View::ReadOnly(map) => map,
            View::Frozen(map, len) => &map[..*len],
        }
    }
}

impl Sealed {
    /// Seals a memfd this process created and filled with `write(2)` (and
    /// never mapped): its size is final, and nothing can write it again.
    pub(crate) fn from_written(fd: OwnedFd) -> io::Result<Sealed> {
        let len = rustix::fs::fstat(&fd)?.st_size as u64;
        rustix::fs::fcntl_add_seals(&fd, SIZE_SEALS | SealFlags::WRITE | SealFlags::SEAL)?;
        let len = usize::try_from(len).map_err(|_| io::Error::other("memfd too large to map"))?;
        Ok(Sealed { fd, len })
    }

    /// Its read-only view (see `map`).
    pub(crate) fn view(&self, populate: bool) -> io::Result<View> {
        Ok(self.map(populate)?.map_or(View::Empty, View::ReadOnly))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_draft_freezes_into_an_immutable_memfd() {
        let mut draft = Draft::zeroed(c"forkpool-test", 10_000).unwrap();
        draft.bytes_mut()[..5].copy_from_slice(b"hello");
        let (sealed, view) = draft.freeze();
        assert_eq!(&view.bytes()[..5], b"hello");
        assert_eq!(view.bytes().len(), 10_000);
        // Nobody can write or resize it any more.
        let mut file = std::fs::File::from(rustix::io::dup(sealed.fd()).unwrap());
        assert!(file.write_all(b"x").is_err());
        assert!(rustix::fs::ftruncate(sealed.fd(), 1).is_err());
        assert!(rustix::fs::ftruncate(sealed.fd(), 1 << 20).is_err());
        let again = Sealed::check(rustix::io::dup(sealed.fd()).unwrap(), 10_000).unwrap();
        assert_eq!(&again.map(true).unwrap().unwrap()[..5], b"hello");
    }

    #[test]
    fn descriptors_that_are_not_sealed_memfds_are_refused() {
        let (pipe, _w) = rustix::pipe::pipe().unwrap();
        assert!(matches!(Sealed::check(pipe, 0), Err(Refusal::NotMemfd(_))));
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        assert!(matches!(Sealed::check(file.into(), 0), Err(Refusal::NotMemfd(_))));
        let open = create(c"forkpool-test").unwrap();
        assert!(matches!(Sealed::check(open, 0), Err(Refusal::NotSealed { .. })));
        let only_size = create(c"forkpool-test").unwrap();
        rustix::fs::fcntl_add_seals(&only_size, SIZE_SEALS).unwrap();
        let err = Sealed::check(only_size, 0).unwrap_err();
        assert!(err.to_string().contains("F_SEAL_WRITE"), "{err}");
        let (sealed, _view) = Draft::zeroed(c"forkpool-test", 100).unwrap().freeze();
        let err = Sealed::check(rustix::io::dup(sealed.fd()).unwrap(), 99).unwrap_err();
        assert_eq!(
            err,
            Refusal::WrongSize {
                announced: 99,
                actual: 100
            }
        );
    }
}
