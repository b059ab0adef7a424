//! The client: [`Cluster`], where tasks are submitted to other machines.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::broker::{Broker, ServerClock, Tls, check_message_size, check_permissions, millis};
use super::keys;
use super::map::RemoteMap;
use super::reader;
use super::registry::registry;
use super::session::{Session, Settings, make_results};
use super::writer;
use crate::error::{Error, ErrorKind, TaskError};
use crate::slot::{self, Label, Slot};
use crate::task::{RemoteAbort, Task};

/// The default [`ClusterBuilder::node_timeout`].
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`ClusterBuilder::max_message_size`] (and the node's).
pub const DEFAULT_CLUSTER_MESSAGE_SIZE: usize = 16 << 20;

/// Builds a [`Cluster`]; see [`Cluster::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClusterBuilder {
    url: String,
    task_timeout: Option<Duration>,
    retries: u32,
    node_timeout: Duration,
    max_message_size: usize,
    tls: Tls,
}

impl fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("url", &super::broker::redact(&self.url))
            .field("task_timeout", &self.task_timeout)
            .field("retries", &self.retries)
            .field("node_timeout", &self.node_timeout)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

impl ClusterBuilder {
    /// Hard time limit for each task (each item of a `map`), enforced by
    /// the node that runs it exactly as a local pool's `task_timeout`: the
    /// task ends with [`TaskError::TimedOut`](crate::TaskError::TimedOut)
    /// and is not run again. A node's own limit, if shorter, wins.
    /// Default: none.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// How many times a task whose node went silent is handed out again
    /// before it ends with [`TaskError::NodeLost`](crate::TaskError::NodeLost).
    /// Only for tasks that may safely run twice: a silent node may be
    /// merely slow or cut off, and still finish (its late result is then
    /// dropped). Crashes, panics, timeouts and memory limits are never
    /// retried. Default: 0.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How long a silent node keeps its claim on a task before the task is
    /// taken back (and ends `NodeLost`, or runs again with
    /// [`retries`](Self::retries)). Nodes renew their claims four times
    /// within it. Also how long the client waits for a broker that went
    /// away to come back, and how long tasks wait for a node after the last
    /// one serving their function left. Default: 10 s.
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.node_timeout = timeout;
        self
    }

    /// The largest encoded argument, in bytes; larger ones end the task
    /// with [`TaskError::Codec`](crate::TaskError::Codec). Nodes enforce
    /// their own limit too. Default: 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Trusts this CA certificate (PEM) for `rediss://` URLs instead of the
    /// system's roots.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_cert = Some(pem.into());
        self
    }

    /// Connects, checks the user's permissions, and starts the client's
    /// two threads (one sends tasks, one reads results).
    ///
    /// A wrong password or an ACL that lacks a command the cluster uses
    /// fails here, with [`ErrorKind::Permission`](crate::ErrorKind::Permission);
    /// a broker that cannot be reached, with
    /// [`ErrorKind::Broker`](crate::ErrorKind::Broker).
    pub fn build(self) -> Result<Cluster, Error> {
        let invalid = |message: &str| Err(Error::new(ErrorKind::InvalidConfig, message));
        if self.node_timeout < Duration::from_millis(100) {
            return invalid("node_timeout must be at least 100 ms");
        }
        if self.task_timeout == Some(Duration::ZERO) {
            return invalid("task_timeout must be longer than zero");
        }
        check_message_size(self.max_message_size)?;
        registry().check()?;
        let broker = Broker::new(&self.url, &self.tls)?;
        let settings = Settings {
            task_timeout: self.task_timeout,
            retries: self.retries,
            node_timeout: self.node_timeout,
            max_message: self.max_message_size,
        };
        let id = keys::process_id();
        let io = settings.io_timeout();
        let mut control = broker.connect(io)?;
        check_permissions(&broker, &mut control, &id)?;
        let clock = ServerClock::read(&mut control).map_err(|e| broker.error("cannot read the broker's clock", &e))?;
        let results = keys::results(&id);
        make_results(&mut control, &results, millis(settings.key_ttl()))
            .map_err(|e| broker.error("cannot create the client's result stream", &e))?;
        let writer_conn = broker.connect(io)?;
        let reader_conn = broker.connect(reader::BLOCK + io)?;
        let session = Arc::new(Session::new(id, broker, settings, control, clock));
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|e| Error::io("cannot start a cluster client thread", e))
        };
        let s = session.clone();
        let reader = spawn(
            "forkpool-cluster-reader",
            Box::new(move || guarded(s, "result reader", |s| reader::run(s, reader_conn))),
        )?;
        let s = session.clone();
        let writer = match spawn(
            "forkpool-cluster-writer",
            Box::new(move || guarded(s, "writer", |s| writer::run(s, writer_conn))),
        ) {
            Ok(w) => w,
            Err(e) => {
                // Ends the reader (it looks every second) and the cluster.
                session.close_with(TaskError::ClientStopped { message: e.to_string() });
                let cluster = Cluster {
                    session,
                    threads: Some((None, reader)),
                };
                drop(cluster);
                return Err(e);
            }
        };
        Ok(Cluster {
            session,
            threads: Some((Some(writer), reader)),
        })
    }
}

