//! Streaming tasks: `Pool::stream` and `TaskStream`.

mod common;

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use common::Unsendable;
use forkpool::{Pool, SharedBytes, StartMethod, TaskError, TaskStream};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

fn pool(workers: usize) -> Pool {
    Pool::builder().workers(workers).build().unwrap()
}

/// Reads a stream to its end: the items, then the error it ended with.
fn drain<T: serde::de::DeserializeOwned>(stream: TaskStream<T>) -> (Vec<T>, Option<TaskError>) {
    let mut items = Vec::new();
    let mut stream = stream;
    while let Some(item) = stream.next() {
        match item {
            Ok(item) => items.push(item),
            Err(error) => {
                assert!(stream.next().is_none(), "nothing after the error");
                assert!(stream.next().is_none(), "...for good");
                return (items, Some(error));
            }
        }
    }
    assert!(stream.next().is_none(), "nothing after the end");
    (items, None)
}

fn pid_of_worker(pool: &Pool) -> u32 {
    pool.submit(|_: ()| std::process::id(), ()).join().unwrap()
}

// ------------------------------------------------------------- items --

#[test]
fn a_stream_yields_its_items_in_order() {
    let pool = pool(2);
    let (items, error) = drain(pool.stream(|n: u64| (0..n).map(|i| i * i), 300_000));
    assert_eq!(error, None);
    assert_eq!(items.len(), 300_000);
    assert!(items.iter().enumerate().all(|(i, &x)| x == (i as u64) * (i as u64)));
    // Empty, and one item.
    assert_eq!(drain(pool.stream(|_: ()| std::iter::empty::<u8>(), ())), (vec![], None));
    assert_eq!(
        drain(pool.stream(|s: String| Some(s), "one".to_string())),
        (vec!["one".to_string()], None)
    );
}

/// An item of every size and kind: small, too large for the ring (its own
/// message), large enough to go out of line, and holding shared memory.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Mixed {
    index: u64,
    bytes: ByteBuf,
    shared: Option<SharedBytes>,
}

fn mixed(count: u64) -> impl Iterator<Item = Mixed> {
    (0..count).map(|index| {
        let len = match index % 5 {
            0 => 10,
            1 => 100 << 10, // past the ring's largest record
            2 => 300 << 10, // past the out-of-line threshold
            3 => 64 << 10,  // about the ring's largest record
            _ => 0,
        };
        let shared = (index % 3 == 0).then(|| SharedBytes::copy_from(&vec![index as u8; 1 << 20]).unwrap());
        Mixed {
            index,
            bytes: ByteBuf::from(vec![(index * 7) as u8; len]),
            shared,
        }
    })
}

#[test]
fn items_of_every_size_and_shared_memory_arrive_whole_and_in_order() {
    let pool = pool(2);
    let (items, error) = drain(pool.stream(mixed, 150));
    assert_eq!(error, None);
    let expected: Vec<Mixed> = mixed(150).collect();
    assert_eq!(items.len(), expected.len());
    for (got, want) in items.iter().zip(&expected) {
        assert_eq!(got.index, want.index);
        assert!(got.bytes == want.bytes, "item {} bytes", got.index);
        assert_eq!(
            got.shared.as_deref(),
            want.shared.as_deref(),
            "item {} shared",
            got.index
        );
    }
}

#[test]
fn a_stream_is_a_futures_stream() {
    use futures_core::Stream;
    let pool = pool(1);
    let mut stream = pool.stream(|n: u32| (0..n).map(|i| format!("item {i}")), 1000);
    let items = pollster::block_on(async {
        let mut items = Vec::new();
        while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            items.push(item.unwrap());
        }
        items
    });
    assert_eq!(items.len(), 1000);
    assert_eq!(items[999], "item 999");
    assert!(futures_core::FusedStream::is_terminated(&stream));
}

#[test]
fn streams_work_with_exec_started_workers() {
    let pool = Pool::builder()
        .workers(1)
        .start_method(StartMethod::Exec)
        .build()
        .unwrap();
    let (items, error) = drain(pool.stream(|n: u64| 0..n, 50_000));
    assert_eq!((items.len(), error), (50_000, None));
}

// -------------------------------------------------------- bad inputs --

