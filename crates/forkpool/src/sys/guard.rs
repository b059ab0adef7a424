//! The guardian's body, and the cheap way to start it: a process that
//! shares our memory (`clone` with `CLONE_VM`, no `exec`).
//!
//! What the guardian does is in `guardian.rs`: when its owner dies, stop
//! every process group in a shared table and every process whose
//! environment carries the owner's marker. This module holds that work
//! ([`watch`]) written so that it runs in a process sharing the owner's
//! memory: raw system calls only (rustix's own, which touch no `errno`),
//! no allocation, no lock, no thread-local, no panic, on a stack of its
//! own. That is what `posix_spawn`'s child does between `clone` and
//! `exec`, and why it is sound in a threaded owner too.
//!
//! Why share memory instead of `fork`ing: a `fork` copies the owner's page
//! tables and makes every page either process writes afterwards a private
//! copy, on both sides: for the command-line tool that is about a
//! millisecond of CPU for a run of one job, more than the job itself.
//! `clone(CLONE_VM)` costs what starting a thread costs. When the owner
//! dies, the kernel keeps the memory for the guardian, which still holds
//! it, until the guardian has finished and exits.
//!
//! The exec'd guardian (see `guardian.rs`) runs the same [`watch`].

use std::ffi::{CStr, c_int, c_void};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{CWD, Mode, OFlags, RawDir};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

/// How long children get between `SIGTERM` and `SIGKILL`, in rounds of
/// [`ROUND`]: 200 ms.
const ROUNDS: u32 = 20;
const ROUND: rustix::thread::Timespec = rustix::thread::Timespec {
    tv_sec: 0,
    tv_nsec: 10_000_000,
};

/// Written on the control socket before it is closed: a normal shutdown.
/// End of stream without it means the owner died.
pub(crate) const GOODBYE: u8 = b'.';

/// The longest marker (`NAME=pid`) a shared-memory guardian takes.
const MARKER_MAX: usize = 64;

/// The stack of a shared-memory guardian: its frames hold two 4 KiB
/// buffers at most; the rest is margin. One guard page below it.
const STACK: usize = 128 * 1024;

/// Watches `parent` until it says goodbye on `control` (returns 0) or dies
/// (stops its children, see [`clean_up`], and returns 0 too). Runs in a
/// guardian, never in the owner.
pub(crate) fn watch(table: &[AtomicI32], control: BorrowedFd<'_>, parent: Pid, marker: &[u8]) -> i32 {
    // If the parent is already gone (it may die while we start up), that
    // is exactly when the cleaning is needed.
    let Ok(parent_fd) = rustix::process::pidfd_open(parent, PidfdFlags::empty()) else {
        return clean_up(table, marker);
    };
    if rustix::process::getppid() != Some(parent) {
        return clean_up(table, marker);
    }
    loop {
        let mut fds = [
            PollFd::new(&parent_fd, PollFlags::IN),
            PollFd::new(&control, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return 1,
        }
        let [parent_ready, control_ready] = fds.map(|fd| !fd.revents().is_empty());
        if parent_ready {
            return clean_up(table, marker);
        }
        if control_ready {
            // A goodbye is a normal shutdown. End of stream without one is
            // the owner dying: its descriptors close before its pidfd
            // reports the death, so this can come first.
            let mut byte = [0u8; 1];
            match rustix::io::read(control, &mut byte) {
                Ok(1) if byte == [GOODBYE] => return 0,
                Err(Errno::INTR | Errno::AGAIN) => {}
                _ => return clean_up(table, marker),
            }
        }
    }
}

/// Stops every child of the dead owner: the registered process groups,
/// and any process whose environment carries `marker` (found again each
/// round: a child caught mid-spawn shows its marker once its exec has
/// finished). `SIGTERM`, up to 200 ms for them to go, then `SIGKILL`.
fn clean_up(table: &[AtomicI32], marker: &[u8]) -> i32 {
    let registered = || {
        table
            .iter()
            .filter_map(|slot| Pid::from_raw(slot.load(Ordering::SeqCst)))
    };
    for group in registered() {
        let _ = rustix::process::kill_process_group(group, Signal::TERM);
    }
    let mut seen = Seen::default();
    for round in 0..=ROUNDS {
        for_each_marked(marker, |pid| {
            if seen.insert(pid) {
                stop(pid, Signal::TERM);
            }
        });
        let alive = |group: Pid| rustix::process::test_kill_process_group(group).is_ok();
        if round == ROUNDS || !(registered().any(alive) || seen.pids().any(alive)) {
            break;
        }
        let _ = rustix::thread::nanosleep(&ROUND);
    }
    for group in registered().chain(seen.pids()) {
        stop(group, Signal::KILL);
    }
    // The ones `seen` had no room for.
    for_each_marked(marker, |pid| stop(pid, Signal::KILL));
    0
}

/// `signal` to `pid`'s process group and to `pid` itself (a job in its
/// owner's group, for the terminal, has no group of its own).
fn stop(pid: Pid, signal: Signal) {
    let _ = rustix::process::kill_process_group(pid, signal);
    let _ = rustix::process::kill_process(pid, signal);
}

/// Marked processes already signalled, in a fixed array (no allocation).
/// Past its size, a process is signalled again each round: harmless.
struct Seen {
    pids: [i32; 256],
    len: usize,
}

impl Default for Seen {
    fn default() -> Seen {
        Seen { pids: [0; 256], len: 0 }
    }
}

impl Seen {
    /// Whether `pid` is new (then remembered if there is room).
    fn insert(&mut self, pid: Pid) -> bool {
        let raw = pid.as_raw_pid();
        if self.pids().any(|p| p == pid) {
            return false;
        }
        if let Some(free) = self.pids.get_mut(self.len) {
            *free = raw;
            self.len += 1;
        }
        true
    }

    fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.pids.iter().take(self.len).filter_map(|&p| Pid::from_raw(p))
    }
}

