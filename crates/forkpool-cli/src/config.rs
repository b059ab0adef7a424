//! The checked configuration: raw flags resolved into what the run needs.
//! Every bad value is reported here, as one line naming the problem,
//! before any job runs.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use forkpool::command::TermSeq;
use regex::bytes::Regex;

use crate::flags::{Flags, Separators, Source, split_command_with};
use crate::halt::Halt;
use crate::input::{Linking, parse_delimiter};
use crate::output::Mode;
use crate::replace::{Multi, Trim};
use crate::shell::Shell;
use crate::units::{parse_count, parse_duration, parse_size};

/// A usage error: printed as `forkpool: <message>`, exit status 255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// GNU parallel's test of a `--timeout`: `N`, `N.N`, either with `%`, or
/// numbers each with a unit of `d`, `h`, `m`, `s` (any case): `1m30s`.
fn gnu_timeout_syntax(text: &str) -> bool {
    /// Length of the leading `\d+(\.\d+)?` of `text`, if it has one.
    fn number(text: &str) -> Option<usize> {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let whole = digits(text);
        if whole == 0 {
            return None;
        }
        match text[whole..].strip_prefix('.') {
            Some(rest) if digits(rest) > 0 => Some(whole + 1 + digits(rest)),
            _ => Some(whole),
        }
    }
    if let Some(n) = number(text)
        && matches!(&text[n..], "" | "%")
    {
        return true;
    }
    let mut rest = text;
    while !rest.is_empty() {
        let Some(n) = number(rest) else { return false };
        if !rest[n..].starts_with(|c: char| "dhmsDHMS".contains(c)) {
            return false;
        }
        rest = &rest[n + 1..];
    }
    !text.is_empty()
}

/// Whether `spec` is a `--load` value itself rather than a file's name.
fn is_load_spec(spec: &str) -> bool {
    load_of(spec, 1).is_some()
}

/// A `--load` value as GNU parallel reads it (the syntax of `--jobs`):
/// `+N` and `-N` CPUs more or fewer than there are, `N%` of them, or a
/// number; anything else is not a load.
fn load_of(spec: &str, cpus: usize) -> Option<f64> {
    let whole = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<f64>().ok())
            .flatten()
    };
    if let Some(n) = spec.strip_prefix('+') {
        return whole(n).map(|n| cpus as f64 + n);
    }
    if let Some(n) = spec.strip_prefix('-') {
        return whole(n).map(|n| cpus as f64 - n);
    }
    if let Some(pct) = spec.strip_suffix('%') {
        return whole(pct).map(|p| cpus as f64 * p / 100.0);
    }
    let (int, frac) = spec.split_once('.').unwrap_or((spec, "0"));
    whole(int)?;
    whole(frac)?;
    spec.parse::<f64>().ok()
}

/// An option's value as GNU parallel's Perl tests it (`if($opt::x)`):
/// `""` and `"0"` are false, so the option counts as not given.
pub(crate) fn perl_true(value: Option<&String>) -> Option<String> {
    value.filter(|v| is_perl_true(v)).cloned()
}

/// Whether Perl reads `value` as true: not `""`, not `"0"`.
fn is_perl_true(value: &str) -> bool {
    !value.is_empty() && value != "0"
}

/// An option's value as GNU parallel `eval`s it (`-n`, `-N`, `-s`, `-L`):
/// empty or blank, it is no value at all, as if the option were not given.
pub(crate) fn perl_eval_given(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

fn bad(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// A regex error on one line: its reason ("unclosed group"), without the
/// pattern-and-caret drawing around it.
pub(crate) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid");
    last.trim().trim_start_matches("error: ").to_owned()
}

/// How input items are grouped into jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batching {
    /// One record per job.
    Single,
    /// `-n N` / `-N N`: N records per job (`-n 0`: read one, use none).
    Count(usize),
    /// `-X` / `-m`: as many as fit the command line.
    Fill,
}

/// `--timeout`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Timeout {
    Fixed(Duration),
    /// A fraction of the median runtime of successful jobs.
    Median(f64),
}

/// `--delay`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Delay {
    pub(crate) base: Duration,
    /// `auto`: +30% after a failure, -10% after a success.
    pub(crate) auto: bool,
}

/// `--tag` / `--tagstring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    None,
    Args,
    Template(Vec<u8>),
}

/// `--header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Header {
    /// The first line of each source names its columns.
    FirstLine,
    /// `--header 0`: sources are named after their files.
    FileNames,
}

