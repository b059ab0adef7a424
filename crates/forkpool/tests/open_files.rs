//! A process out of descriptors (`RLIMIT_NOFILE` reached) cannot take the
//! memfds of `SharedBytes` sent to it: the kernel drops them. Only the
//! items that needed them fail, with the cause and the fix; everything
//! else goes on.
//!
//! Lowering the caller's own limit would starve every other test of this
//! binary running beside it, so the caller-side cases run in a child
//! process: the test re-executes this binary for itself alone, with
//! [`CHILD`] set, and the child lowers its limit.

use forkpool::{Pool, PoolBuilder, Rlimit, SharedBytes, StartMethod, TaskError};

/// Set in the child process a caller-side test runs in.
const CHILD: &str = "FORKPOOL_TEST_OPEN_FILES_CHILD";

/// Runs test `name` of this binary in a child process with [`CHILD`] set,
/// and checks it passed.
fn in_child(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// For a caller-side test `name`: in the child, the pool `builder` makes,
/// then this process's open-files limit lowered to [`LIMIT`]; in the
/// parent, runs the test in a child and returns `None`.
fn caller_at_limit(name: &str, builder: PoolBuilder) -> Option<Pool> {
    if std::env::var_os(CHILD).is_none() {
        in_child(name);
        return None;
    }
    let pool = builder.build().unwrap();
    limit_open_files(LIMIT);
    Some(pool)
}

/// A pool of one worker that may open 64 files.
fn worker_limited(start: StartMethod) -> Pool {
    Pool::builder()
        .workers(1)
        .start_method(start)
        .rlimit(Rlimit::OpenFiles(64))
        .build()
        .unwrap()
}

/// Lowers this process's open-files limit (soft and hard) to `n`.
fn limit_open_files(n: u64) {
    let limit = rustix::process::Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
}

fn codec_message(error: &TaskError) -> &str {
    match error {
        TaskError::Codec { message } => message,
        other => panic!("not a codec error: {other:?}"),
    }
}

// ------------------------------------------------------------ worker --

#[test]
fn an_argument_with_more_buffers_than_the_worker_may_open_fails_alone() {
    for start in [StartMethod::Zygote, StartMethod::Exec] {
        argument_over_the_workers_limit(start);
    }
}

fn argument_over_the_workers_limit(start: StartMethod) {
    let pool = worker_limited(start);
    let buffers: Vec<SharedBytes> = (0..100u8).map(|i| SharedBytes::copy_from(&[i]).unwrap()).collect();
    let error = pool
        .submit(|v: Vec<SharedBytes>| v.len(), buffers.clone())
        .join()
        .unwrap_err();
    let message = codec_message(&error);
    assert!(message.contains("shared buffers could not be received"), "{message}");
    assert!(message.contains("the worker (pid "), "{message}");
    assert!(message.contains("RLIMIT_NOFILE 64"), "{message}");
    assert!(message.contains("Rlimit::OpenFiles"), "{message}");
    // The worker and the pool go on; a task within the limit works, on
    // the same worker, and sees its buffers' own bytes.
    let sum = pool
        .submit(
            |v: Vec<SharedBytes>| v.iter().map(|b| u32::from(b[0])).sum::<u32>(),
            buffers[..10].to_vec(),
        )
        .join()
        .unwrap();
    assert_eq!(sum, (0..10).sum::<u32>());
    // So do the tasks of a map, however they are batched to the worker:
    // nothing of the failed argument is held any more.
    let lens: Vec<usize> = pool
        .map(
            |v: Vec<SharedBytes>| v.len(),
            buffers[..25].chunks(5).map(<[SharedBytes]>::to_vec),
        )
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lens, [5; 5]);
}

