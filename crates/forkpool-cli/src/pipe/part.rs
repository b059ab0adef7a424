//! Cutting a seekable file into parts by position, reading only around
//! the cuts: `--pipepart`, and `--pipe` when standard input is a regular
//! file. A job then gets its part straight from the file (see `deliver`),
//! so the parent never reads the data itself, and the parts are read in
//! parallel.
//!
//! The two options cut differently, as in GNU parallel, and each keeps
//! GNU's cuts exactly:
//! - `--pipepart` ([`Parts`]): every `--block` bytes it looks for the
//!   *first* cut from there on, so parts are at least a block long;
//! - `--pipe` ([`Windows`]): from each part's start it looks for the
//!   *last* cut within a block, so parts are at most a block long (the
//!   block grows, with a warning, for a longer record).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::header::HeaderRule;
use super::separator::Separator;
use super::settings::MAX_BLOCK;

/// How much `--pipepart` reads at a time looking for a cut (GNU's `dd`
/// size).
const PROBE: usize = 128 * 1024;

/// The first read looking for a fixed separator: most records end within
/// a page, and every part's search costs the job source a read this big
/// (26 of them for 250 MB in 10 MB parts).
const FIRST_PROBE: usize = 4096;

/// Bytes `start..end` of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// Reads up to `len` bytes at `offset` (fewer only at the end of the file).
pub(crate) fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// `--skip-first-line`: where `file`'s first line ends, after its `\n`
/// (GNU reads up to a newline whatever the record separator), or `size`.
pub(crate) fn first_line_end(file: &File, size: u64) -> io::Result<u64> {
    let mut at = 0;
    while at < size {
        let chunk = read_at(file, at, FIRST_PROBE)?;
        if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        if chunk.is_empty() {
            break;
        }
        at += chunk.len() as u64;
    }
    Ok(at.min(size))
}

/// The header at `offset`, read as the stream's is (see
/// [`super::cutter::header_step`]).
pub(crate) fn header_at(file: &File, offset: u64, size: u64, block: u64, rule: &HeaderRule) -> io::Result<Vec<u8>> {
    let block = usize::try_from(block.clamp(1, MAX_BLOCK)).unwrap_or(usize::MAX);
    let available = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
    let mut buf = Vec::new();
    loop {
        let target = super::cutter::header_step(buf.len(), block).min(available);
        let more = read_at(file, offset + buf.len() as u64, target - buf.len())?;
        let end = more.is_empty();
        buf.extend_from_slice(&more);
        if let Some(h) = rule.find(&buf) {
            buf.truncate(h);
            return Ok(buf);
        }
        if end || buf.len() >= available || buf.len() >= super::cutter::HEADER_SEARCH {
            return Ok(Vec::new());
        }
    }
}

/// `--pipepart`'s parts of one file.
#[derive(Debug)]
pub(crate) struct Parts {
    file: Arc<File>,
    size: u64,
    block: u64,
    separator: Separator,
    /// Where the next part starts.
    start: u64,
    /// GNU's nominal position: where to look for the next cut from.
    nominal: u64,
    /// `--group-by`: the parts' boundaries, found beforehand.
    fixed: Option<std::collections::VecDeque<u64>>,
}

impl Parts {
    /// The parts of `file` after `skip` bytes (its header).
    pub(crate) fn new(file: Arc<File>, size: u64, skip: u64, block: u64, separator: Separator) -> Parts {
        let block = block.max(1);
        Parts {
            file,
            size,
            block,
            separator,
            start: skip,
            nominal: skip.saturating_add(block),
            fixed: None,
        }
    }

    /// The parts between `positions` (`--group-by`'s, see `group_by`).
    pub(crate) fn at_positions(file: Arc<File>, positions: Vec<u64>, separator: Separator) -> Parts {
        let size = positions.last().copied().unwrap_or(0);
        Parts {
            fixed: Some(positions.into()),
            ..Parts::new(file, size, 0, 1, separator)
        }
    }

    /// The next part.
    pub(crate) fn next_part(&mut self) -> io::Result<Option<Range>> {
        if let Some(fixed) = &mut self.fixed {
            while let Some(start) = fixed.pop_front() {
                if let Some(&end) = fixed.front()
                    && end > start
                {
                    return Ok(Some(Range { start, end }));
                }
            }
            return Ok(None);
        }
        while self.nominal < self.size {
            let at = self.nominal;
            let cut = self.cut_from(at)?;
            // No cut from here to the end means none from further on
            // either: GNU would look again a block later, in vain.
            self.nominal = cut.map_or(self.size, |c| c.saturating_add(self.block));
            if let Some(cut) = cut
                && cut > self.start
            {
                let part = Range {
                    start: self.start,
                    end: cut,
                };
                self.start = cut;
                return Ok(Some(part));
            }
        }
        if self.start < self.size {
            let part = Range {
                start: self.start,
                end: self.size,
            };
            self.start = self.size;
            return Ok(Some(part));
        }
        Ok(None)
    }

