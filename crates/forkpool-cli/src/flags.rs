//! The command line as typed: options (parsed by `clap`), then the command
//! and its input sources, split at `:::`, `:::+`, `::::` and `::::+`.
//!
//! Nothing here is validated beyond its syntax; `config` turns these raw
//! flags into a checked configuration.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use clap::builder::TypedValueParser as _;

use crate::refusal::ParseError;

mod scan;

use scan::{Scanned, scan, spell_out};

/// `forkpool`: run commands in parallel, with GNU parallel's options.
///
/// Replace `parallel` with `forkpool` in a script and get the same result:
/// the same input sources, replacement strings, output grouping, joblog
/// and exit status.
#[derive(Debug, Default, Parser)]
#[command(
    name = "forkpool",
    args_override_self = true,
    version,
    about = "Run commands in parallel, with GNU parallel's interface at xargs's speed.",
    override_usage = "forkpool [OPTIONS] [COMMAND [ARGS]...] [::: ARGS...] [:::: ARGFILES...] < INPUT",
    after_help = "Replacement strings: {} {.} {/} {//} {/.} {#} {%}, positional {1} {2.} {3/} {3//} {3/.} {-1},\n\
                  perl expressions {= s/x/y/ =} and {=2 perl =} ($_ is the value; Q() uq() skip() seq() slot() total_jobs() @arg),\n\
                  --rpl 'TAG perl' (with arguments: --rpl '{%(.+?)} s/$$1$//'), and with --plus:\n\
                  {+/} {+.} {+..} {+...} {..} {...} {/..} {/...} {##} {0#} {0%} {slot} {host} {choose_k} {uniq}\n\
                  {:-str} {:num} {:num:len} {#re} {##re} {%re} {%%re} {/re/str} {//re/str} {^str} {^^str} {,str} {,,str}.\n\
                  On other machines: -S host1,2/user@host2 (ssh connections shared per job slot; see Remote). In a Slurm allocation: --slurm.\n\
                  Exit status: 0 if every job succeeded, 1-100 the number that failed, 101 for more, 255 for errors.\n\
                  Options are also read from ~/.parallel/config (or -J profiles) and $PARALLEL, as GNU parallel reads them.\n\
                  Invoked as `sem`, it is `forkpool --semaphore`."
)]
pub(crate) struct Flags {
    // ------------------------------------------------------------ input --
    /// Read input from FILE (may be given more than once: one input source each).
    #[arg(
        short = 'a',
        long = "arg-file",
        alias = "argfile",
        value_name = "FILE",
        help_heading = "Input",
        allow_hyphen_values = true
    )]
    pub(crate) arg_files: Vec<PathBuf>,
    /// Input items end with NUL instead of newline.
    #[arg(short = '0', long = "null", help_heading = "Input")]
    pub(crate) null: bool,
    /// Input items end with DELIM (C escapes such as \t, \0, \x1f work).
    #[arg(
        short = 'd',
        long = "delimiter",
        value_name = "DELIM",
        help_heading = "Input",
        allow_hyphen_values = true
    )]
    pub(crate) delimiter: Option<String>,
    /// Split each input line into columns {1} {2} ... at REGEX.
    #[arg(
        short = 'C',
        long = "colsep",
        alias = "col-sep",
        value_name = "REGEX",
        help_heading = "Input",
        allow_hyphen_values = true
    )]
    pub(crate) colsep: Option<String>,
    /// The first line (or lines matching REGEX, or N lines) names the columns: {name};
    /// with --pipe, it is repeated at the start of every block.
    #[arg(
        long = "header",
        value_name = "REGEX",
        help_heading = "Input",
        allow_hyphen_values = true
    )]
    pub(crate) header: Option<String>,
    /// Read one item from each input source per job, instead of all combinations.
    #[arg(long = "link", visible_alias = "xapply", help_heading = "Input")]
    pub(crate) link: bool,
    /// GNU parallel's inner option behind `:::+`, hidden as there: whether
    /// each input source is linked to the one before (see `config::resolve`).
    #[arg(
        long = "linkinputsource",
        visible_alias = "xapplyinputsource",
        value_name = "N",
        action = clap::ArgAction::Append,
        allow_hyphen_values = true,
        hide = true
    )]
    pub(crate) link_input_source: Vec<String>,
    /// Use at most N input items per job.
    #[arg(
        short = 'n',
        long = "max-args",
        alias = "maxargs",
        value_name = "N",
        help_heading = "Input"
    )]
    pub(crate) max_args: Option<String>,
    /// Use N input items per job, as {1} .. {N}; with --pipe, N records per block.
    #[arg(
        short = 'N',
        long = "max-replace-args",
        alias = "maxreplaceargs",
        value_name = "N",
        help_heading = "Input"
    )]
    pub(crate) max_replace_args: Option<String>,
    /// As many items per job as fit the command line, repeating the word around {}.
    #[arg(short = 'X', help_heading = "Input")]
    pub(crate) context_replace: bool,
    /// As many items per job as fit the command line, inserted where {} is.
    #[arg(short = 'm', help_heading = "Input")]
    pub(crate) multiple: bool,
    /// Quote the command itself, so it runs without shell interpretation.
    #[arg(short = 'q', long = "quote", help_heading = "Input")]
    pub(crate) quote: bool,
    /// Use REPL instead of {} for the whole input (as xargs -I).
    #[arg(short = 'I', value_name = "REPL", help_heading = "Input", allow_hyphen_values = true)]
    pub(crate) replace_str: Option<String>,
    /// -i REPL, -iREPL, --replace=REPL or --replace REPL is -I REPL; alone
    /// (or before an option) it is -I {}, as GNU parallel's optional value
    /// (for xargs -i users).
    #[arg(
        short = 'i',
        long = "replace",
        value_name = "REPL",
        num_args = 0..=1,
        default_missing_value = "{}",
        help_heading = "Input"
    )]
    pub(crate) replace: Option<String>,

    // ------------------------------------------------------------- jobs --
    /// Jobs to run at once: N, N% of the CPUs, +N or -N CPUs, 0 for as many as possible.
    #[arg(
        short = 'j',
        long = "jobs",
        visible_alias = "max-procs",
        alias = "maxprocs",
        visible_short_alias = 'P',
        value_name = "N",
        allow_negative_numbers = true,
        // Any bytes: a value that is not UTF-8 is one `-j` cannot read
        // (GNU's "Parsing of --jobs... failed"), not clap's error.
        value_parser = clap::builder::OsStringValueParser::new().map(|v| v.to_string_lossy().into_owned()),
        help_heading = "Jobs"
    )]
    pub(crate) jobs: Option<String>,
    /// Wait this long between starting jobs (seconds, or with s/m/h/d).
    #[arg(long = "delay", value_name = "DURATION", help_heading = "Jobs")]
    pub(crate) delay: Option<String>,
    /// Start no job while less than SIZE memory is free; under half of it, stop the youngest job.
    #[arg(long = "memfree", value_name = "SIZE", help_heading = "Jobs")]
    pub(crate) memfree: Option<String>,
    /// Start no job while the number of running processes is MAX or more (N or N%).
    #[arg(long = "load", value_name = "MAX", help_heading = "Jobs")]
    pub(crate) load: Option<String>,
    /// Run jobs at this niceness.
    #[arg(
        long = "nice",
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Jobs"
    )]
    pub(crate) nice: Option<String>,
    /// Run the jobs in random order.
    #[arg(long = "shuf", help_heading = "Jobs")]
    pub(crate) shuf: bool,

    // ----------------------------------------------------------- output --
    /// Print each job's output whole when it ends (the default).
    #[arg(long = "group", help_heading = "Output")]
    pub(crate) group: bool,
    /// Print output line by line as jobs write it.
    #[arg(
        long = "line-buffer",
        visible_alias = "lb",
        aliases = ["line-buffered", "linebuffer", "linebuffered"],
        help_heading = "Output")]
    pub(crate) line_buffer: bool,
    /// Let jobs write straight to the terminal, unbuffered.
    #[arg(short = 'u', long = "ungroup", help_heading = "Output")]
    pub(crate) ungroup: bool,
    /// Print output in the order of the input, not of completion.
    #[arg(
        short = 'k',
        long = "keep-order",
        visible_alias = "keeporder",
        help_heading = "Output"
    )]
    pub(crate) keep_order: bool,
    /// Undo an earlier --keep-order (from $PARALLEL or a profile, say).
    #[arg(
        long = "no-keep-order",
        visible_aliases = ["nokeeporder", "nok", "no-k"],
        help_heading = "Output"
    )]
    pub(crate) no_keep_order: bool,
    /// Prefix each output line with the job's arguments and a TAB.
    #[arg(long = "tag", help_heading = "Output")]
    pub(crate) tag: bool,
    /// Prefix each output line with STR (replacement strings allowed) and a TAB.
    #[arg(
        long = "tagstring",
        alias = "tag-string",
        value_name = "STR",
        help_heading = "Output",
        allow_hyphen_values = true
    )]
    pub(crate) tagstring: Option<String>,
    /// Save each job's output under DIR instead of printing it.
    #[arg(
        long = "results",
        visible_alias = "res",
        alias = "result",
        value_name = "DIR|FILE.csv|FILE.tsv|FILE.json",
        help_heading = "Output",
        allow_hyphen_values = true
    )]
    pub(crate) results: Option<String>,
    /// Set variable NAME to each job's slot number minus one [default: PARALLEL_JOBSLOT0].
    #[arg(
        long = "process-slot-var",
        visible_alias = "processslotvar",
        value_name = "NAME",
        help_heading = "Jobs"
    )]
    pub(crate) process_slot_var: Option<String>,
    /// Print each job's command on stderr before running it.
    #[arg(short = 't', long = "verbose", help_heading = "Output")]
    pub(crate) verbose: bool,

    // ---------------------------------------------------------- control --
    /// Kill a job that runs longer than DURATION, or than N% of the median runtime.
    #[arg(long = "timeout", value_name = "DURATION", help_heading = "Control")]
    pub(crate) timeout: Option<String>,
    /// How to kill a job: signals and waits in ms [default: TERM,200,TERM,100,TERM,50,KILL,25].
    #[arg(
        long = "termseq",
        visible_alias = "term-seq",
        value_name = "SEQ",
        help_heading = "Control"
    )]
    pub(crate) termseq: Option<String>,
    /// Run a failing job up to N times in all (0: until it succeeds).
    #[arg(long = "retries", value_name = "N", help_heading = "Control")]
    pub(crate) retries: Option<String>,
    /// When to stop early: now|soon,fail|success|done=N|N%.
    #[arg(
        long = "halt",
        visible_aliases = ["halt-on-error", "haltonerror"],
        value_name = "WHEN",
        allow_hyphen_values = true,
        help_heading = "Control"
    )]
    pub(crate) halt: Option<String>,
    /// Log each finished job to FILE (+FILE appends).
    #[arg(
        long = "joblog",
        visible_alias = "jl",
        value_name = "FILE",
        help_heading = "Control",
        allow_hyphen_values = true
    )]
    pub(crate) joblog: Option<String>,
    /// Skip the jobs already in the joblog.
    #[arg(long = "resume", help_heading = "Control")]
    pub(crate) resume: bool,
    /// Run again the jobs that failed in the joblog, and skip those that succeeded.
    #[arg(long = "resume-failed", visible_alias = "resumefailed", help_heading = "Control")]
    pub(crate) resume_failed: bool,
    /// Run again the commands that failed in the joblog (the command line's command and input are ignored).
    #[arg(long = "retry-failed", visible_alias = "retryfailed", help_heading = "Control")]
    pub(crate) retry_failed: bool,
    /// Print the commands instead of running them.
    #[arg(long = "dry-run", visible_aliases = ["dryrun", "dr"], help_heading = "Control")]
    pub(crate) dry_run: bool,
    /// Show a progress bar on stderr, in GNU parallel's format (zenity reads it).
    #[arg(long = "bar", help_heading = "Control")]
    pub(crate) bar: bool,
    /// Show running and finished jobs on stderr, in GNU parallel's format.
    #[arg(long = "progress", help_heading = "Control")]
    pub(crate) progress: bool,
    /// Show the estimated time left on stderr (and --progress's counts).
    #[arg(long = "eta", help_heading = "Control")]
    pub(crate) eta: bool,

    #[command(flatten)]
    pub(crate) replace_strings: crate::replace::ReplaceFlags,
    #[command(flatten)]
    pub(crate) remote: crate::remote::RemoteFlags,
    #[command(flatten)]
    pub(crate) invocation: crate::invocation::InvocationFlags,
    #[command(flatten)]
    pub(crate) sem: crate::sem::SemFlags,
    #[command(flatten)]
    pub(crate) limits: crate::limits::LimitFlags,
    #[command(flatten)]
    pub(crate) show: crate::output::verbose::VerboseFlags,
    #[command(flatten)]
    pub(crate) xargs: crate::xargs::XargsFlags,
    #[command(flatten)]
    pub(crate) files: crate::output::files::FilesFlags,
    #[command(flatten)]
    pub(crate) environment: crate::env::EnvFlags,
    #[command(flatten)]
    pub(crate) shebang: crate::shebang::ShebangFlags,
    #[command(flatten)]
    pub(crate) shellquote: crate::shellquote::ShellquoteFlags,
    #[command(flatten)]
    pub(crate) filter: crate::filter::FilterFlags,
    #[command(flatten)]
    pub(crate) workdir: crate::workdir::WorkdirFlags,
    #[command(flatten)]
    pub(crate) tty: crate::tty::TtyFlags,
    #[command(flatten)]
    pub(crate) progress_extra: crate::progress::ProgressFlags,
    #[command(flatten)]
    pub(crate) color: crate::output::color::ColorFlags,
    #[command(flatten)]
    pub(crate) tmpl: crate::tmpl::TmplFlags,
    #[command(flatten)]
    pub(crate) completion: crate::completion::CompletionFlags,
    #[command(flatten)]
    pub(crate) unsupported: crate::unsupported::UnsupportedFlags,

    // ------------------------------------------------------------- pipe --
    #[command(flatten)]
    pub(crate) pipe: crate::pipe::flags::PipeFlags,

    /// The command, then its input sources. (Filled by `Flags::parse_args`,
    /// which finds where the options end.)
    #[arg(skip)]
    pub(crate) rest: Vec<OsString>,
}

