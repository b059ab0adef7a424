//! The `forkpool` command, driven as a user would drive it: every option's
//! output and exit status, checked against GNU parallel's documented
//! behaviour.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run produced.
#[derive(Debug)]
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    fn sorted(&self) -> Vec<&str> {
        let mut lines = self.lines();
        lines.sort_unstable();
        lines
    }
}

/// A scratch directory for one test, removed afterwards.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forkpool"));
    // The shell is pinned: otherwise it is whichever shell started the tests.
    cmd.args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash");
    cmd
}

/// Starts `forkpool ARGS` with all three standard streams piped.
fn spawn_piped(args: &[&str]) -> std::process::Child {
    command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `forkpool ARGS` with `stdin` as its input.
fn run_with(args: &[&str], stdin: &[u8]) -> Run {
    feed(spawn_piped(args), stdin)
}

/// Writes `stdin` to a child started with its streams piped (from a thread,
/// so that a full output pipe cannot block the writing), and waits for it.
fn feed(mut child: std::process::Child, stdin: &[u8]) -> Run {
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let run = finish(child);
    feeder.join().unwrap();
    run
}

fn run(args: &[&str]) -> Run {
    run_with(args, b"")
}

fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => matches!(stat[stat.rfind(')').unwrap() + 2..].chars().next(), Some('Z' | 'X')),
    }
}

/// The children of `pid` (every thread's, zombies included).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Every process whose pid was written to `path` goes away soon.
fn assert_all_dead(path: &Path) {
    let all = pids_in(path);
    assert!(!all.is_empty(), "no pids were recorded in {}", path.display());
    assert!(
        wait_for(Duration::from_secs(5), || all.iter().all(|&p| is_dead(p))),
        "processes left behind: {all:?}"
    );
}

// ----------------------------------------------------------------- input --

#[test]
fn arguments_after_three_colons() {
    let r = run(&["-k", "echo", ":::", "a", "b", "c"]);
    assert_eq!((r.lines(), r.code), (vec!["a", "b", "c"], 0));
}

#[test]
fn several_sources_combine_last_fastest() {
    let r = run(&["-k", "echo", ":::", "a", "b", ":::", "1", "2"]);
    assert_eq!(r.lines(), ["a 1", "a 2", "b 1", "b 2"]);
}

#[test]
fn plus_links_a_source_to_the_previous_one() {
    let r = run(&["-k", "echo", ":::", "a", "b", "c", ":::+", "1", "2", ":::", "X", "Y"]);
    assert_eq!(r.lines(), ["a 1 X", "a 1 Y", "b 2 X", "b 2 Y"]);
}

#[test]
fn link_pairs_sources_and_wraps_shorter_ones() {
    let r = run(&[
        "-k", "--link", "echo", ":::", "1", "2", ":::", "I", "II", "III", ":::", "a", "b", "c", "d",
    ]);
    assert_eq!(r.lines(), ["1 I a", "2 II b", "1 III c", "2 I d"]);
    let r = run(&["-k", "--xapply", "echo", ":::", "1", "2", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["1 a", "2 b"]);
}

#[test]
fn files_after_four_colons_and_arg_file() {
    let d = Dir::new();
    let f1 = d.file("f1", "l1\nl2\n");
    let f2 = d.file("f2", "m1\nm2\nm3\n");
    let r = run(&["-k", "echo", "::::", &f1, &f2]);
    assert_eq!(r.lines().len(), 6);
    assert_eq!(r.lines()[..2], ["l1 m1", "l1 m2"]);
    let r = run(&["-k", "echo", "::::", &f1, "::::+", &f2]);
    assert_eq!(r.lines(), ["l1 m1", "l2 m2"]);
    let r = run(&["-k", "-a", &f1, "-a", &f2, "echo", "{2}-{1}"]);
    assert_eq!(r.lines()[..3], ["m1-l1", "m2-l1", "m3-l1"]);
}

#[test]
fn stdin_lines_when_no_source_is_given() {
    let r = run_with(&["-k", "echo", "[{}]"], b"a\n\nb\n");
    assert_eq!(r.lines(), ["[a]", "[]", "[b]"]);
    let r = run_with(&["-k", "echo", "::::", "-"], b"x\ny");
    assert_eq!(r.lines(), ["x", "y"]);
}

#[test]
fn null_and_custom_delimiters() {
    let r = run_with(&["-0", "-k", "echo", "[{}]"], b"a b\0c\nd\0");
    assert_eq!(r.stdout, "[a b]\n[c\nd]\n");
    let r = run_with(&["-d", ",", "-k", "echo", "[{}]"], b"x,y,z");
    assert_eq!(r.lines(), ["[x]", "[y]", "[z]"]);
    let r = run_with(&["-d", "\\t", "-k", "echo", "[{}]"], b"x\ty");
    assert_eq!(r.lines(), ["[x]", "[y]"]);
    // A NUL in a line cannot reach an argument: `\0` stands for it, with
    // GNU parallel's warning, and every job still runs.
    let r = run_with(&["-k", "-j1", "echo"], b"a\nc\0d\ne\n");
    assert_eq!((r.lines(), r.code), (vec!["a", "c\\0d", "e"], 0));
    assert!(
        r.stderr.contains("Did you mean to use the --null option?"),
        "{}",
        r.stderr
    );
}

#[test]
fn columns_and_headers() {
    let d = Dir::new();
    let tsv = d.file("t.tsv", "name\tsize\nfoo\t1\nbar\t2\n");
    let r = run(&[
        "-k",
        "--colsep",
        "\\t",
        "--header",
        ":",
        "echo",
        "{name}={size}",
        "::::",
        &tsv,
    ]);
    assert_eq!(r.lines(), ["foo=1", "bar=2"]);
    let r = run(&["-k", "--colsep", ",", "echo", "{2}-{1}", ":::", "a,b", " c , d "]);
    assert_eq!(r.lines(), ["b-a", "d-c"]);
    let r = run(&[
        "-k", "--colsep", "-", "echo", "{4}", "{3}", "{2}", "{1}", ":::", "A-B", ":::", "e-f",
    ]);
    assert_eq!(r.lines(), ["f e B A"]);
    let r = run(&[
        "-k", "--header", ":", "echo", "{x}{y}", ":::", "x", "1", "2", ":::", "y", "z",
    ]);
    assert_eq!(r.lines(), ["1z", "2z"]);
}

#[test]
fn several_items_per_job() {
    let dry = |args: &[&str]| {
        let mut all = vec!["-k", "--dry-run"];
        all.extend_from_slice(args);
        run(&all).stdout
    };
    assert_eq!(
        dry(&["-n2", "echo", "x{}y", ":::", "a", "b", "c"]),
        "echo xa by\necho xcy\n"
    );
    assert_eq!(
        dry(&["-n2", "-X", "echo", "x{}y", ":::", "a", "b", "c"]),
        "echo xay xby\necho xcy\n"
    );
    assert_eq!(
        dry(&["-N2", "echo", "{1}+{2}", ":::", "a", "b", "c"]),
        "echo a+b\necho c+\n"
    );
    assert_eq!(dry(&["-n0", "echo", "hi", ":::", "a", "b"]), "echo hi \necho hi \n");
    assert_eq!(
        dry(&["-X", "-j1", "echo", "pic{}.jpg", ":::", "a", "b"]),
        "echo pica.jpg picb.jpg\n"
    );
    assert_eq!(
        dry(&["-m", "-j1", "echo", "pic{}.jpg", ":::", "a", "b"]),
        "echo pica b.jpg\n"
    );
    // Without -n, the items are spread evenly over the job slots.
    let seven: Vec<String> = (1..=7).map(|i| i.to_string()).collect();
    let mut args = vec!["-X", "-j3", "echo", ":::"];
    args.extend(seven.iter().map(String::as_str));
    assert_eq!(dry(&args), "echo 1 2 3\necho 4 5 6\necho 7\n");
    // -n and -N stop where the command line would grow too long, and a
    // huge count is just a limit.
    let numbers: String = (1..=20_000).map(|i| format!("{i}\n")).collect();
    let r = run_with(&["-k", "-j1", "-n", "30000", "echo"], numbers.as_bytes());
    let sizes: Vec<usize> = r.lines().iter().map(|l| l.split(' ').count()).collect();
    assert_eq!((sizes, r.code), (vec![12_460, 7_540], 0), "as GNU parallel groups them");
    let r = run(&["-N", "99999999999999999999", "echo", ":::", "a"]);
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 0), "{}", r.stderr);
}