/// Calls `found` with every process but us whose environment holds
/// `marker` as one whole variable.
fn for_each_marked(marker: &[u8], mut found: impl FnMut(Pid)) {
    let Some(proc) = open_directory(c"/proc") else {
        return;
    };
    let me = rustix::process::getpid();
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(&proc, &mut buf);
    while let Some(entry) = entries.next() {
        let Ok(entry) = entry else { return };
        let name = entry.file_name().to_bytes();
        let Some(pid) = parse_pid(name) else { continue };
        if pid != me && environ_holds(proc.as_fd(), name, marker) {
            found(pid);
        }
    }
}

/// A directory, to list with [`RawDir`].
fn open_directory(path: &CStr) -> Option<rustix::fd::OwnedFd> {
    rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// A decimal pid (`/proc`'s numeric entries), without allocating.
fn parse_pid(name: &[u8]) -> Option<Pid> {
    if name.is_empty() {
        return None;
    }
    let mut value: i32 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
    }
    Pid::from_raw(value)
}

/// Whether `/proc/<pid>/environ` holds `marker` as one variable.
fn environ_holds(proc: BorrowedFd<'_>, pid: &[u8], marker: &[u8]) -> bool {
    // "<pid>/environ\0", relative to /proc.
    let mut path = [0u8; 32];
    let suffix = b"/environ\0";
    let Some(total) = pid.len().checked_add(suffix.len()).filter(|&n| n <= path.len()) else {
        return false;
    };
    let (head, tail) = path.split_at_mut(pid.len());
    head.copy_from_slice(pid);
    if let Some(rest) = tail.get_mut(..suffix.len()) {
        rest.copy_from_slice(suffix);
    }
    let Some(Ok(path)) = path.get(..total).map(CStr::from_bytes_with_nul) else {
        return false;
    };
    let Ok(environ) = rustix::fs::openat(proc, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return false;
    };
    let mut matcher = Matcher::new(marker);
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&environ, &mut buf) {
            Ok(0) => return matcher.finish(),
            Ok(n) => {
                if buf.get(..n).is_some_and(|bytes| matcher.feed(bytes)) {
                    return true;
                }
            }
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}

/// Finds one whole NUL-separated variable equal to the marker in a stream
/// of bytes, fed in pieces.
struct Matcher<'m> {
    marker: &'m [u8],
    /// Bytes of the marker matched at the start of the current variable;
    /// `None` once it differs.
    matched: Option<usize>,
}

impl<'m> Matcher<'m> {
    fn new(marker: &'m [u8]) -> Matcher<'m> {
        Matcher {
            marker,
            matched: Some(0),
        }
    }

    /// Feeds bytes; true once a whole variable matched.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if b == 0 {
                if self.finish() {
                    return true;
                }
                self.matched = Some(0);
            } else {
                self.matched = match self.matched {
                    Some(k) if self.marker.get(k) == Some(&b) => Some(k + 1),
                    _ => None,
                };
            }
        }
        false
    }

    /// At the end of a variable (or of the stream): whether it matched.
    fn finish(&self) -> bool {
        !self.marker.is_empty() && self.matched == Some(self.marker.len())
    }
}