/// Runs a client thread's body; should it panic (a bug), the client is
/// broken rather than silently stuck: every task in flight ends.
fn guarded(session: Arc<Session>, what: &str, body: impl FnOnce(Arc<Session>)) {
    let s = session.clone();
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(s))).is_err() {
        session.close_with(TaskError::ClientStopped {
            message: format!("the cluster client's {what} thread panicked (a bug in forkpool)"),
        });
    }
}

/// A client of a cluster of machines that run `#[forkpool::remote]`
/// functions, each in its own local crash-isolated pool, through a Redis
/// broker. See the [module docs](crate::cluster).
///
/// ```no_run
/// use std::time::Duration;
/// use forkpool::cluster::Cluster;
///
/// #[forkpool::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// let cluster = Cluster::builder("redis://app:secret@10.0.0.5:6379/0")
///     .task_timeout(Duration::from_secs(300))
///     .build()?;
/// let task: forkpool::Task<u64> = cluster.submit(square, 7);
/// assert_eq!(task.join(), Ok(49));
/// let sum: u64 = cluster.map(square, 0..1000).map(Result::unwrap).sum();
/// cluster.shutdown();
/// # let _ = sum;
/// # Ok::<(), forkpool::Error>(())
/// ```
///
/// `Cluster` is `Send` and `Sync`. Dropping it is [`shutdown`](Cluster::shutdown).
pub struct Cluster {
    session: Arc<Session>,
    threads: Option<(Option<JoinHandle<()>>, JoinHandle<()>)>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.session.id)
            .field("broker", &self.session.broker.shown())
            .field("in_flight", &self.session.pending.len())
            .finish()
    }
}

impl Cluster {
    /// A builder for a client of the broker at `url`:
    /// `redis://user:password@host:port/db`, or `rediss://...` for TLS
    /// (with the `tls` feature).
    pub fn builder(url: impl Into<String>) -> ClusterBuilder {
        ClusterBuilder {
            url: url.into(),
            task_timeout: None,
            retries: 0,
            node_timeout: DEFAULT_NODE_TIMEOUT,
            max_message_size: DEFAULT_CLUSTER_MESSAGE_SIZE,
            tls: Tls::default(),
        }
    }

