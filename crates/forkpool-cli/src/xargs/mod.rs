//! xargs compatibility: `-s` (`--max-chars`), `-L`, `-l` (`--max-lines`),
//! `-E`, `-e` (`--eof`), `-r` (`--no-run-if-empty`), `-x` (`--exit`) and
//! `--xargs`, with GNU parallel's meaning of each (which is not always
//! xargs's: `-L` counts lines, not words).
//!
//! `items` applies the per-line rules to every input source as it is read
//! (end-of-file string, empty lines, continued lines); `length` is the
//! command-line budget that `-s` lowers.

pub(crate) mod items;
pub(crate) mod length;

use crate::units::{parse_size, values_per_job};

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct XargsFlags {
    /// Command lines of at most N characters (with -X, -m, -n: fewer arguments per line).
    #[arg(
        short = 's',
        long = "max-chars",
        visible_alias = "maxchars",
        value_name = "N",
        help_heading = "xargs"
    )]
    pub(crate) max_chars: Option<String>,
    /// Use at most N non-blank input lines per job; a trailing blank continues a line (implies -X unless -m or --xargs). With --pipe: a record is N lines.
    #[arg(short = 'L', value_name = "N", help_heading = "xargs")]
    pub(crate) max_lines_l: Option<String>,
    /// Use at most N input lines per job, their values joined as with -m (N optional: 1 when left out; 0 means 1).
    #[arg(
        short = 'l',
        long = "max-lines",
        visible_alias = "maxlines",
        value_name = "N",
        num_args = 0..=1,
        default_missing_value = "1",
        help_heading = "xargs"
    )]
    pub(crate) max_lines: Option<String>,
    /// Stop reading input at a line that is EOF_STR.
    #[arg(
        short = 'E',
        value_name = "EOF_STR",
        help_heading = "xargs",
        allow_hyphen_values = true
    )]
    pub(crate) eof_e: Option<String>,
    /// Like -E, with EOF_STR optional (none when left out).
    #[arg(
        short = 'e',
        long = "eof",
        value_name = "EOF_STR",
        num_args = 0..=1,
        default_missing_value = "",
        help_heading = "xargs"
    )]
    pub(crate) eof: Option<String>,
    /// Skip input lines that are empty or only blanks (and run nothing for such input).
    #[arg(
        short = 'r',
        long = "no-run-if-empty",
        visible_alias = "norunifempty",
        help_heading = "xargs"
    )]
    pub(crate) no_run_if_empty: bool,
    /// Exit if a command line would be longer than -s allows (forkpool always does, as GNU parallel).
    #[arg(short = 'x', long = "exit", help_heading = "xargs")]
    pub(crate) exit: bool,
    /// As many arguments per command line as fit, without sharing them out over the job slots.
    #[arg(long = "xargs", help_heading = "xargs")]
    pub(crate) xargs: bool,
}

/// Whether an option with an optional value takes `next` as its value,
/// as GNU parallel's option parser decides: `-l` only a number, `-e` and
/// `-i` any word that is not an option. `None`: not one of ours.
pub(crate) fn takes_optional_value(id: &str, next: &str) -> Option<bool> {
    match id {
        "max_lines" => Some(crate::getopt::is_perl_float(next)),
        "eof" | "replace" => Some(!next.starts_with('-') || next == "-"),
        _ => None,
    }
}

/// The checked settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Xargs {
    /// `-E`/`-e`: input ends at a line that is this.
    pub(crate) eof: Option<Vec<u8>>,
    /// `-r`: blank lines are skipped.
    pub(crate) skip_blank: bool,
    /// `-L`/`-l`: lines per job (a trailing blank continues a line).
    pub(crate) max_lines: Option<usize>,
    /// `-s`: the most characters a command line may have.
    pub(crate) max_chars: Option<usize>,
    /// `--xargs`: fill lines, share nothing out.
    pub(crate) xargs: bool,
}

impl XargsFlags {
    /// Checks the values. With `--pipe` (`pipe`), where `-L` is lines
    /// per record, one that is no number is 0, none, as GNU reads it.
    pub(crate) fn resolve(&self, pipe: bool) -> Result<Xargs, String> {
        let number = |flag: &str, text: &str| {
            parse_size(text)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("{flag} must be a number, not {text:?}"))
        };
        // An empty (or blank) -s or -L is not given (-L still repeats the
        // word around {}: see `config`).
        use crate::config::perl_eval_given as given;
        let max_chars = match given(self.max_chars.as_deref()) {
            None => None,
            // 0 is the default length, as in GNU parallel.
            Some(text) => Some(number("-s", text)?).filter(|&n| n > 0),
        };
        // -L wins over -l; -l 0 (and a bare -l) means 1. Each is the
        // number GNU parallel makes of it (`1.5`, `-1`, `1_0`, `2k`): see
        // `units::perl_count`.
        let lines = |flag: &str, text: &str| match crate::units::perl_count(text) {
            None if pipe => Ok(0.0),
            n => n.ok_or_else(|| format!("{flag} must be a number, not {text:?}")),
        };
        let max_lines = match (given(self.max_lines_l.as_deref()), &self.max_lines) {
            (Some(l), _) => Some(values_per_job(lines("-L", l)?)),
            (None, Some(l)) => Some(values_per_job(lines("-l", l)?).max(1)),
            (None, None) => None,
        };
        let eof = self
            .eof_e
            .as_deref()
            .or(self.eof.as_deref())
            .filter(|e| !e.is_empty())
            .map(|e| e.as_bytes().to_vec());
        Ok(Xargs {
            eof,
            skip_blank: self.no_run_if_empty,
            max_lines,
            max_chars,
            xargs: self.xargs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_values_are_taken_as_gnu_parallel_takes_them() {
        assert_eq!(takes_optional_value("max_lines", "2"), Some(true));
        assert_eq!(takes_optional_value("max_lines", "echo"), Some(false));
        assert_eq!(takes_optional_value("eof", "EOF"), Some(true));
        assert_eq!(takes_optional_value("eof", "echo"), Some(true));
        assert_eq!(takes_optional_value("eof", "-k"), Some(false));
        assert_eq!(takes_optional_value("jobs", "2"), None);
    }

    #[test]
    fn values_resolve() {
        let flags = XargsFlags {
            max_lines: Some("0".into()),
            eof: Some(String::new()),
            max_chars: Some("2k".into()),
            ..XargsFlags::default()
        };
        let x = flags.resolve(false).unwrap();
        assert_eq!((x.max_lines, x.eof, x.max_chars), (Some(1), None, Some(2000)));
        let bad = XargsFlags {
            max_chars: Some("abc".into()),
            ..XargsFlags::default()
        };
        assert_eq!(bad.resolve(false).unwrap_err(), "-s must be a number, not \"abc\"");
        let zero = XargsFlags {
            max_chars: Some("0".into()),
            max_lines_l: Some("0".into()),
            ..XargsFlags::default()
        };
        let x = zero.resolve(false).unwrap();
        assert_eq!(
            (x.max_chars, x.max_lines),
            (None, Some(0)),
            "-L 0: read one line, use none"
        );
    }
}