// ----------------------------------------------------- replacement strings --

#[test]
fn replacement_strings() {
    let r = run(&[
        "-k",
        "echo",
        "{}",
        "{.}",
        "{/}",
        "{//}",
        "{/.}",
        ":::",
        "/a/b.c/d.tar.gz",
        "x.y",
    ]);
    assert_eq!(
        r.lines(),
        ["/a/b.c/d.tar.gz /a/b.c/d.tar d.tar.gz /a/b.c d.tar", "x.y x x.y . x"]
    );
    let r = run(&["-k", "-j1", "echo", "{#}", "{%}", ":::", "a", "b", "c"]);
    assert_eq!(r.lines(), ["1 1", "2 1", "3 1"]);
    let r = run(&[
        "-k", "echo", "{2.}", "{1/}", "{-1}", "{3//}", ":::", "/x/y", ":::", "f.txt", ":::", "a/b",
    ]);
    assert_eq!(r.lines(), ["f y a/b a"]);
}

#[test]
fn a_command_without_replacement_strings_gets_the_arguments() {
    let r = run(&["-k", "echo", "pre", ":::", "a", "b c"]);
    assert_eq!(r.lines(), ["pre a", "pre b c"]);
    assert_eq!(
        run(&["--dry-run", "echo", "pre", ":::", "b c"]).stdout,
        "echo pre 'b c'\n"
    );
}

#[test]
fn values_are_quoted_like_gnu_parallel() {
    let r = run(&[
        "-k",
        "--dry-run",
        "echo",
        "{}",
        ":::",
        "a b",
        "c'd",
        "e$f",
        "*",
        "-x",
        "",
        "'a",
    ]);
    assert_eq!(
        r.lines(),
        [
            "echo 'a b'",
            "echo 'c'\"'\"'d'",
            "echo 'e$f'",
            "echo '*'",
            "echo -x",
            "echo ''",
            "echo \"'\"'a'"
        ]
    );
    // And the shell gets them back intact. (The command's own words are
    // shell syntax, so the format is quoted for the shell.)
    let r = run(&["-k", "printf", "'[%s]\\n'", ":::", "a b", "c'd", "e$f", "*"]);
    assert_eq!(r.lines(), ["[a b]", "[c'd]", "[e$f]", "[*]"]);
}

#[test]
fn a_custom_replace_string_as_with_xargs_i() {
    let r = run(&["-k", "-I", "X", "echo X-X {} {1}", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["a-a {} {1}", "b-b {} {1}"], "{}", r.stderr);
    let r = run(&["-I", "X", "--tagstring", "X", "echo hi", ":::", "a"]);
    assert_eq!(r.lines(), ["a\thi a"]);
    let r = run(&["-k", "--replace=@", "echo pre@post", ":::", "a"]);
    assert_eq!(r.lines(), ["preapost"]);
    // -i alone (before an option) is -I {}; before a word, that word is
    // its value, as in GNU parallel.
    let r = run(&["-i", "-k", "echo", "{}.x", ":::", "a"]);
    assert_eq!(r.lines(), ["a.x"]);
    let r = run(&["-k", "-i", "@", "echo", "@.x", ":::", "a"]);
    assert_eq!(r.lines(), ["a.x"]);
    assert_eq!(run(&["-I", "", "echo", ":::", "a"]).code, 255);
}

#[test]
fn commands_are_shell_syntax() {
    let r = run(&["-k", "echo {} | tr a-z A-Z; echo done", ":::", "ab"]);
    assert_eq!(r.lines(), ["AB", "done"]);
    let d = Dir::new();
    let out = d.s("out");
    let r = run(&["-k", &format!("echo {{}} >> {out}"), ":::", "x", "y"]);
    assert_eq!(r.code, 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    // With no command, each input is a command.
    let r = run_with(&["-k"], b"echo a\necho b; echo c\n");
    assert_eq!(r.lines(), ["a", "b", "c"]);
}

#[test]
fn quote_makes_the_command_literal() {
    assert_eq!(
        run(&["-q", "--dry-run", "echo", "a b", "{}", ":::", "c d"]).stdout,
        "echo 'a b' 'c d'\n"
    );
    let r = run(&["-q", "-k", "printf", "%s|", "a;b", "{}", ":::", "$x"]);
    assert_eq!(r.stdout, "a;b|$x|");
}

#[test]
fn jobs_see_gnu_parallels_variables() {
    let r = run(&["-k", "-j1", "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT {}", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["1 1 a", "2 1 b"]);
}

// ------------------------------------------------------------------- jobs --

/// The CPUs `-j` counts: those we may run on (as GNU parallel counts
/// them), whatever a cgroup's quota.
fn cpus() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count() as usize)
}

/// The job slots used by 12 jobs under `-j J`.
fn slots_used(j: &str) -> usize {
    let mut args = vec!["-j", j, "sleep 0.05; echo {%}", ":::"];
    let items: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    args.extend(items.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    let mut slots: Vec<usize> = r.lines().iter().map(|l| l.parse().unwrap()).collect();
    slots.sort_unstable();
    slots.dedup();
    *slots.last().unwrap()
}

#[test]
fn jobs_in_every_form() {
    assert_eq!(slots_used("1"), 1);
    assert_eq!(slots_used("3"), 3);
    assert_eq!(slots_used("+1"), (cpus() + 1).min(12));
    assert_eq!(slots_used(&format!("-{}", cpus() - 1)), 1);
    assert_eq!(slots_used("50%"), cpus().div_ceil(2), "rounded up, as GNU parallel");
    assert_eq!(slots_used("0"), 12);
    // No slot left at all is an error, as in GNU parallel.
    for none in [format!("-{}", cpus()), "0%".to_owned()] {
        let r = run(&["-j", &none, "echo", ":::", "a"]);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (255, "forkpool: Error: Cannot run any jobs.\n"),
            "-j {none}"
        );
    }
}

#[test]
fn delay_spaces_out_job_starts() {
    let r = run(&["--delay", "0.2", "-j4", "date +%s.%N", ":::", "a", "b", "c"]);
    let mut starts: Vec<f64> = r.lines().iter().map(|l| l.parse().unwrap()).collect();
    starts.sort_by(f64::total_cmp);
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= 0.19, "started {:.3}s apart", pair[1] - pair[0]);
    }
    // No delay is owed after the last job.
    let start = Instant::now();
    assert_eq!(run(&["--delay", "30", "true", ":::", "a"]).code, 0);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "waited a delay after the last job"
    );
}

