//! Printing jobs' output: grouped (each job's output whole, when it ends),
//! line-buffered (whole lines as they come), and in input order (`-k`:
//! strictly by sequence number, see `order`), optionally tagged.
//!
//! Output waiting to be printed is held in memory up to a budget shared by
//! all jobs; past it, it goes to one unnamed temporary file (see `store`).
//! So a job printing gigabytes, or a million finished jobs waiting behind a
//! slow one under `-k`, cost disk, not memory (what stays in memory per
//! waiting job is its record: tag, joblog line, a few words).

pub(crate) mod color;
pub(crate) mod compress;
pub(crate) mod files;
mod order;
mod store;
pub(crate) mod verbose;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};

use forkpool::command::Stream;

use crate::joblog::{Finished, Joblog};
use crate::table::{Replay, Table};
use compress::{Compression, Packing};
use order::Order;
use store::{Chunk, Store};

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

/// A job's held output for one stream, readable again and again (for a
/// `--results` table row).
struct HeldBytes<'a> {
    store: &'a Store,
    chunks: &'a [Chunk],
    /// `--compress`: what went through the compressor, and how to read it.
    packed: Option<(&'a Compression, &'a File)>,
}

impl Replay for HeldBytes<'_> {
    fn replay(&self, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        self.chunks.iter().try_for_each(|chunk| self.store.read(chunk, sink))?;
        match self.packed {
            Some((compression, file)) => compression.unpack(file, sink),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    chunks: Vec<Chunk>,
    /// `--compress`: the stream's output, compressed into a file.
    packed: Option<Packed>,
}

/// Output going through a compressor into an unnamed file.
#[derive(Debug)]
struct Packed {
    packing: Packing,
    file: File,
}

/// Line-buffer mode: a stream's unfinished last line. A long one moves to
/// the store piece by piece, so a job writing gigabytes without a newline
/// costs disk, not memory.
#[derive(Debug, Default)]
struct Partial {
    held: Vec<Chunk>,
    tail: Vec<u8>,
}

/// How much of an unfinished line stays in `Partial::tail`.
const PARTIAL_TAIL: usize = 1 << 20;

impl JobOutput {
    fn partial(&mut self, stream: Stream) -> &mut Partial {
        match stream {
            Stream::Stdout => &mut self.out_partial,
            Stream::Stderr => &mut self.err_partial,
        }
    }

    fn held(&mut self, stream: Stream) -> &mut Held {
        match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        }
    }
}

/// One job's output state.
#[derive(Debug, Default)]
struct JobOutput {
    tag: Option<Vec<u8>>,
    /// `--color`: what each line is wrapped in.
    paint: Option<color::Paint>,
    out: Held,
    err: Held,
    /// Line-buffer mode: the unfinished last line of each stream.
    out_partial: Partial,
    err_partial: Partial,
    /// Whether the next byte printed for each stream starts a line.
    out_at_line_start: bool,
    err_at_line_start: bool,
    finished: bool,
    /// The job's record, once it has ended (for the joblog and table).
    finished_as: Option<Finished>,
    /// `--files`: the file holding its output, still without a name, and
    /// how the name ends. It is named when its name is printed.
    unnamed: Option<(files::OutFile, u8)>,
    /// A `--results` table's row, when the job's output is printed too
    /// (`--line-buffer`, `--files`): stdout and stderr as printed.
    row: Option<[Vec<Chunk>; 2]>,
}

/// Writes held output where it belongs.
#[derive(Debug)]
pub(crate) struct Printer {
    mode: Mode,
    keep_order: bool,
    store: Store,
    jobs: HashMap<u64, JobOutput>,
    /// `-k`: the jobs whose turn has not come yet.
    order: Order,
    /// `--results FILE.csv`: jobs' output goes into this table instead.
    table: Option<Table>,
    /// `--joblog`: a line per job, written when its output is.
    joblog: Option<Joblog>,
    /// The first error writing the joblog, for the caller to report.
    joblog_error: Option<io::Error>,
    /// `--compress`: held output goes through this.
    compression: Option<Compression>,
    /// `--color`, `--color-failed`.
    colors: Option<color::Colors>,
}

