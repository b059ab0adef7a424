//! File descriptors a helper process starts with.

use std::io;
use std::os::fd::RawFd;

/// Marks every descriptor numbered `first` or above close-on-exec
/// (`close_range` with `CLOSE_RANGE_CLOEXEC`, Linux 5.11+; on older
/// kernels nothing happens). Async-signal-safe: a single system call.
pub(crate) fn cloexec_from(first: RawFd) {
    let Ok(first) = libc::c_uint::try_from(first) else {
        return;
    };
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; it closes nothing and touches no memory, so no owner of
    // any descriptor is affected until an exec.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Closes every descriptor numbered `first` or above (`close_range`,
/// Linux 5.9+; on older kernels nothing happens). For a helper at its
/// start, to drop what its parent leaked to it (descriptors without
/// `CLOEXEC`), before anything in it has opened or taken one of them.
pub(crate) fn close_from(first: RawFd) {
    let Ok(first) = libc::c_uint::try_from(first) else {
        return;
    };
    // SAFETY: called before the helper's code owns any descriptor at or
    // above `first` (the caller's contract), so nothing can use a closed
    // one afterwards; close_range takes only integers.
    unsafe {
        libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0 as libc::c_uint);
    }
}

/// Makes sure descriptors 0, 1 and 2 are open, on `/dev/null` if they were
/// closed, as Rust's runtime does before `main` (which helpers skip). A
/// task writing to a closed stderr would otherwise write into whatever
/// descriptor next took number 2.
pub(crate) fn ensure_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            continue;
        }
        // SAFETY: open returns the lowest free descriptor, which is `fd`
        // since it is closed and all lower ones are open (checked in order).
        // The descriptor is deliberately never closed: it is standard I/O.
        unsafe {
            libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        }
    }
}

/// Takes ownership of descriptor `fd`, inherited from the process that
/// started this one, after checking it is open.
///
/// Only the start-up code calls this, before `main`, for the fixed numbers
/// the supervisor's spawner placed the descriptors at.
pub(crate) fn take_inherited(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only queries flags; it fails with EBADF if `fd` is not
    // open, which is all we learn from it.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above) and was put there for us by the
    // supervisor's spawner; this runs before `main`, so no other code in
    // this process has claimed it, and it is taken exactly once.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(owned)
}

/// How many of the descriptors numbered below `end` are open, by one
/// `poll` per 128 numbers with no events asked and no wait: the kernel
/// marks each number that is not open `POLLNVAL`. A few microseconds,
/// where listing `/proc/self/fd` makes a dentry and an inode for every
/// open descriptor (~60 µs for a dozen).
pub(crate) fn count_open_below(end: usize) -> io::Result<usize> {
    const CHUNK: usize = 128;
    let empty = libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    };
    let mut open = 0;
    let mut first = 0;
    while first < end {
        let count = CHUNK.min(end - first);
        let mut fds = [empty; CHUNK];
        for (i, slot) in fds[..count].iter_mut().enumerate() {
            slot.fd = RawFd::try_from(first + i).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        }
        // SAFETY: `fds` is a valid array of `count` pollfd structures that
        // outlives the call; poll reads the numbers and writes only
        // `revents`. A number that is not open is not an error (it comes
        // back as POLLNVAL), and with no events asked and a zero timeout
        // nothing is waited for or consumed on the open ones.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), count as libc::nfds_t, 0) };
        if ready < 0 {
            return Err(io::Error::last_os_error());
        }
        open += fds[..count].iter().filter(|p| p.revents & libc::POLLNVAL == 0).count();
        first += count;
    }
    Ok(open)
}
