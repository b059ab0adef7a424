//! The status page a worker shares with the supervisor.
//!
//! The worker stamps each item as it starts and ends it; the supervisor
//! reads the stamps to enforce timeouts and, after the worker dies, to learn
//! exactly which item was running. The page survives the worker's death
//! because the supervisor keeps its own mapping, so no syscall is needed per
//! item and nothing is lost when a worker is killed mid-task.
//!
//! Layout (all atomics; only the worker writes, except where noted):
//! - word 0: items started since the worker began; its top bits are marks
//!   the supervisor sets while that number is current: `DOOMED` when it
//!   kills the worker for the running item (see [`StatusPage::doom`]),
//!   `RECALLED` when it takes back the jobs queued behind it (see
//!   [`StatusPage::recall`])
//! - word 1: items completed (result encoded)
//! - word 2: coarse monotonic time (ns) the last item started; in a
//!   streaming task, the last of the stream's items (see
//!   [`StatusPage::stamp`]), or `u64::MAX` while the stream waits for its
//!   consumer
//! - word 3: flags (`FLAG_OUT_OF_MEMORY`, `FLAG_PANICKED`, `FLAG_RETIRED`)
//! - word 4: length of the panic message in the text area
//! - word 5: abandoned jobs posted so far (written by the supervisor)
//! - word 6: with `RECALLED`, the last job id recalled (supervisor)
//! - words 7..11: task output accounting, when the worker's stdout and
//!   stderr are pipes to the supervisor (see `OutputCounters`): a sequence
//!   number the supervisor makes odd while it reads a pipe (7), the bytes
//!   it has read from each (8, 9; supervisor), and the output marks the
//!   worker has sent that moved the position (10; worker)
//! - words 11, 12: lengths of the panic's location and backtrace in the
//!   text area, which holds location, message and backtrace in that order
//! - words 16..272: a ring of the last 256 abandoned job ids (as many as a
//!   worker may hold; supervisor):
//!   jobs whose results nobody wants, whose items not yet started the
//!   worker skips (see [`StatusPage::abandon`])

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

use crate::ipc::panic::PanicReport;
use crate::sys::page::{SharedPage, TEXT_SIZE};

const STARTED: usize = 0;
const COMPLETED: usize = 1;
const STARTED_AT: usize = 2;
const FLAGS: usize = 3;
const PANIC_LEN: usize = 4;
const ABANDONED_COUNT: usize = 5;
const RECALLED_UP_TO: usize = 6;
const OUT_SEQ: usize = 7;
const OUT_READ: usize = 8;
const OUT_MARKS: usize = 10;
const PANIC_LOCATION_LEN: usize = 11;
const PANIC_BACKTRACE_LEN: usize = 12;
const RING: usize = 16;
const RING_LEN: u64 = 256;

/// Top bit of the `STARTED` word: the supervisor is killing the worker for
/// the item that word counts, so no further item may start.
const DOOMED: u64 = 1 << 63;
/// Next bit of the `STARTED` word: the supervisor took back the jobs queued
/// behind the item that word counts (up to the job id in word 6), so the
/// worker skips them and starts nothing until it has seen that.
const RECALLED: u64 = 1 << 62;
const MARKS: u64 = DOOMED | RECALLED;

/// The `STARTED_AT` stamp of a stream waiting for its consumer: as far
/// in the future as can be, so no timeout ever counts from it.
const PAUSED: u64 = u64::MAX;

/// What became of an attempt to start an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    /// It started.
    Started,
    /// The worker is being killed for the previous item: start nothing.
    Doomed,
    /// The supervisor took back the jobs up to this id (this item's job
    /// among them): skip them. The mark is cleared.
    Recalled(u64),
}

/// The worker aborted right after an allocation failed (`ENOMEM`).
pub(crate) const FLAG_OUT_OF_MEMORY: u64 = 1;
/// The running item panicked; the message is in the text area. Matters
/// when panics abort (`panic = "abort"`), where no result record follows.
pub(crate) const FLAG_PANICKED: u64 = 2;
/// The worker left between items on purpose (`max_tasks_per_worker`,
/// `recycle_above`, its CPU allowance): what it still held is nobody's
/// fault.
pub(crate) const FLAG_RETIRED: u64 = 4;

/// Now, on the coarse monotonic clock (a few ns to read; millisecond
/// resolution), in nanoseconds. Both sides of the page use this clock.
pub(crate) fn coarse_now_ns() -> u64 {
    nanos(rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse))
}

