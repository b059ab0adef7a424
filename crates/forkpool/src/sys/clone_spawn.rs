//! Starting a job as glibc's `posix_spawn` does (a child on our memory,
//! `CLONE_VM | CLONE_VFORK`, until it `exec`s), without what glibc adds to
//! every spawn: a fresh child stack mapped and unmapped each time (the
//! unmap of a stack another CPU has run on is a TLB shoot-down, an
//! interrupt to every CPU we ran on), five `getrlimit` calls while the
//! file actions are built, a separate `pidfd_open` afterwards, and two
//! `sigaction` calls per signal in the child (glibc 2.36 resets every one
//! of the 64, handled or not).
//!
//! A [`Launcher`] keeps one stack for all its spawns; `clone` returns the
//! child's pidfd with its pid (`CLONE_PIDFD`), so the child is watched
//! before anyone could reuse its pid; the child resets to `SIG_DFL` only
//! the signals that have a handler (one `sigaction` each: set the default
//! and read the old action; an ignored signal is put back), and `SIGPIPE`
//! and glibc's internal 32 and 33 always (see `posix_spawn`'s docs).
//!
//! The child runs on our memory while the calling thread is suspended, as
//! glibc's: it uses only raw system calls (rustix's, and `libc::syscall`
//! for the ones rustix has no stable call for), its own stack, and the
//! orders and strings the suspended caller holds; no allocation, no lock,
//! no panic. All signals are blocked around the `clone`, so none of our
//! handlers runs in it before it has reset them. The one thing it shares
//! beyond that: a failing `execve` writes `errno`, which is the calling
//! thread's (the child has no thread pointer of its own), as in glibc's
//! child; the caller never reads `errno` after a spawn.
//!
//! One signal is left unblocked around the `clone` when nothing handles
//! it: `SIGCHLD`. Every job that exits sends us one, and an ignored
//! (`SIG_DFL`) signal is dropped by the kernel at once, unless the thread
//! it is sent to blocks it: then it is queued for the process and wakes
//! whichever other thread does not block it (an input-reading thread
//! asleep on a lock, say), only to be discarded there. With jobs exiting
//! while we spawn others, that was a cross-thread wake-up for every other
//! job. The child cannot run a handler for it, since there is none (and it
//! has no children of its own to send it one).
//!
//! Where `clone` refuses `CLONE_PIDFD` (Linux before 5.2), spawns go
//! through `posix_spawn` and `pidfd_open` instead.

use std::ffi::{c_int, c_void};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use rustix::fs::{CWD, Mode, OFlags};
use rustix::io::FdFlags;
use rustix::process::{Pid, PidfdFlags};

use super::posix_spawn::{Request, Stdio};

/// The child's stack: its frames are small (no buffer bigger than a
/// `sigaction`); the rest is margin. One guard page below it.
const STACK: usize = 64 * 1024;

/// What the child reads, in the caller's (suspended) stack frame.
struct Orders {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    stdio: [Stdio; 3],
    own_group: bool,
    nice: Option<i32>,
    /// The `errno` of a failed start, written by the child before it
    /// exits; 0 while it has not failed.
    error: AtomicI32,
}

/// Starts jobs on a stack it keeps (see the module docs). One spawn at a
/// time: [`spawn`](Launcher::spawn) takes `&mut self`.
#[derive(Debug)]
pub(crate) struct Launcher {
    stack: *mut c_void,
}

// SAFETY: the stack pointer is only used by `spawn` (through `&mut self`)
// and `Drop`, to run a child on the mapping and to unmap it.
unsafe impl Send for Launcher {}
// SAFETY: `&Launcher` gives access to nothing.
unsafe impl Sync for Launcher {}

/// Whether `clone` took `CLONE_PIDFD`: 0 not known yet, 1 yes, 2 no.
static CLONE_PIDFD_WORKS: AtomicU8 = AtomicU8::new(0);

