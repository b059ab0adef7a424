//! The flags resolved into a [`Config`]: [`Config::from_flags`] takes
//! each option's raw value, applies GNU parallel's readings of it (see
//! `values`) and its rules between options, and refuses a bad one, in
//! one line that names it, before any job runs.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use forkpool::command::TermSeq;
use regex::bytes::Regex;

use super::cost::{jobs_at_most, per_job_cost};
use super::values::{
    delay_duration, gnu_timeout_syntax, is_load_spec, is_perl_true, load_of, perl_eval_given, perl_true,
    printf_escapes, regex_reason,
};
use super::{Batching, Config, Delay, Header, Resume, Tag, Timeout, cpus};
use crate::flags::{Flags, Separators, Source, split_command_with};
use crate::halt::Halt;
use crate::input::{Linking, parse_delimiter};
use crate::output::Mode;
use crate::refusal::Refusal;
use crate::replace::{Multi, Trim};
use crate::shell::Shell;
use crate::units::{parse_duration, parse_size, perl_count, values_per_job};

/// A value refused in words of our own.
fn bad(message: impl Into<String>) -> Refusal {
    Refusal::usage(message)
}

impl Config {
    /// Resolves and checks the flags.
    pub(crate) fn from_flags(mut flags: Flags) -> Result<Config, Refusal> {
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
            args_are_files: flags.shebang.pipe_means_argfiles && flags.pipe.pipe,
        };
        let (command, mut sources) = split_command_with(&flags.rest, &flags.arg_files, &separators);
        link_as_given(&mut sources, &flags.link_input_source, flags.arg_files.len());
        // With `:::` values and no command, each value is the command a
        // block is piped into, as in GNU parallel (`{}` is the command); only
        // without any is there nothing to pipe into.
        // (`-a` files are values too with `--pipe`; with `--pipepart` they
        // are the data.)
        let has_values = if flags.pipe.pipepart {
            sources.len() > flags.arg_files.len()
        } else {
            !sources.is_empty()
        };
        let pipe = crate::pipe::Settings::from_flags(&flags, command.is_empty() && !has_values)?;
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

        // -N, -n: the number GNU parallel makes of the value (`1.5`, `-1`,
        // `1_0`, `2k`: see `units::perl_count`), as values per job.
        let number =
            |flag: &str, v: &str| perl_count(v).ok_or_else(|| bad(format!("{flag} must be a number, not {v:?}")));
        let count = |flag: &str, v: &str| number(flag, v).map(values_per_job);
        // With --pipe, where -n/-N count records (see `pipe`), GNU reads
        // a value that is no number as 0, none: not an error there.
        let pipe_count = |v: &str| values_per_job(perl_count(v).unwrap_or(0.0));
        let xargs = flags.xargs.resolve(pipe.is_some()).map_err(bad)?;
        // As GNU parallel: -N, -n, then -L/-l give the count; -N, -X and
        // -L (not -l) repeat the word around {} unless -m or --xargs.
        let joined = flags.multiple || xargs.xargs;
        // An empty (or blank) -n or -N is Perl's `eval ''`: no count at
        // all; -N still repeats the word around {}.
        let max_replace_args = perl_eval_given(flags.max_replace_args.as_deref());
        let mut max_args = perl_eval_given(flags.max_args.as_deref());
        // An -n of 0 is no count to GNU parallel's `||=`: -L/-l's is used.
        if let Some(n) = max_args
            && pipe.is_none()
            && xargs.max_lines.is_some()
            && number("-n", n)? == 0.0
        {
            max_args = None;
        }
        let blank_n = flags.max_replace_args.is_some() && max_replace_args.is_none();
        let context = flags.context_replace || blank_n || (flags.xargs.max_lines_l.is_some() && !joined);
        let (batching, multi) = match (max_replace_args, max_args, xargs.max_lines) {
            // With --pipe, -N/-n/-L count records per block (see `pipe`),
            // and -N arguments per job as usual.
            (Some(n), _, _) if pipe.is_some() => (Batching::Count(pipe_count(n)), Multi::Context),
            // -n also groups the `:::` values (arguments, or the commands
            // themselves when none is given, as with --tee), n a job, as
            // in GNU parallel, where it is the same count as -N's.
            (None, Some(n), _) if pipe.is_some() => (
                Batching::Count(pipe_count(n)),
                if context { Multi::Context } else { Multi::Join },
            ),
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
        // -n0, -N0: GNU parallel reads a record a job and makes each of
        // its values `\0noarg`, which a replacement string makes nothing;
        // 0 is no count there, so -X, -m and --xargs fill lines as usual.
        let no_args = batching == Batching::Count(0);
        let batching = match batching {
            // (--pipe reads a `:::` argument a job: see `JobSource`.)
            _ if !no_args || pipe.is_some() => batching,
            _ if joined || flags.context_replace => Batching::Fill,
            _ => Batching::Single,
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
                    .ok_or_else(|| Refusal::getopt(format!("Value \"{n}\" invalid for option nice (number expected)")))
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
        // None of GNU's `remote_hosts()`: the sshlogins but `:`.
        if remote.slurm.is_none() && remote.files.is_empty() && remote.logins.iter().all(|l| l.is_local()) {
            flags
                .remote
                .warn_of_no_hosts(flags.tmpl.cleanup && flags.tmpl.template.is_empty());
        }
        let templates = flags.tmpl.resolve().map_err(bad)?;
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
            no_args,
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

/// GNU parallel's `--linkinputsource N` (`linkinputsource=i`): its list of
/// 0/1, one an input source, to which each `:::` group (each `::::` file)
/// adds its own (1 after a `+`). The values given come first, so they shift
/// the rest: source k (`-a` files first) is linked to the one before if the
/// list's k-th number is not 0. Without the option the list is the sources'
/// own and nothing changes.
fn link_as_given(sources: &mut [Source], given: &[String], arg_files: usize) {
    if given.is_empty() {
        return;
    }
    // Getopt::Long made them numbers: `00`, `-0` are 0; `1_0` is 10.
    let nonzero = |n: &String| n.chars().any(|c| c.is_ascii_digit() && c != '0');
    let list: Vec<bool> = given
        .iter()
        .map(nonzero)
        .chain(sources[arg_files.min(sources.len())..].iter().map(|s| s.linked))
        .collect();
    for (k, source) in sources.iter_mut().enumerate() {
        source.linked = k > 0 && list.get(k).copied().unwrap_or(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, Refusal> {
        let mut argv = vec!["forkpool"];
        argv.extend_from_slice(args);
        Config::from_flags(Flags::parse_args(argv.into_iter().map(Into::into)).unwrap())
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
            (&["--load", "high", "echo"][..], "Parsing of --load failed."),
            (&["-j", "-1000", "echo"][..], "Cannot run any jobs."),
        ] {
            let err = config(args).unwrap_err();
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
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
