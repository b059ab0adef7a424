//! `--round-robin`: at most one job per job slot, each started once, and
//! the blocks dealt to whichever of them can take one.
//!
//! One thread, the *dealer*, reads the blocks and owns the write end of
//! every job's stdin, non-blocking. For each block it asks for a new job
//! while fewer than the slots are running (the first blocks start the
//! jobs, one each); then it gives the block to the next job, in turn, that
//! has written out its last one, and while none has, it waits (`poll`)
//! until a pipe has room and writes on. So a slow job holds one block at
//! most, and memory holds a block per job.
//!
//! With `-k` the blocks go round in turn instead, whatever the jobs'
//! speed: block k to job k, k + n, k + 2n, ... (n jobs), the dealer
//! waiting while the job whose turn it is still holds its last block.
//! That is what `man parallel` promises ("the jobslots will get the same
//! blocks as input in the same order in every run") and what GNU parallel
//! does: with `-k` it leaves the jobs' stdin blocking, so each block is
//! written whole before the next is read, and its queue of jobs, sorted
//! by sequence number, turns by one per block (`round_robin_write`). Not
//! when the slots fell and there are more jobs than slots: a job's turn
//! could then wait on one that only starts once another ends.
//!
//! As in GNU parallel, whose jobs all start before the first block, every
//! slot gets its job even when the input ends first: those jobs read
//! end-of-file at once, and as in GNU (which passes over a job that was
//! sent nothing), the run leaves them out of its output and joblog (their
//! exit status still counts, as there). (`parsort` counts on it: each of its jobs feeds a named pipe
//! that a `sort` waits on.)
//!
//! Jobs are asked for through a channel read by the job source; the run
//! loop starts them and hands their pipe over with [`Claim::attach`]. A
//! job that is never started (the run stopped first) drops its claim, and
//! the dealer stops waiting for it. A job that exits early loses the block
//! it was given (GNU parallel's behaviour too).
//!
//! How many jobs: one per job slot of the run, which with `-S` is the
//! total of the hosts' slots (each host's `N/` or CPUs, `-j` applied per
//! host), as in GNU parallel. Those are known only once the hosts are set
//! up, so the dealer may start without a count: it deals nothing until
//! the run tells it ([`Shared::set_slots`]). The count may fall later (a
//! host goes down): the jobs already asked for then outnumber the slots,
//! and one of them may only start once another ends. So the dealer never
//! waits for a job to start once there are more jobs than slots, and at
//! the end of the input it closes each job's pipe as soon as the job has
//! its last block, not once every job has started: a job that starts late
//! still gets what it was dealt, then end-of-file.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use rustix::io::Errno;

use super::cutter::Cutter;
use super::separator::Separator;

/// A job's seat at the dealer's table (see `claim`).
pub(crate) type Claim = super::claim::Claim<Shared>;

#[derive(Debug)]
enum Note {
    Attached(u64, OwnedFd, Arc<AtomicU64>),
    Gone(u64),
    /// The run's job slots are now known, or changed.
    Slots(usize),
}

/// What the jobs tell the dealer.
#[derive(Debug)]
pub(crate) struct Shared {
    notes: Mutex<Vec<Note>>,
    /// Wakes the dealer from `poll`.
    wake: OwnedFd,
}

impl Shared {
    fn post(&self, note: Note) {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner).push(note);
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

impl super::claim::Table for Shared {
    fn attach(&self, seq: u64, fd: OwnedFd, sent: Arc<AtomicU64>) {
        self.post(Note::Attached(seq, fd, sent));
    }

