//! `sem` (the binary invoked as `sem`, or `forkpool --semaphore`): a
//! counting semaphore shared between independent processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Dir, Run, is_dead, signal, wait_for};

/// A home directory for the semaphores, and `sem` linked into it.
struct Home {
    dir: Dir,
    sem: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = Dir::new();
        let sem = dir.path("sem");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forkpool"), &sem).unwrap();
        Home { dir, sem }
    }

    /// `sem ARGS` with this home, its stdin not a terminal.
    fn sem(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.sem);
        cmd.args(args)
            .env("HOME", self.dir.0.path())
            .env("PARALLEL_SHELL", "/bin/bash")
            .env_remove("PARALLEL")
            .env_remove("PARALLEL_HOME")
            .env_remove("XDG_CACHE_HOME")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = self.sem(args).output().unwrap();
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// `sem ARGS` for a command left running in the background: its
    /// output goes to files (a pipe would stay open until the background
    /// command ends), read when `sem` returns.
    fn run_detached(&self, args: &[&str]) -> Run {
        let (out, err) = (self.dir.path("sem.out"), self.dir.path("sem.err"));
        let status = self
            .sem(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Run {
            stdout: std::fs::read_to_string(&out).unwrap(),
            stderr: std::fs::read_to_string(&err).unwrap(),
            code: status.code().unwrap_or(-1),
        }
    }

    /// GNU parallel's `sem ARGS` with this home, as [`Home::run`] runs ours.
    fn gnu(&self, args: &[&str]) -> Run {
        let out = Command::new("sem")
            .args(args)
            .env("HOME", self.dir.0.path())
            .env("PARALLEL_SHELL", "/bin/bash")
            .env_remove("PARALLEL")
            .env_remove("PARALLEL_HOME")
            .env_remove("XDG_CACHE_HOME")
            .stdin(Stdio::null())
            .output()
            .expect("GNU parallel's sem is installed");
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.s(name)
    }
}

/// A shell loop that waits for `path` to exist.
fn until(path: &str) -> String {
    format!("while [ ! -e {path} ]; do sleep 0.01; done")
}

fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

#[test]
fn fg_runs_the_command_and_exits_with_its_status() {
    let h = Home::new();
    let r = h.run(&["--id", "fg", "--fg", "echo out; echo err >&2; exit 3"]);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str(), r.code), ("out\n", "err\n", 3));
    // Killed by a signal: 128 + the signal, as bash reports it.
    let r = h.run(&["--id", "fg", "--fg", "kill -9 $$"]);
    assert_eq!(r.code, 137);
    // The command reads sem's stdin; no arguments are read, `{}` is empty
    // and `:::` sources are ignored, as in GNU parallel.
    let out = h
        .sem(&["--id", "fg", "--fg", "cat; echo [{}]", ":::", "a", "b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"input\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "input\n[]\n");
    // -a FILE becomes the command's stdin.
    let input = h.dir.file("in", "from a file\n");
    let r = h.run(&["--id", "fg", "--fg", "-a", &input, "cat"]);
    assert_eq!(r.stdout, "from a file\n");
    // forkpool --semaphore is the same thing.
    let out = Command::new(env!("CARGO_BIN_EXE_forkpool"))
        .args(["--semaphore", "--fg", "--id", "fg", "echo", "via --semaphore"])
        .env("HOME", h.dir.0.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via --semaphore\n");
}

#[test]
fn bg_returns_once_the_command_holds_its_slot_and_wait_waits_for_it() {
    let h = Home::new();
    let go = h.file("go");
    let done = h.file("done");
    // The command cannot finish before we say so: sem must return first.
    let r = h.run_detached(&["--id", "bg", &format!("{}; echo finished > {done}", until(&go))]);
    assert_eq!((r.stdout.as_str(), r.code), ("", 0), "{r:?}");
    assert!(!exists(&done));
    // --wait waits for it (let it go from a thread once --wait is waiting).
    let go_later = go.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(go_later, "").unwrap();
    });
    let r = h.run(&["--id", "bg", "--wait"]);
    releaser.join().unwrap();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&done).unwrap(),
        "finished\n",
        "--wait returned early"
    );
    // --bg is the default, and said explicitly is the same.
    let r = h.run(&["--id", "bg", "--bg", &format!("echo bg > {done}")]);
    assert_eq!(r.code, 0);
    assert_eq!(h.run(&["--id", "bg", "--wait"]).code, 0);
    assert_eq!(std::fs::read_to_string(&done).unwrap(), "bg\n");
}

