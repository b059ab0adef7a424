//! `rlimit`: each limit holds in every worker, with either start method,
//! and fails the task the way the limit promises.

mod common;

use std::io::Write;
use std::time::Instant;

use common::{root_or_skip, temp_path};
use forkpool::{Pool, Rlimit, StartMethod, TaskError};

const METHODS: [StartMethod; 2] = [StartMethod::Zygote, StartMethod::Exec];

fn pool(start: StartMethod, limit: Rlimit) -> Pool {
    Pool::builder()
        .workers(1)
        .start_method(start)
        .rlimit(limit)
        .build()
        .unwrap()
}

/// The `Max ...` line of `/proc/self/limits` whose name starts with `name`:
/// (soft, hard).
fn limits_line(name: String) -> (String, String) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with(&name)).unwrap().to_owned();
    let fields: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (fields[0].to_owned(), fields[1].to_owned())
}

/// How many more descriptors a task could open, and the errno that stopped it.
fn open_until_refused(_: ()) -> (usize, i32) {
    let mut files = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => files.push(file),
            Err(e) => return (files.len(), e.raw_os_error().unwrap_or(0)),
        }
        if files.len() > 100_000 {
            return (files.len(), 0);
        }
    }
}

#[test]
fn open_files_past_the_limit_fail_with_emfile() {
    for start in METHODS {
        let pool = pool(start, Rlimit::OpenFiles(32));
        let (opened, errno) = pool.submit(open_until_refused, ()).join().unwrap();
        assert_eq!(errno, libc::EMFILE, "{start:?}");
        assert!(opened < 32, "{start:?}: opened {opened}");
        assert_eq!(
            pool.submit(limits_line, "Max open files".into()).join().unwrap(),
            ("32".into(), "32".into())
        );
    }
}

#[test]
fn a_limit_never_loosens_the_clients_own_hard_limit() {
    let mut own = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct through a valid pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut own) };
    let pool = pool(
        StartMethod::Zygote,
        Rlimit::OpenFiles(own.rlim_max.saturating_add(1000)),
    );
    let (soft, hard) = pool.submit(limits_line, "Max open files".into()).join().unwrap();
    let hard_text = if own.rlim_max == libc::RLIM_INFINITY {
        "unlimited".to_owned()
    } else {
        own.rlim_max.to_string()
    };
    assert_eq!((soft, hard), (hard_text.clone(), hard_text));
}

/// Writes `len` bytes to a new file at `path`; the errno of the write that
/// failed, if one did.
fn write_bytes((path, len): (String, usize)) -> Option<i32> {
    let mut file = std::fs::File::create(&path).unwrap();
    let result = file.write_all(&vec![7u8; len]);
    drop(std::fs::remove_file(&path));
    result.err().and_then(|e| e.raw_os_error())
}

#[test]
fn writing_past_the_file_size_limit_fails_with_efbig_and_the_worker_lives() {
    for start in METHODS {
        let pool = pool(start, Rlimit::FileSize(4096));
        let worker = pool.worker_pids();
        let path = temp_path("fsize").to_string_lossy().into_owned();
        assert_eq!(
            pool.submit(write_bytes, (path.clone(), 4096)).join(),
            Ok(None),
            "{start:?}"
        );
        assert_eq!(
            pool.submit(write_bytes, (path, 10_000)).join(),
            Ok(Some(libc::EFBIG)),
            "{start:?}"
        );
        assert_eq!(pool.worker_pids(), worker, "{start:?}: SIGXFSZ killed the worker");
    }
}

/// Starts `sleep`s until `fork` is refused; the number started and the
/// errno that stopped it.
fn spawn_until_refused(_: ()) -> (usize, i32) {
    let mut children = Vec::new();
    let errno = loop {
        match std::process::Command::new("sleep").arg("60").spawn() {
            Ok(child) => children.push(child),
            Err(e) => break e.raw_os_error().unwrap_or(0),
        }
        if children.len() >= 64 {
            break 0;
        }
    };
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    (children.len(), errno)
}

#[test]
fn processes_past_the_limit_cannot_be_forked() {
    // The kernel does not enforce RLIMIT_NPROC for root.
    if !root_or_skip("processes_past_the_limit_cannot_be_forked") {
        return;
    }
    for start in METHODS {
        let pool = Pool::builder()
            .workers(1)
            .start_method(start)
            .run_as(65534, 65534)
            .rlimit(Rlimit::Processes(4))
            .build()
            .unwrap();
        let (started, errno) = pool.submit(spawn_until_refused, ()).join().unwrap();
        // `nobody`'s processes count, the worker among them.
        assert!(started < 4, "{start:?}: started {started}");
        assert_eq!(errno, libc::EAGAIN, "{start:?}");
    }
}

fn core_settings(_: ()) -> ((String, String), i32) {
    // SAFETY: PR_GET_DUMPABLE takes no pointer and returns the setting.
    let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    (limits_line("Max core file size".into()), dumpable)
}

#[test]
fn core_size_zero_means_no_core_dump() {
    for start in METHODS {
        let pool = pool(start, Rlimit::CoreSize(0));
        assert_eq!(
            pool.submit(core_settings, ()).join(),
            Ok((("0".into(), "0".into()), 0)),
            "{start:?}"
        );
        let crash = pool.submit(|_: ()| -> u8 { std::process::abort() }, ()).join();
        assert!(
            matches!(crash, Err(TaskError::Crashed { signal: Some(6), .. })),
            "{crash:?}"
        );
    }
    // The control: without it, workers are dumpable as usual.
    let plain = Pool::builder().workers(1).build().unwrap();
    assert_eq!(plain.submit(core_settings, ()).join().unwrap().1, 1);
}

