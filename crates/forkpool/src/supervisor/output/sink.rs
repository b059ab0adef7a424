//! Where one writer's bytes go once the supervisor knows whose they are:
//! tagged lines (`TaskOutput::Tagged`) or a bounded capture
//! (`TaskOutput::Capture`). Pure byte handling, no OS calls.

use std::collections::VecDeque;

use crate::output::ItemOutput;

/// A tagged line is cut into pieces of this many bytes (tag not counted)
/// when no newline comes, so that memory stays bounded.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Splits a byte stream into lines and writes each, whole, with a tag in
/// front. Bytes after the last newline wait for the rest of their line.
#[derive(Debug)]
pub(crate) struct Lines {
    tag: String,
    partial: Vec<u8>,
}

impl Lines {
    pub(crate) fn new(tag: String) -> Lines {
        Lines {
            tag,
            partial: Vec::new(),
        }
    }

    /// Appends to `out` every line `bytes` completes, tagged.
    pub(crate) fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.partial.len();
            let window = &bytes[..bytes.len().min(room + 1)];
            match window.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.emit(&window[..=end], out);
                    bytes = &bytes[end + 1..];
                }
                None if window.len() > room => {
                    // A line too long to hold: out it goes, cut.
                    self.emit(&window[..room], out);
                    bytes = &bytes[room..];
                }
                None => {
                    self.partial.extend_from_slice(window);
                    bytes = &[];
                }
            }
        }
    }

    /// Appends the unfinished last line, if any, with a newline.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            self.emit(&[], out);
        }
    }

    /// Writes the pending partial line followed by `rest` (which ends the
    /// line, or is cut short) as one tagged line.
    fn emit(&mut self, rest: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag.as_bytes());
        out.append(&mut self.partial);
        out.extend_from_slice(rest);
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        if self.partial.capacity() > MAX_LINE {
            self.partial = Vec::new();
        }
    }
}

/// Keeps the last `limit` bytes of a stream, counting what it drops.
#[derive(Debug)]
pub(crate) struct Tail {
    bytes: VecDeque<u8>,
    limit: usize,
    dropped: u64,
}

impl Tail {
    pub(crate) fn new(limit: usize) -> Tail {
        Tail {
            bytes: VecDeque::new(),
            limit,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let keep = &bytes[bytes.len().saturating_sub(self.limit)..];
        self.dropped += (bytes.len() - keep.len()) as u64;
        let overflow = (self.bytes.len() + keep.len()).saturating_sub(self.limit);
        self.bytes.drain(..overflow);
        self.dropped += overflow as u64;
        self.bytes.extend(keep);
    }

    /// The bytes kept, and how many were dropped.
    pub(crate) fn into_parts(self) -> (Vec<u8>, u64) {
        (self.bytes.into(), self.dropped)
    }
}

/// The captured stdout and stderr of one item.
pub(crate) fn item_output([stdout, stderr]: [Tail; 2]) -> ItemOutput {
    let (stdout, stdout_dropped) = stdout.into_parts();
    let (stderr, stderr_dropped) = stderr.into_parts();
    ItemOutput {
        stdout,
        stderr,
        stdout_dropped,
        stderr_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]]) -> String {
        let mut lines = Lines::new("[t] ".into());
        let mut out = Vec::new();
        for piece in pieces {
            lines.push(piece, &mut out);
        }
        lines.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_whole_and_tagged_however_the_bytes_arrive() {
        assert_eq!(lines(&[b"a\nb", b"c\n\nd"]), "[t] a\n[t] bc\n[t] \n[t] d\n");
        assert_eq!(lines(&[b"x", b"y", b"z\n"]), "[t] xyz\n");
        assert_eq!(lines(&[]), "");
        // Nothing leaves before its line is complete.
        let mut l = Lines::new("[t] ".into());
        let mut out = Vec::new();
        l.push(b"half", &mut out);
        assert!(out.is_empty());
        l.push(b" done\nnext", &mut out);
        assert_eq!(out, b"[t] half done\n");
    }

    #[test]
    fn a_line_without_end_is_cut_at_the_limit() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let text = lines(&[&long[..100], &long[100..], b"\n"]);
        let got: Vec<usize> = text.lines().map(|l| l.strip_prefix("[t] ").unwrap().len()).collect();
        assert_eq!(got, [MAX_LINE, MAX_LINE, 10]);
        // A line of exactly the limit is not cut.
        let exact = lines(&[&long[..MAX_LINE], b"\n"]);
        assert_eq!(exact.lines().count(), 1);
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_and_counts_the_rest() {
        let mut tail = Tail::new(5);
        tail.push(b"abc");
        tail.push(b"defg");
        assert_eq!(tail.into_parts(), (b"cdefg".to_vec(), 2));
        let mut tail = Tail::new(3);
        tail.push(b"0123456789");
        tail.push(b"");
        assert_eq!(tail.into_parts(), (b"789".to_vec(), 7));
        let mut none = Tail::new(0);
        none.push(b"ab");
        assert_eq!(none.into_parts(), (Vec::new(), 2));
    }
}