    /// The cut GNU parallel finds from `at`: it reads on in pieces until
    /// one turns up, or the file ends. A fixed separator is searched piece
    /// by piece (overlapping by its length); a regex is matched, as GNU
    /// does, against what was read so far (here: the last two pieces), and
    /// its last cut there taken.
    fn cut_from(&self, at: u64) -> io::Result<Option<u64>> {
        if self.separator.is_empty() {
            return Ok(Some(at));
        }
        let overlap = self.separator.fixed_len().saturating_sub(1);
        let regex = self.separator.is_regex();
        // A regex's cut depends on the pieces (GNU's), so they are GNU's
        // size. A fixed separator's first cut does not: the first piece is
        // small, since a record usually ends within it, and each next one
        // twice as big, up to GNU's size.
        let full = PROBE.max(2 * overlap + 2);
        let mut probe = if regex {
            full
        } else {
            FIRST_PROBE.max(2 * overlap + 2).min(full)
        };
        let mut offset = at;
        let mut carried: Vec<u8> = Vec::new();
        loop {
            let piece = read_at(&self.file, offset, probe)?;
            let last = piece.len() < probe;
            if regex {
                let base = offset - carried.len() as u64;
                carried.extend_from_slice(&piece);
                if let Some(cut) = self.separator.part_cut(&carried) {
                    return Ok(Some(base + cut as u64));
                }
                let keep = carried.len().min(probe);
                carried.drain(..carried.len() - keep);
            } else if let Some(cut) = self.separator.part_cut(&piece) {
                return Ok(Some(offset + cut as u64));
            }
            if last {
                return Ok(None);
            }
            offset += if regex { piece.len() } else { piece.len() - overlap } as u64;
            probe = (probe * 2).min(full);
        }
    }
}

/// `--pipe`'s blocks of a regular file on standard input, by position.
#[derive(Debug)]
pub(crate) struct Windows {
    file: Arc<File>,
    size: u64,
    block: u64,
    separator: Separator,
    start: u64,
}

impl Windows {
    pub(crate) fn new(file: Arc<File>, size: u64, start: u64, block: u64, separator: Separator) -> Windows {
        Windows {
            file,
            size,
            block: block.clamp(1, MAX_BLOCK),
            separator,
            start,
        }
    }

    /// Where the file ends (standard input is left positioned there).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The next block.
    pub(crate) fn next_part(&mut self) -> io::Result<Option<Range>> {
        loop {
            if self.start >= self.size {
                return Ok(None);
            }
            let end = self.start.saturating_add(self.block);
            if end > self.size {
                // The input ends within the window: the rest is one block.
                let part = Range {
                    start: self.start,
                    end: self.size,
                };
                self.start = self.size;
                return Ok(Some(part));
            }
            if let Some(cut) = self.last_cut(self.start, end)? {
                let part = Range {
                    start: self.start,
                    end: cut,
                };
                self.start = cut;
                return Ok(Some(part));
            }
            if self.block >= MAX_BLOCK {
                // GNU stops growing here, and so passes the window whole.
                let part = Range { start: self.start, end };
                self.start = end;
                return Ok(Some(part));
            }
            self.block = grow_block(self.block);
        }
    }

    fn last_cut(&self, from: u64, to: u64) -> io::Result<Option<u64>> {
        last_cut_in(&self.file, &self.separator, from, to)
    }
}

/// The last cut in bytes `from..to` of `file`, after `from`: read backwards
/// in pieces, so that a block's cut costs a page or two of reading.
pub(crate) fn last_cut_in(file: &File, separator: &Separator, from: u64, to: u64) -> io::Result<Option<u64>> {
    if separator.is_regex() {
        // Only the plain cases come here (see `source`); be right anyway.
        let buf = read_at(file, from, (to - from) as usize)?;
        return Ok(separator.last_cut(&buf).map(|c| from + c as u64));
    }
    let overlap = separator.fixed_len().saturating_sub(1) as u64;
    let mut hi = to;
    let mut piece_len = 64 * 1024u64;
    loop {
        let lo = hi.saturating_sub(piece_len).max(from);
        let buf = read_at(file, lo, (hi - lo) as usize)?;
        // A cut right at `lo` counts when `lo` is past `from`.
        if let Some(cut) = separator.last_cut_in_piece(&buf) {
            let cut = lo + cut as u64;
            if cut > from {
                return Ok(Some(cut));
            }
        }
        if lo == from {
            return Ok(None);
        }
        hi = (lo + overlap).min(hi);
        piece_len = (piece_len * 2).min(8 << 20);
    }
}

