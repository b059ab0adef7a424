//! Closing inherited file descriptors wholesale.

use std::io;
use std::os::fd::RawFd;

/// Closes every file descriptor numbered `first` or above (`close_range`).
///
/// The zygote calls this once at start-up so that descriptors the client
/// leaked without `CLOEXEC` do not live on in every worker.
pub(crate) fn close_from(first: RawFd) -> io::Result<()> {
    let first = libc::c_uint::try_from(first).map_err(|_| io::Error::other("negative fd"))?;
    // SAFETY: close_range only closes descriptors; it touches no memory. The
    // caller owns every descriptor at or above `first` (the zygote, before it
    // opens anything of its own), so no live `OwnedFd` is invalidated.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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
