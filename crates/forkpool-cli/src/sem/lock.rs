//! The counting semaphore itself: slot files held with `flock`, counted
//! under a directory lock. See `README.md` beside this file for why it
//! never lets N+1 holders in and why a killed holder frees its slot.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

/// The directory lock's file, inside the semaphore's directory.
const LOCK_FILE: &str = "forkpool.lock";
/// Slot files are `slot-0`, `slot-1`, ...
const SLOT_PREFIX: &str = "slot-";

/// One semaphore: `ROOT/id-NAME/`.
#[derive(Debug)]
pub(crate) struct Semaphore {
    dir: PathBuf,
}

/// A held slot: the semaphore counts it until this is dropped, or the
/// process ends in any way (the kernel drops the lock with the file).
#[derive(Debug)]
pub(crate) struct Slot {
    _file: File,
}

/// Why a semaphore cannot be used.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The semaphores' root cannot be created (GNU parallel's wording
    /// names it a non-executable directory).
    Root(PathBuf, io::Error),
    /// The root exists but we cannot create our files in it.
    NotWritable(PathBuf),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Root(root, e) => write!(
                f,
                "Cannot change into non-executable dir {}: {}",
                root.display(),
                crate::jobs::io_reason(e)
            ),
            OpenError::NotWritable(root) => write!(f, "Semaphoredir must be writable: '{}'", root.display()),
        }
    }
}