#[test]
fn the_background_command_prints_where_sem_would_have() {
    let h = Home::new();
    let log = h.dir.path("log");
    let out = std::fs::File::create(&log).unwrap();
    let status = h
        .sem(&["--id", "print", "echo from the background; exit 5"])
        .stdout(out)
        .status()
        .unwrap();
    // sem itself succeeded: it started the command.
    assert_eq!(status.code(), Some(0));
    assert_eq!(h.run(&["--id", "print", "--wait"]).code, 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "from the background\n");
}

/// GNU's example `seq 3 | parallel sem sed -i -e '1i{}' myfile; sem
/// --wait`: the jobs' `sem` return at once, leaving their commands to run
/// in the background; a job's process group goes when the job ends, but
/// the background commands are not in it, and all three edits are made.
#[test]
fn sem_run_as_a_job_leaves_its_command_running_after_the_job() {
    let h = Home::new();
    let file = h.file("myfile");
    std::fs::write(&file, "orig\n").unwrap();
    let path = format!(
        "{}:{}",
        h.dir.0.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Each command waits a little first, so that its job has surely ended
    // (and its group been killed) before it edits the file.
    let job = format!("sem --id edits 'sleep 0.3; sed -i -e 1i{{}} {file}'");
    let out = super::command(&["-j3", &job, ":::", "1", "2", "3"])
        .env("HOME", h.dir.0.path())
        .env("PATH", path)
        .env_remove("PARALLEL_HOME")
        .env_remove("XDG_CACHE_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(h.run(&["--id", "edits", "--wait"]).code, 0);
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.pop().as_deref(), Some("orig"), "{lines:?}");
    lines.sort();
    assert_eq!(lines, ["1", "2", "3"]);
}

/// The most holders at once among `n` concurrent `sem -j limit --id ID`,
/// measured by each command under `flock`: it raises a counter, records
/// the highest value seen, sleeps a moment, and lowers the counter.
fn max_concurrency(h: &Home, id: &str, limit: &str, n: usize, fg: bool) -> (usize, usize) {
    let counter = h.dir.file(&format!("{id}.count"), "0");
    let max = h.dir.file(&format!("{id}.max"), "0");
    let runs = h.dir.file(&format!("{id}.runs"), "");
    let lock = h.dir.s(&format!("{id}.lock"));
    let probe = format!(
        "flock {lock} sh -c 'n=$(($(cat {counter}) + 1)); echo $n > {counter}; \
           [ $n -gt $(cat {max}) ] && echo $n > {max}; echo x >> {runs}'; \
         sleep 0.05; \
         flock {lock} sh -c 'echo $(($(cat {counter}) - 1)) > {counter}'"
    );
    let mut args = vec!["--id", id, "-j", limit];
    if fg {
        args.push("--fg");
    }
    args.push(&probe);
    let children: Vec<Child> = (0..n).map(|_| h.sem(&args).spawn().unwrap()).collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(h.run(&["--id", id, "--wait"]).code, 0);
    let max: usize = std::fs::read_to_string(&max).unwrap().trim().parse().unwrap();
    let runs = std::fs::read_to_string(&runs).unwrap().lines().count();
    (max, runs)
}

#[test]
fn never_more_holders_than_slots() {
    let h = Home::new();
    let (max, runs) = max_concurrency(&h, "many-fg", "3", 24, true);
    assert_eq!(runs, 24, "every command ran exactly once");
    assert!((1..=3).contains(&max), "{max} commands held 3 slots at once");
    let (max, runs) = max_concurrency(&h, "many-bg", "2", 16, false);
    assert_eq!(runs, 16);
    assert!((1..=2).contains(&max), "{max} commands held 2 slots at once");
    // A mutex by default.
    let (max, runs) = max_concurrency(&h, "mutex", "1", 8, true);
    assert_eq!((max, runs), (1, 8));
}

#[test]
fn all_slots_can_be_held_and_the_next_waits_for_one() {
    let h = Home::new();
    let release = h.file("release");
    let mut holders = Vec::new();
    for i in 0..3 {
        let started = h.file(&format!("started{i}"));
        let cmd = format!("touch {started}; {}", until(&release));
        holders.push((
            started,
            h.sem(&["--id", "full", "-j", "3", "--fg", &cmd]).spawn().unwrap(),
        ));
    }
    for (started, _) in &holders {
        assert!(
            wait_for(Duration::from_secs(10), || exists(started)),
            "3 slots, 3 holders"
        );
    }
    let fourth = h.file("fourth");
    let mut waiting = h
        .sem(&["--id", "full", "-j", "3", "--fg", &format!("touch {fourth}")])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!exists(&fourth), "a fourth holder of 3 slots");
    assert!(waiting.try_wait().unwrap().is_none());
    std::fs::write(&release, "").unwrap();
    assert!(waiting.wait().unwrap().success());
    assert!(exists(&fourth));
    for (_, mut holder) in holders {
        assert!(holder.wait().unwrap().success());
    }
}

