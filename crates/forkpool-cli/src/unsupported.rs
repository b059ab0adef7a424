//! GNU parallel options that run on one machine but that forkpool leaves
//! out on purpose (the README says why): they are recognised, so that a
//! script using one stops with a one-line reason rather than a guess.
//!
//! - `--sqlmaster`, `--sqlworker`, `--sqlandworker`, `--sql`: a job queue
//!   in an SQL database, for workers on many machines; forkpool's way to
//!   many machines is ssh (and Redis for the library).
//! - `--tmux`, `--tmuxpane`: jobs in tmux windows.
//! - `--embed`: GNU parallel's Perl source inside a shell script.
//! - `--latest-line` (`--ll`): an alpha-test terminal display.

/// The options of this room, as typed (hidden from `--help`).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct UnsupportedFlags {
    #[arg(long = "sql-master", visible_alias = "sqlmaster", value_name = "DBURL", hide = true)]
    sqlmaster: Option<String>,
    #[arg(long = "sql-worker", visible_alias = "sqlworker", value_name = "DBURL", hide = true)]
    sqlworker: Option<String>,
    #[arg(
        long = "sql-and-worker",
        visible_alias = "sqlandworker",
        value_name = "DBURL",
        hide = true
    )]
    sqlandworker: Option<String>,
    #[arg(long = "sql", value_name = "DBURL", hide = true)]
    sql: Option<String>,
    #[arg(long = "tmux", hide = true)]
    tmux: bool,
    #[arg(long = "tmux-pane", visible_alias = "tmuxpane", hide = true)]
    tmuxpane: bool,
    #[arg(long = "embed", hide = true)]
    embed: bool,
    #[arg(long = "latest-line", visible_aliases = ["latestline", "ll"], hide = true)]
    latest_line: bool,
}

impl UnsupportedFlags {
    /// The reason, if one of them was given.
    pub(crate) fn check(&self) -> Result<(), String> {
        let given = [
            (
                self.sqlmaster.is_some(),
                "--sqlmaster",
                "it keeps its job queue in an SQL database",
            ),
            (
                self.sqlworker.is_some(),
                "--sqlworker",
                "it keeps its job queue in an SQL database",
            ),
            (
                self.sqlandworker.is_some(),
                "--sqlandworker",
                "it keeps its job queue in an SQL database",
            ),
            (
                self.sql.is_some(),
                "--sql",
                "it is retired in GNU parallel too (use --sqlmaster)",
            ),
            (self.tmux, "--tmux", "forkpool shows output itself, not in tmux"),
            (self.tmuxpane, "--tmuxpane", "forkpool shows output itself, not in tmux"),
            (self.embed, "--embed", "forkpool is a program, not a script to embed"),
            (
                self.latest_line,
                "--latest-line",
                "use --line-buffer (with --tag) instead",
            ),
        ];
        match given.iter().find(|(on, _, _)| *on) {
            Some((_, flag, why)) => Err(format!("{flag} is not supported by forkpool: {why}.")),
            None => Ok(()),
        }
    }
}