#[test]
fn memfree_and_load_hold_jobs_back() {
    // Far more memory than any machine has free: one job at a time.
    let r = run(&["--memfree", "1000T", "-j4", "echo {%}", ":::", "a", "b", "c"]);
    assert_eq!((r.lines(), r.code), (vec!["1", "1", "1"], 0));
    // --load 0 means 0.01 running processes (system-wide, from
    // /proc/loadavg, forkpool itself not counted): with a busy loop beside
    // it, always "too busy", so one job at a time.
    let mut busy = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let r = run(&["--load", "0", "-j4", "echo {%}", ":::", "a", "b", "c"]);
    busy.kill().unwrap();
    busy.wait().unwrap();
    assert_eq!((r.lines(), r.code), (vec!["1", "1", "1"], 0));
}

#[test]
fn nice_runs_jobs_at_that_niceness() {
    // As GNU parallel: `--nice N` is the jobs' niceness (set, not added to
    // ours). Raising it always works; lowering it needs privilege (root,
    // CAP_SYS_NICE), and without it the jobs stay at ours. Compared with
    // the niceness this test starts at (the suite may run under
    // `nice -n 19`) and with whether this process may lower it.
    let ours: i32 = run(&["nice; : {}", ":::", "x"]).stdout.trim().parse().unwrap();
    let lowered = std::process::Command::new("nice")
        .args(["-n", "-1", "nice"])
        .output()
        .unwrap();
    let may_lower = String::from_utf8_lossy(&lowered.stdout).trim().parse::<i32>().unwrap() < ours;
    // From the job's first instruction: a program run directly reads its
    // niceness at once (it was set after the start, a race many lost).
    if ours <= 19 {
        let items: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut args = vec!["--nice", "19", "-j4", "cat", "/proc/self/stat", ":::"];
        args.extend(items.iter().map(String::as_str));
        let r = run(&args);
        // `cat` gets the item as a file it cannot read; its stat line (the
        // niceness is field 19) is on stdout.
        let nice: Vec<&str> = r.stdout.lines().filter_map(|l| l.split(' ').nth(18)).collect();
        assert_eq!(nice, vec!["19"; 20], "{}", r.stdout);
    }
    // Past 19, 19, as `nice -n` (which GNU parallel runs) takes it.
    for (level, set) in [(7, 7), (19, 19), (30, 19)] {
        let r = run(&["--nice", &level.to_string(), "sleep 0.2; nice; : {}", ":::", "x"]);
        let expected = if set >= ours || may_lower { set } else { ours };
        assert_eq!(
            r.stdout.trim(),
            expected.to_string(),
            "--nice {level}, started at {ours}"
        );
    }
}

#[test]
fn shuf_runs_every_job_once() {
    let items: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let mut args = vec!["--shuf", "echo", ":::"];
    args.extend(items.iter().map(String::as_str));
    let mut got: Vec<usize> = run(&args).lines().iter().map(|l| l.parse().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

// ----------------------------------------------------------------- output --

/// A job that writes `n` lines slowly to stdout and stderr.
const INTERLEAVED: &str = "for i in 1 2 3; do echo {}-out-$i; echo {}-err-$i >&2; sleep 0.05; done";

#[test]
fn output_is_grouped_per_job_by_default() {
    let r = run(&["-j3", INTERLEAVED, ":::", "a", "b", "c"]);
    // Each job's three lines come together, never mixed with another's.
    for chunk in r.lines().chunks(3) {
        let job = &chunk[0][..1];
        assert!(chunk.iter().all(|l| l.starts_with(job)), "{:?}", r.lines());
    }
    for chunk in r.stderr.lines().collect::<Vec<_>>().chunks(3) {
        let job = &chunk[0][..1];
        assert!(chunk.iter().all(|l| l.starts_with(job)), "{}", r.stderr);
    }
}

#[test]
fn keep_order_prints_in_input_order_whatever_finishes_first() {
    let r = run(&["-k", "-j4", "sleep {}; echo {}", ":::", "0.4", "0.1", "0.3", "0.2"]);
    assert_eq!(r.lines(), ["0.4", "0.1", "0.3", "0.2"]);
    let r = run(&[
        "-k",
        "--lb",
        "-j3",
        "echo {}; sleep {}; echo {}",
        ":::",
        "0.3",
        "0.1",
        "0.2",
    ]);
    assert_eq!(r.lines(), ["0.3", "0.3", "0.1", "0.1", "0.2", "0.2"]);
}

#[test]
fn line_buffer_prints_whole_lines_as_they_come() {
    // The first job's first line is out long before it ends.
    let mut child = command(&["--lb", "-j2", "echo start-{}; sleep 2; echo end-{}", ":::", "a"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let start = Instant::now();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "start-a\n");
    assert!(
        start.elapsed() < Duration::from_millis(1900),
        "the line waited for the job"
    );
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "end-a\n");
    assert!(child.wait().unwrap().success());
    // Lines from different jobs may mix, but each line is whole.
    let r = run(&["--lb", "-j3", INTERLEAVED, ":::", "a", "b", "c"]);
    let mut lines = r.sorted();
    lines.dedup();
    assert_eq!(lines.len(), 9);
    assert!(lines.iter().all(|l| l.len() == 7));
}

#[test]
fn ungroup_lets_jobs_write_directly() {
    let r = run(&["-u", "--tag", "-k", "printf", "'%s\\n'", ":::", "a", "b"]);
    assert_eq!(r.sorted(), ["a", "b"], "--tag does not apply with -u");
}

#[test]
fn tags_prefix_every_line() {
    let r = run(&["-k", "--tag", "printf", "'1\\n2\\n'", ";", "echo", ":::", "x", "y z"]);
    assert_eq!(r.lines(), ["x\t1", "x\t2", "x\tx", "y z\t1", "y z\t2", "y z\ty z"]);
    let r = run(&["-k", "--tagstring", "<{#}:{}>", "echo", "hi", ":::", "a", "b"]);
    assert_eq!(r.lines(), ["<1:a>\thi a", "<2:b>\thi b"]);
    let r = run(&["-k", "--tag", "echo {}; echo err-{} >&2", ":::", "q"]);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("q\tq\n", "q\terr-q\n"));
    let r = run(&["--dry-run", "--tag", "echo", ":::", "a"]);
    assert_eq!(r.stdout, "a\techo a\n");
    // A CR starts a line as well, as GNU parallel tags it.
    let r = run(&["--tag", "printf 'a\\rb\\nc'", ":::", "x"]);
    assert_eq!(r.stdout, "x\ta\rx\tb\nx\tc");
}

#[test]
fn results_saves_output_instead_of_printing_it() {
    let d = Dir::new();
    let root = d.s("res");
    let r = run(&[
        "--results",
        &root,
        "echo {1} {2}; echo E >&2",
        ":::",
        "I",
        "x/y",
        ":::",
        "III",
    ]);
    assert_eq!((r.stdout.as_str(), r.code), ("", 0));
    let job = d.path("res/1/I/2/III");
    assert_eq!(std::fs::read_to_string(job.join("stdout")).unwrap(), "I III\n");
    assert_eq!(std::fs::read_to_string(job.join("stderr")).unwrap(), "E\n");
    assert_eq!(std::fs::read_to_string(job.join("seq")).unwrap(), "1");
    assert!(d.path("res/1/x\\_y/2/III/stdout").exists());
    let template = d.s("out/my_{}");
    run(&["--results", &template, "echo", ":::", "foo"]);
    assert_eq!(std::fs::read_to_string(d.path("out/my_foo")).unwrap(), "foo\n");
    assert!(d.path("out/my_foo.err").exists() && d.path("out/my_foo.seq").exists());
}

/// A table's lines with the times (which vary) replaced by T and R.
fn without_times(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let mut fields: Vec<String> = Vec::new();
        for (i, field) in line.split(',').enumerate() {
            let numeric = field.contains('.') && field.trim_end().parse::<f64>().is_ok();
            fields.push(match (i, numeric) {
                (2, true) => "T".into(),
                (3, true) => "R".into(),
                _ => field.into(),
            });
        }
        out.push_str(&fields.join(","));
    }
    out
}