/// What a shared-memory guardian reads, at the bottom of its stack
/// mapping: written before the `clone`, never touched by us afterwards.
struct Orders {
    table: *const AtomicI32,
    len: usize,
    control: RawFd,
    parent: Pid,
    marker: [u8; MARKER_MAX],
    marker_len: usize,
    /// The kernel has `close_range` (asked here, where a failure is
    /// harmless: in the guardian it would set our thread's `errno`).
    close_range: bool,
}

/// A guardian process that shares our memory. Dropping it waits for it to
/// exit (say goodbye on its control socket first), then frees its stack.
#[derive(Debug)]
pub(crate) struct SharedGuardian {
    pid: Pid,
    stack: *mut c_void,
    reaped: bool,
}

// SAFETY: the stack pointer is only used by `Drop`, to unmap the mapping
// this value owns; nothing else refers to it from this process.
unsafe impl Send for SharedGuardian {}
// SAFETY: `&SharedGuardian` gives access to the pid only.
unsafe impl Sync for SharedGuardian {}

impl SharedGuardian {
    /// Starts a guardian sharing our memory that watches `parent` (us)
    /// through `control` (its end of its control socket: it keeps its
    /// own copy, ours closes when this returns) and cleans up after it with
    /// `table` and `marker`.
    ///
    /// `table` must stay mapped for as long as the guardian runs: until
    /// this value is dropped, or forever if we die first (the kernel keeps
    /// our memory for the guardian then).
    ///
    /// Also returns a pidfd of the guardian, made by the `clone` itself
    /// (`CLONE_PIDFD`: no system call more), which becomes readable when
    /// the guardian exits: how its owner notices that it died.
    pub(crate) fn start(
        table: &[AtomicI32],
        control: rustix::fd::OwnedFd,
        parent: Pid,
        marker: &[u8],
    ) -> io::Result<(SharedGuardian, rustix::fd::OwnedFd)> {
        // Above the standard descriptors, which the guardian replaces.
        let control = if std::os::fd::AsRawFd::as_raw_fd(&control) < 3 {
            rustix::io::fcntl_dupfd_cloexec(&control, 3)?
        } else {
            control
        };
        let mut orders = Orders {
            table: table.as_ptr(),
            len: table.len(),
            control: std::os::fd::AsRawFd::as_raw_fd(&control),
            parent,
            marker: [0; MARKER_MAX],
            marker_len: marker.len(),
            close_range: has_close_range(),
        };
        orders
            .marker
            .get_mut(..marker.len())
            .ok_or_else(|| io::Error::other("guardian marker too long"))?
            .copy_from_slice(marker);
        let page = rustix::param::page_size();
        // SAFETY: a fresh anonymous mapping, placed by the kernel; nothing
        // else refers to it.
        let stack = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                STACK,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::STACK,
            )?
        };
        let mut guardian = SharedGuardian {
            pid: rustix::process::getpid(),
            stack,
            reaped: true, // nothing to wait for until the clone succeeds
        };
        // SAFETY: the lowest page of our own mapping becomes a guard page:
        // a stack overflow in the guardian faults instead of writing below.
        unsafe { rustix::mm::mprotect(stack, page, rustix::mm::MprotectFlags::empty())? };
        let orders_at = stack.cast::<u8>().wrapping_add(page).cast::<Orders>();
        // SAFETY: the second page of the mapping is writable, page-aligned
        // (so aligned for Orders) and large enough (Orders is < 200 bytes);
        // only the guardian reads it afterwards, and it stays mapped until
        // the guardian has been reaped (Drop).
        unsafe { orders_at.write(orders) };
        let top = stack.cast::<u8>().wrapping_add(STACK).cast::<c_void>();
        let mut pidfd: c_int = -1;
        let pidfd_at: *mut c_int = &mut pidfd;
        // Born on our CPU, the guardian stays there (see `on_this_cpu`).
        let pid = on_this_cpu(|| {
            with_signals_blocked(|| {
                // SAFETY: the child runs `guardian_main` on its own stack (the
                // mapping's top, 16-byte aligned as a page boundary) and shares
                // our memory; `guardian_main` keeps to what that allows (raw
                // system calls, its stack, the orders and the table: see the
                // module docs). It starts with every signal blocked, so none of
                // our handlers runs in it. No CLONE_FILES: its descriptors are
                // its own copies. CLONE_PIDFD stores a new close-on-exec pidfd
                // (in our table, not in the child's copy) at `pidfd_at`, the
                // `parent_tid` argument; `tls` and `child_tid` are unused
                // without their flags.
                unsafe {
                    libc::clone(
                        guardian_main,
                        top,
                        libc::CLONE_VM | libc::CLONE_PIDFD | libc::SIGCHLD,
                        orders_at.cast(),
                        pidfd_at,
                        std::ptr::null_mut::<c_void>(),
                        std::ptr::null_mut::<c_int>(),
                    )
                }
            })
        });
        if pid == -1 {
            return Err(io::Error::last_os_error());
        }
        guardian.pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("clone returned an invalid pid"))?;
        guardian.reaped = false;
        drop(control);
        let pidfd = if pidfd >= 0 {
            // SAFETY: the kernel opened this descriptor for us (CLONE_PIDFD)
            // and nothing else owns it.
            unsafe { <rustix::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd) }
        } else {
            // A kernel that ignored the flag: our unreaped child's pid is
            // still its own.
            match rustix::process::pidfd_open(guardian.pid, PidfdFlags::empty()) {
                Ok(fd) => fd,
                Err(e) => {
                    // Without a way to watch it, it must not run: it would
                    // wait for a goodbye that our caller never sends.
                    let _ = rustix::process::kill_process(guardian.pid, Signal::KILL);
                    return Err(e.into());
                }
            }
        };
        Ok((guardian, pidfd))
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }
}

