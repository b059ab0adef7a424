//! The `forkpool` command: run commands in parallel, with GNU parallel's
//! interface at xargs's speed.
//!
//! The layers, as in ripgrep: `invocation` merges the options of
//! `~/.parallel/config`, `-J` profiles and `$PARALLEL` into the command
//! line and answers the options that only print (`--number-of-cores`...);
//! `flags` is the command line as typed, `config` the checked
//! configuration; `input` reads the input sources
//! and `jobs` groups them into jobs, on the input thread of `feed`;
//! `template` and `shell` turn a job into a command line and decide how to
//! run it; `run` drives the jobs on `forkpool::command`'s supervisor;
//! `output`, `results`, `table`, `joblog`, `halt` and `progress` are what
//! the user sees (`parset` too, as shell code). `pipe` (`--pipe`,
//! `--pipepart`) cuts the input into blocks for the jobs' stdin instead of
//! arguments. `sem` is the counting semaphore the program becomes when
//! invoked as `sem`; `invocation` reads the options GNU parallel reads
//! besides the command line.
//!
//! Groups of options have rooms of their own, each with its flags (a clap
//! struct flattened into `flags::Flags`) and its checked settings:
//! `limits` (how many jobs run, and what holds them back), `xargs`,
//! `output::{verbose, files, compress, color}`, `filter`, `shellquote`,
//! `retry_failed`, `workdir`, `tmpl`, `tty`, `env`, `shebang`,
//! `completion` and `unsupported` (options left out on purpose).
//!
//! `node` is the `forkpool node` command, which starts a program built
//! with forkpool as a cluster node.

#![forbid(unsafe_code)]

/// `eprintln!` that cannot panic: a message we cannot print (stderr closed
/// or full) is not a reason to stop running jobs, as in GNU parallel.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `say!` with the program's name in front, as GNU parallel prefixes its
/// messages with the name it was invoked by (`parallel: `, `sem: `,
/// `forkpool: `). Every line of a multi-line message gets the prefix.
macro_rules! tell {
    ($($arg:tt)*) => {{
        let message = format!($($arg)*);
        let name = $crate::program::name();
        for line in message.split('\n') {
            say!("{name}: {line}");
        }
    }};
}

/// `tell!` for an error, each line after `Error: `, as GNU parallel words
/// its errors (`parallel: Error: ...`). Every error the program reports,
/// before or while running jobs, goes through here, so all of them have
/// the same form. (A line that has the prefix already keeps just the one.)
macro_rules! error {
    ($($arg:tt)*) => {{
        tell!("{}", $crate::prefixed("Error: ", &format!($($arg)*)));
    }};
}

/// `tell!` for a warning, each line after `Warning: `, as GNU parallel's.
macro_rules! warning {
    ($($arg:tt)*) => {{
        tell!("{}", $crate::prefixed("Warning: ", &format!($($arg)*)));
    }};
}

