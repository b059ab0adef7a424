//! From input records to jobs: preparing the sources and templates; the
//! grouping of records per job (`-n`, `-N`, `-X`, `-m`) is in `source.rs`.

use std::io;
use std::os::unix::ffi::OsStrExt;

use regex::bytes::Regex;

use crate::config::{Config, Header, Tag, UsageError};
use crate::flags::SourceArg;
use crate::input::{Columns, Reader, Record, Records, Source, Splitter};
use crate::replace::{Evaluated, Evaluator, MeasuredLine, Program, Shape, Sources, Template, Values};
use crate::results::Results;
use crate::table::{Format, Table};

mod shuffle;
mod source;

pub(crate) use source::JobSource;

/// Command lines that group several items (`-n`, `-N`, `-X`, `-m`) stay
/// shorter than this. It is GNU parallel's limit on Linux, so the same
/// input makes the same jobs (and `{#}`): GNU probes the longest line
/// `sh -c` accepts (130,329 bytes: one argument may hold 128 KiB), keeps
/// 3,000 bytes for its wrappers and halves the rest for its encoding.
pub(crate) const MAX_LINE: usize = (130_329 - 3_000) / 2;

/// One job's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// Its sequence number, `{#}`, from 1.
    pub(crate) seq: u64,
    /// The input records it uses (several with `-n`, `-X`...).
    pub(crate) records: Vec<Record>,
    /// Every value of those records, in order.
    pub(crate) args: Vec<Vec<u8>>,
    /// The number of jobs, when an expression needs it (`{##}`).
    pub(crate) total: Option<u64>,
    /// What perl computed for its `{= =}` expressions.
    pub(crate) evaluated: Option<Evaluated>,
    /// What perl measured of each record as the line was filled (`-X`,
    /// `-N`... with `{= =}`), kept for the job.
    pub(crate) measured: Option<MeasuredLine>,
    /// `--pipe`: what it reads.
    pub(crate) stdin: Option<crate::pipe::Stdin>,
    /// `--hostgroups`: the host groups that may run it (`None`: any).
    pub(crate) hostgroups: Option<Vec<String>>,
}

impl Job {
    /// Job 1 of these records (for tests elsewhere).
    #[cfg(test)]
    pub(crate) fn for_test(records: Vec<Record>) -> Job {
        Job::new(1, records)
    }

    /// Its input values, for a `--results` table's row: a `--pipe` job
    /// past its arguments has none (its `{}` is an empty word only).
    pub(crate) fn input_values(&self) -> Vec<Vec<u8>> {
        if self.records.is_empty() {
            Vec::new()
        } else {
            self.args.clone()
        }
    }

    fn new(seq: u64, records: Vec<Record>) -> Job {
        let args = records.iter().flatten().cloned().collect();
        Job {
            seq,
            records,
            args,
            total: None,
            evaluated: None,
            measured: None,
            stdin: None,
            hostgroups: None,
        }
    }

    /// Whether a perl expression called `skip()` for it.
    pub(crate) fn skipped(&self) -> bool {
        self.evaluated.as_ref().is_some_and(|e| e.skip)
    }

    /// The values it renders with, in `slot`.
    pub(crate) fn values(&self, slot: usize) -> Values<'_> {
        Values {
            args: &self.args,
            seq: self.seq,
            slot,
            total: self.total,
            evaluated: self.evaluated.as_ref(),
        }
    }
}

/// Where jobs come from: input records grouped by a [`JobSource`], or the
/// blocks of `--pipe`.
pub(crate) trait Jobs: Send {
    /// The next job, or `None` at the end of the input.
    fn next_job(&mut self) -> io::Result<Option<Job>>;

    /// Every remaining job (for `--shuf`, `--bar`, `--eta` and `--halt N%`,
    /// which need them all up front).
    fn collect_all(&mut self) -> io::Result<Vec<Job>> {
        let mut all = Vec::new();
        while let Some(job) = self.next_job()? {
            all.push(job);
        }
        Ok(all)
    }
}

impl std::fmt::Debug for dyn Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jobs")
    }
}

impl Jobs for JobSource {
    fn next_job(&mut self) -> io::Result<Option<Job>> {
        JobSource::next_job(self)
    }
}

/// Everything parsed from the configuration before jobs start.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) command: Template,
    pub(crate) tag: Option<Template>,
    pub(crate) results: Option<Results>,
    /// `--results FILE.csv` (or `.tsv`, `.json`).
    pub(crate) table: Option<Table>,
    /// Reading the input may wait on another process (a pipe, a terminal):
    /// it is read on its own thread.
    pub(crate) input_may_block: bool,
    pub(crate) jobs: Box<dyn Jobs>,
    /// `--pipe`: what the jobs' input needs while they run.
    pub(crate) pipe: Option<crate::pipe::Runtime>,
    /// Bytes of input the input thread may read ahead of the jobs.
    pub(crate) ahead: usize,
    /// `--filter`'s expressions.
    pub(crate) filters: Vec<Template>,
    /// `--workdir`.
    pub(crate) workdir: Option<crate::workdir::Workdir>,
    /// `--template`s.
    pub(crate) templates: Vec<crate::tmpl::Filled>,
    /// Evaluates perl expressions that need the job's slot, as it starts.
    pub(crate) at_launch: Option<Evaluator>,
    /// `--transferfile`, `--return`, `--workdir`.
    pub(crate) remote: crate::remote::launch::Templates,
    /// How GNU parallel measures the command line (all templates counted).
    pub(crate) shape: Shape,
}

