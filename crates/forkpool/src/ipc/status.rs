//! The status page a worker shares with the supervisor.
//!
//! The worker stamps each item as it starts and ends it; the supervisor
//! reads the stamps to enforce timeouts and, after the worker dies, to learn
//! exactly which item was running. The page survives the worker's death
//! because the supervisor keeps its own mapping, so no syscall is needed per
//! item and nothing is lost when a worker is killed mid-task.
//!
//! Layout (all atomics; only the worker writes):
//! - word 0: items started since the worker began
//! - word 1: items completed (result encoded)
//! - word 2: coarse monotonic time (ns) the last item started
//! - word 3: flags (`FLAG_OUT_OF_MEMORY`, `FLAG_PANICKED`)
//! - word 4: length of the panic message in the text area

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

use crate::sys::page::{SharedPage, TEXT_SIZE};

const STARTED: usize = 0;
const COMPLETED: usize = 1;
const STARTED_AT: usize = 2;
const FLAGS: usize = 3;
const PANIC_LEN: usize = 4;

/// The worker aborted right after an allocation failed (`ENOMEM`).
pub(crate) const FLAG_OUT_OF_MEMORY: u64 = 1;
/// The running item panicked; the message is in the text area. Matters
/// when panics abort (`panic = "abort"`), where no result record follows.
pub(crate) const FLAG_PANICKED: u64 = 2;

/// Now, on the coarse monotonic clock (a few ns to read; millisecond
/// resolution), in nanoseconds. Both sides of the page use this clock.
pub(crate) fn coarse_now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// A worker's status page.
#[derive(Debug)]
pub(crate) struct StatusPage {
    page: SharedPage,
}

/// What the supervisor reads off a page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Snapshot {
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) started_at_ns: u64,
    pub(crate) flags: u64,
    pub(crate) panic_message: Option<String>,
}

impl Snapshot {
    /// True when an item had started and not completed.
    pub(crate) fn running(&self) -> bool {
        self.started > self.completed
    }
}

impl StatusPage {
    /// Creates a page; the descriptor goes to the worker.
    pub(crate) fn create() -> io::Result<(StatusPage, OwnedFd)> {
        let (page, fd) = SharedPage::create("forkpool-status")?;
        Ok((StatusPage { page }, fd))
    }

    /// Maps a page received from the supervisor.
    pub(crate) fn open(fd: &OwnedFd) -> io::Result<StatusPage> {
        Ok(StatusPage {
            page: SharedPage::open(fd)?,
        })
    }

    // ------------------------------------------------ worker side --

    /// Marks item number `n` (counting from 1 over the worker's life) as
    /// started at `now_ns`.
    pub(crate) fn begin(&self, n: u64, now_ns: u64) {
        let w = self.page.words();
        w[STARTED_AT].store(now_ns, Ordering::Relaxed);
        w[STARTED].store(n, Ordering::Release);
    }

    /// Marks item number `n` as completed.
    pub(crate) fn end(&self, n: u64) {
        self.page.words()[COMPLETED].store(n, Ordering::Release);
    }

    /// The flags word, for the `SIGABRT` handler.
    pub(crate) fn flags_word(&self) -> &std::sync::atomic::AtomicU64 {
        &self.page.words()[FLAGS]
    }

    /// Records a panic message (truncated to the page) and sets
    /// `FLAG_PANICKED`.
    pub(crate) fn record_panic(&self, message: &str) {
        let text = self.page.text();
        let mut len = message.len().min(TEXT_SIZE);
        while !message.is_char_boundary(len) {
            len -= 1;
        }
        for (slot, byte) in text.iter().zip(&message.as_bytes()[..len]) {
            slot.store(*byte, Ordering::Relaxed);
        }
        let w = self.page.words();
        w[PANIC_LEN].store(len as u64, Ordering::Relaxed);
        w[FLAGS].fetch_or(FLAG_PANICKED, Ordering::Release);
    }

    /// Clears `FLAG_PANICKED` (the panic was caught and reported normally).
    pub(crate) fn clear_panic(&self) {
        self.page.words()[FLAGS].fetch_and(!FLAG_PANICKED, Ordering::Release);
    }

    // -------------------------------------------- supervisor side --

    /// Reads the page. The worker may be writing concurrently (or may have
    /// scribbled over the page); callers validate the numbers.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let w = self.page.words();
        let started = w[STARTED].load(Ordering::Acquire);
        let completed = w[COMPLETED].load(Ordering::Acquire);
        let started_at_ns = w[STARTED_AT].load(Ordering::Relaxed);
        let flags = w[FLAGS].load(Ordering::Acquire);
        let panic_message = (flags & FLAG_PANICKED != 0).then(|| {
            let len = (w[PANIC_LEN].load(Ordering::Relaxed) as usize).min(TEXT_SIZE);
            let bytes: Vec<u8> = self.page.text()[..len]
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        });
        Snapshot {
            started,
            completed,
            started_at_ns,
            flags,
            panic_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supervisor_sees_what_the_worker_stamps() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        worker.begin(1, 500);
        let s = sup.snapshot();
        assert!(s.running());
        assert_eq!((s.started, s.completed, s.started_at_ns), (1, 0, 500));
        worker.end(1);
        assert!(!sup.snapshot().running());
        worker.record_panic("boom");
        assert_eq!(sup.snapshot().panic_message.as_deref(), Some("boom"));
        worker.clear_panic();
        assert_eq!(sup.snapshot().panic_message, None);
    }

    #[test]
    fn long_panic_messages_are_cut_on_a_char_boundary() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        worker.record_panic(&"é".repeat(TEXT_SIZE));
        let msg = sup.snapshot().panic_message.unwrap();
        assert!(msg.len() <= TEXT_SIZE && msg.chars().all(|c| c == 'é'));
    }
}
