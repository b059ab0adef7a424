//! Giving a started job its block.
//!
//! Every job reads from a pipe of its own. Before the job is spawned,
//! [`Runtime::prepare`] makes the pipe (its read end becomes the job's
//! stdin); once it runs, [`Launch::start`] starts filling it:
//! - a block in memory is written at once if the pipe takes it whole (the
//!   usual case for small blocks), otherwise by a thread of its own;
//! - part of a file is `splice`d from the file into the pipe by a thread
//!   of its own: zero-copy, and the jobs' parts are read in parallel;
//! - `--round-robin` and `--tee` hand the pipe to their one feeding thread.
//!
//! A writer blocks only its own job's pipe, so a job that does not read
//! its input stalls nothing else; when it exits, its writer gets `EPIPE`
//! (we ignore `SIGPIPE`) and stops, which is not an error: GNU parallel
//! also writes the block and moves on.
//!
//! `--cat` runs `cat > "$PARALLEL_TMP"` in front of the command, as GNU
//! parallel does; `--fifo` gives the job `/dev/null` for stdin and a thread
//! relays its pipe into the named pipe once the job opens it (and gives up
//! if the job ends without opening it).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use forkpool::command::Input;
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

use super::refill::pump;
use super::settings::{Settings, Sink};
use super::tmp::TempDir;
use super::{Block, FilePart, Stdin};
use crate::jobs::Job;

/// What `--cat` runs before the command.
const CAT_PREFIX: &[u8] = b"cat > \"$PARALLEL_TMP\"; ";

/// The most a single splice or write moves.
const STEP: usize = 1 << 20;

/// What every job of a `--pipe` run shares.
#[derive(Debug)]
pub(crate) struct Runtime {
    sink: Sink,
    /// Whether the joblog's Send column counts the input: as in GNU
    /// parallel, only for what `--pipe` itself writes (not `--pipepart`'s
    /// parts, nor `--tee`).
    count_sent: bool,
    tmp: Option<TempDir>,
    /// The size to give the jobs' pipes (0: the system's default).
    pipe_size: usize,
    /// `--round-robin`'s dealer, told the run's job slots.
    robin: Option<Arc<super::robin::Shared>>,
}

impl Runtime {
    /// `tmpdir` is where `--cat`'s and `--fifo`'s files go (`--tmpdir`).
    pub(crate) fn new(settings: &Settings, jobs: usize, block: u64, tmpdir: &Path) -> io::Result<Runtime> {
        let tmp = match settings.sink {
            Sink::Stdin => None,
            Sink::Cat | Sink::Fifo => Some(TempDir::create(tmpdir)?),
        };
        // Bigger pipes mean fewer switches between writer and job, but
        // every user may only have 64 MiB of them before new pipes get
        // one page: keep the run's share to 16 MiB.
        let budget = (16usize << 20) / jobs.max(1);
        let wanted = usize::try_from(block).unwrap_or(usize::MAX).min(1 << 20).min(budget);
        let pipe_size = if wanted > 64 * 1024 { wanted } else { 0 };
        Ok(Runtime {
            sink: settings.sink,
            count_sent: settings.mode == super::settings::Mode::Pipe && !settings.tee,
            tmp,
            pipe_size,
            robin: None,
        })
    }

    /// `--round-robin`: the dealer to tell the run's job slots.
    pub(crate) fn set_dealer(&mut self, dealer: Arc<super::robin::Shared>) {
        self.robin = Some(dealer);
    }

    /// The run's job slots are known, or changed (with `-S`, once the hosts
    /// are set up): `--round-robin` starts one job per slot.
    pub(crate) fn set_slots(&self, slots: usize) {
        if let Some(dealer) = &self.robin {
            dealer.set_slots(slots);
        }
    }

    /// The directory of `--cat` and `--fifo` files: job `seq`'s `{}` is
    /// the file `seq` there.
    pub(crate) fn tmp_dir(&self) -> Option<&Path> {
        self.tmp.as_ref().map(TempDir::path)
    }

