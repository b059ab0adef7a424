//! `--group-by`: lines with the same key (a column and/or a perl
//! expression, see `key`) make one record, so blocks, and `-N` records,
//! are cut only where the key changes.
//!
//! `--pipe` does it GNU parallel's way, so that the blocks are GNU's byte
//! for byte: the input goes through [`Marked`], which writes a random
//! 20-character marker before every line whose key differs from the line
//! before (and before the first); the marker is the records' `--recstart`,
//! so the usual stream cutter makes the blocks (the markers count towards
//! `--block`, as in GNU) and `--rrs` takes the markers out again.
//!
//! `--pipepart` finds where the key changes around each block boundary
//! with a binary search over the file (GNU's
//! `split_positions_for_group_by`), reading a few lines per probe.

use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use super::in_flight::InFlight;
use super::key::{Keyer, Keys};
use crate::replace::EvalError;

/// The marker's length (GNU: 20 random letters and digits).
const MARKER_LEN: usize = 20;

/// How much of the input is read at a time.
const CHUNK: usize = 256 * 1024;

/// A fresh random marker.
pub(crate) fn marker() -> String {
    const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let state = RandomState::new();
    (0..MARKER_LEN)
        .map(|i| ALNUM[(state.hash_one(i) % ALNUM.len() as u64) as usize] as char)
        .collect()
}

/// The input with a marker before each group of lines.
///
/// With an expression the keys come from perl, pipelined ([`InFlight`]):
/// the lines of a read are sent to perl, and marked a read later, once
/// perl's answer is in, so perl computes a read's keys while the cutter
/// cuts and hands out the read before.
pub(crate) struct Marked<R> {
    input: R,
    keyer: Keyer,
    marks: Marks,
    /// Read, not yet looked at (a partial line).
    pending: Vec<u8>,
    /// Whole lines whose keys perl is computing.
    asked: InFlight,
    eof: bool,
}

/// The marked output, and what marking needs to know.
struct Marks {
    marker: Vec<u8>,
    /// The key of the last line (`None` before the first).
    last: Option<Vec<u8>>,
    out: Vec<u8>,
    at: usize,
}

impl Marks {
    /// Appends `lines` to the output, a marker before each whose key
    /// differs from the line before's.
    fn put(&mut self, lines: &[&[u8]], keys: &Keys<'_>) {
        for (i, line) in lines.iter().enumerate() {
            let key = keys.get(i);
            // GNU starts with the marker as the last key.
            let changed = match &self.last {
                None => key != self.marker.as_slice(),
                Some(last) => last.as_slice() != key,
            };
            if changed {
                self.out.extend_from_slice(&self.marker);
                self.last = Some(key.to_vec());
            }
            self.out.extend_from_slice(line);
        }
    }
}

fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

fn died(why: String) -> io::Error {
    io::Error::other(EvalError(why))
}

impl<R: Read> Marked<R> {
    pub(crate) fn new(input: R, keyer: Keyer, marker: &str) -> Marked<R> {
        Marked {
            input,
            keyer,
            marks: Marks {
                marker: marker.as_bytes().to_vec(),
                last: None,
                out: Vec::new(),
                at: 0,
            },
            pending: Vec::new(),
            asked: InFlight::default(),
            eof: false,
        }
    }

    /// Marks the whole lines of `pending` (all of it at the end) into the
    /// output; with perl, asks their keys and marks the lines asked before.
    fn mark(&mut self) -> io::Result<()> {
        let whole = if self.eof {
            self.pending.len()
        } else {
            match memchr::memrchr(b'\n', &self.pending) {
                Some(i) => i + 1,
                None => return Ok(()),
            }
        };
        if self.keyer.evaluates() {
            self.asked.send(
                &self.pending[..whole],
                |lines| self.keyer.keys_ahead(lines).map_err(died),
                |asked, keys| self.marks.put(&lines_of(asked), &keys),
            )?;
        } else {
            let lines = lines_of(&self.pending[..whole]);
            let keys = self.keyer.keys(&lines).map_err(died)?;
            self.marks.put(&lines, &keys);
        }
        self.pending.drain(..whole);
        Ok(())
    }

    /// Marks the lines asked last, once perl has their keys.
    fn collect(&mut self) -> io::Result<()> {
        self.asked.land(
            |none| self.keyer.keys_ahead(none).map_err(died),
            |asked, keys| self.marks.put(&lines_of(asked), &keys),
        )
    }
}

