//! How the program was invoked: the options it reads besides the command
//! line (`$PARALLEL`, `~/.parallel/config`, `-J` profiles), and the
//! options that answer a question and exit (`--number-of-cores`,
//! `--max-line-length-allowed`, `--minversion`, `--citation`...), each as
//! GNU parallel 20221122 does it.
//!
//! The run itself starts in `lib.rs`: [`parse`] gives it the flags with
//! every source merged, [`answer`] handles the options that end the
//! program before any job runs.

pub(crate) mod bare;
pub(crate) mod citation;
pub(crate) mod cpus;
pub(crate) mod limits;
pub(crate) mod parallel_env;
pub(crate) mod profile;
pub(crate) mod words;

use std::ffi::OsString;

use crate::flags::{Flags, options_end_in};
use crate::refusal::ParseError;

/// The version of GNU parallel whose interface this is: what
/// `--minversion` compares with, and what scripts checking for features
/// (`parallel --minversion 20170422 && ...`) need to hear.
pub(crate) const GNU_VERSION: u64 = 20221122;

/// Options about the invocation itself.
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct InvocationFlags {
    /// Read options from the profile ~/.parallel/PROFILE (or a path starting with / or ./) instead of ~/.parallel/config; may be repeated.
    #[arg(
        short = 'J',
        long = "profile",
        value_name = "PROFILE",
        help_heading = "Invocation",
        allow_hyphen_values = true
    )]
    pub(crate) profile: Vec<String>,
    /// Ignore --profile, $PARALLEL and ~/.parallel/config.
    #[arg(long = "plain", help_heading = "Invocation")]
    pub(crate) plain: bool,
    /// Accepted for GNU parallel's scripts (forkpool never shows a citation notice).
    #[arg(
        long = "will-cite",
        visible_alias = "no-notice",
        aliases = ["willcite", "nn", "nonotice"],
        help_heading = "Invocation"
    )]
    pub(crate) will_cite: bool,
    /// Print GNU parallel's BibTeX entry; without ~/.parallel/will-cite, ask to type 'will cite'.
    #[arg(long = "citation", visible_alias = "bibtex", help_heading = "Invocation")]
    pub(crate) citation: bool,
    /// Print the GNU parallel version this implements (20221122); exit 255 if older than VERSION.
    #[arg(
        long = "minversion",
        visible_alias = "min-version",
        value_name = "VERSION",
        allow_hyphen_values = true,
        help_heading = "Invocation"
    )]
    pub(crate) minversion: Option<String>,
    /// Print the number of physical CPU cores and exit (obsolete: --number-of-cores).
    #[arg(long = "number-of-cpus", alias = "numberofcpus", help_heading = "Invocation")]
    pub(crate) number_of_cpus: bool,
    /// Print the number of physical CPU cores and exit.
    #[arg(long = "number-of-cores", alias = "numberofcores", help_heading = "Invocation")]
    pub(crate) number_of_cores: bool,
    /// Print the number of CPU threads (hyperthreads) and exit.
    #[arg(long = "number-of-threads", alias = "numberofthreads", help_heading = "Invocation")]
    pub(crate) number_of_threads: bool,
    /// Print the number of filled CPU sockets and exit.
    #[arg(long = "number-of-sockets", alias = "numberofsockets", help_heading = "Invocation")]
    pub(crate) number_of_sockets: bool,
    /// Print the longest command line the system allows and exit.
    #[arg(
        long = "max-line-length-allowed",
        alias = "maxlinelengthallowed",
        help_heading = "Invocation"
    )]
    pub(crate) max_line_length_allowed: bool,
    /// Print the command-line length limits, then run as usual.
    #[arg(long = "show-limits", alias = "showlimits", help_heading = "Invocation")]
    pub(crate) show_limits: bool,
    /// Retired in GNU parallel: an error unless --gnu is given too.
    #[arg(long = "tollef", hide = true)]
    pub(crate) tollef: bool,
    /// Behave like GNU parallel (the only behaviour; kept for old scripts).
    #[arg(long = "gnu", help_heading = "Invocation")]
    pub(crate) gnu: bool,
    /// Accepted for GNU parallel's scripts: GNU prints debug output of its internals on stderr; forkpool prints none.
    #[arg(
        short = 'D',
        long = "debug",
        value_name = "WHAT",
        help_heading = "Invocation",
        allow_hyphen_values = true
    )]
    pub(crate) debug: Option<String>,
    /// GNU parallel's test of its bug report: print the report's text (see [`bug`]).
    #[arg(long = "bug", hide = true)]
    pub(crate) bug: bool,
    /// `env_parallel --session`'s option, which GNU parallel itself takes and ignores.
    #[arg(long = "session", hide = true)]
    pub(crate) session: bool,
    /// GNU parallel's option for trying out values of its own internals
    /// (`_test=s`), which nothing reads there: taken and ignored.
    #[arg(long = "_test", value_name = "VALUE", hide = true, allow_hyphen_values = true)]
    pub(crate) test: Option<String>,
    /// `parset`'s internal option: print shell code setting variables to the jobs' outputs.
    #[arg(
        long = "_parset",
        value_name = "var,NAMES|assoc,NAME",
        hide = true,
        allow_hyphen_values = true
    )]
    pub(crate) parset: Option<String>,
}

