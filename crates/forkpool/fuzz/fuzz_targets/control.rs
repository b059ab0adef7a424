//! The zygote's control protocol, both ways: `cargo +nightly fuzz run control`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| forkpool::fuzz::control(data));