    fn gone(&self, seq: u64) {
        self.post(Note::Gone(seq));
    }
}

impl Shared {
    /// Tells the dealer how many job slots the run has (with `-S`, once
    /// the hosts are set up, and again when that changes). With none (every
    /// host is gone) it stops dealing.
    pub(crate) fn set_slots(&self, slots: usize) {
        self.post(Note::Slots(slots));
    }
}

/// What the job source gets from the dealer.
pub(crate) type Request = io::Result<Arc<Claim>>;

/// Starts the dealer over `cutter`'s blocks, for `slots` jobs at once
/// (`None`: not known yet; the run tells it with [`Shared::set_slots`]),
/// dealing `in_turn` (`-k`) or to whichever job is free.
/// Returns the channel on which it asks for jobs, which closes when all of
/// the input is dealt and written, and the handle that tells it the slots.
pub(crate) fn start(
    cutter: Cutter<Box<dyn Read + Send>>,
    header: Arc<[u8]>,
    remove: Option<Separator>,
    slots: Option<usize>,
    in_turn: bool,
) -> io::Result<(Receiver<Request>, Arc<Shared>)> {
    let wake = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
    let shared = Arc::new(Shared {
        notes: Mutex::new(Vec::new()),
        wake,
    });
    let (requests, receiver) = sync_channel(0);
    let dealer = Dealer {
        shared: shared.clone(),
        requests,
        header,
        remove,
        slots,
        seats: Vec::new(),
        next_seq: 1,
        turn: 0,
        in_turn,
    };
    std::thread::Builder::new()
        .name("forkpool-dealer".into())
        .spawn(move || dealer.run(cutter))?;
    Ok((receiver, shared))
}

/// One job at the table.
#[derive(Debug)]
struct Seat {
    seq: u64,
    /// `None` until the job has started.
    fd: Option<OwnedFd>,
    sent: Option<Arc<AtomicU64>>,
    /// What is still to be written to it.
    pending: Vec<u8>,
    written: usize,
}

impl Seat {
    fn busy(&self) -> bool {
        self.written < self.pending.len()
    }
}

struct Dealer {
    shared: Arc<Shared>,
    requests: SyncSender<Request>,
    header: Arc<[u8]>,
    remove: Option<Separator>,
    /// The run's job slots; `None` until known.
    slots: Option<usize>,
    seats: Vec<Seat>,
    next_seq: u64,
    /// Where the next turn starts.
    turn: usize,
    /// `-k`: each block goes to the next job in turn, waiting for it if it
    /// is still busy (see the module's docs).
    in_turn: bool,
}

impl Dealer {
    fn run(mut self, mut cutter: Cutter<Box<dyn Read + Send>>) {
        loop {
            match cutter.next_block() {
                Ok(Some(block)) => {
                    if !self.deal(block) {
                        // No more jobs (the run stopped): those running
                        // get the rest of what they were dealt, then
                        // end-of-file.
                        return self.finish();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = self.requests.send(Err(e));
                    return self.finish();
                }
            }
        }
        // The slots the input did not reach get their jobs too, with
        // nothing to read.
        let Some(slots) = self.known_slots() else { return };
        while self.issued() < slots {
            if !self.issue(Vec::new()) {
                return;
            }
        }
        self.finish();
    }

    /// Waits until the run's slots are known; `None` if there are none
    /// (every host is gone: the run stops).
    fn known_slots(&mut self) -> Option<usize> {
        loop {
            self.read_notes();
            match self.slots {
                Some(0) => return None,
                Some(n) => return Some(n),
                None => self.wait(),
            }
        }
    }

    /// Writes out what is left, then closes every pipe: end of input. Each
    /// job's pipe closes as soon as it has all it was dealt, so that it can
    /// end and make room for a job that has not started yet (which is
    /// waited for, so that its pipe is closed too).
    fn finish(mut self) {
        loop {
            self.read_notes();
            self.seats.retain(|s| s.fd.is_none() || s.busy());
            if self.seats.is_empty() {
                return;
            }
            self.wait();
        }
    }

    /// How many jobs were asked for.
    fn issued(&self) -> usize {
        usize::try_from(self.next_seq - 1).unwrap_or(usize::MAX)
    }

    /// Asks for a new job, which starts on `data`; false if the run is
    /// gone.
    fn issue(&mut self, data: Vec<u8>) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let claim = Arc::new(Claim::new(seq, self.shared.clone()));
        self.seats.push(Seat {
            seq,
            fd: None,
            sent: None,
            pending: data,
            written: 0,
        });
        self.requests.send(Ok(claim)).is_ok()
    }

