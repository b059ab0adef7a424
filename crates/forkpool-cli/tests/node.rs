//! `forkpool node PROGRAM`, with a real `redis-server` (loopback, no
//! persistence, the cluster's least-privilege ACL user) and this test
//! binary as the program: started by `forkpool node`, it serves its
//! `#[forkpool::remote]` function instead of running the tests.

#[path = "../../forkpool/tests/common/redis_server.rs"]
mod redis_server;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use forkpool::TaskError;
use forkpool::cluster::Cluster;
use redis_server::RedisServer;

#[forkpool::remote]
fn triple(x: u64) -> u64 {
    x * 3
}

fn forkpool_node(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forkpool"));
    cmd.arg("node").args(args).env_remove("FORKPOOL_BROKER");
    cmd
}

/// Waits up to `timeout` for `child` to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // Our own unreaped child: its pid cannot have been reused.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn forkpool_node_starts_a_program_as_a_node_that_stops_on_sigterm() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let broker_file = dir.path().join("broker");
    std::fs::write(&broker_file, format!("{}\n", server.url())).unwrap();
    let me = std::env::current_exe().unwrap();
    let node = forkpool_node(&[
        "--workers",
        "2",
        "--broker-file",
        broker_file.to_str().unwrap(),
        "--",
        me.to_str().unwrap(),
        "--exact",
        "no_such_test",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut node = Reaped(node);

    let cluster = Cluster::builder(server.url())
        .node_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Unsupported until the node offers the function.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        match cluster.submit(triple, 14).join() {
            Err(TaskError::Unsupported { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => break other,
        }
    };
    assert_eq!(first, Ok(42));
    let all: Vec<u64> = cluster.map(triple, 0..1000).map(Result::unwrap).collect();
    assert_eq!(all, (0..1000).map(|i| i * 3).collect::<Vec<_>>());
    cluster.shutdown();

    // `forkpool node` became the program: the signal reaches the node.
    let pid = rustix::process::Pid::from_raw(i32::try_from(node.0.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = wait_exit(&mut node.0, Duration::from_secs(30)).expect("the node did not stop on SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(node.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(!out.contains("running"), "the program's main ran: {out}");
}

#[test]
fn forkpool_node_without_a_broker_or_program_is_a_clear_error() {
    let out = forkpool_node(&["--", "/bin/true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs the broker's URL"), "{stderr}");

    let out = forkpool_node(&["--broker", "redis://127.0.0.1:1", "--", "/nonexistent/app"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot start /nonexistent/app"), "{stderr}");

    let out = forkpool_node(&["--broker-file", "/nonexistent/broker", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read --broker-file"));

    // A program that is not a forkpool cluster program is refused, in one
    // line, before it runs (with the broker's password in its environment).
    let out = forkpool_node(&["--broker", "redis://127.0.0.1:1", "--", "/bin/echo", "ran"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/bin/echo is not a forkpool cluster program"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty(), "the program ran: {out:?}");

    // The help names the options.
    let out = forkpool_node(&["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--broker-file"), "{help}");

    // A node that cannot reach its broker says so, and exits 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let me = std::env::current_exe().unwrap();
    let out = forkpool_node(&[
        "--broker",
        &format!("redis://u:p@127.0.0.1:{port}/0"),
        "--",
        me.to_str().unwrap(),
        "--exact",
        "no_such_test",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("forkpool node: "),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "the program's main ran: {out:?}");
}

#[test]
fn node_without_dashes_is_still_a_command_to_run_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("node");
    std::fs::write(&fake, "#!/bin/sh\necho \"node $*\"\n").unwrap();
    let mut perms = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&fake, perms).unwrap();
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(env!("CARGO_BIN_EXE_forkpool"))
        .args(["-k", "node", "x.js", ":::", "a", "b"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "node x.js a\nnode x.js b\n");
    let out = Command::new(env!("CARGO_BIN_EXE_forkpool"))
        .args(["node", "x.js", ":::", "c"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "node x.js c\n");
}
