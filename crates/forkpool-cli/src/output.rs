//! Printing jobs' output: grouped (each job's output whole, when it ends),
//! line-buffered (whole lines as they come), and in input order (`-k`),
//! optionally tagged.
//!
//! Output waiting to be printed is held in memory up to a budget shared by
//! all jobs; past it, it goes to one unnamed temporary file (`O_TMPFILE`),
//! which the kernel removes however this process ends. So a job printing
//! gigabytes, or a million finished jobs waiting behind a slow one under
//! `-k`, cost disk, not memory.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use forkpool::command::Stream;

/// How output reaches the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Whole jobs at a time (the default).
    Group,
    /// Whole lines at a time.
    LineBuffer,
    /// Straight from the jobs (they inherit our stdout and stderr).
    Ungroup,
}

/// Bytes of held output kept in memory before spilling to disk.
const MEMORY_BUDGET: usize = 64 << 20;

/// Held bytes: in memory, or a range of the spill file.
#[derive(Debug)]
enum Chunk {
    Memory(Vec<u8>),
    Spilled { offset: u64, len: u64 },
}

#[derive(Debug, Default)]
struct Store {
    in_memory: usize,
    spill: Option<File>,
    spill_len: u64,
}

impl Store {
    fn hold(&mut self, data: &[u8]) -> io::Result<Chunk> {
        if self.in_memory + data.len() <= MEMORY_BUDGET {
            self.in_memory += data.len();
            return Ok(Chunk::Memory(data.to_vec()));
        }
        if self.spill.is_none() {
            self.spill = Some(tempfile::tempfile()?);
        }
        let file = self.spill.as_ref().ok_or_else(|| io::Error::other("no spill file"))?;
        file.write_all_at(data, self.spill_len)?;
        let chunk = Chunk::Spilled {
            offset: self.spill_len,
            len: data.len() as u64,
        };
        self.spill_len += data.len() as u64;
        Ok(chunk)
    }

