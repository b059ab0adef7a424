//! `-j` bounded by the system, `-j FILE`, `--limit`, `--memsuspend`,
//! `--noswap`, `--use-*-instead-of-threads`.

use super::*;

/// `forkpool ARGS` run by `sh -c 'ulimit -n FDS; exec forkpool ARGS'`.
fn run_with_fd_limit(fds: u32, args: &[&str], stdin: &[u8]) -> Run {
    under_fd_limit(&format!("'{}'", env!("CARGO_BIN_EXE_forkpool")), fds, args, stdin)
}

/// `parallel ARGS` under `ulimit -n FDS`, as [`run_with_fd_limit`] runs
/// forkpool.
fn gnu_with_fd_limit(fds: u32, args: &[&str], stdin: &[u8]) -> Run {
    under_fd_limit("parallel --will-cite", fds, args, stdin)
}

/// [`gnu_with_fd_limit`] if `gnu`, else [`run_with_fd_limit`].
fn gnu_or_ours(gnu: bool, fds: u32, args: &[&str], stdin: &[u8]) -> Run {
    if gnu {
        gnu_with_fd_limit(fds, args, stdin)
    } else {
        run_with_fd_limit(fds, args, stdin)
    }
}

/// `bash -c 'ulimit -n FDS; exec PROGRAM ARGS'` (`PROGRAM` as shell
/// words), with only descriptors 0-2 open: whatever else the test's own
/// parent left open (a terminal's or a CI runner's) would change how many
/// of the FDS are free, and so the bound both programs compute.
fn under_fd_limit(program: &str, fds: u32, args: &[&str], stdin: &[u8]) -> Run {
    let mut script = String::from("for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done; ");
    script.push_str(&format!("ulimit -n {fds}; exec {program}"));
    for arg in args {
        script.push_str(" '");
        script.push_str(&arg.replace('\'', "'\"'\"'"));
        script.push('\'');
    }
    let child = Command::new("/bin/bash")
        .args(["-c", &script])
        .env("PARALLEL_SHELL", "/bin/bash")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    feed(child, stdin)
}

#[test]
fn j0_under_a_low_descriptor_limit_runs_every_job_as_gnu_parallel() {
    // The issue's report: this failed with "cannot start jobs: Invalid
    // argument". GNU parallel warns that only a few jobs fit, and runs
    // all eight (each timed out twice: exit status 8).
    let r = run_with_fd_limit(
        30,
        &[
            "-k",
            "-j0",
            "--retries",
            "2",
            "--timeout",
            "0.1",
            "echo {}; sleep {}; false",
        ],
        b"1\n2\n3\n4\n5\n6\n7\n8\n",
    );
    assert_eq!(r.lines(), ["1", "2", "3", "4", "5", "6", "7", "8"], "{}", r.stderr);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert!(
        r.stderr.contains("forkpool: Warning: Only enough file handles to run ")
            && r.stderr.contains("or increasing 'ulimit -n'"),
        "{}",
        r.stderr
    );
    // The same bound holds a plain -j N: it warns at once and runs them all.
    let r = run_with_fd_limit(30, &["-k", "-j", "100", "echo"], b"a\nb\nc\n");
    assert_eq!((r.lines(), r.code), (vec!["a", "b", "c"], 0), "{}", r.stderr);
    assert!(r.stderr.contains("Only enough file handles"), "{}", r.stderr);
}

#[test]
fn j0_with_the_input_on_the_command_line_under_a_low_descriptor_limit() {
    // The system's bound is read only when more than one job could run at
    // once: eight values could, and are held to what fits, with GNU's
    // warning; a single value is run without reading it.
    let values = ["1", "2", "3", "4", "5", "6", "7", "8"];
    // Jobs that last a moment, so that the bound surely holds one back.
    let mut args = vec!["-k", "-j0", "sleep 0.3; echo"];
    args.push(":::");
    args.extend(values);
    let r = run_with_fd_limit(30, &args, b"");
    assert_eq!((r.lines(), r.code), (values.to_vec(), 0), "{}", r.stderr);
    assert!(r.stderr.contains("Only enough file handles"), "{}", r.stderr);
    for j in ["-j0", "-j100"] {
        let r = run_with_fd_limit(30, &[j, "echo", ":::", "one"], b"");
        assert_eq!((r.lines(), r.code), (vec!["one"], 0), "{j}: {}", r.stderr);
    }
}

/// The lines `-X` makes of 12 items under `-j J`: as many as job slots.
fn spread_over(extra: &[&str]) -> usize {
    let mut args = extra.to_vec();
    args.extend(["-X", "--dry-run", "echo"]);
    let r = run_with(&args, b"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n");
    assert_eq!(r.code, 0, "{r:?}");
    r.lines().len()
}

