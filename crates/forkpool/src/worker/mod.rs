//! The processes the supervisor starts: the zygote and the workers.
//!
//! A worker reads `RUN` frames from its socket and runs their items one at
//! a time, in order: stamp the status page, call the task's entry point
//! under `catch_unwind`, append a result record. It writes the results of
//! a job as soon as the job ends (and part-way through a long one), so a
//! crash loses at most the item that crashed. It exits when the socket
//! closes, or after `max_tasks_per_worker` items.
//!
//! A streaming task is one item too; `stream.rs` drives its generator.

pub(crate) mod config;
pub(crate) mod entry;
mod output;
mod panic;
mod stream;
pub(crate) mod zygote;

use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rustix::io::Errno;
use rustix::net::SendFlags;
use rustix::process::{Pid, Resource, Rlimit, Signal};

use crate::confine::CpuBudget;
use crate::ipc::codec::{CallError, Input, Sink};
use crate::ipc::frame::{FrameError, FrameReader, Lost};
use crate::ipc::lost::Receiver;
use crate::ipc::outbox::Outbox;
use crate::ipc::protocol::{self, Item, ResultsWriter, Run, Tag, ToWorker};
use crate::ipc::status::{self, Begin, StatusPage};
use crate::shm::lanes::{Lanes, Release};
use crate::sys;
use crate::sys::code::{CodeOffset, EntryFn};
use crate::sys::memory::DataSegment;
use config::{WorkerConfig, ZygoteConfig};
use output::Marks;

/// Write results out part-way through a job once this many bytes wait...
const FLUSH_BYTES: usize = 256 * 1024;
/// ...or once the oldest waiting result is this old.
const FLUSH_AFTER_NS: u64 = 2_000_000;

/// The longest panic (or error) message sent back whole; longer ones are
/// cut, so that a huge message cannot turn a panic into a protocol error.
const MAX_TEXT: usize = 64 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, saying so.
fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let note = format!(" … [{} bytes cut]", text.len());
    let mut end = max.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", &text[..end]).into()
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    panic::message_of(payload)
}

/// Runs `hook` (preload or worker_init), turning a panic into its message.
pub(crate) fn run_hook(offset: CodeOffset, what: &str) -> Result<(), String> {
    let hook = sys::code::hook_at(offset).map_err(|e| format!("{what}: {e}"))?;
    catch_unwind(hook).map_err(|payload| format!("{what} panicked: {}", panic::message_of(&*payload)))
}

/// Entry for a worker the zygote just forked. `output` holds the pipes for
/// its stdout and stderr when the pool's task output is not inherited.
pub(crate) fn run_forked(
    config: &WorkerConfig,
    socket: OwnedFd,
    status: OwnedFd,
    zygote: Pid,
    output: Option<[OwnedFd; 2]>,
) -> ! {
    // The zygote's SIGCHLD handler is not the worker's business: tasks get
    // the default, as in any fresh process.
    sys::signal_pipe::uninstall_after_fork(&[libc::SIGCHLD]);
    // Its own process group, so that a timeout kill reaches whatever the
    // task started. (The zygote sets it too, to close the race.)
    let _ = rustix::process::setpgid(None, None);
    // Die with the zygote; if it is already gone, stop now.
    if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err()
        || rustix::process::getppid() != Some(zygote)
    {
        std::process::exit(0);
    }
    let marks = match output.map(Marks::install).transpose() {
        Ok(marks) => marks,
        Err(e) => report_init_failure(&socket, &format!("cannot set up the task output pipes: {e}")),
    };
    run(config, socket, status, zygote, marks)
}

