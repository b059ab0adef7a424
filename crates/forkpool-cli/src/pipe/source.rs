//! The jobs of a `--pipe` run: one per block, each with the next `:::`
//! argument if there are any (GNU parallel uses them for `{}` in turn),
//! or for `--tee` one per argument, each with all of the input.
//!
//! Which cutter makes the blocks:
//! - standard input cut the plain way (by `--block` at record ends; no
//!   `-N`, `-L`, `--regexp`, `--rrs`, `--round-robin`): a regular file is
//!   cut by position ([`Windows`]), the parent reading only around the
//!   cuts and each job's part spliced from the file; a pipe is spliced into
//!   memfds ([`Spool`]), one per block, which the jobs read;
//! - any other standard input goes through the [`Cutter`], in memory;
//! - `--pipepart` cuts its files by position ([`Parts`]), one after the
//!   other, each with its own header;
//! - `--round-robin` deals the cutter's blocks (`robin`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::cutter::{Cutter, Rule};
use super::deliver::Runtime;
use super::part::{Parts, Windows, first_line_end, header_at};
use super::robin::Request;
use super::separator::Separator;
use super::settings::{BlockSize, Mode, Settings};
use super::spool::Spool;
use super::{Block, FilePart, Spooled, Stdin};
use crate::config::{Config, UsageError};
use crate::flags::{Source, SourceArg};
use crate::jobs::{Job, JobSource, Jobs, io_reason};
use crate::replace::{Ahead, Evaluator, Unevaluated};

/// What `jobs::prepare` needs from the room.
pub(crate) struct Prepared {
    pub(crate) jobs: Box<dyn Jobs>,
    pub(crate) runtime: Runtime,
    /// Reading the next job may wait on another process (standard input).
    pub(crate) may_block: bool,
    /// How many bytes of blocks to read ahead of the jobs.
    pub(crate) ahead: usize,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("may_block", &self.may_block)
            .finish_non_exhaustive()
    }
}

/// The sources that give arguments (`{}`) rather than data: for `--pipe`
/// all of them; for `--pipepart` none, or with `--tee` all but the file.
pub(crate) fn arg_sources(settings: &Settings, sources: &[Source]) -> Vec<Source> {
    match (settings.mode, settings.tee) {
        (Mode::Pipe, _) => sources.to_vec(),
        (Mode::Part, false) => Vec::new(),
        (Mode::Part, true) => {
            let first = sources.iter().position(|s| matches!(s.arg, SourceArg::File(_)));
            sources
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != first)
                .map(|(_, s)| s.clone())
                .collect()
        }
    }
}

