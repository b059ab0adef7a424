//! Each task's output: tagged lines, captured bytes, output kept through
//! crashes and timeouts, and where a panic happened.
//!
//! Tests that look at the process's own stdout and stderr run a helper
//! test of this binary in a child process whose stdout and stderr are
//! files, and read the files.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::temp_path;
use forkpool::{Pool, Sandbox, SharedBytes, StartMethod, TaskError, TaskOutput};

const STARTS: [StartMethod; 2] = [StartMethod::Zygote, StartMethod::Exec];

fn pool(start: StartMethod, output: TaskOutput) -> Pool {
    Pool::builder()
        .workers(2)
        .start_method(start)
        .task_output(output)
        .build()
        .unwrap()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

fn segfault(_: ()) -> u8 {
    // SAFETY: not safe at all: the point is to crash the worker.
    unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
    0
}

/// What a helper test printed, after it passed.
struct Printed {
    stdout: String,
    stderr: String,
}

/// Runs the `#[ignore]`d test `name` of this binary in a child process
/// with stdout and stderr sent to files, and `envs` set (a `None` value
/// removes the variable).
fn run_helper(name: &str, envs: &[(&str, Option<&str>)]) -> Printed {
    let out_path = temp_path("stdout");
    let err_path = temp_path("stderr");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--ignored", "--test-threads=1", "--nocapture", "-q"])
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    for (key, value) in envs {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let status = command.status().unwrap();
    let printed = Printed {
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    assert!(
        status.success() && printed.stdout.contains("1 passed"),
        "{name} failed:\n--- stdout\n{}\n--- stderr\n{}",
        printed.stdout,
        printed.stderr
    );
    printed
}

fn start_from_env() -> Option<StartMethod> {
    match std::env::var("FORKPOOL_TEST_START").ok()?.as_str() {
        "exec" => Some(StartMethod::Exec),
        _ => Some(StartMethod::Zygote),
    }
}

fn start_name(start: StartMethod) -> &'static str {
    if start == StartMethod::Exec { "exec" } else { "zygote" }
}

// ----------------------------------------------------------------- tagged --

/// The lines task `i` writes: to stdout (even k) or stderr (odd k), each
/// built from several writes flushed apart, so that partial lines reach
/// the pipe; then a line from a child process, and a last line with no
/// newline.
fn chatty(i: u32) -> u32 {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    for k in 0..24u32 {
        let line = format!("{i}:{k}:{}end", "x".repeat((k as usize * 37 + i as usize) % 300));
        let (a, b) = line.split_at(line.len() / 3);
        if k % 2 == 0 {
            out.write_all(a.as_bytes()).unwrap();
            out.flush().unwrap();
            std::thread::yield_now();
            out.write_all(b.as_bytes()).unwrap();
            out.write_all(b"\n").unwrap();
        } else {
            err.write_all(a.as_bytes()).unwrap();
            std::thread::yield_now();
            err.write_all(format!("{b}\n").as_bytes()).unwrap();
        }
    }
    let status = Command::new("sh")
        .args(["-c", &format!("echo {i}:child")])
        .status()
        .unwrap();
    assert!(status.success());
    print!("{i}:tail");
    i
}

/// What `chatty(i)` writes, per stream.
fn chatty_lines(i: u32) -> [Vec<String>; 2] {
    let mut lines = [Vec::new(), Vec::new()];
    for k in 0..24u32 {
        let line = format!("{i}:{k}:{}end", "x".repeat((k as usize * 37 + i as usize) % 300));
        lines[(k % 2) as usize].push(line);
    }
    lines[0].push(format!("{i}:child"));
    lines[0].push(format!("{i}:tail"));
    lines
}

#[test]
fn tagged_lines_are_whole_and_never_mixed_under_concurrency() {
    for start in STARTS {
        let printed = run_helper("tagged_helper", &[("FORKPOOL_TEST_START", Some(start_name(start)))]);
        check_tagged(&printed, start);
    }
}

#[test]
#[ignore = "run by tagged_lines_are_whole_and_never_mixed_under_concurrency"]
fn tagged_helper() {
    let Some(start) = start_from_env() else { return };
    let pool = Pool::builder()
        .workers(3)
        .start_method(start)
        .task_output(TaskOutput::Tagged)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..30u32)
        .map(|i| {
            let task = pool.submit(chatty, i);
            println!("task {i} is {}", task.id());
            task
        })
        .collect();
    let map = pool.map(chatty, 100..130u32);
    println!("map is {}", map.id());
    let mapped: Vec<u32> = map.map(Result::unwrap).collect();
    assert_eq!(mapped, (100..130).collect::<Vec<_>>());
    for task in tasks {
        let id = task.id();
        task.join().unwrap();
        // Every line of the task is out before its result.
        println!("joined {id}");
    }
}

fn check_tagged(printed: &Printed, start: StartMethod) {
    // Which input each tag stands for.
    let mut input_of: HashMap<String, u32> = HashMap::new();
    let mut map_id = None;
    for line in printed.stdout.lines() {
        if let Some(rest) = line.strip_prefix("task ") {
            let (i, id) = rest.split_once(" is ").unwrap();
            input_of.insert(format!("task {id}"), i.parse().unwrap());
        } else if let Some(id) = line.strip_prefix("map is ") {
            map_id = Some(id.to_string());
        }
    }
    let map_id = map_id.expect("no map id printed");
    for k in 0..30u32 {
        input_of.insert(format!("task {map_id}.{k}"), 100 + k);
    }
    assert_eq!(input_of.len(), 60);

    for (stream, all) in [(0, &printed.stdout), (1, &printed.stderr)] {
        let mut seen: HashMap<u32, Vec<String>> = HashMap::new();
        for line in all.lines() {
            let Some(rest) = line.strip_prefix('[') else { continue };
            let (tag, content) = rest
                .split_once("] ")
                .unwrap_or_else(|| panic!("{start:?}: malformed tagged line {line:?}"));
            let i = *input_of
                .get(tag)
                .unwrap_or_else(|| panic!("{start:?}: unknown tag in {line:?}"));
            seen.entry(i).or_default().push(content.to_string());
        }
        for i in (0..30).chain(100..130) {
            let expected = &chatty_lines(i)[stream];
            assert_eq!(
                seen.get(&i),
                Some(expected),
                "{start:?}: stream {stream} of input {i}: lines missing, mixed or out of order"
            );
        }
        assert_eq!(seen.len(), 60, "{start:?}: lines from unknown tasks");
    }

    // Each task's lines came before the line its join printed.
    let lines: Vec<&str> = printed.stdout.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        if let Some(id) = line.strip_prefix("joined ") {
            let tag = format!("[task {id}] ");
            assert!(
                !lines[at..].iter().any(|l| l.starts_with(&tag)),
                "{start:?}: a line of task {id} came after its join returned"
            );
        }
    }
}