impl<R: Read> Read for Marked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let marks = &mut self.marks;
            if marks.at < marks.out.len() {
                let n = buf.len().min(marks.out.len() - marks.at);
                buf[..n].copy_from_slice(&marks.out[marks.at..marks.at + n]);
                marks.at += n;
                return Ok(n);
            }
            marks.out.clear();
            marks.at = 0;
            if self.eof {
                if self.asked.is_empty() {
                    return Ok(0);
                }
                self.collect()?;
                continue;
            }
            let start = self.pending.len();
            self.pending.resize(start + CHUNK, 0);
            let read = self.input.read(&mut self.pending[start..]);
            self.pending.truncate(start + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                // `--block-timeout`: what was read in time goes on (the
                // lines perl has first); the next read gives up again.
                Err(e) if self.asked.is_empty() => return Err(e),
                Err(_) => {
                    self.collect()?;
                    continue;
                }
            }
            self.mark()?;
        }
    }
}

/// `--pipepart --group-by`: where the parts of `file` start, from `start`
/// (past the header) to `size`: at least `block` bytes apart, each at a
/// change of key (GNU's `split_positions_for_group_by`: probe a block and
/// two blocks on, then binary-search the change).
pub(crate) fn part_positions(
    file: &File,
    start: u64,
    size: u64,
    block: u64,
    keyer: &mut Keyer,
) -> io::Result<Vec<u64>> {
    let block = block.max(1);
    let mut probe = Probe { file, size, keyer };
    let mut positions = Vec::new();
    let (mut a, mut apos) = probe.value_at(start)?;
    while apos < size {
        positions.push(apos);
        let (mut b, mut bpos) = probe.value_at(apos + block)?;
        // GNU: `eof($fh)` once that line is read.
        if bpos >= size || probe.next_line(bpos)? >= size {
            positions.push(size);
            break;
        }
        let mut cpos = bpos + block;
        let (mut c, found) = probe.value_at(cpos)?;
        cpos = found;
        if a == b {
            while b == c {
                // Move b and c a block on until a == b != c.
                bpos = cpos;
                cpos += block;
                let (v, p) = probe.value_at(cpos)?;
                c = v;
                cpos = p;
                if cpos >= size {
                    cpos = size;
                    break;
                }
            }
            (b, bpos) = probe.search_end(b, bpos, cpos)?;
        } else if b == c {
            (b, bpos) = probe.search_start(b, apos, bpos)?;
        } else {
            (b, bpos) = probe.search_end(b, bpos, cpos)?;
        }
        (a, apos) = (b, bpos);
    }
    if positions.last() != Some(&size) {
        positions.push(size);
    }
    Ok(positions)
}

/// Reads the key of the line at or after a position.
struct Probe<'a> {
    file: &'a File,
    size: u64,
    keyer: &'a mut Keyer,
}

/// A key (empty past the end of the file: perl's `undef` compares equal
/// to `""`) and the line's start.
type At = (Vec<u8>, u64);

impl Probe<'_> {
    /// The key of the first line that starts at or after `pos` (GNU: the
    /// line after the one `pos - 1` is in), and where it starts.
    fn value_at(&mut self, pos: u64) -> io::Result<At> {
        if pos > self.size {
            // GNU seeks past the end and reads nothing: `tell` is where it
            // sought.
            return Ok((Vec::new(), pos - 1));
        }
        let line_start = if pos == 0 { 0 } else { self.next_line(pos - 1)? };
        if line_start >= self.size {
            return Ok((Vec::new(), line_start));
        }
        let line = self.line(line_start)?;
        let keys = self
            .keyer
            .keys(&[&line])
            .map_err(|why| io::Error::other(EvalError(why)))?;
        Ok((keys.get(0).to_vec(), line_start))
    }

    /// Where the line after the one holding `pos` starts.
    fn next_line(&self, mut pos: u64) -> io::Result<u64> {
        // Lines are short, usually: read a page, then more and more.
        let mut buf = vec![0u8; 4096];
        while pos < self.size {
            let n = self.file.read_at(&mut buf, pos)?;
            if n == 0 {
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                return Ok(pos + i as u64 + 1);
            }
            pos += n as u64;
            if buf.len() < 1 << 20 {
                buf.resize(buf.len() * 2, 0);
            }
        }
        Ok(self.size)
    }

    /// The line that starts at `pos`, newline included.
    fn line(&self, pos: u64) -> io::Result<Vec<u8>> {
        let end = self.next_line(pos)?;
        let mut line = vec![0u8; usize::try_from(end - pos).unwrap_or(0)];
        self.file.read_exact_at(&mut line, pos)?;
        Ok(line)
    }

    /// `s` starts at `spos`, not at `epos`: where it ends.
    fn search_end(&mut self, s: Vec<u8>, mut spos: u64, mut epos: u64) -> io::Result<At> {
        let mut dif = epos.saturating_sub(spos);
        let mut at = (Vec::new(), epos);
        while dif > 0 {
            at = self.value_at(spos + dif)?;
            if at.0 == s {
                spos = at.1;
                dif = epos.saturating_sub(spos);
            } else {
                epos = at.1;
            }
            dif /= 2;
        }
        Ok(at)
    }

    /// `s` is not at `spos` but is at `epos`: where it starts.
    fn search_start(&mut self, s: Vec<u8>, mut spos: u64, mut epos: u64) -> io::Result<At> {
        let mut dif = epos.saturating_sub(spos);
        let mut at = (Vec::new(), epos);
        while dif > 0 {
            at = self.value_at(spos + dif)?;
            if at.0 == s {
                epos = at.1;
            } else {
                spos = at.1;
                dif = epos.saturating_sub(spos);
            }
            dif /= 2;
        }
        Ok(at)
    }
}