impl Flags {
    /// [`Flags::parse_args_with`], building the command for this parse
    /// alone.
    #[cfg(test)]
    pub(crate) fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Flags, ParseError> {
        Flags::parse_args_with(&mut command(), args)
    }

    /// Parses the command line. Options end at the first word that is
    /// not an option or an option's value (or at `--`): that word starts
    /// the command, and nothing after it is read as an option, even if it
    /// looks like one (`forkpool echo -n ::: a`).
    ///
    /// `command` is [`command()`], built by the caller: building it is
    /// most of what a parse costs (~0.15 ms), and a caller that parses
    /// several lists of words (the option files, `$PARALLEL`, the command
    /// line) builds it once for all of them.
    pub(crate) fn parse_args_with(
        command: &mut clap::Command,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Flags, ParseError> {
        use clap::FromArgMatches;
        let args: Vec<OsString> = args.into_iter().collect();
        let Scanned {
            mut options,
            rest,
            long_words,
            refused,
            ..
        } = scan(command, &args);
        spell_out(&mut options, long_words);
        if let Some(refusal) = refused {
            return Err(ParseError::Refused(refusal));
        }
        let mut matches = match command.try_get_matches_from_mut(&options) {
            Ok(matches) => matches,
            Err(e) => match answer_first(command, &options, e) {
                Ok(matches) => matches,
                Err(e) => return Err(ParseError::of_clap(e)),
            },
        };
        let mut flags =
            Flags::from_arg_matches_mut(&mut matches).map_err(|e| ParseError::of_clap(e.format(command)))?;
        flags.rest = args.get(rest..).map(<[OsString]>::to_vec).unwrap_or_default();
        Ok(flags)
    }
}

/// For a `--help` or `--version` clap stopped at, the one GNU parallel
/// answers of all given, whatever their order: `--bug` first, then
/// `--help`, then `--shell-completion`, `--number-of-cpus` and the like,
/// then `--version`. The matches with `--bug` (clap's
/// `--help`/`--version` made plain flags), or the error to answer.
fn answer_first(
    command: &clap::Command,
    options: &[OsString],
    e: clap::Error,
) -> Result<clap::ArgMatches, clap::Error> {
    use clap::ArgAction::SetTrue;
    use clap::error::ErrorKind;
    if !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return Err(e);
    }
    let plain = |command: &clap::Command, ids: &[&str]| {
        ids.iter()
            .fold(command.clone(), |c, id| {
                c.mut_arg(*id, |a| {
                    a.action(SetTrue)
                        .value_parser(clap::value_parser!(bool))
                        .default_missing_value("true")
                })
            })
            .try_get_matches_from(options)
    };
    let Ok(all) = plain(command, &["help", "version"]) else {
        return Err(e);
    };
    if all.get_flag("bug") {
        return Ok(all);
    }
    let help = matches!(all.try_get_one::<bool>("help"), Ok(Some(true)));
    if e.kind() == ErrorKind::DisplayVersion && help {
        // The help clap gives for the help option typed (`-h` or `--help`).
        return Err(plain(command, &["version"]).err().unwrap_or(e));
    }
    // GNU answers these before `--version` too (`--embed`: refused).
    let before_version = [
        "embed",
        "number_of_sockets",
        "number_of_cpus",
        "number_of_cores",
        "number_of_threads",
        "max_line_length_allowed",
    ];
    if e.kind() == ErrorKind::DisplayVersion
        && (matches!(all.try_get_raw("shell_completion"), Ok(Some(_)))
            || before_version
                .iter()
                .any(|id| matches!(all.try_get_one::<bool>(id), Ok(Some(true)))))
    {
        return Ok(all);
    }
    Err(e)
}

