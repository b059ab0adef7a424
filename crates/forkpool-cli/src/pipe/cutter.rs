//! Cutting a stream into blocks, GNU parallel's way, so that the same input
//! makes the same blocks (and so the same jobs, `{#}` and output).
//!
//! The cutter works in rounds over one buffer, the *window*: it reads
//! until the window holds `--block` bytes (or the input ends), then cuts:
//! - by default at the last cut in the window: one block of at most
//!   `--block` bytes, the rest of the window carried into the next round;
//! - with `-N n` (or `-L`/`-N` together, n × L), after every n records,
//!   as often as the window allows;
//! - with `-L n` alone, at the last multiple of n lines: one block.
//!
//! A round that cuts nothing (a record longer than the window) grows the
//! window by 30%, with GNU's warning. When the input ends, what is left
//! is the last block. So memory holds one window (plus the blocks cut from
//! it that the jobs have not taken), whatever the size of the input.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};

use super::header::HeaderRule;
use super::separator::Separator;
use super::settings::MAX_BLOCK;

/// How far into the input a header is looked for.
pub(crate) const HEADER_SEARCH: usize = 4 << 20;

/// How much of the input to have read at the next look for a header:
/// a block more, as GNU parallel reads, or past 64 KiB twice as much.
pub(crate) fn header_step(read: usize, block: usize) -> usize {
    let step = if read < 64 * 1024 { block } else { block.max(read) };
    read.saturating_add(step).min(HEADER_SEARCH.max(read + 1))
}

/// How a window is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// At the last cut: one block per window.
    Last,
    /// After every `n` records.
    Records(usize),
    /// At the last multiple of `n` lines (`-L` without `-N`).
    Lines(usize),
}

/// Cuts `input` into blocks.
#[derive(Debug)]
pub(crate) struct Cutter<R> {
    input: R,
    separator: Separator,
    rule: Rule,
    /// The window size: `--block`, grown for records longer than it.
    block: usize,
    /// `buf[..filled]` is the window so far; the rest is zeroed room.
    buf: Vec<u8>,
    filled: usize,
    eof: bool,
    /// `--regexp -N`: the start of the input was checked for garbage.
    checked_start: bool,
    ready: VecDeque<Vec<u8>>,
    done: bool,
    recycler: Arc<Recycler>,
    /// `--block-timeout`: how long a window may take to read, and the
    /// deadline the input's reads keep to (see `timeout`).
    timeout: Option<(std::time::Duration, super::timeout::Deadline)>,
}

/// Buffers given back once their block is written, for the cutter to fill
/// again (a few: as many as blocks are in flight).
#[derive(Debug, Default)]
pub(crate) struct Recycler {
    spare: Mutex<Vec<Vec<u8>>>,
}

impl Recycler {
    const KEEP: usize = 2;

    /// Gives a buffer back (its content does not matter).
    pub(crate) fn give(&self, buffer: Vec<u8>) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < Self::KEEP {
            spare.push(buffer);
        }
    }

    /// A spare buffer, or an empty one.
    fn take(&self) -> Vec<u8> {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }
}

impl<R: Read> Cutter<R> {
    pub(crate) fn new(input: R, separator: Separator, rule: Rule, block: u64) -> Cutter<R> {
        Cutter {
            input,
            separator,
            rule,
            block: usize::try_from(block.clamp(1, MAX_BLOCK)).unwrap_or(usize::MAX),
            buf: Vec::new(),
            filled: 0,
            eof: false,
            checked_start: false,
            ready: VecDeque::new(),
            done: false,
            recycler: Arc::default(),
            timeout: None,
        }
    }

    /// `--block-timeout`: a window that takes longer than `timeout` to read
    /// is cut as it is; `deadline` is the one `input` keeps to. Windows do
    /// not grow then (as in GNU parallel): a longer record is read on.
    pub(crate) fn with_timeout(mut self, timeout: std::time::Duration, deadline: super::timeout::Deadline) -> Self {
        self.timeout = Some((timeout, deadline));
        self
    }

