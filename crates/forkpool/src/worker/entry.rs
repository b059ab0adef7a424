//! Deciding, before `main`, whether this process is a zygote, a worker,
//! or a guardian.
//!
//! The supervisor starts helpers by executing `/proc/self/exe` with
//! `FORKPOOL_ROLE` set. The constructor in `sys::hook` calls
//! [`divert_if_spawned`]; in a helper it never returns.

use std::os::fd::{OwnedFd, RawFd};

use rustix::process::Pid;

use crate::sys;

/// Environment variable naming the role of a process the pool started.
pub(crate) const ROLE_VAR: &str = "FORKPOOL_ROLE";
/// Environment variable holding the pid of the process that started it.
pub(crate) const PARENT_VAR: &str = "FORKPOOL_PARENT";
/// The zygote's control socket.
pub(crate) const ZYGOTE_CONTROL_FD: RawFd = 3;
/// An exec-started worker's socket and status page.
pub(crate) const WORKER_SOCKET_FD: RawFd = 3;
pub(crate) const WORKER_STATUS_FD: RawFd = 4;

/// A guardian (see `guardian.rs`): its child table and control socket.
pub(crate) const GUARDIAN_TABLE_FD: RawFd = 3;
pub(crate) const GUARDIAN_CONTROL_FD: RawFd = 4;

pub(crate) const ROLE_ZYGOTE: &str = "zygote";
pub(crate) const ROLE_WORKER: &str = "worker";
pub(crate) const ROLE_GUARDIAN: &str = "guardian";

/// Runs the zygote or worker loop when the environment says this process
/// is one; returns at once otherwise.
pub(crate) fn divert_if_spawned() {
    let Some(role) = sys::env::take_var(ROLE_VAR) else {
        return;
    };
    let parent = sys::env::take_var(PARENT_VAR)
        .and_then(|p| p.to_str()?.parse::<i32>().ok())
        .and_then(Pid::from_raw);
    let Some(parent) = parent else {
        fail(&format!("{ROLE_VAR} is set but {PARENT_VAR} is missing or invalid"));
    };
    // The supervisor may have died between fork and exec: a zygote or a
    // worker has nothing to do then. (A guardian does: it checks itself.)
    if role.to_str() != Some(ROLE_GUARDIAN) && rustix::process::getppid() != Some(parent) {
        std::process::exit(0);
    }
    match role.to_str() {
        Some(ROLE_ZYGOTE) => {
            let control = take_fd(ZYGOTE_CONTROL_FD);
            super::zygote::run(control, parent)
        }
        Some(ROLE_GUARDIAN) => {
            let table = take_fd(GUARDIAN_TABLE_FD);
            let control = take_fd(GUARDIAN_CONTROL_FD);
            // Started with posix_spawn, which passes on whatever the
            // owner leaked without CLOEXEC: not ours to keep.
            sys::fds::close_from(GUARDIAN_CONTROL_FD + 1);
            crate::guardian::run(table, control, parent)
        }
        Some(ROLE_WORKER) => {
            let socket = take_fd(WORKER_SOCKET_FD);
            let status = take_fd(WORKER_STATUS_FD);
            super::run_exec_started(socket, status, parent)
        }
        _ => fail(&format!("unknown {ROLE_VAR} {role:?}")),
    }
}

fn take_fd(fd: RawFd) -> OwnedFd {
    match sys::fds::take_inherited(fd) {
        Ok(fd) => fd,
        Err(e) => fail(&format!("inherited descriptor {fd} is missing: {e}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("forkpool: {message}");
    std::process::exit(111)
}

/// True when this process was started as a helper but the constructor did
/// not divert it (the pool's code is in a shared library, or the
/// constructor was not linked). Building a pool there would start helpers
/// recursively, so the builder refuses.
pub(crate) fn started_as_helper_without_hook() -> bool {
    std::env::var_os(ROLE_VAR).is_some()
}