#[test]
fn an_argument_that_does_not_serialize_ends_the_stream_with_a_codec_error() {
    let pool = pool(1);
    let (items, error) = drain(pool.stream(|_: Unsendable| 0..3u8, Unsendable));
    assert!(items.is_empty());
    assert!(
        matches!(error, Some(TaskError::Codec { ref message }) if message.contains("argument")),
        "{error:?}"
    );
}

#[test]
fn an_item_that_cannot_be_encoded_ends_the_stream_after_the_items_before_it() {
    let pool = Pool::builder().workers(1).max_message_size(1 << 20).build().unwrap();
    let (items, error) = drain(pool.stream(
        |_: ()| (0..10usize).map(|i| ByteBuf::from(vec![1u8; if i == 3 { 2 << 20 } else { 10 }])),
        (),
    ));
    assert_eq!(items.len(), 3);
    assert!(
        matches!(error, Some(TaskError::Codec { ref message }) if message.contains("limit")),
        "{error:?}"
    );
    let (items, error) = drain(pool.stream(
        |_: ()| (0..5u8).map(|i| if i < 2 { Ok(i) } else { Err(Unsendable) }),
        (),
    ));
    assert_eq!(items.len(), 2);
    assert!(matches!(error, Some(TaskError::Codec { .. })), "{error:?}");
    assert_eq!(pool.submit(|x: u8| x, 1).join(), Ok(1), "the pool goes on");
}

// ---------------------------------------------------------- failures --

/// Counts from 0, and at item 100 fails the way `how` says.
fn fails_at_100(how: u8) -> impl Iterator<Item = u64> {
    (0u64..).inspect(move |&i| {
        if i == 100 {
            match how {
                0 => panic!("gave up at {i}"),
                // SAFETY: not safe at all: the point is to crash.
                1 => unsafe { std::ptr::null_mut::<u64>().write_volatile(i) },
                2 => std::process::abort(),
                3 => std::process::exit(3),
                _ => loop {
                    std::thread::park();
                },
            }
        }
    })
}

fn expect_100_then(pool: &Pool, how: u8, read_late: bool, expected: impl Fn(&TaskError) -> bool) {
    let stream = pool.stream(fails_at_100, how);
    if read_late {
        // The worker is done (or dead) before anything is read.
        std::thread::sleep(Duration::from_millis(300));
    }
    let (items, error) = drain(stream);
    assert_eq!(items, (0..100).collect::<Vec<u64>>(), "none lost, none twice ({how})");
    let error = error.unwrap_or_else(|| panic!("no error for {how}"));
    assert!(expected(&error), "{how}: {error:?}");
    assert_eq!(pool.submit(|x: u64| x + 1, 1).join(), Ok(2), "the pool goes on");
}

#[test]
fn a_panic_yields_the_items_before_it_then_the_panic() {
    let pool = pool(1);
    for read_late in [false, true] {
        expect_100_then(
            &pool,
            0,
            read_late,
            |e| matches!(e, TaskError::Panicked { message, .. } if message.contains("gave up at 100")),
        );
    }
    // A panic before the first item: in the closure itself.
    let (items, error) = drain(pool.stream(|_: ()| -> std::ops::Range<u8> { panic!("no generator") }, ()));
    assert!(items.is_empty());
    assert!(matches!(error, Some(TaskError::Panicked { .. })), "{error:?}");
}

#[test]
fn a_crash_yields_the_items_before_it_then_the_crash() {
    let pool = pool(1);
    for read_late in [false, true] {
        expect_100_then(&pool, 1, read_late, |e| {
            matches!(e, TaskError::Crashed { signal: Some(11), .. })
        });
        expect_100_then(&pool, 2, read_late, |e| {
            matches!(e, TaskError::Crashed { signal: Some(6), .. })
        });
        expect_100_then(&pool, 3, read_late, |e| {
            matches!(e, TaskError::Crashed { exit_code: Some(3), .. })
        });
    }
}

#[test]
fn a_stuck_item_times_out_after_the_items_before_it() {
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    expect_100_then(&pool, 4, false, |e| {
        *e == TaskError::TimedOut {
            after: Duration::from_secs(1),
        }
    });
}