/// `name` as GNU parallel turns it into a directory name: `id-` then the
/// name with every byte other than `[-_a-zA-Z0-9]` in hex (`/dev/pts/3`
/// is `id-2fdev2fpts2f3`).
pub(crate) fn dir_name(name: &[u8]) -> String {
    let mut out = String::from("id-");
    for &b in name {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

impl Semaphore {
    /// Opens (creating as needed) semaphore `name` under `root`.
    pub(crate) fn open(root: &Path, name: &[u8]) -> Result<Semaphore, OpenError> {
        std::fs::create_dir_all(root).map_err(|e| OpenError::Root(root.to_path_buf(), e))?;
        let dir = root.join(dir_name(name));
        let usable = rustix::fs::access(root, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).is_ok()
            && (dir.is_dir() || std::fs::create_dir(&dir).is_ok() || dir.is_dir())
            && open_lock_file(&dir).is_ok();
        if !usable {
            return Err(OpenError::NotWritable(root.to_path_buf()));
        }
        Ok(Semaphore { dir })
    }

    /// Takes a slot if fewer than `limit` are held.
    pub(crate) fn try_acquire(&self, limit: usize, deadline: Option<Instant>) -> io::Result<Option<Slot>> {
        let _guard = self.lock(deadline)?;
        let slots = self.probe()?;
        if slots.held >= limit {
            return Ok(None);
        }
        self.take(slots.first_free).map(Some)
    }

    /// Takes a slot however many are held: a timed-out wait that "takes it
    /// anyway". It is counted like any other.
    pub(crate) fn steal(&self) -> io::Result<Slot> {
        let _guard = self.lock(None)?;
        let slots = self.probe()?;
        self.take(slots.first_free)
    }

    /// How many slots are held.
    pub(crate) fn held(&self) -> io::Result<usize> {
        let _guard = self.lock(None)?;
        Ok(self.probe()?.held)
    }

    /// Watches for slots being released (an `IN_CLOSE_WRITE` in the
    /// directory: holders have their slot file open for writing, probes
    /// only for reading, so only a release wakes the watchers).
    pub(crate) fn watch(&self) -> Option<OwnedFd> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        inotify::add_watch(&fd, &self.dir, inotify::WatchFlags::CLOSE_WRITE).ok()?;
        Some(fd)
    }

    /// The directory lock, held while slots are counted and taken. Waits
    /// for it (it is only ever held for a moment) until `deadline`.
    fn lock(&self, deadline: Option<Instant>) -> io::Result<OwnedFd> {
        let file = open_lock_file(&self.dir)?;
        let mut pause = Duration::from_micros(200);
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(file),
                Err(Errno::WOULDBLOCK | Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Counts the held slots (those whose file another process has
    /// locked) and finds the lowest-numbered free one. Call under the
    /// directory lock.
    fn probe(&self) -> io::Result<Slots> {
        let mut held = 0;
        let mut present = Vec::new();
        let mut first_free: Option<u64> = None;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(index) = name
                .to_str()
                .and_then(|n| n.strip_prefix(SLOT_PREFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            present.push(index);
            // Read-only: closing it again must not look like a release to
            // the watchers.
            let probe = match File::open(entry.path()) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            match rustix::fs::flock(&probe, FlockOperation::NonBlockingLockShared) {
                Ok(()) => first_free = Some(first_free.map_or(index, |f| f.min(index))),
                Err(Errno::WOULDBLOCK) => held += 1,
                Err(e) => return Err(e.into()),
            }
        }
        if first_free.is_none() {
            present.sort_unstable();
            first_free = Some((0..).find(|i| present.binary_search(i).is_err()).unwrap_or(0));
        }
        Ok(Slots {
            held,
            first_free: first_free.unwrap_or(0),
        })
    }

    /// Locks slot `index` (free, as the probe under the directory lock
    /// found it).
    fn take(&self, index: u64) -> io::Result<Slot> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(self.dir.join(format!("{SLOT_PREFIX}{index}")))?;
        rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)?;
        Ok(Slot { _file: file })
    }
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slots {
    held: usize,
    first_free: u64,
}

/// Opens (creating it if needed) the directory lock's file, read-only:
/// closing it must not look like a release to the watchers.
fn open_lock_file(dir: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mode = Mode::RUSR | Mode::WUSR | Mode::RGRP | Mode::WGRP | Mode::ROTH | Mode::WOTH;
    Ok(rustix::fs::open(
        dir.join(LOCK_FILE),
        OFlags::RDONLY | OFlags::CREATE | OFlags::CLOEXEC,
        mode,
    )?)
}

/// Drains a watch after it woke us.
pub(crate) fn drain(watch: &OwnedFd) {
    let mut buf = [0u8; 4096];
    while matches!(rustix::io::read(watch, &mut buf), Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_gnu_parallels_directory_names() {
        assert_eq!(dir_name(b"/dev/pts/3"), "id-2fdev2fpts2f3");
        assert_eq!(dir_name(b"not a tty"), "id-not20a20tty");
        assert_eq!(dir_name(b"My-job_2"), "id-My-job_2");
        assert_eq!(dir_name("é".as_bytes()), "id-c3a9");
    }

    #[test]
    fn slots_are_counted_and_freed_with_their_holder() {
        let root = tempfile::tempdir().unwrap();
        let sem = Semaphore::open(root.path(), b"t").unwrap();
        let a = sem.try_acquire(2, None).unwrap().expect("first slot");
        let b = sem.try_acquire(2, None).unwrap().expect("second slot");
        assert!(sem.try_acquire(2, None).unwrap().is_none(), "a third holder of 2 slots");
        assert_eq!(sem.held().unwrap(), 2);
        // A larger limit lets one more in; a smaller one none.
        let c = sem.try_acquire(3, None).unwrap().expect("third slot of 3");
        assert!(sem.try_acquire(1, None).unwrap().is_none());
        drop(b);
        assert_eq!(sem.held().unwrap(), 2);
        let d = sem.try_acquire(3, None).unwrap().expect("b's slot again");
        assert_eq!(sem.held().unwrap(), 3);
        let stolen = sem.steal().unwrap();
        assert_eq!(sem.held().unwrap(), 4);
        drop((a, c, d, stolen));
        assert_eq!(sem.held().unwrap(), 0);
        // Four slot files, reused from now on.
        let files = std::fs::read_dir(root.path().join("id-t")).unwrap().count();
        assert_eq!(files, 5, "4 slots and the lock file");
    }

    #[test]
    fn a_release_wakes_the_watch_but_a_probe_does_not() {
        let root = tempfile::tempdir().unwrap();
        let sem = Semaphore::open(root.path(), b"w").unwrap();
        let held = sem.try_acquire(1, None).unwrap().unwrap();
        let watch = sem.watch().expect("inotify");
        let readable = |fd: &OwnedFd| {
            let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
            rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())).unwrap() > 0
        };
        assert!(sem.try_acquire(1, None).unwrap().is_none());
        assert_eq!(sem.held().unwrap(), 1);
        assert!(!readable(&watch), "probing looked like a release");
        drop(held);
        assert!(readable(&watch), "a release did not wake the watch");
        drain(&watch);
        assert!(!readable(&watch));
    }
}
