//! Configuring and starting a [`Pool`].

use std::time::Duration;

use crate::confine::{Confinement, Rlimit, RunAs, Sandbox};
use crate::error::{Error, ErrorKind};
use crate::output::{DEFAULT_CAPTURE_LIMIT, TaskOutput};
use crate::pool::Pool;
use crate::supervisor::{self, OutputMode};
use crate::sys;
use crate::worker::config::{WorkerConfig, ZygoteConfig};
use crate::worker::entry;

/// How worker processes come to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartMethod {
    /// Fork each worker from a zygote: a single-threaded copy of the
    /// program started once per pool. Fast (a fork, not an exec), and
    /// whatever `preload` loaded is shared by all workers copy-on-write.
    #[default]
    Zygote,
    /// Execute a fresh copy of the program for each worker. Slower to
    /// start and shares nothing (`preload` runs in every worker), for the
    /// most isolation.
    Exec,
}

/// Builds a [`Pool`]; see [`Pool::builder`].
///
/// ```
/// use std::time::Duration;
///
/// let pool = forkpool::Pool::builder()
///     .workers(2)
///     .task_timeout(Duration::from_secs(10))
///     .max_tasks_per_worker(1000)
///     .build()?;
/// assert_eq!(pool.workers(), 2);
/// # Ok::<(), forkpool::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder {
    workers: Option<usize>,
    task_timeout: Option<Duration>,
    timeout_grace: Option<Duration>,
    recycle_above: Option<u64>,
    max_tasks_per_worker: Option<usize>,
    memory_limit: Option<u64>,
    worker_init: Option<fn()>,
    preload: Option<fn()>,
    start_method: StartMethod,
    max_message_size: usize,
    task_output: TaskOutput,
    capture_limit: usize,
    run_as: Option<RunAs>,
    no_new_privileges: Option<bool>,
    rlimits: Vec<Rlimit>,
    sandbox: Option<Sandbox>,
}