#[test]
fn a_worker_killed_from_outside_mid_stream_ends_it_with_the_items_before() {
    let pool = pool(1);
    let worker = pool.worker_pids()[0];
    let mut stream = pool.stream(fails_at_100, 4);
    let items: Vec<u64> = stream.by_ref().take(100).map(Result::unwrap).collect();
    assert_eq!(items, (0..100).collect::<Vec<u64>>());
    common::kill(worker, libc::SIGKILL);
    assert_eq!(
        stream.next(),
        Some(Err(TaskError::Crashed {
            signal: Some(libc::SIGKILL),
            exit_code: None
        }))
    );
    assert_eq!(stream.next(), None);
    assert_eq!(pool.submit(|x: u64| x + 1, 1).join(), Ok(2));
}

// ---------------------------------------------------------- timeouts --

#[test]
fn the_timeout_bounds_each_item_not_the_stream() {
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    // Three times the timeout in all, 10 ms an item.
    let slow = |n: u32| (0..n).inspect(|_| std::thread::sleep(Duration::from_millis(10)));
    let (items, error) = drain(pool.stream(slow, 250));
    assert_eq!((items.len(), error), (250, None));
}

#[test]
fn a_slow_consumer_does_not_count_against_the_timeout() {
    let pool = Pool::builder()
        .workers(1)
        .task_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    // Big items fill the window fast; the worker then waits for credit.
    let mut stream = pool.stream(|_: ()| (0u32..300).map(|i| ByteBuf::from(vec![i as u8; 32 << 10])), ());
    assert!(stream.next().unwrap().is_ok());
    std::thread::sleep(Duration::from_millis(2500));
    let (items, error) = drain(stream);
    assert_eq!((items.len(), error), (299, None));
}

// ------------------------------------------------------ flow control --

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    common::status_field(&status, "VmRSS")
        .trim_end_matches(" kB")
        .parse()
        .unwrap()
}

/// An endless generator of `size`-byte items that writes how many it has
/// made to `progress` every `every` items.
fn endless(args: (PathBuf, usize, u64)) -> impl Iterator<Item = ByteBuf> {
    let (progress, size, every) = args;
    (0u64..).map(move |i| {
        if i % every == 0 {
            std::fs::write(&progress, i.to_string()).unwrap();
        }
        ByteBuf::from(vec![i as u8; size])
    })
}