impl Launcher {
    /// Maps the stack (untouched until the first spawn).
    pub(crate) fn new() -> io::Result<Launcher> {
        // SAFETY: a fresh anonymous mapping, placed by the kernel; nothing
        // else refers to it.
        let stack = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                STACK,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::STACK,
            )?
        };
        let launcher = Launcher { stack };
        // SAFETY: the lowest page of our own mapping becomes a guard page.
        unsafe {
            rustix::mm::mprotect(stack, rustix::param::page_size(), rustix::mm::MprotectFlags::empty())?;
        }
        Ok(launcher)
    }

    /// Starts `request` (which must not ask for `extra` descriptors: those
    /// go through `posix_spawn`); returns its pid and a pidfd for it.
    /// Errors of the `exec` itself (`ENOENT`, `EACCES`, `ENOEXEC`,
    /// `E2BIG`...) are returned here, the failed child reaped.
    pub(crate) fn spawn(&mut self, request: &Request<'_>) -> io::Result<(Pid, OwnedFd)> {
        if !request.extra.is_empty() || CLONE_PIDFD_WORKS.load(Ordering::Relaxed) == 2 {
            return fallback(request);
        }
        let argv = null_terminated(request.argv.iter().map(|a| a.as_c_str()));
        let envp = null_terminated(request.envp.iter().copied());
        let orders = Orders {
            program: request.program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            stdio: [request.stdin, request.stdout, request.stderr],
            own_group: request.own_group,
            nice: request.nice,
            error: AtomicI32::new(0),
        };
        let top = self.stack.cast::<u8>().wrapping_add(STACK).cast::<c_void>();
        let mut pidfd: c_int = -1;
        let pid = with_spawn_mask(|| {
            // SAFETY: the child runs `child_main` on our stack mapping (its
            // top, page-aligned), sharing our memory while this thread is
            // suspended (CLONE_VFORK) until it execs or exits; `child_main`
            // keeps to what that allows (see the module docs), and reads
            // `orders` and the argv/envp arrays, which this frame keeps
            // alive until `clone` returns. Every signal is blocked in it
            // from the start. CLONE_PIDFD stores a new close-on-exec pidfd
            // in `pidfd` (the parent-tid argument).
            unsafe {
                libc::clone(
                    child_main,
                    top,
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                    ptr::from_ref(&orders).cast_mut().cast(),
                    &mut pidfd as *mut c_int,
                )
            }
        });
        if pid == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) && CLONE_PIDFD_WORKS.load(Ordering::Relaxed) == 0 {
                // A kernel without CLONE_PIDFD: glibc's way from now on.
                CLONE_PIDFD_WORKS.store(2, Ordering::Relaxed);
                return fallback(request);
            }
            return Err(e);
        }
        CLONE_PIDFD_WORKS.store(1, Ordering::Relaxed);
        let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("clone returned an invalid pid"))?;
        // SAFETY: CLONE_PIDFD put a new descriptor there, ours alone.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        // The child has exec'd or exited: it is done with our memory.
        match orders.error.load(Ordering::SeqCst) {
            0 => Ok((pid, pidfd)),
            errno => {
                reap(pidfd.as_fd());
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // SAFETY: our mapping, of this size; no child runs on it once
        // `spawn` has returned.
        let _ = unsafe { rustix::mm::munmap(self.stack, STACK) };
    }
}

/// Runs `f` with every signal blocked in this thread (so that a process
/// cloned inside starts with them blocked), but `SIGCHLD` when it has no
/// handler (see the module docs).
fn with_spawn_mask<T>(f: impl FnOnce() -> T) -> T {
    let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    let mut chld = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: sigfillset initialises the set we own; sigaction with a null
    // new action only reads SIGCHLD's disposition into `chld`, which is
    // read only if it succeeded; sigdelset changes our set;
    // pthread_sigmask changes only this thread's mask and stores the
    // previous one in `old`.
    let blocked = unsafe {
        libc::sigfillset(mask.as_mut_ptr());
        if libc::sigaction(libc::SIGCHLD, ptr::null(), chld.as_mut_ptr()) == 0 {
            let handler = chld.assume_init_ref().sa_sigaction;
            if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
                libc::sigdelset(mask.as_mut_ptr(), libc::SIGCHLD);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, mask.as_ptr(), old.as_mut_ptr()) == 0
    };
    let result = f();
    if blocked {
        // SAFETY: `old` was filled by the successful call above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), ptr::null_mut()) };
    }
    result
}

/// The strings' addresses, then a null pointer: `execve`'s `argv` and
/// `envp`.
fn null_terminated<'s>(strings: impl Iterator<Item = &'s std::ffi::CStr>) -> Vec<*const libc::c_char> {
    strings
        .map(std::ffi::CStr::as_ptr)
        .chain(std::iter::once(ptr::null()))
        .collect()
}