#[test]
fn a_killed_holder_frees_its_slot() {
    let h = Home::new();
    let started = h.file("started");
    let pid_file = h.file("job-pid");
    // A foreground holder, killed outright: no cleanup code runs.
    let mut holder = h
        .sem(&[
            "--id",
            "kill",
            "--fg",
            &format!("echo $$ > {pid_file}; touch {started}; sleep 100"),
        ])
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || exists(&started)));
    signal(holder.id(), libc::SIGKILL);
    holder.wait().unwrap();
    let r = h.run(&["--id", "kill", "--st", "-20", "--fg", "echo next"]);
    assert_eq!((r.stdout.as_str(), r.code), ("next\n", 0), "{r:?}");
    // Its command did not outlive it either (the guardian stopped it).
    let job: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(wait_for(Duration::from_secs(5), || is_dead(job)));
    // A background holder: the copy of sem that holds the slot is killed.
    let started = h.file("started-bg");
    let pid_file = h.file("holder-pid");
    let r = h.run_detached(&[
        "--id",
        "kill",
        &format!("echo $PARALLEL_PID > {pid_file}; touch {started}; sleep 100"),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(wait_for(Duration::from_secs(10), || exists(&started)));
    let holder: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    signal(holder, libc::SIGKILL);
    let r = h.run(&["--id", "kill", "--st", "-20", "--fg", "echo after"]);
    assert_eq!((r.stdout.as_str(), r.code), ("after\n", 0), "{r:?}");
}

#[test]
fn semaphore_timeout_takes_the_slot_anyway_or_gives_up() {
    let h = Home::new();
    let release = h.file("release");
    let started = h.file("started");
    let mut holder = h
        .sem(&["--id", "st", "--fg", &format!("touch {started}; {}", until(&release))])
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || exists(&started)));
    // Negative: exit 1 without running the command.
    let ran = h.file("ran");
    let r = h.run(&["--id", "st", "--st", "-0.3", "--fg", &format!("touch {ran}")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stderr, "parallel: Warning: Semaphore timed out. Exiting.\n");
    assert!(!exists(&ran));
    // Positive: run anyway, on a slot of its own that counts.
    let r = h.run(&["--id", "st", "--semaphoretimeout", "0.3", "--fg", "echo stole"]);
    assert_eq!((r.stdout.as_str(), r.code), ("stole\n", 0), "{r:?}");
    assert_eq!(
        r.stderr,
        "parallel: Warning: Semaphore timed out. Stealing the semaphore.\n"
    );
    // --wait honours it too.
    let r = h.run(&["--id", "st", "--wait", "--st", "-0.2"]);
    assert_eq!(r.code, 1);
    std::fs::write(&release, "").unwrap();
    assert!(holder.wait().unwrap().success());
    assert_eq!(h.run(&["--id", "st", "--wait"]).code, 0);
}

#[test]
fn a_semaphore_timeout_counts_whole_seconds_of_the_clock_as_gnu_parallel_does() {
    // GNU: `time - $start_time > $timeout`. `--st 1` started just after a
    // tick of the clock runs out at the second tick after it (not one
    // second on): a slot released in between is taken without a word.
    let h = Home::new();
    let release = h.file("release");
    let started = h.file("started");
    let mut holder = h
        .sem(&["--id", "tick", "--fg", &format!("touch {started}; {}", until(&release))])
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || exists(&started)));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_nanos(u64::from(1_000_000_000 - now.subsec_nanos())) + Duration::from_millis(10));
    let waiter = h
        .sem(&["--id", "tick", "--st", "1", "--fg", "echo ran"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Released 1.15 s after the tick: 0.14 s after an exact one-second
    // timeout, 0.85 s before GNU's (the holder's exit and our taking the
    // slot have that long, loaded).
    std::thread::sleep(Duration::from_millis(1_140));
    std::fs::write(&release, "").unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        (
            String::from_utf8_lossy(&out.stdout).as_ref(),
            String::from_utf8_lossy(&out.stderr).as_ref(),
            out.status.code()
        ),
        ("ran\n", "", Some(0))
    );
    assert!(holder.wait().unwrap().success());
}

