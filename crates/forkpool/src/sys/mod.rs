//! The operating-system layer, and the only module allowed to use `unsafe`.
//!
//! Every `unsafe` block below carries a `// SAFETY:` comment saying why it
//! holds. The rest of the crate is `#![deny(unsafe_code)]` and reaches the OS
//! through `rustix` (safe) or through the small, typed wrappers here.
#![allow(unsafe_code)]

pub(crate) mod abort;
pub(crate) mod clone_spawn;
pub(crate) mod code;
pub(crate) mod cpu_clock;
pub(crate) mod creds;
pub(crate) mod env;
pub(crate) mod exit;
pub(crate) mod fds;
pub(crate) mod fork;
pub(crate) mod guard;
pub(crate) mod hook;
pub(crate) mod landlock;
pub(crate) mod lane;
pub(crate) mod memfd;
pub(crate) mod memory;
pub(crate) mod page;
pub(crate) mod poll;
pub(crate) mod posix_spawn;
pub(crate) mod prefault;
#[cfg(feature = "cluster")]
pub(crate) mod remote_slice;
pub(crate) mod scm;
pub(crate) mod signal;
pub(crate) mod signal_pipe;
pub(crate) mod slots;
pub(crate) mod spawn;
pub(crate) mod stdio;
#[cfg(feature = "cluster")]
pub(crate) mod stop_signals;
pub(crate) mod threads;
