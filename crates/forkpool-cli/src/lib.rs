//! The `forkpool` command: run commands in parallel, with GNU parallel's
//! interface at xargs's speed.
//!
//! The layers, as in ripgrep: `flags` is the command line as typed,
//! `config` the checked configuration; `input` reads the input sources
//! and `jobs` groups them into jobs, on the input thread of `feed`;
//! `template` and `shell` turn a job into a command line and decide how to
//! run it; `run` drives the jobs on `forkpool::command`'s supervisor;
//! `output`, `results`, `table`, `joblog`, `halt` and `progress` are what
//! the user sees. `pipe` (`--pipe`, `--pipepart`) cuts the input into
//! blocks for the jobs' stdin instead of arguments.
//!
//! Groups of options have rooms of their own, each with its flags (a clap
//! struct flattened into `flags::Flags`) and its checked settings:
//! `limits` (how many jobs run, and what holds them back), `xargs`,
//! `output::{verbose, files, compress, color}`, `filter`, `shellquote`,
//! `retry_failed`, `workdir`, `tmpl`, `tty`, `env`, `shebang`,
//! `completion` and `unsupported` (options left out on purpose).

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

mod completion;
mod config;
mod csv;
mod env;
mod feed;
mod filter;
mod flags;
mod halt;
mod input;
mod joblog;
mod jobs;
mod limits;
mod output;
mod pipe;
mod program;
mod progress;
mod replace;
mod results;
mod retry_failed;
mod run;
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
    // `#!/usr/bin/forkpool --shebang ...`: the #! line's words, apart.
    let args = shebang::rewrite(args);
    let flags = match flags::Flags::parse_args(args) {
        Ok(flags) => flags,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            tell!("{}", one_line(&e));
            return 255;
        }
    };
    if let Some(shell) = &flags.completion.shell_completion {
        return match completion::generate(shell) {
            Ok(code) => {
                use std::io::Write as _;
                let _ = std::io::stdout().write_all(code.as_bytes());
                0
            }
            Err(e) => {
                tell!("{e}");
                255
            }
        };
    }
    if flags.environment.record_env {
        return match env::record() {
            Ok(()) => 0,
            Err(e) => {
                tell!("{e}");
                255
            }
        };
    }
    let config = match config::Config::from_flags(flags) {
        Ok(config) => config,
        Err(e) => {
            tell!("{e}");
            return 255;
        }
    };
    let prepared = match jobs::prepare(&config) {
        Ok(prepared) => prepared,
        Err(e) => {
            tell!("{e}");
            return 255;
        }
    };
    match run::Runner::new(&config, prepared) {
        Ok(runner) => runner.run(),
        Err(message) => {
            tell!("{message}");
            255
        }
    }
}

/// clap's message, on one line: "unexpected argument '--x' found".
fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match e.kind() {
        ErrorKind::UnknownArgument => format!("{first} (see {} --help)", program::name()),
        _ => first.to_owned(),
    }
}
