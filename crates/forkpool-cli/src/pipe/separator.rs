//! Where one record ends and the next starts: GNU parallel's `--recend`
//! and `--recstart`, as fixed strings (found with `memchr`'s `memmem`) or,
//! with `--regexp`, as regular expressions.
//!
//! A *cut* is a position between two records: `--recend` ends right before
//! it and `--recstart` starts right at it. Blocks are cut there and only
//! there, so every block holds whole records.

use memchr::memmem;
use regex::bytes::Regex;

/// The record separator, ready to search with.
#[derive(Debug, Clone)]
pub(crate) struct Separator {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Fixed {
        recstart: Vec<u8>,
        recend: Vec<u8>,
        /// `recend` followed by `recstart`: what a cut looks like.
        both: Vec<u8>,
    },
    Regex(Box<Patterns>),
}

/// The regular expressions of `--regexp`, in the flavours GNU parallel
/// applies them: `--pipe` matches with Perl's `/m` (`^` and `$` at every
/// line), `--pipepart` with `/s` (`.` matches a newline too).
#[derive(Debug, Clone)]
struct Patterns {
    /// `R (?P<fpcut>) S`, multi-line: cuts in a `--pipe` block.
    stream: Regex,
    /// The same with `.` matching newlines: cuts for `--pipepart`.
    part: Regex,
    /// `--rrs`: every `R S`, a leading `S`, a trailing `R`.
    every: Regex,
    leading: Regex,
    trailing: Regex,
}

/// The name of the empty group that marks the cut between `R` and `S`.
const CUT: &str = "fpcut";

/// A `--recstart`/`--recend` regular expression that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern {
    /// `--recstart` or `--recend`.
    pub(crate) option: &'static str,
    pub(crate) pattern: String,
    pub(crate) reason: String,
}

impl Separator {
    /// The separator GNU parallel makes of the options: by default records
    /// end with a newline; `--recstart` alone means records only start with
    /// it, `--recend` alone that they only end with it; both must match
    /// when both are given.
    pub(crate) fn new(recstart: Option<&str>, recend: Option<&str>, regexp: bool) -> Result<Separator, BadPattern> {
        let (start, end) = match (recstart, recend) {
            (None, None) => ("", "\n"),
            (Some(s), None) => (s, ""),
            (None, Some(e)) if regexp && e.is_empty() => ("", "(?s:.)"),
            (None, Some(e)) => ("", e),
            (Some(s), Some(e)) => (s, e),
        };
        if !regexp {
            let recstart = unescape(start);
            let recend = unescape(end);
            let both = [recend.as_slice(), recstart.as_slice()].concat();
            return Ok(Separator {
                kind: Kind::Fixed { recstart, recend, both },
            });
        }
        let start_re = regex_text(start);
        let end_re = regex_text(end);
        // Each part compiles on its own first, so that an error names the
        // option at fault.
        for (option, pattern, text) in [("--recstart", start, &start_re), ("--recend", end, &end_re)] {
            Regex::new(text).map_err(|e| BadPattern {
                option,
                pattern: pattern.to_owned(),
                reason: crate::config::regex_reason(&e),
            })?;
        }
        let compile = |text: String| {
            Regex::new(&text).map_err(|e| BadPattern {
                option: "--recstart",
                pattern: start.to_owned(),
                reason: crate::config::regex_reason(&e),
            })
        };
        let patterns = Patterns {
            stream: compile(format!("(?m:(?:{end_re})(?P<{CUT}>)(?:{start_re}))"))?,
            part: compile(format!("(?s:(?:{end_re})(?P<{CUT}>)(?:{start_re}))"))?,
            every: compile(format!("(?m:(?:{end_re})(?:{start_re}))"))?,
            leading: compile(format!("(?s:\\A(?:{start_re}))"))?,
            trailing: compile(format!("(?s:(?:{end_re})(?P<{CUT}>\\n?)\\z)"))?,
        };
        Ok(Separator {
            kind: Kind::Regex(Box::new(patterns)),
        })
    }

