//! Showing commands: `-v` prints each job's command on standard output as
//! part of the job's output (so it is grouped, tagged and ordered with
//! it); `-v -v` prints it as run, with its wrapping (`--workdir`'s `cd`);
//! `-t` (`--verbose`) prints it on standard error as the job starts;
//! `-p` asks on the terminal before each job; `--silent` undoes `-v`.
//! All as in GNU parallel.

use std::io::{self, BufRead, Write};

/// The options of this room, as typed. (`-t`/`--verbose` is older and
/// lives with the output options.)
#[derive(Debug, Default, clap::Args)]
pub(crate) struct VerboseFlags {
    /// Print each job's command on stdout with its output; -v -v prints it with its wrapping.
    #[arg(short = 'v', action = clap::ArgAction::Count, help_heading = "Output")]
    pub(crate) v: u8,
    /// Print no commands (undoes -v).
    #[arg(long = "silent", help_heading = "Output")]
    pub(crate) silent: bool,
    /// Ask on the terminal before running each job: an answer starting with y or Y runs it.
    #[arg(short = 'p', long = "interactive", help_heading = "Output")]
    pub(crate) interactive: bool,
}

/// How commands are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Verbose {
    /// `-v`: 1 prints the command, 2 the command as run.
    pub(crate) stdout: u8,
    /// `-p`: ask first.
    pub(crate) interactive: bool,
}

impl VerboseFlags {
    /// Resolves the flags. `-p` needs a terminal.
    pub(crate) fn resolve(&self) -> Result<Verbose, String> {
        if self.interactive {
            std::fs::File::open("/dev/tty").map_err(|e| {
                format!(
                    "--interactive needs a terminal to ask on: /dev/tty: {}",
                    crate::jobs::io_reason(&e)
                )
            })?;
        }
        Ok(Verbose {
            stdout: if self.silent { 0 } else { self.v.min(2) },
            interactive: self.interactive,
        })
    }
}

/// `-p`: asks `COMMAND ?...` on stderr and reads the answer from the
/// terminal. Whether to run the job.
pub(crate) fn ask(command: &[u8]) -> io::Result<bool> {
    let mut err = io::stderr().lock();
    err.write_all(command)?;
    err.write_all(b" ?...")?;
    err.flush()?;
    drop(err);
    let tty = std::fs::File::open("/dev/tty")?;
    let mut answer = String::new();
    io::BufReader::new(tty).read_line(&mut answer)?;
    Ok(answer.trim_start().starts_with(['y', 'Y']))
}

/// `-t`: the command on stderr, now.
pub(crate) fn to_stderr(command: &[u8]) {
    let mut line = Vec::with_capacity(command.len() + 1);
    line.extend_from_slice(command);
    line.push(b'\n');
    let _ = io::stderr().lock().write_all(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_undoes_v_and_v_counts_up_to_two() {
        let flags = |v, silent| VerboseFlags {
            v,
            silent,
            interactive: false,
        };
        assert_eq!(flags(1, false).resolve().unwrap().stdout, 1);
        assert_eq!(flags(3, false).resolve().unwrap().stdout, 2);
        assert_eq!(flags(2, true).resolve().unwrap().stdout, 0);
    }
}
