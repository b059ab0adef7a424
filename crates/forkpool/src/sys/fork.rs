//! `fork`, only where it is sound: in a process with a single thread.

use std::io;

use rustix::process::Pid;

/// Which side of a `fork` we are on.
#[derive(Debug)]
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The calling process; holds the child's pid.
    Parent(Pid),
}

/// Forks the calling process, refusing unless it has exactly one thread.
///
/// After `fork` in a threaded process the child may only call
/// async-signal-safe functions (a lock held by another thread stays locked
/// forever in the child). The zygote stays single-threaded so that its
/// children can run ordinary Rust code; this check makes that a rule rather
/// than a hope.
pub(crate) fn fork_single_threaded() -> io::Result<Forked> {
    let threads = super::threads::count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "refusing to fork a process with {threads} threads"
        )));
    }
    // SAFETY: the process has exactly one thread (checked just above, and only
    // this thread could have started another since), so the child is a
    // consistent copy of the whole process: no lock is held by a thread that
    // does not exist in the child, and the child may run any code.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Pid::from_raw(pid)
            .map(Forked::Parent)
            .ok_or_else(|| io::Error::other("fork returned an invalid pid")),
    }
}

/// Ends the process at once: no destructors, no `atexit` handlers, no
/// flushing of buffered output (which, in a forked child, is a copy of the
/// parent's and would be printed twice).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit only ends the process; it is async-signal-safe.
    unsafe { libc::_exit(code) }
}