#[test]
fn tagged_output_survives_a_slow_reader() {
    for start in STARTS {
        // The helper's stdout is a pipe nobody reads for a while: the
        // printer falls behind, the pool stops reading the workers' pipes,
        // the workers wait; nothing is lost or mixed once it is read.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "flood_helper", "--ignored", "--test-threads=1", "-q"])
            .env("FORKPOOL_TEST_START", start_name(start))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let mut stdout = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        assert!(child.wait().unwrap().success(), "{stdout:.2000}");
        assert!(stdout.contains("1 passed"), "{start:?}: {:.2000}", stdout);
        let mut counts = [0usize; 4];
        for line in stdout.lines().filter(|l| l.starts_with('[')) {
            let (_, content) = line.split_once("] ").unwrap();
            let (i, rest) = content.split_once(':').unwrap();
            let i: usize = i.parse().unwrap();
            assert_eq!(rest, "y".repeat(200), "{start:?}: mixed line {line:.100}");
            counts[i] += 1;
        }
        assert_eq!(counts, [FLOOD_LINES; 4], "{start:?}");
    }
}

const FLOOD_LINES: usize = 40_000;

#[test]
#[ignore = "run by tagged_output_survives_a_slow_reader"]
fn flood_helper() {
    let Some(start) = start_from_env() else { return };
    let pool = pool(start, TaskOutput::Tagged);
    let tasks: Vec<_> = (0..4usize)
        .map(|i| {
            pool.submit(
                |i: usize| {
                    let line = format!("{i}:{}\n", "y".repeat(200));
                    for _ in 0..FLOOD_LINES {
                        print!("{line}");
                    }
                },
                i,
            )
        })
        .collect();
    for task in tasks {
        task.join().unwrap();
    }
}