#[test]
fn percentages_round_up_and_cpus_can_be_cores_or_sockets() {
    let threads = cpus();
    assert_eq!(spread_over(&["-j", "75%"]), (threads * 3).div_ceil(4).min(12));
    assert_eq!(spread_over(&["-j", "1%"]), 1, "never none");
    let distinct = |file: &str| {
        let mut seen = std::collections::HashSet::new();
        for cpu in 0.. {
            match std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/{file}")) {
                Ok(v) => seen.insert(v),
                Err(_) => break,
            };
        }
        seen.len()
    };
    // Both capped by the threads we may run on, as in GNU parallel.
    let sockets = distinct("physical_package_id").max(1).min(threads);
    assert_eq!(
        spread_over(&["--use-sockets-instead-of-threads", "-j", "100%"]),
        sockets.min(12)
    );
    assert_eq!(
        spread_over(&["--use-cpus-instead-of-cores", "-j", "100%"]),
        sockets.min(12)
    );
    let cores = distinct("thread_siblings").min(threads);
    if cores > 0 {
        assert_eq!(
            spread_over(&["--use-cores-instead-of-threads", "-j", "+1"]),
            (cores + 1).min(12)
        );
    }
}

#[test]
fn cores_and_sockets_count_only_the_cpus_we_may_run_on() {
    // Held to one CPU (`taskset -c 0`), every unit counts one CPU, as in
    // GNU parallel: one job slot for -j100%, two for -j+1.
    for unit in [
        &["--use-cores-instead-of-threads"][..],
        &["--use-sockets-instead-of-threads"][..],
        &[][..],
    ] {
        for (jobs, slots) in [("100%", "1"), ("+1", "2")] {
            // Jobs that last a moment, so that a second slot is used if
            // there is one.
            let out = Command::new("taskset")
                .args(["-c", "0", env!("CARGO_BIN_EXE_forkpool")])
                .args(unit)
                .args(["-j", jobs, "sleep 0.2; echo {%}", ":::", "a", "b", "c", "d"])
                .output()
                .expect("taskset (util-linux) runs");
            let most = String::from_utf8_lossy(&out.stdout).lines().max().map(str::to_owned);
            assert_eq!(most.as_deref(), Some(slots), "{unit:?} -j {jobs}: {out:?}");
        }
    }
}

#[test]
fn a_bad_jobs_value_is_gnu_parallels_error() {
    for bad in ["abc", "1.5", "/"] {
        let r = run(&["-j", bad, "echo", ":::", "a"]);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (255, "forkpool: Error: Parsing of --jobs/-j/--max-procs/-P failed.\n"),
            "-j {bad}"
        );
    }
}

