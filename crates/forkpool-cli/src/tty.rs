//! `--tty` and `--open-tty` (`-o`): jobs that talk to the user read the
//! terminal (`/dev/tty`) as their standard input, as with GNU parallel.
//! `--tty` also runs one job at a time (`-j1`) with its output straight
//! to the terminal (`-u`), unless `-j` or `--group` say otherwise.
//!
//! Such a job stays in forkpool's process group, so that the terminal
//! lets it read (and Ctrl-C reaches it); as GNU parallel says of it,
//! `--timeout`, `--memfree` and `--halt` then stop only its first process.

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct TtyFlags {
    /// Jobs read the terminal; one at a time, their output straight out (-j1 -u, unless -j or --group are given).
    #[arg(long = "tty", help_heading = "Jobs")]
    pub(crate) tty: bool,
    /// Jobs read the terminal (as --tty, without -j1 -u).
    #[arg(short = 'o', long = "open-tty", visible_alias = "opentty", help_heading = "Jobs")]
    pub(crate) open_tty: bool,
}

impl TtyFlags {
    /// Whether jobs read the terminal.
    pub(crate) fn reads_terminal(&self) -> bool {
        self.tty || self.open_tty
    }
}
