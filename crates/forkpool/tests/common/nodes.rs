//! Nodes as real processes for the cluster tests: the test binary run
//! again as its ignored `node_main` test, and what the tests look at.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::common::{temp_path, wait_for};
use super::redis_server::RedisServer;

/// A node: this test binary run again as `node_main`.
pub struct NodeProcess {
    pub child: Child,
}

impl NodeProcess {
    pub fn start(url: &str, env: &[(&str, &str)]) -> NodeProcess {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "node_main", "--ignored", "--nocapture", "--test-threads=1"])
            .env("FP_TEST_NODE_URL", url)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        NodeProcess { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the node to exit; its status and what it printed.
    pub fn wait_exit(mut self, timeout: Duration) -> Option<(ExitStatus, String)> {
        let ok = wait_for(timeout, || matches!(self.child.try_wait(), Ok(Some(_))));
        if !ok {
            return None;
        }
        let status = self.child.wait().unwrap();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        }
        Some((status, out))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // Our own unreaped child: its pid cannot have been reused.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `nodes` nodes offer `name`.
pub fn wait_served(server: &RedisServer, name: &str, nodes: usize) {
    let key = format!("fp:offer:{name}");
    let served = wait_for(Duration::from_secs(30), || {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query(&mut server.admin())
            .unwrap();
        members.len() >= nodes
    });
    assert!(served, "{nodes} node(s) did not come up serving {name}");
}

/// The lines a task logged (one per run).
pub fn runs(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn log_path(name: &str) -> (TempLog, String) {
    let p = temp_path(name);
    let s = p.display().to_string();
    (TempLog(p), s)
}

/// A log file in the temp directory, removed when the test is done with
/// it (so that runs leave nothing behind in `/tmp`).
pub struct TempLog(PathBuf);

impl std::ops::Deref for TempLog {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempLog {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits until the task logging to `log` has started `n` times.
pub fn wait_started(log: &Path, n: usize) {
    assert!(
        wait_for(Duration::from_secs(30), || runs(log).len() >= n),
        "the task never started"
    );
}

/// A client process: this test binary run again as its ignored
/// `client_main` test, with `FP_TEST_CLIENT_URL` and `envs` set. Returns
/// once it has printed a line containing `ready`; the rest of its output
/// can be read from the reader.
pub fn start_client(url: &str, envs: &[(&str, &str)], ready: &str) -> (Child, BufReader<ChildStdout>) {
    let mut client = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "client_main", "--ignored", "--nocapture", "--test-threads=1"])
        .env("FP_TEST_CLIENT_URL", url)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the client died");
    }
    (client, out)
}
