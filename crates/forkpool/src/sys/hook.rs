//! The constructor that turns a re-executed copy of the program into a
//! zygote or a worker before `main` runs.
//!
//! `ctor` places a pointer to `forkpool_role_hook` in `.init_array`, which the
//! dynamic loader runs before `main`. In an ordinary start the environment
//! names no role and the hook returns at once. In a process the pool
//! started, it never returns: it runs the zygote or worker loop and exits,
//! so none of the user's `main` (and no thread it would start) ever exists
//! there. Likewise a program started as a cluster node (`FORKPOOL_NODE`,
//! see `cluster/node/from_env.rs`) runs the node and exits.

// SAFETY (for `ctor(unsafe)`): the hook runs before main, where std's
// runtime is not set up. It uses only what works there on Linux/glibc
// (environment reads, allocation, raw descriptors through rustix), and
// returns immediately unless a forkpool role is set. A node (started with
// `FORKPOOL_NODE`) also starts threads and connects to its broker, which
// std supports before `main`; it ignores SIGPIPE first, as the runtime
// would have.
#[ctor::ctor(unsafe)]
fn forkpool_role_hook() {
    crate::worker::entry::divert_if_spawned();
    #[cfg(feature = "cluster")]
    crate::cluster::node::from_env::divert_if_asked();
}

/// Called by the pool so that the object file holding the constructor is
/// always part of the final link.
#[inline(never)]
pub(crate) fn ensure_linked() {
    std::hint::black_box(forkpool_role_hook as fn());
}
