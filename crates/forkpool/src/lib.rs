//! A crash-isolated process pool.
//!
//! `forkpool` runs Rust functions in worker *processes*, so that a task
//! that segfaults, aborts, leaks, hangs or eats memory costs that task
//! alone, never the caller. Think of Python's `ProcessPoolExecutor`, typed,
//! fast, and never hanging.
//!
//! ```
//! use std::time::Duration;
//! use forkpool::{Pool, TaskError};
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let pool = Pool::builder()
//!     .workers(2)
//!     .task_timeout(Duration::from_secs(1))
//!     .build()?;
//!
//! // A typed handle: join it, wait with a deadline, cancel it, or `.await` it.
//! let task = pool.submit(square, 7);
//! assert_eq!(task.join(), Ok(49));
//!
//! // Lazy, batched, in input order.
//! let total: u64 = pool.map(|x: u64| x + 1, 0..10_000).map(Result::unwrap).sum();
//! assert_eq!(total, 50_005_000);
//!
//! // A crash ends one task with an error that says why; the pool goes on.
//! let crash = pool.submit(|_: ()| unsafe { std::ptr::null_mut::<u8>().write_volatile(1) }, ());
//! assert!(matches!(crash.join(), Err(TaskError::Crashed { signal: Some(11), .. })));
//!
//! // A generator in a worker, its items read as it makes them.
//! let squares: Vec<u64> = pool.stream(|n: u64| (0..n).map(|i| i * i), 4).collect::<Result<_, _>>().unwrap();
//! assert_eq!(squares, [0, 1, 4, 9]);
//!
//! // Big data crosses without being copied: only a descriptor travels.
//! let image = forkpool::SharedBytes::copy_from(&vec![0u8; 64 << 20])?;
//! assert_eq!(pool.submit(|b: forkpool::SharedBytes| b.len(), image).join(), Ok(64 << 20));
//!
//! // So does a hang.
//! let hang = pool.submit(|_: ()| -> u8 { loop { std::thread::park() } }, ());
//! assert_eq!(hang.join(), Err(TaskError::TimedOut { after: Duration::from_secs(1) }));
//! # Ok::<(), forkpool::Error>(())
//! ```
//!
//! There is no set-up call and no macro: binaries, examples and `cargo
//! test` tests use a pool directly.
//!
//! # Theory of operation
//!
//! ```text
//! client process (yours)
//!   Pool ──(inbox + wake-up)──► supervisor thread: one event loop over
//!   Task ◄──(result slot)─────┘   worker sockets, pidfds and timers
//!                                   │ control socket (SCM_RIGHTS)
//!                                   ▼
//!   zygote: /proc/self/exe re-executed, diverted before main, single-threaded
//!                                   │ fork (copy-on-write)
//!                                   ▼
//!   workers × N, one socket each: read a job, run its items, write results
//! ```
//!
//! - **Tasks cross as code addresses.** A task must be a function or a
//!   closure that captures nothing (checked at compile time). The worker
//!   runs the same executable, so the client sends the offset of a
//!   function monomorphized for the closure, argument and result types;
//!   arguments and results travel as `serde` + `postcard` bytes.
//! - **The zygote** is your program started again with a role in its
//!   environment. A constructor that runs before `main` sees the role and
//!   diverts into the zygote loop, so none of your code, threads or locks
//!   exist there, and forking it is safe. Workers are its children: each
//!   costs a `fork`, not a fresh start of the program, and they share what
//!   [`preload`](PoolBuilder::preload) loaded.
//! - **The supervisor thread** owns every process and descriptor of the
//!   pool. Your threads hand jobs over through an inbox and wait on a
//!   per-task slot.
//! - **The direct path.** One task at a time would take four hops (your
//!   thread, the supervisor, the worker, the supervisor, your thread). So
//!   when the pool is idle the supervisor lends one idle worker: `submit`
//!   writes the task to that worker's socket itself and `join` reads the
//!   result from it, a two-party round trip like a bare socketpair's. The
//!   hand-off is published in the pool's shared state first, and the
//!   supervisor adopts it into its books whenever it wakes (at once for a
//!   task with a timeout; before it settles a worker's death; on an abort
//!   or a stop), so every rule below holds for such a task too. Any other
//!   work takes the worker back ([`PoolStats::direct`] counts the tasks
//!   that went directly; `src/supervisor/README.md` has the design).
//! - **Each worker shares a status page** (a sealed `memfd`) with the
//!   supervisor and stamps each item as it starts and ends. That is how a
//!   timeout is measured, and how, when a worker dies, the supervisor knows
//!   exactly which task was running (it fails), and which were merely
//!   queued there (they go to another worker).
//! - **The data path.** Arguments and results are `postcard` bytes in
//!   length-prefixed frames on each worker's socket; small ones are batched
//!   several to a frame. An encoding larger than 256 KiB is written
//!   straight into a sealed `memfd` instead, whose descriptor travels
//!   beside the frame (`SCM_RIGHTS`); the receiver maps it and decodes from
//!   the mapping, so no socket buffer sits in the way. The sender keeps
//!   such memfds for a few seconds and writes the next large item into the
//!   same pages once every receiver is done with them, so that large
//!   payloads sent again and again cost one copy each way rather than a
//!   fresh page every 4 KiB (`src/shm/README.md`, "Lanes"). [`SharedBytes`] and
//!   [`SharedSlice`] go further: their bytes already live in a sealed
//!   memfd, and only the descriptor crosses, whatever the size; both sides
//!   map the same memory read-only. Received descriptors are checked
//!   (a memfd, sealed against resizing and writing, of the announced size)
//!   before anything is mapped: a bad one fails its task with
//!   [`TaskError::Codec`]. Each received buffer takes a descriptor in the
//!   receiver: one that is at its open-files limit still gets every byte,
//!   but the kernel drops the descriptors that do not fit (`MSG_CTRUNC`);
//!   the frame reader keeps every descriptor in its place, so only the
//!   items that lost one fail, saying so, and nothing shifts between items
//!   (`src/ipc/lost.rs`). Memfds have no name anywhere, so nothing is left
//!   in `/dev/shm` or elsewhere, even after a `SIGKILL`: the kernel frees
//!   them with their last descriptor or mapping.
//! - **Streams and credits.** [`Pool::stream`] runs a generator in a
//!   worker. The worker writes each item into a ring of shared memory (a
//!   memfd the caller made and both map) and publishes it with one store
//!   before it asks the generator for the next, so no item costs a system
//!   call, none is held back while the generator is busy, and none is lost
//!   if the worker dies: the caller holds its own mapping. Credits bound
//!   how far the worker runs ahead (65,536 items, 1 MiB of ring, 16 MiB of
//!   larger items): past them it sleeps until the caller has taken half
//!   back, and that wait is not timed. Each side sleeps only after saying
//!   so in the ring, and the other wakes it: the worker wakes a caller
//!   blocked in `next` through a futex in the ring (an async caller
//!   through the supervisor), the caller wakes the worker with an
//!   `eventfd`. Items holding
//!   descriptors (or over 64 KiB) travel as frames with their descriptors,
//!   a marker keeping their place in the ring. A stream holds its worker
//!   until it ends; cancelling it is a mark on the status page (looked at
//!   between items) and a `CANCEL` frame. `src/stream/README.md` has the
//!   design.
//! - **Nothing outlives the pool.** Each worker is its own process group
//!   and dies with the zygote (`PR_SET_PDEATHSIG`); the zygote watches the
//!   client through a pidfd and, when the client dies however it dies,
//!   kills every worker's group and exits. Processes are reaped through
//!   pidfds, never by a pid that could have been reused.
//!
//! # Control over running work
//!
//! - [`Task::abort`] ends a task wherever it is: queued, it is cancelled;
//!   running, its worker and the worker's whole process group are killed
//!   and replaced, and no other task is touched.
//! - [`Pool::task`] sets a timeout or a memory limit for some tasks only
//!   ([`TaskOptions`]); the error names that value.
//! - [`PoolBuilder::timeout_grace`]: a timed-out task's process group gets
//!   `SIGTERM` and time to clean up before `SIGKILL`.
//! - [`PoolBuilder::recycle_above`]: a worker that has grown past a size is
//!   replaced between tasks, failing nothing (where `memory_limit` fails
//!   the task that crosses it).
//! - [`Pool::stats`] counts what happened ([`PoolStats`]); with the
//!   `tracing` feature the pool also emits events (target `forkpool`) for
//!   workers starting, exiting, crashing and being recycled, timeouts and
//!   aborts.
//!
//! ```
//! use std::time::Duration;
//! use forkpool::{Pool, TaskError};
//!
//! let pool = Pool::builder().workers(2).timeout_grace(Duration::from_millis(200)).build()?;
//! let slow = pool.task().timeout(Duration::from_secs(5)).submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 60_000);
//! std::thread::sleep(Duration::from_millis(50));
//! assert!(slow.abort());
//! assert_eq!(slow.join(), Err(TaskError::Cancelled));
//! assert_eq!(pool.stats().aborted, 1);
//! # Ok::<(), forkpool::Error>(())
//! ```
//!
//! # Least privilege
//!
//! By default a worker runs with everything your process has: its user,
//! its groups, its capabilities, its limits, its files and its network.
//! For code you do not trust, or input that may be hostile, a worker can
//! give most of that up before it runs any of your code:
//!
//! ```no_run
//! use forkpool::{Pool, Rlimit, Sandbox};
//!
//! let pool = Pool::builder()
//!     .run_as(65534, 65534)                // needs root; the client keeps its ids
//!     .rlimit(Rlimit::CpuSeconds(60))      // per task
//!     .rlimit(Rlimit::OpenFiles(256))
//!     .rlimit(Rlimit::CoreSize(0))
//!     .sandbox(Sandbox::new().read_only("/usr").read_write("/tmp/out").no_network())
//!     .build()?;
//! # Ok::<(), forkpool::Error>(())
//! ```
//!
//! - [`run_as(uid, gid)`](PoolBuilder::run_as): the worker clears its
//!   supplementary groups, then sets its real, effective *and saved* group
//!   id, then user id. With the saved id gone too, nothing a task does
//!   (`setuid(0)`, `setresuid(0, 0, 0)`) brings the old ids back, and a
//!   non-root uid loses every capability. Needs root (`CAP_SETUID`,
//!   `CAP_SETGID`, and `CAP_KILL` to stop workers of another user);
//!   `build()` says so with [`ErrorKind::LeastPrivilege`] otherwise.
//! - [`no_new_privileges`](PoolBuilder::no_new_privileges):
//!   `PR_SET_NO_NEW_PRIVS`, so that no program a task executes gains
//!   privileges (set-user-id binaries, file capabilities). On by default
//!   with `run_as` or a sandbox, off otherwise.
//! - [`rlimit`](PoolBuilder::rlimit): CPU seconds (per task), open files,
//!   file size, processes, core size; see [`Rlimit`]. Limits only tighten:
//!   never above the hard limits your process has.
//! - [`sandbox`](PoolBuilder::sandbox): Landlock rules, an allow-list of
//!   paths to read and to write, and optionally no TCP. `build()` fails on
//!   a kernel that cannot enforce the whole sandbox, unless it is
//!   [`best_effort`](Sandbox::best_effort);
//!   [`Sandbox::unenforceable`] lists what this kernel would drop.
//!
//! **Who does what.** Your process only checks the settings; it never
//! changes its own ids, limits or Landlock domain. The zygote keeps your
//! ids too, so that it can go on forking. Each worker confines itself,
//! with either start method, before `worker_init` and every task (which
//! therefore run confined; `preload` runs before, unconfined, in the zygote
//! or in an exec-started worker), in this order:
//!
//! 1. it opens what it will need and could not open afterwards: the
//!    sandbox's paths (with your ids, so a path you can name works), and
//!    the few `/proc` files the worker reads itself;
//! 2. groups, group id, user id; then it reads them back and checks
//!    every one, capabilities included;
//! 3. the id change cleared `PR_SET_PDEATHSIG`: it sets it again and
//!    checks its parent, so that the worker still dies with the pool;
//! 4. resource limits;
//! 5. `no_new_privs`, then Landlock.
//!
//! Anything that does not take ends that worker's start: `build()` fails
//! with the reason, and later tasks end with
//! [`TaskError::WorkerStartFailed`]. A worker never runs with less than
//! was asked for. Its environment is still yours: a worker that runs as
//! another user sees your `HOME` and `TMPDIR`, so point `TMPDIR` at a
//! directory that user may write (and the sandbox allows) if tasks make
//! temporary files. All of this runs in a single-threaded process (a worker
//! just forked from the zygote, or just executed), where any code may run
//! after `fork`; the client's own `fork`-to-`exec` path is unchanged.
//!
//! **What it does not protect against.**
//! - The channel to the pool. A compromised worker still holds its socket
//!   and status page: it can send wrong results for the tasks it is given,
//!   or nonsense (a protocol error for that worker, never a crash of your
//!   process), and could rewrite its status page so that `task_timeout`
//!   misjudges its tasks. Limits the kernel enforces (`memory_limit`, `rlimit`,
//!   Landlock, the ids) hold regardless.
//! - What the worker already has: descriptors `preload` opened, and
//!   memory. A zygote-forked worker is a copy of the zygote, so what
//!   `preload` loaded is readable by every task; so is the environment
//!   the pool inherited from your process.
//! - Other processes of the same user. Tasks of every pool that runs as
//!   `nobody` can signal one another (and other `nobody` processes):
//!   give each pool a user of its own. Workers that changed ids are not
//!   dumpable (no core dumps, no `ptrace` by that user).
//! - What Landlock does not cover: UDP, Unix sockets, signals, reading
//!   `/proc` beneath an allowed path, `ioctl` on descriptors already open,
//!   and the kernel's own attack surface (there is no seccomp filter).
//! - Without `run_as`, a root worker stays root: it can undo its limits
//!   and reach anything Landlock does not cover.
//!
//! # Task output
//!
//! By default workers write to your process's stdout and stderr, like
//! threads would ([`TaskOutput::Inherit`], which costs nothing). With
//! [`TaskOutput::Tagged`] each line comes out whole with its task's tag in
//! front; with [`TaskOutput::Capture`] each task's output comes back with
//! its result ([`Task::join_captured`], [`Map::captured`]):
//!
//! ```
//! use forkpool::{Pool, TaskError, TaskOutput};
//!
//! let pool = Pool::builder().workers(2).task_output(TaskOutput::Capture).build()?;
//! let task = pool.submit(|n: u32| -> u32 { println!("step 1 of {n}"); panic!("step 2 failed") }, 2);
//! let done = task.join_captured();
//! assert_eq!(done.stdout, b"step 1 of 2\n");
//! let Err(TaskError::Panicked { message, location, .. }) = done.result else { unreachable!() };
//! assert_eq!(message, "step 2 failed");
//! println!("it panicked at {}", location.unwrap()); // file:line:column
//! # Ok::<(), forkpool::Error>(())
//! ```
//!
//! How output is attributed: each worker's stdout and stderr are then
//! pipes that only the supervisor reads. A pipe cannot carry markers a
//! task could not forge, so the worker says whose bytes are whose by
//! *position*: when an item ends, it flushes Rust's and C's stdout buffers
//! and counts the bytes ever written to each pipe (what the supervisor has
//! read, from the status page, plus what is still in the pipe), and sends
//! that count ahead of the item's result. An item that wrote anything has
//! its result sent before the next item starts, so each count ends exactly
//! one item's output. Bytes past the last count belong to the item the
//! status page says is running, once no count is on its way; and what a
//! worker wrote before it crashed or was killed for its timeout is still
//! in its pipes when it dies, and goes to the item it was running. A
//! separate thread prints tagged lines, so a slow terminal never holds up
//! the supervisor; a task's result waits for the lines before it, so they
//! are out before `join` returns.
//!
//! This is exact for what the task's thread writes (through Rust, C's
//! stdio or raw `write(2)`) and for the output of child processes it waits
//! for. Output from threads or processes the task leaves running is
//! attributed by when it arrives: to the task running then (or, between
//! tasks, to the next one; `[worker PID]` when no task is left to blame).
//! `src/supervisor/output/README.md` has the details, and what it costs.
//!
//! # Many machines
//!
//! With the `cluster` feature (on by default), the same typed tasks run on
//! many machines through a Redis server, each machine running them in its
//! own pool like this one. A function marked [`#[forkpool::remote]`](remote)
//! gets a stable name and a hash of its argument and result types'
//! serialized shape; a
//! [`Cluster`](cluster::Cluster) client submits it by that name (never by
//! code address) and gets the same [`Task`] and the same [`TaskError`]s
//! back, plus [`NodeLost`](TaskError::NodeLost),
//! [`Unsupported`](TaskError::Unsupported),
//! [`BrokerLost`](TaskError::BrokerLost) and
//! [`ClientStopped`](TaskError::ClientStopped); the same program serves as a
//! [`Node`](cluster::Node) with one call:
//!
//! ```no_run
//! # use std::time::Duration;
//! #[forkpool::remote]
//! fn square(x: u64) -> u64 { x * x }
//!
//! # fn main() -> Result<(), forkpool::Error> {
//! let url = "redis://app:secret@10.0.0.5:6379/0";
//! if std::env::args().any(|a| a == "--node") {
//!     return forkpool::cluster::Node::builder(url).workers(8).run(); // until SIGTERM
//! }
//! let cluster = forkpool::cluster::Cluster::builder(url)
//!     .task_timeout(Duration::from_secs(300))
//!     .build()?;
//! assert_eq!(cluster.submit(square, 7).join(), Ok(49));
//! # Ok(())
//! # }
//! ```
//!
//! Every task still ends exactly once, and a crash on a node is never
//! retried; see [`cluster`] for the protocol, the least-privilege ACL, and
//! what happens when a node or the broker goes away. The `tls` feature adds
//! `rediss://` URLs.
//!
//! # Caveats
//!
//! - Linux only, 5.4 or later (pidfds and `waitid(P_PIDFD)`).
//! - The pool must live in the program's executable, not in a shared
//!   library: workers re-execute `/proc/self/exe`. They are diverted by a
//!   constructor before `main`; constructors of other crates that happen
//!   to run after forkpool's do not run in workers.
//! - The channel to the workers is private to the processes the pool
//!   created; it is not a security boundary against your own program.
//!   Task code runs with your privileges unless you confine the workers
//!   (see [Least privilege](#least-privilege)), and even then the channel
//!   trusts the worker for the results of the tasks it runs.
//! - A task must capture nothing. The check runs when the code is built
//!   (`cargo build`, `cargo test`), not in `cargo check`; and a closure
//!   that captures only zero-sized values passes it, the values being
//!   recreated in the worker (so do not capture zero-sized tokens whose
//!   existence means something).
//! - `preload` must not leave threads running (the zygote must stay
//!   single-threaded to fork). Start threads in `worker_init`.
//! - `submit` runs a task at most once: a task that started on a worker
//!   that then died is never run again (it fails). So does `stream`. A `map` item whose
//!   worker died part-way through its chunk may run again (see
//!   [`Pool::map`]).
//! - An open [`TaskStream`] holds a worker until it ends or is dropped:
//!   in a pool of one worker, tasks submitted meanwhile wait for it (and a
//!   consumer that waits for such a task before reading on waits forever).
//!   A generator stuck inside `next()` when its stream is dropped has a
//!   second to come back before its worker is killed and replaced.
//!   `Rlimit::CpuSeconds` counts a stream as one task: an endless stream
//!   runs out of it eventually.
//! - `memory_limit` (`RLIMIT_DATA`) counts private memory only: the
//!   shared memory of [`SharedBytes`] (and of large arguments in transit)
//!   is not counted. What a task allocates from it is.
//! - Each distinct [`SharedBytes`] held open costs one file descriptor in
//!   each process holding it, within its `RLIMIT_NOFILE` (`ulimit -n`),
//!   which the pool never raises. A result, a stream item or an argument
//!   whose buffers the receiving process has no room for fails alone, with
//!   [`TaskError::Codec`] naming the process, the limit and the fix; a
//!   stream goes on with its next items (see [`SharedBytes`], "One open
//!   file each").
//! - `memory_limit` relies on `RLIMIT_DATA`. An abort right after a failed
//!   allocation is reported as `MemoryLimitExceeded` (the failed `mmap`'s
//!   `ENOMEM` is still in errno); so is a task that handled an allocation
//!   failure and then aborted for another reason. A worker with a limit
//!   moves `RUST_BACKTRACE` to `RUST_LIB_BACKTRACE`, so that Rust's
//!   allocation-failure message does not hide the errno while
//!   `std::backtrace` behaves as before.
//! - Workers of the exec start method are children of your process: code
//!   that reaps every child (`waitpid(-1)`, or `SIGCHLD` set to `SIG_IGN`)
//!   takes their exit statuses, and crashes are then reported as
//!   `Crashed` with neither signal nor code. The zygote start method (the
//!   default) is not affected.
//! - With `Tagged` or `Capture` output, a task sees pipes as its stdout
//!   and stderr (not your terminal), C's `stdout` is line-buffered, and
//!   the tagged lines are written to descriptors 1 and 2 directly, not
//!   through Rust's `Stdout` (so a thread of yours may hold its lock while
//!   waiting for a task). A task blocked on a full pipe (the printer
//!   waiting on a slow terminal) counts against its `task_timeout`, as it
//!   would with `Inherit`, and `shutdown` waits for the printer to write
//!   what it holds.
//! - A panic's backtrace is carried in [`TaskError::Panicked`] when
//!   `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) asks for one in the
//!   environment the pool was built in; with `panic = "abort"` it is cut
//!   to fit the status page (about 1.9 KiB, shared with the message).
//! - A task that detaches a process with `setsid` escapes its worker's
//!   process group; with the zygote start method such processes are still
//!   killed when any worker dies (they cannot be traced to theirs) and when
//!   the pool ends (the zygote is a subreaper).

