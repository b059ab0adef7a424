//! `--pipe` from a pipe, cut the plain way (at record ends by `--block`;
//! no `-N`, `-L`, `--regexp`, `--rrs`, `--round-robin`): blocks *spooled*
//! into memfds.
//!
//! Each window is `splice`d from standard input straight into a memfd (the
//! kernel moves the bytes; they never come up to us), the cut is found by
//! reading a page or two back from the window's end, the bytes after it
//! are copied into the next memfd (in the kernel too), and the memfd,
//! truncated at the cut, is the job's standard input: a file holding
//! exactly its block (header first), which it reads at its own pace. Next
//! to the stream cutter that saves a copy of every byte, a writer thread
//! per job, and the hand-offs between writer and job; the blocks are the
//! same (`tests/cli/pipe.rs` compares them with GNU parallel's).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use rustix::fs::MemfdFlags;
use rustix::io::Errno;
use rustix::pipe::SpliceFlags;

use super::part::{grow_block, last_cut_in};
use super::separator::Separator;
use super::settings::MAX_BLOCK;

/// Cuts a pipe into memfd blocks.
#[derive(Debug)]
pub(crate) struct Spool {
    input: OwnedFd,
    separator: Separator,
    block: u64,
    header: Arc<[u8]>,
    /// The window so far: the header, then `filled` bytes of input.
    current: File,
    filled: u64,
    eof: bool,
    done: bool,
}

impl Spool {
    /// Spools `input`; `read` is what was read from it already (after the
    /// header), `eof` whether that was all of it.
    pub(crate) fn new(
        input: OwnedFd,
        separator: Separator,
        block: u64,
        header: Arc<[u8]>,
        read: &[u8],
        eof: bool,
    ) -> io::Result<Spool> {
        let current = new_block(&header)?;
        current.write_all_at(read, header.len() as u64)?;
        Ok(Spool {
            input,
            separator,
            block: block.clamp(1, MAX_BLOCK),
            header,
            current,
            filled: read.len() as u64,
            eof,
            done: false,
        })
    }

    /// The next block: a file holding it whole, and its length.
    pub(crate) fn next_block(&mut self) -> io::Result<Option<(File, u64)>> {
        let start = self.header.len() as u64;
        loop {
            if self.done {
                return Ok(None);
            }
            self.fill(start)?;
            if self.eof {
                // The rest of the input is the last block, whole.
                self.done = true;
                if self.filled == 0 {
                    return Ok(None);
                }
                let block = std::mem::replace(&mut self.current, new_block(&[])?);
                return Ok(Some((block, start + self.filled)));
            }
            match last_cut_in(&self.current, &self.separator, start, start + self.filled)? {
                Some(cut) => {
                    let next = new_block(&self.header)?;
                    copy(&self.current, cut, &next, start, start + self.filled - cut)?;
                    self.current.set_len(cut)?;
                    let block = std::mem::replace(&mut self.current, next);
                    self.filled = start + self.filled - cut;
                    return Ok(Some((block, cut)));
                }
                None if self.block >= MAX_BLOCK => {
                    // GNU stops growing here, and passes the window whole.
                    let block = std::mem::replace(&mut self.current, new_block(&self.header)?);
                    let len = start + self.filled;
                    self.filled = 0;
                    return Ok(Some((block, len)));
                }
                None => self.block = grow_block(self.block),
            }
        }
    }

    /// Splices input into the window until it is a whole number of blocks
    /// long (as the stream cutter reads), or the input ends.
    fn fill(&mut self, start: u64) -> io::Result<()> {
        let target = self.filled + (self.block - self.filled % self.block);
        while self.filled < target && !self.eof {
            let mut at = start + self.filled;
            let want = usize::try_from(target - self.filled).unwrap_or(usize::MAX);
            match rustix::pipe::splice(&self.input, None, &self.current, Some(&mut at), want, SpliceFlags::MOVE) {
                Ok(0) => self.eof = true,
                Ok(n) => self.filled += n as u64,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A new memfd holding `header`.
fn new_block(header: &[u8]) -> io::Result<File> {
    let fd = rustix::fs::memfd_create("forkpool-block", MemfdFlags::CLOEXEC)?;
    let file = File::from(fd);
    file.write_all_at(header, 0)?;
    Ok(file)
}

/// Copies `len` bytes from `from` at `at` to `to` at `to_at`, in the kernel.
fn copy(from: &File, mut at: u64, to: &File, mut to_at: u64, mut len: u64) -> io::Result<()> {
    while len > 0 {
        let step = usize::try_from(len).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(from, Some(&mut at), to, Some(&mut to_at), step) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => len -= n as u64,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Cuts `input`, written into a pipe, and returns the blocks.
    fn blocks(input: &str, block: u64, header: &str) -> Vec<String> {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let data = input.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let mut file = File::from(write);
            std::io::Write::write_all(&mut file, &data).unwrap();
        });
        let separator = Separator::new(None, None, false).unwrap();
        let mut spool = Spool::new(read, separator, block, Arc::from(header.as_bytes()), b"", false).unwrap();
        let mut out = Vec::new();
        while let Some((mut file, len)) = spool.next_block().unwrap() {
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            assert_eq!(text.len() as u64, len);
            out.push(text);
        }
        writer.join().unwrap();
        out
    }

    fn seq(n: usize) -> String {
        (1..=n).map(|i| format!("{i}\n")).collect()
    }

    #[test]
    fn the_same_blocks_as_the_stream_cutter() {
        assert_eq!(blocks(&seq(10), 6, ""), ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]);
        assert_eq!(blocks("a\nb", 100, ""), ["a\nb"]);
        assert!(blocks("", 100, "").is_empty());
        assert_eq!(blocks(&seq(5), 4, "h\n"), ["h\n1\n2\n", "h\n3\n4\n", "h\n5\n"]);
        let long = format!("{}\n{}", "a".repeat(50), "b\n".repeat(100));
        let got = blocks(&long, 10, "");
        assert_eq!(got.concat(), long);
        assert_eq!(got[1].len(), 66, "the window stays grown, as GNU's");
    }
}