/// Opens the sources, reads their headers and parses every template.
pub(crate) fn prepare(config: &Config) -> Result<Prepared, UsageError> {
    let splitter = match &config.strings.csv_separator {
        Some(sep) => Splitter::csv(sep.as_bytes(), &config.delimiter),
        None => Splitter::new(config.colsep.clone()),
    };
    let mut columns = Vec::new();
    let mut linked = Vec::new();
    let mut file_names = Vec::new();
    let mut input_may_block = false;
    let sources: Vec<(SourceArg, bool)> = match &config.pipe {
        // `--pipe` reads standard input for data: only the other sources
        // give arguments.
        Some(pipe) => crate::pipe::arg_sources(pipe, &config.sources)
            .into_iter()
            .map(|s| (s.arg, s.linked))
            .collect(),
        None if config.sources.is_empty() => vec![(SourceArg::File("-".into()), false)],
        None => config.sources.iter().map(|s| (s.arg.clone(), s.linked)).collect(),
    };
    // Standard input named by more than one source is one stream they take
    // turns at, as in GNU parallel.
    let stdin_sources = sources
        .iter()
        .filter(|(arg, _)| matches!(arg, SourceArg::File(path) if path.as_os_str() == "-"))
        .count();
    let mut shared_stdin: Option<crate::input::SharedReader> = None;
    for (arg, is_linked) in sources {
        let source = match &arg {
            SourceArg::File(path) if stdin_sources > 1 && path.as_os_str() == "-" => {
                file_names.push(Some(b"-".to_vec()));
                let reader = match &shared_stdin {
                    Some(reader) => reader.clone(),
                    None => {
                        let reader = Reader::open(path, config.delimiter.clone())
                            .map_err(|_| UsageError(cannot_open_input(path)))?;
                        input_may_block |= reader.may_block();
                        shared_stdin
                            .insert(std::sync::Arc::new(std::sync::Mutex::new(reader)))
                            .clone()
                    }
                };
                Source::Shared(reader)
            }
            SourceArg::Values(values) => {
                file_names.push(None);
                Source::delimited_values(values, &config.delimiter)
            }
            SourceArg::File(path) => {
                file_names.push(Some(path.as_os_str().as_bytes().to_vec()));
                let reader =
                    Reader::open(path, config.delimiter.clone()).map_err(|_| UsageError(cannot_open_input(path)))?;
                input_may_block |= reader.may_block();
                Source::Lines(reader)
            }
        };
        let mut source = source;
        if config.skip_first_line && columns.is_empty() {
            // `--skip-first-line` (a script's #! line): the first source's
            // first line, before anything else reads it.
            source
                .next()
                .transpose()
                .map_err(|e| UsageError(format!("cannot read input: {}", io_reason(&e))))?;
        }
        let rules = crate::xargs::items::Rules {
            eof: config.xargs.eof.clone(),
            skip_blank: config.xargs.skip_blank,
            continue_lines: config.xargs.max_lines.is_some(),
            check_crlf: config.check_crlf,
        };
        let source = if rules.any() {
            Source::Xargs(Box::new(crate::xargs::items::Items::new(source, rules)))
        } else {
            source
        };
        columns.push(Columns::new(source, splitter.clone()));
        linked.push(is_linked);
    }

    let mut names: Vec<(Vec<u8>, i64)> = Vec::new();
    let mut result_names: Vec<Vec<u8>> = Vec::new();
    match config.header {
        None => {}
        Some(Header::FirstLine) => {
            let split = match (&config.strings.csv_separator, config.colsep.clone()) {
                (Some(sep), _) => Regex::new(&regex::escape(sep)).map_err(|e| UsageError(e.to_string()))?,
                (None, Some(re)) => re,
                (None, None) => Regex::new("\t").map_err(|e| UsageError(e.to_string()))?,
            };
            let mut position = 1;
            for source in &mut columns {
                let header = source
                    .take_header(&split)
                    .map_err(|e| UsageError(format!("cannot read the header: {}", io_reason(&e))))?;
                for name in header {
                    result_names.push(name.clone());
                    names.push((name, position));
                    position += 1;
                }
            }
        }
        Some(Header::FileNames) => {
            for (i, name) in file_names.into_iter().enumerate() {
                if let Some(name) = name {
                    result_names.push(name.clone());
                    names.push((name, i as i64 + 1));
                } else {
                    result_names.push((i + 1).to_string().into_bytes());
                }
            }
        }
    }
    // Longest names first, so `{ab}` is not read as `{a}` + "b}".
    names.sort_by_key(|name| std::cmp::Reverse(name.0.len()));

    let results_text = config.results.as_deref().filter(|text| Format::of(text).is_none());
    // `--filter`, `--workdir DIR` and `--template` texts have replacement
    // strings too, parsed with the others.
    let workdir_text = config
        .workdir
        .as_deref()
        .filter(|d| !matches!(*d, "" | "." | "..."))
        .map(|d| ("--workdir", d.as_bytes().to_vec()));
    let mut extra: Vec<(&str, Vec<u8>)> = config.filters.iter().map(|f| ("--filter", f.clone())).collect();
    extra.extend(workdir_text.clone());
    for t in &config.templates {
        extra.extend([("--template", t.name.clone()), ("--template", t.content.clone())]);
    }
    // Then the remote file options' (`--transferfile`, `--return`,
    // `--workdir` on hosts).
    extra.extend(config.remote.file_templates());
    let program = Program::prepare(
        &config.strings.table,
        Sources {
            command: &config.command,
            quote: config.quote,
            tag: match &config.tag {
                Tag::Template(text) => Some(text),
                _ => None,
            },
            results: results_text,
            names: &names,
            trim: config.strings.trim.unwrap_or_default(),
            slots: config.jobs,
            multi: config.multi,
            extra: &extra,
        },
    )
    .map_err(UsageError)?;
    let Program {
        command,
        tag,
        results: results_template,
        extra,
        evaluator,
    } = program;
    // GNU's line length counts the other templates' strings too.
    let also: Vec<crate::replace::Marker> = tag
        .iter()
        .chain(&results_template)
        .chain(&extra)
        .flat_map(|t| t.markers().collect::<Vec<_>>())
        .collect();
    let mut table = None;
    let mut results = None;
    if let Some(text) = &config.results {
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(text));
        if let Some(format) = Format::of(text) {
            let names = config.header.is_some().then_some(result_names);
            let created = Table::create(path, format, names).map_err(|e| {
                UsageError(format!(
                    "Cannot open results file '{}': {}.",
                    path.display(),
                    io_reason(&e)
                ))
            })?;
            table = Some(created);
        } else if let Some(template) = results_template {
            results = Some(Results::Template(template));
        } else {
            results = Some(Results::Dir {
                root: path.to_path_buf(),
                names: result_names,
            });
        }
    }
    let has_args = !columns.is_empty();
    let mut extra = extra.into_iter();
    let filters: Vec<Template> = extra.by_ref().take(config.filters.len()).collect();
    let mut workdir_template = workdir_text.and_then(|_| extra.next());
    let workdir = crate::workdir::resolve(config.workdir.as_deref(), |_| {
        workdir_template
            .take()
            .ok_or_else(|| "--workdir has no template".to_owned())
    })
    .map_err(UsageError)?;
    let templates: Vec<crate::tmpl::Filled> = config
        .templates
        .iter()
        .filter_map(|_| {
            Some(crate::tmpl::Filled {
                name: extra.next()?,
                content: extra.next()?,
            })
        })
        .collect();
    let remote = crate::remote::launch::Templates::new(&config.remote, extra.collect());
    let records = Records::new(columns, &linked, config.linking);
    // `$PARALLEL_ENV`'s code, in front of every command line, counts
    // against it when -X/-m fill one, as in GNU parallel.
    let env_code = config.parallel_env.as_ref().map_or(0, Vec::len);
    let mut source = JobSource::new(records, config.batching, config.multi, command.clone(), config.jobs).with_limits(
        config.max_line.saturating_sub(env_code),
        config.spread,
        config.measure(),
    );
    source.shape.count_also(also);
    if matches!(config.tag, Tag::Args) || config.bar {
        source.shape.count_args_also(command.context());
    }
    let shape = source.shape.clone();
    source.input_may_block = input_may_block;
    source.hostgroups = config.remote.hostgroups;
    source.shuffle = config.shuffle;
    source.no_args = config.no_args;
    let (jobs, pipe, ahead): (Box<dyn Jobs>, _, _) = match &config.pipe {
        None => {
            source.evaluator = Some(evaluator.clone());
            (Box::new(source), None, usize::MAX)
        }
        Some(settings) => {
            // The arguments only: perl evaluates the pipe's own jobs.
            let args = has_args.then_some(source);
            let prepared = crate::pipe::prepare(settings, config, args, &evaluator)?;
            input_may_block |= prepared.may_block;
            (prepared.jobs, Some(prepared.runtime), prepared.ahead)
        }
    };
    Ok(Prepared {
        shape,
        jobs,
        pipe,
        ahead,
        remote,
        templates,
        filters,
        workdir,
        command,
        tag,
        results,
        table,
        input_may_block,
        at_launch: evaluator.at_launch.then_some(evaluator),
    })
}

/// GNU parallel's words for an input file (`-a`, `::::`) it cannot open,
/// whatever the reason: scripts match on them.
pub(crate) fn cannot_open_input(path: &std::path::Path) -> String {
    format!(
        "Cannot open input file `{}': No such file or directory.",
        path.display()
    )
}

/// The reason part of an I/O error, as `strerror` words it.
pub(crate) fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