#[test]
fn a_jobs_value_that_is_not_utf8_is_gnu_parallels_error() {
    // GNU's message and status, not an error about the bytes. (GNU also
    // prints its usage summary on stdout: the README's differences.)
    use std::os::unix::ffi::OsStrExt;
    let bytes: [&[u8]; 4] = [b"\xff", b"2\xff", b"-P\xff", b"--max-procs=\xff"];
    for value in bytes {
        let value = std::ffi::OsStr::from_bytes(value);
        let words: Vec<&std::ffi::OsStr> = if value.as_bytes().starts_with(b"-") {
            vec![value]
        } else {
            vec!["-j".as_ref(), value]
        };
        let both = [env!("CARGO_BIN_EXE_forkpool"), "parallel"].map(|program| {
            let out = Command::new(program)
                .arg("--will-cite")
                .args(&words)
                .args(["echo", ":::", "a"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).replace("forkpool:", "parallel:");
            (stderr, out.status.code())
        });
        assert_eq!(both[0], both[1], "{value:?}");
        assert_eq!(
            both[0],
            (
                "parallel: Error: Parsing of --jobs/-j/--max-procs/-P failed.\n".to_owned(),
                Some(255)
            )
        );
    }
}

#[test]
fn a_jobs_file_is_read_again_while_jobs_run() {
    // Jobs start one at a time; the first job raises the file to 4. GNU
    // parallel looks at the file again (at most once a second) and starts
    // more at once from then on.
    let d = Dir::new();
    let procs = d.file("procs", "1\n");
    let log = d.s("log");
    let job = format!("echo start {{}} >> {log}; test {{}} = 1 && echo 4 > {procs}; sleep 0.7; echo end {{}} >> {log}");
    let r = run(&["-j", &procs, &job, ":::", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert_eq!(r.code, 0, "{r:?}");
    let events = std::fs::read_to_string(&log).unwrap();
    let (mut running, mut most) = (0, 0);
    for line in events.lines() {
        running += if line.starts_with("start") { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(events.lines().count(), 18, "{events}");
    assert!(most > 1, "never more than one job at once:\n{events}");
}

#[test]
fn limit_holds_jobs_back_and_can_kill_the_youngest() {
    let r = run(&["--limit", "true", "-j4", "-k", "echo {}", ":::", "a", "b", "c"]);
    assert_eq!((r.lines(), r.code), (vec!["a", "b", "c"], 0));
    // The built-in "mem N": no memory is always free enough.
    let r = run(&["--limit", "mem 0", "-k", "echo {}", ":::", "a", "b"]);
    assert_eq!((r.lines(), r.code), (vec!["a", "b"], 0), "{}", r.stderr);
    // Exit 2 once, while two jobs run: the youngest is killed and runs
    // again later, as GNU parallel does.
    let d = Dir::new();
    let log = d.s("log");
    let once = d.s("once");
    let limit =
        format!("test $(wc -l < {log} 2>/dev/null || echo 0) -ge 2 && mkdir {once} 2>/dev/null && exit 2; exit 0");
    let r = run(&[
        "--limit",
        &limit,
        "-j2",
        &format!("echo {{}} >> {log}; sleep 2.5"),
        ":::",
        "1",
        "2",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut started: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    started.sort();
    assert_eq!(started, ["1", "2", "2"], "job 2 should have started twice");
}

/// Runs `program ARGS` with a `--limit` that says "over" (exit 1) until a
/// marker file appears, creates the marker a moment later, and returns
/// what the one job printed: whether the marker was there when it ran.
fn run_with_limit_over_until_marker(program: &mut Command) -> Run {
    let d = Dir::new();
    let marker = d.s("go");
    let child = program
        .args(["-k", "--limit", &format!("test -e {marker}"), "-j2"])
        .arg(format!("test -e {marker} && echo after-{{}} || echo before-{{}}"))
        .args([":::", "a"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    std::fs::write(&marker, "").unwrap();
    finish(child)
}

#[test]
fn a_limit_over_holds_back_even_the_first_job_as_gnu_parallel() {
    // `man parallel`: exit 1 means "over limit, start no jobs"; GNU
    // parallel starts none (not even the first) and asks again until the
    // script says 0. A job that ran early would print "before".
    let ours = run_with_limit_over_until_marker(&mut command(&[]));
    assert_eq!((ours.lines(), ours.code), (vec!["after-a"], 0), "{}", ours.stderr);
    let mut gnu = Command::new("parallel");
    gnu.args(["--will-cite"]).env("PARALLEL_SHELL", "/bin/bash");
    let theirs = run_with_limit_over_until_marker(&mut gnu);
    assert_eq!(
        (theirs.lines(), theirs.code),
        (ours.lines(), ours.code),
        "GNU: {}",
        theirs.stderr
    );
}

#[test]
fn memsuspend_and_noswap() {
    // Far more than any machine has free: one job at a time.
    let r = run(&["--memsuspend", "1P", "-j4", "sleep 0.1; echo {%}", ":::", "a", "b", "c"]);
    assert_eq!((r.lines(), r.code), (vec!["1", "1", "1"], 0), "{}", r.stderr);
    let r = run(&["--noswap", "-k", "echo", ":::", "a", "b"]);
    assert_eq!((r.lines(), r.code), (vec!["a", "b"], 0));
}

#[test]
fn bad_limits_are_one_line_errors_before_any_job_runs() {
    let d = Dir::new();
    let marker = d.s("ran");
    let job = format!("touch {marker}");
    for (args, needle) in [
        (
            vec!["--limit", "no-such-command-x 3", &job, ":::", "a"],
            "command not found",
        ),
        (vec!["--limit", "mem lots", &job, ":::", "a"], "needs a number"),
        (vec!["--memsuspend", "lots", &job, ":::", "a"], "--memsuspend"),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 255, "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(!Path::new(&marker).exists(), "{args:?} ran a job");
    }
}

// ------------------------------------------------- ulimit -n, as GNU counts --

#[test]
fn the_file_handle_bound_is_gnu_parallels_number() {
    // GNU parallel's count (its own handles open, 12 kept, 4 per job, and
    // the job whose 4 did not fit), for input on the command line and on
    // stdin, which GNU counts differently (a `:::` list takes two handles).
    let values: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
    let stdin: String = values.iter().map(|v| format!("{v}\n")).collect();
    let said = |stderr: &str| {
        stderr
            .lines()
            .find_map(|l| l.split("Only enough file handles to run ").nth(1))
            .map(|rest| rest.split(' ').next().unwrap_or("").to_owned())
    };
    let mut compared = 0;
    for fds in [24, 25, 28, 29, 33, 40, 50] {
        let mut on_line = vec!["-j0", "true", ":::"];
        on_line.extend(values.iter().map(String::as_str));
        for (args, input) in [(on_line, &b""[..]), (vec!["-j0", "true"], stdin.as_bytes())] {
            let ours = run_with_fd_limit(fds, &args, input);
            let theirs = gnu_with_fd_limit(fds, &args, input);
            assert_eq!(
                (said(&ours.stderr), ours.code),
                (said(&theirs.stderr), theirs.code),
                "ulimit -n {fds}, {:?}\nforkpool: {}\nGNU: {}",
                &args[..2],
                ours.stderr,
                theirs.stderr
            );
            assert!(said(&ours.stderr).is_some(), "{}", ours.stderr);
            compared += 1;
        }
    }
    assert_eq!(compared, 14);
    // Too few for even one job: GNU's "Cannot spawn any jobs", exit 255,
    // word for word, at the highest limit where GNU refuses; one handle
    // more, both run the jobs one at a time.
    let args = ["-j0", "echo", ":::", "a", "b", "c"];
    let refused = (12..=28)
        .rev()
        .find(|&fds| gnu_with_fd_limit(fds, &args, b"").code == 255)
        .expect("GNU parallel refuses somewhere from ulimit -n 28 down to 12");
    let ours = run_with_fd_limit(refused, &args, b"");
    let theirs = gnu_with_fd_limit(refused, &args, b"");
    assert_refused_as_gnu(&ours, &theirs);
    let ours = run_with_fd_limit(refused + 1, &args, b"");
    assert_eq!(
        (ours.lines(), ours.code),
        (vec!["a", "b", "c"], 0),
        "ulimit -n {}: {}",
        refused + 1,
        ours.stderr
    );
    assert_eq!(said(&ours.stderr).as_deref(), Some("1"), "{}", ours.stderr);
}

#[test]
fn one_job_at_once_is_refused_under_the_descriptor_limit_gnu_refuses_it() {
    // GNU parallel keeps 12 handles spare before it counts any job, at
    // `-j1` too (or a `-j FILE` holding 1): too few, and it runs none.
    let d = Dir::new();
    let one = d.file("one", "1\n");
    for jobs in ["1", one.as_str()] {
        let args = ["-j", jobs, "-k", "echo", ":::", "1", "2"];
        let mut refused = 0;
        for fds in 16..=22 {
            let ours = run_with_fd_limit(fds, &args, b"");
            let theirs = gnu_with_fd_limit(fds, &args, b"");
            if theirs.code == 255 {
                assert_refused_as_gnu(&ours, &theirs);
                refused += 1;
            } else {
                assert_eq!(
                    (ours.stdout, ours.stderr, ours.code),
                    (theirs.stdout, theirs.stderr, theirs.code),
                    "ulimit -n {fds}, -j {jobs}"
                );
            }
        }
        assert!(
            (1..7).contains(&refused),
            "GNU refused -j {jobs} under {refused} of 7 limits"
        );
    }
}

/// Both refused to run with GNU's words (but for the program's name),
/// exit status 255, and no job's output.
fn assert_refused_as_gnu(ours: &Run, theirs: &Run) {
    assert_eq!(
        (
            ours.stderr.replace("forkpool:", "parallel:"),
            ours.code,
            ours.stdout.as_str()
        ),
        (theirs.stderr.clone(), 255, ""),
        "GNU: {}",
        theirs.stderr
    );
}

#[test]
fn j0_says_its_file_handle_bound_before_any_job_whatever_the_jobs_print() {
    // The jobs print nothing: the warning comes anyway, before the first
    // job, as GNU parallel's does; and with exactly as many jobs as fit,
    // as GNU parallel counts (it warns when the last job's handles did not
    // all fit).
    for (values, quiet) in [
        (&["1", "2", "3", "4", "5", "6"][..], "true"),
        (&["1", "2", "3"], "true"),
    ] {
        let mut args = vec!["-j0", quiet, ":::"];
        args.extend(values);
        let ours = run_with_fd_limit(30, &args, b"");
        let theirs = gnu_with_fd_limit(30, &args, b"");
        assert_eq!(
            (ours.stderr.replace("forkpool:", "parallel:"), ours.code),
            (theirs.stderr.clone(), 0),
            "{values:?}"
        );
        assert!(ours.stderr.contains("Only enough file handles"), "{values:?}");
    }
    // Before the first job: ahead of what -u jobs print.
    let ours = run_with_fd_limit(30, &["-u", "-j0", "echo job-{} >&2", ":::", "a", "b", "c", "d"], b"");
    let warned = ours.stderr.find("Only enough file handles");
    let first_job = ours.stderr.find("job-");
    assert!(warned.is_some() && warned < first_job, "{}", ours.stderr);
    // From stdin too.
    let ours = run_with_fd_limit(30, &["-j0", "true"], b"1\n2\n3\n4\n5\n6\n7\n8\n");
    assert!(ours.stderr.contains("Only enough file handles"), "{}", ours.stderr);
    // With --pipe, GNU parallel reads no block first: it always warns.
    // (Its --pipe jobs then use more handles than it counted, and it may
    // add "No more file handles": ours need no more than counted.)
    let args = ["-j0", "--pipe", "-N1", "cat"];
    let ours = run_with_fd_limit(60, &args, b"1\n2\n3\n");
    let theirs = gnu_with_fd_limit(60, &args, b"1\n2\n3\n");
    let first_five = |stderr: &str| stderr.lines().take(5).collect::<Vec<_>>().join("\n");
    assert_eq!(
        (
            first_five(&ours.stderr.replace("forkpool:", "parallel:")),
            ours.sorted(),
            ours.code
        ),
        (first_five(&theirs.stderr), theirs.sorted(), 0)
    );
    assert_eq!(ours.stderr.lines().count(), 5, "{}", ours.stderr);
    assert!(ours.stderr.contains("Only enough file handles"), "{}", ours.stderr);
}

// ---------------------------------------------- ulimit -u, as a plain user --

/// A scratch directory and a user id of their own, for a run under
/// `ulimit -u` (root is exempt from `RLIMIT_NPROC`, and the limit counts
/// every process of the user: a uid that runs nothing else keeps other
/// tests and programs out of the count). `None`, with the reason printed,
/// when we cannot switch users (not root).
struct OwnUser {
    uid: u32,
    dir: Dir,
}

impl OwnUser {
    fn new() -> Option<OwnUser> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        if !rustix::process::geteuid().is_root() {
            println!("skipped: only root can run the jobs as a user of their own, which ulimit -u needs");
            return None;
        }
        // A uid no process has: no passwd entry is needed to run as it.
        let uid = (0..64)
            .map(|_| {
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                47_000 + (std::process::id() % 1000) * 16 + n % 16
            })
            .find(|uid| {
                let uid = uid.to_string();
                !std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
                    std::fs::read_to_string(p.path().join("status")).is_ok_and(|s| {
                        s.lines()
                            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid))
                    })
                })
            })
            .expect("a uid that no process has");
        let dir = Dir::new();
        std::os::unix::fs::chown(dir.0.path(), Some(uid), Some(uid)).unwrap();
        // The binary where that user can run it (ours may be under /root).
        let forkpool = dir.path("forkpool");
        std::fs::hard_link(env!("CARGO_BIN_EXE_forkpool"), &forkpool)
            .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_forkpool"), &forkpool).map(drop))
            .unwrap();
        Some(OwnUser { uid, dir })
    }

    /// Writes an executable script for the jobs.
    fn script(&self, name: &str, content: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `PROGRAM ARGS` (`forkpool` is ours) as this user, in its directory,
    /// under `ulimit -u PROCESSES`.
    fn run(&self, processes: u32, program: &str, args: &[&str]) -> Run {
        use std::os::unix::process::CommandExt;
        let program = if program == "forkpool" {
            self.dir.s("forkpool")
        } else {
            program.to_owned()
        };
        output_of(
            Command::new("/bin/bash")
                .args(["-c", &format!("ulimit -u {processes} && exec \"$@\""), "bash", &program])
                .args(args)
                .uid(self.uid)
                .gid(self.uid)
                .current_dir(self.dir.0.path())
                .env("HOME", self.dir.0.path())
                .env("PARALLEL_SHELL", "/bin/bash"),
        )
    }
}

/// What follows GNU parallel's "No more processes" and "Only enough
/// available processes" lines.
const TRY_ULIMIT_U: &str = "Warning: Try increasing 'ulimit -u' (try: ulimit -u `ulimit -Hu`)\n";

#[test]
fn jobs_that_fork_under_ulimit_u_all_run_as_the_bound_backs_off() {
    // The new user's trial: each job forks children of its own, so the
    // jobs at once that fit at the start leave too few processes. As GNU
    // parallel, a spawn that finds no process lowers the bound by one,
    // with its warning, and the job is tried again later: every job runs
    // once, and the run succeeds. (Before, the bound stayed, and the jobs'
    // own forks failed: "Cannot fork".)
    let Some(user) = OwnUser::new() else { return };
    user.script(
        "slot.sh",
        "#!/bin/bash\nsleep 0.2 & sleep 0.2 & sleep 0.2 & wait\necho $1\n",
    );
    let values: Vec<String> = (1..=60).map(|i| i.to_string()).collect();
    // A job's own fork may still find no process while the bound comes
    // down, and bash then gives up on the script ("fork: Interrupted
    // system call"): that job's failure, not forkpool's, and GNU's jobs
    // meet it too. --retries runs such a job again (a failed attempt's
    // output is not printed), so every job is still seen exactly once.
    let mut args = vec!["-j0", "--retries", "3", "./slot.sh", ":::"];
    args.extend(values.iter().map(String::as_str));
    let r = user.run(20, "forkpool", &args);
    let mut ran: Vec<u32> = r.lines().iter().map(|l| l.parse().unwrap()).collect();
    ran.sort_unstable();
    assert_eq!(ran, (1..=60).collect::<Vec<u32>>(), "{}", r.stderr);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("forkpool: Warning: No more processes: Decreasing number of running jobs to "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("forkpool: {TRY_ULIMIT_U}")), "{}", r.stderr);
}

#[test]
fn the_process_bound_at_the_start_is_gnu_parallels() {
    // GNU parallel forks dummies until one fails: the processes left, less
    // one, run at once. forkpool counts them instead, to the same number
    // (the one left is its guardian's), and jobs that start no process of
    // their own then never meet the limit. With 3 processes, one job at a
    // time (the guardian, forkpool, the job); with 2, none: GNU's error.
    let Some(user) = OwnUser::new() else { return };
    let values: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    let mut args = vec!["-j0", "echo {}; exec sleep 0.3", ":::"];
    args.extend(values.iter().map(String::as_str));
    let said = |stderr: &str| -> Option<usize> {
        let rest = stderr.split("Only enough available processes to run ").nth(1)?;
        rest.split(' ').next()?.parse().ok()
    };
    let mut gnu_args = vec!["--will-cite"];
    gnu_args.extend(&args);
    for processes in [12, 3] {
        let ours = user.run(processes, "forkpool", &args);
        let theirs = user.run(processes, "parallel", &gnu_args);
        assert_eq!(
            (ours.sorted(), ours.code, said(&ours.stderr)),
            (theirs.sorted(), 0, said(&theirs.stderr)),
            "ulimit -u {processes}: {}\nGNU: {}",
            ours.stderr,
            theirs.stderr
        );
        assert_eq!(theirs.sorted().len(), 20, "{}", theirs.stderr);
        assert!(said(&ours.stderr).is_some(), "{}", ours.stderr);
        assert!(
            ours.stderr.contains(&format!("forkpool: {TRY_ULIMIT_U}")),
            "{}",
            ours.stderr
        );
        assert!(!ours.stderr.contains("No more processes"), "{}", ours.stderr);
    }
    let ours = user.run(2, "forkpool", &args);
    let theirs = user.run(2, "parallel", &gnu_args);
    assert_refused_as_gnu(&ours, &theirs);
}

#[test]
fn with_one_job_at_once_and_no_process_left_the_run_ends_as_gnu_parallels() {
    // One job at a time; while the first runs, processes of the same user
    // (started beside the limit, which binds only what the run starts)
    // take the last ones: the second job cannot start, and there is no
    // bound left to lower. GNU parallel's error, and 255, once the first
    // job has ended.
    let Some(user) = OwnUser::new() else { return };
    let mut outcomes = Vec::new();
    for program in ["forkpool", "parallel"] {
        let started = user.dir.path(&format!("started-{program}"));
        let job = format!("touch {}; echo {{}}; exec sleep 2", started.display());
        let mut args = vec!["-j1", &job, ":::", "1", "2"];
        if program == "parallel" {
            args.insert(0, "--will-cite");
        }
        let user_ref = &user;
        let (r, hogs) = std::thread::scope(|scope| {
            let run = scope.spawn(move || user_ref.run(4, program, &args));
            assert!(
                wait_for(Duration::from_secs(20), || started.exists()),
                "{program}: the first job never started"
            );
            // Our guardian is one process GNU parallel does not have.
            let others = if program == "forkpool" { 2 } else { 3 };
            let hogs: Vec<std::process::Child> = (0..others)
                .map(|_| {
                    use std::os::unix::process::CommandExt;
                    Command::new("sleep")
                        .arg("30")
                        .uid(user.uid)
                        .gid(user.uid)
                        .spawn()
                        .unwrap()
                })
                .collect();
            (run.join().unwrap(), hogs)
        });
        for mut hog in hogs {
            let _ = hog.kill();
            let _ = hog.wait();
        }
        assert!(
            r.stderr.contains(&format!(
                "{program}: Error: No more processes: cannot run a single job. Something is wrong at 2.\n"
            )),
            "{program}: {}",
            r.stderr
        );
        outcomes.push((r.stdout, r.code));
    }
    assert_eq!(outcomes[0], ("1\n".to_owned(), 255));
    assert_eq!(outcomes[0], outcomes[1], "forkpool, then GNU parallel");
}

#[test]
fn jobs_held_back_by_keep_order_run_out_of_file_handles_with_gnu_parallels_warning() {
    // Before each job GNU parallel checks that 11 more files would open;
    // with -k, jobs that ended wait for the first one's output, each
    // keeping 4 open, until the check fails: it says so, once. Without -k
    // the bound it set at the start leaves room enough.
    let values: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    for (fds, keep_order) in [(30, true), (50, true), (30, false)] {
        let runs = [true, false].map(|gnu| {
            let d = Dir::new();
            // Job 1 ends only after job 2 has, so that -k holds some back.
            // (Not after a later one: GNU starts no job while its check
            // fails, and with two at once job 3 would never start.)
            let command = format!(
                "if [ {{}} = 1 ]; then while [ ! -e {0}/2 ]; do sleep 0.05; done; sleep 1; \
                 else touch {0}/{{}}; fi; echo {{}}",
                d.s("")
            );
            let mut args = vec!["-j0", &command, ":::"];
            if keep_order {
                args.insert(0, "-k");
            }
            args.extend(values.iter().map(String::as_str));
            let r = gnu_or_ours(gnu, fds, &args, b"");
            (r.stderr.replace("forkpool:", "parallel:"), r.sorted().join(","), r.code)
        });
        let [theirs, ours] = runs;
        assert_eq!(ours, theirs, "ulimit -n {fds}, -k: {keep_order}");
        assert_eq!(
            ours.0.contains(
                "parallel: Warning: No more file handles. \n\
                 parallel: Warning: Try running 'parallel -j0 -N 100 --pipe parallel -j0'\n"
            ),
            keep_order,
            "{}",
            ours.0
        );
    }
}

#[test]
fn a_jobs_file_read_again_warns_of_file_handles_as_gnu_parallel() {
    // GNU parallel counts the jobs its file handles allow again each time
    // it reads `-j FILE` (and at its first look at it): a value above the
    // count, or `0` after a number, brings its warning, with the handles
    // its running jobs hold taken off.
    let values: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
    let runs = [true, false].map(|gnu| {
        let d = Dir::new();
        let procs = d.file("procs", "2\n");
        let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let set_old = |path: &str| {
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(an_hour_ago).unwrap();
        };
        // GNU sees a change only in a later second than the one it read.
        set_old(&procs);
        // Jobs 1 and 2 run until the file has been read again.
        let job = format!(
            "touch {0}/started-{{}}; if [ {{}} -le 2 ]; then while [ ! -e {0}/go ]; do sleep 0.05; done; fi; echo {{}}",
            d.s("")
        );
        let changer = {
            let dir = d.s("");
            let procs = procs.clone();
            std::thread::spawn(move || {
                let started = |n: u32| Path::new(&format!("{dir}/started-{n}")).exists();
                assert!(wait_for(Duration::from_secs(30), || started(1) && started(2)));
                std::fs::write(&procs, "0\n").unwrap();
                // Both look at the file at most once a second.
                std::thread::sleep(Duration::from_secs(3));
                std::fs::write(format!("{dir}/go"), "").unwrap();
            })
        };
        let mut args = vec!["-j", &procs, &job, ":::"];
        args.extend(values.iter().map(String::as_str));
        let r = gnu_or_ours(gnu, 50, &args, b"");
        changer.join().unwrap();
        // A value above the count from the start: counted twice.
        let d = Dir::new();
        let many = d.file("many", "30\n");
        let mut args = vec!["-j", &many, "true", ":::"];
        args.extend(values.iter().map(String::as_str));
        args.extend(values.iter().map(String::as_str));
        let at_start = gnu_or_ours(gnu, 50, &args, b"");
        [r, at_start].map(|r| (r.stderr.replace("forkpool:", "parallel:"), r.sorted().join(","), r.code))
    });
    let [theirs, ours] = runs;
    assert_eq!(ours, theirs);
    let warning = |jobs: u32| format!("parallel: Warning: Only enough file handles to run {jobs} jobs in parallel.\n");
    // 47 handles free: 5 GNU parallel's own, 4 for each of two jobs.
    assert_eq!(ours[0].0.matches(&warning(6)).count(), 1, "{}", ours[0].0);
    assert_eq!(ours[1].0.matches(&warning(8)).count(), 2, "{}", ours[1].0);
}

/// `-j FILE` changed while jobs run, by GNU parallel (`gnu`) or us: the
/// file holds `first`, an hour old (GNU sees a change only in a later
/// second than the one it read); once every job of `waiting` has started,
/// it holds `then`, and three seconds later (both look at the file at
/// most once a second) those jobs end. The jobs are `-j FILE -k` over
/// `inputs`, each printing its value. Returns the run and the values
/// whose jobs started.
fn with_jobs_file_changed(gnu: bool, first: &str, then: &'static str, waiting: &[u32], inputs: u32) -> (Run, Vec<u32>) {
    let d = Dir::new();
    let procs = d.file("procs", first);
    let file = std::fs::File::options().write(true).open(&procs).unwrap();
    file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let waits: Vec<String> = waiting.iter().map(|n| format!("[ {{}} = {n} ]")).collect();
    let job = format!(
        "touch {0}/started-{{}}; if {1}; then while [ ! -e {0}/go ]; do sleep 0.05; done; fi; echo {{}}",
        d.s(""),
        waits.join(" || ")
    );
    let dir = d.s("");
    let started = move |n: &u32| Path::new(&format!("{dir}/started-{n}")).exists();
    let changer = {
        let (procs, waiting, started) = (procs.clone(), waiting.to_vec(), started.clone());
        let go = format!("{}/go", d.s(""));
        std::thread::spawn(move || {
            assert!(wait_for(Duration::from_secs(30), || waiting.iter().all(&started)));
            std::fs::write(&procs, then).unwrap();
            std::thread::sleep(Duration::from_secs(3));
            std::fs::write(go, "").unwrap();
        })
    };
    let values: Vec<String> = (1..=inputs).map(|i| i.to_string()).collect();
    let mut args = vec!["-j", &procs, "-k", &job, ":::"];
    args.extend(values.iter().map(String::as_str));
    let r = gnu_or_ours(gnu, 50, &args, b"");
    changer.join().unwrap();
    (r, (1..=inputs).filter(started).collect())
}

#[test]
fn a_jobs_file_changed_after_the_last_job_started_is_not_counted_again() {
    // GNU parallel counts its jobs again (and warns of its file handles)
    // only when it has a job to start: a change once every job started
    // brings nothing (100 is more than `ulimit -n 50` allows).
    let runs = [true, false].map(|gnu| {
        let (r, _) = with_jobs_file_changed(gnu, "2\n", "100\n", &[1, 2], 2);
        (r.stdout, r.stderr.replace("forkpool:", "parallel:"), r.code)
    });
    let [theirs, ours] = runs;
    assert_eq!(ours, theirs);
    assert_eq!(ours, ("1\n2\n".to_owned(), String::new(), 0));
}

#[test]
fn a_jobs_file_rewritten_to_a_bad_value_is_gnu_parallels_error() {
    // GNU parallel reads the file again, cannot parse it, and dies: its
    // error (and its usage, which we leave out), the running job killed
    // unprinted, no job started after it, exit 255. An empty file is as
    // bad as a fraction or a word.
    for bad in ["x\n", "", "2.5\n"] {
        let runs = [true, false].map(|gnu| {
            let (r, started) = with_jobs_file_changed(gnu, "1\n", bad, &[2], 4);
            let first = r.stderr.lines().next().unwrap_or("").replace("forkpool:", "parallel:");
            // GNU's usage (on stdout) after the jobs' output: left out.
            let stdout = r.stdout.split("Usage:\n").next().unwrap_or("").to_owned();
            (stdout, first, r.code, started, r.stderr.lines().count())
        });
        let [theirs, ours] = runs;
        assert_eq!(
            (&ours.0, &ours.1, ours.2, &ours.3),
            (&theirs.0, &theirs.1, theirs.2, &theirs.3),
            "{bad:?}"
        );
        assert_eq!(
            (ours.0.as_str(), ours.1.as_str(), ours.2, ours.3, ours.4),
            (
                "1\n",
                "parallel: Error: Parsing of --jobs/-j/--max-procs/-P failed.",
                255,
                vec![1, 2],
                1
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_jobs_file_takes_every_form_of_j_as_gnu_parallel() {
    // `+N`, `-N` and `N%` read from the file count from the CPUs as on
    // the command line. (`{%}` of jobs that end at once depends on which
    // ends first: the jobs here wait until as many as the CPUs allow have
    // started, at most 10 seconds, and the most at once is compared.)
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (value, expected) in [
        ("+1\n", cpus + 1),
        ("50%\n", cpus.div_ceil(2)),
        ("-1\n", cpus.saturating_sub(1).max(1)),
    ] {
        if value == "-1\n" && cpus == 1 {
            continue;
        }
        let most = [true, false].map(|gnu| {
            let d = Dir::new();
            let procs = d.file("procs", value);
            let log = d.s("log");
            let job = format!(
                "echo start >> {log}; i=0; while [ $(grep -c start {log}) -lt {expected} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo end >> {log}"
            );
            let args: Vec<String> = ["-j", &procs, &job, ":::"]
                .iter()
                .map(|s| s.to_string())
                .chain((1..=expected + 2).map(|i| i.to_string()))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = gnu_or_ours(gnu, 1024, &args, b"");
            assert_eq!(r.code, 0, "{r:?}");
            let (mut running, mut most) = (0i64, 0i64);
            for line in std::fs::read_to_string(&log).unwrap().lines() {
                running += if line == "start" { 1 } else { -1 };
                most = most.max(running);
            }
            usize::try_from(most).unwrap_or(0)
        });
        assert_eq!(most, [expected, expected], "{value:?}");
    }
}