/// Entry for a worker started by `exec` (no zygote) by the supervisor
/// thread of process `parent`: read the settings, run `preload` here, then
/// serve.
pub(crate) fn run_exec_started(socket: OwnedFd, status: OwnedFd, parent: Pid) -> ! {
    let _ = sys::abort::ignore_sigpipe();
    // Not inherited from a program that ignores SIGCHLD: tasks that wait
    // for their own children need the default.
    sys::signal_pipe::restore_default(&[libc::SIGCHLD]);
    sys::fds::ensure_standard_fds();
    let mut reader = FrameReader::new(crate::ipc::control::MAX_MESSAGE);
    let config: ZygoteConfig = loop {
        match reader.next_frame() {
            Ok(Some(frame)) => match protocol::parse_to_worker(frame) {
                Ok(ToWorker::Config(bytes)) => match postcard::from_bytes(bytes) {
                    Ok(config) => break config,
                    Err(_) => std::process::exit(112),
                },
                _ => std::process::exit(112),
            },
            Ok(None) => match reader.read_from(&socket) {
                Ok(0) => std::process::exit(0),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => std::process::exit(0),
            },
            Err(_) => std::process::exit(112),
        }
    };
    // The spawner made descriptors 1 and 2 the output pipes.
    let marks = match config.worker.capture_output.then(Marks::from_standard_fds).transpose() {
        Ok(marks) => marks,
        Err(e) => report_init_failure(&socket, &format!("cannot set up the task output pipes: {e}")),
    };
    if let Some(preload) = config.preload
        && let Err(message) = run_hook(preload, "preload")
    {
        report_init_failure(&socket, &message)
    }
    run(&config.worker, socket, status, parent, marks)
}

fn report_init_failure(socket: &OwnedFd, message: &str) -> ! {
    let mut out = Vec::new();
    if protocol::write_init_failed(&mut out, message).is_ok() {
        let _ = send_all(socket, &out);
    }
    std::process::exit(1)
}

/// Sets the worker up and serves. `parent` is the process whose death must
/// end this one (the zygote, or the client for an exec-started worker).
/// `marks` measures the output pipes, when task output is not inherited.
fn run(config: &WorkerConfig, socket: OwnedFd, status: OwnedFd, parent: Pid, marks: Option<Marks>) -> ! {
    // Read after worker_init, but opened now: a sandbox may deny /proc.
    // (Also without a pool-wide limit: a task may bring its own, and a
    // limit the worker cannot apply must not pass silently.)
    let data_segment = sys::memory::ProcStatus::open();
    // Rust's allocation-failure handler prints a backtrace when
    // RUST_BACKTRACE asks for one, and the printing overwrites the errno
    // that tells a memory-limit abort apart. Move the setting to
    // RUST_LIB_BACKTRACE, which keeps `Backtrace::capture` behaving the
    // same for the task's own code. Whether or not the pool has a limit: a
    // task may bring its own. (Now, while /proc/self/stat can still show
    // that the worker is single-threaded, as changing the environment
    // requires.)
    if let Some(value) = sys::env::take_var("RUST_BACKTRACE")
        && std::env::var_os("RUST_LIB_BACKTRACE").is_none()
    {
        sys::env::set_var("RUST_LIB_BACKTRACE", &value);
    }
    // Opened now: a sandbox may deny /proc later.
    let recycle = match config.recycle_above.map(Recycle::open) {
        None => None,
        Some(Ok(recycle)) => Some(recycle),
        Some(Err(e)) => report_init_failure(&socket, &format!("cannot watch the worker's memory: {e}")),
    };
    if config.survive_sigterm
        && let Err(e) = sys::signal::survive_sigterm()
    {
        report_init_failure(&socket, &format!("cannot set up timeout_grace: {e}"))
    }
    // Least privilege, before any user code runs here (see `confine`).
    let confined = match config.confine.apply(parent) {
        Ok(confined) => confined,
        Err(message) => report_init_failure(&socket, &format!("cannot confine the worker: {message}")),
    };
    let status: &'static StatusPage = match StatusPage::open(&status) {
        Ok(page) => Box::leak(Box::new(page)),
        Err(e) => report_init_failure(&socket, &format!("cannot map the status page: {e}")),
    };
    panic::install_hook(status);

    if let Some(init) = config.init {
        status.begin_init(status::coarse_now_ns());
        if let Err(message) = run_hook(init, "worker_init") {
            report_init_failure(&socket, &message)
        }
    }
    // The limit counts what tasks allocate, on top of what preload and
    // worker_init left behind.
    let memory = match Memory::start(data_segment, config.memory_limit, status) {
        Ok(memory) => memory,
        Err(message) => report_init_failure(&socket, &message),
    };

    let mut worker = Worker {
        socket,
        status,
        max_message: config.max_message as usize,
        max_tasks: config.max_tasks,
        memory,
        recycle,
        retiring: false,
        out: Outbox::with_capacity(64 * 1024),
        items_run: 0,
        entry_cache: None,
        recalled_up_to: None,
        cpu: confined.cpu,
        marks,
        lanes: Lanes::new(Release::Board),
        stream_lanes: Lanes::unkept(),
    };
    if let Some(marks) = &mut worker.marks {
        // What preload and worker_init wrote is nobody's task's.
        marks.mark_now(worker.out.buf(), status);
    }
    if protocol::write_ready(worker.out.buf(), std::process::id()).is_err() {
        std::process::exit(112);
    }
    worker.flush();
    worker.serve()
}