/// Variables of ours that jobs must not get: `$PARALLEL_ENV` (each job
/// gets its code in front of the command instead) and the semaphore's
/// note to its background copy.
pub(crate) const NOT_FOR_JOBS: &[&str] = &[parallel_env::VAR, crate::sem::NOTIFY_VAR];

/// Parses the command line with the options of `$PARALLEL` and the option
/// files merged in, as GNU parallel does (see `profile`). When there is
/// no option file and no `$PARALLEL`, the command line is parsed once and
/// that is all: a few `stat`s are the whole cost.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Flags, ParseError> {
    // Built once for every parse below: building it is most of what a
    // parse costs (~0.15 ms each), and not at all for a command line
    // without options and no option file (see `bare`).
    let mut built = None;
    let flags = match bare::parse(&args) {
        Some(flags) => flags,
        None => {
            let command = built.insert(crate::flags::command());
            Flags::parse_args_with(command, args.clone())?
        }
    };
    if flags.invocation.plain {
        return Ok(flags);
    }
    profile::make_parallel_home();
    let sources = profile::read(&flags.invocation.profile).map_err(|e| ParseError::Refused(e.into()))?;
    if sources.is_empty() {
        return Ok(flags);
    }
    let mut command = built.unwrap_or_else(crate::flags::command);
    let argv0 = args.first().cloned().unwrap_or_else(|| "forkpool".into());
    let mut options = vec![argv0.clone()];
    let mut rest = Vec::new();
    for source in &sources {
        let (opts, words) = split(&command, &argv0, &source.words);
        // Each source on its own first, so that an option missing its
        // value at the end of `$PARALLEL` is not completed by the next
        // source's first word.
        let mut alone = vec![argv0.clone()];
        alone.extend_from_slice(opts);
        if let Err(e) = Flags::parse_args_with(&mut command, alone) {
            return Err(ParseError::Refused(e.into_refusal().within(&source.origin)));
        }
        options.extend_from_slice(opts);
        rest.extend_from_slice(words);
    }
    let (opts, words) = split(&command, &argv0, &args[1..]);
    options.extend_from_slice(opts);
    rest.extend_from_slice(words);
    options.push("--".into());
    options.extend(rest);
    Flags::parse_args_with(&mut command, options)
}

/// A list of words split into its options and the rest (the command and
/// its sources), without the `--` between them if there is one.
fn split<'w>(command: &clap::Command, argv0: &OsString, words: &'w [OsString]) -> (&'w [OsString], &'w [OsString]) {
    let mut with_name = Vec::with_capacity(words.len() + 1);
    with_name.push(argv0.clone());
    with_name.extend_from_slice(words);
    let end = options_end_in(command, &with_name) - 1;
    let rest_start = if words.get(end).is_some_and(|w| w == "--") {
        end + 1
    } else {
        end
    };
    (&words[..end], &words[rest_start.min(words.len())..])
}

