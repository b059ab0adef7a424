//! The frame decoder and the parsers of every frame a worker's socket
//! carries, both ways: `cargo +nightly fuzz run frames`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| forkpool::fuzz::frames(data));