#[test]
fn output_nobody_can_be_blamed_for_is_the_workers() {
    let printed = run_helper("worker_init_helper", &[("FORKPOOL_TEST_START", Some("zygote"))]);
    let tagged: Vec<&str> = printed.stdout.lines().filter(|l| l.starts_with("[worker ")).collect();
    assert_eq!(tagged.len(), 2, "{}", printed.stdout);
    for line in tagged {
        let (tag, content) = line.split_once("] ").unwrap();
        let pid: u32 = tag.strip_prefix("[worker ").unwrap().parse().unwrap();
        assert!(pid > 0);
        assert_eq!(content, "worker_init says hello");
    }
    assert!(
        printed.stderr.contains("] init without a newline\n"),
        "{}",
        printed.stderr
    );
}

#[test]
#[ignore = "run by output_nobody_can_be_blamed_for_is_the_workers"]
fn worker_init_helper() {
    if start_from_env().is_none() {
        return;
    }
    let pool = Pool::builder()
        .workers(2)
        .task_output(TaskOutput::Capture)
        .worker_init(|| {
            println!("worker_init says hello");
            eprint!("init without a newline");
        })
        .build()
        .unwrap();
    // The tasks capture nothing of it.
    for _ in 0..4 {
        let done = pool.submit(|x: u8| x, 1).join_captured();
        assert_eq!((done.result, done.stdout, done.stderr), (Ok(1), vec![], vec![]));
    }
}

// ---------------------------------------------------------------- capture --

#[test]
fn capture_keeps_each_tasks_stdout_and_stderr() {
    for start in STARTS {
        let pool = pool(start, TaskOutput::Capture);
        let tasks: Vec<_> = (0..20u32).map(|i| pool.submit(chatty, i)).collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let done = task.join_captured();
            let i = i as u32;
            assert_eq!(done.result, Ok(i));
            let [out, err] = chatty_lines(i);
            assert_eq!(
                text(&done.stdout),
                out.join("\n"),
                "{start:?} task {i}: no newline after the tail"
            );
            assert_eq!(text(&done.stderr), err.join("\n") + "\n", "{start:?} task {i}");
            assert_eq!((done.stdout_dropped, done.stderr_dropped), (0, 0));
        }
        // C's stdio counts too: line-buffered like on a terminal, and
        // flushed when the task ends.
        let done = pool
            .submit(
                |_: ()| {
                    // SAFETY: printf with a matching format and arguments.
                    unsafe {
                        libc::printf(c"from C %d\n".as_ptr(), 7);
                        libc::printf(c"no newline from C".as_ptr());
                    }
                },
                (),
            )
            .join_captured();
        assert_eq!(text(&done.stdout), "from C 7\nno newline from C", "{start:?}");
    }
}

#[test]
fn map_items_capture_their_own_output() {
    for start in STARTS {
        let pool = pool(start, TaskOutput::Capture);
        let items: Vec<_> = pool
            .map(
                |i: u32| {
                    if i.is_multiple_of(3) {
                        println!("item {i}");
                    }
                    if i == 7 {
                        eprintln!("seven panics");
                        panic!("seven");
                    }
                    i
                },
                0..50,
            )
            .captured()
            .collect();
        assert_eq!(items.len(), 50);
        for (i, item) in items.into_iter().enumerate() {
            let expected = if i.is_multiple_of(3) {
                format!("item {i}\n")
            } else {
                String::new()
            };
            assert_eq!(text(&item.stdout), expected, "{start:?} item {i}");
            if i == 7 {
                assert!(matches!(item.result, Err(TaskError::Panicked { .. })));
                assert_eq!(text(&item.stderr), "seven panics\n");
            } else {
                assert_eq!(item.result, Ok(i as u32));
                assert!(item.stderr.is_empty());
            }
        }
    }
}

#[test]
fn capture_keeps_the_last_bytes_up_to_its_limit() {
    for start in STARTS {
        let pool = Pool::builder()
            .workers(2)
            .start_method(start)
            .task_output(TaskOutput::Capture)
            .capture_limit(100_000)
            .build()
            .unwrap();
        // 3 MiB of numbered lines on each stream, while other tasks run.
        let big = pool.submit(
            |lines: u32| {
                for n in 0..lines {
                    println!("{n:09}");
                    eprintln!("{n:09}");
                }
            },
            300_000,
        );
        let small: Vec<_> = (0..200u32).map(|i| pool.submit(|i: u32| i + 1, i)).collect();
        for (i, task) in small.into_iter().enumerate() {
            assert_eq!(task.join(), Ok(i as u32 + 1));
        }
        let done = big.join_captured();
        assert_eq!(done.result, Ok(()));
        for (bytes, dropped) in [(&done.stdout, done.stdout_dropped), (&done.stderr, done.stderr_dropped)] {
            assert_eq!(bytes.len(), 100_000, "{start:?}");
            assert_eq!(dropped, 3_000_000 - 100_000, "{start:?}");
            assert_eq!(&bytes[bytes.len() - 10..], b"000299999\n");
            assert_eq!(&bytes[..10], b"000290000\n");
        }
    }
}