    /// Gives `block` to a job; false if the run is gone.
    fn deal(&mut self, block: Vec<u8>) -> bool {
        loop {
            let Some(slots) = self.known_slots() else { return false };
            if self.seats.len() < slots {
                // A new job, with this block (and the header) to start on.
                let mut data = Vec::with_capacity(self.header.len() + block.len());
                data.extend_from_slice(&self.header);
                data.extend_from_slice(&block);
                let data = match &self.remove {
                    Some(separator) => separator.remove(&data),
                    None => data,
                };
                return self.issue(data);
            }
            let n = self.seats.len();
            // As in GNU parallel, whose jobs all start before the first
            // block, every job is running before the blocks go round (else
            // the first to start would get them all). Not when there are
            // more jobs than slots (the slots fell): one of them may only
            // start once another ends, at the end of the input.
            let starting = n <= slots && self.seats.iter().any(|s| s.fd.is_none());
            let free = if self.in_turn && n <= slots {
                // -k: the job whose turn it is, once it has taken its
                // last block.
                let i = self.turn % n;
                (!self.seats[i].busy()).then_some(i)
            } else {
                (0..n).map(|k| (self.turn + k) % n).find(|&i| !self.seats[i].busy())
            };
            if let (false, Some(i)) = (starting, free) {
                self.turn = i + 1;
                let data = match &self.remove {
                    Some(separator) => separator.remove(&block),
                    None => block,
                };
                self.seats[i].pending = data;
                self.seats[i].written = 0;
                self.write(i);
                return true;
            }
            self.wait();
        }
    }

    /// Takes in the jobs that started or were dropped; whether there were
    /// any.
    fn read_notes(&mut self) -> bool {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.shared.wake, &mut counter);
        let notes = std::mem::take(&mut *self.shared.notes.lock().unwrap_or_else(PoisonError::into_inner));
        let any = !notes.is_empty();
        for note in notes {
            match note {
                Note::Attached(seq, fd, sent) => {
                    if let Some(i) = self.seats.iter().position(|s| s.seq == seq) {
                        let _ = rustix::io::ioctl_fionbio(&fd, true);
                        self.seats[i].fd = Some(fd);
                        self.seats[i].sent = Some(sent);
                        self.write(i);
                    }
                }
                Note::Gone(seq) => {
                    if let Some(i) = self.seats.iter().position(|s| s.seq == seq) {
                        self.leave(i);
                    }
                }
                Note::Slots(n) => self.slots = Some(n),
            }
        }
        any
    }