/// `posix_spawn`, then a pidfd for the child.
fn fallback(request: &Request<'_>) -> io::Result<(Pid, OwnedFd)> {
    let pid = super::posix_spawn::spawn(request)?;
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(pidfd) => Ok((pid, pidfd)),
        Err(e) => {
            // Started, but we cannot watch it: stop it and reap it now.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            Err(e.into())
        }
    }
}

/// Reaps a child that failed to start.
fn reap(pidfd: BorrowedFd<'_>) {
    use rustix::process::{WaitId, WaitIdOptions};
    while let Err(rustix::io::Errno::INTR) = rustix::process::waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED) {}
}

/// The kernel's `struct sigaction` on x86-64 and the other 64-bit targets
/// whose layout is handler, flags, restorer, mask.
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// The child's entry point, on the launcher's stack. Returns (and so
/// exits, through `clone`'s wrapper) only if the job could not start.
extern "C" fn child_main(orders: *mut c_void) -> c_int {
    // SAFETY: `Launcher::spawn` passed its `Orders`, which stay alive and
    // unchanged while we run (the caller is suspended until we exec or
    // exit).
    let orders = unsafe { &*orders.cast::<Orders>() };
    let failed = |errno: i32| -> c_int {
        orders.error.store(errno.max(1), Ordering::SeqCst);
        127
    };
    reset_signals();
    if orders.own_group
        && let Err(e) = rustix::process::setpgid(None, None)
    {
        return failed(e.raw_os_error());
    }
    if let Some(nice) = orders.nice {
        // Before the program's first instruction. Lowering it needs a
        // privilege; without one the job keeps ours (not an error).
        let _ = rustix::process::setpriority_process(None, nice);
    }
    for (target, stdio) in orders.stdio.iter().enumerate() {
        if let Err(e) = install(*stdio, target as RawFd) {
            return failed(e.raw_os_error());
        }
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask on this process's own mask, with a valid set
    // of the kernel's size; it cannot fail, so `errno` is not written.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            ptr::null_mut::<u64>(),
            size_of::<u64>(),
        )
    };
    // SAFETY: the program and the NULL-terminated arrays are valid C
    // strings and pointers kept alive by the suspended caller. It returns
    // only on failure, having written `errno` (the caller's thread's: see
    // the module docs), which we read at once.
    let errno = unsafe {
        libc::syscall(libc::SYS_execve, orders.program, orders.argv, orders.envp);
        *libc::__errno_location()
    };
    failed(errno)
}

/// Every signal with a handler back to `SIG_DFL` (a handler of ours must
/// never run here, and `exec` would reset it anyway); ignored ones stay
/// ignored, but for `SIGPIPE` (Rust programs ignore it) and glibc's
/// internal 32 and 33, which become `SIG_DFL` whatever they were.
fn reset_signals() {
    const SIG_IGN: usize = 1;
    let default = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let mut old = default;
        // SAFETY: rt_sigaction on this process's own table (not shared:
        // no CLONE_SIGHAND), with valid structures of the kernel's layout
        // and size; it cannot fail for these signals, so `errno` is not
        // written.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                &mut old as *mut KernelSigaction,
                size_of::<u64>(),
            )
        };
        let always_default = signal == libc::SIGPIPE || signal == 32 || signal == 33;
        if old.handler == SIG_IGN && !always_default {
            // SAFETY: as above; `old` is what the kernel gave.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    &old as *const KernelSigaction,
                    ptr::null_mut::<KernelSigaction>(),
                    size_of::<u64>(),
                )
            };
        }
    }
}

