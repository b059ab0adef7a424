//! `fork`, only where it is sound: in a process with a single thread.

use std::io;
use std::os::fd::RawFd;

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

/// In a child just forked to be a helper (that never execs): gives it what
/// an exec would have, so that nothing of the parent's lingers in it. All
/// signals unblocked, signals the parent handles back to their default
/// action (ignored ones stay ignored, as across `exec`), stdin and stdout
/// on `/dev/null`, and every descriptor closed except 0, 1, 2 and `keep`.
///
/// Call first thing in the child: the parent's objects that own the closed
/// descriptors exist in the child too, and must never be used or dropped
/// there (the helper ends with [`exit_now`]).
pub(crate) fn become_helper(keep: &[RawFd]) {
    // SAFETY: an empty set is a valid set; sigprocmask only changes this
    // thread's (the child's only thread's) mask.
    unsafe {
        let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
        libc::sigemptyset(empty.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut());
    }
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: reading the action into our own storage; a null new
        // action changes nothing. Numbers that are not signals fail
        // harmlessly.
        let read = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) };
        // SAFETY: filled in by the successful call above.
        let handler = (read == 0).then(|| unsafe { current.assume_init() }.sa_sigaction);
        if handler.is_some_and(|h| h != libc::SIG_DFL && h != libc::SIG_IGN) {
            // SAFETY: SIG_DFL installs no code of ours.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
    if let Ok(null) = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd > 2).collect();
    keep.sort_unstable();
    let mut from: RawFd = 3;
    for fd in keep.into_iter().chain(std::iter::once(RawFd::MAX)) {
        if fd > from {
            // SAFETY: the caller's contract: nothing in this process uses a
            // descriptor outside `keep` from now on. close_range takes only
            // integers.
            unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    from as libc::c_uint,
                    (fd - 1) as libc::c_uint,
                    0 as libc::c_uint,
                );
            }
        }
        from = fd.saturating_add(1);
    }
}