/// Where the options end in `args` (`args[0]` is the program's name): the
/// index of the first word of the command, or of the `--` before it, or
/// `args.len()`.
pub(crate) fn options_end(args: &[OsString]) -> usize {
    options_end_in(&command(), args)
}

/// The option table, read as GNU parallel's `Getopt::Long` reads its own:
/// an option that must have a value takes the next word as it, whatever
/// it looks like (`--delay -1`, `--timeout -1`, `--tagstring --x`), where
/// clap would take a word starting with `-` for an option (and say
/// "Unknown option: 1"). Options whose value is optional (`--replace`,
/// `-l`, `-e`) still take the next word only when it is not an option.
/// Built, so that its table holds clap's own `--help` and `--version`
/// too, which the option scan must know as GNU's `help` and `version`.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Flags::command().mut_args(|arg| {
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        if arg.get_action().takes_values() && !optional && !arg.is_positional() {
            arg.allow_hyphen_values(true)
        } else {
            arg
        }
    });
    command.build();
    command
}

/// [`options_end`] with the command built already.
pub(crate) fn options_end_in(command: &clap::Command, args: &[OsString]) -> usize {
    scan(command, args).end
}

/// One input source, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceArg {
    /// `::: a b c`
    Values(Vec<OsString>),
    /// `:::: file` or `-a file`; `-` is standard input.
    File(PathBuf),
}