/// Puts one standard descriptor in place, as `posix_spawn`'s file actions
/// do: a copy of ours without `CLOEXEC`, or `/dev/null`.
fn install(stdio: Stdio, target: RawFd) -> rustix::io::Result<()> {
    let dup_to_target = |fd: BorrowedFd<'_>| match target {
        0 => rustix::stdio::dup2_stdin(fd),
        1 => rustix::stdio::dup2_stdout(fd),
        _ => rustix::stdio::dup2_stderr(fd),
    };
    match stdio {
        Stdio::Inherit => Ok(()),
        Stdio::Fd(fd) if fd == target => {
            // SAFETY: a descriptor the caller keeps open for the spawn.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            rustix::io::fcntl_setfd(fd, FdFlags::empty())
        }
        // SAFETY: as above.
        Stdio::Fd(fd) => dup_to_target(unsafe { BorrowedFd::borrow_raw(fd) }),
        Stdio::BlockingPipe(fd) => {
            install(Stdio::Fd(fd), target)?;
            // The write end's status, which its copy at `target` shares:
            // blocking for the job (our read end keeps its own status).
            // SAFETY: `target` is open: it was just made a copy of `fd`.
            rustix::fs::fcntl_setfl(unsafe { BorrowedFd::borrow_raw(target) }, OFlags::empty())
        }
        Stdio::Null => {
            let access = if target == 0 { OFlags::RDONLY } else { OFlags::WRONLY };
            let null = rustix::fs::openat(CWD, c"/dev/null", access, Mode::empty())?;
            if std::os::fd::AsRawFd::as_raw_fd(&null) == target {
                // Opened right where it belongs (the slot was free): keep it.
                std::mem::forget(null);
                return Ok(());
            }
            dup_to_target(null.as_fd())
            // `null` closes here: only the copy at `target` stays.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn request<'a>(program: &'a std::ffi::CStr, argv: &'a [CString], envp: &'a [&'a std::ffi::CStr]) -> Request<'a> {
        Request {
            program,
            argv,
            envp,
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Null,
            extra: &[],
            own_group: true,
            nice: None,
        }
    }

    fn exit_code(pidfd: &OwnedFd) -> Option<i32> {
        use rustix::process::{WaitId, WaitIdOptions};
        let status = rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED)
            .ok()
            .flatten()?;
        status.exit_status()
    }

    #[test]
    fn a_job_runs_with_its_arguments_and_its_own_stack_is_reused() {
        let mut launcher = Launcher::new().unwrap();
        for code in [0, 3, 42] {
            let argv = [
                CString::new("sh").unwrap(),
                CString::new("-c").unwrap(),
                CString::new(format!("exit {code}")).unwrap(),
            ];
            let (_, pidfd) = launcher.spawn(&request(c"/bin/sh", &argv, &[])).unwrap();
            assert_eq!(exit_code(&pidfd), Some(code));
        }
    }

    #[test]
    fn an_exec_failure_is_the_spawns_error_and_leaves_no_child() {
        let mut launcher = Launcher::new().unwrap();
        let argv = [CString::new("nothing").unwrap()];
        let e = launcher
            .spawn(&request(c"/nonexistent/nothing", &argv, &[]))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        // Reaped already: this thread has no child left, not even a
        // zombie (the list is this thread's own, so other tests' children
        // do not show).
        let children = std::fs::read_to_string("/proc/thread-self/children").unwrap();
        assert_eq!(children.trim(), "");
    }

    #[test]
    fn a_capture_pipe_is_non_blocking_for_us_and_blocking_for_the_job() {
        let (read, write) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        // The job prints the status flags of its standard output (octal).
        let argv = [
            CString::new("sh").unwrap(),
            CString::new("-c").unwrap(),
            CString::new("grep ^flags /proc/self/fdinfo/1").unwrap(),
        ];
        let mut launcher = Launcher::new().unwrap();
        let mut req = request(c"/bin/sh", &argv, &[]);
        req.stdout = Stdio::BlockingPipe(std::os::fd::AsRawFd::as_raw_fd(&write));
        let (_, pidfd) = launcher.spawn(&req).unwrap();
        drop(write);
        assert_eq!(exit_code(&pidfd), Some(0));
        let mut buf = [0u8; 256];
        let n = rustix::io::read(&read, &mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let flags = u32::from_str_radix(text.trim().trim_start_matches("flags:").trim(), 8).unwrap();
        assert_eq!(flags & libc::O_NONBLOCK as u32, 0, "{text}");
        // Ours is still non-blocking: nothing left to read is EAGAIN, not a wait.
        let mut more = [0u8; 16];
        assert!(matches!(
            rustix::io::read(&read, &mut more),
            Ok(0) | Err(rustix::io::Errno::AGAIN)
        ));
        let ours = rustix::fs::fcntl_getfl(&read).unwrap();
        assert!(ours.contains(OFlags::NONBLOCK));
    }
}