impl Printer {
    pub(crate) fn new(mode: Mode, keep_order: bool) -> Printer {
        Printer {
            mode,
            keep_order,
            store: Store::default(),
            jobs: HashMap::new(),
            order: Order::default(),
            table: None,
            joblog: None,
            joblog_error: None,
            compression: None,
            colors: None,
        }
    }

    /// Lines are coloured (`--color`, `--color-failed`).
    pub(crate) fn set_colors(&mut self, colors: color::Colors) {
        self.colors = Some(colors);
    }

    /// The job failed: with `--color-failed`, its lines go white on red
    /// (those not printed yet; in line-buffer mode that is none).
    pub(crate) fn set_failed(&mut self, seq: u64) {
        if let (Some(colors), Some(job)) = (&self.colors, self.jobs.get_mut(&seq))
            && colors.by_status()
            && self.mode != Mode::LineBuffer
        {
            job.paint = colors.paint(seq, true);
        }
    }

    /// Temporary files go in `dir` (`--tmpdir`).
    pub(crate) fn set_tmpdir(&mut self, dir: &std::path::Path) {
        self.store.tmpdir = Some(dir.to_path_buf());
    }

    /// Held output is compressed (`--compress`).
    pub(crate) fn set_compression(&mut self, compression: Compression) {
        self.compression = Some(compression);
    }

    /// Each job's joblog line goes to `joblog` when its output is printed
    /// (so in input order under `-k`, as GNU parallel writes it).
    pub(crate) fn set_joblog(&mut self, joblog: Joblog) {
        self.joblog = Some(joblog);
    }

    /// The first error writing the joblog since the last call.
    pub(crate) fn take_joblog_error(&mut self) -> Option<io::Error> {
        self.joblog_error.take()
    }

    /// Output goes into `table`, a row per job, instead of being printed.
    pub(crate) fn set_table(&mut self, table: Table) {
        self.table = Some(table);
    }

    /// Whether output goes into a table.
    pub(crate) fn has_table(&self) -> bool {
        self.table.is_some()
    }

    /// Whether jobs' output must not be printed: a table on standard
    /// output (`-.csv`) lets nothing else go there (GNU parallel sends
    /// both streams to /dev/null).
    pub(crate) fn silenced(&self) -> bool {
        self.table.as_ref().is_some_and(Table::is_stdout)
    }

    /// What is known of a job that has ended, for its joblog line and
    /// table row: call before [`finish`](Printer::finish).
    pub(crate) fn set_finished(&mut self, seq: u64, finished: Finished) {
        if let Some(job) = self.jobs.get_mut(&seq) {
            job.finished_as = Some(finished);
        }
    }

    /// The jobs started and not yet printed: running, or ended and held
    /// back by `-k`.
    pub(crate) fn open_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// The run took job `seq` from the input: under `-k`, the jobs after
    /// it wait for it, until it prints or is [forgotten](Printer::forget).
    pub(crate) fn expect(&mut self, seq: u64) {
        if self.keep_order {
            self.order.expect(seq);
        }
    }

    /// A job (seq) starts; `tag` prefixes each of its lines. It may start
    /// after later jobs: `-k` keeps its place (a retry keeps it too).
    pub(crate) fn start(&mut self, seq: u64, tag: Option<Vec<u8>>) {
        self.expect(seq);
        let paint = self.colors.as_ref().and_then(|c| c.paint(seq, false));
        let job = self.jobs.entry(seq).or_default();
        *job = JobOutput {
            tag,
            paint,
            out_at_line_start: true,
            err_at_line_start: true,
            ..JobOutput::default()
        };
    }

    /// Drops what a failed attempt printed; the job keeps its place.
    pub(crate) fn discard(&mut self, seq: u64) {
        if let Some(job) = self.jobs.get_mut(&seq) {
            let chunks = (job.out.chunks.drain(..))
                .chain(job.err.chunks.drain(..))
                .chain(job.out_partial.held.drain(..))
                .chain(job.err_partial.held.drain(..))
                .chain(job.row.take().into_iter().flatten().flatten());
            for chunk in chunks {
                self.store.release(chunk);
            }
            job.out_partial.tail.clear();
            job.err_partial.tail.clear();
            // An unfinished compressor is stopped, its file deleted.
            job.out.packed = None;
            job.err.packed = None;
        }
    }