    /// Whether records may end anywhere (both strings empty): blocks are
    /// then cut at their exact size.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(&self.kind, Kind::Fixed { both, .. } if both.is_empty())
    }

    /// Whether this is `--regexp`.
    pub(crate) fn is_regex(&self) -> bool {
        matches!(self.kind, Kind::Regex(_))
    }

    /// The longest a fixed separator is (0 for a regex): how far a search
    /// in pieces must overlap them.
    pub(crate) fn fixed_len(&self) -> usize {
        match &self.kind {
            Kind::Fixed { both, .. } => both.len(),
            Kind::Regex(_) => 0,
        }
    }

    /// The last cut in `buf` after its start, where `--pipe` ends a block
    /// (GNU's `rindex` of `recend.recstart`, or the greedy `^(.*R)S`).
    pub(crate) fn last_cut(&self, buf: &[u8]) -> Option<usize> {
        self.last_cut_in_piece(buf).filter(|&c| c > 0)
    }

    /// The last cut in `buf`, a piece of a longer window read on its own,
    /// where a cut at the piece's very start counts too (with `--recstart`
    /// alone a record starts right there): whether that is the window's
    /// start, where a cut is no cut, only the caller knows.
    pub(crate) fn last_cut_in_piece(&self, buf: &[u8]) -> Option<usize> {
        match &self.kind {
            Kind::Fixed { recend, both, .. } => memmem::rfind(buf, both).map(|i| i + recend.len()),
            Kind::Regex(p) => regex_cuts(&p.stream, buf, 0).last(),
        }
    }

    /// The cut after `n` records (`-N n`), if `buf` holds that many whole
    /// ones. As in GNU parallel, a separator at the very start of `buf`
    /// does not end a record.
    pub(crate) fn nth_cut(&self, buf: &[u8], n: usize) -> Option<usize> {
        match &self.kind {
            Kind::Fixed { recend, both, .. } => {
                if both.is_empty() {
                    return (n <= buf.len()).then_some(n).filter(|&c| c > 0);
                }
                let finder = memmem::Finder::new(both);
                let mut at = 0;
                for _ in 0..n {
                    at += 1;
                    at += finder.find(buf.get(at..)?)?;
                }
                Some(at + recend.len())
            }
            Kind::Regex(p) => regex_cuts(&p.stream, buf, 0).filter(|&c| c > 0).nth(n.checked_sub(1)?),
        }
    }

    /// With `--regexp`: whether `buf` does not start a record, so that what
    /// comes before the first cut is a record of its own (GNU's garbage).
    pub(crate) fn first_cut_if_garbage(&self, buf: &[u8]) -> Option<usize> {
        let Kind::Regex(p) = &self.kind else { return None };
        if p.leading.is_match(buf) {
            return None;
        }
        regex_cuts(&p.stream, buf, 0).find(|&c| c > 0)
    }

    /// Where `--pipepart` ends a part whose nominal end is at the start of
    /// `buf` (what the file holds from there): the first separator, or with
    /// `--regexp` the last cut in `buf` (GNU's greedy `^(.*R)S`).
    pub(crate) fn part_cut(&self, buf: &[u8]) -> Option<usize> {
        match &self.kind {
            Kind::Fixed { recend, both, .. } => memmem::find(buf, both).map(|i| i + recend.len()),
            Kind::Regex(p) => regex_cuts(&p.part, buf, 0).last(),
        }
    }

    /// `--rrs`: the block without its separators, as GNU parallel removes
    /// them: every `recend recstart`, then a leading `recstart` and a
    /// trailing `recend`.
    pub(crate) fn remove(&self, block: &[u8]) -> Vec<u8> {
        match &self.kind {
            Kind::Fixed { recstart, recend, both } => {
                let mut out = Vec::with_capacity(block.len());
                if both.is_empty() {
                    out.extend_from_slice(block);
                } else {
                    let mut last = 0;
                    for i in memmem::find_iter(block, both) {
                        out.extend_from_slice(&block[last..i]);
                        last = i + both.len();
                    }
                    out.extend_from_slice(&block[last..]);
                }
                if !recstart.is_empty() && out.starts_with(recstart) {
                    out.drain(..recstart.len());
                }
                if !recend.is_empty() {
                    // Perl's `$` also matches before a final newline.
                    if out.ends_with(recend) {
                        out.truncate(out.len() - recend.len());
                    } else if out.ends_with(b"\n") && out[..out.len() - 1].ends_with(recend) {
                        let at = out.len() - 1 - recend.len();
                        out.drain(at..out.len() - 1);
                    }
                }
                out
            }
            Kind::Regex(p) => {
                let mut out = p.every.replace_all(block, &b""[..]).into_owned();
                if let Some(m) = p.leading.find(&out) {
                    out.drain(..m.end());
                }
                if let Some(caps) = p.trailing.captures(&out)
                    && let (Some(all), Some(newline)) = (caps.get(0), caps.name(CUT))
                {
                    let (from, to) = (all.start(), newline.start());
                    out.drain(from..to);
                }
                out
            }
        }
    }
}