impl Drop for SharedGuardian {
    fn drop(&mut self) {
        if !self.reaped {
            // Until it is reaped, or (ECHILD) reaped by someone else, or
            // auto-reaped under SIGCHLD=SIG_IGN: either way it has exited
            // and no longer uses the stack.
            while let Err(Errno::INTR) = rustix::process::waitpid(Some(self.pid), rustix::process::WaitOptions::empty())
            {
            }
        }
        // SAFETY: our mapping, of this size; the guardian has exited (or
        // never started), so nothing uses it any more.
        let _ = unsafe { rustix::mm::munmap(self.stack, STACK) };
    }
}

/// Runs `f` with this thread held to the CPU it is on, so that a process
/// cloned inside is born there and stays there (it inherits that one-CPU
/// affinity; ours is given back after).
///
/// Why: the guardian sleeps all run long and is woken once, to say
/// goodbye, while we wait for it to exit. On another CPU that is two
/// cross-CPU wake-ups (costly in a virtual machine, where an idle CPU must
/// be woken by the hypervisor); on ours it is two context switches. Its
/// CPU does not matter otherwise: it only runs when we end or die.
fn on_this_cpu<T>(f: impl FnOnce() -> T) -> T {
    let Ok(previous) = rustix::thread::sched_getaffinity(None) else {
        return f();
    };
    let mut here = rustix::thread::CpuSet::new();
    here.set(rustix::thread::sched_getcpu());
    let pinned = rustix::thread::sched_setaffinity(None, &here).is_ok();
    let result = f();
    if pinned {
        let _ = rustix::thread::sched_setaffinity(None, &previous);
    }
    result
}

/// Runs `f` with every signal blocked in this thread, so that a process
/// cloned inside starts with them blocked.
pub(crate) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set we own; pthread_sigmask
    // changes only this thread's mask and stores the previous one in `old`.
    let blocked = unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr()) == 0
    };
    let result = f();
    if blocked {
        // SAFETY: `old` was filled by the successful call above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
    }
    result
}

/// The shared-memory guardian's entry point (on its own stack).
extern "C" fn guardian_main(orders: *mut c_void) -> c_int {
    // SAFETY: `SharedGuardian::start` wrote the orders there before the
    // clone and leaves them alone until we have exited.
    let orders = unsafe { &*orders.cast::<Orders>() };
    // SAFETY: the table outlives us (`SharedGuardian::start`'s contract):
    // `len` atomics from `table`.
    let table = unsafe { std::slice::from_raw_parts(orders.table, orders.len) };
    settle(orders.control, orders.close_range);
    // SAFETY: `settle` kept this descriptor open, and nothing else in this
    // process closes it.
    let control = unsafe { BorrowedFd::borrow_raw(orders.control) };
    let marker = orders.marker.get(..orders.marker_len).unwrap_or(&[]);
    watch(table, control, orders.parent, marker)
}