#[test]
fn results_as_a_csv_or_json_table() {
    let d = Dir::new();
    let csv = d.s("out.csv");
    let job = "echo out {}; echo err {} >&2; exit {}";
    let r = run(&["-k", "--results", &csv, job, ":::", "0", "1"]);
    assert_eq!((r.stdout.as_str(), r.code), ("", 1));
    // What GNU parallel 20221122 writes for the same command.
    assert_eq!(
        without_times(&std::fs::read_to_string(&csv).unwrap()),
        "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n\
         1,:,T,R,0,6,0,0,\"echo out 0; echo err 0 >&2; exit 0\",0,\"out 0\n\",\"err 0\n\"\n\
         2,:,T,R,0,6,1,0,\"echo out 1; echo err 1 >&2; exit 1\",1,\"out 1\n\",\"err 1\n\"\n"
    );
    // `-.json` writes the table to stdout, one object per job.
    let r = run(&["--results", "-.json", "printf 'a\\t\"'", ":::", "x"]);
    assert!(
        r.stdout.starts_with("{ \"Seq\": 1, \"Host\": \":\", \"Starttime\": "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with(", \"V\": [ \"x\" ], \"Stdout\": \"a\\u0009\\\"\", \"Stderr\": \"\" }\n"),
        "{}",
        r.stdout
    );
}

/// Peak resident memory of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// Samples a process's peak resident memory until it is gone; the thread
/// returns the peak in KiB.
fn watch_peak_rss(pid: u32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(rss) = peak_rss_kib(pid) {
            peak = peak.max(rss);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

#[test]
fn big_output_is_printed_whole_without_being_held_in_memory() {
    // The second job prints 150 MB while the first, ahead of it under -k,
    // is still sleeping: all of it must wait, on disk rather than in RAM.
    let job = "sleep {}; head -c $((150*1024*1024)) /dev/zero | tr '\\0' x; echo";
    let (total, newlines, peak) = output_and_peak_memory(&["-k", "-j2", job, ":::", "1.5", "0"]);
    assert_eq!(total, 2 * (150 * 1024 * 1024 + 1));
    assert_eq!(newlines, 2);
    assert!(peak < 120 * 1024, "forkpool held {} MiB in memory", peak / 1024);
    // Line-buffered, a line that never ends is no different.
    let job = "head -c $((150*1024*1024)) /dev/zero; : {}";
    let (total, newlines, peak) = output_and_peak_memory(&["--line-buffer", job, ":::", "1"]);
    assert_eq!((total, newlines), (150 * 1024 * 1024, 0));
    assert!(peak < 120 * 1024, "forkpool held {} MiB of one line", peak / 1024);
}

/// Runs `forkpool ARGS`; returns the bytes and newlines it printed, and its
/// peak resident memory in KiB.
fn output_and_peak_memory(args: &[&str]) -> (usize, usize, u64) {
    let mut child = command(args).stdout(Stdio::piped()).spawn().unwrap();
    let watcher = watch_peak_rss(child.id());
    let mut out = child.stdout.take().unwrap();
    let mut total = 0usize;
    let mut newlines = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        newlines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    assert!(child.wait().unwrap().success());
    (total, newlines, watcher.join().unwrap())
}

// ---------------------------------------------------------------- control --

fn joblog_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("Seq\t"))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn timeout_kills_the_job_and_its_children_and_keeps_its_output() {
    let d = Dir::new();
    let log = d.s("log");
    let pids = d.s("pids");
    let job = format!("echo before; sleep 1000 & echo $! >> {pids}; wait; echo never");
    let r = run(&["--timeout", "0.5", "--joblog", &log, &job, ":::", "x"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "before\n", "output from before the kill is printed");
    assert!(
        r.stderr.contains("This job was killed because it timed out"),
        "{}",
        r.stderr
    );
    let rows = joblog_rows(Path::new(&log));
    assert_eq!((rows[0][6].as_str(), rows[0][7].as_str()), ("-1", "15"));
    // `--timeout 0` is no timeout, as in GNU parallel.
    assert_eq!(
        run(&["--timeout", "0", "sleep 0.2; echo {}", ":::", "ok"]).stdout,
        "ok\n"
    );
    let grandchild = pids_in(Path::new(&pids));
    assert_eq!(grandchild.len(), 1);
    assert!(
        wait_for(Duration::from_secs(5), || is_dead(grandchild[0])),
        "the job's child survived"
    );
}

#[test]
fn timeout_as_a_percentage_of_the_median_runtime() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&[
        "-j1",
        "--timeout",
        "500%",
        "--joblog",
        &log,
        "sleep",
        ":::",
        "0.2",
        "0.2",
        "0.2",
        "30",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    let exits: Vec<String> = joblog_rows(Path::new(&log)).iter().map(|row| row[6].clone()).collect();
    assert_eq!(exits, ["0", "0", "0", "-1"]);
}

#[test]
fn termseq_decides_how_a_job_is_killed() {
    let d = Dir::new();
    let log = d.s("log");
    let stubborn = "trap '' TERM; echo ready {}; while :; do sleep 0.05; done";
    let start = Instant::now();
    let r = run(&[
        "--timeout",
        "0.3",
        "--termseq",
        "TERM,200,KILL,10",
        "--joblog",
        &log,
        stubborn,
        ":::",
        "x",
    ]);
    assert_eq!(r.code, 1);
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(
        joblog_rows(Path::new(&log))[0][7],
        "9",
        "the TERM was ignored, the KILL was not"
    );
}

#[test]
fn retries_run_a_failing_job_again() {
    let d = Dir::new();
    let count = d.s("count");
    let log = d.s("log");
    // Fails twice, then succeeds.
    let job = format!("echo try >> {count}; echo out-{{}}; [ $(wc -l < {count}) -ge 3 ]");
    let r = run(&["--retries", "5", "--joblog", &log, &job, ":::", "a"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "out-a\n"),
        "only the last attempt's output"
    );
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
    assert_eq!(joblog_rows(Path::new(&log)).len(), 1);
    let r = run(&["--retries", "3", "echo x; false", ":::", "a"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "x\n"));
}

#[test]
fn halt_in_every_form() {
    let with = |halt: &str, items: &[&str]| {
        let mut args = vec!["-j1", "--halt", halt, "echo {}; exit {}", ":::"];
        args.extend_from_slice(items);
        run(&args)
    };
    // now,fail=1: stop at the first failure, with its exit status.
    let r = with("now,fail=1", &["0", "2", "0", "0"]);
    assert_eq!((r.lines(), r.code), (vec!["0", "2"], 2));
    assert!(r.stderr.contains("This job failed:\necho 2; exit 2"), "{}", r.stderr);
    // The legacy numeric form.
    assert_eq!(with("2", &["0", "3", "0"]).code, 3);
    // soon,fail=2: the count of failures.
    let r = with("soon,fail=2", &["1", "0", "3", "0", "0"]);
    assert_eq!((r.lines(), r.code), (vec!["1", "0", "3"], 2));
    // success and done.
    let r = with("now,success=1", &["4", "0", "5"]);
    assert_eq!((r.lines(), r.code), (vec!["4", "0"], 0));
    let r = with("now,done=2", &["4", "0", "5"]);
    assert_eq!((r.lines(), r.code), (vec!["4", "0"], 1));
    // Percentages of all jobs: 3 of 6 failing reaches 50%...
    let r = with("soon,fail=50%", &["1", "0", "1", "1", "0", "0"]);
    assert_eq!((r.lines(), r.code), (vec!["1", "0", "1", "1"], 50));
    // ...2 of 6 does not, and the status is the failed percentage.
    let r = with("soon,fail=50%", &["1", "0", "1", "0", "0", "0"]);
    assert_eq!((r.lines().len(), r.code), (6, 34));
    // now kills the running jobs; as in GNU parallel, they leave no
    // output, no message and no joblog line.
    let d = Dir::new();
    let log = d.s("log");
    let start = Instant::now();
    let r = run(&[
        "-j2",
        "--joblog",
        &log,
        "--halt",
        "now,fail=1",
        "echo started {}; sleep {}; exit 1",
        ":::",
        "0.5",
        "30",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["started 0.5"], 1));
    assert_eq!(r.stderr.matches("This job failed").count(), 1, "{}", r.stderr);
    assert_eq!(joblog_rows(Path::new(&log)).len(), 1);
    assert!(start.elapsed() < Duration::from_secs(20));
    // soon: said again after each later job that meets the condition.
    let r = run(&[
        "-j3",
        "--halt",
        "soon,fail=1",
        "sleep {}; exit 1",
        ":::",
        "0.1",
        "0.6",
        "1.2",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.matches("Starting no more jobs. Waiting for").count(),
        2,
        "{}",
        r.stderr
    );
    // The negative legacy forms are values, not options.
    assert_eq!(with("-1", &["3", "0", "4"]).lines(), ["3", "0"]);
}

#[test]
fn joblog_is_gnu_parallels_format() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&["-j1", "--joblog", &log, "sleep 0.1; echo hi; exit {}", ":::", "0", "3"]);
    assert_eq!(r.code, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    for (row, (seq, exit)) in lines.zip([("1", "0"), ("2", "3")]) {
        let f: Vec<&str> = row.split('\t').collect();
        assert_eq!(f.len(), 9, "{row}");
        assert_eq!((f[0], f[1], f[4], f[5], f[6], f[7]), (seq, ":", "0", "3", exit, "0"));
        let (secs, millis) = f[2].split_once('.').unwrap();
        assert!(secs.len() >= 10 && millis.len() == 3, "start time {}", f[2]);
        assert_eq!(f[3].len(), 10, "runtime is right-aligned in 10: {:?}", f[3]);
        assert!(f[3].trim().parse::<f64>().unwrap() >= 0.1);
        assert_eq!(f[8], format!("sleep 0.1; echo hi; exit {exit}"));
    }
    // +FILE appends without a second header.
    run(&["--joblog", &format!("+{log}"), "true", ":::", "x"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!((text.lines().count(), text.matches("Seq\t").count()), (4, 1));
    // ... and starts a new file without one, as GNU parallel does.
    let fresh = d.s("fresh");
    run(&["--joblog", &format!("+{fresh}"), "true", ":::", "x"]);
    assert_eq!(joblog_rows(Path::new(&fresh)).len(), 1);
    assert!(!std::fs::read_to_string(&fresh).unwrap().starts_with("Seq"));
}

#[test]
fn the_joblog_follows_the_output_order_and_can_go_to_stdout() {
    // Under -k, lines come in input order though jobs end in reverse.
    let r = run(&[
        "-k",
        "-j3",
        "--joblog",
        "-",
        "sleep {}; echo {}",
        ":::",
        "0.6",
        "0.3",
        "0",
    ]);
    let kinds: Vec<String> = r
        .lines()
        .iter()
        .map(|l| match l.split('\t').collect::<Vec<_>>().as_slice() {
            [first, ..] if *first == "Seq" => "header".to_owned(),
            [seq, _, _, _, _, _, _, _, _] => format!("log {seq}"),
            _ => format!("out {l}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["header", "out 0.6", "log 1", "out 0.3", "log 2", "out 0", "log 3"]
    );
}

#[test]
fn resume_skips_what_ran_and_resume_failed_reruns_failures() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&[
        "-k",
        "-j1",
        "--joblog",
        &log,
        "echo run {}; exit {}",
        ":::",
        "0",
        "1",
        "0",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["run 0", "run 1", "run 0"], 1));
    let r = run(&[
        "-k",
        "-j1",
        "--resume",
        "--joblog",
        &log,
        "echo run {}; exit {}",
        ":::",
        "0",
        "1",
        "0",
        "7",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["run 7"], 1));
    let r = run(&[
        "-k",
        "-j1",
        "--resume-failed",
        "--joblog",
        &log,
        "echo run {}; exit {}",
        ":::",
        "0",
        "1",
        "0",
        "7",
        "8",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["run 1", "run 7", "run 8"], 3));
    let seqs: Vec<String> = joblog_rows(Path::new(&log)).iter().map(|r| r[0].clone()).collect();
    assert_eq!(seqs, ["1", "2", "3", "4", "2", "4", "5"]);
}

#[test]
fn dry_run_prints_and_runs_nothing() {
    let d = Dir::new();
    let marker = d.s("marker");
    let r = run(&["-k", "--dry-run", &format!("touch {marker}-{{}}"), ":::", "a", "b"]);
    assert_eq!(r.lines(), [format!("touch {marker}-a"), format!("touch {marker}-b")]);
    assert!(!Path::new(&format!("{marker}-a")).exists());
}

#[test]
fn progress_displays_are_gnu_parallels_on_stderr_even_off_a_terminal() {
    // As GNU parallel: drawn on stderr whatever it is; stdout untouched.
    for flag in ["--progress", "--eta"] {
        let r = run(&[flag, "-k", "-j2", "echo", ":::", "a", "b"]);
        assert_eq!((r.lines(), r.code), (vec!["a", "b"], 0), "{flag}");
        assert!(
            r.stderr
                .starts_with("\nComputers / CPU cores / Max jobs to run\n1:local / ")
                && r.stderr.contains(
                    " / 2\n\nComputer:jobs running/jobs completed/%of started jobs/Average seconds to complete\n\r"
                ),
            "{flag}: {:?}",
            r.stderr
        );
        assert!(r.stderr.contains("local:0/2/100%/"), "{flag}: {:?}", r.stderr);
        assert!(r.stderr.ends_with("s \n"), "{flag}: {:?}", r.stderr);
    }
    let r = run(&["--eta", "-j1", "echo", ":::", "a", "b"]);
    assert!(r.stderr.contains("\rETA: 0s Left: 0 AVG: "), "{:?}", r.stderr);
    let r = run(&["--bar", "-k", "echo", ":::", "a", "b", "c"]);
    assert!(r.stderr.contains("\r100\r\x1b[7m100% 3:0=0s c "), "{:?}", r.stderr);
    assert!(r.stderr.contains("\r#   0 sec "), "zenity's line: {:?}", r.stderr);
    // --total-jobs gives the total without reading the input first.
    let r = run_with(&["--bar", "--total-jobs", "4", "-k", "echo"], b"a\nb\n");
    assert!(r.stderr.contains("% 2:2="), "{:?}", r.stderr);
}

/// Runs `forkpool ARGS` with its stderr on a fresh pseudo-terminal, and
/// returns what it drew there.
fn run_on_a_terminal(args: &[&str]) -> (String, i32) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).unwrap();
    let mut child = command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::from(terminal))
        .spawn()
        .unwrap();
    // The command's own copy of the terminal is gone once `command` is
    // dropped; reading ends (EIO) when the child's copy closes.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut drawn = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            drawn.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&drawn).into_owned()
    });
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (reader.join().unwrap(), code)
}

