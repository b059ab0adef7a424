//! Signal dispositions the worker and zygote set up.

use std::io;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Where the `SIGABRT` handler records an out-of-memory abort.
static OOM_FLAG: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
static OOM_BIT: AtomicU64 = AtomicU64::new(0);

/// Makes an abort that follows a failed allocation set `bit` in `flags`.
///
/// With `RLIMIT_DATA` in place, an allocation past the limit fails with
/// `ENOMEM`, and Rust's allocation-error handler prints one line and calls
/// `abort()`. The errno of that failed `mmap`/`brk` is still set when our
/// handler runs (the print is a single successful `write`), which tells a
/// memory-limit abort from any other. The handler does nothing but read
/// errno and do one atomic `fetch_or`, both async-signal-safe; it returns,
/// and `abort` then kills the process with `SIGABRT` as usual.
pub(crate) fn flag_out_of_memory_aborts(flags: &'static AtomicU64, bit: u64) -> io::Result<()> {
    OOM_BIT.store(bit, Ordering::Relaxed);
    OOM_FLAG.store(std::ptr::from_ref(flags).cast_mut(), Ordering::Release);
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we
    // then set a handler of the right `extern "C" fn(c_int)` type. The handler
    // only touches async-signal-safe state (errno and an atomic).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigabrt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGABRT, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" fn on_sigabrt(_signal: libc::c_int) {
    // SAFETY: __errno_location returns this thread's errno slot, valid for
    // the life of the thread; reading an int is async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    if errno == libc::ENOMEM {
        let flag = OOM_FLAG.load(Ordering::Acquire);
        // SAFETY: the pointer is either null or was made from a `&'static
        // AtomicU64` in `flag_out_of_memory_aborts`.
        if let Some(flag) = unsafe { flag.as_ref() } {
            flag.fetch_or(OOM_BIT.load(Ordering::Relaxed), Ordering::SeqCst);
        }
    }
}

/// Sets this thread's errno to 0, so that an `ENOMEM` left over from an
/// earlier, handled allocation failure is not mistaken for the cause of a
/// later abort.
pub(crate) fn clear_errno() {
    // SAFETY: __errno_location returns this thread's errno slot, valid for
    // the life of the thread; writing an int to it is always allowed.
    unsafe { *libc::__errno_location() = 0 };
}

/// Ignores `SIGPIPE`, as Rust's runtime does before `main`.
///
/// The zygote diverts before `main`, so the runtime's set-up never ran;
/// without this, a task writing to a closed pipe would die of `SIGPIPE`
/// instead of getting the `EPIPE` error it would get in a normal program.
pub(crate) fn ignore_sigpipe() -> io::Result<()> {
    ignore(libc::SIGPIPE)
}

/// Ignores `SIGXFSZ`, so that a write past `RLIMIT_FSIZE` fails with
/// `EFBIG` (an error the task sees) instead of killing the worker.
pub(crate) fn ignore_sigxfsz() -> io::Result<()> {
    ignore(libc::SIGXFSZ)
}

fn ignore(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: setting a disposition to SIG_IGN installs no code; `signal` is
    // async-signal-safe and has no memory-safety preconditions.
    let previous = unsafe { libc::signal(signal, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
