//! The node: [`Node::run`] serves this program's `#[forkpool::remote]`
//! functions to the cluster's clients, in a local pool.
//!
//! Two threads share the work (see `claimer.rs` and `reporter.rs`):
//!
//! ```text
//!   claimer (the thread that called run)      reporter
//!   XREADGROUP ≤ idle workers entries   ──►   slot finished (Notifier)
//!   check each entry, hand its items    pool  XADD result, XACK, XDEL
//!   to the local pool as they came            XCLAIM held entries (heartbeat)
//!                                             ZADD offers (lease)
//! ```
//!
//! A worker is counted busy from the moment its entry is claimed until its
//! result is in the broker, so a node never holds more entries than it has
//! workers: nothing it claims waits behind another task while another node
//! sits idle.
//!
//! `from_env.rs` starts a node from the environment, before `main` (how
//! `forkpool node PROGRAM` works).

mod claimer;
pub(crate) mod from_env;
mod reporter;
mod state;

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use self::state::{NodeState, Phase};
use super::broker::{Broker, Link, ServerClock, Tls, check_message_size, check_permissions};
use super::client::DEFAULT_CLUSTER_MESSAGE_SIZE;
use super::keys;
use super::registry::{RemoteFn, registry};
use crate::builder::PoolBuilder;
use crate::error::{Error, ErrorKind};
use crate::sys::stop_signals::StopSignals;

/// How long one call to the broker may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The default [`NodeBuilder::broker_patience`].
pub const DEFAULT_BROKER_PATIENCE: Duration = Duration::from_secs(30);

/// The node's first connection: a broker that cannot be reached yet (a
/// node started before its Redis, at boot) is tried again, with a link's
/// backoff, for up to `patience`, as a broker that goes away later is; a
/// refused user fails at once.
fn first_connection(broker: &Broker, patience: Duration) -> Result<redis::Connection, Error> {
    let mut link = Link::unconnected(IO_TIMEOUT);
    loop {
        match link.get(broker) {
            Ok(_) => {}
            Err(down) if down.error.kind() == ErrorKind::Permission => return Err(down.error),
            Err(down) if down.for_how_long >= patience => {
                return Err(state::out_of_patience(broker, &down, "did not start"));
            }
            Err(_) => continue,
        }
        if let Some(conn) = link.take() {
            return Ok(conn);
        }
    }
}

/// Runs a node loop; should it panic (a bug), the node fails and `run`
/// returns an error rather than hanging.
fn guarded(state: &NodeState, what: &str, body: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
        state.fail(Error::new(
            ErrorKind::Broker,
            format!("the node's {what} panicked (a bug in forkpool)"),
        ));
    }
}

/// Serves this program's `#[forkpool::remote]` functions; see
/// [`Node::builder`] and the [module docs](crate::cluster).
#[derive(Debug)]
pub struct Node {
    _private: (),
}

impl Node {
    /// A builder for a node of the broker at `url`
    /// (`redis://user:password@host:port/db`, or `rediss://` with the `tls`
    /// feature).
    pub fn builder(url: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            url: url.into(),
            workers: None,
            pool: PoolBuilder::default(),
            serve: Vec::new(),
            max_message_size: DEFAULT_CLUSTER_MESSAGE_SIZE,
            broker_patience: DEFAULT_BROKER_PATIENCE,
            tls: Tls::default(),
        }
    }
}

/// Builds and runs a node; see [`Node::builder`].
///
/// ```no_run
/// #[forkpool::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// // e.g. in main(), when started as `myapp --node`:
/// forkpool::cluster::Node::builder("redis://node:secret@10.0.0.5:6379/0")
///     .workers(8)
///     .run()?; // serves until SIGTERM or SIGINT
/// # Ok::<(), forkpool::Error>(())
/// ```
#[must_use = "a node does nothing until `run` is called"]
pub struct NodeBuilder {
    url: String,
    workers: Option<usize>,
    pool: PoolBuilder,
    serve: Vec<(TypeId, &'static str)>,
    max_message_size: usize,
    broker_patience: Duration,
    tls: Tls,
}

impl fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("url", &super::broker::redact(&self.url))
            .field("workers", &self.workers)
            .field("pool", &self.pool)
            .field("serve", &self.serve.iter().map(|(_, n)| n).collect::<Vec<_>>())
            .field("max_message_size", &self.max_message_size)
            .field("broker_patience", &self.broker_patience)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// Number of worker processes of the node's pool, and so the most
    /// tasks (or `map` batches) it holds at once. Default: the available
    /// parallelism.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The local pool's other settings: `task_timeout` (a cap on every
    /// client's), `memory_limit`, `max_tasks_per_worker`, `preload`,
    /// `worker_init`, `start_method`. Its worker count is replaced by
    /// [`workers`](Self::workers) when that is given, and its message size
    /// limit by [`max_message_size`](Self::max_message_size).
    pub fn pool(mut self, pool: PoolBuilder) -> Self {
        self.pool = pool;
        self
    }