#[test]
fn join_captured_gives_empty_output_when_output_is_not_captured() {
    for output in [TaskOutput::Inherit, TaskOutput::Tagged] {
        let pool = pool(StartMethod::Zygote, output);
        let done = pool.submit(|x: u8| x * 2, 4).join_captured();
        assert_eq!((done.result, done.stdout, done.stderr), (Ok(8), vec![], vec![]));
        let items: Vec<_> = pool.map(|x: u8| x, 0..3).captured().map(|c| c.result).collect();
        assert_eq!(items, [Ok(0), Ok(1), Ok(2)]);
    }
}

#[test]
fn task_ids_are_unique() {
    let pool = pool(StartMethod::Zygote, TaskOutput::Inherit);
    let a = pool.submit(|x: u8| x, 1);
    let b = pool.submit(|x: u8| x, 2);
    let map = pool.map(|x: u8| x, 0..1);
    assert!(a.id() != b.id() && a.id() != map.id() && b.id() != map.id());
    assert!(format!("{a:?}").contains(&format!("id: {}", a.id())));
}

#[test]
fn capture_goes_with_shared_memory_results_and_a_sandbox() {
    for start in STARTS {
        let pool = Pool::builder()
            .workers(2)
            .start_method(start)
            .task_output(TaskOutput::Capture)
            .sandbox(Sandbox::new().read_only("/").best_effort())
            .build()
            .unwrap();
        let items: Vec<_> = pool
            .map(
                |n: usize| {
                    println!("making {n} bytes");
                    SharedBytes::copy_from(&vec![n as u8; n]).unwrap()
                },
                [10usize, 1 << 20, 3],
            )
            .captured()
            .collect();
        for (item, n) in items.into_iter().zip([10usize, 1 << 20, 3]) {
            assert_eq!(item.result.unwrap().len(), n, "{start:?}");
            assert_eq!(text(&item.stdout), format!("making {n} bytes\n"), "{start:?}");
        }
    }
}

// ---------------------------------------------------- output before a crash --

/// A task that writes to both streams, then ends as `how` says.
fn write_then(how: u8) -> u8 {
    println!("out before {how}");
    eprint!("err before {how}");
    match how {
        0 => {
            segfault(());
        }
        1 => std::process::abort(),
        2 => std::process::exit(3),
        3 => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        4 => panic!("panic {how}"),
        _ => {}
    }
    how
}

#[test]
fn output_written_before_a_crash_or_a_timeout_is_kept_and_attributed() {
    for start in STARTS {
        let pool = Pool::builder()
            .workers(2)
            .start_method(start)
            .task_output(TaskOutput::Capture)
            .task_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        // Quiet tasks around the failing ones, on the same workers.
        let tasks: Vec<_> = (0..6u8)
            .flat_map(|how| [pool.submit(|x: u8| x, how), pool.submit(write_then, how)])
            .collect();
        for (n, task) in tasks.into_iter().enumerate() {
            let done = task.join_captured();
            let how = (n / 2) as u8;
            if n % 2 == 0 {
                assert_eq!((done.result, done.stdout, done.stderr), (Ok(how), vec![], vec![]));
                continue;
            }
            match (how, &done.result) {
                (0, Err(TaskError::Crashed { signal: Some(11), .. }))
                | (1, Err(TaskError::Crashed { signal: Some(6), .. }))
                | (2, Err(TaskError::Crashed { exit_code: Some(3), .. }))
                | (3, Err(TaskError::TimedOut { .. }))
                | (4, Err(TaskError::Panicked { .. }))
                | (5, Ok(5)) => {}
                (how, other) => panic!("{start:?} {how}: {other:?}"),
            }
            assert_eq!(text(&done.stdout), format!("out before {how}\n"), "{start:?} {how}");
            assert_eq!(text(&done.stderr), format!("err before {how}"), "{start:?} {how}");
        }
    }
}