/// Forks a child that raises its core-size limit as far as it may, moves to
/// `dir` and aborts; whether the kernel reports a core dump.
fn a_child_dumps_core(dir: String) -> bool {
    let dir = std::ffi::CString::new(dir).unwrap();
    // SAFETY: the worker is single-threaded, so the child may run anything;
    // it only makes plain system calls and aborts.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain system calls with valid pointers; abort never returns.
        unsafe {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_CORE, &mut limit);
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
            libc::chdir(dir.as_ptr());
            libc::abort();
        }
    }
    let mut status = 0;
    // SAFETY: waits for our own child, writing its status to a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    libc::WCOREDUMP(status)
}

#[test]
fn a_crash_under_core_size_zero_writes_no_core() {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.starts_with('|') || pattern.contains('/') {
        eprintln!("SKIPPED a_crash_under_core_size_zero...: core_pattern {pattern:?} is not a plain file name");
        return;
    }
    let dir = temp_path("cores");
    std::fs::create_dir(&dir).unwrap();
    let text = dir.to_string_lossy().into_owned();
    let limited = pool(StartMethod::Zygote, Rlimit::CoreSize(0));
    assert_eq!(limited.submit(a_child_dumps_core, text.clone()).join(), Ok(false));
    // The control, where the inherited hard limit allows a core: it dumps.
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct through a valid pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut hard) };
    if hard.rlim_max > 1 << 20 {
        let plain = Pool::builder().workers(1).build().unwrap();
        assert_eq!(plain.submit(a_child_dumps_core, text).join(), Ok(true));
    } else {
        eprintln!("no control: this process's hard core limit is {}", hard.rlim_max);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Burns CPU for `seconds` of this process's CPU time (or forever), on
/// the clock `RLIMIT_CPU` counts with (the profiling clock, which runs
/// ahead of the scheduler's on a busy virtual machine).
fn burn_cpu(seconds: f64) -> f64 {
    let cpu = || {
        let t = profiling_clock();
        t.0 as f64 + t.1 as f64 / 1e9
    };
    let start = cpu();
    let mut x = 0u64;
    while cpu() - start < seconds {
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    cpu() - start
}

fn profiling_clock() -> (i64, i64) {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer;
    // `!0 << 3` is MAKE_PROCESS_CPUCLOCK(self, CPUCLOCK_PROF).
    unsafe { libc::clock_gettime(!0 << 3, &mut t) };
    (t.tv_sec, t.tv_nsec)
}

#[test]
fn a_task_past_its_cpu_seconds_ends_with_a_named_error() {
    for start in METHODS {
        let pool = pool(start, Rlimit::CpuSeconds(1));
        let began = Instant::now();
        let result = pool.submit(burn_cpu, f64::INFINITY).join();
        assert_eq!(result, Err(TaskError::CpuLimitExceeded { seconds: 1 }), "{start:?}");
        eprintln!("{start:?}: a CPU loop ended {:?} after it started", began.elapsed());
        // The pool goes on, with a new worker.
        assert_eq!(pool.submit(|x: u32| x * 2, 21).join(), Ok(42));
    }
}

#[test]
fn each_task_gets_its_own_cpu_seconds_not_what_earlier_ones_left() {
    // One worker, 1 s a task: three tasks of 0.6 s each use 1.8 s of the
    // worker's CPU time in all, and none is blamed for the others'.
    let pool = pool(StartMethod::Zygote, Rlimit::CpuSeconds(1));
    let tasks: Vec<_> = (0..3).map(|_| pool.submit(burn_cpu, 0.6)).collect();
    for task in tasks {
        let used = task.join().unwrap();
        assert!(used >= 0.6, "{used}");
    }
    // A single worker can give out at most four tasks' worth (here 5 s)
    // before it retires: six more tasks need a second worker, and run.
    let before = pool.worker_pids();
    let tasks: Vec<_> = (0..6).map(|_| pool.submit(burn_cpu, 0.6)).collect();
    for task in tasks {
        task.join().unwrap();
    }
    assert_ne!(pool.worker_pids(), before, "the worker should have retired by now");
}

#[test]
fn memory_limit_keeps_working_alongside_the_rlimits() {
    for start in METHODS {
        let pool = Pool::builder()
            .workers(1)
            .start_method(start)
            .memory_limit(64 << 20)
            .rlimit(Rlimit::OpenFiles(64))
            .rlimit(Rlimit::FileSize(1 << 20))
            .rlimit(Rlimit::CoreSize(0))
            .rlimit(Rlimit::CpuSeconds(30))
            .build()
            .unwrap();
        let hog = pool.submit(|_: ()| vec![1u8; 256 << 20].len(), ()).join();
        assert_eq!(
            hog,
            Err(TaskError::MemoryLimitExceeded { limit: 64 << 20 }),
            "{start:?}"
        );
        assert_eq!(pool.submit(|_: ()| vec![1u8; 1 << 20].len(), ()).join(), Ok(1 << 20));
    }
}

#[test]
fn invalid_limits_are_refused_by_build() {
    for limit in [Rlimit::CpuSeconds(0), Rlimit::OpenFiles(0)] {
        let error = Pool::builder().rlimit(limit).build().unwrap_err();
        assert_eq!(error.kind(), forkpool::ErrorKind::InvalidConfig, "{limit:?}");
    }
    // A later limit of the same kind replaces the earlier one.
    let pool = Pool::builder()
        .workers(1)
        .rlimit(Rlimit::OpenFiles(16))
        .rlimit(Rlimit::OpenFiles(48))
        .build()
        .unwrap();
    assert_eq!(
        pool.submit(limits_line, "Max open files".into()).join().unwrap(),
        ("48".into(), "48".into())
    );
}
