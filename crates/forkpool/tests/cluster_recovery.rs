//! The cluster when things come back: a broker restarted (without its
//! data) or unreachable for a while, a node that outlives its broker or
//! gives up on it, a task aborted on a node, a client stalled past its
//! keys' lifetime, and nodes whose types changed shape under one name.
//! Real parts as in `cluster.rs`: a `redis-server` per test, restarted on
//! its port, and nodes that are this test binary run again.

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::io::Write;
use std::time::Duration;

use common::{is_dead, kill, wait_for};
use forkpool::TaskError;
use forkpool::cluster::{Cluster, Node};
use nodes::{NodeProcess, log_path, runs, start_client, wait_served, wait_started};
use redis_server::RedisServer;

// ------------------------------------------------------------ the tasks --

#[forkpool::remote]
fn double(x: u64) -> u64 {
    x * 2
}

/// Logs this worker's pid, sleeps, returns the pid.
#[forkpool::remote]
fn logged_sleep(job: (String, u64)) -> u32 {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&job.0)
        .unwrap();
    f.write_all(format!("{}\n", std::process::id()).as_bytes()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_millis(job.1));
    std::process::id()
}

/// Version 1 of a job: the node's build.
mod shape_v1 {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub(crate) struct Job {
        pub(crate) id: u32,
        pub(crate) text: String,
    }

    #[forkpool::remote(name = "tests.shape")]
    pub(crate) fn work(job: Job) -> u32 {
        job.id + job.text.len() as u32
    }
}

/// Version 2: the same names (function and struct), one more field.
mod shape_v2 {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub(crate) struct Job {
        pub(crate) id: u32,
        pub(crate) text: String,
        pub(crate) urgent: bool,
    }

    #[forkpool::remote(name = "tests.shape")]
    pub(crate) fn work(job: Job) -> u32 {
        job.id + u32::from(job.urgent)
    }
}

// ------------------------------------------------------------- the node --

/// Runs a node when started by [`NodeProcess`]; nothing otherwise. Prints
/// how `run` ended.
#[test]
#[ignore = "a node process for the other tests"]
fn node_main() {
    let Ok(url) = std::env::var("FP_TEST_NODE_URL") else {
        return;
    };
    let env = |name: &str| std::env::var(name).ok();
    let workers = env("FP_TEST_NODE_WORKERS").map_or(2, |w| w.parse().unwrap());
    let mut node = Node::builder(url).workers(workers);
    if let Some(ms) = env("FP_TEST_NODE_PATIENCE_MS") {
        node = node.broker_patience(Duration::from_millis(ms.parse().unwrap()));
    }
    match env("FP_TEST_NODE_SERVE").as_deref() {
        Some("shape_v1") => node = node.serve(shape_v1::work).serve(double),
        Some("shape_v2") => node = node.serve(shape_v2::work).serve(double),
        _ => {}
    }
    match node.run() {
        Ok(()) => println!("node: stopped"),
        Err(e) => {
            println!("node: failed: {e}");
            std::process::exit(3);
        }
    }
}

fn cluster(server: &RedisServer, node_timeout: Duration) -> Cluster {
    Cluster::builder(server.url())
        .node_timeout(node_timeout)
        .build()
        .unwrap()
}

/// Waits until the client `id` has its result stream in the broker again.
fn wait_resynced(server: &RedisServer, id: &str) {
    let key = format!("fp:{{{id}}}:r");
    assert!(
        wait_for(Duration::from_secs(30), || server.keys().contains(&key)),
        "the client never made its streams again: {:?}",
        server.keys()
    );
}

// ------------------------------------------------------------ the tests --

