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
//!   exist there, and forking it is safe. Workers are its children: they
//!   start in well under a millisecond and share what
//!   [`preload`](PoolBuilder::preload) loaded.
//! - **The supervisor thread** owns every process and descriptor of the
//!   pool. Your threads never touch a worker; they hand jobs over through
//!   an inbox and wait on a per-task slot.
//! - **Each worker shares a status page** (a sealed `memfd`) with the
//!   supervisor and stamps each item as it starts and ends. That is how a
//!   timeout is measured, and how, when a worker dies, the supervisor knows
//!   exactly which task was running (it fails), and which were merely
//!   queued there (they go to another worker).
//! - **Nothing outlives the pool.** Each worker is its own process group
//!   and dies with the zygote (`PR_SET_PDEATHSIG`); the zygote watches the
//!   client through a pidfd and, when the client dies however it dies,
//!   kills every worker's group and exits. Processes are reaped through
//!   pidfds, never by a pid that could have been reused.
//!
//! # Caveats
//!
//! - Linux only, 5.4 or later (pidfds and `waitid(P_PIDFD)`).
//! - The pool must live in the program's executable, not in a shared
//!   library: workers re-execute `/proc/self/exe`.
//! - The channel to the workers is private to the processes the pool
//!   created; it is not a security boundary against your own program.
//!   Task code runs with your privileges.
//! - `preload` must not leave threads running (the zygote must stay
//!   single-threaded to fork). Start threads in `worker_init`.
//! - A `map` item whose worker died part-way through its chunk may run
//!   again (see [`Pool::map`]); `submit` runs each task at most once.
//! - `memory_limit` relies on `RLIMIT_DATA`; a worker with a limit moves
//!   `RUST_BACKTRACE` to `RUST_LIB_BACKTRACE`, so that the allocation
//!   failure stays recognisable while `std::backtrace` behaves as before.
//! - If the program sets `SIGCHLD` to `SIG_IGN`, exit statuses of exec-started
//!   workers are lost (the kernel reaps them); crashes are then reported
//!   without a signal.

#![deny(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod builder;
mod call;
pub mod command;
mod error;
mod ipc;
mod map;
mod pool;
mod slot;
mod supervisor;
mod sys;
mod task;
mod worker;

pub use builder::{DEFAULT_MAX_MESSAGE_SIZE, PoolBuilder, StartMethod};
pub use error::{Error, ErrorKind, TaskError};
pub use map::Map;
pub use pool::Pool;
pub use sys::exit::ExitReason;
pub use sys::signal::signal_name;
pub use task::{AsCompleted, Task, as_completed};

/// The README's example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;
