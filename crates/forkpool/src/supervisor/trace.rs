//! Events for the optional `tracing` feature, under the `forkpool` target.
//!
//! Every function here is empty without the feature, so the supervisor
//! calls them unconditionally. Levels: a worker starting, exiting between
//! tasks or being recycled is `DEBUG`; a worker lost with a task
//! (a crash), a timeout or an abort is `WARN` or `INFO`, since a user
//! reading logs wants those.

use super::worker::{Ended, KillCause};

/// A worker is ready for tasks.
#[inline]
pub(super) fn worker_started(pid: Option<u32>) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "forkpool", pid, "worker started");
    #[cfg(not(feature = "tracing"))]
    let _ = pid;
}

/// The supervisor is killing a worker, for `cause`.
#[inline]
pub(super) fn killing(pid: Option<u32>, cause: &KillCause, grace: bool) {
    #[cfg(feature = "tracing")]
    match cause {
        KillCause::TimedOut { after, .. } => {
            tracing::warn!(target: "forkpool", pid, ?after, grace, "task timed out; killing its worker")
        }
        KillCause::Aborted { .. } => tracing::info!(target: "forkpool", pid, "task aborted; killing its worker"),
        KillCause::Protocol(message) => {
            tracing::warn!(target: "forkpool", pid, %message, "worker sent a bad message; killing it")
        }
        KillCause::InitTimedOut(after) => {
            tracing::warn!(target: "forkpool", pid, ?after, "worker_init timed out; killing the worker")
        }
        KillCause::Unresponsive => tracing::warn!(target: "forkpool", pid, "worker unresponsive; killing it"),
        KillCause::Terminate => tracing::debug!(target: "forkpool", pid, "pool terminating; killing the worker"),
        KillCause::Stopped(error) => {
            tracing::info!(target: "forkpool", pid, %error, "stopped stream did not end; killing its worker")
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (pid, cause, grace);
}

/// A worker ended: replaced on purpose (`recycled`), lost with work in
/// hand or by a crash (`lost`), or closed by the pool.
#[inline]
pub(super) fn worker_ended(pid: Option<u32>, ended: Option<&Ended>, recycled: bool, lost: bool) {
    #[cfg(feature = "tracing")]
    {
        if recycled {
            tracing::info!(target: "forkpool", pid, "worker recycled");
        } else if lost {
            tracing::warn!(target: "forkpool", pid, ended = ?ended, "worker lost");
        } else {
            tracing::debug!(target: "forkpool", pid, ended = ?ended, "worker exited");
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (pid, ended, recycled, lost);
}

/// The guardian process (exec start) died: `pid` is the one started in
/// its place (`None`: put off); `news` what the user should hear.
#[inline]
pub(super) fn guardian(pid: Option<u32>, news: Option<&crate::guardian::News>) {
    #[cfg(feature = "tracing")]
    match news {
        Some(crate::guardian::News::Unguarded(reason)) => tracing::warn!(
            target: "forkpool",
            %reason,
            "the pool's workers are unguarded (a SIGKILL of this process would leave what their tasks started running); retrying"
        ),
        Some(crate::guardian::News::Guarded) => {
            tracing::info!(target: "forkpool", pid, "the pool's workers are guarded again")
        }
        None => tracing::debug!(target: "forkpool", pid, "guardian process died; started another"),
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (pid, news);
}
