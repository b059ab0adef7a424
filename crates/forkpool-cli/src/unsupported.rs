//! GNU parallel options that run on one machine but that forkpool leaves
//! out on purpose (the README says why): they are recognised, so that a
//! script using one stops with a one-line reason rather than a guess.
//!
//! - `--sqlmaster`, `--sqlworker`, `--sqlandworker`: a job queue
//!   in an SQL database, for workers on many machines; forkpool's way to
//!   many machines is ssh (and Redis for the library).
//! - `--tmux`, `--tmuxpane`: jobs in tmux windows.
//! - `--embed`: GNU parallel's Perl source inside a shell script.
//! - `--latest-line` (`--ll`): an alpha-test terminal display.
//!
//! GNU parallel's retired options (`-g`, `-B`, `-T`, `-U`, `-W`, `-Y`,
//! `-H`, `--sql`, `--ctrlc`, `--noctrlc`) are refused in its words, with
//! its exit status 255: whichever was given, it lists them all, each with
//! the option that replaced it ("-T has been retired. Use --tty.").

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
    /// A number (GNU's `H=i`): `getopt::typed_value_refused` refuses others.
    #[arg(short = 'H', value_name = "N", hide = true)]
    h: Option<String>,
    #[arg(long = "sql", value_name = "DBURL", hide = true)]
    sql: Option<String>,
    #[arg(long = "ctrlc", visible_alias = "ctrl-c", hide = true)]
    ctrlc: bool,
    #[arg(long = "noctrlc", visible_aliases = ["no-ctrlc", "no-ctrl-c"], hide = true)]
    noctrlc: bool,
}

/// GNU parallel's error for any retired option: it lists them all,
/// whichever was given.
const RETIRED: &str = "-g has been retired. Use --group.
-B has been retired. Use --bf.
-T has been retired. Use --tty.
-U has been retired. Use --er.
-W has been retired. Use --wd.
-Y has been retired. Use --shebang.
-H has been retired. Use --halt.
--sql has been retired. Use --sqlmaster.
--ctrlc has been retired.
--noctrlc has been retired.";

impl Retired {
    /// GNU parallel's error, if a retired option was given.
    fn check(&self) -> Result<(), String> {
        let given = self.g
            || self.b.is_some()
            || self.t
            || self.u.is_some()
            || self.w.is_some()
            || self.y
            || self.h.is_some()
            || self.sql.is_some()
            || self.ctrlc
            || self.noctrlc;
        if given { Err(RETIRED.to_owned()) } else { Ok(()) }
    }
}

impl UnsupportedFlags {
    /// The reason, if `--embed` was given. GNU parallel answers it (it
    /// prints its script) after `--help`, `--shell-completion` and
    /// `--bug`, before everything else: `--version`, `--number-of-cpus`,
    /// `--minversion`, `--record-env`, the other options refused here. So
    /// is it refused: a script that asks for `--version --embed` gets no
    /// version line to take for the script it wanted.
    pub(crate) fn check_embed(&self) -> Result<(), String> {
        if self.embed {
            Err("--embed is not supported by forkpool: forkpool is a program, not a script to embed.".to_owned())
        } else {
            Ok(())
        }
    }

    /// The reason, if one of them was given.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.check_embed()?;
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
            (self.tmux, "--tmux", "forkpool shows output itself, not in tmux"),
            (self.tmuxpane, "--tmuxpane", "forkpool shows output itself, not in tmux"),
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