/// `recycle_above`: the worker leaves once its resident size after an item
/// is above `bound`.
struct Recycle {
    bound: u64,
    /// `/proc/self/statm`, read again from the start each time.
    statm: std::fs::File,
}

impl Recycle {
    fn open(bound: u64) -> std::io::Result<Recycle> {
        Ok(Recycle {
            bound,
            statm: std::fs::File::open("/proc/self/statm")?,
        })
    }

    /// Whether the resident size is above the bound (`false` if it cannot
    /// be read: then the worker lives on, as without the setting).
    fn is_over(&self) -> bool {
        let mut buf = [0u8; 128];
        let Ok(n) = rustix::io::pread(&self.statm, &mut buf, 0) else {
            return false;
        };
        let resident_pages = std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|text| text.split_ascii_whitespace().nth(1))
            .and_then(|field| field.parse::<u64>().ok());
        resident_pages.is_some_and(|pages| pages.saturating_mul(rustix::param::page_size() as u64) > self.bound)
    }
}

/// The worker's memory cap: `RLIMIT_DATA` at its size once started plus
/// what tasks may allocate.
struct Memory {
    /// The data segment once started (after `worker_init`).
    base: u64,
    /// The hard limit, which the cap never passes.
    hard: Option<u64>,
    /// The pool's `memory_limit`.
    pool: Option<u64>,
}

impl Memory {
    /// Measures the start-up size and applies the pool's limit, if any; or
    /// says why memory limits cannot be enforced in this worker. That is
    /// an error even without a pool-wide limit: any task may bring a limit
    /// of its own ([`TaskOptions::memory_limit`](crate::TaskOptions::memory_limit)),
    /// which must not go unenforced in silence.
    fn start(
        source: std::io::Result<impl DataSegment>,
        pool: Option<u64>,
        status: &'static StatusPage,
    ) -> Result<Memory, String> {
        let memory = Memory::measure(source, pool).map_err(|e| {
            format!("cannot measure the worker's memory, which memory limits (the pool's or a task's) need: {e}")
        })?;
        memory
            .arm(status)
            .map_err(|e| format!("cannot apply the memory limit: {e}"))?;
        Ok(memory)
    }

    /// Reads the start-up size (no side effects).
    fn measure(source: std::io::Result<impl DataSegment>, pool: Option<u64>) -> std::io::Result<Memory> {
        let base = source?.bytes()?;
        let hard = rustix::process::getrlimit(Resource::Data).maximum;
        Ok(Memory { base, hard, pool })
    }