/// `--resume` / `--resume-failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    No,
    Skip,
    RetryFailed,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) command: Vec<Vec<u8>>,
    pub(crate) sources: Vec<Source>,
    pub(crate) delimiter: Vec<u8>,
    pub(crate) colsep: Option<Regex>,
    pub(crate) header: Option<Header>,
    pub(crate) linking: Linking,
    pub(crate) batching: Batching,
    pub(crate) multi: Multi,
    /// `-m`, `-X`: the last of the input is shared out over the slots.
    pub(crate) spread: bool,
    /// The longest command line allowed (`-s`, else GNU parallel's).
    pub(crate) max_line: usize,
    /// `-E`, `-r`, `-L`, `--xargs`.
    pub(crate) xargs: crate::xargs::Xargs,
    /// Items end in a newline by default: warn if the input's lines end
    /// in CR-NL, as GNU parallel does.
    pub(crate) check_crlf: bool,
    /// `-N`: positional strings refer to the job's arguments.
    pub(crate) quote: bool,
    pub(crate) jobs: usize,
    /// Where `jobs` came from (`-j 0`, `-j FILE`) and what bounds it.
    pub(crate) slots: crate::limits::slots::Slots,
    /// `--limit`, `--memsuspend`, `--noswap`.
    pub(crate) limits: crate::limits::Limits,
    pub(crate) delay: Option<Delay>,
    pub(crate) memfree: Option<u64>,
    pub(crate) load: Option<f64>,
    pub(crate) nice: Option<i32>,
    pub(crate) shuffle: bool,
    pub(crate) mode: Mode,
    pub(crate) keep_order: bool,
    pub(crate) tag: Tag,
    /// Whether `--tag` (or `--ctag`) was given: `--onall` tags lines with
    /// the host only then, whatever `--tagstring` says (as GNU parallel).
    pub(crate) tag_option: bool,
    pub(crate) results: Option<Vec<u8>>,
    /// `-t`: each command on stderr as it starts.
    pub(crate) verbose: bool,
    /// `-v`, `-v -v`, `--silent`, `-p`.
    pub(crate) show: crate::output::verbose::Verbose,
    /// `--files`, `--tmpdir`, `--compress`.
    pub(crate) files: crate::output::files::Files,
    /// `--process-slot-var`: jobs find their slot - 1 in this variable.
    pub(crate) process_slot_var: std::ffi::OsString,
    /// `--shellquote`, counted: print the commands quoted that many times.
    pub(crate) shellquote: u8,
    /// `--filter`: Perl expressions that must hold for a job to run.
    pub(crate) filters: Vec<Vec<u8>>,
    /// `--workdir`, as given.
    pub(crate) workdir: Option<String>,
    /// `--tty`, `--open-tty`: jobs read the terminal.
    pub(crate) tty: bool,
    /// `--skip-first-line`.
    pub(crate) skip_first_line: bool,
    /// `--template`s, read; `--cleanup` removes what they write.
    pub(crate) templates: Vec<crate::tmpl::Source>,
    pub(crate) cleanup: bool,
    pub(crate) timeout: Option<Timeout>,
    pub(crate) termseq: TermSeq,
    /// `--termseq` was given: a first SIGINT/SIGTERM stops jobs with it.
    pub(crate) termseq_given: bool,
    /// Attempts per job; 0 means until it succeeds.
    pub(crate) retries: u32,
    pub(crate) halt: Halt,
    pub(crate) joblog: Option<(PathBuf, bool)>,
    pub(crate) resume: Resume,
    pub(crate) dry_run: bool,
    pub(crate) bar: bool,
    pub(crate) progress: bool,
    pub(crate) eta: bool,
    /// `--color`, `--color-failed` (none with `-u`).
    pub(crate) colors: Option<crate::output::color::Colors>,
    /// `--total-jobs`: the number of jobs, for `--eta` and `--bar`.
    pub(crate) total_jobs: Option<u64>,
    pub(crate) shell: Shell,
    /// `-S`, `--slurm` and the rest of the remote options.
    pub(crate) remote: crate::remote::Settings,
    /// Replacement strings: `-I`, `--plus`, `--rpl`, `--trim`, `--csv`, colour...
    pub(crate) strings: crate::replace::Settings,
    /// `--pipe`, `--pipepart`: the input cut into blocks for the jobs.
    pub(crate) pipe: Option<crate::pipe::Settings>,
    /// `$PARALLEL_ENV`: shell code run before every command.
    pub(crate) parallel_env: Option<Vec<u8>>,
    /// Running a semaphore's command: it gets our stdin, and its exit
    /// status is ours.
    pub(crate) semaphore: bool,
}

