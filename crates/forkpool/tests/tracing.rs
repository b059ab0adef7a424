//! The `tracing` feature's events: `cargo test -p forkpool --features tracing --test tracing`.
#![cfg(feature = "tracing")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkpool::Pool;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps the message of every `forkpool` event.
#[derive(Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Collect {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "forkpool"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0.lock().unwrap().push(message);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn workers_timeouts_aborts_and_recycling_are_traced() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Collect(seen.clone())).unwrap();
    let count = |what: &str| seen.lock().unwrap().iter().filter(|m| m.as_str() == what).count();

    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(200))
        .max_tasks_per_worker(3)
        .build()
        .unwrap();
    assert_eq!(count("worker started"), 1);
    let hang = pool.submit(
        |_: ()| -> u8 {
            loop {
                std::thread::park()
            }
        },
        (),
    );
    assert!(hang.join().is_err());
    let crash = pool.submit(|_: ()| -> u8 { std::process::abort() }, ());
    assert!(crash.join().is_err());
    let long = pool.submit(|_: ()| std::thread::sleep(Duration::from_millis(150)), ());
    std::thread::sleep(Duration::from_millis(50));
    assert!(long.abort());
    for _ in 0..3 {
        pool.submit(|x: u8| x, 1).join().unwrap();
    }
    pool.shutdown();
    assert_eq!(count("task timed out; killing its worker"), 1, "{seen:?}");
    assert_eq!(count("task aborted; killing its worker"), 1, "{seen:?}");
    assert!(count("worker lost") >= 3, "{seen:?}");
    assert_eq!(count("worker recycled"), 1, "{seen:?}");
    assert!(count("worker started") >= 4, "{seen:?}");

    // An exec pool's guardian killed: another is started, and said so.
    let pool = Pool::builder()
        .workers(1)
        .start_method(forkpool::StartMethod::Exec)
        .build()
        .unwrap();
    common::kill_guardian_and_wait_for_another(std::process::id(), &mut Vec::new());
    assert!(
        common::wait_for(Duration::from_secs(30), || count(
            "guardian process died; started another"
        ) == 1),
        "{seen:?}"
    );
    assert_eq!(pool.submit(|x: u8| x, 7).join(), Ok(7), "the pool works on");
    pool.shutdown();
}
