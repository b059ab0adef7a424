//! `sandbox`: Landlock in every worker denies what the sandbox does not
//! allow, while allowed work, and the pool's own traffic, still succeed.

mod common;

use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{root_or_skip, temp_path};
use forkpool::{ErrorKind, Pool, Sandbox, StartMethod, TaskError};

const METHODS: [StartMethod; 2] = [StartMethod::Zygote, StartMethod::Exec];

/// True when this kernel enforces a whole sandbox with network rules;
/// otherwise says why the test is skipped.
fn kernel_enforces(test: &str) -> bool {
    let missing = Sandbox::new().read_only("/").no_network().unenforceable();
    if !missing.is_empty() {
        eprintln!("SKIPPED {test}: this kernel cannot enforce it: {missing:?}");
    }
    missing.is_empty()
}

fn sandboxed(start: StartMethod, sandbox: Sandbox) -> Pool {
    Pool::builder()
        .workers(1)
        .start_method(start)
        .sandbox(sandbox)
        .build()
        .unwrap()
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = temp_path(name);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// Writes a file at `path`; the errno if it could not.
fn write_file(path: String) -> Option<i32> {
    std::fs::write(&path, b"written by a task")
        .err()
        .and_then(|e| e.raw_os_error())
}

/// Reads the file at `path`; its length, or the errno.
fn read_file(path: String) -> Result<usize, i32> {
    std::fs::read(&path)
        .map(|b| b.len())
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// `truncate(2)` by path: needs no open, only Landlock's truncate right.
fn truncate_file(path: String) -> Option<i32> {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: truncate reads a valid C string.
    let rc = unsafe { libc::truncate(c.as_ptr(), 0) };
    (rc != 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

fn text(path: &Path) -> String {
    String::from_utf8(path.as_os_str().as_bytes().to_vec()).unwrap()
}

#[test]
fn writes_outside_the_read_write_paths_are_denied_and_inside_allowed() {
    if !kernel_enforces("writes_outside...") {
        return;
    }
    for start in METHODS {
        let inside = fresh_dir("rw");
        let outside = fresh_dir("ro");
        let existing = outside.join("existing");
        std::fs::write(&existing, b"keep me").unwrap();
        let pool = sandboxed(start, Sandbox::new().read_only("/").read_write(&inside));

        assert_eq!(
            pool.submit(write_file, text(&inside.join("a"))).join(),
            Ok(None),
            "{start:?}"
        );
        assert_eq!(std::fs::read(inside.join("a")).unwrap(), b"written by a task");
        assert_eq!(
            pool.submit(write_file, text(&outside.join("b"))).join(),
            Ok(Some(libc::EACCES)),
            "{start:?}"
        );
        assert!(!outside.join("b").exists());
        assert_eq!(
            pool.submit(write_file, text(&existing)).join(),
            Ok(Some(libc::EACCES)),
            "{start:?}"
        );
        assert_eq!(
            pool.submit(truncate_file, text(&existing)).join(),
            Ok(Some(libc::EACCES)),
            "{start:?}"
        );
        assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
        // Reading is allowed, beneath "/".
        assert_eq!(pool.submit(read_file, text(&existing)).join(), Ok(Ok(7)), "{start:?}");
        std::fs::remove_dir_all(&inside).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}

#[test]
fn a_single_file_can_be_allowed() {
    if !kernel_enforces("a_single_file_can_be_allowed") {
        return;
    }
    let dir = fresh_dir("one-file");
    let allowed = dir.join("allowed");
    std::fs::write(&allowed, b"").unwrap();
    let pool = sandboxed(StartMethod::Zygote, Sandbox::new().read_write(&allowed));
    assert_eq!(pool.submit(write_file, text(&allowed)).join(), Ok(None));
    assert_eq!(std::fs::read(&allowed).unwrap(), b"written by a task");
    assert_eq!(
        pool.submit(write_file, text(&dir.join("sibling"))).join(),
        Ok(Some(libc::EACCES))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_sandbox_denies_every_file_but_the_pool_still_works() {
    if !kernel_enforces("an_empty_sandbox...") {
        return;
    }
    for start in METHODS {
        let pool = sandboxed(start, Sandbox::new());
        assert_eq!(
            pool.submit(read_file, "/etc/passwd".into()).join(),
            Ok(Err(libc::EACCES)),
            "{start:?}"
        );
        // /dev/null stays writable (Stdio::null() opens it so).
        assert_eq!(
            pool.submit(write_file, "/dev/null".into()).join(),
            Ok(None),
            "{start:?}"
        );
        // The worker's own channel, panics, crashes and map all still work.
        let squares: Vec<u64> = pool.map(|x: u64| x * x, 0..1000).map(Result::unwrap).collect();
        assert_eq!(squares[999], 998_001);
        let panicked = pool.submit(|_: ()| -> u8 { panic!("in the sandbox") }, ()).join();
        assert!(
            matches!(&panicked, Err(TaskError::Panicked { message, .. }) if message == "in the sandbox"),
            "{panicked:?}"
        );
        let crashed = pool.submit(segfault, ()).join();
        assert!(
            matches!(crashed, Err(TaskError::Crashed { signal: Some(11), .. })),
            "{crashed:?}"
        );
        assert_eq!(pool.submit(|x: u8| x, 3).join(), Ok(3));
    }
}

#[test]
fn memory_limit_works_inside_a_sandbox_that_hides_proc() {
    if !kernel_enforces("memory_limit_works_inside...") {
        return;
    }
    for start in METHODS {
        let pool = Pool::builder()
            .workers(1)
            .start_method(start)
            .memory_limit(64 << 20)
            .sandbox(Sandbox::new())
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

fn segfault(_: ()) {
    // SAFETY: not safe at all: the point is to crash the worker.
    unsafe { std::ptr::null_mut::<u8>().write_volatile(1) }
}

/// Connects to 127.0.0.1:`port`; the errno if refused.
fn connect(port: u16) -> Option<i32> {
    std::net::TcpStream::connect(("127.0.0.1", port))
        .err()
        .and_then(|e| e.raw_os_error())
}

/// Binds a listener on 127.0.0.1; the errno if refused.
fn bind(_: ()) -> Option<i32> {
    TcpListener::bind("127.0.0.1:0").err().and_then(|e| e.raw_os_error())
}

#[test]
fn no_network_denies_tcp_connect_and_bind() {
    if !kernel_enforces("no_network_denies...") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for start in METHODS {
        let offline = sandboxed(start, Sandbox::new().read_only("/").no_network());
        assert_eq!(
            offline.submit(connect, port).join(),
            Ok(Some(libc::EACCES)),
            "{start:?}"
        );
        assert_eq!(offline.submit(bind, ()).join(), Ok(Some(libc::EACCES)), "{start:?}");
        // The control: the same sandbox without no_network connects.
        let online = sandboxed(start, Sandbox::new().read_only("/"));
        assert_eq!(online.submit(connect, port).join(), Ok(None), "{start:?}");
        assert_eq!(online.submit(bind, ()).join(), Ok(None), "{start:?}");
    }
}

#[test]
fn a_sandbox_and_run_as_together() {
    if !root_or_skip("a_sandbox_and_run_as_together") || !kernel_enforces("a_sandbox_and_run_as_together") {
        return;
    }
    fn who(_: ()) -> u32 {
        // SAFETY: getuid(2) has no preconditions.
        unsafe { libc::getuid() }
    }
    let inside = fresh_dir("nobody-rw");
    std::os::unix::fs::chown(&inside, Some(65534), Some(65534)).unwrap();
    // Outside the sandbox, though nobody could write there.
    let outside = fresh_dir("nobody-outside");
    std::os::unix::fs::chown(&outside, Some(65534), Some(65534)).unwrap();
    let root_only = fresh_dir("nobody-root-only");
    for start in METHODS {
        let pool = Pool::builder()
            .workers(1)
            .start_method(start)
            .run_as(65534, 65534)
            .sandbox(
                Sandbox::new()
                    .read_only("/")
                    .read_write(&inside)
                    .read_write(&root_only)
                    .no_network(),
            )
            .build()
            .unwrap();
        assert_eq!(pool.submit(who, ()).join(), Ok(65534));
        assert_eq!(
            pool.submit(write_file, text(&inside.join("a"))).join(),
            Ok(None),
            "{start:?}"
        );
        assert_eq!(
            pool.submit(write_file, text(&outside.join("a"))).join(),
            Ok(Some(libc::EACCES)),
            "{start:?}"
        );
        // The sandbox adds to the file permissions, it does not replace them.
        assert_eq!(
            pool.submit(write_file, text(&root_only.join("a"))).join(),
            Ok(Some(libc::EACCES)),
            "{start:?}"
        );
        std::fs::remove_file(inside.join("a")).unwrap();
    }
    for dir in [inside, outside, root_only] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_sandbox_path_that_does_not_exist_fails_the_build() {
    let error = Pool::builder()
        .sandbox(
            Sandbox::new()
                .read_only("/")
                .read_write("/no/such/forkpool/dir")
                .best_effort(),
        )
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(error.to_string().contains("/no/such/forkpool/dir"), "{error}");
}

#[test]
fn best_effort_builds_and_says_what_it_could_not_enforce() {
    let sandbox = Sandbox::new().read_only("/").no_network().best_effort();
    let missing = sandbox.unenforceable();
    let pool = sandboxed(StartMethod::Zygote, sandbox);
    assert_eq!(pool.submit(|x: u8| x, 1).join(), Ok(1));
    if missing.is_empty() {
        // All of it is enforced here, best effort or not.
        assert_eq!(
            pool.submit(write_file, "/forkpool-sandbox-test".into()).join(),
            Ok(Some(libc::EACCES))
        );
    } else {
        eprintln!("not enforced on this kernel: {missing:?}");
        let strict = Pool::builder()
            .sandbox(Sandbox::new().read_only("/").no_network())
            .build()
            .unwrap_err();
        assert_eq!(strict.kind(), ErrorKind::LeastPrivilege);
    }
}