/// The number of CPUs (threads, unless told to count cores or sockets).
pub(crate) fn cpus() -> usize {
    crate::limits::cpus::cpus()
}

impl Config {
    /// How command lines are measured against `max_line`.
    pub(crate) fn measure(&self) -> crate::xargs::length::Measure {
        crate::xargs::length::Measure {
            quote: self.quote,
            shellquote: self.shellquote,
        }
    }
}

/// What GNU parallel has open for its input: its input files (not
/// standard input, open already) and its `:::` lists.
pub(crate) fn gnu_counted_sources(sources: &[Source]) -> (usize, usize) {
    let files = sources
        .iter()
        .filter(|s| matches!(&s.arg, crate::flags::SourceArg::File(f) if f.as_os_str() != "-"))
        .count();
    let lists = sources
        .iter()
        .filter(|s| matches!(s.arg, crate::flags::SourceArg::Values(_)))
        .count();
    (files, lists)
}

/// What one running job costs in file handles and processes.
fn per_job_cost(mode: Mode, results: bool, pipe: bool, sources: &[Source]) -> crate::limits::system::Cost {
    // A pidfd, and a pipe per captured stream; result files are open too.
    let mut fds = if mode == Mode::Ungroup { 1 } else { 3 };
    if results {
        fds += 2;
    }
    // `--pipe`: its block (a memfd, a pipe or a file) on its stdin.
    if pipe {
        fds += 1;
    }
    let (files, lists) = gnu_counted_sources(sources);
    crate::limits::system::Cost {
        fds,
        processes: 1,
        gnu_own_fds: crate::limits::system::gnu_own_fds(files, lists),
    }
}

/// The most jobs `sources` can make, if they are all `:::` lists (none read
/// from a file or standard input): the number of combinations of their
/// values (linking, `-N`, `-X` and filters only make fewer). At least one,
/// as a run without arguments may still run its command once.
fn jobs_at_most(sources: &[Source]) -> Option<usize> {
    if sources.is_empty() {
        return None;
    }
    sources
        .iter()
        .try_fold(1usize, |product, source| match &source.arg {
            crate::flags::SourceArg::Values(values) => Some(product.saturating_mul(values.len())),
            crate::flags::SourceArg::File(_) => None,
        })
        .map(|n| n.max(1))
}

