//! Starting a job with `posix_spawnp`, with every signal disposition a
//! fresh process expects.
//!
//! Why not `std::process::Command`: std asks `posix_spawn` to reset only
//! `SIGPIPE` to its default. When glibc cannot use `clone3` with
//! `CLONE_CLEAR_SIGHAND`, its child-side code sets glibc's two internal
//! signals (32 and 33) to `SIG_IGN` before the `exec`, and an ignored
//! signal stays ignored across `exec`: every job would start with them
//! ignored, which `xargs` and shells never do. Listing them in the
//! spawn's "signals to default" set is the only way to undo that, and
//! glibc's `sigaddset` refuses them, so the set is built here by hand.
//!
//! glibc's `posix_spawn` runs the child on the parent's memory until it
//! execs (`CLONE_VFORK`): no page tables are copied, which is what makes a
//! job start cheaper than `fork` + `exec`.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;

use rustix::process::Pid;

/// Where one of the child's standard descriptors comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdio {
    /// Ours, unchanged.
    Inherit,
    /// `/dev/null`.
    Null,
    /// This descriptor of ours (the child gets a copy without `CLOEXEC`).
    Fd(RawFd),
    /// The write end of one of our pipes, created non-blocking (so that
    /// our read end is): the child gets a copy without `CLOEXEC`, made
    /// blocking first, as a program expects its output to be. (The two
    /// ends of a pipe have a status each: ours stays non-blocking.)
    BlockingPipe(RawFd),
}

/// What to start.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// Looked up in our `PATH` when it has no `/`.
    pub(crate) program: &'a CStr,
    pub(crate) argv: &'a [CString],
    pub(crate) envp: &'a [&'a CStr],
    pub(crate) stdin: Stdio,
    pub(crate) stdout: Stdio,
    pub(crate) stderr: Stdio,
    /// More descriptors to hand down: each `(ours, theirs)` pair gives the
    /// child a copy of `ours` (without `CLOEXEC`) at number `theirs`. No
    /// `ours` may be another pair's `theirs` (the copies are made in
    /// order).
    pub(crate) extra: &'a [(RawFd, RawFd)],
    /// A new process group of its own (else it stays in ours).
    pub(crate) own_group: bool,
    /// Its niceness, set before it runs a single instruction of the
    /// program (`posix_spawn` has no attribute for it: there, right after
    /// the start). Lowering it needs a privilege; without one the child
    /// keeps ours.
    pub(crate) nice: Option<i32>,
}

/// Signals reset to their default action in the child: `SIGPIPE` (Rust
/// programs ignore it) and glibc's internal 32 and 33 (see the module
/// docs). Others the user's environment ignores (`nohup`'s `SIGHUP`) stay
/// ignored, as through a shell.
const TO_DEFAULT: [libc::c_int; 3] = [libc::SIGPIPE, 32, 33];

/// Owns a `posix_spawn_file_actions_t`.
struct FileActions(MaybeUninit<libc::posix_spawn_file_actions_t>);

impl FileActions {
    fn new() -> io::Result<FileActions> {
        let mut actions = FileActions(MaybeUninit::uninit());
        // SAFETY: init writes a valid empty object into the storage we own.
        check(unsafe { libc::posix_spawn_file_actions_init(actions.0.as_mut_ptr()) })?;
        Ok(actions)
    }

    fn apply(&mut self, stdio: Stdio, target: RawFd) -> io::Result<()> {
        const DEV_NULL: &CStr = c"/dev/null";
        match stdio {
            Stdio::Inherit => Ok(()),
            Stdio::Null => {
                let flags = if target == 0 { libc::O_RDONLY } else { libc::O_WRONLY };
                // SAFETY: the object was initialised in `new`; glibc copies
                // the path, which is a valid C string anyway.
                check(unsafe {
                    libc::posix_spawn_file_actions_addopen(self.0.as_mut_ptr(), target, DEV_NULL.as_ptr(), flags, 0)
                })
            }
            // SAFETY: the object was initialised in `new`; the descriptor
            // is only read by the child, which dup2s it (clearing
            // CLOEXEC on the copy, even when `fd == target`).
            Stdio::Fd(fd) => check(unsafe { libc::posix_spawn_file_actions_adddup2(self.0.as_mut_ptr(), fd, target) }),
            Stdio::BlockingPipe(fd) => {
                // SAFETY: a descriptor the caller keeps open for the spawn.
                let pipe = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                // The write end's own status, which only writers see; the
                // child's copy shares it.
                rustix::fs::fcntl_setfl(pipe, rustix::fs::OFlags::empty())?;
                self.apply(Stdio::Fd(fd), target)
            }
        }
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (a FileActions exists only then).
        unsafe { libc::posix_spawn_file_actions_destroy(self.0.as_mut_ptr()) };
    }
}

/// Owns a `posix_spawnattr_t`.
struct Attributes(MaybeUninit<libc::posix_spawnattr_t>);

