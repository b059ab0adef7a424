//! The cluster with real parts: a real `redis-server` per test (loopback,
//! no persistence, the documented least-privilege ACL user), and nodes
//! that are real processes (this test binary run again as the ignored
//! `node_main` test), killed, stopped and resumed by their pids.

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{kill, parent_of, wait_for};
use forkpool::cluster::{Cluster, Node};
use forkpool::{ErrorKind, Pool, TaskError};
use nodes::{NodeProcess, log_path, runs, start_client, wait_served, wait_started};
use redis_server::RedisServer;

// ------------------------------------------------------------ the tasks --

#[forkpool::remote]
fn double(x: u64) -> u64 {
    x * 2
}

/// Appends this worker's pid to the file at `path`: one line per run.
fn log_run(path: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(format!("{}\n", std::process::id()).as_bytes()).unwrap();
}

#[forkpool::remote]
fn logged_sleep(job: (String, u64)) -> u32 {
    log_run(&job.0);
    std::thread::sleep(Duration::from_millis(job.1));
    std::process::id()
}

#[forkpool::remote]
fn segfault(log: String) -> u8 {
    log_run(&log);
    // SAFETY: none; this crashes the worker on purpose.
    unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
    0
}

#[forkpool::remote]
fn panics(log: String) -> u8 {
    log_run(&log);
    panic!("boom on a node")
}

#[forkpool::remote]
fn hangs(log: String) -> u8 {
    log_run(&log);
    loop {
        std::thread::park();
    }
}

#[forkpool::remote]
fn hog(log: String) -> usize {
    log_run(&log);
    let v = vec![1u8; 512 << 20];
    v.iter().map(|&b| b as usize).sum()
}

/// Gives its bytes back, reversed.
#[forkpool::remote]
fn reverse(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.reverse();
    bytes
}

#[forkpool::remote]
fn shared_len(bytes: forkpool::SharedBytes) -> usize {
    bytes.len()
}

/// Quick, except that 13 crashes its worker.
#[forkpool::remote]
fn unlucky(x: u64) -> u64 {
    if x == 13 {
        // SAFETY: none; this crashes the worker on purpose.
        unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
    }
    x
}

#[forkpool::remote(name = "tests.versioned")]
fn versioned_a(x: u32) -> u32 {
    x + 1
}

#[forkpool::remote(name = "tests.versioned")]
fn versioned_b(x: String) -> u32 {
    x.len() as u32
}

// ------------------------------------------------------------ the nodes --

/// Runs a node when started by [`NodeProcess`]; nothing otherwise.
#[test]
#[ignore = "a node process for the other tests"]
fn node_main() {
    let Ok(url) = std::env::var("FP_TEST_NODE_URL") else {
        return;
    };
    let env = |name: &str| std::env::var(name).ok();
    let workers = env("FP_TEST_NODE_WORKERS").map_or(2, |w| w.parse().unwrap());
    let mut pool = Pool::builder();
    if let Some(limit) = env("FP_TEST_NODE_MEMORY") {
        pool = pool.memory_limit(limit.parse().unwrap());
    }
    let mut node = Node::builder(url).workers(workers).pool(pool);
    match env("FP_TEST_NODE_SERVE").as_deref() {
        Some("versioned_a") => node = node.serve(versioned_a),
        Some("double") => node = node.serve(double),
        _ => {}
    }
    node.run().unwrap();
    println!(
        "node: SIGTERM is {}",
        if sigterm_is_default() {
            "default again"
        } else {
            "still ours"
        }
    );
}

fn sigterm_is_default() -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into a zeroed, valid struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut old);
        old.sa_sigaction == libc::SIG_DFL
    }
}

/// Whether `pid` descends from `ancestor`.
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut p = pid;
    for _ in 0..16 {
        match parent_of(p) {
            Some(parent) if parent == ancestor => return true,
            Some(parent) if parent > 1 => p = parent,
            _ => return false,
        }
    }
    false
}

