//! Memory about to be filled, faulted in by the kernel in one call.
//!
//! A large allocation comes from `mmap` with no page behind it yet: filling
//! it traps into the kernel once per 4 KiB page, and on a virtual machine a
//! trap and its return to user space cost far more than the page itself.
//! `MADV_POPULATE_WRITE` (Linux 5.14) makes the same pages in one call.
//! Measured here (`BENCHMARKS.md`, "The data path"): filling 256 MiB of new
//! memory costs about half as much when its pages are made this way first.

use std::ffi::c_void;

use rustix::mm::Advice;

const PAGE: usize = 4096;

/// Makes room for at least `len` more bytes in `buf` and has the kernel
/// allocate and map the pages of that room now. Best effort: where the call
/// is missing or fails, the pages are made as they are written instead.
pub(crate) fn reserve_populated(buf: &mut Vec<u8>, len: usize) {
    buf.reserve_exact(len);
    let spare = buf.spare_capacity_mut();
    let start = spare.as_mut_ptr() as usize;
    let end = start + spare.len();
    let (Some(first), last) = (start.checked_next_multiple_of(PAGE), end & !(PAGE - 1)) else {
        return;
    };
    if last <= first {
        return;
    }
    // SAFETY: `first..last` lies within `buf`'s allocation, in its spare
    // capacity, which nothing references while we hold `&mut buf`.
    // `MADV_POPULATE_WRITE` only makes the pages present and writable; it
    // changes no byte of them and no mapping's extent or protection.
    let _ = unsafe { rustix::mm::madvise(first as *mut c_void, last - first, Advice::LinuxPopulateWrite) };
}

/// Has the kernel allocate and map the pages wholly inside `buf` now
/// (best effort, as [`reserve_populated`]). The bytes are left as they are.
pub(crate) fn populate(buf: &mut [u8]) {
    let start = buf.as_mut_ptr() as usize;
    let end = start + buf.len();
    let (Some(first), last) = (start.checked_next_multiple_of(PAGE), end & !(PAGE - 1)) else {
        return;
    };
    if last <= first {
        return;
    }
    // SAFETY: `first..last` lies within `buf`, which we hold exclusively.
    // `MADV_POPULATE_WRITE` only makes the pages present and writable; it
    // changes no byte of them and no mapping's extent or protection.
    let _ = unsafe { rustix::mm::madvise(first as *mut c_void, last - first, Advice::LinuxPopulateWrite) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_there_and_the_contents_untouched() {
        let mut buf = b"kept".to_vec();
        reserve_populated(&mut buf, 3 << 20);
        assert!(buf.capacity() >= 4 + (3 << 20));
        assert_eq!(buf, b"kept");
        buf.extend(std::iter::repeat_n(7u8, 3 << 20));
        assert_eq!(&buf[..5], b"kept\x07");
        reserve_populated(&mut Vec::new(), 0);
        let mut v = vec![0u8; 3 << 20];
        v[5] = 9;
        populate(&mut v[1..]);
        populate(&mut []);
        assert_eq!((v[5], v.iter().map(|&b| usize::from(b)).sum::<usize>()), (9, 9));
    }
}
