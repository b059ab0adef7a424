//! SIGTERM and SIGINT as a counter, for `Node::run`.
//!
//! The handler does one async-signal-safe thing: it increments an atomic
//! counter. The node's threads look at the counter between blocking calls
//! (each of which waits a bounded time), so nothing else happens in the
//! handler. The previous actions are saved and put back when the guard is
//! dropped, so a program that had its own handlers gets them back when
//! `run` returns.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

/// Stop signals received since the handlers were installed.
static RECEIVED: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_stop(_signal: libc::c_int) {
    // A lock-free atomic add is async-signal-safe.
    RECEIVED.fetch_add(1, Ordering::SeqCst);
}

/// The installed handlers; dropping this restores the previous ones.
#[derive(Debug)]
pub(crate) struct StopSignals {
    previous: Vec<(i32, libc::sigaction)>,
}

// `libc::sigaction` holds plain integers and a handler address.
// SAFETY: nothing in it is tied to the thread that saved it.
unsafe impl Send for StopSignals {}

impl StopSignals {
    /// Counts `signals` from now on, instead of their previous actions.
    pub(crate) fn install(signals: &[i32]) -> io::Result<StopSignals> {
        RECEIVED.store(0, Ordering::SeqCst);
        let mut guard = StopSignals { previous: Vec::new() };
        for &signal in signals {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
            // value; the handler has the right type and only performs an
            // atomic add. `old` is a valid place for the previous action.
            // SA_RESTART keeps the program's other blocking calls from
            // failing with EINTR.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) != 0 {
                    return Err(io::Error::last_os_error());
                }
                guard.previous.push((signal, old));
            }
        }
        Ok(guard)
    }

    /// How many of the signals arrived since `install`.
    pub(crate) fn received(&self) -> u32 {
        RECEIVED.load(Ordering::SeqCst)
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for (signal, old) in self.previous.drain(..).rev() {
            // SAFETY: `old` is the action `sigaction` reported for this
            // signal when we replaced it, so putting it back is valid.
            unsafe {
                libc::sigaction(signal, &old, std::ptr::null_mut());
            }
        }
    }
}