fn cluster(server: &RedisServer, node_timeout: Duration) -> Cluster {
    Cluster::builder(server.url())
        .node_timeout(node_timeout)
        .build()
        .unwrap()
}

/// A server, one node (with `env`) serving `name`, and a client.
fn one_node(env: &[(&str, &str)], name: &str, node_timeout: Duration) -> (RedisServer, NodeProcess, Cluster) {
    let server = RedisServer::start();
    let node = NodeProcess::start(&server.url(), env);
    wait_served(&server, name, 1);
    let cluster = cluster(&server, node_timeout);
    (server, node, cluster)
}

/// How many `XADD`s the server ran since its stats were reset.
fn xadd_calls(admin: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(admin).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_xadd:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|c| c.parse().ok())
        .expect("no XADD stats")
}

// ------------------------------------------------------------ the tests --

#[test]
fn tasks_and_maps_round_trip_and_leave_no_keys() {
    let (server, node, cluster) = one_node(&[], "cluster::double", Duration::from_secs(10));

    assert_eq!(cluster.submit(double, 21).join(), Ok(42));
    let tasks: Vec<_> = (0..50).map(|i| cluster.submit(double, i)).collect();
    let got: Vec<u64> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(got, (0..50).map(|i| i * 2).collect::<Vec<_>>());

    let mapped: Vec<u64> = cluster.map(double, 0..5000).map(Result::unwrap).collect();
    assert_eq!(mapped, (0..5000).map(|i| i * 2).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = cluster.map_unordered(double, 0..3000).map(Result::unwrap).collect();
    unordered.sort_unstable();
    assert_eq!(unordered, (0..3000).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(cluster.late_results(), 0);

    let id = cluster.id().to_owned();
    assert!(server.keys().iter().any(|k| k.contains(&id)), "{:?}", server.keys());
    // `shutdown` finishes the work still in flight.
    let (log, log_arg) = log_path("finish-on-shutdown");
    let in_flight: Vec<_> = (0..4)
        .map(|i| cluster.submit(logged_sleep, (log_arg.clone(), 100 + i)))
        .collect();
    cluster.shutdown();
    assert_eq!(runs(&log).len(), 4, "shutdown returned before its tasks ran");
    for task in in_flight {
        assert!(task.join().is_ok());
    }
    assert!(
        !server.keys().iter().any(|k| k.contains(&id)),
        "the client left keys: {:?}",
        server.keys()
    );
    kill(node.pid(), libc::SIGTERM);
    let (status, _) = node
        .wait_exit(Duration::from_secs(30))
        .expect("the node did not stop on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert_eq!(server.keys(), Vec::<String>::new(), "keys left after shutdown");
}

#[test]
fn large_payloads_cross_and_shared_memory_is_refused() {
    let (_server, _node, cluster) = one_node(&[], "cluster::reverse", Duration::from_secs(10));
    // Over the local pool's threshold for out-of-line bodies both ways: the
    // worker's memfd result is read back inline by the node.
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut expected = big.clone();
    expected.reverse();
    assert_eq!(cluster.submit(reverse, big).join(), Ok(expected));
    let shared = forkpool::SharedBytes::copy_from(b"not for the broker").unwrap();
    match cluster.submit(shared_len, shared).join() {
        Err(TaskError::Codec { message }) => assert!(message.contains("shared memory"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Over the client's size limit.
    let small = Cluster::builder(_server.url()).max_message_size(4096).build().unwrap();
    match small.submit(reverse, vec![0u8; 10_000]).join() {
        Err(TaskError::Codec { message }) => assert!(message.contains("size limit"), "{message}"),
        other => panic!("{other:?}"),
    }
    small.shutdown();
    cluster.shutdown();
}

#[test]
fn crashes_panics_timeouts_and_memory_limits_end_as_locally_and_run_once() {
    let server = RedisServer::start();
    let _node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_MEMORY", "268435456")]);
    wait_served(&server, "cluster::segfault", 1);
    let cluster = Cluster::builder(server.url())
        .node_timeout(Duration::from_millis(500))
        .task_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (crash_log, crash) = log_path("segv");
    let (panic_log, panic) = log_path("panic");
    let (hang_log, hang) = log_path("hang");
    let (hog_log, hog_arg) = log_path("hog");

    assert_eq!(
        cluster.submit(segfault, crash).join(),
        Err(TaskError::Crashed {
            signal: Some(libc::SIGSEGV),
            exit_code: None
        })
    );
    // The node's panic location crosses the broker with its message.
    match cluster.submit(panics, panic).join() {
        Err(TaskError::Panicked { message, location, .. }) => {
            assert_eq!(message, "boom on a node");
            let location = location.expect("a panic location");
            assert!(location.contains("cluster.rs:"), "{location}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(
        cluster.submit(hangs, hang).join(),
        Err(TaskError::TimedOut {
            after: Duration::from_secs(1)
        })
    );
    assert_eq!(
        cluster.submit(hog, hog_arg).join(),
        Err(TaskError::MemoryLimitExceeded { limit: 256 << 20 })
    );
    // Long past several node timeouts, nothing ran again.
    std::thread::sleep(Duration::from_secs(3));
    for log in [&crash_log, &panic_log, &hang_log, &hog_log] {
        assert_eq!(runs(log).len(), 1, "{} ran {:?}", log.display(), runs(log));
    }
    assert_eq!(cluster.submit(double, 1).join(), Ok(2), "the node goes on");
}

#[test]
fn a_node_killed_mid_task_ends_the_task_once_as_node_lost() {
    let (_server, node, cluster) = one_node(&[], "cluster::logged_sleep", Duration::from_secs(1));
    let (log, log_arg) = log_path("killed");
    let task = cluster.submit(logged_sleep, (log_arg, 60_000));
    wait_started(&log, 1);
    let node_name_has_pid = format!(":{}:", node.pid());
    kill(node.pid(), libc::SIGKILL);
    match task.join_timeout(Duration::from_secs(60)) {
        Ok(Err(TaskError::NodeLost { node, attempts })) => {
            assert_eq!(attempts, 1);
            assert!(node.contains(&node_name_has_pid), "{node}");
        }
        other => panic!("expected NodeLost, got {:?}", other.map_err(|_| "still running")),
    }
    assert_eq!(runs(&log).len(), 1);
    cluster.shutdown();
}

#[test]
fn with_retries_a_lost_task_runs_again_on_another_node() {
    let server = RedisServer::start();
    let a = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_WORKERS", "1")]);
    let b = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_WORKERS", "1")]);
    wait_served(&server, "cluster::logged_sleep", 2);
    let cluster = Cluster::builder(server.url())
        .node_timeout(Duration::from_secs(1))
        .retries(1)
        .build()
        .unwrap();
    let (log, log_arg) = log_path("retried");
    let task = cluster.submit(logged_sleep, (log_arg, 2_000));
    wait_started(&log, 1);
    let worker: u32 = runs(&log)[0].parse().unwrap();
    let (victim, survivor) = if descends_from(worker, a.pid()) { (a, b) } else { (b, a) };
    assert!(descends_from(worker, victim.pid()));
    kill(victim.pid(), libc::SIGKILL);
    let pid = task.join_timeout(Duration::from_secs(60)).expect("no outcome").unwrap();
    assert!(
        descends_from(pid, survivor.pid()),
        "the second run was not on the other node"
    );
    assert_eq!(runs(&log).len(), 2);
    drop(victim);
    cluster.shutdown();
}

#[test]
fn a_node_stopped_past_its_timeout_then_resumed_gives_one_outcome() {
    let (_server, node, cluster) = one_node(&[], "cluster::logged_sleep", Duration::from_secs(1));
    let (log, log_arg) = log_path("stopped");
    let task = cluster.submit(logged_sleep, (log_arg, 2_000));
    wait_started(&log, 1);
    kill(node.pid(), libc::SIGSTOP);
    let outcome = task
        .join_timeout(Duration::from_secs(60))
        .expect("no outcome while the node was stopped");
    assert!(
        matches!(outcome, Err(TaskError::NodeLost { attempts: 1, .. })),
        "{outcome:?}"
    );
    kill(node.pid(), libc::SIGCONT);
    // The node wakes, finishes, and reports: that second outcome is dropped.
    assert!(
        wait_for(Duration::from_secs(30), || cluster.late_results() == 1),
        "the late result never came"
    );
    assert_eq!(runs(&log).len(), 1);
    assert_eq!(cluster.submit(double, 4).join(), Ok(8), "the resumed node serves again");
    cluster.shutdown();
}

#[test]
fn nodes_of_another_build_are_unsupported_at_once() {
    let server = RedisServer::start();
    // With no node at all.
    let cluster = cluster(&server, Duration::from_secs(5));
    match cluster.submit(double, 1).join() {
        Err(TaskError::Unsupported { name, reason }) => {
            assert_eq!(name, "cluster::double");
            assert!(reason.contains("no live node"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A node that serves `tests.versioned` with other types, and not
    // `double`: as a node built from another version of the program.
    let _node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_SERVE", "versioned_a")]);
    wait_served(&server, "tests.versioned", 1);
    assert_eq!(cluster.submit(versioned_a, 1).join(), Ok(2));
    match cluster.submit(versioned_b, "abc".to_owned()).join() {
        Err(TaskError::Unsupported { name, reason }) => {
            assert_eq!(name, "tests.versioned");
            assert!(reason.contains("of another shape"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let all: Vec<_> = cluster.map(double, 0..3).collect();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter().all(|r| matches!(r, Err(TaskError::Unsupported { .. }))),
        "{all:?}"
    );
    match cluster.submit(|x: u64| x + 1, 1).join() {
        Err(TaskError::Unsupported { reason, .. }) => assert!(reason.contains("#[forkpool::remote]"), "{reason}"),
        other => panic!("{other:?}"),
    }
    cluster.shutdown();
}

#[test]
fn a_wrong_password_or_a_missing_permission_is_one_clear_error() {
    let server = RedisServer::start_with(&[("weak", "weak-secret", "resetkeys ~fp:* -@all +@connection +@stream")]);
    let wrong = server.url_for("fp", "not-the-password");
    let e = Cluster::builder(&wrong).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission, "{e}");
    assert!(!e.to_string().contains("not-the-password"), "{e}");
    let e = Node::builder(&wrong).workers(1).run().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission, "{e}");

    let e = Cluster::builder(server.url_for("weak", "weak-secret"))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission, "{e}");
    assert!(e.to_string().contains("`TIME`"), "{e}");

    // No user in the URL: the advice is the URL's login, not the ACL.
    let e = Cluster::builder(format!("redis://127.0.0.1:{}/0", server.port))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission, "{e}");
    assert!(e.to_string().contains("requires a password"), "{e}");
    assert!(!e.to_string().contains("ACL"), "{e}");

    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Cluster::builder(format!("redis://fp:x@127.0.0.1:{port}/0"))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Broker, "{e}");
    // The probe left nothing behind.
    assert_eq!(server.keys(), Vec::<String>::new());
}

#[test]
fn a_broker_that_goes_away_ends_every_task_with_an_error() {
    let mut server = RedisServer::start();
    let _node = NodeProcess::start(&server.url(), &[("FP_TEST_NODE_WORKERS", "1")]);
    wait_served(&server, "cluster::logged_sleep", 1);
    let cluster = cluster(&server, Duration::from_secs(1));
    let (log, log_arg) = log_path("broker");
    let tasks: Vec<_> = (0..4)
        .map(|_| cluster.submit(logged_sleep, (log_arg.clone(), 30_000)))
        .collect();
    wait_started(&log, 1);
    server.kill();
    for task in tasks {
        match task.join_timeout(Duration::from_secs(60)) {
            Ok(Err(TaskError::BrokerLost { message })) => assert!(!message.is_empty()),
            other => panic!("expected BrokerLost, got {:?}", other.map_err(|_| "still waiting")),
        }
    }
    assert!(matches!(
        cluster.submit(double, 1).join(),
        Err(TaskError::BrokerLost { .. })
    ));
    let started = Instant::now();
    cluster.shutdown();
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_broker_that_pauses_briefly_costs_no_task() {
    let (server, _node, cluster) = one_node(&[], "cluster::double", Duration::from_secs(5));
    assert_eq!(cluster.submit(double, 1).join(), Ok(2));
    let redis = server.pid().unwrap();
    kill(redis, libc::SIGSTOP);
    let tasks: Vec<_> = (0..20).map(|i| cluster.submit(double, i)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    kill(redis, libc::SIGCONT);
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.join(), Ok(2 * i as u64));
    }
    cluster.shutdown();
}

#[test]
fn nodes_claim_no_more_than_their_idle_workers_and_heartbeats_keep_long_tasks() {
    let (server, _node, cluster) = one_node(
        &[("FP_TEST_NODE_WORKERS", "1")],
        "cluster::logged_sleep",
        Duration::from_secs(1),
    );
    let (log, log_arg) = log_path("claims");
    // Each runs for 3 s, three times the node timeout.
    let tasks: Vec<_> = (0..3)
        .map(|_| cluster.submit(logged_sleep, (log_arg.clone(), 3_000)))
        .collect();
    wait_started(&log, 1);
    let key = format!("fp:{{{}}}:q:cluster::logged_sleep:", cluster.id());
    let mut admin = server.admin();
    let streams: Vec<String> = redis::cmd("KEYS").arg(format!("{key}*")).query(&mut admin).unwrap();
    assert_eq!(streams.len(), 1, "{streams:?}");
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg(&streams[0])
        .arg("fp-nodes")
        .query(&mut admin)
        .unwrap();
    let pending = match summary {
        redis::Value::Array(fields) => match fields.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let length: u64 = redis::cmd("XLEN").arg(&streams[0]).query(&mut admin).unwrap();
    assert_eq!(
        (pending, length),
        (1, 3),
        "a one-worker node claimed more than one entry"
    );
    for task in tasks {
        let outcome = task.join();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    assert_eq!(runs(&log).len(), 3, "a task ran twice: {:?}", runs(&log));
    assert_eq!(cluster.late_results(), 0);
    cluster.shutdown();
}

#[test]
fn map_sends_many_items_per_stream_entry() {
    let (server, _node, cluster) = one_node(&[], "cluster::double", Duration::from_secs(10));
    let mut admin = server.admin();
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut admin).unwrap();
    let n = 20_000u64;
    let sum: u64 = cluster.map(double, 0..n).map(Result::unwrap).sum();
    assert_eq!(sum, n * (n - 1));
    let xadds = xadd_calls(&mut admin);
    // Batches each way; far fewer than one entry per item.
    assert!(xadds < n / 20, "{xadds} XADDs for {n} items");
    cluster.shutdown();
}

#[test]
fn a_burst_of_quick_submissions_shares_entries_and_each_task_ends_as_alone() {
    let (server, _node, cluster) = one_node(&[], "cluster::unlucky", Duration::from_secs(10));
    // Tasks prove quick first; then bursts are sent many to an entry.
    for i in 0..20 {
        assert_eq!(cluster.submit(unlucky, 100 + i).join(), Ok(100 + i));
    }
    let mut admin = server.admin();
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut admin).unwrap();
    let tasks: Vec<_> = (0..2000).map(|i| cluster.submit(unlucky, i)).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.join();
        if i == 13 {
            assert_eq!(
                outcome,
                Err(TaskError::Crashed {
                    signal: Some(libc::SIGSEGV),
                    exit_code: None
                })
            );
        } else {
            assert_eq!(outcome, Ok(i as u64), "task {i}");
        }
    }
    let xadds = xadd_calls(&mut admin);
    assert!(xadds < 2000, "{xadds} XADDs for 2000 tasks: none shared an entry");
    cluster.shutdown();
}

/// A client for `a_sigkilled_client_leaves_keys_that_expire`.
#[test]
#[ignore = "a client process for the other tests"]
fn client_main() {
    let Ok(url) = std::env::var("FP_TEST_CLIENT_URL") else {
        return;
    };
    let cluster = Cluster::builder(url)
        .node_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    drop(cluster.submit(double, 1)); // makes its task stream
    println!("client {} ready", cluster.id());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_sigkilled_client_leaves_keys_that_expire() {
    let server = RedisServer::start();
    let (mut client, _out) = start_client(&server.url(), &[], "ready");
    let keys = server.keys();
    assert!(keys.iter().any(|k| k.ends_with(":r")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(":q:cluster::double:")), "{keys:?}");
    client.kill().unwrap();
    client.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || server.keys().is_empty()),
        "keys left: {:?}",
        server.keys()
    );
}

#[test]
fn a_node_finishes_its_tasks_on_sigterm_and_gives_back_the_signal() {
    let (_server, node, cluster) = one_node(
        &[("FP_TEST_NODE_WORKERS", "1")],
        "cluster::logged_sleep",
        Duration::from_secs(5),
    );
    let (log, log_arg) = log_path("sigterm");
    let task = cluster.submit(logged_sleep, (log_arg, 1_500));
    wait_started(&log, 1);
    kill(node.pid(), libc::SIGTERM);
    assert!(task.join().is_ok(), "the node did not finish its task");
    let (status, out) = node.wait_exit(Duration::from_secs(30)).expect("the node did not stop");
    assert!(status.success(), "{status:?}");
    assert!(out.contains("SIGTERM is default again"), "{out}");
    // It no longer offers anything.
    match cluster.submit(double, 1).join() {
        Err(TaskError::Unsupported { .. }) => {}
        other => panic!("{other:?}"),
    }
    cluster.shutdown();
}

#[test]
fn any_forkpool_program_serves_as_a_node_when_started_with_forkpool_node_set() {
    let server = RedisServer::start();
    // This test binary, started to run no test at all: with FORKPOOL_NODE
    // set, its `main` (the test harness) never runs; a node does.
    let start = |url: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "no_such_test"])
            .env(forkpool::cluster::NODE_ENV, url)
            .env(forkpool::cluster::NODE_WORKERS_ENV, "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let node = NodeProcess {
        child: start(&server.url()),
    };
    wait_served(&server, "cluster::double", 1);
    let cluster = cluster(&server, Duration::from_secs(5));
    let got: Vec<u64> = cluster.map(double, 0..100).map(Result::unwrap).collect();
    assert_eq!(got, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    cluster.shutdown();
    kill(node.pid(), libc::SIGTERM);
    let (status, out) = node.wait_exit(Duration::from_secs(30)).expect("the node did not stop");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!out.contains("running"), "the test harness ran: {out}");

    // A node that cannot start says why, once, and exits 1.
    let mut failed = start(&server.url_for("fp", "not-the-password"));
    let ok = wait_for(Duration::from_secs(30), || matches!(failed.try_wait(), Ok(Some(_))));
    assert!(ok, "a node with a wrong password did not exit");
    let output = failed.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("forkpool node: "), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    assert!(output.stdout.is_empty(), "the test harness ran: {:?}", output.stdout);
}

/// A task entry's head, as the wire carries it (`src/cluster/wire.rs`),
/// for forging entries as a broken-into broker could.
#[derive(serde::Serialize)]
struct ForgedHead {
    version: u8,
    name: String,
    type_hash: u64,
    items: u32,
    attempt: u32,
    at_most_once: bool,
    separate: bool,
    task_timeout_ns: Option<u64>,
    node_timeout_ns: u64,
}

/// The type hash a live node offers `name` with.
fn offered_hash(server: &RedisServer, name: &str) -> u64 {
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("fp:offer:{name}"))
        .arg(0)
        .arg(-1)
        .query(&mut server.admin())
        .unwrap();
    let hash = members[0].split(' ').next().unwrap();
    u64::from_str_radix(hash, 16).unwrap()
}

#[test]
fn a_broken_into_broker_cannot_make_a_node_run_anything_but_the_entry_it_names() {
    let (server, _node, cluster) = one_node(&[], "cluster::double", Duration::from_secs(5));
    wait_served(&server, "cluster::segfault", 1);
    // The client's stream for `double` exists, and the node reads it.
    assert_eq!(cluster.submit(double, 1).join(), Ok(2));
    let double_hash = offered_hash(&server, "cluster::double");
    let segv_hash = offered_hash(&server, "cluster::segfault");
    let stream = format!("fp:{{{}}}:q:cluster::double:{double_hash:016x}", cluster.id());
    let (log, log_arg) = log_path("forged");
    let mut item = Vec::new();
    let body = postcard::to_allocvec(&log_arg).unwrap();
    item.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    item.extend_from_slice(&body);
    let head = |name: &str, type_hash: u64, version: u8| {
        postcard::to_allocvec(&ForgedHead {
            version,
            name: name.into(),
            type_hash,
            items: 1,
            attempt: 0,
            at_most_once: true,
            separate: false,
            task_timeout_ns: None,
            node_timeout_ns: 5_000_000_000,
        })
        .unwrap()
    };
    // The control: a well-formed entry of a function of its own stream
    // runs (so the forged heads above are what the wire carries).
    let (control_log, control_arg) = log_path("forged-control");
    assert!(cluster.submit(logged_sleep, (control_arg.clone(), 0)).join().is_ok());
    assert_eq!(runs(&control_log).len(), 1);
    let sleep_hash = offered_hash(&server, "cluster::logged_sleep");
    let sleep_stream = format!("fp:{{{}}}:q:cluster::logged_sleep:{sleep_hash:016x}", cluster.id());
    let mut control = Vec::new();
    let body = postcard::to_allocvec(&(control_arg, 0u64)).unwrap();
    control.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    control.extend_from_slice(&body);
    let mut admin = server.admin();
    let _: String = redis::cmd("XADD")
        .arg(&sleep_stream)
        .arg("*")
        .arg("t")
        .arg("900000")
        .arg("h")
        .arg(head("cluster::logged_sleep", sleep_hash, 1).as_slice())
        .arg("p")
        .arg(control.as_slice())
        .query(&mut admin)
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || runs(&control_log).len() == 2),
        "a well-formed forged entry did not run: the forged heads are not the wire's"
    );
    // An item that claims 32 MiB (over the node's 16 MiB limit) and is cut.
    let mut liar = (32u32 << 20).to_le_bytes().to_vec();
    liar.extend_from_slice(&[0; 8]);
    let forged: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        // Another registered function, in the stream of `double`.
        ("900001", head("cluster::segfault", segv_hash, 1), item.clone()),
        // A wire version the node does not speak.
        ("900002", head("cluster::double", double_hash, 99), item.clone()),
        // Not a head at all.
        ("900003", b"\xff\xff\xff garbage".to_vec(), item.clone()),
        // A right head with an item over the size limit.
        ("900004", head("cluster::double", double_hash, 1), liar),
    ];
    for (id, head, payload) in &forged {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("t")
            .arg(*id)
            .arg("h")
            .arg(head.as_slice())
            .arg("p")
            .arg(payload.as_slice())
            .query(&mut admin)
            .unwrap();
    }
    // Each forged entry is answered (a refusal the client drops: it sent
    // no such task) and deleted, and none ran.
    let answered = wait_for(Duration::from_secs(30), || cluster.late_results() >= 5);
    assert!(
        answered,
        "the node answered {} of 5 forged entries",
        cluster.late_results()
    );
    let left: u64 = redis::cmd("XLEN").arg(&stream).query(&mut admin).unwrap();
    assert_eq!(left, 0, "forged entries left in the stream");
    assert_eq!(runs(&log), Vec::<String>::new(), "a forged entry ran a function");
    // The node is fine, and still serves.
    assert_eq!(cluster.submit(double, 21).join(), Ok(42));
    cluster.shutdown();
}
