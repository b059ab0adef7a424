//! The typed API: values in and out, waiting, futures, `map`, errors.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;

use common::Unsendable;
use forkpool::{Pool, TaskError, as_completed};
use serde::{Deserialize, Serialize};

fn pool(workers: usize) -> Pool {
    Pool::builder().workers(workers).build().unwrap()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shape {
    name: String,
    points: Vec<(i64, i64)>,
    tags: BTreeMap<String, Option<f64>>,
}

#[test]
fn structured_values_cross_both_ways() {
    let pool = pool(1);
    let shape = Shape {
        name: "tri".into(),
        points: vec![(0, 0), (4, 0), (0, 3)],
        tags: [("area".to_string(), Some(6.0)), ("hole".to_string(), None)].into(),
    };
    let grown = pool
        .submit(
            |mut s: Shape| {
                s.points.iter_mut().for_each(|p| *p = (p.0 * 2, p.1 * 2));
                s.name.push('!');
                s
            },
            shape.clone(),
        )
        .join()
        .unwrap();
    assert_eq!(grown.name, "tri!");
    assert_eq!(grown.points, [(0, 0), (8, 0), (0, 6)]);
    assert_eq!(grown.tags, shape.tags);
    let r: Result<u8, String> = pool
        .submit(|x: i32| u8::try_from(x).map_err(|e| e.to_string()), 300)
        .join()
        .unwrap();
    assert!(r.is_err());
}

fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

#[test]
fn plain_functions_and_closures_both_work() {
    let pool = pool(1);
    assert_eq!(pool.submit(add, (2, 3)).join(), Ok(5));
    assert_eq!(pool.submit(|v: Vec<u8>| v.len(), vec![1, 2, 3]).join(), Ok(3));
}

#[test]
fn tasks_are_futures_for_any_executor() {
    let pool = pool(2);
    let (a, b) = pollster::block_on(async {
        let a = pool.submit(sleep_ms, 50);
        let b = pool.submit(|x: u32| x * 2, 21);
        (a.await, b.await)
    });
    assert_eq!((a, b), (Ok(50), Ok(42)));
    let crash = pollster::block_on(pool.submit(|_: ()| -> u8 { std::process::abort() }, ()));
    assert!(matches!(crash, Err(TaskError::Crashed { .. })));
}

#[test]
fn waiting_with_a_deadline() {
    let pool = pool(1);
    let task = pool.submit(sleep_ms, 400);
    assert!(!task.wait_timeout(Duration::from_millis(10)));
    assert!(!task.is_finished());
    let task = task.join_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(task.wait_deadline(Instant::now() + Duration::from_secs(10)));
    assert!(task.is_finished());
    assert_eq!(task.join_timeout(Duration::ZERO).unwrap(), Ok(400));
}

#[test]
fn as_completed_yields_in_finishing_order() {
    let pool = pool(3);
    let tasks = [600u64, 10, 300].map(|ms| pool.submit(sleep_ms, ms));
    let mut done = as_completed(tasks);
    assert_eq!(done.len(), 3);
    assert_eq!(done.next_timeout(Duration::ZERO), None, "nothing is done yet");
    let order: Vec<_> = done.by_ref().collect();
    assert_eq!(order, [(1, Ok(10)), (2, Ok(300)), (0, Ok(600))]);
    assert!(done.is_empty());
    assert_eq!(done.next(), None);
}

#[test]
fn map_keeps_input_order_when_items_finish_out_of_order() {
    let pool = pool(3);
    let inputs: Vec<u64> = (0..30).map(|i| (30 - i) % 7).collect();
    let out: Vec<u64> = pool.map(sleep_ms, inputs.clone()).map(Result::unwrap).collect();
    assert_eq!(out, inputs);
}

#[test]
fn map_unordered_yields_everything_once() {
    let pool = pool(2);
    let mut out: Vec<u64> = pool
        .map_unordered(|x: u64| x * 3, 0..10_000)
        .map(Result::unwrap)
        .collect();
    out.sort_unstable();
    assert_eq!(out, (0..10_000).map(|x| x * 3).collect::<Vec<_>>());
}

#[test]
fn map_is_lazy_and_bounded_on_an_endless_input() {
    let pool = pool(2);
    let pulled = Cell::new(0u64);
    let first: Vec<u64> = pool
        .map(|x: u64| x + 1, (0u64..).inspect(|_| pulled.set(pulled.get() + 1)))
        .take(1000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, (1..=1000).collect::<Vec<_>>());
    // A window of chunks, never the whole (endless) input.
    assert!(pulled.get() < 500_000, "pulled {} inputs", pulled.get());
}

#[test]
fn map_fails_items_one_by_one() {
    let pool = pool(2);
    let results: Vec<_> = pool
        .map(
            |i: u32| match i {
                3 => panic!("item {i}"),
                5 => std::process::abort(),
                _ => i,
            },
            0..10,
        )
        .collect();
    for (i, r) in results.into_iter().enumerate() {
        match i {
            3 => assert!(
                matches!(&r, Err(TaskError::Panicked { message, .. }) if message == "item 3"),
                "{r:?}"
            ),
            5 => assert!(matches!(r, Err(TaskError::Crashed { signal: Some(6), .. })), "{r:?}"),
            _ => assert_eq!(r, Ok(i as u32)),
        }
    }
}

#[test]
fn quick_tasks_do_not_wait_behind_a_slow_one_while_a_worker_is_free() {
    let pool = pool(2);
    // Tiny tasks first: the pool learns tasks are quick, and so queues
    // several at each worker.
    let warm: Vec<_> = (0..200u64).map(|i| pool.submit(|x: u64| x, i)).collect();
    for task in warm {
        task.join().unwrap();
    }
    let slow = pool.submit(sleep_ms, 2000);
    let quick: Vec<_> = (0..10).map(|_| pool.submit(sleep_ms, 1)).collect();
    for task in quick {
        assert_eq!(task.join(), Ok(1));
    }
    assert!(!slow.is_finished(), "quick tasks waited for the slow one");
    assert_eq!(slow.join(), Ok(2000));
}

#[test]
fn dropping_a_map_early_leaves_the_pool_usable() {
    let pool = pool(2);
    let mut slow = pool.map(sleep_ms, [50u64; 40]);
    assert_eq!(slow.next(), Some(Ok(50)));
    drop(slow);
    assert_eq!(pool.submit(|x: u8| x, 9).join(), Ok(9));
}

/// Items below this are instant; from it on each takes a moment, and
/// first logs when it started (ns since the epoch) to the file it is given.
const FAST_ITEMS: u64 = 100_000;

fn epoch_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn fast_then_slow((i, log): (u64, String)) -> u64 {
    if i >= FAST_ITEMS {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).create(true).open(&log) {
            let _ = writeln!(file, "{}", epoch_ns());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    i
}

#[test]
fn dropping_a_map_stops_the_chunks_workers_already_hold() {
    // The fast items teach `map` to send chunks of thousands of items, so
    // when the map is dropped the workers hold thousands of slow ones.
    // They must skip them rather than run them for nobody.
    let pool = pool(2);
    let log = common::temp_path("map-drop-log");
    let arg = log.to_string_lossy().into_owned();
    let mut results = pool.map(fast_then_slow, (0..).map(|i| (i, arg.clone())));
    for expected in 0..FAST_ITEMS {
        assert_eq!(results.next(), Some(Ok(expected)));
    }
    let dropped_at = epoch_ns();
    drop(results);
    pool.shutdown();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    // Items that started after the drop, before the workers heard of it.
    let late = log_text
        .lines()
        .filter(|line| line.parse::<u128>().is_ok_and(|t| t > dropped_at))
        .count();
    assert!(late < 200, "{late} slow items started after the map was dropped");
}

/// Serializes as a number but wants a string back.
#[derive(Debug)]
struct Lopsided;

impl Serialize for Lopsided {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(200)
    }
}

impl<'de> Deserialize<'de> for Lopsided {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|_| Lopsided)
    }
}