/// Every cut `re` finds in `buf` from `from`, in increasing order.
fn regex_cuts<'a>(re: &'a Regex, buf: &'a [u8], from: usize) -> impl Iterator<Item = usize> + 'a {
    let mut at = from;
    let mut last: Option<usize> = None;
    std::iter::from_fn(move || {
        while at <= buf.len() {
            let caps = re.captures_at(buf, at)?;
            let whole = caps.get(0)?;
            let cut = caps.name(CUT)?.start();
            // Always move on, even past a match of nothing.
            at = cut.max(whole.start() + 1);
            if last.is_none_or(|l| cut > l) {
                last = Some(cut);
                return Some(cut);
            }
        }
        None
    })
}

/// GNU parallel's escapes in `--recstart`/`--recend`: `\0 \r \n \t \' \" \\`;
/// any other backslash stays as it is.
pub(crate) fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'0')) => Some(0),
            (b'\\', Some(b'r')) => Some(b'\r'),
            (b'\\', Some(b'n')) => Some(b'\n'),
            (b'\\', Some(b't')) => Some(b'\t'),
            (b'\\', Some(&c @ (b'\'' | b'"' | b'\\'))) => Some(c),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 2;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// A Perl-style pattern for the `regex` crate: `\0` (NUL in Perl) is not
/// octal there, so it is written `\x00`.
fn regex_text(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('0') => out.push_str("\\x00"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(start: Option<&str>, end: Option<&str>) -> Separator {
        Separator::new(start, end, false).unwrap()
    }

    fn regex(start: Option<&str>, end: Option<&str>) -> Separator {
        Separator::new(start, end, true).unwrap()
    }

    #[test]
    fn lines_by_default() {
        let s = fixed(None, None);
        assert_eq!(s.last_cut(b"1\n2\n3"), Some(4));
        assert_eq!(s.last_cut(b"123"), None);
        assert_eq!(s.nth_cut(b"1\n2\n3\n", 2), Some(4));
        assert_eq!(s.nth_cut(b"1\n2", 2), None);
        // A newline at the very start ends no record for -N.
        assert_eq!(s.nth_cut(b"\n1\n", 1), Some(3));
        assert_eq!(s.part_cut(b"5\n6\n"), Some(2));
    }

    #[test]
    fn recstart_alone_and_both() {
        let s = fixed(Some(">"), None);
        assert_eq!(s.last_cut(b">a\n>b\n"), Some(3));
        assert_eq!(s.last_cut(b">a\n"), None, "a cut at 0 is no cut");
        assert_eq!(s.last_cut_in_piece(b">a\n"), Some(0), "but may be in a piece");
        assert_eq!(s.nth_cut(b">a\n>b\n>c", 1), Some(3));
        let both = fixed(Some(">"), Some("\\n"));
        assert_eq!(both.last_cut(b">a\n>b\nx>y"), Some(3));
    }

    #[test]
    fn escapes_are_gnus() {
        assert_eq!(unescape(r"a\tb\0\n\\\x"), b"a\tb\0\n\\\\x");
        assert_eq!(fixed(None, Some(r"\0")).last_cut(b"a\0b\0c"), Some(4));
    }

    #[test]
    fn regular_expressions() {
        let s = regex(None, Some("[0-9]+"));
        assert_eq!(s.last_cut(b"a1b2"), Some(4));
        assert_eq!(s.nth_cut(b"a1b22c333d", 1), Some(2));
        assert_eq!(s.nth_cut(b"a1b22c333d", 2), Some(5));
        let s = regex(Some("^>"), None);
        assert_eq!(s.last_cut(b">a\n>b\nc>d\n"), Some(3), "^ is at every line");
        assert_eq!(s.first_cut_if_garbage(b"junk\n>a\n"), Some(5));
        assert_eq!(s.first_cut_if_garbage(b">a\n>b\n"), None);
        assert!(Separator::new(Some("("), None, true).is_err());
        let err = Separator::new(None, Some("[z-a]"), true).unwrap_err();
        assert_eq!(err.option, "--recend");
    }

    #[test]
    fn removing_separators_as_gnu_parallel() {
        assert_eq!(fixed(None, None).remove(b"1\n2\n3\n"), b"123");
        assert_eq!(fixed(Some(">"), None).remove(b">a\nAA\n"), b"a\nAA\n");
        assert_eq!(fixed(None, Some(";")).remove(b"a;b;"), b"ab");
        assert_eq!(fixed(None, Some(";")).remove(b"a;b;\n"), b"ab\n");
        assert_eq!(regex(None, Some("[0-9]+")).remove(b"a1"), b"a");
        assert_eq!(regex(Some(">"), Some("\\n")).remove(b">a\n>b\n"), b"ab");
    }
}