#[test]
fn progress_displays_draw_on_a_terminal() {
    for (flag, drawn_text) in [
        ("--bar", "100% 3:0=0s c"),
        ("--progress", "Computers / CPU cores / Max jobs to run"),
        ("--eta", "ETA: "),
    ] {
        let (drawn, code) = run_on_a_terminal(&[flag, "-j1", "sleep 0.3; echo", ":::", "a", "b", "c"]);
        assert_eq!(code, 0, "{flag}");
        assert!(drawn.contains(drawn_text), "{flag} drew: {drawn:?}");
    }
}

#[test]
fn exit_status_counts_failures() {
    assert_eq!(run(&["true", ":::", "a", "b"]).code, 0);
    assert_eq!(run(&["false", ":::", "1", "2", "3"]).code, 3);
    let items: Vec<String> = (0..150).map(|i| i.to_string()).collect();
    let mut args = vec!["-j8", "false", ":::"];
    args.extend(items.iter().map(String::as_str));
    assert_eq!(run(&args).code, 101);
}

#[test]
fn a_missing_command_fails_with_127_and_says_so() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&["--joblog", &log, "no-such-command-xyz", ":::", "1"]);
    assert_eq!(r.code, 1, "counts as one failed job");
    assert!(
        r.stderr.contains("no-such-command-xyz: command not found"),
        "{}",
        r.stderr
    );
    assert_eq!(joblog_rows(Path::new(&log))[0][6], "127");
    let r = run(&["no-such-command-xyz {} | cat", ":::", "1"]);
    assert_eq!(r.code, 0, "inside a pipeline the shell decides, as with GNU parallel");
    // Whatever keeps a program from starting, the shell's own words and
    // status, as if the command had gone through it.
    let d = Dir::new();
    let script = d.file("no-interpreter", "#!/no/such/interpreter\necho hi\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (program, says, status) in [
        ("/no/such/path", "/no/such/path: No such file or directory", 127),
        ("/tmp", "/tmp: Is a directory", 126),
        (script.as_str(), "cannot execute: required file not found", 127),
    ] {
        let r = run(&["--joblog", &log, program, ":::", "1"]);
        assert!(r.stderr.starts_with("/bin/bash: line 1: "), "{program}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{program}: {}", r.stderr);
        assert_eq!(joblog_rows(Path::new(&log))[0][6], status.to_string(), "{program}");
    }
}