    /// Job `seq` will never print (it never runs, or what it did is not
    /// to be shown): the jobs after it no longer wait for it, and those
    /// whose turn it now is print.
    pub(crate) fn forget(&mut self, seq: u64) -> io::Result<()> {
        self.discard(seq);
        self.jobs.remove(&seq);
        if self.keep_order && self.order.remove(seq) {
            return self.advance();
        }
        Ok(())
    }

    /// Drops every job `-k` is holding back (their output, joblog lines
    /// and table rows): `--halt now` means they are never printed.
    pub(crate) fn drop_held(&mut self) {
        for seq in self.order.take_all() {
            self.discard(seq);
            self.jobs.remove(&seq);
        }
    }

    /// Whether `seq` may print now (always, unless `-k` makes it wait).
    fn is_live(&self, seq: u64) -> bool {
        !self.keep_order || self.order.front() == Some(seq)
    }

    /// Output from a running job.
    pub(crate) fn output(&mut self, seq: u64, stream: Stream, data: &[u8]) -> io::Result<()> {
        if self.mode == Mode::LineBuffer {
            let live = self.is_live(seq);
            let Some(job) = self.jobs.get_mut(&seq) else {
                return Ok(());
            };
            let partial = job.partial(stream);
            partial.tail.extend_from_slice(data);
            let Some(last_newline) = partial.tail.iter().rposition(|&b| b == b'\n') else {
                if partial.tail.len() > PARTIAL_TAIL {
                    let chunk = self.store.hold(&partial.tail)?;
                    partial.tail.clear();
                    partial.held.push(chunk);
                }
                return Ok(());
            };
            let lines: Vec<u8> = partial.tail.drain(..=last_newline).collect();
            let start: Vec<Chunk> = partial.held.drain(..).collect();
            if live {
                self.print_chunks(seq, stream, start)?;
                return self.print(seq, stream, &lines);
            }
            self.keep(seq, stream, start)?;
            return self.hold(seq, stream, &lines);
        }
        self.hold(seq, stream, data)
    }

