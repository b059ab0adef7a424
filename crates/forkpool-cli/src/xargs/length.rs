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
            warning!("Value for option -s should be < {MAX_LINE}.");
            MAX_LINE
        }
        None => MAX_LINE,
    }
}

/// How a command line is measured against the budget, as GNU parallel
/// measures it: pessimistically for what will quote it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Measure {
    /// `-q`: the words were quoted as a whole; they count unquoted, three
    /// times over.
    pub(crate) quote: bool,
    /// `--shellquote`, counted: three times over for each, then five.
    pub(crate) shellquote: u8,
}

impl Measure {
    /// The length of `line` against the budget.
    pub(crate) fn of(&self, line: &[u8]) -> usize {
        let mut len = if self.quote { unquoted_len(line) * 3 } else { line.len() };
        self.scale(&mut len);
        len
    }

    /// An estimated length (of the line unquoted) against the budget.
    pub(crate) fn of_len(&self, mut len: usize) -> usize {
        if self.quote {
            len = len.saturating_mul(3);
        }
        self.scale(&mut len);
        len
    }

    fn scale(&self, len: &mut usize) {
        if self.shellquote > 0 {
            for _ in 0..self.shellquote {
                *len = len.saturating_mul(3);
            }
            *len = len.saturating_mul(5);
        }
    }
}

/// The length of a line of single- or double-quoted words without the
/// quotes (the quoting [`crate::replace::push_quoted`] writes).
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
        let plain = Measure::default();
        let q = Measure {
            quote: true,
            shellquote: 0,
        };
        assert_eq!(plain.of(b"echo 'a b'"), 10);
        assert_eq!(q.of(b"echo 'a b'"), 24);
        assert_eq!(q.of(b"'echo '\"'\"'x'"), 3 * "echo 'x".len());
        let sq = Measure {
            quote: false,
            shellquote: 2,
        };
        assert_eq!(sq.of(b"echo"), 4 * 9 * 5);
        assert_eq!((plain.of_len(1), q.of_len(1), sq.of_len(1)), (1, 3, 45));
    }
}
