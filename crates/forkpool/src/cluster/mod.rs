//! The same tasks on many machines, through Redis Streams.
//!
//! When one machine is not enough, the program's `#[forkpool::remote]`
//! functions run on other machines, each of which runs them in its own
//! local crash-isolated [`Pool`](crate::Pool), through an engine operators
//! already run: a Redis server (streams and consumer groups; Redis 6.2 or
//! later). The same program is both sides: a *client* submits, a *node*
//! serves.
//!
//! ```no_run
//! use std::time::Duration;
//! use forkpool::cluster::{Cluster, Node};
//!
//! #[forkpool::remote]                      // registers `my_app::resize`
//! fn resize(job: (u32, Vec<u8>)) -> Vec<u8> {
//!     job.1.iter().map(|b| b / 2).collect()
//! }
//!
//! fn main() -> Result<(), forkpool::Error> {
//!     let url = "redis://app:secret@10.0.0.5:6379/0";
//!     if std::env::args().any(|a| a == "--node") {
//!         // Serves until SIGTERM/SIGINT, then finishes what it holds.
//!         return Node::builder(url).workers(8).run();
//!     }
//!     let cluster = Cluster::builder(url).task_timeout(Duration::from_secs(300)).build()?;
//!     let t: forkpool::Task<Vec<u8>> = cluster.submit(resize, (1, vec![2, 4]));
//!     let all: Vec<_> = cluster.map(resize, (0..100).map(|i| (i, vec![i as u8]))).collect();
//!     assert_eq!(t.join(), Ok(vec![1, 2]));
//!     assert_eq!(all.len(), 100);
//!     cluster.shutdown(); // waits for its tasks, deletes its keys
//!     Ok(())
//! }
//! ```
//!
//! # Theory of operation
//!
//! ```text
//! client                          Redis                              node × N
//!  submit/map ─► writer ─XADD──► fp:{C}:q:NAME:HASH ─XREADGROUP──► claimer ─► local Pool
//!                                (group fp-nodes)     ≤ idle workers            │
//!  Task ◄─ reader ◄────XREAD───── fp:{C}:r ◄──────XADD result, XACK, XDEL── reporter
//!          reaper ─XPENDING/XCLAIM idle > node_timeout─► Lost verdict / retry
//! ```
//!
//! - **Functions are names, not addresses.** `#[forkpool::remote]` records
//!   a stable name (`module::path::fn_name`, or `name = "..."`) and a
//!   hash of the argument and result types' serialized shape (traced from
//!   their `Deserialize` impls: containers, field names in order, variants,
//!   primitive kinds), so a node whose types changed shape under the same
//!   names refuses the task, and a type that only moved is still served.
//!   A task entry carries
//!   only that name and hash, and postcard bytes (checked for size): a
//!   node looks the name up in its own registry and runs nothing else, so
//!   a broken-into broker cannot make it run anything but its registered
//!   functions. Each client has one stream per function and type hash, and
//!   a node reads only the streams of what it serves; a client that finds
//!   no live node serving a function fails the task at once with
//!   [`TaskError::Unsupported`](crate::TaskError::Unsupported).
//! - **Nodes claim no more than they have idle workers**, and renew their
//!   claims (a heartbeat) four times per `node_timeout`, so a long task is
//!   never taken from a live node.
//! - **Every task ends exactly once at the client.** A crash, panic,
//!   timeout or memory limit on a node ends the task with the same
//!   [`TaskError`](crate::TaskError) as locally, and it is not run again.
//!   A node silent for `node_timeout` loses its claims to the client's
//!   reaper: the task ends [`NodeLost`](crate::TaskError::NodeLost) or,
//!   with [`retries`](ClusterBuilder::retries), is sent again. The first
//!   outcome recorded by the broker wins; a late second result is dropped.
//!   Delivery is at least once; each outcome is recorded once.
//! - **`map` batches**: many items per stream entry, pipelined, so its
//!   throughput is far above one broker round trip per item.
//! - **Nothing outlives the cluster**: `shutdown` waits for the tasks,
//!   then deletes the client's streams; every key has a lifetime its owner
//!   renews, so a SIGKILLed client or node leaves keys that expire.
//!
//! The design, the keys and the failure table are in `src/cluster/README.md`.
//!
//! # Starting nodes without a flag of your own
//!
//! Any program built with forkpool becomes a node, instead of running its
//! `main`, when started with [`NODE_ENV`] (`FORKPOOL_NODE`) set to the
//! broker's URL, and [`NODE_WORKERS_ENV`] optionally to its worker count.
//! The `forkpool node` command sets them and then becomes the program:
//!
//! ```text
//! forkpool node --workers 8 --broker-file /etc/myapp/broker -- ./myapp
//! ```
//!
//! Before it starts the program, `forkpool node` checks (without running
//! it) that it is a forkpool cluster program: every program built with
//! this feature carries [`NODE_MARKER`]. Any other program would run its
//! own `main` with the broker's password in its environment, so it is
//! refused in one line.
//!
//! # Security
//!
//! Give clients and nodes a Redis ACL user of their own, with a password,
//! and use `rediss://` (TLS, with the `tls` feature) across untrusted
//! networks. The least privilege the cluster needs is:
//!
//! ```text
//! ACL SETUSER app on >secret resetkeys ~fp:* resetchannels -@all +@connection +@stream +del +exists +pexpire +time +zadd +zrange +zrem +zremrangebyscore -@dangerous
//! ```
//!
//! (one line: `redis-cli` takes a command per line).
//!
//! - `~fp:*`: every key the cluster uses starts with `fp:`.
//! - `+@stream`: the task and result streams and their consumer group.
//! - `+@connection`: `AUTH`, `HELLO`, `PING`, and the `CLIENT SETINFO` the
//!   `redis` crate sends (`SELECT`, for a database other than 0, is in it).
//! - `+del +exists +pexpire`: a client deletes its streams when it ends and
//!   keeps a lifetime on every key it owns, so that a client or node that
//!   dies leaves keys that expire; the reader checks that its stream
//!   survived a reconnection. (Just these, rather than all of
//!   `@keyspace`.)
//! - `+time`: leases are in the broker's clock, so machines whose clocks
//!   disagree still agree on who is alive.
//! - `+zadd +zrange +zrem +zremrangebyscore`: the two directories, of task
//!   streams (`fp:queues`) and of nodes' offers (`fp:offer:NAME`), are
//!   sorted sets scored by lease.
//! - `-@dangerous`: nothing that could harm the server or other data.
//!
//! `build()` and `run()` try every command once and fail with
//! [`ErrorKind::Permission`](crate::ErrorKind::Permission), naming the
//! command, when the ACL lacks one, or when the password is wrong.
//!
//! # Caveats
//!
//! - A type whose `Deserialize` impl cannot be traced (it calls
//!   `deserialize_any`, as untagged or internally tagged enums and
//!   `#[serde(flatten)]` do, or it rejects the placeholder values the
//!   tracer offers, as a hand-written impl that validates may) is hashed
//!   by its Rust name (`std::any::type_name`) instead: a change inside it
//!   goes unnoticed, so give a function whose such type changed a new
//!   `name`. The `Unsupported` reason says when a hash is name-based.
//! - A task being sent at the moment the broker connection breaks ends
//!   with [`BrokerLost`](crate::TaskError::BrokerLost), since whether the
//!   broker took it cannot be known (sending it again could run it twice);
//!   tasks submitted while the broker is unreachable wait for it. A broker
//!   unreachable for `node_timeout`, or one that restarted without the
//!   cluster's data, ends every task in flight the same way, and tasks
//!   submitted while it stays unreachable fail at once; once it is back
//!   the same `Cluster` works again. A client whose own process was
//!   stalled past its keys' lifetime ends its tasks with
//!   [`ClientStopped`](crate::TaskError::ClientStopped).
//! - `Task::cancel` returns `false` for cluster tasks; `Task::abort` ends
//!   one `Cancelled` at once, and its node stops it within a quarter of
//!   `node_timeout` (at most a second). Dropping a `map` early does not
//!   stop the batches already sent.
//! - Only bytes cross machines: an argument or result that holds
//!   [`SharedBytes`](crate::SharedBytes) or
//!   [`SharedSlice`](crate::SharedSlice) (shared memory of one machine)
//!   ends with `Codec`; send a `Vec<u8>` instead. Large arguments and
//!   results cross inline, up to `max_message_size` (16 MiB by default; a
//!   Redis string holds at most 512 MiB).
//! - A node reads the directory of task streams every second and whenever
//!   a read comes back empty, so the first task of a new client may wait up
//!   to ~200 ms to be seen.
//! - A client's keys live `3 × node_timeout` (at least 2 s) past its last
//!   heartbeat: a client stopped (`SIGSTOP`) for longer loses them, and its
//!   tasks in flight end with `BrokerLost`.

mod broker;
mod client;
mod keys;
mod map;
pub(crate) mod node;
mod pending;
mod reader;
mod reaper;
mod recovery;
pub(crate) mod registry;
mod session;
mod shape;
mod streams;
mod wire;
mod writer;

pub use client::{Cluster, ClusterBuilder, DEFAULT_CLUSTER_MESSAGE_SIZE, DEFAULT_NODE_TIMEOUT};
pub use map::RemoteMap;
pub use node::from_env::{NODE_CA_FILE_ENV, NODE_ENV, NODE_MARKER, NODE_WORKERS_ENV};
pub use node::{DEFAULT_BROKER_PATIENCE, Node, NodeBuilder};
