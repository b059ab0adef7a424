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
/// The smallest part a thread is given.
const PART: usize = 4 << 20;
/// The most threads one copy uses.
const MAX_THREADS: usize = 4;

/// How many parts to cut a run of `len` bytes into.
fn parts(len: usize) -> usize {
    if len < PARALLEL_AT {
        return 1;
    }
    let cpus = thread::available_parallelism().map_or(1, usize::from);
    cpus.min(MAX_THREADS).min(len / PART).max(1)
}

/// Copies `src` into `dst` (of the same length), making `dst`'s pages
/// first if `fresh`.
pub(crate) fn copy(dst: &mut [u8], src: &[u8], fresh: bool) {
    debug_assert_eq!(dst.len(), src.len());
    let one = |dst: &mut [u8], src: &[u8]| {
        if fresh {
            prefault::populate(dst);
        }
        dst.copy_from_slice(src);
    };
    let n = parts(src.len());
    if n == 1 {
        return one(dst, src);
    }
    let chunk = src.len().div_ceil(n);
    let work = Mutex::new(dst.chunks_mut(chunk).zip(src.chunks(chunk)).collect::<Vec<_>>());
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