/// The block size after a window without a cut: 30% more, as GNU parallel
/// grows it, with its warning (at most [`MAX_BLOCK`]).
pub(crate) fn grow_block(old: u64) -> u64 {
    if old >= MAX_BLOCK {
        return old;
    }
    let new = ((old as f64 * 1.3 + 1.0).ceil() as u64).min(MAX_BLOCK);
    warning!("A record was longer than {old}. Increasing to --blocksize {new}.");
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> (tempfile::NamedTempFile, Arc<File>, u64) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, content.as_bytes()).unwrap();
        let opened = Arc::new(File::open(f.path()).unwrap());
        (f, opened, content.len() as u64)
    }

    fn lines() -> Separator {
        Separator::new(None, None, false).unwrap()
    }

    fn seq(n: usize) -> String {
        (1..=n).map(|i| format!("{i}\n")).collect()
    }

    fn texts(content: &str, next: impl FnMut() -> Option<Range>) -> Vec<String> {
        std::iter::from_fn(next)
            .map(|r| content[r.start as usize..r.end as usize].to_owned())
            .collect()
    }

    #[test]
    fn pipepart_cuts_at_the_first_record_end_after_each_block() {
        let content = seq(10);
        let (_f, opened, size) = file(&content);
        let mut parts = Parts::new(opened, size, 0, 5, lines());
        // What `parallel --pipepart --block 5` makes of `seq 10`.
        assert_eq!(
            texts(&content, || parts.next_part().unwrap()),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]
        );
    }

    #[test]
    fn pipepart_with_one_byte_blocks_makes_one_record_each() {
        let content = seq(3);
        let (_f, opened, size) = file(&content);
        let mut parts = Parts::new(opened, size, 0, 1, lines());
        assert_eq!(texts(&content, || parts.next_part().unwrap()), ["1\n", "2\n", "3\n"]);
    }

    #[test]
    fn a_long_record_is_searched_in_pieces() {
        let content = format!("a\n{}\nb\n", "x".repeat(3 * PROBE + 7));
        let (_f, opened, size) = file(&content);
        let sep = Separator::new(None, Some("\\n\\n"), false).unwrap();
        let mut parts = Parts::new(opened, size, 0, 1, sep);
        assert_eq!(parts.next_part().unwrap(), Some(Range { start: 0, end: size }));
        let content = format!("a\n{}\n\nb\n", "x".repeat(3 * PROBE + 7));
        let (_f, opened, size) = file(&content);
        let sep = Separator::new(None, Some("\\n\\n"), false).unwrap();
        let mut parts = Parts::new(opened, size, 0, 1, sep);
        let first = parts.next_part().unwrap().unwrap();
        assert_eq!(first.end, size - 2);
    }

    #[test]
    fn a_separator_across_the_growing_pieces_is_found() {
        // The pieces start at FIRST_PROBE and double: a separator split
        // by any of their ends is still the first cut.
        let ends = [FIRST_PROBE - 1, 3 * FIRST_PROBE - 2, 7 * FIRST_PROBE - 3, PROBE + 5];
        for end in ends {
            for at in end - 2..end + 2 {
                let content = format!("{}\n\n{}", "x".repeat(at), "y".repeat(PROBE));
                let (_f, opened, size) = file(&content);
                let sep = Separator::new(None, Some("\\n\\n"), false).unwrap();
                let mut parts = Parts::new(opened, size, 0, 1, sep);
                let first = parts.next_part().unwrap().unwrap();
                assert_eq!(first.end, at as u64 + 2, "separator at {at}");
            }
        }
    }

    #[test]
    fn pipe_windows_are_the_streams_blocks() {
        let content = seq(10);
        let (_f, opened, size) = file(&content);
        let mut windows = Windows::new(opened, size, 0, 6, lines());
        assert_eq!(
            texts(&content, || windows.next_part().unwrap()),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]
        );
        let long = format!("{}\n{}", "a".repeat(50), "b\n".repeat(100));
        let (_f, opened, size) = file(&long);
        let mut windows = Windows::new(opened, size, 0, 10, lines());
        let got = texts(&long, || windows.next_part().unwrap());
        assert_eq!(got.concat(), long);
        assert_eq!(got[1].len(), 66);
    }
}