/// The default limit on one encoded argument or result.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: None,
            task_timeout: None,
            timeout_grace: None,
            recycle_above: None,
            max_tasks_per_worker: None,
            memory_limit: None,
            worker_init: None,
            preload: None,
            start_method: StartMethod::default(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            task_output: TaskOutput::default(),
            capture_limit: DEFAULT_CAPTURE_LIMIT,
            run_as: None,
            no_new_privileges: None,
            rlimits: Vec::new(),
            sandbox: None,
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes. Default: the available parallelism.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Hard time limit for each task (each item of a `map`). A task that
    /// runs longer ends with [`TaskError::TimedOut`](crate::TaskError::TimedOut):
    /// its worker, and everything in the worker's process group, is killed
    /// and replaced. Never early, and only that task: the kill cannot land
    /// on the worker's next task. A new worker whose `worker_init` has not
    /// returned within the same time is killed as a failed start.
    /// Default: none.
    ///
    /// How late: the limit counts from when the worker began the task,
    /// stamped on the coarse monotonic clock (cheap enough to read for
    /// every item), which moves in ticks of its resolution
    /// (`clock_getres(CLOCK_MONOTONIC_COARSE)`: 4 ms on most kernels, 1 ms
    /// on some). To be never early the supervisor waits until its reading
    /// is a tick past the limit, so the kill is decided between 0 and 2
    /// ticks after the limit (up to 8 ms), plus up to a millisecond for
    /// the supervisor's wake-up. The kill then goes through the zygote and
    /// the error comes once the worker is dead, typically under a
    /// millisecond more on an idle machine, longer when every CPU is busy;
    /// with [`timeout_grace`](PoolBuilder::timeout_grace), after the grace.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// How long a task that ran past its timeout gets to clean up: its
    /// worker's process group is sent `SIGTERM`, then `SIGKILL` once the
    /// grace is over (or at once when the group is gone). The task still
    /// ends with [`TaskError::TimedOut`](crate::TaskError::TimedOut) at its
    /// timeout's value. Default: none (`SIGKILL` at once).
    ///
    /// With a grace, `SIGTERM` does not end a worker by itself (it has a
    /// handler that does nothing), so the programs a task started, which
    /// get `SIGTERM`'s default action or their own handler, have the whole
    /// grace; a task that wants to clean up itself installs its own
    /// `SIGTERM` handler. Without one, it runs on until the `SIGKILL`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use forkpool::{Pool, TaskError};
    ///
    /// let pool = Pool::builder()
    ///     .workers(1)
    ///     .task_timeout(Duration::from_millis(200))
    ///     .timeout_grace(Duration::from_millis(300))
    ///     .build()?;
    /// let hang = pool.submit(|_: ()| -> u8 { loop { std::thread::park() } }, ());
    /// assert_eq!(hang.join(), Err(TaskError::TimedOut { after: Duration::from_millis(200) }));
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    pub fn timeout_grace(mut self, grace: Duration) -> Self {
        self.timeout_grace = Some(grace);
        self
    }

    /// Replace a worker, between tasks, once its resident memory after a
    /// task is above `bytes`: the leak of a task series is contained
    /// without failing any task (unlike
    /// [`memory_limit`](Self::memory_limit), which fails the task that
    /// crosses it). The worker finishes the task, hands over its result,
    /// and exits; what it had not started runs on other workers. Default:
    /// never.
    ///
    /// ```
    /// let pool = forkpool::Pool::builder().workers(1).recycle_above(256 << 20).build()?;
    /// // Each task leaks 100 MiB; every few tasks the worker is replaced.
    /// let leaky = |_: u32| std::mem::forget(vec![1u8; 100 << 20]);
    /// assert!(pool.map(leaky, 0..6).all(|r| r.is_ok()));
    /// assert!(pool.stats().workers_recycled >= 1);
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    pub fn recycle_above(mut self, bytes: u64) -> Self {
        self.recycle_above = Some(bytes);
        self
    }

    /// Replace each worker after it has run this many tasks (items), to
    /// contain leaks. Default: never.
    pub fn max_tasks_per_worker(mut self, tasks: usize) -> Self {
        self.max_tasks_per_worker = Some(tasks);
        self
    }

    /// The most memory, in bytes, a worker's tasks may allocate on top of
    /// what the worker holds once started (its share of `preload`, and what
    /// `worker_init` allocated). An allocation past it fails, and the task
    /// ends with [`TaskError::MemoryLimitExceeded`](crate::TaskError::MemoryLimitExceeded);
    /// the worker is replaced. Enforced with `RLIMIT_DATA`, which counts
    /// heap and other private writable memory: shared memory
    /// ([`SharedBytes`](crate::SharedBytes), large arguments in transit) is
    /// not counted. Default: none.
    ///
    /// Each worker reads its starting size (`VmData`) from
    /// `/proc/self/status` before any task runs. Where that cannot be
    /// read, [`build`](Self::build) fails with an error naming the cause,
    /// with or without this setting: a per-task limit
    /// ([`TaskOptions::memory_limit`](crate::TaskOptions::memory_limit))
    /// is never left unenforced in silence.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// A function each worker runs once, before its first task. If it
    /// panics while the pool is being built, [`build`](Self::build) fails
    /// with its message; if it keeps panicking later, tasks fail with
    /// [`TaskError::WorkerStartFailed`](crate::TaskError::WorkerStartFailed)
    /// instead of the pool respawning workers in a loop. The pool still
    /// tries a worker now and then (backing off to once every few seconds),
    /// and takes tasks again as soon as one starts. With a
    /// [`task_timeout`](Self::task_timeout), an init that hangs counts as a
    /// failure too.
    pub fn worker_init(mut self, init: fn()) -> Self {
        self.worker_init = Some(init);
        self
    }

    /// A function the zygote runs once, before any worker is forked.
    /// What it loads into memory (into a `static`, typically a
    /// `OnceLock`) is shared by every worker copy-on-write: N workers
    /// reading a 200 MiB table cost 200 MiB, not N × 200 MiB.
    ///
    /// It must not leave threads running: the zygote has to stay
    /// single-threaded to fork safely. With [`StartMethod::Exec`] it runs
    /// in every worker instead.
    pub fn preload(mut self, preload: fn()) -> Self {
        self.preload = Some(preload);
        self
    }

    /// How workers are started. Default: [`StartMethod::Zygote`].
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = method;
        self
    }

    /// The largest encoded argument or result, in bytes, whether it
    /// travels through the socket or (above 256 KiB) through shared memory.
    /// Larger ones end the task with
    /// [`TaskError::Codec`](crate::TaskError::Codec), as soon as their
    /// encoding passes the limit (they are never built whole). A
    /// [`SharedBytes`](crate::SharedBytes) counts as its reference (a few
    /// bytes), not its contents. Default: 1 GiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// What becomes of what tasks write to stdout and stderr: written
    /// straight through ([`TaskOutput::Inherit`], the default), written a
    /// line at a time with the task's tag in front
    /// ([`TaskOutput::Tagged`]), or kept for
    /// [`Task::join_captured`](crate::Task::join_captured)
    /// ([`TaskOutput::Capture`]). Output a task wrote just before it
    /// crashed or was killed is kept and attributed to it.
    ///
    /// ```
    /// use forkpool::{Pool, TaskOutput};
    ///
    /// let pool = Pool::builder().workers(2).task_output(TaskOutput::Tagged).build()?;
    /// let task = pool.submit(|n: u32| println!("{n} squared is {}", n * n), 12);
    /// println!("task {} prints its line with the tag [task {}]", task.id(), task.id());
    /// task.join().unwrap(); // its line is on stdout by now
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    ///
    /// With `Tagged` and `Capture` each worker's stdout and stderr are
    /// pipes the pool reads (see the crate docs, "Task output"): a task's
    /// `isatty` checks see a pipe, and C's `stdout` is made line-buffered
    /// as it would be on a terminal.
    pub fn task_output(mut self, output: TaskOutput) -> Self {
        self.task_output = output;
        self
    }

    /// How much of each stream of each task [`TaskOutput::Capture`] keeps:
    /// the last `bytes` bytes (what a task wrote just before it failed is
    /// what explains it); the number of bytes dropped before them is in
    /// [`Captured`](crate::Captured). Default: [`DEFAULT_CAPTURE_LIMIT`]
    /// (1 MiB).
    pub fn capture_limit(mut self, bytes: usize) -> Self {
        self.capture_limit = bytes;
        self
    }

    /// Workers drop to user `uid` and group `gid`: real, effective and
    /// saved ids, with no supplementary groups, so that a task can never
    /// get back to your ids (nor to root). Your process, and the zygote
    /// that forks the workers, keep their own ids.
    ///
    /// Needs root (precisely `CAP_SETUID`, `CAP_SETGID` and `CAP_KILL`):
    /// [`build`](Self::build) fails with
    /// [`ErrorKind::LeastPrivilege`] otherwise. See "Least privilege" in
    /// the crate docs for what a worker gives up, in which order, and what
    /// is left.
    ///
    /// ```no_run
    /// fn uid_line(_: ()) -> String {
    ///     let status = std::fs::read_to_string("/proc/self/status").unwrap();
    ///     status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_owned()
    /// }
    ///
    /// // 65534 is `nobody` on most systems.
    /// let pool = forkpool::Pool::builder().run_as(65534, 65534).build()?;
    /// // Real, effective, saved and filesystem uid.
    /// assert_eq!(pool.submit(uid_line, ()).join().unwrap(), "Uid:\t65534\t65534\t65534\t65534");
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    pub fn run_as(mut self, uid: u32, gid: u32) -> Self {
        self.run_as = Some(RunAs { uid, gid });
        self
    }

    /// Sets `PR_SET_NO_NEW_PRIVS` in every worker: nothing a task
    /// executes can gain privileges (set-user-id programs such as `sudo`
    /// or `su` run without them, file capabilities are ignored).
    ///
    /// Default: on when [`run_as`](Self::run_as) or a
    /// [`sandbox`](Self::sandbox) is set, off otherwise. A sandbox
    /// requires it (Landlock does), so `no_new_privileges(false)` with a
    /// sandbox is an error.
    pub fn no_new_privileges(mut self, on: bool) -> Self {
        self.no_new_privileges = Some(on);
        self
    }

    /// Sets a resource limit in every worker (both the soft and the hard
    /// limit, never above what your process has). Call it once per kind;
    /// a later call for the same kind replaces the earlier one. See
    /// [`Rlimit`] for what each does.
    ///
    /// ```
    /// use forkpool::{Pool, Rlimit};
    ///
    /// let pool = Pool::builder()
    ///     .rlimit(Rlimit::CpuSeconds(60))
    ///     .rlimit(Rlimit::FileSize(1 << 30))
    ///     .build()?;
    /// # Ok::<(), forkpool::Error>(())
    /// ```
    pub fn rlimit(mut self, limit: Rlimit) -> Self {
        self.rlimits.retain(|l| !l.same_kind(&limit));
        self.rlimits.push(limit);
        self
    }

    /// Confines every worker's filesystem and network access with
    /// Landlock; see [`Sandbox`]. [`build`](Self::build) fails with
    /// [`ErrorKind::LeastPrivilege`] on a kernel that cannot enforce all of
    /// it, unless the sandbox is [`best_effort`](Sandbox::best_effort), and
    /// with [`ErrorKind::InvalidConfig`] when one of its paths does not
    /// exist.
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// The least-privilege settings, checked, as the workers get them.
    fn confinement(&self) -> Result<Confinement, Error> {
        let invalid = |message: String| Error::new(ErrorKind::InvalidConfig, message);
        let denied = |message: String| Error::new(ErrorKind::LeastPrivilege, message);
        if let Some(message) = self.rlimits.iter().find_map(Rlimit::invalid) {
            return Err(invalid(message.to_owned()));
        }
        if self.sandbox.is_some() && self.no_new_privileges == Some(false) {
            return Err(invalid(
                "a sandbox needs no_new_privileges (Landlock requires it); remove no_new_privileges(false)".into(),
            ));
        }
        let sandbox = match &self.sandbox {
            None => None,
            Some(sandbox) if !sandbox.best_effort_set() && !sandbox.unenforceable().is_empty() => {
                return Err(denied(format!(
                    "the sandbox cannot be enforced on this kernel ({}); Sandbox::best_effort() applies what it can",
                    sandbox.unenforceable().join("; ")
                )));
            }
            Some(sandbox) => Some(sandbox.resolve().map_err(invalid)?),
        };
        let confinement = Confinement {
            run_as: self.run_as,
            no_new_privileges: self
                .no_new_privileges
                .unwrap_or(self.run_as.is_some() || sandbox.is_some()),
            rlimits: self.rlimits.clone(),
            sandbox,
        };
        confinement.check_client().map_err(denied)?;
        Ok(confinement)
    }

    /// Starts the pool: the zygote, then every worker. Returns once every
    /// worker has run `worker_init` and is ready.
    pub fn build(self) -> Result<Pool, Error> {
        if entry::started_as_helper_without_hook() {
            return Err(Error::new(
                ErrorKind::Spawn,
                "this process was started as a forkpool helper, but forkpool's start-up hook did not run \
                 (is forkpool linked into a shared library?); refusing to start helpers recursively",
            ));
        }
        sys::hook::ensure_linked();
        let invalid = |message: &str| Err(Error::new(ErrorKind::InvalidConfig, message));
        let workers = match self.workers {
            Some(0) => return invalid("workers must be at least 1"),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.max_tasks_per_worker == Some(0) {
            return invalid("max_tasks_per_worker must be at least 1");
        }
        if self.task_timeout == Some(Duration::ZERO) {
            return invalid("task_timeout must be longer than zero");
        }
        if self.recycle_above == Some(0) {
            return invalid("recycle_above must be more than zero bytes");
        }
        if self.memory_limit == Some(0) {
            return invalid("memory_limit must be more than zero bytes");
        }
        if !(1024..=u32::MAX as usize - 1024).contains(&self.max_message_size) {
            return invalid("max_message_size must be between 1 KiB and 4 GiB");
        }
        let confine = self.confinement()?;
        let cpu_limit = confine.cpu_seconds();
        let worker = WorkerConfig {
            init: self.worker_init.map(sys::code::hook_offset),
            memory_limit: self.memory_limit,
            max_tasks: self.max_tasks_per_worker.map(|n| n as u64),
            recycle_above: self.recycle_above,
            survive_sigterm: self.timeout_grace.is_some_and(|g| !g.is_zero()),
            max_message: self.max_message_size as u32,
            confine,
            capture_output: self.task_output != TaskOutput::Inherit,
        };
        let output = match self.task_output {
            TaskOutput::Inherit => None,
            TaskOutput::Tagged => Some(OutputMode::Tagged),
            TaskOutput::Capture => Some(OutputMode::Capture {
                limit: self.capture_limit,
            }),
        };
        let config = supervisor::Config {
            workers,
            task_timeout: self.task_timeout,
            timeout_grace: self.timeout_grace,
            memory_limit: self.memory_limit,
            cpu_limit,
            max_tasks: self.max_tasks_per_worker.map(|n| n as u64),
            start: self.start_method,
            zygote: ZygoteConfig {
                preload: self.preload.map(sys::code::hook_offset),
                worker,
            },
            max_message: self.max_message_size,
            output,
        };
        let (shared, thread) = supervisor::start(config)?;
        Ok(Pool::from_parts(shared, thread, workers))
    }
}
