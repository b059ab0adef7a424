//! Messages between the supervisor, the zygote and the workers.
//!
//! - [`codec`]: arguments and results as items, with their descriptors.
//! - [`bulk`]: decoding large items, their byte strings into pre-faulted
//!   memory.
//! - [`frame`]: length-prefixed frames on a stream socket, decoded as
//!   untrusted bytes.
//! - [`outbox`]: frames waiting to be sent, with the descriptors passed
//!   beside them.
//! - [`protocol`]: what the frames between supervisor and worker carry.
//! - [`lost`]: descriptors the kernel dropped (this process was out of
//!   them), and the message of the item that needed them.
//! - [`control`]: the zygote's datagram protocol, with descriptors passed
//!   beside the messages.
//! - [`status`]: the page each worker shares with the supervisor.
//! - [`panic`]: what a worker reports about a task that panicked.
//! - `fuzz`: entry points for fuzzing frames and control messages.
//! - [`serde_message`]: the message of a failed `Serialize` or
//!   `Deserialize` impl, which `postcard` drops.
//! - [`stream`]: the frames of a streaming task.

pub(crate) mod bulk;
pub(crate) mod codec;
pub(crate) mod control;
pub(crate) mod frame;
#[cfg(any(test, feature = "fuzzing"))]
#[allow(unreachable_pub)]
pub mod fuzz;
pub(crate) mod lost;
pub(crate) mod outbox;
pub(crate) mod panic;
pub(crate) mod protocol;
pub(crate) mod serde_message;
pub(crate) mod status;
pub(crate) mod stream;