/// `message` with `prefix` in front of every line that lacks it (or any
/// other: GNU parallel ends some runs with a warning, "Warning: Cannot
/// spawn any jobs.", which stays one).
fn prefixed(prefix: &str, message: &str) -> String {
    let lines: Vec<String> = message
        .split('\n')
        .map(|line| {
            if line.starts_with(prefix) || line.starts_with("Warning: ") || line.starts_with("Error: ") {
                line.to_owned()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect();
    lines.join("\n")
}

mod completion;
mod config;
mod csv;
mod env;
mod feed;
mod filter;
mod flags;
mod getopt;
mod halt;
mod input;
mod invocation;
mod joblog;
mod jobs;
mod limits;
mod long_names;
mod node;
mod output;
mod parset;
mod pipe;
mod program;
mod progress;
mod remote;
mod replace;
mod results;
mod retry_failed;
mod run;
mod sem;
mod shebang;
mod shell;
mod shellquote;
mod table;
mod tmpl;
mod tty;
mod units;
mod unsupported;
mod workdir;
mod xargs;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::error::ErrorKind;

/// The whole program: parse, run, return the exit status.
pub fn main() -> ExitCode {
    ExitCode::from(run_args(std::env::args_os()).clamp(0, 255) as u8)
}

/// Runs `forkpool` with these arguments; returns the exit status.
pub fn run_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(argv0) = args.first() {
        program::set_name(argv0);
    }
    if node::is_node_command(args.get(1..).unwrap_or_default()) {
        return node::run(args.into_iter().skip(1).collect());
    }
    // `#!/usr/bin/forkpool --shebang ...`: the #! line's words, apart.
    let args = shebang::rewrite(args);
    let status = run_invocation(&args);
    // `parset` evaluates what we print: it ends with our exit status.
    parset::finish(status, parset::requested(&args))
}

/// Parses (with `$PARALLEL` and the option files), answers the options
/// that end the program, and runs the jobs or the semaphore.
fn run_invocation(args: &[OsString]) -> i32 {
    let flags = match invocation::parse(args.to_vec()) {
        Ok(flags) => flags,
        Err(invocation::ParseError::Clap(e)) if e.kind() == ErrorKind::DisplayVersion => {
            invocation::print_version();
            return 0;
        }
        Err(invocation::ParseError::Clap(e)) if e.kind() == ErrorKind::DisplayHelp => {
            let _ = e.print();
            return 0;
        }
        Err(invocation::ParseError::Clap(e)) => {
            report(&one_line(&e));
            return 255;
        }
        Err(invocation::ParseError::Usage(e)) => {
            report(&e.to_string());
            return 255;
        }
    };
    if let Some(spec) = &flags.invocation.parset
        && let Err(e) = parset::start(spec)
    {
        error!("{e}");
        return 255;
    }
    if let Some(status) = invocation::answer(&flags.invocation, args.len() > 2) {
        return status;
    }
    if sem::requested(&flags) {
        return sem::run(flags, args);
    }
    if let Some(shell) = &flags.completion.shell_completion {
        return match completion::generate(shell) {
            Ok(code) => {
                use std::io::Write as _;
                let _ = std::io::stdout().write_all(code.as_bytes());
                0
            }
            Err(e) => {
                error!("{e}");
                255
            }
        };
    }
    if flags.environment.record_env {
        return match env::record() {
            Ok(()) => 0,
            Err(e) => {
                error!("{e}");
                255
            }
        };
    }
    // The option words typed on the command line, for `--onall`'s inner
    // runs (which read `$PARALLEL` and the option files themselves).
    let options = if flags.remote.onall || flags.remote.nonall {
        args.get(1..flags::options_end(args)).unwrap_or_default().to_vec()
    } else {
        Vec::new()
    };
    match config::Config::from_flags(flags) {
        Ok(config) if config.remote.on_all.is_some() => remote::onall::run(&config, &options),
        Ok(config) => run_config(&config),
        Err(e) => {
            report(&e.to_string());
            255
        }
    }
}

/// Runs the jobs a checked configuration describes; returns the exit
/// status.
pub(crate) fn run_config(config: &config::Config) -> i32 {
    let prepared = match jobs::prepare(config) {
        Ok(prepared) => prepared,
        Err(e) => {
            error!("{e}");
            return 255;
        }
    };
    match run::Runner::new(config, prepared) {
        Ok(runner) => runner.run(),
        Err(message) => {
            error!("{message}");
            255
        }
    }
}

/// clap's message, on one line, in GNU parallel's words where it has them
/// (`Unknown option: x`, `Option j requires an argument`), so that
/// scripts matching on them work.
fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Getopt::Long's warnings, one a line, are kept together.
    let all = text.strip_prefix("error: ").unwrap_or(&text).trim_end();
    if all.contains('\n') && is_getopt(all) {
        return all.to_owned();
    }
    // The option clap quotes first: `'--nosuch'`, `'--jobs <N>'`.
    let quoted = first
        .split('\'')
        .nth(1)
        .map(|q| q.split([' ', '=']).next().unwrap_or(q))
        .map(|q| q.strip_prefix("--").or_else(|| q.strip_prefix('-')).unwrap_or(q));
    match (e.kind(), quoted) {
        (ErrorKind::UnknownArgument, Some(option)) => format!("Unknown option: {option}"),
        (ErrorKind::InvalidValue, Some(option)) if first.contains("a value is required") => {
            format!("Option {option} requires an argument")
        }
        _ => first.to_owned(),
    }
}

/// Prints an error that ends the run before any job: Getopt::Long's own
/// words as Perl warns them, alone on their line (no program name, no
/// `Error: `), as GNU parallel prints them; any other after
/// `NAME: Error: `.
pub(crate) fn report(message: &str) {
    if is_getopt(message) {
        say!("{message}");
    } else {
        error!("{message}");
    }
}

/// Whether a message is one of Getopt::Long's (`Unknown option: x`,
/// `Option j requires an argument`, `Value "x" invalid for option nice
/// (number expected)`...).
fn is_getopt(message: &str) -> bool {
    // It warns of each bad option in turn, one a line.
    !message.is_empty() && message.lines().all(is_getopt_line)
}

/// Whether one line is one of Getopt::Long's messages.
fn is_getopt_line(message: &str) -> bool {
    let option = message.strip_prefix("Option ").is_some_and(|rest| {
        !rest.contains('\n')
            && (rest.ends_with(" requires an argument")
                || rest.ends_with(" does not take an argument")
                || rest.ends_with(" requires a value")
                || rest.contains(" is ambiguous ("))
    });
    let value =
        message.starts_with("Value \"") && message.contains("\" invalid for option ") && !message.contains('\n');
    let unknown = message.starts_with("Unknown option: ") && !message.contains('\n');
    option || value || unknown
}

#[cfg(test)]
mod tests {
    use super::{is_getopt, prefixed};

    #[test]
    fn getopts_own_words_are_told_apart() {
        assert!(is_getopt("Unknown option: foo"));
        assert!(is_getopt("Option j requires an argument"));
        assert!(is_getopt("Option tag does not take an argument"));
        assert!(is_getopt("Option re is ambiguous (recend, recstart)"));
        assert!(is_getopt("Value \"x\" invalid for option nice (number expected)"));
        assert!(!is_getopt("--timeout must be seconds or percentage."));
        assert!(!is_getopt("Option j requires an argument\nand more"));
    }

    #[test]
    fn every_line_gets_the_prefix_once() {
        assert_eq!(prefixed("Error: ", "a\nb"), "Error: a\nError: b");
        assert_eq!(prefixed("Error: ", "Error: a\nb"), "Error: a\nError: b");
        assert_eq!(prefixed("Warning: ", "Warning: x"), "Warning: x");
    }
}