#[test]
fn a_stream_whose_argument_the_worker_cannot_take_ends_with_the_cause() {
    let pool = worker_limited(StartMethod::Zygote);
    let buffers: Vec<SharedBytes> = (0..100u8).map(|i| SharedBytes::copy_from(&[i]).unwrap()).collect();
    let mut stream = pool.stream(|v: Vec<SharedBytes>| v.into_iter().map(|b| b[0]), buffers.clone());
    let error = stream.next().unwrap().unwrap_err();
    assert!(codec_message(&error).contains("RLIMIT_NOFILE 64"), "{error}");
    assert_eq!(stream.next(), None);
    let items: Vec<u8> = pool
        .stream(|v: Vec<SharedBytes>| v.into_iter().map(|b| b[0]), buffers[..5].to_vec())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(items, [0, 1, 2, 3, 4]);
}

// ------------------------------------------------------------ caller --

/// Items a stream sends; each holds one shared buffer.
const ITEMS: u32 = 3000;
/// The caller's open-files limit in the child.
const LIMIT: u64 = 256;

#[test]
fn a_stream_to_a_caller_out_of_descriptors_fails_only_the_items_it_cannot_take() {
    let Some(pool) = caller_at_limit(
        "a_stream_to_a_caller_out_of_descriptors_fails_only_the_items_it_cannot_take",
        Pool::builder().workers(2),
    ) else {
        return;
    };
    let stream = pool.stream(
        |n: u32| (0..n).map(|i| (i, SharedBytes::copy_from(&i.to_le_bytes()).unwrap())),
        ITEMS,
    );
    let mut held = Vec::new();
    let mut failed = Vec::new();
    let mut taken = 0u32;
    let mut whole_after_release = 0;
    for item in stream {
        match item {
            Ok((i, bytes)) => {
                // Every item is in its place, with its own buffer.
                assert_eq!(i, taken, "out of order");
                assert_eq!(&bytes[..], &i.to_le_bytes());
                held.push(bytes);
                if failed.len() >= 100 {
                    whole_after_release += 1;
                }
            }
            Err(error) => {
                let message = codec_message(&error);
                assert!(
                    message.contains(&format!("stream item {taken} "))
                        && message.contains("1 shared buffer could not be received")
                        && message.contains("this process (the caller)")
                        && message.contains(&format!("RLIMIT_NOFILE {LIMIT}")),
                    "{message}"
                );
                failed.push(taken);
                if failed.len() == 100 {
                    // The consumer lets go of most of what it holds: the
                    // next items arrive whole again.
                    held.truncate(10);
                }
            }
        }
        taken += 1;
    }
    // Every item was yielded once, as an item or as its error, and the
    // stream ended cleanly.
    assert_eq!(taken, ITEMS);
    assert!(failed.len() >= 100, "{} items failed", failed.len());
    assert!(
        whole_after_release > 100,
        "{whole_after_release} items arrived after the consumer let go"
    );
    // The pool goes on, with descriptors to spare again.
    drop(held);
    let made = pool
        .submit(|n: u8| SharedBytes::copy_from(&[n; 3]).unwrap(), 7)
        .join()
        .unwrap();
    assert_eq!(&made[..], &[7, 7, 7]);
}

#[test]
fn a_result_the_caller_cannot_take_fails_that_task_alone() {
    let Some(pool) = caller_at_limit(
        "a_result_the_caller_cannot_take_fails_that_task_alone",
        Pool::builder().workers(1),
    ) else {
        return;
    };
    let make = |n: usize| {
        (0..n)
            .map(|i| SharedBytes::copy_from(&[i as u8]).unwrap())
            .collect::<Vec<_>>()
    };
    let error = pool.submit(make, 2 * LIMIT as usize).join().unwrap_err();
    let message = codec_message(&error);
    assert!(
        message.starts_with("cannot decode the result: ")
            && message.contains("shared buffers could not be received")
            && message.contains(&format!("RLIMIT_NOFILE {LIMIT}")),
        "{message}"
    );
    // Nothing of it is held: the next result of that size fits.
    let got = pool.submit(make, 100).join().unwrap();
    assert_eq!(got.len(), 100);
    assert!(got.iter().enumerate().all(|(i, b)| b[0] == i as u8));
}

