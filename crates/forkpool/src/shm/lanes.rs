//! The lanes a process lends (large arguments and results), kept and
//! reused once their receivers are done with them.
//!
//! A large item is encoded straight into a lane (`spill.rs`), which is then
//! *lent*: sealed, its creator's mapping read-only, its descriptor sent
//! beside the frame. The receiver maps it, decodes, and lets go. Once no
//! receiver can read it any more the creator may write it again: the next
//! large item reuses its pages instead of paying for new ones. When that is
//! depends on the direction:
//!
//! - **Arguments** ([`Release::Unreferenced`]): the jobs that carry a lane
//!   hold it until their results are back. By then every worker that was
//!   sent it has decoded it (a worker decodes an argument before it runs
//!   the item, and the results come after), died (its mappings died with
//!   it), or skipped it unread (a recalled or abandoned job). So a lane is
//!   free again once nothing in this process refers to it but this pool.
//!   This also covers a job retried on another worker: it still holds the
//!   lane, unchanged, until the retry is over.
//! - **Results** ([`Release::Board`]): the client decodes a result whenever
//!   the task is joined, which the worker cannot see. So each lane has a
//!   *board*, a one-byte memfd sent beside it, which the creator sets when
//!   it lends the lane and the receiver clears (`pwrite`) once it has
//!   decoded the item.
//!
//! A lane whose receiver never says it is done (a result dropped without
//! being joined) is simply let go after [`UNCLAIMED_FOR`]: the memory then
//! lives as long as the receiver holds its descriptor, like any other
//! memfd.
//!
//! A process keeps at most [`MAX_KEPT`] lanes, and none that has been free
//! for [`KEEP_FOR`]: a pool that moved a large payload once does not hold
//! its size in memory for the rest of its life. (Free, not lent: a loan
//! can last longer than that on a busy machine, and a lane let go while
//! it was lent would make every large transfer pay for new pages.)

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::fs::SealFlags;

use crate::ipc::outbox::Attachment;
use crate::sys::lane::Lane;
use crate::sys::memfd;

/// The most lanes a process keeps, lent or idle.
pub(crate) const MAX_KEPT: usize = 4;
/// How long a lane is kept once it is free (every receiver done with it).
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(10);
/// How long a result lane whose receiver never said it is done (a result
/// dropped without being joined) is waited for.
pub(crate) const UNCLAIMED_FOR: Duration = Duration::from_secs(60);
/// How often lanes in use are looked at again, to see when they are free.
const RECHECK: Duration = Duration::from_secs(1);

/// The name lanes carry in `/proc/PID/fd` (not a path).
const LANE_NAME: &std::ffi::CStr = c"forkpool-lane";
/// The name boards carry in `/proc/PID/fd`.
const BOARD_NAME: &std::ffi::CStr = c"forkpool-board";

/// A board's byte while its lane is lent...
const LENT: u8 = 1;
/// ...and once the receiver is done.
const DONE: u8 = 0;

/// When a lent lane may be written again; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Once nothing in this process refers to it but the pool (arguments).
    Unreferenced,
    /// Once, besides, its receiver cleared its board (results).
    Board,
}

/// The lanes of one process (or one pool); see the module docs.
#[derive(Debug)]
pub(crate) struct Lanes {
    release: Release,
    /// Whether lanes are kept at all (`false`: each is used once).
    keep: bool,
    kept: Mutex<Vec<Kept>>,
}

#[derive(Debug)]
struct Kept {
    lane: Arc<LaneAndBoard>,
    lent_at: Instant,
    /// When it was last seen in use (referred to, or its board set).
    busy_at: Instant,
}

/// What [`Kept::age`] found.
enum Age {
    /// Still in use: look again later.
    Busy,
    /// Free, for this long.
    Free(Duration),
    /// Past keeping.
    Done,
}

