//! Messages between the supervisor, the zygote and the workers.
//!
//! - [`frame`]: length-prefixed frames on a stream socket, decoded as
//!   untrusted bytes.
//! - [`protocol`]: what the frames between supervisor and worker carry.
//! - [`control`]: the zygote's datagram protocol, with descriptors passed
//!   beside the messages.
//! - [`status`]: the page each worker shares with the supervisor.
//! - [`panic`]: what a worker reports about a task that panicked.

pub(crate) mod control;
pub(crate) mod frame;
pub(crate) mod panic;
pub(crate) mod protocol;
pub(crate) mod status;
