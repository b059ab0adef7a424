//! Signals delivered as bytes on a pipe (the self-pipe trick).
//!
//! The handler does one thing, async-signal-safe: it writes the signal
//! number as one byte to a non-blocking pipe. The event loop watches the
//! pipe's read end like any other descriptor, and does all the real work
//! there.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::pipe::PipeFlags;

/// The write end the handler uses (-1 when none).
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = WRITE_END.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is a valid one-byte
        // buffer. A full pipe (EAGAIN) just drops the byte: the reader is
        // already behind by 64 KiB of signals. errno is saved and restored,
        // so the interrupted code does not see it change.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, (&raw const byte).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Routes `signals` to a pipe; returns its read end (non-blocking). Only
/// one such pipe exists per process: a later call replaces the earlier.
pub(crate) fn install(signals: &[i32]) -> io::Result<OwnedFd> {
    let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    // The write end lives as long as the process: the handler may run at
    // any time.
    replace_write_end(write.as_raw_fd());
    std::mem::forget(write);
    for &signal in signals {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; we set a handler of the right type that only performs
        // async-signal-safe work. SA_RESTART keeps interrupted system
        // calls elsewhere in the program from failing with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(read)
}

/// Restores the default action for `signals`.
pub(crate) fn restore_default(signals: &[i32]) {
    for &signal in signals {
        // SAFETY: setting SIG_DFL installs no code.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
}

/// Undoes [`install`] in a child just forked from the installing process:
/// restores the default action for `signals` and closes the inherited write
/// end, which belongs to the parent's loop.
pub(crate) fn uninstall_after_fork(signals: &[i32]) {
    restore_default(signals);
    replace_write_end(-1);
}

/// Makes `fd` (-1: none) the handler's write end, and closes the one it
/// replaces.
fn replace_write_end(fd: i32) {
    let previous = WRITE_END.swap(fd, Ordering::SeqCst);
    if previous >= 0 {
        // SAFETY: `previous` is a write end leaked by `install`, and since
        // the swap above the handler no longer uses it.
        unsafe { libc::close(previous) };
    }
}