#[test]
fn tagged_output_before_a_crash_is_printed_before_the_error() {
    let printed = run_helper("crash_helper", &[("FORKPOOL_TEST_START", Some("exec"))]);
    let lines: Vec<&str> = printed.stdout.lines().collect();
    let id = lines
        .iter()
        .find_map(|l| l.strip_prefix("crashing task is "))
        .expect("no id");
    let line = lines
        .iter()
        .position(|l| *l == format!("[task {id}] out before 0"))
        .expect("the line is lost");
    let error = lines.iter().position(|l| l.starts_with("failed:")).unwrap();
    assert!(line < error, "{}", printed.stdout);
    assert!(
        printed.stderr.contains(&format!("[task {id}] err before 0\n")),
        "{}",
        printed.stderr
    );
}

#[test]
#[ignore = "run by tagged_output_before_a_crash_is_printed_before_the_error"]
fn crash_helper() {
    let Some(start) = start_from_env() else { return };
    let pool = pool(start, TaskOutput::Tagged);
    let task = pool.submit(write_then, 0);
    println!("crashing task is {}", task.id());
    println!("failed: {}", task.join().unwrap_err());
}

// ----------------------------------------------------------------- panics --

/// The line of the `panic!` below.
const PANIC_LINE: u32 = line!() + 3;
fn panics_here(n: u32) -> u32 {
    if n > 0 {
        panic!("refusing {n}");
    }
    n
}