/// What the generator last wrote to `progress` (it may be caught between
/// truncating the file and writing it: read again then).
fn made(progress: &std::path::Path) -> u64 {
    loop {
        if let Some(n) = std::fs::read_to_string(progress).ok().and_then(|s| s.parse().ok()) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reads `read` items of an endless generator slowly, pausing twice, and
/// checks that the worker never gets more than `ahead` items ahead and that
/// neither process's memory grows.
fn check_bounded(size: usize, every: u64, read: u64, ahead: std::ops::Range<u64>) {
    let pool = pool(1);
    let worker = pool.worker_pids()[0];
    let progress = common::temp_path("progress");
    let mut stream = pool.stream(endless, (progress.clone(), size, every));
    let mut taken = 0u64;
    let mut take = |stream: &mut TaskStream<ByteBuf>, n: u64| {
        for _ in 0..n {
            let item = stream.next().unwrap().unwrap();
            assert_eq!(item.len(), size);
            assert_eq!(item[0], taken as u8);
            taken += 1;
        }
        taken
    };
    let warm = take(&mut stream, read / 4);
    // The worker runs ahead as far as its credit goes (so that what it
    // holds is at its most when memory is first measured)...
    assert!(common::wait_for(Duration::from_secs(30), || made(&progress) >= warm + ahead.start));
    // ...and no further.
    std::thread::sleep(Duration::from_millis(300));
    let made_at_pause = made(&progress);
    assert!(made_at_pause <= warm + ahead.end, "{made_at_pause} made, {warm} taken");
    let (client, worker_rss) = (rss_kib(std::process::id()), rss_kib(worker));
    // Slowly: a pause every so often.
    for _ in 0..3 {
        take(&mut stream, read / 4);
        std::thread::sleep(Duration::from_millis(100));
    }
    let taken = take(&mut stream, 0);
    std::thread::sleep(Duration::from_millis(300));
    let made_now = made(&progress);
    assert!(made_now <= taken + ahead.end, "{made_now} made, {taken} taken");
    assert!(made_now + every > taken, "the worker did make what was taken");
    let (client_after, worker_after) = (rss_kib(std::process::id()), rss_kib(worker));
    // Several times what the stream moved, had it been held anywhere.
    let moved_kib = (read * 3 / 4) * size as u64 / 1024;
    let slack = 16 << 10;
    assert!(moved_kib > 2 * slack, "the test moves enough to tell");
    assert!(
        client_after < client + slack,
        "client: {client} KiB, then {client_after} KiB"
    );
    assert!(
        worker_after < worker_rss + slack,
        "worker: {worker_rss} KiB, then {worker_after} KiB"
    );
    drop(stream);
    let _ = std::fs::remove_file(progress);
}

#[test]
fn an_endless_stream_with_a_slow_consumer_holds_bounded_memory_on_both_sides() {
    // In a process of its own, so that no other test's memory counts.
    common::run_helper_test("bounded_memory_helper", &[]);
}

#[test]
#[ignore = "run by an_endless_stream_with_a_slow_consumer_holds_bounded_memory_on_both_sides"]
fn bounded_memory_helper() {
    // Items through the ring: at most the ring's bytes ahead.
    check_bounded(16 << 10, 8, 4000, 40..(1 << 20) / (16 << 10) + 16);
    // Items in their own messages: at most 16 MiB of them ahead.
    check_bounded(128 << 10, 8, 600, 100..(16 << 20) / (128 << 10) + 8);
}

/// Endless `()` items (no bytes at all), writing how many were made to
/// `progress` every 1024.
fn endless_units(progress: PathBuf) -> impl Iterator<Item = ()> {
    (0u64..).map(move |i| {
        if i % 1024 == 0 {
            std::fs::write(&progress, i.to_string()).unwrap();
        }
    })
}

#[test]
fn the_item_count_is_bounded_too() {
    let pool = pool(1);
    let progress = common::temp_path("count");
    let mut stream = pool.stream(endless_units, progress.clone());
    stream.next().unwrap().unwrap();
    // The worker runs 65,536 items past what the consumer copied out (one
    // item, up to one 64 KiB chunk of 8-byte records)...
    assert!(
        common::wait_for(Duration::from_secs(30), || made(&progress) >= 65_536 - 1024),
        "the worker did not run ahead ({})",
        made(&progress)
    );
    // ...and no further: the ring alone would take 114,688 of these.
    std::thread::sleep(Duration::from_millis(500));
    let made_at_pause = made(&progress);
    assert!(
        made_at_pause <= 65_536 + 8_192 + 1024,
        "{made_at_pause} items made ahead of 1"
    );
    drop(stream);
    let _ = std::fs::remove_file(progress);
}

// -------------------------------------------------- cancel and drop --

/// How many descriptors process `pid` has open.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[test]
fn dropping_a_stream_stops_the_generator_and_the_worker_is_reused() {
    let pool = pool(1);
    let worker = pid_of_worker(&pool);
    let worker_fds = fd_count(worker);
    // Running flat out.
    let mut stream = pool.stream(|_: ()| (0u64..).map(|_| std::process::id()), ());
    assert_eq!(stream.next(), Some(Ok(worker)));
    drop(stream);
    assert_eq!(pid_of_worker(&pool), worker, "the same worker takes the next task");
    // Waiting for credit.
    let mut stream = pool.stream(|_: ()| (0u64..).map(|i| ByteBuf::from(vec![i as u8; 64 << 10])), ());
    stream.next().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(stream);
    assert_eq!(pid_of_worker(&pool), worker);
    // Cancelled, then read on.
    let mut stream = pool.stream(|_: ()| 0u64.., ());
    assert_eq!(stream.next(), Some(Ok(0)));
    stream.cancel();
    assert_eq!(stream.next(), None, "nothing after a cancel");
    assert!(stream.is_done());
    assert_eq!(pid_of_worker(&pool), worker);
    assert_eq!(fd_count(worker), worker_fds, "the worker keeps no stream's ring");
}

/// Yields its worker's pid, then says (in file `stuck`) that it is stuck
/// in the next item for good.
fn gets_stuck(stuck: PathBuf) -> impl Iterator<Item = u32> {
    (0u64..).map(move |i| {
        if i == 1 {
            std::fs::write(&stuck, "stuck").unwrap();
            loop {
                std::thread::park();
            }
        }
        std::process::id()
    })
}

#[test]
fn a_generator_stuck_in_an_item_when_dropped_has_its_worker_replaced() {
    let pool = pool(1);
    let marker = common::temp_path("stuck");
    let mut stream = pool.stream(gets_stuck, marker.clone());
    let stuck = stream.next().unwrap().unwrap();
    // Dropped while it is inside `next()`, not between items.
    assert!(common::wait_for(Duration::from_secs(10), || marker.exists()));
    drop(stream);
    let _ = std::fs::remove_file(&marker);
    let next = pid_of_worker(&pool);
    assert_ne!(next, stuck, "the stuck worker was killed and replaced");
    assert!(common::wait_for(Duration::from_secs(5), || common::is_dead(stuck)));
}

// ---------------------------------------------------------- sharing --

#[test]
fn other_tasks_go_on_around_a_stream() {
    let pool = pool(2);
    let mut stream = pool.stream(|_: ()| (0u64..).map(|_| std::process::id()), ());
    let streaming = stream.next().unwrap().unwrap();
    let pids: Vec<u32> = (0..20)
        .map(|_| pool.submit(|_: ()| std::process::id(), ()))
        .map(|t| t.join().unwrap())
        .collect();
    assert!(pids.iter().all(|&p| p != streaming), "submits run on the other worker");
    let sum: u64 = pool.map(|x: u64| x + 1, 0..10_000).map(Result::unwrap).sum();
    assert_eq!(sum, 50_005_000);
    // And the stream still flows.
    assert!(stream.by_ref().take(1000).all(|p| p == Ok(streaming)));
    drop(stream);
}

#[test]
fn in_a_pool_of_one_tasks_wait_for_the_open_stream() {
    let pool = pool(1);
    let mut stream = pool.stream(|_: ()| (0u64..).map(|_| std::process::id()), ());
    let streaming = stream.next().unwrap().unwrap();
    let task = pool.submit(|_: ()| std::process::id(), ());
    assert!(
        !task.wait_timeout(Duration::from_millis(300)),
        "queued behind the stream"
    );
    let second = pool.stream(|_: ()| 0..3u8, ());
    assert_eq!(stream.next(), Some(Ok(streaming)), "the open stream still flows");
    drop(stream);
    assert_eq!(task.join(), Ok(streaming), "then the same worker takes it");
    assert_eq!(drain(second), (vec![0, 1, 2], None));
}

// ------------------------------------------------------ pool stopping --

fn ends_with_pool_shutdown(stream: TaskStream<u64>) -> usize {
    let (items, error) = drain(stream);
    assert_eq!(error, Some(TaskError::PoolShutdown));
    assert!(
        items.iter().enumerate().all(|(i, &x)| x == i as u64 + 1),
        "in order, none lost"
    );
    items.len()
}

#[test]
fn shutdown_terminate_and_drop_end_open_streams() {
    for how in ["shutdown", "terminate", "drop"] {
        let pool = pool(1);
        let mut open = pool.stream(|_: ()| 0u64.., ());
        assert_eq!(open.next(), Some(Ok(0)));
        let queued = pool.stream(|_: ()| 0u64.., ());
        match how {
            "shutdown" => pool.shutdown(),
            "terminate" => pool.terminate(),
            _ => drop(pool),
        }
        ends_with_pool_shutdown(open);
        assert_eq!(
            drain(queued),
            (vec![], Some(TaskError::Cancelled)),
            "{how}: never started"
        );
    }
}

#[test]
fn shutdown_wakes_a_consumer_blocked_in_another_thread() {
    let pool = pool(1);
    // One item, then a long wait: the consumer blocks in `next`.
    let stream = pool.stream(
        |_: ()| {
            (0u64..).inspect(|&i| {
                if i == 1 {
                    std::thread::sleep(Duration::from_secs(600));
                }
            })
        },
        (),
    );
    let reader = std::thread::spawn(move || drain(stream));
    std::thread::sleep(Duration::from_millis(300));
    pool.shutdown();
    let (items, error) = reader.join().unwrap();
    assert_eq!((items, error), (vec![0], Some(TaskError::PoolShutdown)));
}

#[test]
fn a_stream_may_outlive_its_pool() {
    let pool = pool(1);
    let finite = pool.stream(|n: u64| 0..n, 1000);
    // The one worker takes this task once the stream has ended.
    pid_of_worker(&pool);
    pool.shutdown();
    let (items, error) = drain(finite);
    assert_eq!(error, None);
    assert_eq!(items.len(), 1000, "a stream that had ended keeps its items");
}
