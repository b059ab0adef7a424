//! Signal numbers and their names.

/// The conventional name of a signal number, e.g. `SIGSEGV` for 11.
///
/// Real-time signals are named relative to `SIGRTMIN` (`SIGRTMIN+3`).
/// Returns `None` for numbers that are not signals.
///
/// ```
/// assert_eq!(forkpool::signal_name(11), Some("SIGSEGV".into()));
/// assert_eq!(forkpool::signal_name(0), None);
/// ```
pub fn signal_name(signal: i32) -> Option<std::borrow::Cow<'static, str>> {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        n if (rt_min()..=rt_max()).contains(&n) => {
            return Some(format!("SIGRTMIN+{}", n - rt_min()).into());
        }
        _ => return None,
    };
    Some(name.into())
}

/// `SIGSEGV (11)`, or `signal 99` for an unknown number.
pub(crate) fn describe(signal: i32) -> String {
    match signal_name(signal) {
        Some(name) => format!("{name} ({signal})"),
        None => format!("signal {signal}"),
    }
}

// The kernel's real-time range; glibc reserves the first two or three for
// itself, but the names are still relative to the kernel's SIGRTMIN (34)
// as `kill -l` prints them.
const fn rt_min() -> i32 {
    34
}
const fn rt_max() -> i32 {
    64
}

/// Sends `signal` to process group `group` (`kill(-group, signal)`).
///
/// The caller must know the group still belongs to its process: in this
/// crate, groups are only signalled while their leader is unreaped.
pub(crate) fn send_to_group(group: rustix::process::Pid, signal: i32) -> std::io::Result<()> {
    if !(1..=64).contains(&signal) {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill(2) has no memory-safety preconditions; the arguments
    // are plain integers (a negative pid names a process group).
    if unsafe { libc::kill(-group.as_raw_pid(), signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Makes `SIGTERM` leave this process running: a handler that does nothing
/// (with `SA_RESTART`, so no system call fails with `EINTR`). A worker
/// does this under `timeout_grace`, so that the `SIGTERM` sent to its
/// process group gives the programs its task started their grace, instead
/// of ending the worker and with it (through the zygote) the group. A task
/// that wants the grace itself installs its own handler. Handlers do not
/// survive `exec`: programs a task executes get the default disposition.
pub(crate) fn survive_sigterm() -> std::io::Result<()> {
    extern "C" fn ignore(_signal: libc::c_int) {}
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value;
    // the handler has the `extern "C" fn(c_int)` type `sa_sigaction` expects
    // without SA_SIGINFO, and does nothing (trivially async-signal-safe).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends `signal` to process `pid` alone (`kill(pid, signal)`).
///
/// The caller must know `pid` is still its process: in this crate, a
/// process is only signalled while it is unreaped.
pub(crate) fn send_to_process(pid: rustix::process::Pid, signal: i32) -> std::io::Result<()> {
    if !(1..=64).contains(&signal) {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill(2) has no memory-safety preconditions; the arguments
    // are plain integers.
    if unsafe { libc::kill(pid.as_raw_pid(), signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_common_signals() {
        assert_eq!(signal_name(libc::SIGSEGV).as_deref(), Some("SIGSEGV"));
        assert_eq!(signal_name(libc::SIGKILL).as_deref(), Some("SIGKILL"));
        assert_eq!(signal_name(libc::SIGABRT).as_deref(), Some("SIGABRT"));
        assert_eq!(signal_name(36).as_deref(), Some("SIGRTMIN+2"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(65), None);
        assert_eq!(describe(11), "SIGSEGV (11)");
        assert_eq!(describe(200), "signal 200");
    }
}
