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
//!
//! GNU parallel's retired options (`-g`, `-B`, `-T`, `-U`, `-W`, `-Y`,
//! `-H`, `--ctrlc`, `--noctrlc`) are refused in its words, naming the
//! option that replaced each ("-T has been retired. Use --tty."), with its
//! exit status 255. (GNU prints the whole list whichever one was given; we
//! name the one that was.)

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
    #[command(flatten)]
    retired: Retired,
}

/// GNU parallel's retired options, taking what they took.
#[derive(Debug, Default, clap::Args)]
struct Retired {
    #[arg(short = 'g', hide = true)]
    g: bool,
    #[arg(short = 'B', value_name = "FILE", hide = true)]
    b: Option<String>,
    #[arg(short = 'T', hide = true)]
    t: bool,
    #[arg(short = 'U', value_name = "STR", hide = true)]
    u: Option<String>,
    #[arg(short = 'W', value_name = "DIR", hide = true)]
    w: Option<String>,
    #[arg(short = 'Y', hide = true)]
    y: bool,
    #[arg(short = 'H', value_name = "N", hide = true)]
    h: Option<String>,
    #[arg(long = "ctrlc", visible_alias = "ctrl-c", hide = true)]
    ctrlc: bool,
    #[arg(long = "noctrlc", visible_aliases = ["no-ctrlc", "no-ctrl-c"], hide = true)]
    noctrlc: bool,
}

impl Retired {
    /// GNU parallel's error for the first retired option given.
    fn check(&self) -> Result<(), String> {
        let given = [
            (self.g, "-g has been retired. Use --group."),
            (self.b.is_some(), "-B has been retired. Use --bf."),
            (self.t, "-T has been retired. Use --tty."),
            (self.u.is_some(), "-U has been retired. Use --er."),
            (self.w.is_some(), "-W has been retired. Use --wd."),
            (self.y, "-Y has been retired. Use --shebang."),
            (self.h.is_some(), "-H has been retired. Use --halt."),
            (self.ctrlc, "--ctrlc has been retired."),
            (self.noctrlc, "--noctrlc has been retired."),
        ];
        match given.iter().find(|(on, _)| *on) {
            Some((_, message)) => Err((*message).to_owned()),
            None => Ok(()),
        }
    }
}

impl UnsupportedFlags {
    /// The reason, if one of them was given.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.retired.check()?;
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