/// Sets up the blocks and the jobs. `args` gives the arguments, if there
/// are any; `evaluator` evaluates the jobs' perl expressions.
pub(crate) fn prepare(
    settings: &Settings,
    config: &Config,
    mut args: Option<JobSource>,
    evaluator: &Evaluator,
) -> Result<Prepared, UsageError> {
    if evaluator.needs_total && settings.mode == Mode::Pipe && !settings.tee {
        // The number of blocks is not known before the input ends.
        return Err(UsageError("--pipe is incompatible with --eta/--bar/--shuf".into()));
    }
    let fail = |what: &str, e: io::Error| UsageError(format!("{what}: {}", io_reason(&e)));
    let skip_first = config.skip_first_line;
    if skip_first && settings.mode == Mode::Pipe && !settings.tee && settings.spread.is_none() {
        // GNU drops the input's first line before it looks for a header
        // (not for --tee, --shard or --bin, which read it otherwise).
        skip_stdin_line().map_err(|e| fail("cannot read input", e))?;
    }
    // With `-S`, as GNU parallel: the hosts' slots together, when they
    // are known before the hosts are reached (else the dealer waits for
    // the run to tell it; blocks per slot go by this machine's).
    let host_slots = config
        .remote
        .has_hosts()
        .then(|| config.remote.known_slots(config.slots.bound.jobs));
    let slots = host_slots.flatten().unwrap_or(config.jobs);
    let files = data_files(settings, &config.sources)?;
    let total: u64 = files.iter().map(|(_, _, size)| size).sum();
    let block = settings.block.bytes(slots, total);
    let mut runtime = Runtime::new(settings, slots, block, &config.files.tmpdir)
        .map_err(|e| fail("cannot set up --cat/--fifo", e))?;
    let names = Names {
        tmp: runtime.tmp_dir().map(std::path::Path::to_path_buf),
        part: settings.mode == Mode::Part,
    };
    let dry = config.dry_run;
    if settings.tee {
        let mut jobs = Vec::new();
        if let Some(args) = &mut args {
            while let Some(job) = args.next_job().map_err(|e| fail("cannot read input", e))? {
                jobs.push(job);
            }
        }
        if jobs.len() > slots {
            return Err(UsageError("--tee requires --jobs to be higher. Try --jobs 0.".into()));
        }
        if dry && settings.mode == Mode::Pipe {
            show_tee(&config.files.tmpdir, jobs.len()).map_err(|e| fail("cannot write output", e))?;
        }
        let stdins: Vec<Stdin> = match settings.mode {
            Mode::Part => {
                let path = Arc::new(files.first().map(|f| f.0.clone()).unwrap_or_default());
                jobs.iter().map(|_| Stdin::File(path.clone())).collect()
            }
            Mode::Pipe if dry || jobs.is_empty() => Vec::new(),
            Mode::Pipe => super::tee::start(stdin_reader(), jobs.len())
                .map_err(|e| fail("cannot start --tee", e))?
                .into_iter()
                .map(Stdin::Tee)
                .collect(),
        };
        let mut stdins = stdins.into_iter();
        let jobs: VecDeque<Job> = jobs
            .into_iter()
            .map(|mut job| {
                job.stdin = stdins.next();
                names.name(&mut job);
                job
            })
            .collect();
        return Ok(Prepared {
            jobs: Box::new(Evaluated::new(Ready(jobs), evaluator)),
            runtime,
            may_block: false,
            ahead: usize::MAX,
        });
    }
    if let Some(spread) = &settings.spread {
        // --shard/--bin: one job per job slot, each with the next argument.
        let mut arg_jobs = VecDeque::new();
        if let Some(args) = &mut args {
            while let Some(job) = args.next_job().map_err(|e| fail("cannot read input", e))? {
                arg_jobs.push_back(job);
            }
        }
        if arg_jobs.len() > slots {
            return Err(UsageError(format!(
                "{} requires --jobs to be higher than the number of arguments. Increase --jobs.",
                spread.key.option
            )));
        }
        let (stdins, thread) = if dry {
            (Vec::new(), None)
        } else {
            let sharder = super::shard::start_for(spread, stdin_reader(), slots).map_err(UsageError)?;
            (sharder.claims, Some(sharder.thread))
        };
        let mut stdins = stdins.into_iter();
        let ready = (1..=slots as u64)
            .map(|seq| {
                let arg = arg_jobs.pop_front();
                let (records, args, hostgroups) = arg.map(|j| (j.records, j.args, j.hostgroups)).unwrap_or_default();
                let mut job = Job {
                    seq,
                    records,
                    args,
                    total: None,
                    evaluated: None,
                    measured: None,
                    stdin: stdins.next().map(Stdin::Shard),
                    hostgroups,
                };
                names.name(&mut job);
                job
            })
            .collect();
        return Ok(Prepared {
            jobs: Box::new(Evaluated::new(super::shard::SpreadJobs { ready, thread }, evaluator)),
            runtime,
            may_block: true,
            ahead: usize::MAX,
        });
    }
    let header_rule = settings.header.as_ref();
    let blocks = match settings.mode {
        Mode::Part => Blocks::Parts {
            grouped: match &settings.group_by {
                Some(g) => grouped_positions(g, &files, block, header_rule, skip_first)?,
                None => VecDeque::new(),
            },
            files: files.into_iter().collect(),
            current: None,
            block,
            header: header_rule.cloned(),
            separator: settings.separator.clone(),
            skip_first,
        },
        Mode::Pipe => {
            let rule = match (settings.records, settings.lines) {
                (Some(n), _) => Rule::Records(n),
                (None, Some(lines)) => Rule::Lines(lines),
                (None, None) => Rule::Last,
            };
            let plain = rule == Rule::Last
                && !settings.separator.is_regex()
                && !settings.remove_separators
                && !settings.round_robin
                && settings.block_timeout.is_none();
            match regular_stdin().filter(|_| plain) {
                Some((file, offset, size)) => {
                    let header = match header_rule {
                        Some(h) => {
                            header_at(&file, offset, size, block, h).map_err(|e| fail("cannot read input", e))?
                        }
                        None => Vec::new(),
                    };
                    let start = offset + header.len() as u64;
                    Blocks::Windows {
                        windows: Windows::new(file.clone(), size, start, block, settings.separator.clone()),
                        file,
                        header: Arc::from(header),
                    }
                }
                None => {
                    // --block-timeout: reads that give up at the cutter's deadline.
                    let deadline = super::timeout::Deadline::default();
                    let raw: Box<dyn Read + Send> = match settings.block_timeout {
                        Some(_) => Box::new(super::timeout::Timed::new(
                            stdin_file().map_err(|e| fail("cannot read input", e))?,
                            deadline.clone(),
                        )),
                        None => stdin_reader(),
                    };
                    // --group-by: the input marked where the key changes,
                    // its header already taken.
                    let (input, grouped_header) = match &settings.group_by {
                        Some(g) => {
                            let (input, header) =
                                super::group_by::marked_input(g, raw, header_rule).map_err(UsageError)?;
                            (input, Some(header))
                        }
                        None => (raw, None),
                    };
                    let mut cutter = Cutter::new(input, settings.separator.clone(), rule, block);
                    if let Some(timeout) = settings.block_timeout {
                        cutter = cutter.with_timeout(timeout, deadline);
                    }
                    let header = match (grouped_header, header_rule) {
                        (Some(header), _) => header,
                        (None, Some(h)) => cutter.take_header(h).map_err(|e| fail("cannot read input", e))?,
                        (None, None) => Vec::new(),
                    };
                    let header: Arc<[u8]> = Arc::from(header);
                    let remove = settings.remove_separators.then(|| settings.separator.clone());
                    if let Some(pipe) = piped_stdin().filter(|_| plain) {
                        let (read, eof) = cutter.into_rest();
                        // A job's block given once (no second attempt, and
                        // jobs do start): relayed; else kept in memfds.
                        let once = config.retries <= 1 && config.memfree.is_none() && !config.remote.has_hosts();
                        if once && !dry {
                            let requests =
                                super::relay::start(pipe, settings.separator.clone(), block, header, read, eof)
                                    .map_err(|e| fail("cannot read input", e))?;
                            Blocks::Relay(requests)
                        } else {
                            let spool = Spool::new(pipe, settings.separator.clone(), block, header, &read, eof)
                                .map_err(|e| fail("cannot read input", e))?;
                            Blocks::Spool(spool)
                        }
                    } else if settings.round_robin && !dry {
                        let known = match host_slots {
                            Some(known) => known,
                            None => Some(slots),
                        };
                        let (requests, dealer) = super::robin::start(cutter, header, remove, known, config.keep_order)
                            .map_err(|e| fail("cannot start --round-robin", e))?;
                        runtime.set_dealer(dealer);
                        Blocks::Robin(requests)
                    } else {
                        Blocks::Stream {
                            cutter,
                            header,
                            remove,
                            // A dry run shows the jobs --round-robin would start.
                            most: if settings.round_robin { slots } else { usize::MAX },
                        }
                    }
                }
            }
        }
    };
    let may_block = matches!(
        blocks,
        Blocks::Stream { .. } | Blocks::Spool(_) | Blocks::Robin(_) | Blocks::Relay(_)
    );
    let pipe_jobs = PipeJobs {
        blocks,
        args,
        names,
        next_seq: 1,
    };
    Ok(Prepared {
        jobs: Box::new(Evaluated::new(pipe_jobs, evaluator)),
        runtime,
        may_block,
        ahead: usize::try_from(block).unwrap_or(usize::MAX),
    })
}