    /// Calls `sink` with the chunk's bytes, in pieces, and releases it.
    fn drain(&mut self, chunk: Chunk, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match chunk {
            Chunk::Memory(bytes) => {
                self.in_memory -= bytes.len();
                sink(&bytes)
            }
            Chunk::Spilled { offset, len } => {
                let file = self.spill.as_ref().ok_or_else(|| io::Error::other("no spill file"))?;
                let mut buf = vec![0u8; 256 * 1024];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(buf.len() as u64) as usize;
                    file.read_exact_at(&mut buf[..n], offset + done)?;
                    sink(&buf[..n])?;
                    done += n as u64;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    chunks: Vec<Chunk>,
}

/// One job's output state.
#[derive(Debug, Default)]
struct JobOutput {
    tag: Option<Vec<u8>>,
    out: Held,
    err: Held,
    /// Line-buffer mode: the unfinished last line of each stream.
    out_partial: Vec<u8>,
    err_partial: Vec<u8>,
    /// Whether the next byte printed for each stream starts a line.
    out_at_line_start: bool,
    err_at_line_start: bool,
    finished: bool,
}

/// Writes held output where it belongs.
#[derive(Debug)]
pub(crate) struct Printer {
    mode: Mode,
    keep_order: bool,
    store: Store,
    jobs: HashMap<u64, JobOutput>,
    /// Jobs in input order, for `-k`.
    order: VecDeque<u64>,
}

impl Printer {
    pub(crate) fn new(mode: Mode, keep_order: bool) -> Printer {
        Printer {
            mode,
            keep_order,
            store: Store::default(),
            jobs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// A job (seq) starts; `tag` prefixes each of its lines. Jobs must
    /// start in input order for `-k` to keep it (a retry keeps its place).
    pub(crate) fn start(&mut self, seq: u64, tag: Option<Vec<u8>>) {
        if !self.jobs.contains_key(&seq) && self.keep_order {
            self.order.push_back(seq);
        }
        let job = self.jobs.entry(seq).or_default();
        *job = JobOutput {
            tag,
            out_at_line_start: true,
            err_at_line_start: true,
            ..JobOutput::default()
        };
    }

    /// Drops what a failed attempt printed; the job keeps its place.
    pub(crate) fn discard(&mut self, seq: u64) {
        if let Some(job) = self.jobs.get_mut(&seq) {
            for chunk in job.out.chunks.drain(..).chain(job.err.chunks.drain(..)) {
                let _ = self.store.drain(chunk, &mut |_| Ok(()));
            }
            job.out_partial.clear();
            job.err_partial.clear();
        }
    }

    /// Whether `seq` may print now (always, unless `-k` makes it wait).
    fn is_live(&self, seq: u64) -> bool {
        !self.keep_order || self.order.front() == Some(&seq)
    }

    /// Output from a running job.
    pub(crate) fn output(&mut self, seq: u64, stream: Stream, data: &[u8]) -> io::Result<()> {
        if self.mode == Mode::LineBuffer {
            let live = self.is_live(seq);
            let Some(job) = self.jobs.get_mut(&seq) else {
                return Ok(());
            };
            let partial = match stream {
                Stream::Stdout => &mut job.out_partial,
                Stream::Stderr => &mut job.err_partial,
            };
            partial.extend_from_slice(data);
            let Some(last_newline) = partial.iter().rposition(|&b| b == b'\n') else {
                return Ok(());
            };
            let lines: Vec<u8> = partial.drain(..=last_newline).collect();
            if live {
                return self.print(seq, stream, &lines);
            }
            return self.hold(seq, stream, &lines);
        }
        self.hold(seq, stream, data)
    }

    fn hold(&mut self, seq: u64, stream: Stream, data: &[u8]) -> io::Result<()> {
        let chunk = self.store.hold(data)?;
        if let Some(job) = self.jobs.get_mut(&seq) {
            match stream {
                Stream::Stdout => job.out.chunks.push(chunk),
                Stream::Stderr => job.err.chunks.push(chunk),
            }
        }
        Ok(())
    }

    /// A last line without a newline still counts: hold it like a whole one.
    fn hold_partial_lines(&mut self, seq: u64) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let out = std::mem::take(&mut job.out_partial);
        let err = std::mem::take(&mut job.err_partial);
        if !out.is_empty() {
            self.hold(seq, Stream::Stdout, &out)?;
        }
        if !err.is_empty() {
            self.hold(seq, Stream::Stderr, &err)?;
        }
        Ok(())
    }

    /// The job ended: print what it held (now, or when its turn comes).
    pub(crate) fn finish(&mut self, seq: u64) -> io::Result<()> {
        if let Some(job) = self.jobs.get_mut(&seq) {
            job.finished = true;
        }
        self.hold_partial_lines(seq)?;
        if !self.keep_order {
            return self.print_job(seq);
        }
        // Print every finished job at the front of the order; the next
        // running one (line-buffer mode) catches up and goes live.
        while let Some(&front) = self.order.front() {
            let finished = self.jobs.get(&front).is_none_or(|j| j.finished);
            if !finished {
                if self.mode == Mode::LineBuffer {
                    self.print_held(front)?;
                }
                break;
            }
            self.order.pop_front();
            self.print_job(front)?;
        }
        Ok(())
    }

    /// Prints what a finished job held (exactly what it wrote, a missing
    /// final newline included) and forgets it.
    fn print_job(&mut self, seq: u64) -> io::Result<()> {
        self.print_held(seq)?;
        self.jobs.remove(&seq);
        Ok(())
    }

    fn print_held(&mut self, seq: u64) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let out: Vec<Chunk> = job.out.chunks.drain(..).collect();
        let err: Vec<Chunk> = job.err.chunks.drain(..).collect();
        for chunk in out {
            self.print_chunk(seq, Stream::Stdout, chunk)?;
        }
        for chunk in err {
            self.print_chunk(seq, Stream::Stderr, chunk)?;
        }
        Ok(())
    }

    fn print_chunk(&mut self, seq: u64, stream: Stream, chunk: Chunk) -> io::Result<()> {
        let mut store = std::mem::take(&mut self.store);
        let result = store.drain(chunk, &mut |bytes| self.print(seq, stream, bytes));
        self.store = store;
        result
    }

    /// Writes to our stdout or stderr, tagging lines if asked.
    fn print(&mut self, seq: u64, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return write_stream(stream, bytes);
        };
        let Some(tag) = &job.tag else {
            return write_stream(stream, bytes);
        };
        let at_line_start = match stream {
            Stream::Stdout => &mut job.out_at_line_start,
            Stream::Stderr => &mut job.err_at_line_start,
        };
        let mut tagged = Vec::with_capacity(bytes.len() + 64);
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            if *at_line_start {
                tagged.extend_from_slice(tag);
                tagged.push(b'\t');
            }
            tagged.extend_from_slice(line);
            *at_line_start = line.ends_with(b"\n");
        }
        write_stream(stream, &tagged)
    }

    /// Prints what is left (at exit).
    pub(crate) fn flush_all(&mut self) -> io::Result<()> {
        let mut seqs: Vec<u64> = self.order.drain(..).collect();
        let mut rest: Vec<u64> = self.jobs.keys().copied().filter(|s| !seqs.contains(s)).collect();
        rest.sort_unstable();
        seqs.extend(rest);
        for seq in seqs {
            self.hold_partial_lines(seq)?;
            self.print_job(seq)?;
        }
        io::stdout().flush()
    }
}

fn write_stream(stream: Stream, bytes: &[u8]) -> io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Stream::Stderr => io::stderr().lock().write_all(bytes),
    }
}
