//! C's standard I/O buffers, in a worker whose output is a pipe.
//!
//! A task may call C code that prints with `printf`. C's `stdout` is fully
//! buffered when it is not a terminal, so in a worker whose output goes to a
//! pipe such text would arrive late (at the next 4 KiB) and be lost with a
//! crash. The worker makes it line-buffered, as on a terminal, and flushes
//! it when an item ends, so that the text counts as the item's.

use std::ffi::c_int;

unsafe extern "C" {
    /// C's `stdout` stream (glibc and musl both export the symbol).
    static mut stdout: *mut libc::FILE;
}

/// Makes C's `stdout` line-buffered, after flushing what it holds.
pub(crate) fn line_buffer_c_stdout() {
    // SAFETY: `stdout` is the C library's own stream pointer, initialised
    // before any Rust code runs and never freed; reading the pointer value
    // (not a reference to the static) is fine. fflush and setvbuf with a
    // null buffer take the stream's lock and allocate as needed; this runs
    // in the worker's single task thread before any task.
    unsafe {
        let stream = stdout;
        if !stream.is_null() {
            libc::fflush(stream);
            libc::setvbuf(stream, std::ptr::null_mut(), libc::_IOLBF as c_int, 0);
        }
    }
}

/// Flushes C's `stdout` (its `stderr` is unbuffered).
pub(crate) fn flush_c_stdout() {
    // SAFETY: as in `line_buffer_c_stdout`: the stream pointer is read by
    // value, and fflush on a valid stream has no other precondition.
    unsafe {
        let stream = stdout;
        if !stream.is_null() {
            libc::fflush(stream);
        }
    }
}