/// `--pipepart --group-by`: where each file's parts start and end (every
/// error, a column name not in the file's first line, an expression that
/// does not compile or dies, comes before any job).
fn grouped_positions(
    group_by: &super::settings::GroupBy,
    files: &[(PathBuf, Arc<File>, u64)],
    block: u64,
    header: Option<&super::header::HeaderRule>,
    skip_first: bool,
) -> Result<VecDeque<Vec<u64>>, UsageError> {
    let mut all = VecDeque::new();
    for (path, file, size) in files {
        let fail = |e: io::Error| match crate::replace::EvalError::of(&e) {
            Some(why) => UsageError(why.to_string()),
            None => UsageError(format!(
                "cannot read '{}': {}",
                path.display(),
                crate::jobs::io_reason(&e)
            )),
        };
        let first = if skip_first {
            first_line_end(file, *size).map_err(fail)?
        } else {
            0
        };
        let skip = first
            + match header {
                Some(rule) => header_at(file, first, *size, block, rule).map_err(fail)?.len() as u64,
                None => 0,
            };
        let mut keyer = super::group_by::part_keyer(group_by, file).map_err(UsageError)?;
        all.push_back(super::group_by::part_positions(file, skip, *size, block, &mut keyer).map_err(fail)?);
    }
    Ok(all)
}