/// Answers the options that end the program (printing what they print)
/// and returns the exit status; `None`: run as usual. `other_arguments`:
/// whether the command line holds more than one word.
pub(crate) fn answer(flags: &InvocationFlags, other_arguments: bool) -> Option<i32> {
    let print = |line: &str| {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    if flags.citation {
        return Some(citation::run(other_arguments));
    }
    if flags.number_of_sockets || flags.number_of_cpus || flags.number_of_cores || flags.number_of_threads {
        let counts = cpus::count();
        let n = if flags.number_of_sockets {
            counts.sockets
        } else if flags.number_of_cpus || flags.number_of_cores {
            counts.cores
        } else {
            counts.threads
        };
        print(&n.to_string());
        return Some(0);
    }
    if flags.max_line_length_allowed {
        print(&limits::real_max_length().to_string());
        return Some(0);
    }
    if flags.tollef && !flags.gnu {
        error!("--tollef has been retired.\nRemove --tollef or use --gnu to override --tollef.");
        return Some(255);
    }
    if let Some(wanted) = &flags.minversion {
        let Some(wanted) = parse_integer(wanted) else {
            crate::refusal::Refusal::getopt(format!(
                "Value \"{wanted}\" invalid for option minversion (number expected)"
            ))
            .report();
            return Some(255);
        };
        print(&GNU_VERSION.to_string());
        return Some(if i128::from(GNU_VERSION) < wanted { 255 } else { 0 });
    }
    if flags.show_limits {
        limits::show();
    }
    None
}

/// `--bug`: GNU parallel's `die_bug("test-bug")`, its text for a bug it
/// finds in itself, word for word (the version is the GNU release whose
/// interface this is), and its exit status 255. As in GNU parallel it
/// comes after the options are read, before anything else they ask for.
pub(crate) fn bug() -> i32 {
    let text = format!(
        "{}: This should not happen. You have found a bug. Please follow\n\
         https://www.gnu.org/software/parallel/man.html#reporting-bugs\n\
         \n\
         Include this in the report:\n\
         * The version number: {GNU_VERSION}\n\
         * The bugid: test-bug\n\
         * The command line being run\n\
         * The files being read (put the files on a webserver if they are big)\n\
         \n\
         If you get the error on smaller/fewer files, please include those instead.",
        crate::program::name()
    );
    say!("{text}");
    255
}

/// `--version`: ours, and the GNU parallel release whose interface this
/// is. Scripts tell GNU parallel from other programs called `parallel`
/// (moreutils' has another interface) with `parallel --version | grep 'GNU
/// parallel'`; installed as `parallel`, forkpool must pass that test.
pub(crate) fn print_version() {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "forkpool {} (GNU parallel {GNU_VERSION} compatible)",
        env!("CARGO_PKG_VERSION")
    )
    .and_then(|()| out.flush());
}

/// An integer as Perl's `Getopt::Long` takes one (`=i`): optional sign,
/// then digits.
fn parse_integer(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Beyond any version number: compares as "huge" rather than failing.
    text.parse::<i128>()
        .ok()
        .or(Some(if text.starts_with('-') { i128::MIN } else { i128::MAX }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn words_split_into_options_and_the_command() {
        let command = crate::flags::command();
        let split = |argv0, words| split(&command, argv0, words);
        let argv0 = OsString::from("parallel");
        let words = os(&["-j2", "--tag", "nice", "-n", "5"]);
        let (opts, rest) = split(&argv0, &words);
        assert_eq!((opts, rest), (&words[..2], &words[2..]));
        let words = os(&["-k", "--", "-weird"]);
        assert_eq!(split(&argv0, &words), (&words[..1], &words[2..]));
        let words = os(&["-j", "3"]);
        assert_eq!(split(&argv0, &words), (&words[..2], &words[2..]));
        let words = os(&[":::", "a"]);
        assert_eq!(split(&argv0, &words), (&words[..0], &words[..]));
    }

    #[test]
    fn minversion_takes_an_integer_as_getopt_does() {
        assert_eq!(parse_integer("20170422"), Some(20170422));
        assert_eq!(parse_integer("+5"), Some(5));
        assert_eq!(parse_integer("-1"), Some(-1));
        assert_eq!(
            parse_integer("99999999999999999999999999999999999999999"),
            Some(i128::MAX)
        );
        for bad in ["", "abc", "2017.04", "1e9", "+", "20221122x"] {
            assert_eq!(parse_integer(bad), None, "{bad:?}");
        }
    }
}
