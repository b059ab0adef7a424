//! One program, two roles: a client that submits work, and nodes that
//! serve it, through a Redis broker.
//!
//! ```sh
//! export FORKPOOL_REDIS_URL=redis://app:secret@127.0.0.1:6379/0
//! cargo run --example cluster -- --node &     # one or more nodes, on any machines
//! cargo run --example cluster                 # the client
//! kill %1                                     # SIGTERM: the node finishes its tasks, then exits
//! ```
//!
//! The Redis user needs the ACL in `forkpool::cluster`'s docs, e.g.
//! `redis-cli ACL SETUSER app on '>secret' resetkeys '~fp:*' -@all +@connection +@stream +del +exists +pexpire +time +zadd +zrange +zrem +zremrangebyscore -@dangerous`.

use std::time::Duration;

use forkpool::TaskError;
use forkpool::cluster::{Cluster, Node};
use serde::{Deserialize, Serialize};

/// A job for the cluster: any `serde` type will do.
#[derive(Debug, Serialize, Deserialize)]
struct Thumbnail {
    name: String,
    width: u32,
    height: u32,
}

/// Registered under the stable name `cluster::shrink`: a node runs it when
/// a client asks for that name with these argument and result types.
#[forkpool::remote]
fn shrink(job: Thumbnail) -> (String, u64) {
    (job.name, u64::from(job.width / 4) * u64::from(job.height / 4))
}

/// One that crashes, to show that a crash on a node costs only that task.
#[forkpool::remote]
fn crash(_: ()) -> u8 {
    std::process::abort()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("FORKPOOL_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    if std::env::args().any(|a| a == "--node") {
        eprintln!("node: serving until SIGTERM or Ctrl-C");
        Node::builder(url).workers(2).run()?;
        eprintln!("node: stopped");
        return Ok(());
    }

    let cluster = Cluster::builder(&url)
        .task_timeout(Duration::from_secs(60))
        .node_timeout(Duration::from_secs(5))
        .build()?;
    let job = Thumbnail {
        name: "cat.png".into(),
        width: 4000,
        height: 3000,
    };
    match cluster.submit(shrink, job).join() {
        Ok((name, pixels)) => println!("{name}: {pixels} pixels"),
        Err(TaskError::Unsupported { reason, .. }) => {
            eprintln!("no node yet ({reason}): start one with `cargo run --example cluster -- --node`");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    let jobs = (0..10_000).map(|i| Thumbnail {
        name: format!("img{i}.png"),
        width: 100 + i,
        height: 100,
    });
    let total: u64 = cluster
        .map(shrink, jobs)
        .map(|r| r.map(|(_, p)| p))
        .sum::<Result<u64, _>>()?;
    println!("10,000 thumbnails: {total} pixels in all");
    println!("a crash on a node: {}", cluster.submit(crash, ()).join().unwrap_err());
    cluster.shutdown();
    Ok(())
}