#[test]
fn data_that_cannot_cross_is_a_codec_error() {
    let pool = pool(1);
    let arg = pool.submit(|_: Unsendable| 1u8, Unsendable).join();
    // postcard reports custom serde errors without their text; we say which
    // side could not be encoded.
    match arg {
        Err(TaskError::Codec { message }) => assert!(message.contains("cannot encode the argument"), "{message}"),
        other => panic!("{other:?}"),
    }
    let result = pool.submit(|_: ()| Unsendable, ()).join();
    match result {
        Err(TaskError::Codec { message }) => assert!(message.contains("cannot encode the result"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        pool.submit(|_: ()| Lopsided, ()).join(),
        Err(TaskError::Codec { .. })
    ));
    // In a map, only the item that cannot cross fails.
    let mixed: Vec<_> = pool.map(|x: Option<u8>| x, [Some(1), None, Some(3)]).collect();
    assert_eq!(mixed, [Ok(Some(1)), Ok(None), Ok(Some(3))]);
    assert_eq!(pool.submit(|x: u8| x, 4).join(), Ok(4));
}

#[test]
fn messages_over_the_size_limit_are_codec_errors() {
    let pool = Pool::builder().workers(1).max_message_size(4096).build().unwrap();
    let big_arg = pool.submit(|v: Vec<u8>| v.len(), vec![0u8; 10_000]).join();
    assert!(
        matches!(big_arg, Err(TaskError::Codec { ref message }) if message.contains("limit")),
        "{big_arg:?}"
    );
    let big_result = pool.submit(|n: usize| vec![1u8; n], 10_000).join();
    assert!(
        matches!(big_result, Err(TaskError::Codec { ref message }) if message.contains("limit")),
        "{big_result:?}"
    );
    assert_eq!(pool.submit(|n: usize| vec![1u8; n].len(), 10_000).join(), Ok(10_000));
}

#[test]
fn the_pool_is_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pool>();
    assert_send_sync::<forkpool::Task<String>>();
    let pool = pool(2);
    let sums: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = &pool;
                s.spawn(move || {
                    (0..250)
                        .map(|i| pool.submit(|x: u64| x * 2, t * 1000 + i).join().unwrap())
                        .sum()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, sum) in sums.into_iter().enumerate() {
        let expected: u64 = (0..250).map(|i| (t as u64 * 1000 + i) * 2).sum();
        assert_eq!(sum, expected);
    }
}

#[test]
fn the_pool_reports_its_processes() {
    let pool = pool(3);
    assert_eq!(pool.workers(), 3);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 3);
    let zygote = pool.zygote_pid().unwrap();
    let mut seen: Vec<u32> = pool
        .map(|_: u32| std::process::id(), 0..60)
        .map(Result::unwrap)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert!(seen.iter().all(|p| pids.contains(p)), "{seen:?} vs {pids:?}");
    assert!(!pids.contains(&zygote));
}

#[test]
fn invalid_settings_are_refused_before_anything_starts() {
    use forkpool::ErrorKind;
    for builder in [
        Pool::builder().workers(0),
        Pool::builder().max_tasks_per_worker(0),
        Pool::builder().task_timeout(Duration::ZERO),
        Pool::builder().memory_limit(0),
        Pool::builder().max_message_size(10),
    ] {
        assert_eq!(builder.build().unwrap_err().kind(), ErrorKind::InvalidConfig);
    }
}

#[test]
fn map_works_with_a_small_message_limit() {
    // The limit is per argument and result; chunks of many items are
    // bigger and must still get through.
    let pool = Pool::builder().workers(2).max_message_size(4096).build().unwrap();
    let sum: u64 = pool.map(|x: u64| x, 0..200_000u64).map(Result::unwrap).sum();
    assert_eq!(sum, (0..200_000u64).sum::<u64>());
    let texts: Vec<_> = pool.map(|n: usize| "x".repeat(n), [3000usize; 500]).collect();
    assert!(texts.iter().all(|t| t.as_ref().is_ok_and(|s| s.len() == 3000)));
}
