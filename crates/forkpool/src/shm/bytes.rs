//! `SharedBytes` and `SharedBytesMut`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::ops::{Deref, DerefMut};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{SHARED_NAME, Segment, wire};
use crate::error::Error;
use crate::ipc::lost::{self, Receiver};
use crate::sys::memfd::{self, Draft, Sealed};
use crate::sys::scm::Shortage;

/// Immutable bytes in shared memory, that cross into a worker (or back)
/// without being copied.
///
/// The bytes live in a sealed `memfd`: a file with no name anywhere,
/// which no process can write to or resize once it is sealed. When a
/// `SharedBytes` is part of a task's argument or result, only its
/// descriptor travels beside the task's message, and the other side maps
/// the same memory read-only: a 1 GiB buffer costs what a 1 KiB one does.
/// Cloning is cheap (a reference count), and the memory is freed when the
/// last holder, in whatever process, drops it; nothing is left behind
/// even when a process is killed.
///
/// ```
/// use forkpool::{Pool, SharedBytes, SharedBytesMut};
///
/// let pool = Pool::builder().workers(1).build()?;
/// let mut buf = SharedBytesMut::zeroed(1 << 20)?;
/// buf[..5].copy_from_slice(b"hello");
/// let data: SharedBytes = buf.freeze();
/// let zeros = pool.submit(|d: SharedBytes| d.iter().filter(|&&b| b == 0).count(), data.clone());
/// assert_eq!(zeros.join(), Ok((1 << 20) - 5));
///
/// // A worker can make one and hand it back the same way.
/// let made = pool.submit(|n: usize| SharedBytes::copy_from(&vec![7u8; n]).unwrap(), 1000).join().unwrap();
/// assert_eq!(&made[..], &[7u8; 1000][..]);
/// # Ok::<(), forkpool::Error>(())
/// ```
///
/// It may sit anywhere in an argument or result (a field, a `Vec`, an
/// `Option`), any number of times. Serialized by anything other than the
/// pool's own task messages (`serde_json`, or `postcard` in your own
/// code), it is written as plain bytes, and plain bytes deserialize into a
/// new `SharedBytes`.
///
/// # One open file each
///
/// Each live `SharedBytes` holds one file descriptor open in each process
/// that holds it (clones share it), and so counts against that process's
/// open-files limit (`RLIMIT_NOFILE`, `ulimit -n`; often 1,024 or 20,000
/// by default). A caller that keeps 20,000 results from a stream needs a
/// limit above 20,000; a worker needs room for the buffers of the argument
/// it is running (see [`Rlimit::OpenFiles`](crate::Rlimit::OpenFiles)).
/// The pool never raises a limit behind your back. At the limit:
///
/// - making one ([`copy_from`](SharedBytes::copy_from),
///   [`SharedBytesMut::zeroed`]...) fails with an [`Error`] that names the
///   limit;
/// - receiving one fails only the task result, stream item or task
///   argument that held it, with [`TaskError::Codec`](crate::TaskError::Codec)
///   saying how many buffers could not be received, in which process, at
///   what limit, and what to do: drop the buffers you no longer need, or
///   raise the limit. The kernel still delivers the rest of the message,
///   so the other tasks and items, the worker and the pool go on; a
///   stream yields that item's `Err` and then its next items (see
///   [`TaskStream`](crate::TaskStream), "Items that cannot be received").
///
/// Shared memory is not counted by a pool's
/// [`memory_limit`](crate::PoolBuilder::memory_limit).
#[derive(Clone)]
pub struct SharedBytes {
    segment: Arc<Segment>,
}

impl SharedBytes {
    /// Copies `bytes` into new shared memory.
    pub fn copy_from(bytes: &[u8]) -> Result<SharedBytes, Error> {
        SharedBytes::fill(|file| file.write_all(bytes))
    }