/// The coarse clock's tick. A duration measured between two readings of
/// it may be over-estimated by up to this much, so a timeout is declared
/// only once the measured time exceeds the limit by a tick: late by at
/// most two ticks, never early.
pub(crate) fn coarse_resolution() -> std::time::Duration {
    std::time::Duration::from_nanos(nanos(rustix::time::clock_getres(
        rustix::time::ClockId::MonotonicCoarse,
    )))
}

/// The largest `n <= at` that is a char boundary of `text`.
fn char_floor(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn nanos(t: rustix::time::Timespec) -> u64 {
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
    /// What the panic hook recorded, when `FLAG_PANICKED` is set.
    pub(crate) panic: Option<PanicReport>,
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

    /// Stamps the start of `worker_init` (no item has started yet): the
    /// supervisor bounds it by the task timeout from here, not from the
    /// worker's spawn, which in exec mode includes `preload`.
    pub(crate) fn begin_init(&self, now_ns: u64) {
        self.page.words()[STARTED_AT].store(now_ns.max(1), Ordering::Release);
    }

    /// Marks item number `n` (counting from 1 over the worker's life) as
    /// started at `now_ns`. Returns false, and starts nothing, if the
    /// supervisor has doomed the worker for item `n - 1`: it ran past its
    /// timeout and the kill is on its way. Starting `n` regardless would
    /// let that kill land on an item that did nothing wrong.
    #[must_use]
    pub(crate) fn begin(&self, n: u64, now_ns: u64) -> Begin {
        let w = self.page.words();
        w[STARTED_AT].store(now_ns, Ordering::Relaxed);
        let previous = n.wrapping_sub(1);
        match w[STARTED].compare_exchange(previous, n, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Begin::Started,
            Err(current) if current & DOOMED != 0 => Begin::Doomed,
            Err(current) if current & RECALLED != 0 => {
                let up_to = w[RECALLED_UP_TO].load(Ordering::Acquire);
                // Clear the mark; only a doom can come in between.
                match w[STARTED].compare_exchange(current, previous, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => Begin::Recalled(up_to),
                    Err(_) => Begin::Doomed,
                }
            }
            // Only the worker writes the count: a scribbled page.
            Err(_) => Begin::Doomed,
        }
    }

    /// Whether the supervisor doomed the running item (it is killing the
    /// worker for it: a timeout in its grace, an abort).
    pub(crate) fn is_doomed(&self) -> bool {
        self.page.words()[STARTED].load(Ordering::Acquire) & DOOMED != 0
    }

    /// Stamps the start of the next item of the streaming task that is
    /// running, at `now_ns`: the task is one item for the ledger, but
    /// `task_timeout` bounds the time each of its items takes.
    pub(crate) fn stamp(&self, now_ns: u64) {
        self.page.words()[STARTED_AT].store(now_ns, Ordering::Release);
    }

    /// The running stream waits for its consumer (for credit): no item is
    /// being made, so none can time out. The next [`stamp`](Self::stamp)
    /// ends the pause.
    pub(crate) fn pause(&self) {
        self.page.words()[STARTED_AT].store(PAUSED, Ordering::Release);
    }

    /// Marks item number `n` as completed.
    pub(crate) fn end(&self, n: u64) {
        self.page.words()[COMPLETED].store(n, Ordering::Release);
    }

    /// Records that the worker could not find memory for the next item's
    /// input: item `n` is marked started, so that it is the one blamed
    /// (with `MemoryLimitExceeded`) when the worker exits.
    pub(crate) fn out_of_memory_before(&self, n: u64, now_ns: u64) {
        if self.begin(n, now_ns) == Begin::Started {
            self.page.words()[FLAGS].fetch_or(FLAG_OUT_OF_MEMORY, Ordering::Release);
        }
    }

    /// Whether job `job` has been abandoned. `seen` caches the answer for
    /// the job being run: call with `None` at its start; while nothing new
    /// was posted this is one relaxed load.
    pub(crate) fn is_abandoned(&self, job: u64, seen: &mut Option<(u64, bool)>) -> bool {
        let w = self.page.words();
        let posted = w[ABANDONED_COUNT].load(Ordering::Relaxed);
        if let Some((count, answer)) = *seen
            && count == posted
        {
            return answer;
        }
        let posted = w[ABANDONED_COUNT].load(Ordering::Acquire);
        let answer = (0..posted.min(RING_LEN)).any(|i| w[RING + i as usize].load(Ordering::Relaxed) == job);
        *seen = Some((posted, answer));
        answer
    }

    /// Marks the worker as leaving between items on purpose.
    pub(crate) fn retire(&self) {
        self.page.words()[FLAGS].fetch_or(FLAG_RETIRED, Ordering::Release);
    }

    /// The flags word, for the `SIGABRT` handler.
    pub(crate) fn flags_word(&self) -> &std::sync::atomic::AtomicU64 {
        &self.page.words()[FLAGS]
    }

    /// Records a panic (location, message and backtrace, cut to fit the
    /// page, in that order of priority) and sets `FLAG_PANICKED`.
    pub(crate) fn record_panic(&self, report: &PanicReport) {
        let text = self.page.text();
        let mut at = 0;
        let mut put = |piece: &str, room: usize| -> usize {
            let len = char_floor(piece, piece.len().min(room).min(TEXT_SIZE - at));
            for (slot, byte) in text[at..].iter().zip(&piece.as_bytes()[..len]) {
                slot.store(*byte, Ordering::Relaxed);
            }
            at += len;
            len
        };
        let location = put(report.location.as_deref().unwrap_or(""), TEXT_SIZE / 4);
        let message = put(&report.message, TEXT_SIZE);
        let backtrace = put(report.backtrace.as_deref().unwrap_or(""), TEXT_SIZE);
        let w = self.page.words();
        w[PANIC_LOCATION_LEN].store(location as u64, Ordering::Relaxed);
        w[PANIC_LEN].store(message as u64, Ordering::Relaxed);
        w[PANIC_BACKTRACE_LEN].store(backtrace as u64, Ordering::Relaxed);
        w[FLAGS].fetch_or(FLAG_PANICKED, Ordering::Release);
    }

    /// Clears `FLAG_PANICKED` (the panic was caught and reported normally).
    pub(crate) fn clear_panic(&self) {
        self.page.words()[FLAGS].fetch_and(!FLAG_PANICKED, Ordering::Release);
    }

    /// Clears a `FLAG_PANICKED` left by a panic that was caught (by the
    /// task itself) before the next item starts; returns whether there was
    /// one. A plain load when clear.
    pub(crate) fn clear_stale_panic(&self) -> bool {
        let stale = self.page.words()[FLAGS].load(Ordering::Relaxed) & FLAG_PANICKED != 0;
        if stale {
            self.clear_panic();
        }
        stale
    }

    /// Where the worker's output pipes stand: for each (stdout, stderr),
    /// every byte ever written to it, read or not. `unread` gives the bytes
    /// still in each pipe (`FIONREAD`); the supervisor's read counts give
    /// the rest. A sequence lock makes the two agree: the supervisor keeps
    /// the sequence odd while a read is under way, and a reading taken
    /// across a change is taken again. Reads are short and never block, so
    /// the wait is too.
    pub(crate) fn output_position(&self, mut unread: impl FnMut() -> [u64; 2]) -> [u64; 2] {
        let w = self.page.words();
        let mut tries = 0u32;
        loop {
            let before = w[OUT_SEQ].load(Ordering::SeqCst);
            if before & 1 == 0 {
                let pipes = unread();
                let read = [
                    w[OUT_READ].load(Ordering::SeqCst),
                    w[OUT_READ + 1].load(Ordering::SeqCst),
                ];
                if w[OUT_SEQ].load(Ordering::SeqCst) == before {
                    return [read[0].wrapping_add(pipes[0]), read[1].wrapping_add(pipes[1])];
                }
            }
            tries += 1;
            if tries < 64 {
                std::hint::spin_loop();
            } else if tries < 128 {
                std::thread::yield_now();
            } else {
                // The supervisor thread lost its CPU mid-read.
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }

    /// Counts an output mark that moved the position, before it is sent:
    /// the supervisor blames nothing on the running item while such a mark
    /// is on its way (see `output_marks`).
    pub(crate) fn count_output_mark(&self) {
        self.page.words()[OUT_MARKS].fetch_add(1, Ordering::Release);
    }

    // -------------------------------------------- supervisor side --

    /// Opens a read of one of the worker's output pipes (see
    /// `output_position`); [`output_read_end`](Self::output_read_end)
    /// closes it.
    pub(crate) fn output_read_begin(&self) {
        self.page.words()[OUT_SEQ].fetch_add(1, Ordering::SeqCst);
    }

    /// Closes a read that took `bytes` from pipe `stream` (0 stdout, 1
    /// stderr).
    pub(crate) fn output_read_end(&self, stream: usize, bytes: u64) {
        let w = self.page.words();
        w[OUT_READ + stream.min(1)].fetch_add(bytes, Ordering::SeqCst);
        w[OUT_SEQ].fetch_add(1, Ordering::SeqCst);
    }

    /// Output marks the worker has counted (`count_output_mark`).
    pub(crate) fn output_marks(&self) -> u64 {
        self.page.words()[OUT_MARKS].load(Ordering::Acquire)
    }

    /// Posts job `job` as abandoned: the worker skips its items that have
    /// not started. Only the last 256 posts are kept; an older job the
    /// worker has not reached yet simply runs.
    pub(crate) fn abandon(&self, job: u64) {
        let w = self.page.words();
        let posted = w[ABANDONED_COUNT].load(Ordering::Relaxed);
        w[RING + (posted % RING_LEN) as usize].store(job, Ordering::Relaxed);
        w[ABANDONED_COUNT].store(posted + 1, Ordering::Release);
    }

    /// Dooms the worker for item `started` (the running item in a
    /// snapshot): from now on it cannot start another item. Returns false
    /// if it already has, in which case the decision to kill it was made
    /// on stale news and must be reconsidered.
    pub(crate) fn doom(&self, started: u64) -> bool {
        let word = &self.page.words()[STARTED];
        let mut current = word.load(Ordering::Acquire);
        loop {
            if current & !MARKS != started || current & DOOMED != 0 {
                return false;
            }
            match word.compare_exchange(current, current | DOOMED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Takes back the jobs queued behind item `started` (the running item
    /// in a snapshot, the last of its job), up to job `up_to`: the worker
    /// will skip them. Returns false if the worker has started another
    /// item meanwhile (or has a recall or a doom pending): then nothing was
    /// taken.
    pub(crate) fn recall(&self, started: u64, up_to: u64) -> bool {
        let w = self.page.words();
        w[RECALLED_UP_TO].store(up_to, Ordering::Relaxed);
        w[STARTED]
            .compare_exchange(started, started | RECALLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Items the worker has started (the running one included), without
    /// the rest of a snapshot.
    pub(crate) fn started(&self) -> u64 {
        self.page.words()[STARTED].load(Ordering::Acquire) & !MARKS
    }

    /// Reads the page. The worker may be writing concurrently (or may have
    /// scribbled over the page); callers validate the numbers.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let w = self.page.words();
        let started = w[STARTED].load(Ordering::Acquire) & !MARKS;
        let completed = w[COMPLETED].load(Ordering::Acquire);
        let started_at_ns = w[STARTED_AT].load(Ordering::Relaxed);
        let flags = w[FLAGS].load(Ordering::Acquire);
        let panic = (flags & FLAG_PANICKED != 0).then(|| {
            let text = self.page.text();
            let mut at = 0;
            let mut take = |word: usize| {
                let len = (w[word].load(Ordering::Relaxed) as usize).min(TEXT_SIZE - at);
                let bytes: Vec<u8> = text[at..at + len].iter().map(|b| b.load(Ordering::Relaxed)).collect();
                at += len;
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let location = take(PANIC_LOCATION_LEN);
            let message = take(PANIC_LEN);
            let backtrace = take(PANIC_BACKTRACE_LEN);
            PanicReport {
                message,
                location: (!location.is_empty()).then_some(location),
                backtrace: (!backtrace.is_empty()).then_some(backtrace),
            }
        });
        Snapshot {
            started,
            completed,
            started_at_ns,
            flags,
            panic,
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
        assert_eq!(worker.begin(1, 500), Begin::Started);
        let s = sup.snapshot();
        assert!(s.running());
        assert_eq!((s.started, s.completed, s.started_at_ns), (1, 0, 500));
        worker.end(1);
        assert!(!sup.snapshot().running());
        let report = PanicReport {
            message: "boom".into(),
            location: Some("src/a.rs:1:2".into()),
            backtrace: Some("   0: f".into()),
        };
        worker.record_panic(&report);
        assert_eq!(sup.snapshot().panic, Some(report));
        worker.clear_panic();
        assert_eq!(sup.snapshot().panic, None);
    }

    #[test]
    fn a_stream_stamps_each_item_and_pauses_without_being_timed() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        assert_eq!(worker.begin(1, 100), Begin::Started);
        worker.stamp(250);
        let s = sup.snapshot();
        assert_eq!(
            (s.started, s.started_at_ns),
            (1, 250),
            "still one task, timed from its last item"
        );
        worker.pause();
        assert_eq!(coarse_now_ns().saturating_sub(sup.snapshot().started_at_ns), 0);
        worker.stamp(300);
        assert_eq!(sup.snapshot().started_at_ns, 300);
    }

    #[test]
    fn a_doomed_worker_cannot_start_another_item() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        assert_eq!(worker.begin(1, 0), Begin::Started);
        assert!(sup.doom(1));
        worker.end(1);
        assert_eq!(
            worker.begin(2, 0),
            Begin::Doomed,
            "the kill for item 1 must not land on item 2"
        );
        let s = sup.snapshot();
        assert_eq!((s.started, s.completed), (1, 1));
    }

    #[test]
    fn a_worker_that_moved_on_cannot_be_doomed_for_the_old_item() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        assert_eq!(worker.begin(1, 0), Begin::Started);
        worker.end(1);
        assert_eq!(worker.begin(2, 0), Begin::Started);
        assert!(!sup.doom(1));
        assert!(sup.doom(2));
    }

    #[test]
    fn recalled_jobs_are_skipped_once_and_only_if_nothing_started() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        assert_eq!(worker.begin(1, 0), Begin::Started);
        assert!(sup.recall(1, 9));
        assert!(!sup.recall(1, 9), "one recall at a time");
        assert_eq!(sup.snapshot().started, 1);
        worker.end(1);
        assert_eq!(worker.begin(2, 0), Begin::Recalled(9));
        // The mark is gone: the next item (of a job after 9) starts.
        assert_eq!(worker.begin(2, 0), Begin::Started);
        assert!(!sup.recall(1, 12), "too late: item 2 started");
    }

    #[test]
    fn a_doom_wins_over_a_pending_recall() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        assert_eq!(worker.begin(1, 0), Begin::Started);
        assert!(sup.recall(1, 3));
        assert!(sup.doom(1));
        assert_eq!(worker.begin(2, 0), Begin::Doomed);
    }

    #[test]
    fn the_worker_sees_abandoned_jobs() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        let mut seen = None;
        assert!(!worker.is_abandoned(7, &mut seen));
        sup.abandon(7);
        assert!(worker.is_abandoned(7, &mut seen), "a new post is noticed");
        let mut seen = None;
        assert!(!worker.is_abandoned(8, &mut seen));
        for job in 100..400 {
            sup.abandon(job);
        }
        assert!(worker.is_abandoned(399, &mut seen));
        assert!(worker.is_abandoned(144, &mut None));
        assert!(!worker.is_abandoned(7, &mut None), "only the last 256 are kept");
    }

    #[test]
    fn the_output_position_adds_what_was_read_to_what_is_left() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        assert_eq!(worker.output_position(|| [3, 4]), [3, 4]);
        sup.output_read_begin();
        sup.output_read_end(0, 10);
        sup.output_read_begin();
        sup.output_read_end(1, 5);
        assert_eq!(worker.output_position(|| [1, 0]), [11, 5]);
        // A read that starts while the worker looks makes it look again.
        let mut looks = 0;
        let position = worker.output_position(|| {
            looks += 1;
            if looks == 1 {
                sup.output_read_begin();
                sup.output_read_end(0, 1);
                [1, 0]
            } else {
                [0, 0]
            }
        });
        assert_eq!((position, looks), ([11, 5], 2));
        worker.count_output_mark();
        assert_eq!(sup.output_marks(), 1);
    }

    #[test]
    fn long_panic_messages_are_cut_on_a_char_boundary() {
        let (sup, fd) = StatusPage::create().unwrap();
        let worker = StatusPage::open(&fd).unwrap();
        worker.record_panic(&PanicReport {
            message: "é".repeat(TEXT_SIZE),
            location: Some("ü".repeat(TEXT_SIZE)),
            backtrace: Some("bt".into()),
        });
        let report = sup.snapshot().panic.unwrap();
        let location = report.location.unwrap();
        assert!(location.len() <= TEXT_SIZE / 4 && location.chars().all(|c| c == 'ü'));
        assert!(report.message.len() + location.len() <= TEXT_SIZE);
        assert!(report.message.len() > TEXT_SIZE / 2 && report.message.chars().all(|c| c == 'é'));
        assert_eq!(report.backtrace, None, "no room left for it");
    }
}