/// `--pipepart`'s files (path, opened, size): each must be a file we can
/// seek in.
fn data_files(settings: &Settings, sources: &[Source]) -> Result<Vec<(PathBuf, Arc<File>, u64)>, UsageError> {
    if settings.mode != Mode::Part {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for source in sources {
        let SourceArg::File(path) = &source.arg else { continue };
        let not_seekable = || {
            UsageError(format!(
                "--pipepart only works on seekable files, not streams/pipes.\n{} is not a seekable file.",
                path.display()
            ))
        };
        // Looked at before it is opened: opening a fifo would wait for a
        // writer.
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                UsageError(format!("File not found: {}", path.display()))
            } else {
                UsageError(format!("cannot open '{}': {}", path.display(), io_reason(&e)))
            }
        })?;
        let block_device = std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type());
        let open =
            || File::open(path).map_err(|e| UsageError(format!("cannot open '{}': {}", path.display(), io_reason(&e))));
        let (file, size) = if meta.is_file() {
            (open()?, meta.len())
        } else if block_device {
            let file = open()?;
            let size = rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0)).map_err(|_| not_seekable())?;
            (file, size)
        } else if matches!(settings.block, BlockSize::PerSlot(_)) {
            // GNU's words when it sizes the blocks from the files.
            return Err(UsageError(format!(
                "{} is neither a file nor a block device",
                path.display()
            )));
        } else {
            return Err(not_seekable());
        };
        files.push((path.clone(), Arc::new(file), size));
        if settings.tee {
            // --tee pipes the first file; the rest are arguments.
            break;
        }
    }
    if files.is_empty() {
        return Err(UsageError(
            "--pipepart needs a file to split: give it with -a FILE or :::: FILE.".into(),
        ));
    }
    Ok(files)
}

/// `--pipe --tee --dry-run`: GNU parallel's sketch of how it spreads the
/// input (named pipes and `tee`), before the jobs are shown.
fn show_tee(tmpdir: &std::path::Path, jobs: usize) -> io::Result<()> {
    use std::io::Write as _;
    let fifos: Vec<String> = (0..jobs)
        .map(|_| {
            crate::output::files::fresh_name(tmpdir, "fif", "")
                .display()
                .to_string()
        })
        .collect();
    let fifos = fifos.join(" ");
    let mut out = io::stdout().lock();
    write!(
        out,
        "mkfifo {fifos}\ntee --output-error=warn-nopipe {fifos} >/dev/null &\n"
    )?;
    out.flush()
}

/// Standard input, read in big pieces straight into the cutter's buffer
/// (through a descriptor of its own: `std`'s buffer must not keep what
/// `Spool` splices on from).
fn stdin_reader() -> Box<dyn Read + Send> {
    // A bigger pipe means fewer wake-ups of whoever writes into it.
    let _ = rustix::pipe::fcntl_setpipe_size(io::stdin().as_fd(), 1 << 20);
    match io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(File::from(fd)),
        // Closed: an empty input.
        Err(_) => Box::new(io::empty()),
    }
}

