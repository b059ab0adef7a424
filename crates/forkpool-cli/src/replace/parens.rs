//! `{= perl =}`: the parentheses of a perl expression (`--parens`), and
//! where GNU parallel finds them in a text.

use super::rpl::{CLOSE, OPEN, find, rfind};

/// The default parentheses (`--parens '{==}'`).
const DEFAULT_LEFT: &[u8] = b"{=";
const DEFAULT_RIGHT: &[u8] = b"=}";

/// The left and the right parenthesis.
#[derive(Debug, Clone)]
pub(crate) struct Parens {
    pub(crate) left: Vec<u8>,
    pub(crate) right: Vec<u8>,
}

impl Parens {
    /// `--parens`'s value split (the default without one), or what is
    /// wrong with it.
    pub(crate) fn new(parens: Option<&[u8]>) -> Result<Parens, String> {
        let parens = parens.unwrap_or(b"{==}");
        // GNU's `substr($parens, 0, 0.5*length $parens)`: the first half,
        // rounded down, is the left parenthesis, the rest the right one
        // (`,`: none and `,`; `abc`: `a` and `bc`). An empty one hangs
        // GNU parallel 20221122.
        if parens.is_empty() {
            return Err(
                "--parens '' has no parentheses: the first half of its value is the left one, the rest the right one"
                    .to_owned(),
            );
        }
        let half = parens.len() / 2;
        Ok(Parens {
            left: parens[..half].to_vec(),
            right: parens[half..].to_vec(),
        })
    }

    /// Joins command words so that a `{= ... =}` split over several words
    /// is one (GNU parallel's `merge_rpl_parts`).
    pub(crate) fn merge_words(&self, words: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut words = words.iter();
        while let Some(word) = words.next() {
            let mut merged = word.clone();
            if self.opens_unclosed(&merged) {
                for next in words.by_ref() {
                    merged.push(b' ');
                    merged.extend_from_slice(next);
                    if !self.opens_unclosed(&merged) {
                        break;
                    }
                }
            }
            out.push(merged);
        }
        out
    }

    /// Whether `text` has a left parenthesis left open after removing the
    /// closed pairs (GNU parallel's `s/(.*)$l.*?$r/$1/s` until none is
    /// left: a pair may span lines).
    fn opens_unclosed(&self, text: &[u8]) -> bool {
        // No left parenthesis (`--parens ,`): nothing opens.
        if self.left.is_empty() {
            return false;
        }
        let mut rest = text.to_vec();
        // Perl's greedy `(.*)` takes the last `{=` that has a `=}` after
        // it (not always the last `{=`: with `--parens aa` the last `a`
        // may be the right one of a pair); `.*?` the first `=}` after it.
        // Remove them until no such pair is left.
        loop {
            let pair = rfind(&rest, &self.right).and_then(|last_right| {
                let l = rfind(&rest[..last_right], &self.left)?;
                let after = l + self.left.len();
                let r = find(&rest[after..], &self.right)?;
                Some((l, after + r + self.right.len()))
            });
            match pair {
                Some((start, end)) => {
                    rest.drain(start..end);
                }
                None => return find(&rest, &self.left).is_some(),
            }
        }
    }

    /// `{= code =}` → marker, innermost first (see [`Parens::spans`]).
    pub(crate) fn mark(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        for span in self.spans(text) {
            out.extend_from_slice(&text[at..span.start]);
            out.extend_from_slice(OPEN);
            out.extend_from_slice(&text[span.start + self.left.len()..span.end - self.right.len()]);
            out.extend_from_slice(CLOSE);
            at = span.end;
        }
        out.extend_from_slice(&text[at..]);
        out
    }

    /// The `{= =}` in the user's `text`, as `Table::expand` finds them:
    /// each as typed, parentheses and all, after what it holds.
    pub(crate) fn typed<'t>(&self, text: &'t [u8]) -> Vec<(&'t [u8], &'t [u8])> {
        self.spans(text)
            .map(|span| {
                let held = &text[span.start + self.left.len()..span.end - self.right.len()];
                (held, &text[span])
            })
            .collect()
    }

    /// Where `{= =}` are in `text`, parentheses and all: a left
    /// parenthesis whose right one comes before any other parenthesis.
    fn spans<'t>(&'t self, text: &'t [u8]) -> impl Iterator<Item = std::ops::Range<usize>> + 't {
        let (l, r) = (&self.left, &self.right);
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < text.len() {
                let from = i;
                if text[i..].starts_with(l) {
                    let mut q = i + l.len();
                    while q < text.len() {
                        if text[q..].starts_with(r) {
                            i = q + r.len();
                            return Some(from..i);
                        }
                        if text[q..].starts_with(l) {
                            break;
                        }
                        q += 1;
                    }
                }
                i += 1;
            }
            None
        })
    }

    /// Whether `text` opens a `{=` it never closes (after expansion, a left
    /// parenthesis outside every marker): where, if so.
    ///
    /// Only the default parentheses are checked: `{= perl` left open is
    /// almost always a mistake. GNU parallel runs any left parenthesis it
    /// cannot match as text, and a `--parens` one is often text the user
    /// meant (`--parens '<>' 'wc -l < {}'`), so it is text here too.
    pub(crate) fn unclosed(&self, expanded: &[u8]) -> Option<usize> {
        if self.left != DEFAULT_LEFT || self.right != DEFAULT_RIGHT {
            return None;
        }
        let mut i = 0;
        while i < expanded.len() {
            if expanded[i..].starts_with(OPEN) {
                match find(&expanded[i..], CLOSE) {
                    Some(end) => i += end + CLOSE.len(),
                    None => return None,
                }
                continue;
            }
            if expanded[i..].starts_with(&self.left) {
                return Some(i);
            }
            i += 1;
        }
        None
    }
}