/// An input source and whether it is linked to the one before (`:::+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) arg: SourceArg,
    pub(crate) linked: bool,
}

/// The words that separate the command from its input sources: `:::` and
/// `::::` unless `--arg-sep`/`--arg-file-sep` change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Separators {
    pub(crate) args: String,
    pub(crate) files: String,
    /// The values after `:::` are files to read, as after `::::` (GNU
    /// parallel's inner `--_pipe-means-argfiles` with `--pipe`).
    pub(crate) args_are_files: bool,
}

impl Default for Separators {
    fn default() -> Separators {
        Separators {
            args: ":::".to_owned(),
            files: "::::".to_owned(),
            args_are_files: false,
        }
    }
}

impl Separators {
    /// Whether `word` is a separator: (is a file separator, is linked).
    fn kind(&self, word: &OsString) -> Option<(bool, bool)> {
        let w = word.to_str()?;
        let plus = |sep: &str| w.strip_prefix(sep) == Some("+");
        if w == self.args {
            Some((self.args_are_files, false))
        } else if plus(&self.args) {
            Some((self.args_are_files, true))
        } else if w == self.files {
            Some((true, false))
        } else if plus(&self.files) {
            Some((true, true))
        } else {
            None
        }
    }
}

/// Splits the words after the options into the command and the sources
/// given with `:::`-style separators. `-a` files come first, as in GNU
/// parallel.
#[cfg(test)]
pub(crate) fn split_command(rest: &[OsString], arg_files: &[PathBuf]) -> (Vec<OsString>, Vec<Source>) {
    split_command_with(rest, arg_files, &Separators::default())
}

