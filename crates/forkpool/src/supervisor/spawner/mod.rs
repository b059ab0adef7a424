//! Starting, killing and reaping worker processes.
//!
//! The supervisor's event loop does not know how a worker comes to exist.
//! It asks a [`Spawner`] to start worker `n` with one end of a socket and a
//! status page, and learns through [`SpawnEvent`]s when the worker is
//! running and how it ended. Two spawners exist:
//! - [`ZygoteSpawner`]: forks from a single-threaded zygote (fast, shares
//!   `preload`ed memory copy-on-write); the default.
//! - [`ExecSpawner`]: executes a fresh copy of the program per worker
//!   (slower, nothing shared, for maximum isolation).

mod exec;
mod zygote;

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

pub(crate) use exec::ExecSpawner;
pub(crate) use zygote::ZygoteSpawner;

use crate::error::Error;
use crate::sys::exit::ExitReason;
use crate::worker::config::ZygoteConfig;

/// Poller keys below this belong to the spawner's own descriptors.
const FIRST_WORKER_KEY: usize = 16;
pub(crate) const KEY_ZYGOTE_CONTROL: usize = 0;
pub(crate) const KEY_ZYGOTE_PIDFD: usize = 1;
/// The guardian's pidfd (exec start).
pub(crate) const KEY_GUARDIAN: usize = 2;

/// Poller keys per worker: socket, pidfd, stdout pipe, stderr pipe.
const KEYS_PER_WORKER: usize = 4;

/// The poller key of worker `id`'s socket.
pub(crate) fn worker_socket_key(id: u64) -> usize {
    FIRST_WORKER_KEY + KEYS_PER_WORKER * id as usize
}

/// The poller key of worker `id`'s pidfd (exec start).
pub(crate) fn worker_pidfd_key(id: u64) -> usize {
    worker_socket_key(id) + 1
}

/// The poller key of worker `id`'s stdout (`stream` 0) or stderr (1) pipe.
pub(crate) fn worker_output_key(id: u64, stream: usize) -> usize {
    worker_socket_key(id) + 2 + stream.min(1)
}

/// Which descriptor a poller key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// One of the spawner's: pass to [`Spawner::on_event`].
    Spawner(usize),
    /// Worker `id`'s socket.
    WorkerSocket(u64),
    /// Worker `id`'s stdout (0) or stderr (1) pipe.
    WorkerOutput(u64, usize),
}

pub(crate) fn classify(key: usize) -> Key {
    let Some(offset) = key.checked_sub(FIRST_WORKER_KEY) else {
        return Key::Spawner(key);
    };
    let id = (offset / KEYS_PER_WORKER) as u64;
    match offset % KEYS_PER_WORKER {
        0 => Key::WorkerSocket(id),
        1 => Key::Spawner(key),
        part => Key::WorkerOutput(id, part - 2),
    }
}

/// The id of the worker whose pidfd has this key (exec start).
fn pidfd_worker(key: usize) -> Option<u64> {
    let offset = key.checked_sub(FIRST_WORKER_KEY)?;
    (offset % KEYS_PER_WORKER == 1).then_some((offset / KEYS_PER_WORKER) as u64)
}

/// What a spawner reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpawnEvent {
    /// The worker process exists.
    Spawned { worker: u64, pid: u32 },
    /// The worker could not be started.
    SpawnFailed { worker: u64, message: String },
    /// The worker ended and has been reaped.
    Exited { worker: u64, reason: ExitReason },
    /// The worker ended, but its exit status could not be had.
    Vanished { worker: u64, message: String },
    /// Every worker was lost at once, without a status (the zygote died).
    Lost { message: String },
}

/// See the module docs.
pub(crate) trait Spawner: Send + fmt::Debug {
    /// Starts worker `worker`, which gets `socket` and `status`, and
    /// `output` as its stdout and stderr if given. Returns its pid if it is
    /// known at once; otherwise a `Spawned` event follows.
    fn spawn(
        &mut self,
        worker: u64,
        socket: OwnedFd,
        status: OwnedFd,
        output: Option<[OwnedFd; 2]>,
    ) -> io::Result<Option<u32>>;

    /// Settings the supervisor must send first on a new worker's socket,
    /// for workers that did not inherit them.
    fn config_frame(&self) -> Option<&ZygoteConfig>;

    /// Kills a worker and its process group. An `Exited` event follows.
    fn kill(&mut self, worker: u64);

    /// Sends `SIGTERM` to a worker's process group, so that what it runs
    /// may clean up before the [`kill`](Spawner::kill) that follows.
    fn terminate(&mut self, worker: u64);

    /// Handles readiness of one of the spawner's own descriptors.
    fn on_event(&mut self, key: usize, readable: bool, writable: bool, events: &mut Vec<SpawnEvent>);

    /// Does what is due at `now` (a guardian process put off, for the
    /// exec start); returns when to be called again, if ever.
    fn tick(&mut self, now: std::time::Instant) -> Option<std::time::Instant> {
        let _ = now;
        None
    }

    /// Starts over after `Lost`.
    fn restart(&mut self) -> Result<(), Error>;

    /// The zygote's pid, if there is a zygote.
    fn zygote_pid(&self) -> Option<u32>;

    /// Kills whatever is left, reaps everything and releases every
    /// descriptor. Bounded in time.
    fn shutdown(&mut self);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for id in [0u64, 1, 7, 1000] {
            assert_eq!(classify(worker_socket_key(id)), Key::WorkerSocket(id));
            assert_eq!(classify(worker_pidfd_key(id)), Key::Spawner(worker_pidfd_key(id)));
            assert_eq!(pidfd_worker(worker_pidfd_key(id)), Some(id));
            assert_eq!(pidfd_worker(worker_socket_key(id)), None);
            assert_eq!(classify(worker_output_key(id, 0)), Key::WorkerOutput(id, 0));
            assert_eq!(classify(worker_output_key(id, 1)), Key::WorkerOutput(id, 1));
            assert_eq!(pidfd_worker(worker_output_key(id, 1)), None);
        }
        assert_eq!(classify(KEY_ZYGOTE_CONTROL), Key::Spawner(KEY_ZYGOTE_CONTROL));
    }
}