    /// Serves `f` (a `#[forkpool::remote]` function). When any function is
    /// named this way, the node serves only those; by default it serves
    /// every remote function of the program. For nodes dedicated to some
    /// of the work.
    pub fn serve<F, A, R>(mut self, f: F) -> Self
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = f;
        self.serve.push((TypeId::of::<F>(), std::any::type_name::<F>()));
        self
    }

    /// The largest encoded argument or result, in bytes. A task whose
    /// argument is larger ends with `Codec` without running. Default:
    /// 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long the node keeps trying to reach a broker that went away
    /// (or restarted) before [`run`](Self::run) gives up with an error
    /// that says so. Meanwhile it reconnects with a backoff of up to a
    /// second and keeps running the tasks it holds; once the broker is
    /// back it serves again, offers and all. Default: 30 s.
    pub fn broker_patience(mut self, patience: Duration) -> Self {
        self.broker_patience = patience;
        self
    }

    /// Trusts this CA certificate (PEM) for `rediss://` URLs instead of the
    /// system's roots.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_cert = Some(pem.into());
        self
    }

    /// Serves until the process receives SIGTERM or SIGINT, then stops
    /// taking tasks, finishes the ones it holds, and returns `Ok(())`. A
    /// second signal stops at once: the tasks it holds are left to the
    /// clients' reapers (they end `NodeLost`, or run elsewhere with
    /// `retries`). The program's previous handlers for both signals are
    /// restored when `run` returns.
    ///
    /// Fails at once for a wrong password, an ACL that lacks a command,
    /// or a program with no remote functions to serve; when the broker
    /// stays unreachable for [`broker_patience`](Self::broker_patience),
    /// at start (a node started before its Redis waits for it) or later.
    pub fn run(self) -> Result<(), Error> {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        if RUNNING.swap(true, Ordering::AcqRel) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "a forkpool node is already running in this process",
            ));
        }
        struct Running;
        impl Drop for Running {
            fn drop(&mut self) {
                RUNNING.store(false, Ordering::Release);
            }
        }
        let _running = Running;
        let offers = self.offers()?;
        check_message_size(self.max_message_size)?;
        let broker = Broker::new(&self.url, &self.tls)?;
        let id = keys::process_id();
        let mut conn = first_connection(&broker, self.broker_patience)?;
        check_permissions(&broker, &mut conn, &id)?;
        let clock = ServerClock::read(&mut conn).map_err(|e| broker.error("cannot read the broker's clock", &e))?;
        let signals = StopSignals::install(&[libc::SIGTERM, libc::SIGINT])
            .map_err(|e| Error::io("cannot install the node's SIGTERM and SIGINT handlers", e))?;
        let mut pool = self.pool.max_message_size(self.max_message_size);
        if let Some(workers) = self.workers {
            pool = pool.workers(workers);
        }
        let pool = pool.build()?;
        let state = Arc::new(NodeState::new(
            id,
            broker,
            pool,
            offers,
            self.max_message_size,
            clock,
            self.broker_patience,
        ));
        // The reporter's connection is made before the node says it
        // serves: from then on the broker may go away at any moment, and
        // only the loops (which reconnect, within the patience) may meet
        // that.
        let reporter_conn = state.broker.connect(IO_TIMEOUT)?;
        reporter::advertise(&state, &mut conn).map_err(|e| state.broker.error("cannot register the node", &e))?;
        let reporter = {
            let state = state.clone();
            let conn = reporter_conn;
            std::thread::Builder::new()
                .name("forkpool-node-reporter".into())
                .spawn(move || guarded(&state, "reporter", || reporter::run(&state, conn)))
                .map_err(|e| Error::io("cannot start the node's reporter thread", e))?
        };
        guarded(&state, "claimer", || claimer::run(&state, conn, &signals));
        if state.phase() != Phase::Abandon && state.phase() != Phase::Failed {
            state.set_phase(Phase::Done);
        }
        let _ = reporter.join();
        reporter::withdraw(&state);
        let failure = state.take_failure();
        let Ok(state) = Arc::try_unwrap(state) else {
            return failure.map_or(Ok(()), Err);
        };
        let abandon = state.phase() == Phase::Abandon || failure.is_some();
        match state.into_pool() {
            Some(pool) if abandon => pool.terminate(),
            Some(pool) => pool.shutdown(),
            None => {}
        }
        drop(signals);
        failure.map_or(Ok(()), Err)
    }

    /// The functions to serve.
    fn offers(&self) -> Result<Vec<&'static RemoteFn>, Error> {
        let registry = registry();
        registry.check()?;
        let mut offers = Vec::new();
        if self.serve.is_empty() {
            offers.extend(registry.fns());
        } else {
            for (fn_type, fn_name) in &self.serve {
                let f = registry.by_type(*fn_type).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidConfig,
                        format!("`{fn_name}` is not a #[forkpool::remote] function, so a node cannot serve it"),
                    )
                })?;
                offers.push(f);
            }
        }
        if offers.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "this program has no #[forkpool::remote] functions for a node to serve",
            ));
        }
        Ok(offers)
    }
}