/// `--pipe --group-by`: standard input (`raw`) made ready for the cutter:
/// the header taken off (the first line when the key names a column, as
/// GNU then reads it; else `--header`'s, taken before the marking so that
/// no marker ends up in it), the rest marked. Returns the input and the
/// header to repeat in every block.
pub(crate) fn marked_input(
    group_by: &super::settings::GroupBy,
    mut raw: Box<dyn Read + Send>,
    header_rule: Option<&super::header::HeaderRule>,
) -> Result<(Box<dyn Read + Send>, Vec<u8>), String> {
    let cannot = |e: io::Error| format!("cannot read input: {}", crate::jobs::io_reason(&e));
    let (input, header): (Box<dyn Read + Send>, Vec<u8>) = if group_by.key.names_a_column() {
        let header = first_line(&mut raw).map_err(cannot)?;
        (raw, header)
    } else if let Some(rule) = header_rule {
        let (header, rest, eof) = take_header(&mut raw, rule).map_err(cannot)?;
        let rest = io::Cursor::new(rest);
        if eof {
            (Box::new(rest), header)
        } else {
            (Box::new(rest.chain(raw)), header)
        }
    } else {
        (raw, Vec::new())
    };
    let colsep = super::key::ColSep::new(&group_by.colsep, false)?;
    let column = group_by.key.column_number(&header, &colsep)?;
    let keyer = Keyer::new(group_by.key.clone(), column, colsep, false)?;
    Ok((Box::new(Marked::new(input, keyer, &group_by.marker)), header))
}

/// The first line of `input`, read a byte at a time so that nothing after
/// it is taken (GNU reads the header line so).
pub(crate) fn first_line(input: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(line)
}

/// `--header`'s header off the start of `input` (looked for in the first
/// [`super::cutter::HEADER_SEARCH`] bytes): the header, what was read
/// after it, and whether that was all of the input.
fn take_header(input: &mut dyn Read, rule: &super::header::HeaderRule) -> io::Result<(Vec<u8>, Vec<u8>, bool)> {
    let mut buf = Vec::new();
    let mut eof = false;
    loop {
        if let Some(len) = rule.find(&buf) {
            let rest = buf.split_off(len);
            return Ok((buf, rest, eof));
        }
        if eof || buf.len() >= super::cutter::HEADER_SEARCH {
            return Ok((Vec::new(), buf, eof));
        }
        let start = buf.len();
        buf.resize(start + 64 * 1024, 0);
        match input.read(&mut buf[start..]) {
            Ok(n) => {
                buf.truncate(start + n);
                eof = n == 0;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => return Err(e),
        }
    }
}

/// `--pipepart --group-by`: the keyer for `file` (a column name is looked
/// up in its first line, which stays data, as in GNU).
pub(crate) fn part_keyer(group_by: &super::settings::GroupBy, file: &File) -> Result<Keyer, String> {
    let mut head = Vec::new();
    if group_by.key.names_a_column() {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        loop {
            let n = file.read_at(&mut buf, pos).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                head.extend_from_slice(&buf[..=i]);
                break;
            }
            head.extend_from_slice(&buf[..n]);
            pos += n as u64;
        }
    }
    let colsep = super::key::ColSep::new(&group_by.colsep, false)?;
    let column = group_by.key.column_number(&head, &colsep)?;
    Keyer::new(group_by.key.clone(), column, colsep, false)
}