#[test]
fn the_default_id_is_the_terminal_and_lives_in_gnu_parallels_directory() {
    let h = Home::new();
    // Not on a terminal: `tty` says "not a tty", which names the id.
    let r = h.run(&["--fg", "true"]);
    assert_eq!(r.code, 0, "{r:?}");
    let dir = h.dir.path(".parallel/semaphores/id-not20a20tty");
    assert!(dir.is_dir(), "{}", dir.display());
    // --id names go through the same encoding, under $PARALLEL_HOME if set.
    let ph = h.dir.path("ph");
    std::fs::create_dir(&ph).unwrap();
    let out = h
        .sem(&["--id", "a/b c", "--fg", "true"])
        .env("PARALLEL_HOME", &ph)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(ph.join("semaphores/id-a2fb20c").is_dir());
}

#[test]
fn an_unusable_semaphore_directory_is_a_one_line_error_before_anything_runs() {
    let h = Home::new();
    let ran = h.file("ran");
    // HOME is a file: nothing can be created under it (even by root).
    let file_home = h.dir.file("not-a-dir", "");
    for (home, needle) in [
        (file_home.clone(), "Cannot change into non-executable dir"),
        (format!("{}/x", file_home), "Cannot change into non-executable dir"),
    ] {
        for fg in [true, false] {
            let mut args = vec!["--id", "x"];
            if fg {
                args.push("--fg");
            }
            let cmd = format!("touch {ran}");
            args.push(&cmd);
            let out = h.sem(&args).env("HOME", &home).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(255), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with("parallel: Error: ") && stderr.contains(needle),
                "{stderr}"
            );
            assert!(!exists(&ran));
        }
    }
    // The semaphores directory exists but is a file.
    let home = h.dir.path("h2");
    std::fs::create_dir_all(home.join(".parallel")).unwrap();
    std::fs::write(home.join(".parallel/semaphores"), "").unwrap();
    let out = h.sem(&["--fg", "true"]).env("HOME", &home).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    // Bad values too.
    for args in [&["--st", "soon", "true"][..], &["-j", "many", "--fg", "true"][..]] {
        let r = h.run(args);
        assert_eq!((r.code, r.stderr.lines().count()), (255, 1), "{args:?}: {r:?}");
    }
}

#[test]
fn forkpool_as_sem_is_gnu_sems_drop_in() {
    // The documented example, with a shorter sleep: sem returns at once
    // for the first two, waits for a free slot for the others, and
    // --wait waits for the last.
    let h = Home::new();
    let dir = h.dir.0.path().to_owned();
    let script = "for i in 1 2 3 4; do sem -j 2 \"sleep 0.$i; echo $i finished\"; done; sem --wait; echo done";
    let out = Command::new("bash")
        .args(["-c", script])
        .env("PATH", format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()))
        .env("HOME", &dir)
        .env_remove("PARALLEL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.pop(), Some("done"), "{stdout}");
    lines.sort_unstable();
    assert_eq!(lines, ["1 finished", "2 finished", "3 finished", "4 finished"]);
}

#[test]
fn a_bad_or_zero_j_gets_gnu_sems_one_line_and_255() {
    // GNU sem refuses these before it runs anything: one `Error:` line
    // (and its usage on standard output: a documented difference).
    let h = Home::new();
    let ran = h.file("ran");
    let touch = format!("touch {ran}");
    for j in ["x", "1x", "1.5", "-x", "0%", "-100"] {
        let args = ["-j", j, "--fg", &touch];
        let ours = h.run(&args);
        let gnu = Command::new("sem")
            .args(args)
            .env("HOME", h.dir.0.path())
            .env("PARALLEL_SHELL", "/bin/bash")
            .env_remove("PARALLEL")
            .env_remove("PARALLEL_HOME")
            .stdin(Stdio::null())
            .output()
            .expect("GNU parallel's sem is installed");
        let gnu_stderr = String::from_utf8_lossy(&gnu.stderr);
        assert_eq!(
            (ours.stderr.as_str(), ours.code),
            (&*gnu_stderr, gnu.status.code().unwrap_or(-1)),
            "-j {j}"
        );
        assert_eq!(ours.code, 255, "-j {j}");
        // `forkpool --semaphore` says the same, in its own name.
        let mut semaphore = vec!["--semaphore"];
        semaphore.extend_from_slice(&args);
        let r = super::run(&semaphore);
        assert_eq!(
            (r.stderr.replace("forkpool:", "parallel:"), r.code),
            (gnu_stderr.to_string(), 255),
            "-j {j}"
        );
        assert!(!exists(&ran), "-j {j}");
    }
}