impl Attributes {
    fn new(own_group: bool) -> io::Result<Attributes> {
        let mut attrs = Attributes(MaybeUninit::uninit());
        // SAFETY: init writes a valid default object into our storage.
        check(unsafe { libc::posix_spawnattr_init(attrs.0.as_mut_ptr()) })?;
        let empty = signal_set(&[]);
        let defaults = signal_set(&TO_DEFAULT);
        let mut flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        if own_group {
            flags |= libc::POSIX_SPAWN_SETPGROUP;
        }
        // SAFETY: the object is initialised; the sets are valid sigset_t
        // values that glibc copies; process group 0 means "a new group
        // named after the child".
        unsafe {
            check(libc::posix_spawnattr_setsigmask(attrs.0.as_mut_ptr(), &empty))?;
            check(libc::posix_spawnattr_setsigdefault(attrs.0.as_mut_ptr(), &defaults))?;
            check(libc::posix_spawnattr_setpgroup(attrs.0.as_mut_ptr(), 0))?;
            check(libc::posix_spawnattr_setflags(
                attrs.0.as_mut_ptr(),
                flags as libc::c_short,
            ))?;
        }
        Ok(attrs)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`.
        unsafe { libc::posix_spawnattr_destroy(self.0.as_mut_ptr()) };
    }
}

/// A signal set holding exactly `signals`, built bit by bit because
/// glibc's `sigaddset` rejects its internal signals.
fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    const WORD_BITS: usize = libc::c_ulong::BITS as usize;
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    let words = size_of::<libc::sigset_t>() / size_of::<libc::c_ulong>();
    let base = set.as_mut_ptr().cast::<libc::c_ulong>();
    for &signal in signals {
        let bit = (signal - 1) as usize;
        if signal < 1 || bit / WORD_BITS >= words {
            continue;
        }
        // SAFETY: on Linux a sigset_t is an array of unsigned longs with
        // signal `n` at bit `n - 1` (the kernel's layout, which glibc's
        // __sigismember reads); `bit / WORD_BITS` is within the array, and
        // the zeroed storage is a valid (empty) set.
        unsafe { *base.add(bit / WORD_BITS) |= 1 << (bit % WORD_BITS) };
    }
    // SAFETY: zeroed, then only bits set: a valid sigset_t.
    unsafe { set.assume_init() }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        -1 => Err(io::Error::last_os_error()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Starts the program (in a new process group of its own, unless the
/// request says otherwise). Errors of the
/// `exec` itself (`ENOENT`, `EACCES`, `ENOEXEC`, `E2BIG`...) are returned
/// here, as glibc reports them.
pub(crate) fn spawn(request: &Request<'_>) -> io::Result<Pid> {
    let mut actions = FileActions::new()?;
    actions.apply(request.stdin, 0)?;
    actions.apply(request.stdout, 1)?;
    actions.apply(request.stderr, 2)?;
    for &(fd, target) in request.extra {
        actions.apply(Stdio::Fd(fd), target)?;
    }
    let attrs = Attributes::new(request.own_group)?;
    let argv: Vec<*mut libc::c_char> = request
        .argv
        .iter()
        .map(|a| a.as_ptr().cast_mut())
        .chain(std::iter::once(ptr::null_mut()))
        .collect();
    let envp: Vec<*mut libc::c_char> = request
        .envp
        .iter()
        .map(|e| e.as_ptr().cast_mut())
        .chain(std::iter::once(ptr::null_mut()))
        .collect();
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: the program name, and
    // the NULL-terminated argv and envp arrays whose strings are borrowed
    // from `request` and outlive the call; the actions and attributes are
    // initialised. glibc does not write through argv or envp (the `*mut`
    // is only the C prototype's spelling).
    check(unsafe {
        libc::posix_spawnp(
            &mut pid,
            request.program.as_ptr(),
            actions.0.as_ptr(),
            attrs.0.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    })?;
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("posix_spawn returned no pid"))?;
    if let Some(nice) = request.nice {
        // No attribute for it: as soon as it runs (see `Request::nice`).
        let _ = rustix::process::setpriority_process(Some(pid), nice);
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_sets_hold_exactly_the_signals_given() {
        let set = signal_set(&[1, 13, 32, 33, 64]);
        for signal in 1..=64 {
            // SAFETY: sigismember only reads the set; glibc answers for
            // its internal signals too.
            let member = unsafe { libc::sigismember(&set, signal) };
            let expected = [1, 13, 64].contains(&signal);
            if signal != 32 && signal != 33 {
                assert_eq!(member == 1, expected, "signal {signal}");
            }
        }
        // glibc hides 32 and 33 from sigismember; read the bits directly.
        // SAFETY: a sigset_t starts with an unsigned long on Linux.
        let first = unsafe { *ptr::from_ref(&set).cast::<libc::c_ulong>() };
        assert_eq!(first & (0b11 << 31), 0b11 << 31);
    }
}