    /// Gets a job's input ready before it is spawned; `None` for a job
    /// without one. (The job keeps its own handle on the input, for
    /// another attempt if the spawn must wait; the run drops it once the
    /// job has started, unless `--retries` may need it.)
    pub(crate) fn prepare(&self, job: &Job) -> io::Result<Option<Launch>> {
        let Some(stdin) = job.stdin.clone() else {
            return Ok(None);
        };
        let tmp = self.tmp_dir().map(|dir| dir.join(job.seq.to_string()));
        let mut env = Vec::new();
        if let Some(path) = &tmp {
            env.push((OsString::from("PARALLEL_TMP"), path.clone().into_os_string()));
        }
        if let (Stdin::Spooled(block), Sink::Stdin) = (&stdin, self.sink) {
            // The job reads its block from the memfd itself, from the start
            // (again, for another attempt).
            rustix::fs::seek(&*block.file, rustix::fs::SeekFrom::Start(0))?;
            let fd: OwnedFd = block.file.try_clone()?.into();
            let sent = if self.count_sent { block.len } else { 0 };
            return Ok(Some(Launch {
                stdin: Input::Fd(Arc::new(fd)),
                env,
                prefix: None,
                feeding: None,
                relay: None,
                attached: Attached::new(Sent::Known(sent), None),
            }));
        }
        if let (Stdin::File(path), Sink::Stdin) = (&stdin, self.sink) {
            // The whole file: the job reads it itself, from its own offset.
            let file = std::fs::File::open(path.as_path())?;
            return Ok(Some(Launch {
                stdin: Input::Fd(Arc::new(file.into())),
                env,
                prefix: None,
                feeding: None,
                relay: None,
                attached: Attached::new(Sent::Known(0), None),
            }));
        }
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        if self.pipe_size > 0 {
            let _ = rustix::pipe::fcntl_setpipe_size(&write, self.pipe_size);
        }
        let (sent, feeding) = match stdin {
            Stdin::Block(block) => (
                Sent::Known((block.header.len() + block.data.len()) as u64),
                Feeding::Write(write, block),
            ),
            Stdin::Part(part) => (
                Sent::Known(part.header.len() as u64 + part.range.end - part.range.start),
                Feeding::Splice(write, part),
            ),
            Stdin::Spooled(block) => {
                let part = FilePart {
                    file: block.file.clone(),
                    path: None,
                    header: Arc::from(&[][..]),
                    range: super::part::Range {
                        start: 0,
                        end: block.len,
                    },
                };
                (Sent::Known(block.len), Feeding::Splice(write, Arc::new(part)))
            }
            Stdin::File(path) => {
                let file = Arc::new(std::fs::File::open(path.as_path())?);
                let len = file.metadata()?.len();
                let part = FilePart {
                    file,
                    path: None,
                    header: Arc::from(&[][..]),
                    range: super::part::Range { start: 0, end: len },
                };
                (Sent::Known(len), Feeding::Splice(write, Arc::new(part)))
            }
            Stdin::Dealt(claim) => {
                let sent = Arc::new(AtomicU64::new(0));
                (Sent::Counted(sent.clone()), Feeding::Dealt(write, claim, sent))
            }
            Stdin::Relayed(claim) => {
                let sent = Arc::new(AtomicU64::new(0));
                (Sent::Counted(sent.clone()), Feeding::Relayed(write, claim, sent))
            }
            Stdin::Tee(claim) => {
                let sent = Arc::new(AtomicU64::new(0));
                (Sent::Counted(sent.clone()), Feeding::Tee(write, claim, sent))
            }
            Stdin::Shard(claim) => {
                let sent = Arc::new(AtomicU64::new(0));
                (Sent::Counted(sent.clone()), Feeding::Shard(write, claim, sent))
            }
        };
        let dealt = match &feeding {
            Feeding::Dealt(_, _, counted) => Some(counted.clone()),
            _ => None,
        };
        let sent = if self.count_sent { sent } else { Sent::Known(0) };
        let mut attached = Attached::new(sent, tmp.clone());
        attached.dealt = dealt;
        let (input, prefix, relay) = match (self.sink, tmp) {
            (Sink::Fifo, Some(path)) => {
                rustix::fs::mkfifoat(rustix::fs::CWD, &path, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR)?;
                let relay = Relay {
                    from: read,
                    path,
                    ended: attached.ended.clone(),
                };
                (Input::Null, None, Some(relay))
            }
            (Sink::Cat, Some(_)) => (Input::Fd(Arc::new(read)), Some(CAT_PREFIX), None),
            _ => (Input::Fd(Arc::new(read)), None, None),
        };
        Ok(Some(Launch {
            stdin: input,
            env,
            prefix,
            feeding: Some(feeding),
            relay,
            attached,
        }))
    }
}

