//! Handles to submitted tasks.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::error::TaskError;
use crate::output::Captured;
use crate::slot::{Notifier, Slot};
use crate::supervisor::Shared;

/// A task running (or queued to run) in the pool, that will produce an `R`.
///
/// Wait for it with [`join`](Task::join), with a deadline
/// ([`wait_timeout`](Task::wait_timeout)), or `.await` it from any async
/// runtime: `Task` is a [`Future`]. Dropping a `Task` does not cancel it;
/// its result is discarded.
///
/// ```
/// let pool = forkpool::Pool::builder().workers(1).build()?;
/// let task = pool.submit(|s: String| s.len(), "four".to_string());
/// assert_eq!(task.join(), Ok(4));
/// # Ok::<(), forkpool::Error>(())
/// ```
#[must_use = "a task's result is lost unless it is joined or awaited"]
pub struct Task<R> {
    slot: Arc<Slot>,
    /// Told when `abort` needs a worker killed; weak, so that a task kept
    /// after its pool holds nothing of the pool. `None`: a cluster's task.
    /// (When `submit` wrote the task straight to a lent worker, the slot
    /// has the job id: `join` reads its result from that worker itself,
    /// see `supervisor/lease.rs`.)
    pool: Option<Weak<Shared>>,
    /// A cluster's task: its client, told of an abort (it forgets the task
    /// and tells the node running it), and the task's number there. Boxed:
    /// a handle stays three words, as a submit-all keeps thousands.
    #[cfg(feature = "cluster")]
    remote: Option<Box<(Weak<dyn RemoteAbort>, u64)>>,
    result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Task<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.slot.label().id)
            .field("finished", &self.slot.is_finished())
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> Task<R> {
    pub(crate) fn new(slot: Arc<Slot>, pool: Weak<Shared>) -> Task<R> {
        Task {
            slot,
            pool: Some(pool),
            #[cfg(feature = "cluster")]
            remote: None,
            result: PhantomData,
        }
    }

    /// A task of the direct path: reads its result from its worker.
    fn drive(&self) {
        if let Some(id) = self.slot.direct()
            && !self.slot.is_finished()
            && let Some(pool) = self.pool.as_ref().and_then(Weak::upgrade)
        {
            pool.lease.drive(id, &self.slot, || pool.wake());
        }
    }

    /// A task of the direct path whose result is already in its worker's
    /// socket has finished: takes it, without waiting, so that whoever
    /// asks whether the task ended (`is_finished`, `abort`, a poll...)
    /// sees it. The supervisor reads sockets only when it wakes, which
    /// it need not do for a direct task.
    fn peek(&self) {
        if let Some(id) = self.slot.direct()
            && !self.slot.is_finished()
            && let Some(pool) = self.pool.as_ref().and_then(Weak::upgrade)
        {
            pool.lease.peek(id, &self.slot, || pool.wake());
        }
    }

    /// A task of the direct path whose holder waits some other way than
    /// `join`: takes its result if it is there (`peek`), and otherwise
    /// has the supervisor read it.
    fn release(&self) {
        self.peek();
        if let Some(id) = self.slot.direct()
            && !self.slot.is_finished()
            && let Some(pool) = self.pool.as_ref().and_then(Weak::upgrade)
        {
            pool.lease.release(id, || pool.wake());
        }
    }

    /// A task sent to a cluster (`forkpool::cluster`).
    #[cfg(feature = "cluster")]
    pub(crate) fn remote(slot: Arc<Slot>, client: Option<(Weak<dyn RemoteAbort>, u64)>) -> Task<R> {
        Task {
            slot,
            pool: None,
            remote: client.map(Box::new),
            result: PhantomData,
        }
    }

    /// Waits for the task and returns its result.
    ///
    /// # Panics
    ///
    /// If the task was already polled to completion as a future (its
    /// result was handed out there).
    pub fn join(self) -> Result<R, TaskError> {
        self.drive();
        self.slot.wait(None);
        self.take()
    }

    /// Waits for the task and returns its result together with what it
    /// wrote to stdout and stderr, when the pool captures output
    /// ([`TaskOutput::Capture`](crate::TaskOutput::Capture)). Under the other
    /// modes the output went to your process's streams, and the vectors
    /// are empty.
    ///
    /// Output written before a crash, an abort or a timeout kill is kept:
    ///
    /// ```
    /// use forkpool::{Pool, TaskError, TaskOutput};
    ///
    /// let pool = Pool::builder().workers(1).task_output(TaskOutput::Capture).build()?;
    /// let task = pool.submit(|_: ()| -> u8 { eprintln!("giving up"); std::process::abort() }, ());
    /// let done = task.join_captured();
    /// assert!(matches!(done.result, Err(TaskError::Crashed { signal: Some(6), .. })));
    /// assert_eq!(done.stderr, b"giving up\n");
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If the task was already polled to completion as a future.
    pub fn join_captured(self) -> Captured<R> {
        self.drive();
        self.slot.wait(None);
        match self.slot.take() {
            Some(mut outcome) => {
                let output = outcome.take_outputs(1).pop().unwrap_or_default();
                Captured::new(outcome.decode_one(), output)
            }
            None => panic!("forkpool: Task::join_captured after the task was polled to completion as a future"),
        }
    }

    /// This task's id, unique in the process. Under
    /// [`TaskOutput::Tagged`](crate::TaskOutput::Tagged) each line the task
    /// writes is tagged `[task ID] `.
    pub fn id(&self) -> u64 {
        self.slot.label().id
    }

    /// Waits at most `timeout`; returns whether the task has finished.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.release();
        self.slot.wait(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline`; returns whether the task has finished.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.release();
        self.slot.wait(Some(deadline))
    }

    /// Waits at most `timeout` for the result; gives the task back if it
    /// has not finished.
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<R, TaskError>, Task<R>> {
        if self.wait_timeout(timeout) {
            Ok(self.take())
        } else {
            Err(self)
        }
    }

    /// Whether the task has finished (with a result or an error).
    pub fn is_finished(&self) -> bool {
        self.release();
        self.slot.is_finished()
    }

    /// Cancels the task if no worker has been handed it yet. Returns `true`
    /// when it had not started and now never will (it then ends with
    /// [`TaskError::Cancelled`]); `false` when it is running, queued at a
    /// worker, or finished.
    pub fn cancel(&self) -> bool {
        // A direct task is never cancellable (a worker has it), but its
        // result is taken if it is there, as for any question asked.
        self.peek();
        self.slot.cancel()
    }

    /// Ends the task as [`TaskError::Cancelled`] wherever it is. A queued
    /// task is cancelled (as [`cancel`](Task::cancel)); a running task's
    /// worker is killed, with its whole process group (so what the task
    /// started dies with it), and replaced; no other task is touched. The
    /// task ends at once: `join` returns without waiting for the kill.
    ///
    /// Returns `false` if the task had already ended (with its result, an
    /// error, or an earlier abort). When the task finishes on its own at
    /// the same moment, it ends exactly once, either way: with its result
    /// and `false`, or `Cancelled` and `true`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use forkpool::{Pool, TaskError};
    ///
    /// let pool = Pool::builder().workers(1).build()?;
    /// let task = pool.submit(|_: ()| -> u8 { loop { std::thread::park() } }, ());
    /// std::thread::sleep(Duration::from_millis(100)); // let it start
    /// assert!(task.abort());
    /// assert_eq!(task.join(), Err(TaskError::Cancelled));
    /// // The pool replaced the worker.
    /// assert_eq!(pool.submit(|x: u8| x + 1, 1).join(), Ok(2));
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    ///
    /// A cluster's task (`forkpool::cluster`) ends `Cancelled` at once
    /// too; the node running it, told through the broker within a quarter
    /// of the cluster's `node_timeout` (at most a second), kills its
    /// worker's process group and drops the result, and a node that has
    /// not started it yet skips it.
    pub fn abort(&self) -> bool {
        #[cfg(feature = "cluster")]
        if let Some(remote) = &self.remote {
            let (client, task) = &**remote;
            return match self.slot.abort() {
                None => false,
                Some(_) => {
                    if let Some(client) = client.upgrade() {
                        client.aborted(*task);
                    }
                    true
                }
            };
        }
        let Some(pool) = &self.pool else {
            return false;
        };
        // A direct task whose result has come has ended: it keeps it.
        // (Should it come right after, the slot's lock decides: the task
        // ends once, either way.)
        self.peek();
        match self.slot.abort() {
            None => false,
            Some(false) => true,
            Some(true) => {
                if let Some(pool) = pool.upgrade() {
                    pool.note_aborted();
                }
                true
            }
        }
    }

    fn take(&self) -> Result<R, TaskError> {
        match self.slot.take() {
            Some(outcome) => outcome.decode_one(),
            None => panic!("forkpool: Task::join after the task was polled to completion as a future"),
        }
    }
}

impl<R: DeserializeOwned> Future for Task<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.release();
        match self.slot.poll_take(cx) {
            Poll::Ready(Some(outcome)) => Poll::Ready(outcome.decode_one()),
            Poll::Ready(None) => panic!("forkpool: Task polled after it completed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What a cluster client does when one of its tasks is aborted.
#[cfg(feature = "cluster")]
pub(crate) trait RemoteAbort: Send + Sync {
    /// Task `task` was ended by `Task::abort`.
    fn aborted(&self, task: u64);
}

/// Yields tasks' results as they finish, like Python's `as_completed`.
///
/// Each item is `(index, result)`, `index` being the task's position in
/// the input. The first `next()` is "wait for the first of these to finish".
///
/// ```
/// use std::time::Duration;
///
/// let pool = forkpool::Pool::builder().workers(2).build()?;
/// let slow = pool.submit(|ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms }, 300);
/// let fast = pool.submit(|ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms }, 1);
/// let mut done = forkpool::as_completed([slow, fast]);
/// assert_eq!(done.next(), Some((1, Ok(1))));
/// assert_eq!(done.next(), Some((0, Ok(300))));
/// assert_eq!(done.next(), None);
/// # Ok::<(), forkpool::Error>(())
/// ```
pub fn as_completed<R: DeserializeOwned>(tasks: impl IntoIterator<Item = Task<R>>) -> AsCompleted<R> {
    let notifier = Arc::new(Notifier::default());
    let tasks: Vec<Option<Task<R>>> = tasks.into_iter().map(Some).collect();
    for (index, task) in tasks.iter().enumerate() {
        if let Some(task) = task {
            task.release();
            task.slot.listen(notifier.clone(), index);
        }
    }
    AsCompleted {
        remaining: tasks.len(),
        tasks,
        notifier,
    }
}

/// See [`as_completed`].
pub struct AsCompleted<R> {
    tasks: Vec<Option<Task<R>>>,
    notifier: Arc<Notifier>,
    remaining: usize,
}

impl<R> fmt::Debug for AsCompleted<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> AsCompleted<R> {
    /// Like `next`, but waits at most `timeout`. `None` when nothing
    /// finished in time, or nothing remains (see [`len`](Self::len)).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<(usize, Result<R, TaskError>)> {
        self.next_by(Instant::now().checked_add(timeout))
    }

    /// How many tasks have not been yielded yet.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether every task has been yielded.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    fn next_by(&mut self, deadline: Option<Instant>) -> Option<(usize, Result<R, TaskError>)> {
        while self.remaining > 0 {
            let index = self.notifier.pop(deadline)?;
            if let Some(task) = self.tasks.get_mut(index).and_then(Option::take) {
                self.remaining -= 1;
                return Some((index, task.take()));
            }
        }
        None
    }
}

impl<R: DeserializeOwned> Iterator for AsCompleted<R> {
    type Item = (usize, Result<R, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_by(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