impl Kept {
    /// Whether it is free, and since when (updating `busy_at`).
    fn age(&mut self, release: Release, now: Instant) -> Age {
        let referenced = Arc::strong_count(&self.lane) > 1;
        let unclaimed = release == Release::Board && !self.lane.board.as_ref().is_some_and(Board::is_done);
        if referenced || (unclaimed && now.duration_since(self.lent_at) < UNCLAIMED_FOR) {
            self.busy_at = now;
            Age::Busy
        } else if unclaimed || now.duration_since(self.busy_at) >= KEEP_FOR {
            Age::Done
        } else {
            Age::Free(now.duration_since(self.busy_at))
        }
    }
}

/// A lane, with its board when it is released through one.
#[derive(Debug)]
pub(crate) struct LaneAndBoard {
    lane: Lane,
    board: Option<Board>,
}

impl AsFd for LaneAndBoard {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.lane.as_fd()
    }
}

/// The board of a lent lane, as an attachment of its own.
struct BoardOf(Arc<LaneAndBoard>);

impl AsFd for BoardOf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.0.board {
            Some(board) => board.fd.as_fd(),
            // Never built for a lane without a board.
            None => self.0.lane.as_fd(),
        }
    }
}

impl Lanes {
    /// Lanes released as `release` says, kept for reuse.
    pub(crate) fn new(release: Release) -> Lanes {
        Lanes {
            release,
            keep: true,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// Lanes used once each.
    pub(crate) fn unkept() -> Lanes {
        Lanes {
            release: Release::Unreferenced,
            keep: false,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// Whether lent lanes carry a board.
    pub(crate) fn boards(&self) -> bool {
        self.keep && self.release == Release::Board
    }

    /// A lane to write from byte 0, of at least `capacity` bytes: a kept
    /// one no receiver can read any more, or a new one.
    pub(crate) fn take(&self, capacity: usize) -> io::Result<Writing<'_>> {
        let reused = self.keep.then(|| self.reusable(capacity)).flatten();
        let lane = match reused {
            Some(mut lane) => {
                lane.lane.reclaim()?;
                lane
            }
            None => LaneAndBoard {
                lane: Lane::create(LANE_NAME, with_slack(capacity))?,
                board: self.boards().then(Board::create).transpose()?,
            },
        };
        Ok(Writing { lanes: self, lane })
    }

    /// The largest kept lane that is free again, if any is large enough,
    /// taken out of the pool (dropping kept lanes too old to keep).
    fn reusable(&self, capacity: usize) -> Option<LaneAndBoard> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let release = self.release;
        let mut ages = Vec::with_capacity(kept.len());
        kept.retain_mut(|k| {
            let age = k.age(release, now);
            let keep = !matches!(age, Age::Done);
            if keep {
                ages.push(age);
            }
            keep
        });
        let best = kept
            .iter()
            .zip(&ages)
            .enumerate()
            .filter(|(_, (k, age))| matches!(age, Age::Free(_)) && k.lane.lane.capacity() >= capacity)
            .map(|(i, (k, _))| (i, k.lane.lane.capacity()))
            .max_by_key(|&(_, capacity)| capacity)?
            .0;
        Arc::try_unwrap(kept.swap_remove(best).lane).ok()
    }

    /// Lets go of the lanes free for [`KEEP_FOR`] (or waiting for a
    /// receiver for [`UNCLAIMED_FOR`]); returns when to look again, if any
    /// is kept. The process calls it when it would
    /// otherwise sleep (the supervisor's timers, a worker waiting for its
    /// next job), so that a pool that moved a large payload once does not
    /// hold its size for the rest of its life.
    pub(crate) fn trim(&self, now: Instant) -> Option<Instant> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.is_empty() {
            return None;
        }
        let release = self.release;
        let mut due: Option<Instant> = None;
        kept.retain_mut(|k| {
            let at = match k.age(release, now) {
                Age::Done => return false,
                Age::Busy => now + RECHECK,
                Age::Free(for_) => now + (KEEP_FOR - for_),
            };
            due = Some(due.map_or(at, |d| d.min(at)));
            true
        });
        due
    }

    /// Keeps a lane just lent, letting go of the oldest past [`MAX_KEPT`].
    fn keep(&self, lane: Arc<LaneAndBoard>) {
        if !self.keep {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.push(Kept {
            lane,
            lent_at: Instant::now(),
            busy_at: Instant::now(),
        });
        if kept.len() > MAX_KEPT {
            kept.sort_by_key(|k| std::cmp::Reverse(k.lent_at));
            kept.truncate(MAX_KEPT);
        }
    }

    /// Puts back a lane written but not lent (its item failed, or moved
    /// to a larger lane), free at once.
    fn put_back(&self, lane: LaneAndBoard) {
        // Free now, so as good as just lent and done.
        self.keep(Arc::new(lane));
    }

    /// How many lanes are kept (tests).
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Capacity for an item of `len` bytes: a little more, so that a slightly
/// larger item next time still fits.
fn with_slack(len: usize) -> usize {
    len.saturating_add(len / 16)
}

/// A lane being written by this process alone.
#[derive(Debug)]
pub(crate) struct Writing<'a> {
    lanes: &'a Lanes,
    lane: LaneAndBoard,
}

impl Writing<'_> {
    /// Makes room for `len` bytes from byte 0, keeping the first `kept`:
    /// grows the lane, or moves them to a larger one.
    pub(crate) fn reserve(&mut self, len: usize, kept: usize) -> io::Result<()> {
        if len <= self.lane.lane.capacity() || self.lane.lane.grow(with_slack(len))? {
            return Ok(());
        }
        let mut larger = self.lanes.take(len)?;
        larger.lane.lane.write_at(0, &self.lane.lane.bytes()[..kept])?;
        let smaller = std::mem::replace(&mut self.lane, larger.lane);
        self.lanes.put_back(smaller);
        Ok(())
    }

    /// Copies `bytes` in at byte `at` (room made by `reserve`).
    pub(crate) fn write_at(&mut self, at: usize, bytes: &[u8]) -> io::Result<()> {
        self.lane.lane.write_at(at, bytes)
    }

    /// Lends the lane: the attachments to send beside the frame, the body
    /// first, then its board if it has one.
    pub(crate) fn lend(mut self) -> io::Result<Vec<Attachment>> {
        self.lane.lane.lend()?;
        if let Some(board) = &self.lane.board {
            board.set(LENT)?;
        }
        let lane = Arc::new(self.lane);
        let mut fds = vec![Attachment::new(lane.clone())];
        if lane.board.is_some() {
            fds.push(Attachment::new(Arc::new(BoardOf(lane.clone()))));
        }
        self.lanes.keep(lane);
        Ok(fds)
    }

    /// Gives the lane back unlent (its item failed).
    pub(crate) fn abandon(self) {
        self.lanes.put_back(self.lane);
    }
}

/// Where a receiver says it is done with a lane: a one-byte memfd.
#[derive(Debug)]
struct Board {
    fd: OwnedFd,
}

impl Board {
    fn create() -> io::Result<Board> {
        let fd = memfd::create(BOARD_NAME)?;
        rustix::fs::ftruncate(&fd, 1)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        Ok(Board { fd })
    }