    fn hold(&mut self, seq: u64, stream: Stream, data: &[u8]) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            // Dropped (`--halt now`): its output goes nowhere.
            return Ok(());
        };
        if let Some(compression) = &self.compression {
            let held = job.held(stream);
            if held.packed.is_none() {
                let file = match &self.store.tmpdir {
                    Some(dir) => tempfile::tempfile_in(dir)?,
                    None => tempfile::tempfile()?,
                };
                let packing = compression.start(file.try_clone()?)?;
                held.packed = Some(Packed { packing, file });
            }
            if let Some(packed) = &mut held.packed {
                packed.packing.write(data);
            }
            return Ok(());
        }
        job.held(stream).chunks.push(self.store.hold(data)?);
        Ok(())
    }

    /// Holds chunks already in the store (a long unfinished line's).
    fn keep(&mut self, seq: u64, stream: Stream, chunks: Vec<Chunk>) -> io::Result<()> {
        if self.compression.is_none() {
            if let Some(job) = self.jobs.get_mut(&seq) {
                job.held(stream).chunks.extend(chunks);
            } else {
                chunks.into_iter().for_each(|c| self.store.release(c));
            }
            return Ok(());
        }
        let mut result = Ok(());
        for chunk in chunks {
            if result.is_err() {
                self.store.release(chunk);
                continue;
            }
            let mut store = std::mem::take(&mut self.store);
            result = store.drain(chunk, &mut |bytes| self.hold(seq, stream, bytes));
            self.store = store;
        }
        result
    }

    /// A last line without a newline still counts: hold it like a whole one.
    fn hold_partial_lines(&mut self, seq: u64) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let Some(job) = self.jobs.get_mut(&seq) else {
                return Ok(());
            };
            let partial = std::mem::take(job.partial(stream));
            self.keep(seq, stream, partial.held)?;
            if !partial.tail.is_empty() {
                self.hold(seq, stream, &partial.tail)?;
            }
        }
        Ok(())
    }

    /// `--compress`: the job ended, so do its compressors. An error if
    /// one failed (the job then failed too, as in GNU parallel).
    pub(crate) fn seal(&mut self, seq: u64) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let out = job.out.packed.as_mut().map_or(Ok(()), |p| p.packing.finish());
        let err = job.err.packed.as_mut().map_or(Ok(()), |p| p.packing.finish());
        out.and(err)
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
        self.advance()
    }

    /// `-k`: prints every finished job whose turn has come; the running one
    /// whose turn it then is (line-buffer mode) catches up and goes live. A
    /// job expected but not started yet stops it: the jobs after it wait.
    fn advance(&mut self) -> io::Result<()> {
        while let Some(front) = self.order.front() {
            match self.jobs.get(&front) {
                Some(job) if job.finished => {
                    self.order.remove(front);
                    self.print_job(front)?;
                }
                Some(_) if self.mode == Mode::LineBuffer => return self.print_held(front),
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// `--files`: the job's output is in `file`; its name (ended by
    /// `end`) is the job's output. The file gets the name only when the
    /// name is printed: a run killed before then (`-k` holding it back)
    /// leaves no file behind.
    pub(crate) fn name_later(&mut self, seq: u64, file: files::OutFile, end: u8) {
        if let Some(job) = self.jobs.get_mut(&seq) {
            job.unnamed = Some((file, end));
        }
    }

    /// Gives a `--files` file its name, which is then held as the job's
    /// output.
    fn name_file(&mut self, seq: u64) -> io::Result<()> {
        let Some((mut file, end)) = self.jobs.get_mut(&seq).and_then(|job| job.unnamed.take()) else {
            return Ok(());
        };
        let mut name = file.name()?.as_os_str().as_encoded_bytes().to_vec();
        if self.table.is_some() {
            return self.show_name(seq, &name, end);
        }
        name.push(end);
        self.hold(seq, Stream::Stdout, &name)
    }

    /// With a `--results` table, as GNU parallel: a `--files` name (tagged)
    /// is printed at once, and is the row's stdout without its end.
    pub(crate) fn show_name(&mut self, seq: u64, name: &[u8], end: u8) -> io::Result<()> {
        let mut shown = Vec::new();
        if let Some(tag) = self.jobs.get(&seq).and_then(|job| job.tag.as_ref()) {
            shown.extend_from_slice(tag);
            shown.push(b'\t');
        }
        shown.extend_from_slice(name);
        let chunk = self.store.hold(&shown)?;
        if let Some(job) = self.jobs.get_mut(&seq) {
            job.row.get_or_insert_default()[0].push(chunk);
        } else {
            self.store.release(chunk);
        }
        shown.push(end);
        self.write_stream(Stream::Stdout, &shown)
    }

    /// Publishes a finished job and forgets it: prints what it held
    /// (exactly what it wrote, a missing final newline included) or writes
    /// its table row, then its joblog line.
    fn print_job(&mut self, seq: u64) -> io::Result<()> {
        self.name_file(seq)?;
        let finished = self.jobs.get_mut(&seq).and_then(|job| job.finished_as.take());
        let printed = if self.table.is_some() {
            // `--line-buffer`: the rest of its lines first, as GNU parallel.
            let shown = match self.mode {
                Mode::LineBuffer => self.print_held(seq),
                _ => Ok(()),
            };
            shown.and_then(|()| self.write_row(seq, finished.as_ref()))
        } else if crate::parset::active() {
            self.write_parset(seq, finished.as_ref())
        } else {
            self.print_held(seq).and_then(|()| self.end_painted_lines(seq))
        };
        if let (Some(log), Some(finished)) = (&mut self.joblog, &finished)
            && let Err(e) = log.record(finished)
        {
            self.joblog_error.get_or_insert(e);
        }
        self.jobs.remove(&seq);
        printed
    }

    fn print_held(&mut self, seq: u64) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let out: Vec<Chunk> = job.out.chunks.drain(..).collect();
        let err: Vec<Chunk> = job.err.chunks.drain(..).collect();
        let (out_packed, err_packed) = (job.out.packed.take(), job.err.packed.take());
        let printed = self
            .print_chunks(seq, Stream::Stdout, out)
            .and_then(|()| self.print_packed(seq, Stream::Stdout, out_packed));
        self.print_chunks(seq, Stream::Stderr, err)
            .and_then(|()| self.print_packed(seq, Stream::Stderr, err_packed))
            .and(printed)
    }

    /// `--compress`: finishes a stream's compressor and prints what it
    /// kept, through the decompressor.
    fn print_packed(&mut self, seq: u64, stream: Stream, packed: Option<Packed>) -> io::Result<()> {
        let Some(mut packed) = packed else { return Ok(()) };
        packed.packing.finish()?;
        let Some(compression) = self.compression.take() else {
            return Ok(());
        };
        let printed = compression.unpack(&packed.file, &mut |bytes| self.print(seq, stream, bytes));
        self.compression = Some(compression);
        printed
    }

    /// Prints chunks in order; after a failed write, releases the rest
    /// unprinted (their memory and disk space must not be held forever).
    fn print_chunks(&mut self, seq: u64, stream: Stream, chunks: Vec<Chunk>) -> io::Result<()> {
        let mut result = Ok(());
        for chunk in chunks {
            if result.is_ok() {
                result = self.print_chunk(seq, stream, chunk);
            } else {
                self.store.release(chunk);
            }
        }
        result
    }

    /// With a table: writes a job's row and forgets its output. (A job
    /// that did not finish, discarded by `--halt now`, has no row.)
    fn write_row(&mut self, seq: u64, finished: Option<&Finished>) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let mut out = std::mem::take(&mut job.out.chunks);
        let mut err = std::mem::take(&mut job.err.chunks);
        let (mut out_packed, mut err_packed) = (job.out.packed.take(), job.err.packed.take());
        if let Some([row_out, row_err]) = job.row.take() {
            // What was printed, not what is still held (nothing, or `-v`'s
            // line under `--files`).
            for chunk in out.drain(..).chain(err.drain(..)) {
                self.store.release(chunk);
            }
            (out, err, out_packed, err_packed) = (row_out, row_err, None, None);
        }
        for packed in [&mut out_packed, &mut err_packed].into_iter().flatten() {
            packed.packing.finish()?;
        }
        let written = match (finished, self.table.as_mut()) {
            (Some(finished), Some(table)) => table.write_row(
                finished,
                &HeldBytes {
                    store: &self.store,
                    chunks: &out,
                    packed: packed_view(self.compression.as_ref(), &out_packed),
                },
                &HeldBytes {
                    store: &self.store,
                    chunks: &err,
                    packed: packed_view(self.compression.as_ref(), &err_packed),
                },
            ),
            _ => Ok(()),
        };
        for chunk in out.into_iter().chain(err) {
            self.store.release(chunk);
        }
        written
    }

    /// For `parset`: the job's stdout becomes a shell assignment (see
    /// `parset.rs`); its stderr is printed as usual.
    fn write_parset(&mut self, seq: u64, finished: Option<&Finished>) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let out = std::mem::take(&mut job.out.chunks);
        let err = std::mem::take(&mut job.err.chunks);
        let tag = job.tag.clone();
        let (mut out_packed, err_packed) = (job.out.packed.take(), job.err.packed.take());
        if let Some(packed) = &mut out_packed {
            packed.packing.finish()?;
        }
        let mut whole = Vec::new();
        let mut written = HeldBytes {
            store: &self.store,
            chunks: &out,
            packed: packed_view(self.compression.as_ref(), &out_packed),
        }
        .replay(&mut |bytes| {
            whole.extend_from_slice(bytes);
            Ok(())
        });
        for chunk in out {
            self.store.release(chunk);
        }
        if let (Ok(()), Some(finished)) = (&written, finished) {
            written = crate::parset::write_job(&finished.values, tag.as_deref(), &whole);
        }
        self.print_chunks(seq, Stream::Stderr, err)
            .and_then(|()| self.print_packed(seq, Stream::Stderr, err_packed))
            .and(written)
    }

    /// Prints a chunk and releases it. The store stays in place meanwhile:
    /// printing may hold bytes in it (a table's row, see `record`).
    fn print_chunk(&mut self, seq: u64, stream: Stream, chunk: Chunk) -> io::Result<()> {
        let result = match &chunk {
            Chunk::Memory(bytes) => self.print(seq, stream, bytes),
            &Chunk::Spilled { offset, len } => {
                let mut buf = store::piece_buffer(len);
                store::pieces(offset, len).try_for_each(|(at, n)| {
                    self.store.read_spilled(&mut buf[..n], at)?;
                    self.print(seq, stream, &buf[..n])
                })
            }
        };
        self.store.release(chunk);
        result
    }

    /// Writes to our stdout or stderr, tagging lines if asked.
    fn print(&mut self, seq: u64, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return self.write_stream(stream, bytes);
        };
        if job.tag.is_none() && job.paint.is_none() {
            self.record(seq, stream, bytes)?;
            return self.write_stream(stream, bytes);
        }
        let (tag, paint) = (&job.tag, &job.paint);
        let at_line_start = match stream {
            Stream::Stdout => &mut job.out_at_line_start,
            Stream::Stderr => &mut job.err_at_line_start,
        };
        let mut tagged = Vec::with_capacity(bytes.len() + 64);
        // A CR starts a line too (a progress display redraws it), as GNU
        // parallel tags it.
        let ends_line = |b: &u8| matches!(b, b'\n' | b'\r');
        for line in bytes.split_inclusive(ends_line) {
            if *at_line_start {
                if let Some(paint) = paint {
                    tagged.extend_from_slice(&paint.start);
                }
                if let Some(tag) = tag {
                    tagged.extend_from_slice(tag);
                    tagged.push(b'\t');
                }
            }
            *at_line_start = line.last().is_some_and(ends_line);
            match (paint, *at_line_start) {
                // The colour ends before the line does.
                (Some(paint), true) => {
                    tagged.extend_from_slice(&line[..line.len() - 1]);
                    tagged.extend_from_slice(&paint.end);
                    tagged.push(line[line.len() - 1]);
                }
                _ => tagged.extend_from_slice(line),
            }
        }
        self.record(seq, stream, &tagged)?;
        self.write_stream(stream, &tagged)
    }

    /// A job's output, to our stdout or stderr (unless [silenced](Printer::silenced)).
    fn write_stream(&self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        if self.silenced() {
            return Ok(());
        }
        write_stream(stream, bytes)
    }

    /// `--line-buffer` with a `--results` table: what a job prints is its
    /// row's output too (tagged, as GNU parallel stores it).
    fn record(&mut self, seq: u64, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        if self.table.is_none() || self.mode != Mode::LineBuffer || bytes.is_empty() {
            return Ok(());
        }
        let Some(job) = self.jobs.get_mut(&seq) else {
            return Ok(());
        };
        let chunk = self.store.hold(bytes)?;
        let row = job.row.get_or_insert_default();
        row[usize::from(stream == Stream::Stderr)].push(chunk);
        Ok(())
    }

    /// `--color`: a last line without a newline gets its end and one, as
    /// GNU parallel ends it.
    fn end_painted_lines(&mut self, seq: u64) -> io::Result<()> {
        let Some(job) = self.jobs.get(&seq) else {
            return Ok(());
        };
        let Some(paint) = &job.paint else {
            return Ok(());
        };
        let mut end = paint.end.clone();
        end.push(b'\n');
        let (out_open, err_open) = (!job.out_at_line_start, !job.err_at_line_start);
        if out_open {
            write_stream(Stream::Stdout, &end)?;
        }
        if err_open {
            write_stream(Stream::Stderr, &end)?;
        }
        Ok(())
    }

    /// Prints what is left (at exit), in sequence order: nothing is held
    /// forever, even behind a job that never ran.
    pub(crate) fn flush_all(&mut self) -> io::Result<()> {
        self.order.take_all();
        let mut seqs: Vec<u64> = self.jobs.keys().copied().collect();
        seqs.sort_unstable();
        for seq in seqs {
            self.hold_partial_lines(seq)?;
            self.print_job(seq)?;
        }
        io::stdout().flush()
    }
}

/// A stream's compressed output, with what reads it back.
fn packed_view<'a>(
    compression: Option<&'a Compression>,
    packed: &'a Option<Packed>,
) -> Option<(&'a Compression, &'a File)> {
    Some((compression?, &packed.as_ref()?.file))
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
