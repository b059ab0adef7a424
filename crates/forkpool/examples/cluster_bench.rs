//! The cluster's speed and scale on one machine, beside the bare broker's
//! round trips measured in the same run.
//!
//! ```sh
//! cargo run --release --example cluster_bench
//! ```
//!
//! Starts its own `redis-server` (loopback, no persistence, the
//! least-privilege ACL user) and runs itself again as nodes (`--node`) and
//! as a bare echo (`--echo`: `XREAD` a request, `XADD` the reply, the
//! floor a cluster task cannot beat). Then, for 1, 2 and 4 nodes of 2
//! workers each: one-at-a-time latency, submit-all and `map` throughput;
//! and the time for a SIGKILLed node's task to be settled.

#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use forkpool::TaskError;
use forkpool::cluster::{Cluster, Node};
use redis_server::RedisServer;

#[forkpool::remote]
fn trivial(x: u64) -> u64 {
    x.wrapping_mul(3) + 1
}

/// Writes its pid to `path`, then sleeps: a task that is surely running.
#[forkpool::remote]
fn long(path: String) -> u32 {
    std::fs::write(&path, std::process::id().to_string()).unwrap();
    std::thread::sleep(Duration::from_secs(600));
    0
}

const WORKERS_PER_NODE: usize = 2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--node") => {
            Node::builder(&args[2]).workers(WORKERS_PER_NODE).run().unwrap();
            return;
        }
        Some("--echo") => return echo(&args[2]),
        _ => {}
    }
    let server = RedisServer::start();
    let url = server.url();
    println!(
        "Machine: {} CPUs; nodes of {WORKERS_PER_NODE} workers; one redis-server, loopback.\n",
        cpus()
    );

    let ping = median(&ping_round_trips(&url, 2000));
    let _echo_child = Reaped(spawn(&["--echo", &url]));
    let mut echo = Echo::new(&url);
    for _ in 0..200 {
        echo.round_trip();
    }
    let alone = median(&(0..2000).map(|_| echo.round_trip()).collect::<Vec<_>>());
    println!("| measurement | 1 node | 2 nodes | 4 nodes |");
    println!("| --- | --- | --- | --- |");
    let mut rows: Vec<(String, Vec<String>)> = vec![
        ("one at a time (median)".into(), vec![]),
        ("bare XADD+XREAD echo, alternating; ratio".into(), vec![]),
        ("  ÷ the bare echo alone, before any node".into(), vec![]),
        ("  ÷ PING".into(), vec![]),
        ("submit 20,000 then join all".into(), vec![]),
        ("`map` of 1,000,000 trivial items".into(), vec![]),
    ];
    for nodes in [1usize, 2, 4] {
        let children: Vec<Reaped> = (0..nodes).map(|_| Reaped(spawn(&["--node", &url]))).collect();
        wait_served(&server, nodes);
        let cluster = Cluster::builder(&url).build().unwrap();
        // Warm up: every node's directory sees the client's stream.
        for t in (0..200).map(|i| cluster.submit(trivial, i)).collect::<Vec<_>>() {
            t.join().unwrap();
        }
        let _ = cluster.map(trivial, 0..10_000).count();

        // Alternating with the bare echo, so that both see the same
        // machine (it is shared and noisy).
        let mut lat = Vec::with_capacity(1000);
        let mut bare = Vec::with_capacity(1000);
        for i in 0..1000 {
            bare.push(echo.round_trip());
            let t0 = Instant::now();
            cluster.submit(trivial, i).join().unwrap();
            lat.push(t0.elapsed());
        }
        let (lat, bare) = (median(&lat), median(&bare));

        let t0 = Instant::now();
        let tasks: Vec<_> = (0..20_000).map(|i| cluster.submit(trivial, i)).collect();
        for t in tasks {
            t.join().unwrap();
        }
        let submit_all = 20_000.0 / t0.elapsed().as_secs_f64();

        let t0 = Instant::now();
        let n = cluster.map(trivial, 0..1_000_000u64).filter(Result::is_ok).count();
        let map = n as f64 / t0.elapsed().as_secs_f64();
        assert_eq!(n, 1_000_000);

        rows[0].1.push(format!("{lat:.1?}"));
        rows[1]
            .1
            .push(format!("{bare:.1?}: {:.2}x", lat.as_secs_f64() / bare.as_secs_f64()));
        rows[2]
            .1
            .push(format!("{:.2}x", lat.as_secs_f64() / alone.as_secs_f64()));
        rows[3]
            .1
            .push(format!("{:.2}x", lat.as_secs_f64() / ping.as_secs_f64()));
        rows[4].1.push(format!("{submit_all:.0} tasks/s"));
        rows[5].1.push(format!("{map:.0} items/s"));
        cluster.shutdown();
        for child in children {
            child.stop();
        }
        wait_served(&server, 0);
    }
    for (name, cells) in rows {
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!(
        "\nBaselines, same run: PING round trip {ping:.1?}; the bare echo (XADD, another process's \
         XREAD and XADD, XREAD) {alone:.1?} alone, and measured alternately with the cluster's round \
         trips in the table."
    );

    let (timeout, settled) = dead_node(&server);
    println!(
        "\nA SIGKILLed node's running task ended `NodeLost` {settled:.2?} after the kill \
         (node_timeout {timeout:?}; the reaper looks every node_timeout/4)."
    );
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn spawn(args: &[&str]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// A child process, killed and reaped when dropped.
struct Reaped(Child);

impl Reaped {
    /// SIGTERM, then wait.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own unreaped child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_served(server: &RedisServer, nodes: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg("fp:offer:cluster_bench::trivial")
            .arg(0)
            .arg(-1)
            .query(&mut server.admin())
            .unwrap();
        if members.len() == nodes {
            return;
        }
        assert!(Instant::now() < deadline, "nodes did not come up: {members:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn ping_round_trips(url: &str, n: usize) -> Vec<Duration> {
    let mut conn = connect(url);
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let _: String = redis::cmd("PING").query(&mut conn).unwrap();
            t0.elapsed()
        })
        .collect()
}

/// The client side of the bare echo: XADD a request, XREAD the reply.
struct Echo {
    conn: redis::Connection,
    last: String,
    n: u64,
}

impl Echo {
    fn new(url: &str) -> Echo {
        // Both sides read their stream from its start: nothing is missed
        // whichever starts first.
        Echo {
            conn: connect(url),
            last: "0-0".to_owned(),
            n: 0,
        }
    }

    fn round_trip(&mut self) -> Duration {
        self.n += 1;
        let t0 = Instant::now();
        let _: String = redis::cmd("XADD")
            .arg("fp:bench:req")
            .arg("*")
            .arg("v")
            .arg(self.n)
            .query(&mut self.conn)
            .unwrap();
        let reply: redis::Value = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg("fp:bench:rep")
            .arg(&self.last)
            .query(&mut self.conn)
            .unwrap();
        self.last = last_id(reply);
        t0.elapsed()
    }
}

/// The echo process: XREAD a request, XADD the reply.
fn echo(url: &str) {
    let mut conn = connect(url);
    let mut last = "0-0".to_owned();
    loop {
        let request: redis::Value = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg("fp:bench:req")
            .arg(&last)
            .query(&mut conn)
            .unwrap();
        last = last_id(request);
        let _: String = redis::cmd("XADD")
            .arg("fp:bench:rep")
            .arg("*")
            .arg("v")
            .arg(1)
            .query(&mut conn)
            .unwrap();
    }
}

/// The id of the last entry of a one-stream XREAD reply.
fn last_id(reply: redis::Value) -> String {
    let redis::Value::Array(streams) = reply else {
        panic!("{reply:?}")
    };
    let redis::Value::Array(stream) = &streams[0] else {
        panic!()
    };
    let redis::Value::Array(entries) = &stream[1] else {
        panic!()
    };
    let redis::Value::Array(entry) = entries.last().unwrap() else {
        panic!()
    };
    match &entry[0] {
        redis::Value::BulkString(id) => String::from_utf8(id.clone()).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// SIGKILLs a node while it runs a task; how long until the task ends.
fn dead_node(server: &RedisServer) -> (Duration, Duration) {
    let node_timeout = Duration::from_secs(1);
    let node = Reaped(spawn(&["--node", &server.url()]));
    wait_served(server, 1);
    let cluster = Cluster::builder(server.url())
        .node_timeout(node_timeout)
        .build()
        .unwrap();
    let flag = std::env::temp_dir().join(format!("forkpool-bench-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let task = cluster.submit(long, flag.display().to_string());
    while !flag.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let t0 = Instant::now();
    drop(node);
    let outcome = task.join();
    let settled = t0.elapsed();
    assert!(matches!(outcome, Err(TaskError::NodeLost { .. })), "{outcome:?}");
    let _ = std::fs::remove_file(&flag);
    cluster.shutdown();
    (node_timeout, settled)
}
