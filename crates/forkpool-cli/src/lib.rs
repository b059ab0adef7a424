//! The `forkpool` command: run commands in parallel, with GNU parallel's
//! interface at xargs's speed.
//!
//! The layers, as in ripgrep: `invocation` merges the options of
//! `~/.parallel/config`, `-J` profiles and `$PARALLEL` into the command
//! line and answers the options that only print (`--number-of-cores`...);
//! `flags` is the command line as typed, `config` the checked
//! configuration, `refusal` a bad one's message in GNU parallel's words
//! (Getopt::Long's or its own); `input` reads the input sources
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
mod refusal;
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
        Err(refusal::ParseError::Clap(e)) if e.kind() == ErrorKind::DisplayVersion => {
            invocation::print_version();
            return 0;
        }
        Err(refusal::ParseError::Clap(e)) if e.kind() == ErrorKind::DisplayHelp => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            e.into_refusal().report();
            return 255;
        }
    };
    if flags.invocation.bug {
        return invocation::bug();
    }
    if let Some(spec) = &flags.invocation.parset
        && let Err(e) = parset::start(spec)
    {
        error!("{e}");
        return 255;
    }
    // Before the other answers and the semaphore, as in GNU parallel
    // (`sem --shell-completion bash` prints the code too).
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
    // Where GNU parallel prints its `--embed` script: before the answers.
    if let Err(reason) = flags.unsupported.check_embed() {
        refusal::Refusal::usage(reason).report();
        return 255;
    }
    if let Some(status) = invocation::answer(&flags.invocation, args.len() > 2) {
        return status;
    }
    if sem::requested(&flags) {
        return sem::run(flags, args);
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
        Err(refusal) => {
            refusal.report();
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

#[cfg(test)]
mod tests {
    use super::prefixed;

    #[test]
    fn every_line_gets_the_prefix_once() {
        assert_eq!(prefixed("Error: ", "a\nb"), "Error: a\nError: b");
        assert_eq!(prefixed("Error: ", "Error: a\nb"), "Error: a\nError: b");
        assert_eq!(prefixed("Warning: ", "Warning: x"), "Warning: x");
    }
}
