//! `forkpool`: run commands in parallel, with GNU parallel's interface.
//!
//! The binary only parses, runs and returns an exit status; everything
//! else lives in the `forkpool_cli` library and in `forkpool` itself.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    forkpool_cli::main()
}