#[test]
fn jobs_run_in_the_nearest_shell_above_us_even_through_other_programs() {
    // As GNU parallel: not `timeout`, our parent, but the `sh` above it,
    // by the path `sh` has on PATH.
    let sh = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("sh"))
        .find(|p| p.exists())
        .unwrap();
    let forkpool = env!("CARGO_BIN_EXE_forkpool");
    let out = Command::new("sh")
        .args(["-c", &format!("timeout 60 {forkpool} 'echo $0' ::: x")])
        .env_remove("PARALLEL_SHELL")
        .env("SHELL", "/no/such/shell")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{} x\n", sh.display()));
}

// ---------------------------------------------------------------- signals --

/// Starts `forkpool ARGS` and waits until its jobs have written `n` lines.
fn start_and_wait_for_lines(args: &[&str], pid_file: &Path, n: usize) -> std::process::Child {
    let child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || pids_in(pid_file).len() >= n),
        "the jobs did not start"
    );
    child
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Runs `cmd` with no input, and its output collected.
fn output_of(cmd: &mut Command) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn slow_input_does_not_hold_up_finished_jobs_or_signals() {
    let d = Dir::new();
    let log = d.s("log");
    let mut child = spawn_piped(&["-j3", "--joblog", &log, "--timeout", "2", "sleep {}; echo {}"]);
    let mut input = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    input.write_all(b"0.1\n").unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "0.1\n");
    // Input stalls for longer than the timeout: the finished job was
    // reaped and logged long ago, and is not "timed out".
    std::thread::sleep(Duration::from_millis(2500));
    let rows = joblog_rows(Path::new(&log));
    assert_eq!(rows.len(), 1, "logged when it ended");
    assert!(rows[0][3].trim().parse::<f64>().unwrap() < 2.0, "{rows:?}");
    // And a signal is acted on while input stalls.
    signal(child.id(), libc::SIGTERM);
    assert!(
        wait_for(Duration::from_secs(10), || child.try_wait().unwrap().is_some()),
        "forkpool ignored SIGTERM while waiting for input"
    );
    drop(input);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("timed out"), "{stderr}");
    assert_eq!(child.wait().unwrap().code(), Some(255));
}