#[test]
fn a_node_whose_types_changed_shape_under_one_name_is_refused() {
    let server = RedisServer::start();
    let _node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_SERVE", "shape_v1")]);
    wait_served(&server, "tests.shape", 1);
    let cluster = cluster(&server, Duration::from_secs(5));
    // The node's version runs.
    let v1 = shape_v1::Job {
        id: 40,
        text: "ab".into(),
    };
    assert_eq!(cluster.submit(shape_v1::work, v1).join(), Ok(42));
    // The same function and struct names, a struct of another shape: no
    // live node runs it, and it is not sent (nothing to retry).
    let v2 = shape_v2::Job {
        id: 1,
        text: "ab".into(),
        urgent: true,
    };
    match cluster.submit(shape_v2::work, v2).join() {
        Err(TaskError::Unsupported { name, reason }) => {
            assert_eq!(name, "tests.shape");
            assert!(reason.contains("of another shape"), "{reason}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let streams: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|k| k.contains(":q:tests.shape:"))
        .collect();
    assert_eq!(streams.len(), 2, "one task stream per shape: {streams:?}");
    cluster.shutdown();
}

#[test]
fn a_broker_restarted_without_its_data_costs_only_the_tasks_in_flight() {
    let mut server = RedisServer::start();
    let node = NodeProcess::start(&server.url(), &[]);
    wait_served(&server, "cluster_recovery::logged_sleep", 1);
    let cluster = cluster(&server, Duration::from_secs(10));
    assert_eq!(cluster.submit(double, 1).join(), Ok(2));
    let (log, log_arg) = log_path("restarted");
    let in_flight = cluster.submit(logged_sleep, (log_arg, 30_000));
    wait_started(&log, 1);

    server.restart();
    // Well within node_timeout: the client finds its streams gone when it
    // reconnects, and ends the task it had sent, once.
    match in_flight.join_timeout(Duration::from_secs(60)) {
        Ok(Err(TaskError::BrokerLost { message })) => {
            assert!(message.contains("lost this client's streams"), "{message}");
        }
        other => panic!("expected BrokerLost, got {:?}", other.map_err(|_| "still waiting")),
    }
    // The same client and the same node work on.
    wait_resynced(&server, cluster.id());
    wait_served(&server, "cluster_recovery::double", 1);
    assert_eq!(cluster.submit(double, 21).join(), Ok(42));
    let all: Vec<u64> = cluster.map(double, 0..1000).map(Result::unwrap).collect();
    assert_eq!(all, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(runs(&log).len(), 1, "the lost task ran again");
    let id = cluster.id().to_owned();
    cluster.shutdown();
    assert!(
        !server.keys().iter().any(|k| k.contains(&id)),
        "the client left keys: {:?}",
        server.keys()
    );
    assert!(!is_dead(node.pid()), "the node did not survive the restart");
}

#[test]
fn a_long_outage_ends_the_tasks_in_flight_once_and_the_client_recovers() {
    let mut server = RedisServer::start();
    let node = NodeProcess::start(&server.url(), &[]);
    wait_served(&server, "cluster_recovery::logged_sleep", 1);
    let cluster = cluster(&server, Duration::from_secs(1));
    let (log, log_arg) = log_path("outage");
    let in_flight = cluster.submit(logged_sleep, (log_arg, 30_000));
    wait_started(&log, 1);

    server.kill();
    match in_flight.join_timeout(Duration::from_secs(60)) {
        Ok(Err(TaskError::BrokerLost { message })) => {
            assert!(message.contains("unreachable for"), "{message}");
        }
        other => panic!("expected BrokerLost, got {:?}", other.map_err(|_| "still waiting")),
    }
    // While it is down, new tasks fail at once (not after a wait).
    let during = cluster.submit(double, 1);
    assert!(
        matches!(
            during.join_timeout(Duration::from_secs(30)),
            Ok(Err(TaskError::BrokerLost { .. }))
        ),
        "a task submitted during the outage did not fail"
    );

    // Back (empty, on the same port): the client and the node go on.
    server.start_again();
    wait_resynced(&server, cluster.id());
    wait_served(&server, "cluster_recovery::double", 1);
    assert_eq!(cluster.submit(double, 21).join(), Ok(42));
    let tasks: Vec<_> = (0..20).map(|i| cluster.submit(double, i)).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.join(), Ok(2 * i as u64));
    }
    cluster.shutdown();
    assert!(!is_dead(node.pid()), "the node did not survive the outage");
}

#[test]
fn a_node_gives_up_after_its_broker_patience_and_says_how_long_it_waited() {
    let mut server = RedisServer::start();
    let node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_PATIENCE_MS", "2000")]);
    wait_served(&server, "cluster_recovery::double", 1);
    server.kill();
    let (status, out) = node
        .wait_exit(Duration::from_secs(60))
        .expect("the node never gave up on its broker");
    assert_eq!(status.code(), Some(3), "{status:?}: {out}");
    assert!(out.contains("node: failed: "), "{out}");
    assert!(out.contains("was unreachable for 2"), "{out}");
    assert!(out.contains("broker_patience"), "{out}");
}

#[test]
fn a_node_started_before_its_broker_waits_for_it_within_its_patience() {
    // A broker that is not there yet (its port is free again).
    let mut server = RedisServer::start();
    server.kill();
    let started = std::time::Instant::now();
    let node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_PATIENCE_MS", "2000")]);
    let (status, out) = node
        .wait_exit(Duration::from_secs(60))
        .expect("the node never gave up on its broker");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the node gave up at once: {out}"
    );
    assert_eq!(status.code(), Some(3), "{status:?}: {out}");
    assert!(out.contains("was unreachable for"), "{out}");
    assert!(out.contains("did not start"), "{out}");
}

#[test]
fn abort_ends_a_cluster_task_at_once_and_the_node_kills_its_worker() {
    let server = RedisServer::start();
    let _node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_WORKERS", "1")]);
    wait_served(&server, "cluster_recovery::logged_sleep", 1);
    let cluster = cluster(&server, Duration::from_secs(2));
    let (log, log_arg) = log_path("aborted");
    let task = cluster.submit(logged_sleep, (log_arg, 120_000));
    wait_started(&log, 1);
    let worker: u32 = runs(&log)[0].parse().unwrap();

    assert!(task.abort(), "abort of a running cluster task");
    assert!(task.is_finished(), "abort did not end the task at once");
    assert!(!task.abort(), "a second abort");
    assert_eq!(task.join(), Err(TaskError::Cancelled));
    // The node killed the worker (not the two minutes' sleep)...
    assert!(
        wait_for(Duration::from_secs(30), || is_dead(worker)),
        "the node's worker {worker} still runs the aborted task"
    );
    // ... and its only worker serves again at once.
    let next = cluster.submit(double, 4);
    assert_eq!(next.join_timeout(Duration::from_secs(30)).ok(), Some(Ok(8)));
    // The aborted task's result was dropped at the node: none came back.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(cluster.late_results(), 0);
    assert_eq!(runs(&log).len(), 1, "the aborted task ran again");

    // A task aborted before it was taken never runs.
    let (log2, log2_arg) = log_path("aborted-queued");
    let blocker = cluster.submit(logged_sleep, (log2_arg.clone(), 3_000));
    wait_started(&log2, 1);
    let queued = cluster.submit(logged_sleep, (log2_arg, 0));
    assert!(queued.abort());
    assert_eq!(queued.join(), Err(TaskError::Cancelled));
    assert!(blocker.join().is_ok());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runs(&log2).len(), 1, "the task aborted while queued ran");
    cluster.shutdown();
}

