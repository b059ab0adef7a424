//! Starting a helper process that inherits chosen descriptors and dies with
//! the thread that started it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The program's `argv[0]`, for helpers started from `/proc/self/exe`.
pub(crate) fn program_arg0() -> std::ffi::OsString {
    std::env::args_os().next().unwrap_or_else(|| "forkpool".into())
}

/// Arranges for the child of `command` to get each `(fd, target)` pair's
/// descriptor at number `target` (without `CLOEXEC`), and to receive
/// `SIGKILL` if the thread that spawns it exits (`PR_SET_PDEATHSIG`).
///
/// The descriptors are moved into the command and closed in this process
/// when the command is dropped.
pub(crate) fn inherit_and_die_with_parent(command: &mut Command, fds: Vec<(OwnedFd, RawFd)>) {
    install_fds(command, fds, true);
}

fn install_fds(command: &mut Command, fds: Vec<(OwnedFd, RawFd)>, die_with_parent: bool) {
    let raw: Vec<(RawFd, RawFd)> = fds.iter().map(|(fd, target)| (fd.as_raw_fd(), *target)).collect();
    // Keep the descriptors open until the command is gone.
    let keep = fds;
    let hook = move || -> io::Result<()> {
        let _ = &keep;
        // First move every source above all targets, so that no dup2 below
        // clobbers a source that another pair still needs.
        let mut moved = [0 as RawFd; 8];
        if raw.len() > moved.len() {
            // No allocation here: io::Error::other would allocate.
            return Err(io::Error::from_raw_os_error(libc::E2BIG));
        }
        // Just above the highest target, not at a fixed high number: under
        // a low descriptor limit (`ulimit -n 30`) a fixed 64 is EINVAL.
        let floor = raw.iter().map(|(_, t)| *t).max().unwrap_or(2) + 1;
        for (i, (src, _)) in raw.iter().enumerate() {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) is async-signal-safe and only
            // creates a descriptor; `src` is open (owned by `keep`).
            let fd = unsafe { libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, floor) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            moved[i] = fd;
        }
        for (i, (_, target)) in raw.iter().enumerate() {
            // SAFETY: dup2 is async-signal-safe; the new descriptor at
            // `target` has CLOEXEC clear, so it survives the exec. The
            // temporary copies keep CLOEXEC and vanish at exec.
            if unsafe { libc::dup2(moved[i], *target) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // Every other descriptor this process holds (the parent may have
        // leaked some without CLOEXEC) must not reach the helper: mark them
        // all close-on-exec. (Marking rather than closing keeps std's own
        // error-reporting pipe working if the exec fails.)
        super::fds::cloexec_from(floor);
        if die_with_parent {
            // SAFETY: prctl(PR_SET_PDEATHSIG) is a plain async-signal-safe
            // system call with integer arguments.
            let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec in the child of a possibly
    // multi-threaded process, where only async-signal-safe calls are allowed.
    // It calls only fcntl, dup2, close_range and prctl, all async-signal-
    // safe, allocates nothing and takes no lock (the index array lives on
    // the stack).
    unsafe {
        command.pre_exec(hook);
    }
}