    /// Takes the header from the start of the input, if it is there. Like
    /// GNU parallel, it reads a block at a time until the header matches
    /// (here: at most [`HEADER_SEARCH`] bytes, in growing steps past 64 KiB).
    pub(crate) fn take_header(&mut self, rule: &HeaderRule) -> io::Result<Vec<u8>> {
        loop {
            let target = header_step(self.filled, self.block);
            room(&mut self.buf, self.filled, target);
            while self.filled < target && !self.eof {
                match self.input.read(&mut self.buf[self.filled..target]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some(len) = rule.find(&self.buf[..self.filled]) {
                let header = self.buf[..len].to_vec();
                self.buf.copy_within(len..self.filled, 0);
                self.filled -= len;
                return Ok(header);
            }
            if self.eof || self.filled >= HEADER_SEARCH {
                return Ok(Vec::new());
            }
        }
    }

    /// The next block, or `None` at the end of the input.
    pub(crate) fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(block) = self.ready.pop_front() {
                return Ok(Some(block));
            }
            if self.done {
                return Ok(None);
            }
            self.fill()?;
            let cut_any = self.cut();
            if self.eof {
                self.done = true;
                if self.filled > 0 {
                    let rest = self.take_front(self.filled);
                    self.ready.push_back(rest);
                }
            } else if !cut_any && self.timeout.is_none() {
                self.grow();
            }
        }
    }

    /// Reads until the window is a whole number of blocks long (GNU's
    /// `read_block`), or the input ends.
    fn fill(&mut self) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        let target = self.filled + (self.block - self.filled % self.block);
        room(&mut self.buf, self.filled, target);
        if let Some((timeout, deadline)) = &self.timeout {
            deadline.set(Some(std::time::Instant::now() + *timeout));
        }
        let mut result = Ok(());
        while self.filled < target {
            match self.input.read(&mut self.buf[self.filled..target]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Cut what was read, as when the window is full.
                Err(e) if e.kind() == io::ErrorKind::TimedOut && self.timeout.is_some() => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Some((_, deadline)) = &self.timeout {
            deadline.set(None);
        }
        result
    }

    /// Cuts what the rule allows from the window; whether it cut anything.
    fn cut(&mut self) -> bool {
        let window = &self.buf[..self.filled];
        match self.rule {
            Rule::Last => {
                if self.eof {
                    // The window is the last block, whole.
                    return false;
                }
                match self.separator.last_cut(window) {
                    Some(cut) => {
                        let block = self.take_front(cut);
                        self.ready.push_back(block);
                        true
                    }
                    None => false,
                }
            }
            Rule::Lines(n) => {
                let lines = memchr::memchr_iter(b'\n', window).count();
                let whole = lines - lines % n;
                let Some(last) = whole
                    .checked_sub(1)
                    .and_then(|k| memchr::memchr_iter(b'\n', window).nth(k))
                else {
                    return false;
                };
                let block = self.take_front(last + 1);
                self.ready.push_back(block);
                true
            }
            Rule::Records(n) => {
                let mut start = 0;
                if !self.checked_start {
                    self.checked_start = true;
                    // --regexp: what precedes the first record start is a
                    // record of its own.
                    if let Some(cut) = self.separator.first_cut_if_garbage(window) {
                        self.ready.push_back(window[..cut].to_vec());
                        start = cut;
                    }
                }
                while start < window.len()
                    && let Some(cut) = self.separator.nth_cut(&window[start..], n)
                {
                    self.ready.push_back(window[start..start + cut].to_vec());
                    start += cut;
                }
                if start > 0 {
                    self.buf.copy_within(start..self.filled, 0);
                    self.filled -= start;
                }
                start > 0
            }
        }
    }

    /// What was read and not yet cut, and whether that was all of the input
    /// (for `Spool` to carry on after the header).
    pub(crate) fn into_rest(mut self) -> (Vec<u8>, bool) {
        self.buf.truncate(self.filled);
        (self.buf, self.eof)
    }

    /// The buffers of blocks the jobs are done with, for the next windows.
    pub(crate) fn recycler(&self) -> Arc<Recycler> {
        self.recycler.clone()
    }

    /// The first `len` bytes of the window, as a block of their own.
    fn take_front(&mut self, len: usize) -> Vec<u8> {
        let rest = self.filled - len;
        if len >= rest {
            // Hand the buffer itself over; the short rest moves to another,
            // one given back by a finished job if there is one (its pages
            // are already mapped: a fresh one costs a page fault per page).
            let mut next = self.recycler.take();
            room(&mut next, 0, self.block.max(rest));
            next[..rest].copy_from_slice(&self.buf[len..self.filled]);
            let mut block = std::mem::replace(&mut self.buf, next);
            block.truncate(len);
            self.filled = rest;
            block
        } else {
            let block = self.buf[..len].to_vec();
            self.buf.copy_within(len..self.filled, 0);
            self.filled = rest;
            block
        }
    }

    /// No cut in a whole window: a record is longer than `--block`.
    fn grow(&mut self) {
        let new = super::part::grow_block(self.block as u64);
        self.block = usize::try_from(new).unwrap_or(self.block);
    }
}

/// Makes `buf` at least `len` long, keeping its first `keep` bytes. A
/// buffer that must grow is replaced by a zeroed allocation (fresh pages
/// from the kernel, not a `memset` of the whole: a 1 GiB `--block` costs
/// only the pages the input fills).
fn room(buf: &mut Vec<u8>, keep: usize, len: usize) {
    if buf.len() >= len {
        return;
    }
    if buf.capacity() >= len && len - buf.len() <= 1 << 20 {
        buf.resize(len, 0);
        return;
    }
    let mut fresh = vec![0u8; len];
    fresh[..keep].copy_from_slice(&buf[..keep]);
    *buf = fresh;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `chunk` bytes a call, as a pipe does.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn blocks(input: &str, rule: Rule, block: u64) -> Vec<String> {
        let sep = Separator::new(None, None, false).unwrap();
        // However the input arrives, the blocks are the same.
        let mut all = Vec::new();
        for chunk in [1, 3, 1 << 20] {
            let reader = Trickle {
                data: input.as_bytes(),
                chunk,
            };
            let mut cutter = Cutter::new(reader, sep.clone(), rule, block);
            let mut out = Vec::new();
            while let Some(b) = cutter.next_block().unwrap() {
                out.push(String::from_utf8(b).unwrap());
            }
            all.push(out);
        }
        assert!(all.windows(2).all(|w| w[0] == w[1]), "{all:?}");
        all.remove(0)
    }

    fn seq(n: usize) -> String {
        (1..=n).map(|i| format!("{i}\n")).collect()
    }

    #[test]
    fn blocks_end_at_the_last_record_end_in_the_window() {
        // What `seq 10 | parallel --pipe --block 6` gives.
        assert_eq!(
            blocks(&seq(10), Rule::Last, 6),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]
        );
        assert_eq!(
            blocks(&seq(10), Rule::Last, 5),
            ["1\n2\n", "3\n4\n", "5\n6\n", "7\n8\n", "9\n10\n"]
        );
        assert_eq!(blocks("a\nb", Rule::Last, 100), ["a\nb"]);
        assert_eq!(blocks("", Rule::Last, 100), Vec::<String>::new());
    }