/// How the job's pipe gets filled.
enum Feeding {
    Write(OwnedFd, Arc<Block>),
    Splice(OwnedFd, Arc<FilePart>),
    Dealt(OwnedFd, Arc<super::robin::Claim>, Arc<AtomicU64>),
    Relayed(OwnedFd, Arc<super::relay::Claim>, Arc<AtomicU64>),
    Tee(OwnedFd, Arc<super::tee::Claim>, Arc<AtomicU64>),
    Shard(OwnedFd, Arc<super::shard::Claim>, Arc<AtomicU64>),
}

/// `--fifo`: the job's pipe, to be relayed into the named pipe.
struct Relay {
    from: OwnedFd,
    path: PathBuf,
    ended: Arc<AtomicBool>,
}

/// A job's input, ready for the spawn. Dropped without [`start`]
/// (the spawn failed), it closes everything and gives up its claim.
///
/// [`start`]: Launch::start
pub(crate) struct Launch {
    /// The job's stdin.
    pub(crate) stdin: Input,
    /// `PARALLEL_TMP` with `--cat` and `--fifo`.
    pub(crate) env: Vec<(OsString, OsString)>,
    /// `--cat`: what the shell runs before the command.
    pub(crate) prefix: Option<&'static [u8]>,
    feeding: Option<Feeding>,
    relay: Option<Relay>,
    attached: Attached,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("stdin", &self.stdin)
            .finish_non_exhaustive()
    }
}

impl Launch {
    /// Whether the job just reads its stdin (no `--cat` file, no `--fifo`):
    /// then any command that passes its stdin on can take it (ssh, for a
    /// remote job).
    pub(crate) fn is_plain_stdin(&self) -> bool {
        self.prefix.is_none() && self.relay.is_none()
    }

    /// The job was spawned: fill its pipe. Returns what stays with the job
    /// until it ends.
    pub(crate) fn start(mut self) -> io::Result<Attached> {
        // The spawned job has its copy of the read end; ours must go, or
        // the writers could never get `EPIPE`.
        self.stdin = Input::Null;
        if let Some(relay) = self.relay.take() {
            spawn("forkpool-fifo", move || relay.run())?;
        }
        match self.feeding.take() {
            None => {}
            Some(Feeding::Write(fd, block)) => write_block(fd, block)?,
            Some(Feeding::Splice(fd, part)) => spawn("forkpool-part", move || splice_part(&fd, &part))?,
            Some(Feeding::Dealt(fd, claim, sent)) => claim.attach(fd, sent),
            Some(Feeding::Relayed(fd, claim, sent)) => claim.attach(fd, sent),
            Some(Feeding::Tee(fd, claim, sent)) => claim.attach(fd, sent),
            Some(Feeding::Shard(fd, claim, sent)) => claim.attach(fd, sent),
        }
        Ok(std::mem::replace(
            &mut self.attached,
            Attached::new(Sent::Known(0), None),
        ))
    }
}

/// What stays with a running job: its `--cat`/`--fifo` file (removed when
/// the job ends) and the count of bytes it was sent (the joblog's Send).
#[derive(Debug)]
pub(crate) struct Attached {
    sent: Sent,
    file: Option<PathBuf>,
    ended: Arc<AtomicBool>,
    /// `--round-robin`: what the dealer wrote to the job.
    dealt: Option<Arc<AtomicU64>>,
}

#[derive(Debug)]
enum Sent {
    Known(u64),
    Counted(Arc<AtomicU64>),
}

