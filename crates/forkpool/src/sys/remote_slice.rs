//! The link-time list that `#[forkpool::remote]` adds its registrations
//! to. `linkme` gathers the elements with linker sections (attributes the
//! compiler counts as unsafe code), so the declaration lives in this layer.

use crate::cluster::registry::Registration;

/// Every `#[forkpool::remote]` function linked into this program.
#[linkme::distributed_slice]
pub static REMOTE_FNS: [Registration];