#![deny(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

// `#[forkpool::remote]`'s expansion names `::forkpool`; this lets the
// crate's own tests use it.
#[cfg(all(test, feature = "cluster"))]
#[allow(unused_extern_crates)]
extern crate self as forkpool;

mod builder;
mod call;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod command;
mod confine;
mod error;
mod guardian;
mod ipc;
/// Fuzzing entry points (the `fuzzing` feature; not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use ipc::fuzz;
mod map;
mod options;
mod output;
mod pool;
mod shm;
mod slot;
mod stats;
mod stream;
mod supervisor;
mod sys;
mod task;
mod window;
mod worker;

pub use builder::{DEFAULT_MAX_MESSAGE_SIZE, PoolBuilder, StartMethod};
pub use confine::{Rlimit, Sandbox};
pub use error::{Error, ErrorKind, TaskError};
pub use map::{CapturedMap, Map};
pub use options::TaskOptions;
pub use output::{Captured, DEFAULT_CAPTURE_LIMIT, TaskOutput};
pub use pool::Pool;
pub use shm::{SharedBytes, SharedBytesMut, SharedSlice, SharedSliceMut};
pub use stats::PoolStats;
pub use stream::TaskStream;
pub use sys::exit::ExitReason;
pub use sys::signal::signal_name;
pub use task::{AsCompleted, Task, as_completed};

/// Registers a function for the machines of a [`cluster`]: see
/// [`cluster`] for what it is for.
///
/// ```
/// #[forkpool::remote]                          // named `my_crate::module::square`
/// fn square(x: u64) -> u64 { x * x }
///
/// #[forkpool::remote(name = "images.resize.v2")] // a name of your own
/// fn resize(job: (u32, u32)) -> u64 { u64::from(job.0 * job.1) }
///
/// assert_eq!(square(3), 9); // still an ordinary function
/// ```
///
/// The function must be a plain, non-generic, non-async `fn` with exactly
/// one argument (a tuple or a struct carries several; `_: ()` none), whose
/// argument and result implement `serde`'s `Serialize` and
/// `DeserializeOwned`. The registration is gathered at link time: no call
/// is needed to make it known.
#[cfg(feature = "cluster")]
pub use forkpool_macros::remote;

/// What `#[forkpool::remote]`'s expansion names. Not a public API.
#[cfg(feature = "cluster")]
#[doc(hidden)]
pub mod __private {
    pub use crate::cluster::registry::{Descriptor, REMOTE_FNS, Registration, describe};
    pub use linkme;
}

/// The README's example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;