/// What an `exec` would have given the guardian: stdin and stdout on
/// `/dev/null` (stderr stays), no descriptor of the owner's but `keep`
/// (the owner's pipes must see their end when the owner closes them), a
/// process group of its own (a Ctrl-C meant for the owner must not reach
/// it), and a name `ps` shows.
fn settle(keep: RawFd, close_range: bool) {
    if let Ok(null) = rustix::fs::openat(CWD, c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    if close_range {
        // Around `keep` (which is above 2).
        let keep = keep as libc::c_uint;
        for (first, last) in [(3, keep.wrapping_sub(1)), (keep.wrapping_add(1), libc::c_uint::MAX)] {
            if first <= last {
                // SAFETY: this process's copies of the owner's descriptors,
                // which nothing in this process uses (the guardian's code
                // uses `keep` and what it opens itself). close_range takes
                // integers only, and cannot fail here (the kernel has it,
                // the range is ordered, no flags), so libc's wrapper does
                // not touch `errno`.
                unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
            }
        }
    } else {
        close_listed(keep);
    }
    let _ = rustix::process::setpgid(None, None);
    let _ = rustix::thread::set_name(c"forkpool-guardi");
}

/// Closes every descriptor above 2 but `keep`, as listed in
/// `/proc/self/fd`, for kernels before 5.9 (no `close_range`).
fn close_listed(keep: RawFd) {
    // Closing while listing is fine: each read of the directory lists the
    // table as it is then.
    let Some(fds) = open_directory(c"/proc/self/fd") else {
        return;
    };
    let listing = std::os::fd::AsRawFd::as_raw_fd(&fds);
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(&fds, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let fd = parse_pid(entry.file_name().to_bytes()).map(Pid::as_raw_pid);
        if let Some(fd) = fd.filter(|&fd| fd > 2 && fd != keep && fd != listing) {
            // SAFETY: as in `settle`.
            unsafe { rustix::io::close(fd) };
        }
    }
}

/// Whether the kernel has `close_range` (Linux 5.9). Asked once, by
/// closing nothing: no descriptor has the highest number.
fn has_close_range() -> bool {
    use std::sync::atomic::AtomicU8;
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let max = libc::c_uint::MAX;
            // SAFETY: the range holds no open descriptor (the kernel caps
            // descriptor numbers far below it), so nothing is closed.
            let known = unsafe { libc::syscall(libc::SYS_close_range, max, max, 0 as libc::c_uint) } == 0;
            KNOWN.store(if known { 1 } else { 2 }, Ordering::Relaxed);
            known
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_finds_whole_variables_across_pieces() {
        let marker = b"FORKPOOL_SUPERVISOR=42";
        let env = b"A=1\0FORKPOOL_SUPERVISOR=421\0XFORKPOOL_SUPERVISOR=42\0FORKPOOL_SUPERVISOR=42\0B=2\0";
        for cut in 0..env.len() {
            let mut m = Matcher::new(marker);
            let (a, b) = env.split_at(cut);
            assert!(m.feed(a) || m.feed(b), "cut at {cut}");
        }
        let mut m = Matcher::new(marker);
        assert!(!m.feed(b"A=1\0FORKPOOL_SUPERVISOR=421\0FORKPOOL_SUPERVISOR=4\0"));
        assert!(!m.finish());
        let mut m = Matcher::new(marker);
        assert!(!m.feed(b"A=1\0FORKPOOL_SUPERVISOR=42"));
        assert!(m.finish(), "the last variable needs no NUL");
    }

    #[test]
    fn parses_pids() {
        assert_eq!(parse_pid(b"1234").map(Pid::as_raw_pid), Some(1234));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"0"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }

    #[test]
    fn seen_remembers_what_fits() {
        let mut seen = Seen::default();
        let pid = |n| Pid::from_raw(n).unwrap();
        assert!(seen.insert(pid(7)));
        assert!(!seen.insert(pid(7)));
        for n in 100..400 {
            seen.insert(pid(n));
        }
        assert_eq!(seen.pids().count(), 256);
        assert!(seen.insert(pid(1000)), "no room: signalled again");
    }
}