/// `--pipe --skip-first-line`: reads standard input up to its first `\n`,
/// a byte at a time (as GNU does) so that no more of it is taken.
fn skip_stdin_line() -> io::Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(io::stdin().as_fd(), &mut byte) {
            Ok(0) | Err(rustix::io::Errno::BADF) => return Ok(()),
            Ok(_) if byte[0] == b'\n' => return Ok(()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Standard input as a file of its own (`/dev/null` if it is closed).
fn stdin_file() -> io::Result<File> {
    let _ = rustix::pipe::fcntl_setpipe_size(io::stdin().as_fd(), 1 << 20);
    match io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => Ok(File::from(fd)),
        Err(_) => File::open("/dev/null"),
    }
}

/// Standard input if it is a pipe (for `Spool`).
fn piped_stdin() -> Option<std::os::fd::OwnedFd> {
    let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    (rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Fifo).then_some(fd)
}

/// Standard input if it is a regular file: (it, our offset in it, its size).
fn regular_stdin() -> Option<(Arc<File>, u64, u64)> {
    let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let offset = rustix::fs::seek(&file, rustix::fs::SeekFrom::Current(0)).ok()?;
    Some((Arc::new(file), offset, meta.len()))
}

/// How a job's `{}` is named.
#[derive(Debug)]
struct Names {
    /// `--cat`/`--fifo`: the directory of the files (`{}`).
    tmp: Option<PathBuf>,
    /// `--pipepart`: a job without arguments has GNU parallel's `\0noarg`.
    part: bool,
}

impl Names {
    /// `{}` is the file with `--cat`/`--fifo`; without arguments it is
    /// empty with `--pipe` (`''` in the command, as GNU's) and nothing
    /// with `--pipepart` (GNU's `\0noarg`: no word at all, as with `-N0`);
    /// `{#}` and the like still work. A command with no replacement string
    /// of its own gets nothing appended then (see `run`).
    fn name(&self, job: &mut Job) {
        if let Some(dir) = &self.tmp {
            let path = dir.join(job.seq.to_string());
            job.args = vec![path.into_os_string().into_encoded_bytes()];
        } else if job.args.is_empty() && self.part {
            // A record, as GNU's: `--results DIR` makes `DIR/1/\0noarg/`.
            job.records = vec![vec![crate::replace::NOARG.to_vec()]];
            job.args = job.records[0].clone();
        } else if job.args.is_empty() {
            job.args = vec![Vec::new()];
        }
    }
}

/// Jobs with their perl expressions evaluated, in batches where the next
/// job is at hand (as `JobSource` does).
struct Evaluated<S> {
    source: S,
    evaluator: Evaluator,
    ahead: Ahead,
}

impl<S: Unevaluated + Send> Evaluated<S> {
    fn new(source: S, evaluator: &Evaluator) -> Evaluated<S> {
        Evaluated {
            source,
            evaluator: evaluator.clone(),
            ahead: Ahead::default(),
        }
    }
}

impl<S: Unevaluated + Send> Jobs for Evaluated<S> {
    fn next_job(&mut self) -> io::Result<Option<Job>> {
        self.ahead.next(&self.evaluator, &mut self.source)
    }
}

/// Jobs made up front (`--tee`).
struct Ready(VecDeque<Job>);

impl Unevaluated for Ready {
    fn next_unevaluated(&mut self) -> io::Result<Option<Job>> {
        Ok(self.0.pop_front())
    }

    fn input_ready(&self) -> bool {
        true
    }
}

enum Blocks {
    Stream {
        cutter: Cutter<Box<dyn Read + Send>>,
        header: Arc<[u8]>,
        remove: Option<Separator>,
        /// Blocks to take at most.
        most: usize,
    },
    Spool(Spool),
    Windows {
        windows: Windows,
        file: Arc<File>,
        header: Arc<[u8]>,
    },
    Parts {
        files: VecDeque<(PathBuf, Arc<File>, u64)>,
        current: Option<PartedFile>,
        block: u64,
        header: Option<super::header::HeaderRule>,
        separator: Separator,
        /// `--group-by`: each file's part boundaries, found up front.
        grouped: VecDeque<Vec<u64>>,
        skip_first: bool,
    },
    Robin(Receiver<Request>),
    Relay(Receiver<super::relay::Request>),
}

impl Blocks {
    fn next(&mut self) -> io::Result<Option<Stdin>> {
        match self {
            Blocks::Stream {
                cutter,
                header,
                remove,
                most,
            } => {
                if *most == 0 {
                    return Ok(None);
                }
                *most -= 1;
                let recycler = cutter.recycler();
                Ok(cutter.next_block()?.map(|data| {
                    let data = match remove {
                        Some(separator) => {
                            let removed = separator.remove(&data);
                            recycler.give(data);
                            removed
                        }
                        None => data,
                    };
                    Stdin::Block(Arc::new(Block {
                        header: header.clone(),
                        data,
                        recycler: Some(recycler),
                    }))
                }))
            }
            Blocks::Spool(spool) => Ok(spool.next_block()?.map(|(file, len)| {
                Stdin::Spooled(Arc::new(Spooled {
                    file: Arc::new(file),
                    len,
                }))
            })),
            Blocks::Windows { windows, file, header } => match windows.next_part()? {
                Some(range) => Ok(Some(Stdin::Part(Arc::new(FilePart {
                    file: file.clone(),
                    path: None,
                    header: header.clone(),
                    range,
                })))),
                None => {
                    // Like a reader of the whole input, leave it at its end.
                    let _ = rustix::fs::seek(&**file, rustix::fs::SeekFrom::Start(windows.size()));
                    Ok(None)
                }
            },
            Blocks::Parts {
                files,
                current,
                block,
                header,
                separator,
                grouped,
                skip_first,
            } => loop {
                if let Some(PartedFile {
                    parts,
                    file,
                    header: head,
                    path,
                }) = current
                {
                    if let Some(range) = parts.next_part()? {
                        return Ok(Some(Stdin::Part(Arc::new(FilePart {
                            file: file.clone(),
                            path: Some(path.clone()),
                            header: head.clone(),
                            range,
                        }))));
                    }
                    *current = None;
                }
                let Some((path, file, size)) = files.pop_front() else {
                    return Ok(None);
                };
                // `--skip-first-line`: each file's, as GNU's.
                let first = if *skip_first { first_line_end(&file, size)? } else { 0 };
                let head = match header {
                    Some(rule) => header_at(&file, first, size, *block, rule)?,
                    None => Vec::new(),
                };
                let parts = match grouped.pop_front() {
                    Some(positions) => Parts::at_positions(file.clone(), positions, separator.clone()),
                    None => Parts::new(file.clone(), size, first + head.len() as u64, *block, separator.clone()),
                };
                *current = Some(PartedFile {
                    parts,
                    file,
                    header: Arc::from(head),
                    path: Arc::new(path),
                });
            },
            Blocks::Robin(requests) => match requests.recv() {
                Ok(Ok(claim)) => Ok(Some(Stdin::Dealt(claim))),
                Ok(Err(e)) => Err(e),
                Err(_) => Ok(None),
            },
            Blocks::Relay(requests) => match requests.recv() {
                Ok(Ok(claim)) => Ok(Some(Stdin::Relayed(claim))),
                Ok(Err(e)) => Err(e),
                Err(_) => Ok(None),
            },
        }
    }
}

/// `--pipepart`: the file being cut, with its header and name.
struct PartedFile {
    parts: Parts,
    file: Arc<File>,
    header: Arc<[u8]>,
    path: Arc<PathBuf>,
}

/// One job per block.
struct PipeJobs {
    blocks: Blocks,
    args: Option<JobSource>,
    names: Names,
    next_seq: u64,
}

impl Unevaluated for PipeJobs {
    /// Only a file's next part is sure to be at hand; a stream's next block
    /// may wait for input.
    fn input_ready(&self) -> bool {
        matches!(self.blocks, Blocks::Windows { .. } | Blocks::Parts { .. })
    }

    fn next_unevaluated(&mut self) -> io::Result<Option<Job>> {
        let Some(stdin) = self.blocks.next()? else {
            return Ok(None);
        };
        let (records, args, hostgroups) = match &mut self.args {
            Some(source) => match source.next_job()? {
                Some(job) => (job.records, job.args, job.hostgroups),
                None => {
                    self.args = None;
                    (Vec::new(), Vec::new(), None)
                }
            },
            None => (Vec::new(), Vec::new(), None),
        };
        let mut job = Job {
            seq: self.next_seq,
            records,
            args,
            total: None,
            evaluated: None,
            measured: None,
            stdin: Some(stdin),
            hostgroups,
        };
        self.next_seq += 1;
        self.names.name(&mut job);
        Ok(Some(job))
    }
}
