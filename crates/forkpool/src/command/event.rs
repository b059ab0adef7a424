//! What [`Supervisor::wait`] reports: the [`Event`]s, the [`Stream`] an
//! output event came from, and the [`Waker`] that makes a waiting
//! supervisor return from another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use polling::Poller;

use super::JobId;
// For the docs' links.
#[cfg(doc)]
use super::Supervisor;
use crate::guardian;
use crate::sys::exit::ExitReason;

/// Which output stream an [`Event::Output`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A job wrote to a captured stream.
    Output {
        /// The job.
        job: JobId,
        /// Which stream.
        stream: Stream,
        /// What it wrote (at most 64 KiB per event).
        data: Vec<u8>,
    },
    /// A job ended and was reaped. Every `Output` event of the job comes
    /// before this one.
    Exited {
        /// The job.
        job: JobId,
        /// How its first process ended.
        reason: ExitReason,
        /// From spawn to exit.
        runtime: Duration,
    },
    /// A signal passed to [`Supervisor::watch_signals`] arrived.
    Signal {
        /// Its number.
        signal: i32,
    },
    /// A [`Waker`] of this supervisor was woken (once, however many times
    /// it was woken since the last `Woken`).
    Woken,
    /// The guardian (see the module docs) keeps dying or cannot be started
    /// again, so for now a `SIGKILL` of this process would leave the jobs
    /// running. The supervisor goes on starting it again, with a delay
    /// that grows to 1 s, for as long as it runs; the jobs themselves are
    /// not affected. Said once per lapse; [`Event::Guarded`] follows when
    /// a guardian has run for a second again.
    Unguarded {
        /// Why, in words (`its guardian process cannot be started again:
        /// Resource temporarily unavailable`).
        reason: String,
    },
    /// A guardian has run for a second again after [`Event::Unguarded`].
    Guarded,
}

/// Wakes a [`Supervisor`] blocked in [`wait`](Supervisor::wait) from
/// another thread: `wait` returns with [`Event::Woken`]. For a thread
/// that produces work (reads input, say) while the supervisor's thread
/// waits on jobs.
///
/// ```no_run
/// use forkpool::command::{Event, Supervisor};
///
/// let mut supervisor = Supervisor::new()?;
/// supervisor.watch_signals(&[libc::SIGINT])?; // so that `wait` has something to wait on
/// let waker = supervisor.waker();
/// std::thread::spawn(move || waker.wake());
/// let mut events = Vec::new();
/// supervisor.wait(None, &mut events)?;
/// assert!(events.contains(&Event::Woken));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Waker {
    pub(super) poller: Arc<Poller>,
    pub(super) woken: Arc<AtomicBool>,
}

impl Waker {
    /// Makes the supervisor's current or next `wait` return.
    pub fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        // Fails only if the poller is gone, and then nobody waits.
        let _ = self.poller.notify();
    }
}

impl From<guardian::News> for Event {
    fn from(news: guardian::News) -> Event {
        match news {
            guardian::News::Unguarded(reason) => Event::Unguarded { reason },
            guardian::News::Guarded => Event::Guarded,
        }
    }
}