    /// Runs `f(arg)` on a node of the cluster; `f` is a
    /// `#[forkpool::remote]` function.
    ///
    /// The task ends exactly once, with the same result or
    /// [`TaskError`](crate::TaskError) a local pool would give, or with
    /// one of the cluster's own: [`Unsupported`](crate::TaskError::Unsupported)
    /// at once when no live node serves `f` with these types (or `f` is
    /// not a remote function), [`NodeLost`](crate::TaskError::NodeLost) when
    /// its node went silent, [`BrokerLost`](crate::TaskError::BrokerLost)
    /// when the broker did.
    ///
    /// [`Task::abort`] ends the task `Cancelled` at once; the node running
    /// it kills its worker (within a quarter of `node_timeout`, at most a
    /// second) and drops its result. `Task::cancel` returns `false`: a
    /// cluster task may already be on its way.
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Task<R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = f;
        let session = &self.session;
        let sent = session
            .prepare(TypeId::of::<F>(), std::any::type_name::<F>())
            .and_then(|queue| {
                let payload = session.encode_one(&arg)?;
                Ok(session.send(&queue, 1, payload, true))
            });
        match sent {
            Ok((slot, Some(task))) => {
                let client: Arc<dyn RemoteAbort> = session.clone();
                Task::remote(slot, Some((Arc::downgrade(&client), task)))
            }
            Ok((slot, None)) => Task::remote(slot, None),
            Err(error) => Task::remote(Slot::failed(1, Label::task(slot::next_id()), error, None), None),
        }
    }

    /// Runs `f` on every input on the cluster's nodes, and yields the
    /// results in input order.
    ///
    /// Lazy and bounded like [`Pool::map`](crate::Pool::map): inputs are
    /// encoded into batches, many items per stream entry (sized from how
    /// long items take, up to 65,536 items or 1 MiB), with a window of
    /// batches in flight sized from the workers of the live nodes. Each
    /// item succeeds or fails on its own. As in a local `map`, an item of a
    /// batch whose worker crashed part-way may run again on that node.
    /// Dropping the iterator early discards the results of the batches
    /// already sent (they still run).
    pub fn map<F, A, R, I>(&self, f: F, inputs: I) -> RemoteMap<'_, I::IntoIter, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        let queue = self.session.prepare(TypeId::of::<F>(), std::any::type_name::<F>());
        RemoteMap::new(&self.session, queue, inputs.into_iter(), true)
    }

    /// Like [`map`](Cluster::map), but yields results as batches finish
    /// rather than in input order.
    pub fn map_unordered<F, A, R, I>(&self, f: F, inputs: I) -> RemoteMap<'_, I::IntoIter, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        let queue = self.session.prepare(TypeId::of::<F>(), std::any::type_name::<F>());
        RemoteMap::new(&self.session, queue, inputs.into_iter(), false)
    }

    /// How many outcomes arrived for tasks that had already ended, and were
    /// dropped: a result from a node that had been given up as lost, or a
    /// second run's result after a retry.
    pub fn late_results(&self) -> u64 {
        self.session.pending.duplicates()
    }

    /// This client's name in the broker (`HOST:PID:RANDOM`); its keys are
    /// `fp:{NAME}:*`.
    pub fn id(&self) -> &str {
        &self.session.id
    }

    /// Waits for every submitted task to end, then deletes the client's
    /// streams from the broker and stops its threads. Blocks until done.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some((writer, reader)) = self.threads.take() else {
            return;
        };
        // Every task ends: with a result, a verdict of the reaper (within
        // node_timeout of its node's silence), or BrokerLost.
        while !self
            .session
            .pending
            .wait_empty(Instant::now() + Duration::from_secs(3600))
        {}
        self.session.stopping.store(true, std::sync::atomic::Ordering::Release);
        self.session.outbox.stop();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let _ = reader.join();
        self.clean_up();
    }

    /// Deletes the client's keys (best effort: a broker that is gone takes
    /// them with it, and a TTL ends them anyway).
    fn clean_up(&self) {
        let session = &self.session;
        let Ok(mut conn) = session.broker.connect(session.settings.io_timeout()) else {
            return;
        };
        let queues = session.queues();
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(&session.results_key).ignore();
        pipe.cmd("DEL").arg(keys::aborts(&session.id)).ignore();
        for queue in &queues {
            pipe.cmd("DEL").arg(&queue.key).ignore();
            pipe.cmd("ZREM").arg(keys::QUEUES).arg(&queue.key).ignore();
        }
        let _: redis::RedisResult<()> = pipe.query(&mut conn);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