#[test]
fn a_timed_out_fg_command_exits_255_as_gnu_sem_does() {
    // GNU gives a job killed by --timeout the exit status -1, and sem
    // exits with it: Perl's exit(-1) is 255, whatever the command would
    // have returned.
    let h = Home::new();
    for command in ["sleep 5", "sleep 5; exit 3"] {
        let args = ["--id", "timeout", "--fg", "--timeout", "1", command];
        let (ours, gnu) = (h.run(&args), h.gnu(&args));
        assert_eq!(
            (
                ours.stdout.as_str(),
                ours.stderr.replace("forkpool:", "parallel:"),
                ours.code
            ),
            (gnu.stdout.as_str(), gnu.stderr.clone(), gnu.code),
            "{command}"
        );
        assert_eq!(ours.code, 255, "{command}");
    }
    // In the background the status is lost, as in GNU: `--wait` says 0.
    let args = ["--id", "timeout-bg", "--timeout", "1", "sleep 5"];
    let bg = h.run_detached(&args);
    assert_eq!(bg.code, 0, "{bg:?}");
    let ours = h.run(&["--id", "timeout-bg", "--wait"]);
    let bg = h.gnu(&args);
    let gnu = h.gnu(&["--id", "timeout-bg", "--wait"]);
    assert_eq!((ours.code, bg.code, gnu.code), (0, 0, 0));
}

#[test]
fn sem_prints_the_shell_completion_as_gnu_sem_does() {
    // GNU answers --shell-completion before it looks at the semaphore
    // options: sem prints the code (under GNU's name, as its messages
    // are), whatever else it was asked.
    let h = Home::new();
    let ours = h.run(&["--shell-completion", "bash"]);
    let bash = super::run(&["--shell-completion", "bash"]).stdout;
    assert_eq!(ours.stdout, bash.replace("forkpool", "parallel"), "{ours:?}");
    for args in [
        &["--shell-completion", "bash"][..],
        &["--shell-completion", "zsh"],
        &["--fg", "--shell-completion", "bash", "echo sem-ran"],
        &["--wait", "--shell-completion", "bash"],
        &["--shell-completion", "fish"],
    ] {
        let (ours, gnu) = (h.run(args), h.gnu(args));
        assert_eq!(ours.code, gnu.code, "{args:?}");
        assert_eq!(ours.stdout.is_empty(), gnu.stdout.is_empty(), "{args:?}");
        assert!(!ours.stdout.contains("sem-ran"), "{args:?}");
        assert_eq!(ours.stderr.replace("forkpool:", "parallel:"), gnu.stderr, "{args:?}");
    }
    let zsh = h.run(&["--shell-completion", "zsh"]);
    assert!(zsh.stdout.starts_with("compdef _comp_parallel parallel;"), "{zsh:?}");
    // `forkpool --semaphore` is the same.
    let r = super::run(&["--semaphore", "--shell-completion", "bash"]);
    assert_eq!((r.stdout.as_str(), r.code), (bash.as_str(), 0));
}

#[test]
fn the_readmes_sem_steps_work_in_order_on_a_fresh_home() {
    // The README's `sem` example, run as it stands by `sh` with a home
    // that has no `~/bin` yet and forkpool on `PATH`.
    let readme = include_str!("../../../../README.md");
    let section = &readme[readme.find("**`sem`.**").unwrap()..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];
    assert!(script.contains("~/bin/sem"), "{script}");
    let home = Dir::new();
    let work = Dir::new();
    for name in ["a.log", "b.log"] {
        work.file(name, "text\n");
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_forkpool")).parent().unwrap();
    let out = Command::new("sh")
        .args(["-ec", script])
        .current_dir(work.0.path())
        .env("HOME", home.0.path())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env_remove("PARALLEL")
        .env_remove("PARALLEL_HOME")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["a.log.gz", "b.log.gz"] {
        assert!(
            work.path(name).exists(),
            "{name}: {:?}",
            std::fs::read_dir(work.0.path()).unwrap().collect::<Vec<_>>()
        );
    }
    assert!(!work.path("a.log").exists());
}