    #[test]
    fn records_per_block() {
        assert_eq!(
            blocks(&seq(10), Rule::Records(3), 4),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]
        );
        assert_eq!(blocks(&seq(5), Rule::Records(2), 1 << 20), ["1\n2\n", "3\n4\n", "5\n"]);
    }

    #[test]
    fn lines_per_record_make_blocks_of_whole_records() {
        assert_eq!(
            blocks(&seq(10), Rule::Lines(3), 10),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]
        );
        assert_eq!(
            blocks(&seq(10), Rule::Lines(4), 12),
            ["1\n2\n3\n4\n", "5\n6\n7\n8\n", "9\n10\n"]
        );
    }

    #[test]
    fn a_record_longer_than_the_block_grows_the_window() {
        let long = format!("{}\n{}", "a".repeat(50), "b\n".repeat(100));
        let got = blocks(&long, Rule::Last, 10);
        assert_eq!(got.concat(), long);
        assert!(got[0].starts_with(&format!("{}\n", "a".repeat(50))), "{got:?}");
        // The window stays grown: 10 -> 14 -> 20 -> 27 -> 37 -> 50 -> 66.
        assert_eq!(got[1].len(), 66);
    }

    #[test]
    fn the_header_comes_off_the_first_window() {
        let sep = Separator::new(None, None, false).unwrap();
        let rule = HeaderRule::parse(":").unwrap().unwrap();
        let input = b"h\n1\n2\n3\n";
        let mut cutter = Cutter::new(&input[..], sep, Rule::Records(2), 4);
        assert_eq!(cutter.take_header(&rule).unwrap(), b"h\n");
        assert_eq!(cutter.next_block().unwrap().unwrap(), b"1\n2\n");
        assert_eq!(cutter.next_block().unwrap().unwrap(), b"3\n");
        assert_eq!(cutter.next_block().unwrap(), None);
    }
}