    /// Reads `reader` to its end into new shared memory (from a file, the
    /// copy happens in the kernel where it can).
    ///
    /// ```
    /// let data = forkpool::SharedBytes::from_reader(std::fs::File::open("/proc/self/exe")?)?;
    /// assert_eq!(&data[1..4], b"ELF");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_reader(mut reader: impl Read) -> Result<SharedBytes, Error> {
        SharedBytes::fill(|file| std::io::copy(&mut reader, file).map(drop))
    }

    /// New shared memory, written by `write` through `write(2)` (which
    /// allocates each page as it fills it, without zeroing it first), then
    /// sealed.
    fn fill(write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<SharedBytes, Error> {
        let fd = memfd::create(SHARED_NAME).map_err(|e| made_error("cannot create shared memory".into(), e))?;
        let mut file = std::fs::File::from(fd);
        write(&mut file).map_err(|e| Error::io("cannot fill shared memory", e))?;
        let sealed =
            Sealed::from_written(OwnedFd::from(file)).map_err(|e| Error::io("cannot seal shared memory", e))?;
        let view = sealed
            .view(false)
            .map_err(|e| Error::io("cannot map shared memory", e))?;
        Ok(SharedBytes::from_segment(Arc::new(Segment::new(sealed, view))))
    }

    pub(crate) fn from_segment(segment: Arc<Segment>) -> SharedBytes {
        SharedBytes { segment }
    }

    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }
}

impl Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.segment.bytes()
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::borrow::Borrow<[u8]> for SharedBytes {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBytes").field("len", &self.len()).finish()
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &SharedBytes) -> bool {
        Arc::ptr_eq(&self.segment, &other.segment) || self[..] == other[..]
    }
}

impl Eq for SharedBytes {}

impl PartialEq<[u8]> for SharedBytes {
    fn eq(&self, other: &[u8]) -> bool {
        &self[..] == other
    }
}

impl Hash for SharedBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self[..].hash(state);
    }
}

impl Serialize for SharedBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire::serialize(&self.segment, serializer)
    }
}

impl<'de> Deserialize<'de> for SharedBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedBytes, D::Error> {
        wire::deserialize(deserializer, 1).map(SharedBytes::from_segment)
    }
}

/// Shared memory being filled: writable by the process that made it, and
/// by no one else. [`freeze`](SharedBytesMut::freeze) it to send it.
///
/// Its pages are allocated when it is made, so running out of memory is
/// an error from [`zeroed`](SharedBytesMut::zeroed), never a crash on a
/// later write.
///
/// ```
/// let mut buf = forkpool::SharedBytesMut::zeroed(4096)?;
/// buf[0] = 1;
/// let frozen = buf.freeze();
/// assert_eq!((frozen[0], frozen.len()), (1, 4096));
/// # Ok::<(), forkpool::Error>(())
/// ```
pub struct SharedBytesMut {
    draft: Draft,
}

impl SharedBytesMut {
    /// `len` zero bytes of new shared memory.
    pub fn zeroed(len: usize) -> Result<SharedBytesMut, Error> {
        let draft = Draft::zeroed(SHARED_NAME, len)
            .map_err(|e| made_error(format!("cannot allocate {len} bytes of shared memory"), e))?;
        Ok(SharedBytesMut { draft })
    }

    /// Seals the memory against any further write or resize, in every
    /// process, and turns it into a [`SharedBytes`]. Costs a few system
    /// calls, however large the buffer: nothing is copied or remapped.
    pub fn freeze(self) -> SharedBytes {
        let (sealed, view) = self.draft.freeze();
        SharedBytes::from_segment(Arc::new(Segment::new(sealed, view)))
    }
}

impl Deref for SharedBytesMut {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.draft.bytes()
    }
}

impl DerefMut for SharedBytesMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.draft.bytes_mut()
    }
}

impl AsRef<[u8]> for SharedBytesMut {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for SharedBytesMut {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for SharedBytesMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBytesMut").field("len", &self.len()).finish()
    }
}

impl From<SharedBytesMut> for SharedBytes {
    fn from(buf: SharedBytesMut) -> SharedBytes {
        buf.freeze()
    }
}

/// The error of making shared memory: `what`, then, when this process is
/// out of descriptors (each live buffer holds one), the cause and the fix.
fn made_error(what: String, e: std::io::Error) -> Error {
    match Shortage::of_error(&e) {
        Some(shortage) => Error::io(format!("{what}: {}", lost::cause(shortage, Receiver::Process)), e),
        None => Error::io(what, e),
    }
}