#[test]
fn a_reader_that_goes_away_stops_the_run_at_once() {
    // `forkpool --line-buffer 'yes {}' | head -1`: the job writing into a
    // closed pipe is killed, and forkpool exits as SIGPIPE would have it
    // (with -u the jobs meet the closed pipe themselves and fail: exit 2),
    // as GNU parallel does.
    for (mode, expected) in [
        (&["--line-buffer"][..], 141),
        (&["--line-buffer", "-k"], 141),
        (&["-u"], 2),
    ] {
        let mut args = mode.to_vec();
        args.extend(["yes {}", ":::", "1", "2"]);
        let mut child = command(&args).stdout(Stdio::piped()).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        drop(out);
        let ended = wait_for(Duration::from_secs(10), || child.try_wait().unwrap().is_some());
        if !ended {
            let _ = child.kill();
        }
        assert!(ended, "{mode:?}: still running after its reader left");
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(expected), "{mode:?}");
    }
}

#[test]
fn a_first_sigint_is_passed_to_the_jobs_and_waited_for() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "trap 'echo caught-{{}}; exit 0' INT; echo $$ >> {}; echo started-{{}}; while :; do sleep 0.05; done",
        pids.display()
    );
    let child = start_and_wait_for_lines(&["-j3", "-k", &job, ":::", "a", "b", "c", "d"], &pids, 3);
    signal(child.id(), libc::SIGINT);
    let r = finish(child);
    assert_eq!(r.code, 255, "an interrupted run exits 255, as GNU parallel's");
    assert_eq!(
        r.lines(),
        [
            "started-a",
            "caught-a",
            "started-b",
            "caught-b",
            "started-c",
            "caught-c"
        ],
        "the fourth job never starts"
    );
    assert!(pids_in(&pids).iter().all(|&p| is_dead(p)));
}

#[test]
fn sighup_starts_no_new_jobs_and_lets_the_running_ones_finish() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!("echo $$ >> {}; sleep 0.3; echo done-{{}}", pids.display());
    let child = start_and_wait_for_lines(&["-j2", "-k", &job, ":::", "a", "b", "c"], &pids, 2);
    signal(child.id(), libc::SIGHUP);
    let r = finish(child);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["done-a", "done-b"], "the third job never starts");
    assert!(
        r.stderr.contains("SIGHUP received. No new jobs will be started."),
        "{}",
        r.stderr
    );
}

#[test]
fn a_second_signal_kills_the_jobs_and_their_output_is_still_printed() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "trap '' INT TERM; echo $$ >> {}; echo started-{{}}; sleep 1000 & echo $! >> {}; wait",
        pids.display(),
        pids.display()
    );
    let child = start_and_wait_for_lines(&["-j2", &job, ":::", "a", "b"], &pids, 4);
    signal(child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    signal(child.id(), libc::SIGTERM);
    let r = finish(child);
    assert_eq!(r.code, 255);
    assert_eq!(r.sorted(), ["started-a", "started-b"]);
    assert_all_dead(&pids);
}

#[test]
fn interrupted_jobs_stay_out_of_the_joblog_so_resume_runs_them_again() {
    let d = Dir::new();
    let pids = d.path("pids");
    let joblog = d.s("joblog");
    let job = format!(
        "if [ {{}} = quick ]; then exit 0; fi; trap 'exit 0' INT; echo $$ >> {}; while :; do sleep 0.05; done",
        pids.display()
    );
    let args = ["-j3", "--joblog", &joblog, &job, ":::", "quick", "a", "b"];
    let child = start_and_wait_for_lines(&args, &pids, 2);
    assert!(
        wait_for(Duration::from_secs(10), || joblog_rows(Path::new(&joblog)).len() == 1),
        "the quick job was not logged"
    );
    signal(child.id(), libc::SIGINT);
    assert_eq!(finish(child).code, 255);
    let rows = joblog_rows(Path::new(&joblog));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "1", "only the job that ran to its end is logged");
    let again = run(&["--resume", "--joblog", &joblog, "echo ran-{}", ":::", "quick", "a", "b"]);
    assert_eq!(again.sorted(), ["ran-a", "ran-b"], "{}", again.stderr);
}

#[test]
fn halt_now_drops_what_keep_order_was_holding_back() {
    // Job 2 fails while job 1 still runs: job 1 is killed, and job 2's
    // output, held back behind it, is never printed (as in GNU parallel).
    let r = run(&[
        "-k",
        "-j2",
        "--halt",
        "now,fail=1",
        "sleep {}; echo out{}; [ {} = 5 ]",
        ":::",
        "5",
        "0.1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("This job failed"), "{}", r.stderr);
}

#[test]
fn an_unwritable_stderr_or_stdout_does_not_stop_the_run_but_fails_it() {
    // Every job runs; lost output is an error with status 255, on purpose
    // unlike GNU parallel (silent, status 0: the README's differences).
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = command(&["-j1", "echo {}; echo {} >&2", ":::", "1", "2"])
        .stdout(Stdio::piped())
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n");
    let d = Dir::new();
    let log = d.s("log");
    let both_ran = command(&["-j1", &format!("echo {{}}; echo {{}} >> {log}"), ":::", "1", "2"])
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(both_ran.status.code(), Some(255));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "1\n2\n");
    let stderr = String::from_utf8_lossy(&both_ran.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: Error: cannot write output: No space left on device",
            "forkpool"
        )),
        "{stderr}"
    );
    let gnu = Command::new("parallel")
        .args(["--will-cite", "-j1", "echo {}", ":::", "1", "2"])
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(gnu.status.code(), Some(0), "GNU parallel changed: update the README");
}