/// [`split_command`] with other separators.
pub(crate) fn split_command_with(
    rest: &[OsString],
    arg_files: &[PathBuf],
    separators: &Separators,
) -> (Vec<OsString>, Vec<Source>) {
    let mut sources: Vec<Source> = arg_files
        .iter()
        .map(|f| Source {
            arg: SourceArg::File(f.clone()),
            linked: false,
        })
        .collect();
    let is_separator = |w: &OsString| separators.kind(w).is_some();
    let command_end = rest.iter().position(is_separator).unwrap_or(rest.len());
    let command = rest[..command_end].to_vec();
    // A first separator that is the last word is dropped, as GNU parallel's
    // loop over the words drops it: `echo :::` reads standard input (or the
    // `-a` files), as does a `--shebang-wrap` script given no arguments.
    // (An empty group after another one is one empty value, as there: an
    // empty argument to each job, and what `::: x y :::+` pairs `x` with.)
    let mut i = if command_end + 1 == rest.len() {
        rest.len()
    } else {
        command_end
    };
    while i < rest.len() {
        let (is_file, linked) = separators.kind(&rest[i]).unwrap_or((false, false));
        let end = rest[i + 1..]
            .iter()
            .position(is_separator)
            .map_or(rest.len(), |p| i + 1 + p);
        let words = &rest[i + 1..end];
        if is_file {
            for file in words {
                sources.push(Source {
                    arg: SourceArg::File(PathBuf::from(file)),
                    // Every file after `::::+` is linked, as in GNU
                    // parallel (`::::+ a b` links b to a, a to the source
                    // before).
                    linked,
                });
            }
        } else {
            let values = if words.is_empty() {
                vec![OsString::new()]
            } else {
                words.to_vec()
            };
            sources.push(Source {
                arg: SourceArg::Values(values),
                linked,
            });
        }
        i = end;
    }
    (command, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_command_ends_at_the_first_separator() {
        let (command, sources) = split_command(
            &os(&["echo", "-n", ":::", "a", "b", ":::+", "1", "::::", "f", "g"]),
            &[],
        );
        assert_eq!(command, os(&["echo", "-n"]));
        assert_eq!(
            sources,
            vec![
                Source {
                    arg: SourceArg::Values(os(&["a", "b"])),
                    linked: false
                },
                Source {
                    arg: SourceArg::Values(os(&["1"])),
                    linked: true
                },
                Source {
                    arg: SourceArg::File("f".into()),
                    linked: false
                },
                Source {
                    arg: SourceArg::File("g".into()),
                    linked: false
                },
            ]
        );
    }

    #[test]
    fn arg_files_come_first_and_an_empty_command_is_allowed() {
        let (command, sources) = split_command(&os(&[":::", "echo a"]), &["in.txt".into()]);
        assert!(command.is_empty());
        assert_eq!(sources[0].arg, SourceArg::File("in.txt".into()));
        assert_eq!(sources[1].arg, SourceArg::Values(os(&["echo a"])));
    }

    fn parse(words: &[&str]) -> Flags {
        let mut argv = os(&["forkpool"]);
        argv.extend(os(words));
        Flags::parse_args(argv).unwrap()
    }

    #[test]
    fn options_stop_at_the_command() {
        let flags = parse(&["-j", "-1", "-k", "echo", "-k", "--tag", ":::", "x"]);
        assert_eq!(flags.jobs.as_deref(), Some("-1"));
        assert!(flags.keep_order && !flags.tag);
        assert_eq!(flags.rest, os(&["echo", "-k", "--tag", ":::", "x"]));
        let attached = parse(&["-kj+2", "-n2", "-P3", "--timeout=5", "--delay", "1", "true"]);
        assert_eq!(attached.jobs.as_deref(), Some("3"));
        assert_eq!(attached.max_args.as_deref(), Some("2"));
        assert_eq!(
            (attached.timeout.as_deref(), attached.delay.as_deref()),
            (Some("5"), Some("1"))
        );
        assert!(attached.keep_order);
        assert_eq!(attached.rest, os(&["true"]));
        assert_eq!(parse(&["-k", "--", "-weird", "x"]).rest, os(&["-weird", "x"]));
        assert_eq!(parse(&[":::", "a"]).rest, os(&[":::", "a"]));
        // xargs's -P takes its value apart too.
        let p = parse(&["-P", "3", "echo"]);
        assert_eq!((p.jobs.as_deref(), p.rest), (Some("3"), os(&["echo"])));
        // Values that look like options, where GNU parallel allows them.
        let h = parse(&["--halt", "-1", "--results", "-.csv", "--joblog", "-", "echo"]);
        assert_eq!(
            (h.halt.as_deref(), h.results.as_deref(), h.joblog.as_deref()),
            (Some("-1"), Some("-.csv"), Some("-"))
        );
        assert_eq!(h.rest, os(&["echo"]));
    }

    #[test]
    fn a_repeated_option_takes_the_last_value_and_arg_files_add_up() {
        let f = parse(&["-j", "1", "-j", "4", "-a", "x", "-a", "y", "echo"]);
        assert_eq!(f.jobs.as_deref(), Some("4"));
        assert_eq!(f.arg_files, [PathBuf::from("x"), PathBuf::from("y")]);
    }

    #[test]
    fn unknown_options_are_errors() {
        assert!(Flags::parse_args(os(&["forkpool", "--nosuchopt", "echo"])).is_err());
        assert!(Flags::parse_args(os(&["forkpool", "-Z", "echo"])).is_err());
    }
}
