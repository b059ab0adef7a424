//! Copies of large byte runs, shared among a few threads.
//!
//! A large argument or result is copied once on each side (into the
//! sender's lane, out of the receiver's mapping into its own value), and a
//! raw pipe between two processes, the floor `BENCHMARKS.md` measures the
//! data path against, overlaps its sender's copy with its receiver's. A
//! single thread copying a quarter of a gigabyte leaves the other CPUs
//! idle, so runs of [`PARALLEL_AT`] bytes or more are cut into parts that
//! threads copy side by side (each also making the pages of its part of a
//! new buffer). A thread that cannot be started just means its part is
//! copied by the caller.

use std::sync::{Mutex, PoisonError};
use std::thread;

use crate::sys::prefault;

/// Runs at least this long are copied by more than one thread.
pub(crate) const PARALLEL_AT: usize = 8 << 20;
/// The part of a copy a thread takes at a time.
const PART: usize = 4 << 20;
/// New pages are made this many bytes at a time, each step copied at once.
const STEP: usize = 512 << 10;
/// The most threads one copy uses.
const MAX_THREADS: usize = 4;

/// How many threads copy a run of `len` bytes.
fn parts(len: usize) -> usize {
    if len < PARALLEL_AT {
        return 1;
    }
    let cpus = thread::available_parallelism().map_or(1, usize::from);
    cpus.min(MAX_THREADS).min(len / PART).max(1)
}

/// Copies `src` into `dst` (of the same length), making `dst`'s pages
/// first if `fresh`.
///
/// New pages are made a [`STEP`] at a time, each step copied right after it
/// was made: the kernel zeroes a page as it makes it, and copying into it
/// while those zeroes are still in the cache spares the memory a second
/// write of the whole buffer. The work is handed out in parts of [`PART`]
/// bytes, taken by whichever thread is free, so that a thread the machine
/// deschedules holds up one part, not half the copy.
pub(crate) fn copy(dst: &mut [u8], src: &[u8], fresh: bool) {
    debug_assert_eq!(dst.len(), src.len());
    let one = |dst: &mut [u8], src: &[u8]| {
        if !fresh {
            return dst.copy_from_slice(src);
        }
        for (d, s) in dst.chunks_mut(STEP).zip(src.chunks(STEP)) {
            prefault::populate(d);
            d.copy_from_slice(s);
        }
    };
    let n = parts(src.len());
    if n == 1 {
        return one(dst, src);
    }
    let work = Mutex::new(dst.chunks_mut(PART).zip(src.chunks(PART)).rev().collect::<Vec<_>>());
    let drain = || {
        while let Some((d, s)) = work.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            one(d, s);
        }
    };
    thread::scope(|scope| {
        for _ in 1..n {
            // A helper that cannot start leaves its share to the others.
            let _ = thread::Builder::new()
                .name("forkpool-copy".into())
                .spawn_scoped(scope, drain);
        }
        drain();
    });
}

/// `src`, copied into a new buffer (see [`copy`]).
pub(crate) fn to_vec(src: &[u8]) -> Vec<u8> {
    if src.len() < PARALLEL_AT {
        let mut buf = Vec::new();
        prefault::reserve_populated(&mut buf, src.len());
        buf.extend_from_slice(src);
        return buf;
    }
    // `calloc`: fresh pages, not touched (and not zeroed twice).
    let mut buf = vec![0u8; src.len()];
    copy(&mut buf, src, true);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_whole_at_every_size() {
        for len in [0, 1, 4095, PARALLEL_AT - 1, PARALLEL_AT, 3 * PART + 17, 40 << 20] {
            let src: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert!(to_vec(&src) == src, "{len}");
            let mut dst = vec![1u8; len];
            copy(&mut dst, &src, false);
            assert!(dst == src, "{len}");
        }
    }
}
