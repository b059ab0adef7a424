//! Quoting for the shell, as GNU parallel quotes (`Q()` in its source),
//! and `--shellquote`, which prints a job's command line quoted instead of
//! running it.

use crate::replace::push_quoted;

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ShellquoteFlags {
    /// Do not run the commands: print them quoted for the shell (once per --shellquote given).
    #[arg(
        long = "shellquote",
        visible_aliases = ["shell-quote", "shell_quote"],
        action = clap::ArgAction::Count,
        help_heading = "Control"
    )]
    pub(crate) shellquote: u8,
}

/// What `--shellquote` makes of a command line: the line quoted `times`
/// times, as a job prints it.
pub(crate) fn quoted_line(line: &[u8], times: u8) -> Vec<u8> {
    let mut out = line.to_vec();
    for _ in 0..times {
        out = quote(&out);
    }
    out.push(b'\n');
    out
}

/// The command GNU parallel runs for `--shellquote` (and shows with `-t`):
/// forkpool prints the same line without running it.
pub(crate) fn gnu_wrapper(line: &[u8], times: u8) -> Vec<u8> {
    let mut quoted = line.to_vec();
    for _ in 0..times {
        quoted = quote(&quoted);
    }
    let mut out = b"perl -e '$,=\" \"; print \"@ARGV\\n\";' -- ".to_vec();
    out.extend_from_slice(&quote(&quoted));
    out
}

/// `value` quoted for the shell: as is when it only has
/// `[-_.+a-zA-Z0-9/]`, `''` when empty, else in single quotes.
pub(crate) fn quote(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    push_quoted(&mut out, value);
    out
}

/// [`quote`] as text (for messages and scripts we build).
pub(crate) fn quote_str(value: &str) -> String {
    String::from_utf8_lossy(&quote(value.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_gnu_parallel() {
        assert_eq!(quote_str("abc/d-e_f.g+h"), "abc/d-e_f.g+h");
        assert_eq!(quote_str(""), "''");
        assert_eq!(quote_str("a b"), "'a b'");
        assert_eq!(quote_str("x y"), "'x y'");
        assert_eq!(quote_str("'x y'"), "\"'\"'x y'\"'\"");
        assert_eq!(quote_str("c$d"), "'c$d'");
    }

    #[test]
    fn shellquote_quotes_once_per_flag() {
        assert_eq!(
            quoted_line(b"echo 'a b' 'x y'", 1),
            b"'echo '\"'\"'a b'\"'\"' '\"'\"'x y'\"'\"\n"
        );
        assert_eq!(quoted_line(b"x y", 2), b"\"'\"'x y'\"'\"\n");
        assert_eq!(
            gnu_wrapper(b"echo a", 1),
            b"perl -e '$,=\" \"; print \"@ARGV\\n\";' -- \"'\"'echo a'\"'\"".to_vec()
        );
    }
}
