//! Where a task's standard output and error go: [`TaskOutput`], and what
//! [`Task::join_captured`](crate::Task::join_captured) hands back,
//! [`Captured`].
//!
//! How bytes are attributed to the task that wrote them is explained in the
//! crate docs ("Task output") and in `supervisor/output/README.md`.

use crate::error::TaskError;

/// The default bound on what [`TaskOutput::Capture`] keeps of each stream of
/// each task: 1 MiB. See [`PoolBuilder::capture_limit`](crate::PoolBuilder::capture_limit).
pub const DEFAULT_CAPTURE_LIMIT: usize = 1 << 20;

/// What becomes of what tasks write to their standard output and error;
/// see [`PoolBuilder::task_output`](crate::PoolBuilder::task_output).
///
/// ```
/// use forkpool::{Pool, TaskOutput};
///
/// let pool = Pool::builder().workers(2).task_output(TaskOutput::Capture).build()?;
/// let task = pool.submit(|n: u32| { println!("working on {n}"); n * 2 }, 21);
/// let done = task.join_captured();
/// assert_eq!(done.result, Ok(42));
/// assert_eq!(done.stdout, b"working on 21\n");
/// # Ok::<(), forkpool::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TaskOutput {
    /// Workers write straight to your process's standard output and error,
    /// as if the tasks ran in your process: lines of concurrent tasks mix,
    /// and nothing says which task wrote what. Costs nothing. The default.
    #[default]
    Inherit,
    /// Every line a task writes is written to your process's standard
    /// output (or error, whichever the task wrote to) with the task's tag
    /// in front: `[task 17] ` for the task whose
    /// [`Task::id`](crate::Task::id) is 17, `[task 5.3] ` for the item at
    /// input position 3 (from 0) of the `map` whose
    /// [`Map::id`](crate::Map::id) is 5.
    ///
    /// Only whole lines are written, each on its own, so two tasks' bytes
    /// never share a line. A task's last line that has no newline gets one
    /// when the task ends (crash and timeout included); a line longer than
    /// 64 KiB is cut into tagged pieces of that size. Lines stream as the
    /// task writes them, and all of a task's lines have been written
    /// before [`Task::join`](crate::Task::join) returns its result.
    /// Output no task can be blamed for (written by `worker_init`, or by a
    /// process a task left running after it ended and no other task ran)
    /// is tagged `[worker PID] `. (`preload` runs in the zygote, which
    /// writes to your streams directly; with
    /// [`StartMethod::Exec`](crate::StartMethod::Exec) it runs in each
    /// worker and is tagged as the worker's.)
    ///
    /// The lines are written to descriptors 1 and 2 directly (not through
    /// Rust's `Stdout`, whose lock a thread of yours may hold while it
    /// waits for a task). Your own program's output is not tagged; if it
    /// leaves a line unfinished on the terminal (`print!` and a flush
    /// without a newline), a task's line may follow it on that line.
    Tagged,
    /// Each task's output is collected (the last
    /// [`capture_limit`](crate::PoolBuilder::capture_limit) bytes of each
    /// stream) and handed back by
    /// [`Task::join_captured`](crate::Task::join_captured), or for `map` by
    /// [`Map::captured`](crate::Map::captured); plain `join` and `map`
    /// discard it. Output no task can be blamed for is written tagged, as
    /// with [`Tagged`](TaskOutput::Tagged).
    Capture,
}

/// A task's result with what it wrote; see
/// [`Task::join_captured`](crate::Task::join_captured).
///
/// Under [`TaskOutput::Capture`] `stdout` and `stderr` hold what the task
/// wrote (its last [`capture_limit`](crate::PoolBuilder::capture_limit)
/// bytes of each), including whatever it wrote before it crashed or was
/// killed for its timeout. Under the other modes they are empty: the
/// output went to your process's streams.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Captured<R> {
    /// The task's result, as [`Task::join`](crate::Task::join) gives it.
    pub result: Result<R, TaskError>,
    /// What the task wrote to its standard output.
    pub stdout: Vec<u8>,
    /// What the task wrote to its standard error.
    pub stderr: Vec<u8>,
    /// Bytes of standard output that did not fit the capture limit: the
    /// first ones were dropped, `stdout` is the end.
    pub stdout_dropped: u64,
    /// The same for standard error.
    pub stderr_dropped: u64,
}

impl<R> Captured<R> {
    pub(crate) fn new(result: Result<R, TaskError>, output: ItemOutput) -> Captured<R> {
        Captured {
            result,
            stdout: output.stdout,
            stderr: output.stderr,
            stdout_dropped: output.stdout_dropped,
            stderr_dropped: output.stderr_dropped,
        }
    }
}

/// What one item wrote, as the supervisor collected it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ItemOutput {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) stdout_dropped: u64,
    pub(crate) stderr_dropped: u64,
}

impl ItemOutput {
    /// Adds `more` after what is here (an item that ran twice).
    pub(crate) fn append(&mut self, more: ItemOutput) {
        self.stdout.extend_from_slice(&more.stdout);
        self.stderr.extend_from_slice(&more.stderr);
        self.stdout_dropped += more.stdout_dropped;
        self.stderr_dropped += more.stderr_dropped;
    }
}
