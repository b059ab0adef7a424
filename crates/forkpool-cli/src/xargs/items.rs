//! The per-line rules of reading an input source, in GNU parallel's
//! order: a line that is the end-of-file string (`-E`) ends the source;
//! a line ending in a blank continues on the next (`-L`, `-l`); a blank
//! line is skipped (`-r`). And, once per run, GNU parallel's warning when
//! the first three lines end in CR-NL.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::input::Source;

/// The rules that apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rules {
    /// `-E`: the line that ends the input.
    pub(crate) eof: Option<Vec<u8>>,
    /// `-r`: skip lines that are empty or only blanks.
    pub(crate) skip_blank: bool,
    /// `-L`/`-l`: a line ending in a blank goes on on the next line.
    pub(crate) continue_lines: bool,
    /// Warn when the first three lines end in CR-NL (items end in a
    /// newline, and no `-d` was given).
    pub(crate) check_crlf: bool,
}

impl Rules {
    /// Whether the rules change anything (otherwise the source is read as
    /// it is, at no cost).
    pub(crate) fn any(&self) -> bool {
        self.eof.is_some() || self.skip_blank || self.continue_lines || self.check_crlf
    }
}

/// A source read under the rules.
#[derive(Debug)]
pub(crate) struct Items {
    source: Source,
    rules: Rules,
    done: bool,
}

/// Perl's `\s`.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// CR-NL counting, shared by every source of the run as in GNU parallel:
/// the low bits count lines ending in CR, the high bits the others; the
/// top bit says the question is settled.
static CRLF: AtomicU8 = AtomicU8::new(0);
const SETTLED: u8 = 0x80;

fn note_line_ending(ends_in_cr: bool) {
    let mut state = CRLF.load(Ordering::Relaxed);
    loop {
        if state & SETTLED != 0 {
            return;
        }
        let (mut cr, mut nl) = (state & 0x7, (state >> 3) & 0x7);
        if ends_in_cr {
            cr += 1;
        } else {
            nl += 1;
        }
        let settled = cr == 3 || nl == 3;
        let next = cr | (nl << 3) | if settled { SETTLED } else { 0 };
        match CRLF.compare_exchange(state, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {
                if settled && nl == 0 {
                    warning!("The first three values end in CR-NL. Consider using -d \"\\r\\n\"");
                }
                return;
            }
            Err(now) => state = now,
        }
    }
}

impl Items {
    pub(crate) fn new(source: Source, rules: Rules) -> Items {
        Items {
            source,
            rules,
            done: false,
        }
    }

    /// Whether the next item can be read without waiting (as far as the
    /// source underneath knows).
    pub(crate) fn ready(&self) -> bool {
        self.done || self.source.ready()
    }

    /// The source read under the rules.
    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut prepend: Option<Vec<u8>> = None;
        loop {
            let Some(line) = self.source.next().transpose()? else {
                self.done = true;
                return Ok(prepend);
            };
            if self.rules.check_crlf {
                note_line_ending(line.last() == Some(&b'\r'));
            }
            if self.rules.eof.as_ref().is_some_and(|eof| *eof == line) {
                // The rest of this source is not read.
                self.done = true;
                return Ok(prepend);
            }
            let line = match prepend.take() {
                Some(mut start) => {
                    start.extend_from_slice(&line);
                    start
                }
                None => line,
            };
            if self.rules.skip_blank && line.iter().all(|&b| is_blank(b)) {
                continue;
            }
            if self.rules.continue_lines && line.last().is_some_and(|&b| is_blank(b)) {
                prepend = Some(line);
                continue;
            }
            return Ok(Some(line));
        }
    }
}

impl Iterator for Items {
    type Item = io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[&str], rules: Rules) -> Vec<String> {
        Items::new(Source::values(lines), rules)
            .map(|l| String::from_utf8(l.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn eof_string_ends_the_source() {
        let rules = Rules {
            eof: Some(b"EOF".to_vec()),
            ..Rules::default()
        };
        assert_eq!(read(&["a", "b", "EOF", "c"], rules.clone()), ["a", "b"]);
        assert_eq!(
            read(&["a", " EOF", "EOF "], rules),
            ["a", " EOF", "EOF "],
            "only the whole line"
        );
    }

    #[test]
    fn blank_lines_are_skipped_with_r() {
        let rules = Rules {
            skip_blank: true,
            ..Rules::default()
        };
        assert_eq!(read(&["a", "", "  \t", "b"], rules), ["a", "b"]);
    }

    #[test]
    fn a_trailing_blank_continues_the_line_with_l() {
        let rules = Rules {
            continue_lines: true,
            ..Rules::default()
        };
        assert_eq!(read(&["a b", "c ", "d", "e"], rules.clone()), ["a b", "c d", "e"]);
        assert_eq!(
            read(&["x ", "y "], rules.clone()),
            ["x y "],
            "the last one ends with the input"
        );
        let with_eof = Rules {
            eof: Some(b"E".to_vec()),
            ..rules
        };
        assert_eq!(
            read(&["x ", "E", "z"], with_eof),
            ["x "],
            "a continued line ends at the EOF string"
        );
    }
}