impl Config {
    /// Resolves and checks the flags.
    pub(crate) fn from_flags(mut flags: Flags) -> Result<Config, UsageError> {
        // GNU tests --results as a Perl truth: `--results ''` (an unset
        // variable in a script) is no --results, not files in `.`.
        flags.results = perl_true(flags.results.as_ref());
        // So do these (`$opt::x` tested for truth before use): an unset
        // variable (`--workdir "$WD"`) or `0` is the option not given.
        for value in [
            &mut flags.termseq,
            &mut flags.limits.limit,
            &mut flags.workdir.workdir,
            &mut flags.files.compress_program,
            &mut flags.files.decompress_program,
            &mut flags.replace_strings.arg_file_sep,
        ] {
            *value = perl_true(value.as_ref());
        }
        // And these when empty; `0` is a number for them (`--retries 0`
        // retries for ever, `--load 0` waits for an idle machine).
        for value in [
            &mut flags.retries,
            &mut flags.load,
            &mut flags.memfree,
            &mut flags.limits.memsuspend,
        ] {
            *value = value.take().filter(|v| !v.is_empty());
        }
        flags.limits.set_cpu_unit();
        flags.unsupported.check().map_err(bad)?;
        flags.shebang.warn_if_misplaced();
        crate::env::check(&flags.environment).map_err(bad)?;
        let separators = Separators {
            args: flags
                .replace_strings
                .arg_sep
                .clone()
                .unwrap_or_else(|| ":::".to_owned()),
            files: flags
                .replace_strings
                .arg_file_sep
                .clone()
                .unwrap_or_else(|| "::::".to_owned()),
        };
        let (command, mut sources) = split_command_with(&flags.rest, &flags.arg_files, &separators);
        crate::flags::link_as_given(&mut sources, &flags.link_input_source, flags.arg_files.len());
        let pipe = crate::pipe::Settings::from_flags(&flags, command.is_empty())?;
        let mut command: Vec<Vec<u8>> = command.iter().map(|w| w.as_bytes().to_vec()).collect();

        // `-i`/`--replace` with a value Perl reads as false (`''`, `0`) is
        // `{}`, as in GNU parallel; `-I ''` is refused (GNU hangs).
        let replace = flags
            .replace_str
            .as_deref()
            .or(perl_true(flags.replace.as_ref()).as_deref())
            .unwrap_or("{}")
            .as_bytes()
            .to_vec();
        if replace.is_empty() {
            return Err(bad("-I needs a replacement string".to_owned()));
        }
        let mut replace_settings = flags
            .replace_strings
            .settings(std::str::from_utf8(&replace).ok())
            .map_err(bad)?;
        // `-l -0` is `-l` and `-0`, as GNU parallel reads it.
        let null = flags.null || flags.xargs.max_lines.as_deref() == Some("-0");
        let mut delimiter = if null {
            vec![0]
        } else if let Some(d) = &flags.delimiter {
            parse_delimiter(d).ok_or_else(|| bad(format!("invalid delimiter {d:?}")))?
        } else {
            b"\n".to_vec()
        };
        // `--colsep` implies `--trim lr` (unless `--trim` says otherwise);
        // `--header` without it splits at tabs (untrimmed), as in GNU.
        if replace_settings.trim.is_none() {
            replace_settings.trim = Some(if flags.colsep.is_some() { Trim::Both } else { Trim::None });
        }
        let colsep_text = match (&flags.colsep, &flags.header) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(_)) if !replace_settings.csv => Some("\t".to_owned()),
            (None, _) => None,
        };
        let csv_separator = replace_settings
            .csv
            .then(|| flags.colsep.clone().unwrap_or_else(|| ",".to_owned()));
        let colsep = colsep_text
            .as_deref()
            .filter(|_| !replace_settings.csv)
            .map(|re| {
                Regex::new(re).map_err(|e| {
                    bad(format!(
                        "--colsep {re:?} is not a valid regular expression: {}",
                        regex_reason(&e)
                    ))
                })
            })
            .transpose()?;
        let header = match flags.header.as_deref() {
            // With --pipe, the header is the input's (see `pipe`).
            _ if pipe.is_some() => None,
            None => None,
            Some("0") => Some(Header::FileNames),
            Some(":") => Some(Header::FirstLine),
            Some(re) if re.chars().all(|c| c.is_ascii_digit()) => Some(Header::FirstLine),
            Some(re) => {
                Regex::new(re).map_err(|e| {
                    bad(format!(
                        "--header {re:?} is not a valid regular expression: {}",
                        regex_reason(&e)
                    ))
                })?;
                Some(Header::FirstLine)
            }
        };

        let count =
            |flag: &str, v: &str| parse_count(v).ok_or_else(|| bad(format!("{flag} must be a number, not {v:?}")));
        let xargs = flags.xargs.resolve().map_err(bad)?;
        // As GNU parallel: -N, -n, then -L/-l give the count; -N, -X and
        // -L (not -l) repeat the word around {} unless -m or --xargs.
        let joined = flags.multiple || xargs.xargs;
        // An empty (or blank) -n or -N is Perl's `eval ''`: no count at
        // all; -N still repeats the word around {}.
        let max_replace_args = perl_eval_given(flags.max_replace_args.as_deref());
        let max_args = perl_eval_given(flags.max_args.as_deref());
        let blank_n = flags.max_replace_args.is_some() && max_replace_args.is_none();
        let context = flags.context_replace || blank_n || (flags.xargs.max_lines_l.is_some() && !joined);
        let (batching, multi) = match (max_replace_args, max_args, xargs.max_lines) {
            // With --pipe, -N/-n/-L count records per block (see `pipe`),
            // and -N arguments per job as usual.
            (Some(n), _, _) if pipe.is_some() => (Batching::Count(count("-N", n)?), Multi::Context),
            _ if pipe.is_some() => (Batching::Single, Multi::Single),
            (Some(n), _, _) => (Batching::Count(count("-N", n)?), Multi::Context),
            (None, Some(n), _) => (
                Batching::Count(count("-n", n)?),
                if context { Multi::Context } else { Multi::Join },
            ),
            (None, None, Some(lines)) => (
                Batching::Count(lines),
                if context { Multi::Context } else { Multi::Join },
            ),
            (None, None, None) if flags.context_replace => (Batching::Fill, Multi::Context),
            (None, None, None) if joined => (Batching::Fill, if blank_n { Multi::Context } else { Multi::Join }),
            (None, None, None) => (Batching::Single, Multi::Single),
        };
        // -m and -X share what is left of the input over the job slots;
        // --xargs does not.
        let spread = flags.multiple || flags.context_replace;
        let max_line = crate::xargs::length::max_line(xargs.max_chars);

        let delay = flags
            .delay
            .as_deref()
            .map(|d| {
                let (text, auto) = match d.strip_suffix("auto") {
                    Some(rest) => (if rest.is_empty() { "0" } else { rest }, true),
                    None => (d, false),
                };
                delay_duration(text).map(|base| Delay { base, auto }).ok_or_else(|| {
                    bad(format!(
                        "invalid --delay {d:?}: use seconds, or a number with s, m, h or d"
                    ))
                })
            })
            .transpose()?;
        let memfree = flags
            .memfree
            .as_deref()
            .map(|m| {
                parse_size(m).ok_or_else(|| bad(format!("invalid --memfree {m:?}: use a size such as 500M or 2G")))
            })
            .transpose()?;
        let load = flags
            .load
            .as_deref()
            .map(|l| {
                // A file holding the value (GNU parallel reads it again as
                // it changes; forkpool reads it once, at the start).
                let spec = if !is_load_spec(l) && std::path::Path::new(l).is_file() {
                    std::fs::read_to_string(l)
                        .map_err(|_| bad(format!("Cannot open {l}.")))?
                        .trim()
                        .to_owned()
                } else {
                    l.to_owned()
                };
                load_of(&spec, cpus())
                    .map(|v| v.max(0.01))
                    .ok_or_else(|| bad("Parsing of --load failed."))
            })
            .transpose()?;
        let nice = flags
            .nice
            .as_deref()
            .map(|n| {
                // What GNU parallel's `setpriority` makes of it.
                crate::getopt::niceness(n)
                    // Getopt::Long's words for GNU parallel's `nice=i`.
                    .ok_or_else(|| bad(format!("Value \"{n}\" invalid for option nice (number expected)")))
            })
            .transpose()?
            .flatten();

        // A `--results` table holds each job's output whole, for its row.
        let table = flags
            .results
            .as_deref()
            .is_some_and(|r| crate::table::Format::of(r.as_bytes()).is_some());
        // As GNU parallel: these exclude each other when given together.
        for (a, b, both) in [
            ("--group", "--ungroup", flags.group && flags.ungroup),
            ("--group", "--line-buffer", flags.group && flags.line_buffer),
            ("--ungroup", "--line-buffer", flags.ungroup && flags.line_buffer),
        ] {
            if both {
                return Err(bad(format!("{a} cannot be combined with {b}.")));
            }
        }
        // `--tty` means -u unless --group says otherwise; --dry-run always
        // groups (GNU parallel's bug #51039).
        let ungroup = (flags.ungroup || (flags.tty.tty && !flags.group)) && !flags.dry_run;
        // As GNU parallel, a table still lets `--line-buffer` and `-u`
        // print (`-u` jobs' output then is not in the table).
        let mode = if flags.line_buffer {
            Mode::LineBuffer
        } else if ungroup {
            Mode::Ungroup
        } else {
            Mode::Group
        };
        // GNU parallel's `$opt::tagstring ||= $opt::ctagstring`: a
        // `--tagstring` of "" or "0" (false to Perl) counts as not given.
        let tagstring = perl_true(flags.tagstring.as_ref()).or(flags.replace_strings.ctagstring.clone());
        let tag = match (&tagstring, flags.tag || flags.replace_strings.ctag) {
            _ if mode == Mode::Ungroup => Tag::None,
            // A grouped table holds the jobs' own output (README: where
            // forkpool differs); printed output (`--lb`, `--files`) is tagged.
            _ if table && mode == Mode::Group && !flags.files.files && !flags.files.files0 => Tag::None,
            (Some(s), _) => Tag::Template(printf_escapes(s.as_bytes())),
            (None, true) => Tag::Args,
            (None, false) => Tag::None,
        };

        // `--workdir`, `--env` and `--cleanup` serve local and remote jobs.
        let mut remote = flags
            .remote
            .resolve(crate::remote::Shared {
                jobs: flags.jobs.as_deref(),
                workdir: flags.workdir.workdir.as_deref(),
                env: &flags.environment.env,
                cleanup: flags.tmpl.cleanup,
            })
            .map_err(bad)?;
        // Jobs placed on hosts (`-S`, `--slurm`) get their work dir from
        // the remote side (even on `:`); others from `crate::workdir`.
        let remote_jobs = remote.has_hosts() || remote.slurm.is_some();
        let workdir = if remote_jobs {
            None
        } else {
            remote.workdir = None;
            flags.workdir.workdir
        };
        // `--tty` runs one job at a time unless -j says otherwise; in a
        // Slurm allocation, as many as it has tasks.
        let slurm_tasks = remote.slurm.as_ref().map(|s| s.tasks.to_string());
        // --tee runs every job at once: as many as the system allows.
        let tee = pipe.as_ref().is_some_and(|p| p.tee);
        let jobs_flag = flags
            .jobs
            .as_deref()
            .or(flags.tty.tty.then_some("1"))
            .or(slurm_tasks.as_deref())
            .or(tee.then_some("0"));
        // When the command line holds all the input (`:::` lists), it
        // cannot make more jobs than combinations of its values.
        let jobs_at_most = (pipe.is_none() && !flags.retry_failed && !remote_jobs)
            .then(|| jobs_at_most(&sources))
            .flatten();
        let slots = crate::limits::slots::resolve(
            jobs_flag,
            per_job_cost(mode, flags.results.is_some(), pipe.is_some(), &sources),
            jobs_at_most,
        )
        .map_err(bad)?;
        let jobs = slots.count;

        let timeout = flags
            .timeout
            .as_deref()
            .map(|t| {
                if !gnu_timeout_syntax(t) {
                    return Err(bad("--timeout must be seconds or percentage."));
                }
                let t = t.to_ascii_lowercase();
                let t = t.as_str();
                let parsed = match t.strip_suffix('%') {
                    // `0%` passes GNU parallel's check and times nothing out.
                    Some(pct) => pct.parse::<f64>().ok().filter(|p| *p >= 0.0).map(|p| {
                        if p == 0.0 {
                            Timeout::Fixed(Duration::ZERO)
                        } else {
                            Timeout::Median(p / 100.0)
                        }
                    }),
                    None => parse_duration(t).map(Timeout::Fixed),
                };
                parsed.ok_or_else(|| bad("--timeout must be seconds or percentage."))
            })
            .transpose()?
            // `--timeout 0` is no timeout, as in GNU parallel.
            .filter(|t| *t != Timeout::Fixed(Duration::ZERO));
        let termseq = match &flags.termseq {
            None => TermSeq::default(),
            Some(s) => TermSeq::from_str(s).map_err(|e| bad(e.to_string()))?,
        };
        let retries = flags
            .retries
            .as_deref()
            .map(|r| {
                r.trim()
                    .parse::<u32>()
                    .map_err(|_| bad(format!("--retries must be a number, not {r:?}")))
            })
            .transpose()?
            .unwrap_or(1);
        let halt = match &flags.halt {
            None => Halt::default(),
            Some(h) => Halt::from_str(h).map_err(|e| bad(e.0))?,
        };
        if halt.needs_total()
            && pipe
                .as_ref()
                .is_some_and(|p| p.mode == crate::pipe::settings::Mode::Pipe && !p.tee)
        {
            return Err(bad("--pipe is incompatible with --eta/--bar/--shuf"));
        }
        // As GNU parallel: `+` (append) comes off first; a path Perl reads
        // as false (`''`, `0`) is no joblog.
        let joblog = flags
            .joblog
            .as_deref()
            .map(|j| match j.strip_prefix('+') {
                Some(path) => (path, true),
                None => (j, false),
            })
            .filter(|(path, _)| is_perl_true(path))
            .map(|(path, append)| (PathBuf::from(path), append));
        let resume = if flags.resume_failed || flags.retry_failed {
            Resume::RetryFailed
        } else if flags.resume {
            Resume::Skip
        } else {
            Resume::No
        };
        if flags.retry_failed && joblog.is_none() {
            return Err(bad("--retry-failed requires --joblog."));
        }
        // GNU checks the joblog before taking its `+` off.
        let any_joblog = flags.joblog.as_deref().is_some_and(is_perl_true);
        if resume != Resume::No && !any_joblog && flags.results.is_none() {
            return Err(bad("--resume and --resume-failed require --joblog or --results."));
        }
        if flags.retry_failed {
            // The joblog's failed commands are the input; the command
            // line's command and input are ignored.
            let Some((path, _)) = &joblog else {
                return Err(bad("--retry-failed requires --joblog."));
            };
            let commands = crate::retry_failed::commands(path).map_err(bad)?;
            command.clear();
            sources = vec![Source {
                arg: crate::flags::SourceArg::Values(commands),
                linked: false,
            }];
            // Commands may hold newlines: NUL ends each.
            delimiter = vec![0];
        }

        let shell = Shell::detect();
        if !shell.exists() {
            return Err(bad(format!("Shell '{}' not found.", shell.path().display())));
        }
        let limits = flags.limits.resolve(&shell).map_err(bad)?;
        let show = flags.show.resolve().map_err(bad)?;
        let templates = flags.tmpl.resolve(remote_jobs).map_err(bad)?;
        let total_jobs = flags
            .progress_extra
            .total_jobs
            .as_deref()
            .map(|t| {
                crate::units::parse_size(t).ok_or_else(|| bad(format!("--total-jobs must be a number, not {t:?}")))
            })
            .transpose()?;
        let mut files = flags.files.resolve(&shell).map_err(bad)?;
        if flags.results.is_some() && !table && mode == Mode::LineBuffer {
            // GNU parallel's line-buffered printing of a `--results DIR`
            // job prints its stdout file's name, as `--files` does.
            files.names.get_or_insert(crate::output::files::NameEnd::Newline);
        }
        if !flags.filter.filter.is_empty() {
            crate::filter::check_perl().map_err(bad)?;
        }
        if let Some(name) = &flags.process_slot_var
            && !(name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(bad(format!("--process-slot-var {name:?} is not a variable name")));
        }

        Ok(Config {
            command,
            sources,
            delimiter,
            colsep,
            header,
            linking: if flags.link { Linking::All } else { Linking::Product },
            batching,
            multi,
            spread,
            max_line,
            xargs,
            check_crlf: !null && flags.delimiter.is_none(),
            quote: flags.quote,
            jobs,
            slots,
            limits,
            delay,
            memfree,
            load,
            nice,
            shuffle: flags.shuf,
            mode,
            keep_order: flags.keep_order && !flags.no_keep_order,
            tag,
            tag_option: flags.tag || flags.replace_strings.ctag,
            results: flags.results.map(String::into_bytes),
            verbose: flags.verbose,
            show,
            files,
            shellquote: flags.shellquote.shellquote,
            filters: flags.filter.filter.iter().map(|f| f.as_bytes().to_vec()).collect(),
            tty: flags.tty.reads_terminal(),
            skip_first_line: flags.shebang.skip_first_line,
            templates,
            cleanup: flags.tmpl.cleanup,
            workdir,
            process_slot_var: flags
                .process_slot_var
                .map_or_else(|| "PARALLEL_JOBSLOT0".into(), std::ffi::OsString::from),
            timeout,
            termseq,
            termseq_given: flags.termseq.is_some(),
            retries,
            halt,
            joblog,
            resume,
            dry_run: flags.dry_run,
            bar: flags.bar,
            progress: flags.progress,
            eta: flags.eta,
            total_jobs,
            // `--color` (and `--ctag`, `--ctagstring`) is a replacement
            // strings' option; its colours are the output's.
            colors: if mode == Mode::Ungroup {
                None
            } else {
                flags.color.resolve(replace_settings.color && !table)
            },
            shell,
            remote,
            strings: crate::replace::Settings {
                color: replace_settings.color && mode != Mode::Ungroup && !table,
                csv_separator,
                ..replace_settings
            },
            pipe,
            parallel_env: crate::invocation::parallel_env::code()?.map(<[u8]>::to_vec),
            semaphore: false,
        })
    }
}