    fn set(&self, value: u8) -> io::Result<()> {
        rustix::io::pwrite(&self.fd, &[value], 0)?;
        Ok(())
    }

    fn is_done(&self) -> bool {
        let mut byte = [LENT];
        rustix::io::pread(&self.fd, &mut byte, 0).is_ok_and(|n| n == 1) && byte[0] == DONE
    }
}

/// The receiver's side: tells the creator of a lane that this process is
/// done reading it. Only into a memfd whose size is sealed (so the write
/// can neither grow it nor land in any other kind of file); anything else
/// a confused peer sent is ignored.
pub(crate) fn say_done(board: &OwnedFd) {
    let sealed = rustix::fs::fcntl_get_seals(board).is_ok_and(|s| s.contains(SealFlags::SHRINK | SealFlags::GROW));
    if sealed {
        let _ = rustix::io::pwrite(board, &[DONE], 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(lanes: &Lanes, bytes: &[u8]) -> Vec<Attachment> {
        let mut w = lanes.take(bytes.len()).unwrap();
        w.reserve(bytes.len(), 0).unwrap();
        w.write_at(0, bytes).unwrap();
        w.lend().unwrap()
    }

    fn inode(fd: &Attachment) -> u64 {
        rustix::fs::fstat(fd).unwrap().st_ino
    }

    #[test]
    fn an_argument_lane_is_reused_once_nothing_refers_to_it() {
        let lanes = Lanes::new(Release::Unreferenced);
        let first = fill(&lanes, &[1; 10_000]);
        assert_eq!(first.len(), 1, "no board");
        let ino = inode(&first[0]);
        // Still referred to (a job holds it): a second item gets its own.
        let second = fill(&lanes, &[2; 10_000]);
        assert_ne!(inode(&second[0]), ino);
        drop(first);
        let third = fill(&lanes, &[3; 5_000]);
        assert_eq!(inode(&third[0]), ino, "reused");
        assert_eq!(lanes.kept(), 2);
    }

    #[test]
    fn a_result_lane_is_reused_once_its_receiver_is_done() {
        let lanes = Lanes::new(Release::Board);
        let sent = fill(&lanes, &[1; 100]);
        assert_eq!(sent.len(), 2, "with its board");
        let ino = inode(&sent[0]);
        // What the receiver holds: its own descriptors.
        let board = rustix::io::dup(&sent[1]).unwrap();
        drop(sent);
        assert_ne!(inode(&fill(&lanes, &[2; 100])[0]), ino, "not done yet");
        say_done(&board);
        assert_eq!(inode(&fill(&lanes, &[3; 100])[0]), ino, "reused");
    }

    #[test]
    fn lanes_grow_move_and_are_not_kept_for_ever() {
        let lanes = Lanes::new(Release::Unreferenced);
        drop(fill(&lanes, &[1; 4096]));
        // Too small, sealed: the bytes written so far move to a larger one.
        let mut w = lanes.take(1).unwrap();
        w.write_at(0, b"abc").unwrap();
        w.reserve(1 << 20, 3).unwrap();
        w.write_at(3, &[4; 1 << 20][3..]).unwrap();
        let fds = w.lend().unwrap();
        let received = memfd::Sealed::check_holding(rustix::io::dup(&fds[0]).unwrap(), 1 << 20).unwrap();
        assert_eq!(&received.map(false).unwrap().unwrap()[..4], b"abc\x04");
        for _ in 0..2 * MAX_KEPT {
            drop(fill(&lanes, &[5; 10]));
            let _held = fill(&lanes, &[6; 10]);
        }
        assert!(lanes.kept() <= MAX_KEPT);
        // Nothing is kept by an unkept pool.
        let once = Lanes::unkept();
        drop(fill(&once, &[1; 10]));
        assert_eq!(once.kept(), 0);
    }

    #[test]
    fn idle_lanes_are_let_go_after_a_while() {
        let lanes = Lanes::new(Release::Unreferenced);
        let now = Instant::now();
        assert_eq!(lanes.trim(now), None, "nothing kept, nothing due");
        drop(fill(&lanes, &[1; 100]));
        let due = lanes.trim(now).unwrap();
        assert!(due > now && due <= Instant::now() + KEEP_FOR);
        assert_eq!(lanes.kept(), 1, "not yet");
        assert_eq!(lanes.trim(due + Duration::from_millis(1)), None);
        assert_eq!(lanes.kept(), 0, "let go");
    }

    #[test]
    fn a_board_is_only_written_if_it_is_a_size_sealed_memfd() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        say_done(&w);
        let mut byte = [9u8];
        rustix::io::ioctl_fionbio(&r, true).unwrap();
        assert!(rustix::io::read(&r, &mut byte).is_err(), "nothing written to a pipe");
        let open = memfd::create(c"forkpool-test").unwrap();
        say_done(&open);
        assert_eq!(
            rustix::fs::fstat(&open).unwrap().st_size,
            0,
            "an unsealed file is left alone"
        );
    }
}