    /// Recognises an allocation failure past the cap (see `sys::abort`),
    /// and applies the pool's limit, if any.
    fn arm(&self, status: &'static StatusPage) -> std::io::Result<()> {
        sys::abort::flag_out_of_memory_aborts(status.flags_word(), status::FLAG_OUT_OF_MEMORY)?;
        if self.pool.is_some() {
            self.limit(self.pool)?;
        }
        Ok(())
    }

    /// Lets the next items allocate `limit` bytes (`None`: no cap).
    fn limit(&self, limit: Option<u64>) -> std::io::Result<()> {
        let cap = match limit {
            Some(limit) => Some(self.base.saturating_add(limit).min(self.hard.unwrap_or(u64::MAX))),
            None => self.hard,
        };
        rustix::process::setrlimit(
            Resource::Data,
            Rlimit {
                current: cap,
                maximum: self.hard,
            },
        )?;
        Ok(())
    }
}

fn send_all(socket: &OwnedFd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::net::send(socket, bytes, SendFlags::NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

struct Worker {
    socket: OwnedFd,
    status: &'static StatusPage,
    max_message: usize,
    max_tasks: Option<u64>,
    /// Memory limits, the pool's and per task.
    memory: Memory,
    /// `recycle_above`: the bound and where to read the resident size.
    recycle: Option<Recycle>,
    /// Over `recycle_above` after an item: leave before the next.
    retiring: bool,
    out: Outbox,
    items_run: u64,
    entry_cache: Option<(CodeOffset, EntryFn)>,
    /// Jobs up to this id were taken back by the supervisor: skip them.
    recalled_up_to: Option<u64>,
    /// The per-task CPU allowance (`Rlimit::CpuSeconds`).
    cpu: Option<CpuBudget>,
    /// Output positions, when stdout and stderr are pipes to the supervisor.
    marks: Option<Marks>,
    /// The lanes large results travel in (see `shm/lanes.rs`).
    lanes: Lanes,
    /// Where a stream's large items go: a lane each, never reused (a
    /// stream's consumer clears no board).
    stream_lanes: Lanes,
}

impl Worker {
    fn serve(mut self) -> ! {
        let mut reader = FrameReader::new(protocol::frame_limit(self.max_message));
        loop {
            loop {
                let frame = match reader.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => self.die(e),
                };
                let stream = match protocol::parse_to_worker(frame) {
                    Ok(ToWorker::Run(run)) => {
                        self.run_job(run);
                        None
                    }
                    Ok(ToWorker::Stream(start)) => self.open_stream(start),
                    Ok(ToWorker::Limits { memory }) => {
                        self.set_memory_limit(memory);
                        None
                    }
                    // A cancel for a stream that has ended already.
                    Ok(ToWorker::Config(_) | ToWorker::Cancel { .. }) => None,
                    Err(e) => self.die(e),
                };
                if let Some(stream) = stream {
                    self.drive_stream(stream, &mut reader);
                }
                if self.retiring
                    || self.max_tasks.is_some_and(|max| self.items_run >= max)
                    || self
                        .cpu
                        .as_mut()
                        .is_some_and(|cpu| cpu.should_retire(status::coarse_now_ns()))
                {
                    // Done, grown too large, or too little CPU time left
                    // under the hard limit for another task: make way for
                    // a fresh worker. What we hold and have not started
                    // goes elsewhere, at no one's fault.
                    self.status.retire();
                    self.flush();
                    std::process::exit(0);
                }
            }
            self.flush();
            self.idle();
            match reader.read_from(&self.socket) {
                Ok(0) => std::process::exit(0),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => {
                    // The next job's frame does not fit under the memory
                    // limit. Every earlier frame has been run, so its first
                    // item is the next one: blame it, and make way for a
                    // fresh worker.
                    self.status
                        .out_of_memory_before(self.items_run + 1, status::coarse_now_ns());
                    std::process::exit(0)
                }
                Err(_) => std::process::exit(0),
            }
        }
    }

    /// Caps what the next items may allocate: `limit`, or the pool's.
    fn set_memory_limit(&mut self, limit: Option<u64>) {
        let memory = &self.memory;
        if memory.limit(limit.or(memory.pool)).is_err() {
            // A cap not applied is a promise broken: make way for a
            // worker that can (the supervisor retries what we hold).
            self.flush();
            std::process::exit(113);
        }
    }

    /// Waits for the next job, letting go of the lanes of large results
    /// once they have not been used for a while (see `shm/lanes.rs`).
    fn idle(&self) {
        while let Some(due) = self.lanes.trim(Instant::now()) {
            let wait = due.saturating_duration_since(Instant::now());
            if sys::poll::readable_within(self.socket.as_fd(), wait) {
                return;
            }
        }
    }

    /// The supervisor sent something we cannot read: there is no sane way
    /// to go on. Exiting makes the supervisor replace us.
    fn die(&mut self, error: FrameError) -> ! {
        self.flush();
        eprintln!("forkpool worker: bad message from the supervisor: {error}");
        std::process::exit(112)
    }

    fn entry(&mut self, offset: CodeOffset) -> Result<EntryFn, String> {
        if let Some((cached, f)) = self.entry_cache
            && cached == offset
        {
            return Ok(f);
        }
        let f = sys::code::entry_at(offset).map_err(|e| e.to_string())?;
        self.entry_cache = Some((offset, f));
        Ok(f)
    }

    fn run_job(&mut self, mut run: Run<'_>) {
        if self.recalled_up_to.is_some_and(|last| run.job <= last) {
            // Another worker runs it now.
            return;
        }
        let entry = self.entry(run.entry);
        let unwritten = self.out.buf().len();
        let mut writer = self.begin_results(run.job, 0);
        let mut frame_start = Instant::now();
        let mut oldest_result_ns = None;
        let mut abandoned = None;
        // The last item wrote output: its results leave before the next
        // item starts (see `output`).
        let mut wrote = false;
        for (index, item) in run.items().enumerate() {
            // Every item takes its own descriptors, run or not, so that the
            // next item's are the next ones.
            let fds = run.fds.take(item.fds());
            let mut now = status::coarse_now_ns();
            if writer.count() > 0
                && (wrote
                    || self.out.unsent() >= FLUSH_BYTES
                    || oldest_result_ns.is_some_and(|t| now.saturating_sub(t) >= FLUSH_AFTER_NS))
            {
                self.hand_over(writer, frame_start);
                writer = self.begin_results(run.job, index as u32);
                frame_start = Instant::now();
                oldest_result_ns = None;
                wrote = false;
                // The flush may have blocked: the item starts now, not then.
                now = status::coarse_now_ns();
            }
            sys::abort::clear_errno();
            // A panic an earlier item caught itself is not news about this one.
            if self.status.clear_stale_panic() {
                panic::forget_report();
            }
            self.items_run += 1;
            // Counted and stamped like any item, so that the supervisor's
            // numbering of what this worker ran stays exact.
            let skip = self.status.is_abandoned(run.job, &mut abandoned);
            match self.status.begin(self.items_run, now) {
                Begin::Started => {}
                Begin::Doomed => {
                    // The previous item ran past its timeout (or was
                    // aborted) and the kill is on its way: start nothing,
                    // hand over what is done, and wait.
                    self.await_kill(writer, frame_start)
                }
                Begin::Recalled(last) => {
                    // While the previous item ran long, the supervisor gave
                    // this job and the ones queued after it to idle workers.
                    // (It only does so between jobs, so nothing of this one
                    // has been written.)
                    self.items_run -= 1;
                    self.recalled_up_to = Some(last);
                    if writer.count() == 0 {
                        self.out.truncate(unwritten);
                    } else {
                        let elapsed = frame_start.elapsed().as_nanos() as u64;
                        if self.finish_results(writer, elapsed).is_err() {
                            self.out.truncate(unwritten);
                        }
                        self.flush();
                    }
                    return;
                }
            }
            if let Some(cpu) = &mut self.cpu {
                cpu.before_task(now);
            }
            let (record_at, record_fds) = (self.out.buf().len(), writer.fds());
            let panicked = if skip {
                // Nobody wants the results: skip what has not started.
                writer.inline_record(self.out.buf(), Tag::Cancelled, b"");
                None
            } else {
                let panicked = self.run_item(&mut writer, &entry, item, fds);
                if let Some(marks) = &mut self.marks {
                    wrote = marks.item_ended(self.status);
                }
                panicked
            };
            if self.status.is_doomed() {
                // It finished while the kill for it was on its way (in
                // `timeout_grace`, or just aborted): it timed out (or was
                // aborted), so its result must not count.
                if panicked.is_none() {
                    writer.unrecord(self.out.buf(), record_at, record_fds);
                }
                self.await_kill(writer, frame_start)
            }
            self.status.end(self.items_run);
            if let Some(caught) = panicked {
                // After the end stamp: naming the backtrace's frames is the
                // worker's time, not the task's.
                self.panic_record(&mut writer, caught);
            }
            oldest_result_ns.get_or_insert(now);
            if self.recycle.as_ref().is_some_and(Recycle::is_over) {
                // Grown past `recycle_above`: hand over what is done and
                // leave; the rest of the job runs on another worker.
                self.retiring = true;
                break;
            }
        }
        // Results leave as soon as the job ends, so a later crash cannot
        // lose them.
        self.hand_over(writer, frame_start);
    }

    /// Hands over the results `writer` holds, then waits for the kill the
    /// supervisor is sending.
    fn await_kill(&mut self, writer: ResultsWriter, frame_start: Instant) -> ! {
        let elapsed = frame_start.elapsed().as_nanos() as u64;
        if writer.count() > 0 && self.finish_results(writer, elapsed).is_ok() {
            self.flush();
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }

    /// Starts a results frame (behind the room for its output mark).
    fn begin_results(&mut self, job: u64, first: u32) -> ResultsWriter {
        if let Some(marks) = &mut self.marks {
            marks.reserve(self.out.buf());
        }
        ResultsWriter::begin(self.out.buf(), job, first)
    }

    /// Completes a results frame, and its output mark.
    fn finish_results(&mut self, writer: ResultsWriter, elapsed_ns: u64) -> Result<(), FrameError> {
        writer.finish(&mut self.out, elapsed_ns)?;
        if let Some(marks) = &mut self.marks {
            marks.seal(self.out.buf(), self.status);
        }
        Ok(())
    }

    /// Closes the results frame `writer` began at `since` and sends it.
    fn hand_over(&mut self, writer: ResultsWriter, since: Instant) {
        let elapsed = since.elapsed().as_nanos() as u64;
        if self.finish_results(writer, elapsed).is_err() {
            self.die(FrameError::Malformed {
                what: "results",
                why: "too large",
            });
        }
        self.flush();
    }

    /// Runs one item and appends its record, unless it panicked: then its
    /// record is [`panic_record`](Self::panic_record)'s, once the item is
    /// stamped done.
    fn run_item(
        &mut self,
        writer: &mut ResultsWriter,
        entry: &Result<EntryFn, String>,
        item: Item<'_>,
        fds: Result<Vec<Option<std::os::fd::OwnedFd>>, Lost>,
    ) -> Option<panic::Caught> {
        let entry = match entry {
            Ok(entry) => *entry,
            Err(message) => {
                self.text_record(writer, Tag::Codec, message);
                return None;
            }
        };
        if item.is_cut() {
            self.text_record(writer, Tag::Codec, "its bytes in the frame are cut or malformed");
            return None;
        }
        let fds = match fds {
            Ok(fds) => fds,
            Err(lost) => {
                let message = CallError::Decode(lost.message(&item, 0, Receiver::Worker)).message();
                self.text_record(writer, Tag::Codec, &message);
                return None;
            }
        };
        let limit = self.max_message;
        let lanes = &self.lanes;
        let out = self.out.buf();
        let mark = out.len();
        let fds_mark = writer.fds();
        let mut input = Input { item, fds, limit };
        let ran = catch_unwind(AssertUnwindSafe(|| {
            writer.record(out, Tag::Ok, |out, fds| {
                entry(&mut input, &mut Sink { out, fds, limit, lanes })
            })
        }));
        match ran {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                self.text_record(writer, Tag::Codec, &e.message());
                None
            }
            Err(payload) => {
                // It may have panicked half-way through encoding its result.
                writer.rewind(self.out.buf(), mark, fds_mark);
                let caught = panic::take_caught(&*payload);
                // Dropping a payload can itself panic; never let that out.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                self.status.clear_panic();
                Some(caught)
            }
        }
    }

    /// Appends the record of an item that panicked.
    fn panic_record(&mut self, writer: &mut ResultsWriter, caught: panic::Caught) {
        let mut report = caught.resolve();
        let room = (self.max_message / 2).min(MAX_TEXT);
        report.message = clip(&report.message, room).into_owned();
        report.backtrace = report.backtrace.map(|b| clip(&b, room / 2).into_owned());
        let mut encoded = Vec::new();
        report.encode_into(&mut encoded);
        writer.inline_record(self.out.buf(), Tag::Panicked, &encoded);
    }

    fn text_record(&mut self, writer: &mut ResultsWriter, tag: Tag, text: &str) {
        let text = clip(text, (self.max_message / 2).min(MAX_TEXT));
        writer.inline_record(self.out.buf(), tag, text.as_bytes());
    }

    fn flush(&mut self) {
        if self.out.flush(self.socket.as_fd()).is_err() {
            // The supervisor is gone; nobody is waiting for anything.
            std::process::exit(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Memory, clip};
    use crate::sys::memory::DataSegment;

    /// A data segment that cannot be read (as where `/proc/self/status` is
    /// denied).
    struct Unreadable;

    impl DataSegment for Unreadable {
        fn bytes(&mut self) -> std::io::Result<u64> {
            Err(std::io::Error::from_raw_os_error(libc::EACCES))
        }
    }

    struct Fixed(u64);

    impl DataSegment for Fixed {
        fn bytes(&mut self) -> std::io::Result<u64> {
            Ok(self.0)
        }
    }

    #[test]
    fn an_unreadable_data_segment_is_an_error_even_without_a_pool_limit() {
        // Without a pool-wide limit, a task's own limit must not go
        // unenforced in silence: the worker cannot start.
        for pool in [None, Some(1 << 20)] {
            let err = Memory::measure(Ok(Unreadable), pool).err().expect("must fail");
            assert_eq!(err.raw_os_error(), Some(libc::EACCES));
            let err = Memory::measure(Err::<Fixed, _>(std::io::Error::other("no /proc")), pool)
                .err()
                .expect("must fail");
            assert!(err.to_string().contains("no /proc"), "{err}");
        }
    }

    #[test]
    fn a_readable_data_segment_is_the_base_of_the_cap() {
        let memory = Memory::measure(Ok(Fixed(5 << 20)), None).unwrap();
        assert_eq!(memory.base, 5 << 20);
        assert_eq!(memory.pool, None);
    }

    #[test]
    fn long_messages_are_clipped_on_a_char_boundary_and_say_so() {
        assert_eq!(clip("short", 100), "short");
        let long = "é".repeat(1000);
        let cut = clip(&long, 100);
        assert!(cut.len() <= 100, "{}", cut.len());
        assert!(cut.ends_with(" … [2000 bytes cut]"), "{cut}");
        assert!(cut.starts_with("éé"));
    }
}
