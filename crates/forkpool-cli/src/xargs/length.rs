//! The command-line budget: GNU parallel's length limit, lowered by `-s`,
//! and how a command line is measured against it (`-q` counts three
//! times its unquoted length, as GNU parallel pessimistically does).

use crate::jobs::MAX_LINE;

/// The budget with `-s N` (`None`: GNU parallel's limit). A larger `-s`
/// than the limit gets GNU parallel's warning and the limit.
pub(crate) fn max_line(max_chars: Option<usize>) -> usize {
    match max_chars {
        Some(n) if n <= MAX_LINE => n,
        Some(_) => {
            tell!("Warning: Value for option -s should be < {MAX_LINE}.");
            MAX_LINE
        }
        None => MAX_LINE,
    }
}

/// A command line's length as measured against the budget. With `-q`
/// the words were quoted as a whole: GNU parallel counts the line without
/// that quoting, three times over.
pub(crate) fn measured(line: &[u8], quote: bool) -> usize {
    if quote { unquoted_len(line) * 3 } else { line.len() }
}

/// The length of a line of single- or double-quoted words without the
/// quotes (the quoting [`crate::template::push_quoted`] writes).
fn unquoted_len(line: &[u8]) -> usize {
    let mut len = 0;
    let mut quote: Option<u8> = None;
    for &b in line {
        match (quote, b) {
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), b) if b == q => quote = None,
            _ => len += 1,
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_lowers_the_budget_but_never_raises_it() {
        assert_eq!(max_line(None), MAX_LINE);
        assert_eq!(max_line(Some(20)), 20);
        assert_eq!(max_line(Some(MAX_LINE + 1)), MAX_LINE);
    }

    #[test]
    fn quoted_lines_count_three_times_their_words() {
        assert_eq!(measured(b"echo 'a b'", false), 10);
        assert_eq!(measured(b"echo 'a b'", true), 24);
        assert_eq!(measured(b"'echo '\"'\"'x'", true), 3 * "echo 'x".len());
    }
}