/// A `--delay`: a duration as `--timeout` takes one, and also what GNU
/// parallel's arithmetic makes of the rest: nothing or a negative number
/// is no delay, and a number may have an exponent (`1e-3`).
fn delay_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return Some(std::time::Duration::ZERO);
    }
    if let Some(positive) = text.strip_prefix('-') {
        return delay_duration(positive).map(|_| std::time::Duration::ZERO);
    }
    parse_duration(text).or_else(|| {
        let seconds: f64 = text.parse().ok()?;
        std::time::Duration::try_from_secs_f64(seconds).ok()
    })
}

/// GNU parallel's escapes in `--tagstring` (its `unquote_printf`): `\t`,
/// `\n`, `\r`, and an octal code of up to three digits (`\033`, the start
/// of a colour; `\0`). Any other backslash stays as it is.
fn printf_escapes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let next = text.get(i + 1).copied();
        match (text[i], next) {
            (b'\\', Some(c @ (b't' | b'n' | b'r'))) => {
                out.push(match c {
                    b't' => b'\t',
                    b'n' => b'\n',
                    _ => b'\r',
                });
                i += 2;
            }
            (b'\\', Some(b'0'..=b'7')) => {
                let digits = text[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|b| (b'0'..=b'7').contains(*b))
                    .count();
                let code = text[i + 1..i + 1 + digits]
                    .iter()
                    .fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
                // As Perl's "\777": past 255 the code is a wide
                // character, which prints as its UTF-8.
                match char::from_u32(code) {
                    Some(c) if code > 0xff => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    _ => out.push(code as u8),
                }
                i += 1 + digits;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, UsageError> {
        let mut argv = vec!["forkpool"];
        argv.extend_from_slice(args);
        Config::from_flags(Flags::parse_args(argv.into_iter().map(Into::into)).unwrap())
    }

    #[test]
    fn delays_are_what_gnu_parallel_makes_of_them() {
        use super::delay_duration;
        use std::time::Duration;
        assert_eq!(delay_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(delay_duration("2m1s"), Some(Duration::from_secs(121)));
        assert_eq!(delay_duration("1e-3"), Some(Duration::from_millis(1)));
        assert_eq!(delay_duration(""), Some(Duration::ZERO));
        assert_eq!(delay_duration("-1"), Some(Duration::ZERO));
        assert_eq!(delay_duration("-0.5s"), Some(Duration::ZERO));
        assert_eq!(delay_duration("soon"), None);
        assert_eq!(delay_duration("-soon"), None);
        assert_eq!(delay_duration("inf"), None);
    }

    #[test]
    fn tagstrings_take_gnu_parallels_printf_escapes() {
        use super::printf_escapes;
        assert_eq!(printf_escapes(br"a\tb\nc\rd"), b"a\tb\nc\rd");
        assert_eq!(printf_escapes(br"\033[31m{}"), b"\x1b[31m{}");
        assert_eq!(printf_escapes(br"\0x\7\08"), b"\0x\x07\x008");
        // Anything else stays: \x, \\, a trailing backslash.
        assert_eq!(printf_escapes(br"\x41\\q\"), br"\x41\\q\");
    }

    #[test]
    fn bad_values_name_the_problem() {
        for (args, needle) in [
            (&["--halt", "bogus", "echo"][..], "--halt must have"),
            (&["-j", "abc", "echo"][..], "--jobs"),
            (&["--timeout", "x", "echo"][..], "--timeout"),
            (&["--termseq", "TERM", "echo"][..], "termination sequence"),
            (&["--colsep", "(", "echo"][..], "--colsep"),
            (&["--memfree", "lots", "echo"][..], "--memfree"),
            (&["--resume", "echo"][..], "--joblog"),
            (&["--nice", "99999999999999999999999", "echo"][..], "option nice"),
            (&["--load", "high", "echo"][..], "Parsing of --load failed."),
            (&["-j", "-1000", "echo"][..], "Cannot run any jobs."),
        ] {
            let err = config(args).unwrap_err();
            assert!(err.0.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn options_resolve() {
        let c = config(&[
            "-k",
            "--tag",
            "-X",
            "--timeout",
            "150%",
            "--joblog",
            "+log",
            "echo",
            ":::",
            "a",
        ])
        .unwrap();
        assert!(c.keep_order);
        assert_eq!(c.tag, Tag::Args);
        assert_eq!((c.batching, c.multi), (Batching::Fill, Multi::Context));
        assert_eq!(c.timeout, Some(Timeout::Median(1.5)));
        assert_eq!(c.joblog, Some((PathBuf::from("log"), true)));
        let u = config(&["-u", "--tag", "echo"]).unwrap();
        assert_eq!((u.mode, u.tag), (Mode::Ungroup, Tag::None));
        let n = config(&["-N2", "echo"]).unwrap();
        assert_eq!((n.batching, n.multi), (Batching::Count(2), Multi::Context));
    }

    #[test]
    fn one_workdir_flag_serves_local_or_remote_jobs_never_both() {
        // Without hosts: the local `cd` wrapping (`crate::workdir`).
        let local = config(&["--wd", "/tmp/{}", "echo"]).unwrap();
        assert_eq!(local.workdir.as_deref(), Some("/tmp/{}"));
        assert_eq!(local.remote.workdir, None);
        // With hosts (`:` too): the remote side's, and no second `cd`.
        let remote = config(&["-S", "1/example.invalid,:", "--wd", "...", "--cleanup", "echo"]).unwrap();
        assert_eq!(remote.workdir, None);
        assert_eq!(remote.remote.workdir, Some(crate::remote::Workdir::Fresh));
        assert!(remote.remote.cleanup, "--cleanup reaches the remote side too");
    }
}