#[test]
fn nothing_is_left_running_when_forkpool_is_killed() {
    let d = Dir::new();
    let pids = d.path("pids");
    let job = format!(
        "echo $$ >> {}; sleep 1000 & echo $! >> {}; wait",
        pids.display(),
        pids.display()
    );
    let mut child = start_and_wait_for_lines(&["-j2", &job, ":::", "a", "b"], &pids, 4);
    signal(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert_all_dead(&pids);
}

// ------------------------------------------------------------- bad input --

#[test]
fn a_command_line_over_gnu_parallels_limit_ends_the_run() {
    let long = "x".repeat(70_000);
    let r = run(&["-j1", "echo", ":::", "a", &long, "b"]);
    assert_eq!(r.code, 255);
    assert_eq!(r.stdout, "a\n", "the job before it runs, none after");
    assert!(
        r.stderr
            .contains("Command line too long (70005 >= 63664) at input 0: xxx"),
        "{}",
        r.stderr
    );
    // A job already running when the long line comes finishes, and is
    // logged, even if it writes output after that.
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&[
        "-j2",
        "--joblog",
        &log,
        "echo start {}; sleep 0.3; echo end {}",
        ":::",
        "a",
        &long,
    ]);
    assert_eq!(r.code, 255);
    assert_eq!(r.lines(), ["start a", "end a"], "{}", r.stderr);
    assert_eq!(joblog_rows(Path::new(&log)).len(), 1);
}

#[test]
fn bad_input_gets_a_one_line_error_and_255_before_anything_runs() {
    let d = Dir::new();
    let marker = d.s("ran");
    let job = format!("touch {marker}; echo {{}}");
    let missing = d.s("missing");
    for (args, needle) in [
        (vec!["--nosuchopt", &job, ":::", "a"], "Unknown option: nosuchopt"),
        (vec!["--halt", "bogus", &job, ":::", "a"], "--halt"),
        (vec!["--halt", "now,fail", &job, ":::", "a"], "--halt"),
        (vec![&job, "::::", &missing], "Cannot open input file"),
        (vec![&job, "{1", ":::", "a"], "unmatched '{'"),
        (vec!["-j", "abc", &job, ":::", "a"], "--jobs"),
        (vec!["--timeout", "soon", &job, ":::", "a"], "--timeout"),
        (vec!["--termseq", "TERM,x", &job, ":::", "a"], "termination sequence"),
        (vec!["--delay", "later", &job, ":::", "a"], "--delay"),
        (vec!["--colsep", "(", &job, ":::", "a"], "--colsep"),
        (vec!["--resume", &job, ":::", "a"], "--joblog"),
        (vec!["echo {= $_", ":::", "a"], "unmatched '{='"),
        (vec!["-j", "-1000", &job, ":::", "a"], "Cannot run any jobs"),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 255, "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(
            // Getopt::Long's words stand alone, as GNU parallel prints them.
            (r.stderr.starts_with("forkpool: ") || r.stderr.starts_with("Unknown option: "))
                && r.stderr.contains(needle),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!Path::new(&marker).exists(), "{args:?} ran a job");
    }
    // A shell that is not there, as GNU parallel words it.
    let out = command(&[&job, ":::", "a"])
        .env("PARALLEL_SHELL", "/no/such/shell")
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (Some(255), "forkpool: Error: Shell '/no/such/shell' not found.\n")
    );
    assert!(!Path::new(&marker).exists());
}

#[test]
fn messages_carry_the_name_the_program_was_invoked_by() {
    // Installed or linked as `parallel`, it says `parallel:`, as GNU
    // parallel names itself after argv[0]; scripts match on that text.
    let dir = Dir::new();
    let link = dir.path("parallel");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forkpool"), &link).unwrap();
    let out = Command::new(&link)
        .args(["--timeout", "soon", "true", ":::", "a"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        stderr.starts_with("parallel: ") && stderr.contains("--timeout"),
        "{stderr}"
    );
}

#[test]
fn a_million_inputs_from_stdin_stream_through_in_flat_memory() {
    // --dry-run walks every input and job without starting processes.
    let mut child = command(&["--dry-run", "-k", "echo", "{}"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut block = String::new();
        for i in 0..1_000_000u32 {
            block.push_str(&i.to_string());
            block.push('\n');
            if block.len() > 1 << 16 {
                input.write_all(block.as_bytes()).unwrap();
                block.clear();
            }
        }
        input.write_all(block.as_bytes()).unwrap();
    });
    let mut peak = 0;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = 0u32;
    let mut last = String::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        lines += 1;
        if lines.is_multiple_of(50_000) {
            peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        }
        std::mem::swap(&mut last, &mut line);
        line.clear();
    }
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!((lines, last.as_str()), (1_000_000, "echo 999999\n"));
    assert!(peak < 64 * 1024, "memory grew to {} MiB", peak / 1024);
}

// The rooms of the command added since, one module each (tests/cli/*.rs).
#[path = "cli/control.rs"]
mod control;
#[path = "cli/files.rs"]
mod files;
#[path = "cli/gnu.rs"]
mod gnu;
#[path = "cli/gnu_options.rs"]
mod gnu_options;
#[path = "cli/limits.rs"]
mod limits;
#[path = "cli/misc.rs"]
mod misc;
#[path = "cli/scripts.rs"]
mod scripts;
#[path = "cli/shell.rs"]
mod shell;
#[path = "cli/sources.rs"]
mod sources;
#[path = "cli/tables.rs"]
mod tables;
#[path = "cli/verbose.rs"]
mod verbose;
#[path = "cli/xargs.rs"]
mod xargs;
// Replacement strings, perl expressions and the options around them.
#[path = "cli/parens.rs"]
mod parens;
#[path = "cli/replace.rs"]
mod replace;

// --pipe and --pipepart, and beside GNU parallel.
#[path = "cli/pipe.rs"]
mod pipe;
#[path = "cli/pipe_gnu.rs"]
mod pipe_gnu;
#[path = "cli/pipe_keys.rs"]
mod pipe_keys;
// Invocation ($PARALLEL, option files, -J, the options that answer and
// exit), sem, and GNU parallel's companion programs on top of forkpool.
#[path = "cli/companions.rs"]
mod companions;
#[path = "cli/guardian.rs"]
mod guardian;
#[path = "cli/invocation.rs"]
mod invocation;
#[path = "cli/sem.rs"]
mod sem;
#[path = "cli/startup.rs"]
mod startup;
// -k: sequence order, whatever starts or ends first, and whatever never runs.
#[path = "cli/order.rs"]
mod order;