#[test]
fn a_panic_says_where_it_happened() {
    for start in STARTS {
        let pool = pool(start, TaskOutput::Inherit);
        let err = pool.submit(panics_here, 5).join().unwrap_err();
        let TaskError::Panicked { message, location, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(message, "refusing 5");
        let at = format!("{}:{PANIC_LINE}:9", file!());
        assert_eq!(location.as_deref(), Some(at.as_str()), "{start:?}");
        assert_eq!(
            err.to_string().lines().next(),
            Some(format!("task panicked at {at}: refusing 5").as_str())
        );
    }
}

#[test]
fn a_panic_carries_the_backtrace_when_rust_backtrace_is_set() {
    let printed = run_helper(
        "backtrace_helper",
        &[
            ("FORKPOOL_TEST_START", Some("zygote")),
            ("RUST_BACKTRACE", Some("1")),
            ("RUST_LIB_BACKTRACE", None),
        ],
    );
    assert!(printed.stdout.contains("backtrace: yes"), "{}", printed.stdout);
    let printed = run_helper(
        "backtrace_helper",
        &[
            ("FORKPOOL_TEST_START", Some("exec")),
            ("RUST_BACKTRACE", None),
            ("RUST_LIB_BACKTRACE", None),
        ],
    );
    assert!(printed.stdout.contains("backtrace: no"), "{}", printed.stdout);
}

#[test]
#[ignore = "run by a_panic_carries_the_backtrace_when_rust_backtrace_is_set"]
fn backtrace_helper() {
    let Some(start) = start_from_env() else { return };
    // A memory limit moves RUST_BACKTRACE aside in the worker; the
    // backtrace must come all the same.
    let pool = Pool::builder()
        .workers(1)
        .start_method(start)
        .memory_limit(1 << 30)
        .build()
        .unwrap();
    let err = pool.submit(panics_here, 1).join().unwrap_err();
    let TaskError::Panicked { backtrace, .. } = &err else {
        panic!("{err:?}")
    };
    match backtrace {
        Some(trace) => {
            assert!(trace.contains("panics_here"), "{trace}");
            assert!(err.to_string().contains("\nstack backtrace:\n"), "{err}");
            println!("backtrace: yes");
        }
        None => println!("backtrace: no"),
    }
}

// ---------------------------------------------------------------- streams --

/// A generator that says what it makes, item by item, then ends as `how`
/// says (see [`write_then`]) after item 2.
fn stream_then(how: u8) -> impl Iterator<Item = u32> {
    eprintln!("generator for {how}");
    (0..4u32).inspect(move |&i| {
        if i == 3 {
            write_then(how);
        }
        println!("made {i}");
    })
}

#[test]
fn a_streams_output_is_captured_up_to_its_end_whatever_the_end() {
    for start in STARTS {
        let pool = Pool::builder()
            .workers(2)
            .start_method(start)
            .task_output(TaskOutput::Capture)
            .task_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        // A task on the other worker, writing meanwhile, keeps its own.
        let beside = pool.submit(write_then, 5);
        for how in [5, 0, 1, 2, 3, 4] {
            let mut stream = pool.stream(stream_then, how);
            assert!(stream.captured().is_none(), "before the end");
            let items: Vec<_> = stream.by_ref().collect();
            let made = if how == 5 { 4 } else { 3 };
            assert_eq!(items[..made], [Ok(0), Ok(1), Ok(2), Ok(3)][..made], "{start:?} {how}");
            let done = stream.captured().expect("the stream ended");
            assert_eq!(
                done.result,
                items.get(made).map_or(Ok(()), |e| Err(e.clone().unwrap_err()))
            );
            // Item 3 writes before it ends (or is made, for 5).
            let mut out: String = (0..3).map(|i| format!("made {i}\n")).collect();
            out += &format!("out before {how}\n");
            if how == 5 {
                out += "made 3\n";
            }
            let err = format!("generator for {how}\nerr before {how}");
            assert_eq!(text(&done.stdout), out, "{start:?} {how}");
            assert_eq!(text(&done.stderr), err, "{start:?} {how}");
            assert!(stream.captured().is_none(), "taken once");
        }
        let beside = beside.join_captured();
        assert_eq!(
            (text(&beside.stdout), text(&beside.stderr)),
            ("out before 5\n", "err before 5")
        );
    }
}

#[test]
fn a_stream_that_cannot_start_or_is_cancelled_has_nothing_captured() {
    let pool = pool(StartMethod::Zygote, TaskOutput::Capture);
    let mut cancelled = pool.stream(|_: ()| (0u64..).inspect(|i| println!("{i}")), ());
    assert_eq!(cancelled.next(), Some(Ok(0)));
    cancelled.cancel();
    assert_eq!(cancelled.next(), None);
    assert!(cancelled.captured().is_none());
    // The worker goes on, and its next task's output is its own.
    let next = pool.submit(|_: ()| print!("next"), ()).join_captured();
    assert_eq!(text(&next.stdout), "next");
    // Output that is not captured: the end, with nothing in it.
    let plain = Pool::builder().workers(1).build().unwrap();
    let mut stream = plain.stream(|n: u8| 0..n, 2);
    assert_eq!(stream.by_ref().count(), 2);
    let done = stream.captured().unwrap();
    assert_eq!((done.result, done.stdout, done.stderr), (Ok(()), vec![], vec![]));
    assert!(stream.id() > 0);
}

#[test]
fn a_streams_tagged_lines_carry_its_id_and_come_out_before_its_end() {
    for start in STARTS {
        let printed = run_helper(
            "stream_tagged_helper",
            &[("FORKPOOL_TEST_START", Some(start_name(start)))],
        );
        let lines: Vec<&str> = printed.stdout.lines().collect();
        let id = lines.iter().find_map(|l| l.strip_prefix("stream is ")).expect("no id");
        let end = lines.iter().position(|l| *l == "ended").expect("no end");
        let mut at = 0;
        for i in 0..3 {
            let line = format!("[task {id}] made {i}");
            at = lines
                .iter()
                .position(|l| *l == line)
                .unwrap_or_else(|| panic!("{line} is lost"));
            assert!(at < end, "{start:?} {}", printed.stdout);
        }
        let crash_line = format!("[task {id}] out before 1");
        assert!(lines[at + 1..end].contains(&crash_line.as_str()), "{}", printed.stdout);
        assert!(
            printed.stderr.contains(&format!("[task {id}] generator for 1\n"))
                && printed.stderr.contains(&format!("[task {id}] err before 1\n")),
            "{start:?} {}",
            printed.stderr
        );
    }
}

#[test]
#[ignore = "run by a_streams_tagged_lines_carry_its_id_and_come_out_before_its_end"]
fn stream_tagged_helper() {
    let Some(start) = start_from_env() else { return };
    let pool = pool(start, TaskOutput::Tagged);
    let stream = pool.stream(stream_then, 1);
    println!("stream is {}", stream.id());
    let items: Vec<_> = stream.collect();
    assert!(
        matches!(items[..], [Ok(0), Ok(1), Ok(2), Err(TaskError::Crashed { .. })]),
        "{items:?}"
    );
    println!("ended");
}
