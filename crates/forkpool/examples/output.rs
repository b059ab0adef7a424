//! What tasks print, three ways: straight through (the default), tagged
//! line by line, or captured and handed back with each result, including
//! what a task printed just before it crashed or timed out.
//!
//! ```text
//! cargo run --example output
//! ```

use std::io::Write;
use std::time::Duration;

use forkpool::{Pool, TaskError, TaskOutput};

/// Prints a few lines, partly in pieces, to both streams; item 3 then
/// crashes and item 4 hangs.
fn chatter(n: u32) -> u32 {
    for step in 1..=3 {
        print!("item {n}: step {step}");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        println!(" done");
    }
    eprintln!("item {n}: a warning");
    match n {
        3 => std::process::abort(),
        4 => std::thread::sleep(Duration::from_secs(3600)),
        _ => {}
    }
    n * 10
}

fn describe(result: &Result<u32, TaskError>) -> String {
    match result {
        Ok(value) => format!("ok: {value}"),
        Err(error) => format!("failed: {error}"),
    }
}

fn main() -> Result<(), forkpool::Error> {
    println!("== Tagged: every line whole, with its task in front");
    let pool = Pool::builder()
        .workers(3)
        .task_output(TaskOutput::Tagged)
        .task_timeout(Duration::from_secs(1))
        .build()?;
    let tasks: Vec<_> = (0..5).map(|n| pool.submit(chatter, n)).collect();
    for task in tasks {
        let id = task.id();
        // Its lines were printed before its result came back.
        println!("task {id}: {}", describe(&task.join()));
    }
    let map = pool.map(|n: u32| println!("squaring {n}: {}", n * n), 0..4);
    println!("map {} tags its items [task {}.INDEX]", map.id(), map.id());
    map.for_each(drop);
    pool.shutdown();

    println!("\n== Capture: each task's output comes back with its result");
    let pool = Pool::builder()
        .workers(3)
        .task_output(TaskOutput::Capture)
        .task_timeout(Duration::from_secs(1))
        .build()?;
    let tasks: Vec<_> = (0..5).map(|n| pool.submit(chatter, n)).collect();
    for (n, task) in tasks.into_iter().enumerate() {
        let done = task.join_captured();
        println!("item {n}: {}", describe(&done.result));
        for line in String::from_utf8_lossy(&done.stdout).lines() {
            println!("    stdout | {line}");
        }
        for line in String::from_utf8_lossy(&done.stderr).lines() {
            println!("    stderr | {line}");
        }
    }
    for item in pool
        .map(
            |n: u32| {
                eprintln!("checking {n}");
                n.is_multiple_of(2)
            },
            0..3,
        )
        .captured()
    {
        println!(
            "even: {:?}, said {:?}",
            item.result,
            String::from_utf8_lossy(&item.stderr).trim_end()
        );
    }

    println!("\n== Where a task panicked");
    let failed = pool.submit(|v: Vec<u32>| v[10], vec![1, 2, 3]).join();
    if let Err(TaskError::Panicked { location, .. }) = &failed {
        println!("at {}", location.as_deref().unwrap_or("?"));
    }
    println!("{}", failed.unwrap_err());
    println!("(run with RUST_BACKTRACE=1 to have the worker's backtrace in the error)");
    pool.shutdown();
    Ok(())
}