#[test]
fn a_caller_out_of_descriptors_for_the_pools_own_needs_gets_the_cause_and_recovers() {
    // Each task retires its worker: every task needs a new one.
    let builder = Pool::builder().workers(1).max_tasks_per_worker(1);
    let name = "a_caller_out_of_descriptors_for_the_pools_own_needs_gets_the_cause_and_recovers";
    let Some(pool) = caller_at_limit(name, builder) else {
        return;
    };
    assert_eq!(pool.submit(|x: u32| x + 1, 1).join(), Ok(2));
    // Use up every descriptor: making one more shared buffer says why not.
    let mut held = Vec::new();
    let refusal = loop {
        match SharedBytes::copy_from(&[1]) {
            Ok(bytes) => held.push(bytes),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        refusal.contains(&format!("RLIMIT_NOFILE {LIMIT}")) && refusal.contains("drop those you no longer need"),
        "{refusal}"
    );
    // A stream needs a ring: it fails at once, saying why. (Or, if the
    // worker that replaces the retired one was not up before the
    // descriptors ran out, it needs that worker first, and says why that
    // cannot start: the same cause either way.)
    let mut stream = pool.stream(|n: u32| 0..n, 3);
    let error = stream.next().unwrap().unwrap_err();
    let message = match &error {
        TaskError::Codec { message } | TaskError::WorkerStartFailed { message } => message,
        other => panic!("neither a codec error nor a worker start failure: {other:?}"),
    };
    assert!(message.contains(&format!("RLIMIT_NOFILE {LIMIT}")), "{error}");
    assert_eq!(stream.next(), None);
    // A task needs a new worker, which cannot be started: a task fails
    // with the cause (the worker made before the shortage may run one).
    let mut start_failure = None;
    for i in 0..3 {
        match pool.submit(|x: u32| x + 1, i).join() {
            Ok(got) => assert_eq!(got, i + 1),
            Err(TaskError::WorkerStartFailed { message }) => {
                start_failure = Some(message);
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let message = start_failure.expect("a worker could not be started");
    assert!(
        message.contains("cannot start a worker") && message.contains(&format!("RLIMIT_NOFILE {LIMIT}")),
        "{message}"
    );
    // Once the caller lets go, the pool starts workers again (after its
    // back-off, a few seconds at most) and every task ends.
    held.clear();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match pool.submit(|x: u32| x * 2, 21).join() {
            Ok(got) => break assert_eq!(got, 42),
            Err(TaskError::WorkerStartFailed { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(other) => panic!("the pool did not recover: {other:?}"),
        }
    }
}

#[test]
fn an_async_stream_to_a_caller_out_of_descriptors_goes_on_too() {
    use futures_core::Stream;
    use std::pin::Pin;
    let Some(pool) = caller_at_limit(
        "an_async_stream_to_a_caller_out_of_descriptors_goes_on_too",
        Pool::builder().workers(1),
    ) else {
        return;
    };
    let mut stream = pool.stream(
        |n: u32| (0..n).map(|i| (i, SharedBytes::copy_from(&[i as u8]).unwrap())),
        2 * LIMIT as u32,
    );
    let (ok, failed) = pollster::block_on(async {
        let mut held = Vec::new();
        let mut failed = 0u32;
        while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            match item {
                Ok((i, bytes)) => {
                    assert_eq!(bytes[0], i as u8);
                    held.push(bytes);
                }
                Err(error) => {
                    assert!(codec_message(&error).contains("could not be received"), "{error}");
                    // Not the end: the stream says it goes on.
                    assert!(!stream.is_done());
                    failed += 1;
                }
            }
        }
        (held.len() as u32, failed)
    });
    assert!(failed > 0, "nothing failed: the limit was not reached");
    assert_eq!(ok + failed, 2 * LIMIT as u32);
}