    /// Writes what the pipe takes; a job that is gone leaves the table.
    fn write(&mut self, i: usize) {
        let seat = &mut self.seats[i];
        let Some(fd) = &seat.fd else { return };
        while seat.busy() {
            match rustix::io::write(fd, &seat.pending[seat.written..]) {
                Ok(n) => {
                    seat.written += n;
                    if let Some(sent) = &seat.sent {
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(_) => {
                    // The job closed its stdin (or exited): it is done.
                    self.leave(i);
                    return;
                }
            }
        }
        seat.pending = Vec::new();
        seat.written = 0;
    }

    /// Seat `i` leaves the table.
    fn leave(&mut self, i: usize) {
        self.seats.remove(i);
        if self.turn > i {
            self.turn -= 1;
        }
    }

    /// Waits until a busy job's pipe has room (and writes), or a note comes
    /// (the caller looks again: what it waited for may have happened).
    fn wait(&mut self) {
        if self.read_notes() {
            return;
        }
        let busy: Vec<usize> = (0..self.seats.len())
            .filter(|&i| self.seats[i].busy() && self.seats[i].fd.is_some())
            .collect();
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = busy
                .iter()
                .filter_map(|&i| self.seats[i].fd.as_ref())
                .map(|fd| PollFd::new(fd, PollFlags::OUT))
                .collect();
            fds.push(PollFd::new(&self.shared.wake, PollFlags::IN));
            match rustix::event::poll(&mut fds, None) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return,
            }
            fds.iter().map(|f| !f.revents().is_empty()).collect()
        };
        // Highest first: a job that is gone leaves the table.
        for (k, &i) in busy.iter().enumerate().rev() {
            if ready[k] {
                self.write(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_dealt_to_every_slot_and_a_dropped_claim_is_not_waited_for() {
        let separator = Separator::new(None, None, false).unwrap();
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(b"1\n2\n3\n4\n5\n6\n".to_vec()));
        let cutter = Cutter::new(input, separator, super::super::cutter::Rule::Records(1), 1 << 20);
        let (requests, _) = start(cutter, Arc::from(&b"h\n"[..]), None, Some(2), false).unwrap();
        let first = requests.recv().unwrap().unwrap();
        let second = requests.recv().unwrap().unwrap();
        // The second job never starts: its blocks must not hold the dealer.
        drop(second);
        let (read, write) = rustix::pipe::pipe().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        first.attach(write, sent.clone());
        let third = requests.recv();
        // A new job replaces the one that went; let it go too.
        if let Ok(Ok(claim)) = third {
            drop(claim);
        }
        while requests.recv().is_ok() {}
        let mut got = Vec::new();
        let mut file = std::fs::File::from(read);
        file.read_to_end(&mut got).unwrap();
        let text = String::from_utf8(got).unwrap();
        assert!(text.starts_with("h\n1\n"), "{text:?}");
        assert_eq!(text.matches("h\n").count(), 1, "the header comes once per job");
        assert_eq!(sent.load(Ordering::Relaxed), text.len() as u64);
    }

    /// Reads `read` to its end on a thread; the text, or a failure if the
    /// pipe is not closed in time (the dealer would have hung the run).
    fn read_all(read: OwnedFd) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let _ = std::fs::File::from(read).read_to_end(&mut got);
            let _ = tx.send(got);
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the job's input is closed");
        String::from_utf8(got).unwrap()
    }

    #[test]
    fn in_turn_each_job_gets_every_nth_block_however_slowly_it_reads() {
        // Records bigger than a pipe holds: the first job's is not written
        // out until it reads, which it does only after the second job has
        // read all it could. In turn (-k), it still gets the third block.
        let separator = Separator::new(None, None, false).unwrap();
        let input: Vec<u8> = b"abcd"
            .iter()
            .flat_map(|&c| std::iter::repeat_n(c, 100_000).chain([b'\n']))
            .collect();
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(input));
        let cutter = Cutter::new(input, separator, super::super::cutter::Rule::Records(1), 1 << 20);
        let (requests, _) = start(cutter, Arc::from(&b""[..]), None, Some(2), true).unwrap();
        let first = requests.recv().unwrap().unwrap();
        let second = requests.recv().unwrap().unwrap();
        let (read1, write1) = rustix::pipe::pipe().unwrap();
        let (read2, write2) = rustix::pipe::pipe().unwrap();
        first.attach(write1, Arc::new(AtomicU64::new(0)));
        second.attach(write2, Arc::new(AtomicU64::new(0)));
        let two = std::thread::spawn(move || read_all(read2));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let one = read_all(read1);
        let two = two.join().unwrap();
        let firsts = |text: &str| text.lines().map(|l| &l[..1]).collect::<String>();
        assert_eq!((firsts(&one), firsts(&two)), ("ac".to_string(), "bd".to_string()));
        assert!(requests.recv().is_err(), "a job per slot, no more");
    }

    #[test]
    fn the_dealer_waits_for_the_slots_and_closes_input_when_they_fall() {
        let separator = Separator::new(None, None, false).unwrap();
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(b"1\n2\n3\n4\n5\n6\n".to_vec()));
        let cutter = Cutter::new(input, separator, super::super::cutter::Rule::Records(1), 1 << 20);
        let (requests, dealer) = start(cutter, Arc::from(&b""[..]), None, None, false).unwrap();
        // No job before the slots are known (the hosts being set up).
        assert!(requests.recv_timeout(std::time::Duration::from_millis(200)).is_err());
        dealer.set_slots(2);
        let first = requests.recv().unwrap().unwrap();
        let second = requests.recv().unwrap().unwrap();
        let (read1, write1) = rustix::pipe::pipe().unwrap();
        first.attach(write1, Arc::new(AtomicU64::new(0)));
        // A host went: the second job can only start once the first ends,
        // so the first must get end-of-file without the second started.
        dealer.set_slots(1);
        let one = read_all(read1);
        let (read2, write2) = rustix::pipe::pipe().unwrap();
        second.attach(write2, Arc::new(AtomicU64::new(0)));
        let two = read_all(read2);
        assert!(requests.recv().is_err(), "no more jobs than were asked for");
        let mut lines: Vec<u32> = one.lines().chain(two.lines()).map(|l| l.parse().unwrap()).collect();
        lines.sort_unstable();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6], "every record once: {one:?} {two:?}");
        assert!(!two.is_empty(), "the late job gets the block it was dealt");
    }
}
