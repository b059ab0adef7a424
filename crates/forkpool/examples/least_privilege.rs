//! Workers that give up what a task should not have: another user, resource
//! limits and a Landlock sandbox, each shown at work.
//!
//! ```text
//! sudo cargo run --example least_privilege    # as root: run_as too
//! cargo run --example least_privilege         # otherwise: limits and sandbox
//! ```

use std::time::Duration;

use forkpool::{Pool, Rlimit, Sandbox, TaskError};

/// `nobody` on most systems.
const NOBODY: u32 = 65534;

/// A line of the worker's `/proc/self/status`.
fn status_line(key: String) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(&key))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a small file; what happened.
fn write(path: String) -> String {
    match std::fs::write(&path, b"hello") {
        Ok(()) => format!("wrote {path}"),
        Err(e) => format!("cannot write {path}: {e}"),
    }
}

/// Connects to a TCP port on this machine; what happened.
fn connect(port: u16) -> String {
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => format!("connected to 127.0.0.1:{port}"),
        Err(e) => format!("cannot connect to 127.0.0.1:{port}: {e}"),
    }
}

/// Opens files until refused; how many, and why it stopped.
fn open_many(_: ()) -> String {
    let mut files = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => files.push(file),
            Err(e) => return format!("opened {} files, then: {e}", files.len()),
        }
    }
}

/// Spins until the CPU limit ends it.
fn spin(_: ()) -> u64 {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::temp_dir().join(format!("forkpool-least-privilege-{}", std::process::id()));
    std::fs::create_dir_all(&out)?;
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;

    let sandbox = Sandbox::new().read_only("/").read_write(&out).no_network();
    let missing = sandbox.unenforceable();
    let sandbox = if missing.is_empty() {
        sandbox
    } else {
        println!("this kernel cannot enforce all of the sandbox, applying what it can: {missing:?}");
        sandbox.best_effort()
    };
    let mut builder = Pool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(30))
        .rlimit(Rlimit::CpuSeconds(1))
        .rlimit(Rlimit::OpenFiles(64))
        .rlimit(Rlimit::CoreSize(0))
        .sandbox(sandbox);
    if root {
        std::os::unix::fs::chown(&out, Some(NOBODY), Some(NOBODY))?;
        builder = builder.run_as(NOBODY, NOBODY);
    } else {
        println!("not root: the workers keep your user (run_as needs root)");
    }
    let pool = builder.build()?;

    for key in ["Uid", "Gid", "Groups", "NoNewPrivs"] {
        println!(
            "worker {:<30} client {}",
            pool.submit(status_line, key.into()).join()?,
            status_line(key.into())
        );
    }
    println!(
        "{}",
        pool.submit(write, out.join("result.txt").display().to_string())
            .join()?
    );
    println!("{}", pool.submit(write, "/etc/forkpool-was-here".into()).join()?);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("{}", pool.submit(connect, listener.local_addr()?.port()).join()?);
    println!("{}", pool.submit(open_many, ()).join()?);
    match pool.submit(spin, ()).join() {
        Err(error @ TaskError::CpuLimitExceeded { .. }) => println!("a CPU loop: {error}"),
        other => println!("a CPU loop: {other:?}"),
    }

    pool.shutdown();
    std::fs::remove_dir_all(&out)?;
    Ok(())
}