/// A client for `a_client_stalled_past_its_keys_lifetime_says_so`: submits
/// a long task, says so, and prints how it ended.
#[test]
#[ignore = "a client process for the other tests"]
fn client_main() {
    let Ok(url) = std::env::var("FP_TEST_CLIENT_URL") else {
        return;
    };
    let log = std::env::var("FP_TEST_CLIENT_LOG").unwrap();
    let cluster = Cluster::builder(url)
        .node_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let task = cluster.submit(logged_sleep, (log, 60_000));
    println!("client submitted");
    std::io::stdout().flush().unwrap();
    match task.join() {
        Err(e @ TaskError::ClientStopped { .. }) => println!("client stopped: {e}"),
        other => println!("client other: {other:?}"),
    }
    // It works on.
    println!("client then: {:?}", cluster.submit(double, 5).join());
}

#[test]
fn a_client_stalled_past_its_keys_lifetime_says_so() {
    let server = RedisServer::start();
    let _node = NodeProcess::start(&server.url(), &[]);
    wait_served(&server, "cluster_recovery::logged_sleep", 1);
    let (log, log_arg) = log_path("stalled-client");
    let (mut client, mut out) = start_client(&server.url(), &[("FP_TEST_CLIENT_LOG", &log_arg)], "client submitted");
    wait_started(&log, 1);
    kill(client.id(), libc::SIGSTOP);
    // Its keys live 2 s (3 × 500 ms, at least 2 s) without a heartbeat.
    assert!(
        wait_for(Duration::from_secs(30), || !server
            .keys()
            .iter()
            .any(|k| k.ends_with(":r"))),
        "the stopped client's keys did not expire"
    );
    kill(client.id(), libc::SIGCONT);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    client.wait().unwrap();
    assert!(rest.contains("client stopped: "), "{rest}");
    assert!(rest.contains("did not run for"), "{rest}");
    assert!(!rest.contains("lost the cluster's Redis broker"), "{rest}");
    assert!(rest.contains("client then: Ok(10)"), "{rest}");
}
