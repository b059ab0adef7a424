//! Where output waiting to be printed is held: in memory up to a budget
//! shared by all jobs; past it, in one unnamed temporary file
//! (`O_TMPFILE`), which the kernel removes however this process ends.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes of held output kept in memory before spilling to disk.
const MEMORY_BUDGET: usize = 64 << 20;

/// Held bytes: in memory, or a range of the spill file.
#[derive(Debug)]
pub(super) enum Chunk {
    Memory(Vec<u8>),
    Spilled { offset: u64, len: u64 },
}

#[derive(Debug)]
pub(super) struct Store {
    /// Bytes kept in memory before spilling.
    budget: usize,
    in_memory: usize,
    spill: Option<File>,
    /// The spill file's end, where the next chunk goes.
    spill_len: u64,
    /// Bytes of the spill file still held by some chunk. The space of a
    /// released chunk is given back at once (a hole is punched), and the
    /// file starts over once nothing in it is held: a long run does not
    /// fill the disk with output already printed.
    spilled_held: u64,
    /// Where the spill file goes (`--tmpdir`; else `$TMPDIR`).
    pub(super) tmpdir: Option<std::path::PathBuf>,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            budget: MEMORY_BUDGET,
            in_memory: 0,
            spill: None,
            spill_len: 0,
            spilled_held: 0,
            tmpdir: None,
        }
    }
}

impl Store {
    pub(super) fn hold(&mut self, data: &[u8]) -> io::Result<Chunk> {
        if self.in_memory + data.len() <= self.budget {
            self.in_memory += data.len();
            return Ok(Chunk::Memory(data.to_vec()));
        }
        if self.spill.is_none() {
            self.spill = Some(match &self.tmpdir {
                Some(dir) => tempfile::tempfile_in(dir)?,
                None => tempfile::tempfile()?,
            });
        }
        let file = self.spill.as_ref().ok_or_else(|| io::Error::other("no spill file"))?;
        file.write_all_at(data, self.spill_len)?;
        let chunk = Chunk::Spilled {
            offset: self.spill_len,
            len: data.len() as u64,
        };
        self.spill_len += data.len() as u64;
        self.spilled_held += data.len() as u64;
        Ok(chunk)
    }

    /// Calls `sink` with the chunk's bytes, in pieces, and releases it.
    pub(super) fn drain(&mut self, chunk: Chunk, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let result = self.read(&chunk, sink);
        self.release(chunk);
        result
    }

    /// Fills `buf` from the spill file at `offset` (a piece of a spilled
    /// chunk: see [`pieces`]).
    pub(super) fn read_spilled(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let file = self.spill.as_ref().ok_or_else(|| io::Error::other("no spill file"))?;
        file.read_exact_at(buf, offset)
    }

    /// Calls `sink` with the chunk's bytes, in pieces.
    pub(super) fn read(&self, chunk: &Chunk, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match *chunk {
            Chunk::Memory(ref bytes) => sink(bytes),
            Chunk::Spilled { offset, len } => {
                let mut buf = piece_buffer(len);
                pieces(offset, len).try_for_each(|(at, n)| {
                    self.read_spilled(&mut buf[..n], at)?;
                    sink(&buf[..n])
                })
            }
        }
    }

    /// Forgets a chunk (its memory counts no more; its disk space is
    /// freed).
    pub(super) fn release(&mut self, chunk: Chunk) {
        match chunk {
            Chunk::Memory(bytes) => self.in_memory -= bytes.len(),
            Chunk::Spilled { offset, len } => {
                self.spilled_held -= len;
                let Some(file) = &self.spill else { return };
                if self.spilled_held == 0 {
                    if file.set_len(0).is_ok() {
                        self.spill_len = 0;
                    }
                } else {
                    // Best effort: a file system without holes keeps the
                    // space until the file starts over.
                    use rustix::fs::FallocateFlags;
                    let _ = rustix::fs::fallocate(
                        file,
                        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
                        offset,
                        len,
                    );
                }
            }
        }
    }
}

/// The most of a spilled chunk read into memory at once.
const PIECE: u64 = 256 * 1024;

/// A spilled chunk (`offset`, `len`) in pieces: where each is in the
/// spill file, and its length.
pub(super) fn pieces(offset: u64, len: u64) -> impl Iterator<Item = (u64, usize)> {
    (0..len)
        .step_by(PIECE as usize)
        .map(move |done| (offset + done, (len - done).min(PIECE) as usize))
}

/// A buffer for the pieces of a spilled chunk of `len` bytes.
pub(super) fn piece_buffer(len: u64) -> Vec<u8> {
    vec![0u8; len.min(PIECE) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spill_file_len(store: &Store) -> u64 {
        store.spill.as_ref().map_or(0, |f| f.metadata().unwrap().len())
    }

    #[test]
    fn spilled_output_gives_its_disk_space_back_once_printed() {
        let mut store = Store {
            budget: 10,
            ..Store::default()
        };
        let chunks: Vec<Chunk> = (0..3).map(|_| store.hold(&[7u8; 100]).unwrap()).collect();
        assert_eq!(spill_file_len(&store), 300);
        let mut printed = Vec::new();
        for chunk in chunks {
            store
                .drain(chunk, &mut |b| {
                    printed.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(printed, vec![7u8; 300]);
        assert_eq!(spill_file_len(&store), 0, "the spill file only grows");
        // And it is used again from the start.
        let again = store.hold(&[1u8; 50]).unwrap();
        assert!(matches!(again, Chunk::Spilled { offset: 0, len: 50 }), "{again:?}");
    }

    #[test]
    fn a_spilled_chunk_is_read_in_pieces_that_cover_it_once() {
        let len = 2 * PIECE + 10;
        let got: Vec<(u64, usize)> = pieces(7, len).collect();
        assert_eq!(
            got,
            [(7, PIECE as usize), (7 + PIECE, PIECE as usize), (7 + 2 * PIECE, 10)]
        );
        assert_eq!(pieces(7, 0).count(), 0);
        assert_eq!(piece_buffer(10).len(), 10);
        assert_eq!(piece_buffer(len).len(), PIECE as usize);
    }
}