impl Attached {
    fn new(sent: Sent, file: Option<PathBuf>) -> Attached {
        Attached {
            sent,
            file,
            ended: Arc::new(AtomicBool::new(false)),
            dealt: None,
        }
    }

    /// A `--round-robin` job that was sent nothing: GNU parallel leaves
    /// such a job out of its output and joblog (see `robin`).
    pub(crate) fn virgin(&self) -> bool {
        self.dealt.as_ref().is_some_and(|n| n.load(Ordering::Relaxed) == 0)
    }

    /// Bytes given to the job.
    pub(crate) fn sent(&self) -> u64 {
        match &self.sent {
            Sent::Known(n) => *n,
            Sent::Counted(n) => n.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.ended.store(true, Ordering::Release);
        if let Some(file) = &self.file {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new().name(name.into()).spawn(work).map(drop)
}

/// Writes a block: at once if the pipe takes it, else on a thread.
fn write_block(fd: OwnedFd, block: Arc<Block>) -> io::Result<()> {
    rustix::io::ioctl_fionbio(&fd, true)?;
    let mut done = 0;
    loop {
        let rest = remaining(&block, done);
        if rest.is_empty() {
            return Ok(());
        }
        match rustix::io::write(&fd, rest) {
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => break,
            // The job is gone already: nothing to write to.
            Err(_) => return Ok(()),
        }
    }
    spawn("forkpool-block", move || {
        // The descriptor stays non-blocking: `pump` waits for room.
        pump(&fd, || {
            let rest = remaining(&block, done);
            if rest.is_empty() {
                return Ok(0);
            }
            let n = rustix::io::write(&fd, rest)?;
            done += n;
            Ok(n)
        });
    })
}

/// What is left of header + data after `done` bytes.
fn remaining(block: &Block, done: usize) -> &[u8] {
    let h = block.header.len();
    let rest = if done < h {
        &block.header[done..]
    } else {
        &block.data[done - h..]
    };
    &rest[..rest.len().min(STEP)]
}

/// Fills the pipe with the part's header and bytes, zero-copy where the
/// file system allows.
fn splice_part(fd: &OwnedFd, part: &FilePart) {
    if !write_all(fd, &part.header) {
        return;
    }
    let mut offset = part.range.start;
    let mut copy = false;
    pump(fd, || {
        if offset >= part.range.end {
            return Ok(0);
        }
        let len = usize::try_from(part.range.end - offset).unwrap_or(STEP).min(STEP);
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        match rustix::pipe::splice(&*part.file, Some(&mut offset), fd, None, len, flags) {
            Err(Errno::INVAL | Errno::NOSYS) => {
                // No splice from this file: copy it, below.
                copy = true;
                Ok(0)
            }
            other => other,
        }
    });
    if !copy {
        return;
    }
    // No splice from this file (rare): copy it.
    let mut buf = vec![0u8; STEP];
    while offset < part.range.end {
        let len = usize::try_from(part.range.end - offset).unwrap_or(STEP).min(STEP);
        let n = match std::os::unix::fs::FileExt::read_at(&*part.file, &mut buf[..len], offset) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !write_all(fd, &buf[..n]) {
            return;
        }
        offset += n as u64;
    }
}

/// Writes all of `data`; false if the reader is gone.
fn write_all(fd: impl AsFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match rustix::io::write(&fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

impl Relay {
    /// Waits for the job to open the fifo, then relays its pipe into it.
    fn run(self) {
        let Some(fifo) = open_when_read(&self.path, &self.ended) else {
            return;
        };
        loop {
            match rustix::pipe::splice(&self.from, None, &fifo, None, STEP, SpliceFlags::MOVE) {
                Ok(0) => return,
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// Opens a fifo for writing once a reader has it open; `None` if `ended`
/// is set first (the job ended without opening it).
fn open_when_read(path: &Path, ended: &AtomicBool) -> Option<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mut pause = Duration::from_millis(1);
    loop {
        match rustix::fs::open(path, OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => {
                rustix::io::ioctl_fionbio(&fd, false).ok()?;
                return Some(fd);
            }
            Err(Errno::NXIO | Errno::INTR) if !ended.load(Ordering::Acquire) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(_) => return None,
        }
    }
}
