//! `--pipe` and `--pipepart` beside the installed GNU parallel (CI
//! installs it): the same cases through both, the same output, exit status
//! and joblog.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::pipe::{SHOW, seq};
use super::{Dir, joblog_rows, wait_for};

/// Runs `program ARGS` (GNU's `parallel` or ours, called `parallel`) with
/// `stdin`, in `dir`, which is also its `TMPDIR` (GNU's `--tee` may leave
/// its fifos behind); returns stdout and the exit status.
fn both(args: &[&str], stdin: &[u8], dir: &Path) -> [(String, i32); 2] {
    let run = |mut cmd: Command| -> (String, i32) {
        let mut child = cmd
            .args(args)
            .current_dir(dir)
            .env("TMPDIR", dir)
            .env("PARALLEL_SHELL", "/bin/bash")
            .env("SHELL", "/bin/bash")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("GNU parallel must be installed (.ci/run installs it)");
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    };
    let gnu = run(Command::new("parallel"));
    let mut ours = Command::new(env!("CARGO_BIN_EXE_forkpool"));
    std::os::unix::process::CommandExt::arg0(&mut ours, "parallel");
    [gnu, run(ours)]
}

#[test]
fn the_same_blocks_and_statuses_as_gnu_parallel() {
    let d = Dir::new();
    let s1000 = seq(1000);
    d.file("s1000", &s1000);
    d.file("hdr", "h1\nh2\n1\n2\n3\n4\n5\n");
    let fasta = ">a\nAAA\n>b\nBB\n>c\nC\n";
    let junk = "junk\n>a\n1\n>b\n2\n";
    let ten = seq(10);
    // One record longer than the block, and nothing after it: the window
    // grows to hold it, and no job runs after it (the relay must not ask
    // for the next block's job before it knows there is one).
    let long_last = format!("{}\n", "x".repeat(5000));
    let s20k = seq(20_000);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (&long_last, vec!["--pipe", "--block", "1k", "wc -c"]),
        (&long_last, vec!["--pipe", "--block", "1k", "-j1", "wc -c"]),
        // The relay asks for a block's job while the block before is
        // still being relayed: a run halted by the first job must not run
        // the next.
        (
            &s20k,
            vec![
                "--pipe",
                "--block",
                "10k",
                "-j1",
                "--halt",
                "now,fail=1",
                "wc -l; false",
            ],
        ),
        (&ten, vec!["--pipe", "-N3", "--block", "4", SHOW]),
        (&ten, vec!["--pipe", "-L2", "--block", "12", SHOW]),
        (&ten, vec!["--pipe", "-L2", "-N2", SHOW]),
        (&s1000, vec!["--pipe", "--block", "100", SHOW]),
        (&s1000, vec!["--pipe", "--block", "1k", "--recend", "0\\n", SHOW]),
        (
            &s1000,
            vec!["--pipe", "--block", "100", "--recend", "0", "--recstart", "1", SHOW],
        ),
        (&s1000, vec!["--pipe", "--block", "30", "--recstart", "9", SHOW]),
        (&s1000, vec!["--pipe", "--block", "100", "--header", ":", SHOW]),
        (
            "h1\nh2\n1\n2\n3\n4\n5\n",
            vec!["--pipe", "--header", "2", "--block", "3", SHOW],
        ),
        (
            "h1\nh2\n1\n2\n3\n4\n5\n",
            vec!["--pipe", "--header", "h[12]\\nh2\\n", "-N2", SHOW],
        ),
        (fasta, vec!["--pipe", "--recstart", ">", "-N1", "--rrs", SHOW]),
        ("a;b;c;d;e", vec!["--pipe", "--recend", ";", "--rrs", "-N2", SHOW]),
        (
            "a1b22c333d",
            vec!["--pipe", "--regexp", "--recend", "[0-9]+", "--block", "4", SHOW],
        ),
        (junk, vec!["--pipe", "--recstart", ">", "-N1", SHOW]),
        (junk, vec!["--pipe", "--regexp", "--recstart", ">", "-N1", SHOW]),
        (
            &ten,
            vec!["--pipe", "--block", "4", "echo {} {#}; cat", ":::", "a", "b"],
        ),
        (&ten, vec!["--pipe", "--dry-run", "-N3", "echo {} {1} x"]),
        // A job reads its block, not its arguments: nothing is appended
        // (but the file, with --cat/--fifo), and -N groups the arguments
        // too.
        (&ten, vec!["--pipe", "-N3", "--dry-run", "echo", ":::", "a", "b"]),
        (&ten, vec!["--pipe", "-N3", "--tag", "cat", ":::", "a", "b", "c", "d"]),
        (
            &ten,
            vec!["--pipe", "-N3", "echo {2} {1}; cat", ":::", "a", "b", "c", "d"],
        ),
        (
            &ten,
            vec!["--pipe", "--tee", "-N2", "echo {}; wc -l", ":::", "a", "b", "c", "d"],
        ),
        (&ten, vec!["--pipe", "--tee", "echo", ":::", "a", "b"]),
        (&ten, vec!["--pipe", "-N4", "--fifo", "wc -c <"]),
        (&ten, vec!["--pipe", "-N4", "--cat", "wc -c <"]),
        (
            &s1000,
            vec!["--pipe", "-N100", "cat >/dev/null; exit $(( $PARALLEL_SEQ % 3 ))"],
        ),
        (&ten, vec!["--pipe", "-N5", "kill -9 $$"]),
        // What parsort reads and runs: each part as the line that reads it.
        (
            "",
            vec![
                "--pipepart",
                "--block",
                "-1",
                "--dryrun",
                "-vv",
                "sort",
                "-n",
                "::::",
                "s1000",
            ],
        ),
        (
            "",
            vec![
                "--pipepart",
                "--header",
                ":",
                "--block",
                "6",
                "--dryrun",
                "-vv",
                "wc",
                "::::",
                "hdr",
            ],
        ),
        // parsort's stdin: every slot's job starts, the unfed ones are silent.
        (&ten, vec!["--pipe", "--roundrobin", "-j3", "echo {#}; wc -l"]),
        (
            &s1000,
            vec!["--pipe", "--block", "100", "--round-robin", "-j3", "wc -l"],
        ),
        (&ten, vec!["--pipe", "--round-robin", "-N1", "-j3", "echo {#}; cat"]),
        (&ten, vec!["--pipe", "--tee", "echo {}; wc -l", ":::", "a", "b", "c"]),
        (&ten, vec!["--pipe", "-N3", "--fifo", "cat {}"]),
        (&ten, vec!["--pipe", "-N3", "--cat", "wc -l < {}"]),
        ("", vec!["--pipepart", "-a", "s1000", "--block", "500", SHOW]),
        ("", vec!["--pipepart", "-a", "s1000", "-j3", "wc -l"]),
        ("", vec!["--pipepart", "-a", "s1000", "--block", "-2", "wc -l"]),
        ("", vec!["--pipepart", "-a", "s1000", "--block", "-2.5", "-j2", "wc -l"]),
        // --round-robin makes it one part per slot, whatever --block says.
        (
            "",
            vec![
                "--pipepart",
                "-a",
                "s1000",
                "--round-robin",
                "--block",
                "100",
                "-j2",
                "wc -l",
            ],
        ),
        (
            "",
            vec!["--pipepart", "-a", "s1000", "-a", "hdr", "--block", "100", "wc -l"],
        ),
        (
            "",
            vec!["--pipepart", "-a", "hdr", "--header", "2", "--block", "3", SHOW],
        ),
        (
            "",
            vec![
                "--pipepart",
                "-a",
                "s1000",
                "--block",
                "300",
                "--regexp",
                "--recend",
                "[05]\\n",
                SHOW,
            ],
        ),
        (
            "",
            vec!["--pipepart", "-a", "s1000", "--block", "300", "--recstart", "7", SHOW],
        ),
        (
            "",
            vec!["--pipepart", "--tee", "-a", "s1000", "echo {}; wc -l", ":::", "a", "b"],
        ),
        (
            "",
            vec!["--pipepart", "-a", "s1000", "--block", "1k", "--fifo", "wc -l < {}"],
        ),
        (&ten, vec!["--pipe", "--bar", "cat"]),
        (&ten, vec!["--pipe", "--fifo", "--cat", "cat"]),
    ];
    let mut differences = Vec::new();
    for (stdin, args) in &cases {
        let mut all = vec!["-k"];
        all.extend_from_slice(args);
        let [gnu, ours] = both(&all, stdin.as_bytes(), d.0.path());
        if gnu != ours {
            differences.push(format!("{args:?}\n  GNU:  {gnu:?}\n  ours: {ours:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn skip_first_line_drops_the_inputs_first_line_as_gnu_parallel() {
    // GNU reads a line (up to a newline, whatever --recend) before the
    // header and the blocks; --pipepart skips each file's; --tee, --shard
    // and --bin read the input otherwise and keep it.
    let d = Dir::new();
    d.file("six", &seq(6));
    d.file("hdr", "#!x\nh\n1\n2\n3\n");
    let six = seq(6);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (&six, vec!["--pipe", SHOW]),
        (&six, vec!["--pipe", "-N2", SHOW]),
        (&six, vec!["--pipe", "-L2", "--block", "3", SHOW]),
        (&six, vec!["--pipe", "--header", "2", "-N2", SHOW]),
        (&six, vec!["--pipe", "--header", ":", "-N2", SHOW]),
        (&six, vec!["--pipe", "--round-robin", "-j2", "wc -l"]),
        (&six, vec!["--pipe", "--recend", "3", "-N1", SHOW]),
        (&six, vec!["--pipe", "--regexp", "--recstart", "[35]", "-N1", SHOW]),
        (&six, vec!["--pipe", "--group-by", "1", SHOW]),
        (&six, vec!["--pipe", "-N3", SHOW, ":::", "a", "b"]),
        (&six, vec!["--pipe", "--tee", "--tag", "cat", ":::", "a", "b"]),
        (&six, vec!["--pipe", "--shard", "1", "-j2", "sort"]),
        ("one line, no newline", vec!["--pipe", SHOW]),
        ("", vec!["--pipepart", "-a", "six", SHOW]),
        ("", vec!["--pipepart", "-a", "six", "--header", ":", SHOW]),
        ("", vec!["--pipepart", "-a", "six", "-a", "hdr", "--header", ":", SHOW]),
    ];
    let mut differences = Vec::new();
    for (stdin, args) in &cases {
        let mut all = vec!["-k", "--skip-first-line"];
        all.extend_from_slice(args);
        let [gnu, ours] = both(&all, stdin.as_bytes(), d.0.path());
        if gnu != ours {
            differences.push(format!("{args:?}\n  GNU:  {gnu:?}\n  ours: {ours:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // Standard input a file: what is left after the line is cut by position.
    let run = |mut cmd: Command| {
        let out = cmd
            .args(["-k", "--pipe", "--skip-first-line", "--block", "4", SHOW])
            .stdin(std::fs::File::open(d.path("six")).unwrap())
            .output()
            .unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
    };
    let gnu = run(Command::new("parallel"));
    assert_eq!(run(Command::new(env!("CARGO_BIN_EXE_forkpool"))), gnu);
    assert!(gnu.0.starts_with("[2\n"), "{gnu:?}");
}

#[test]
fn the_joblog_of_a_pipe_run_matches_gnu_parallels_but_for_times() {
    let d = Dir::new();
    let input = seq(100);
    let file = d.file("in", &input);
    let job = "cat >/dev/null; exit {#}";
    let cases: [(&[&str], i32); 3] = [
        // Send is the block's size...
        (&["-j1", "--pipe", "-N30", job], 4),
        // ... but nothing for parts read by the job and for --tee (whose
        // jobs all run at once).
        (&["-j1", "--pipepart", "-a", &file, "--block", "100", job], 3),
        (&["--pipe", "--tee", job, ":::", "a", "b"], 2),
    ];
    for (args, failed) in cases {
        let mut rows = Vec::new();
        for program in ["parallel", env!("CARGO_BIN_EXE_forkpool")] {
            let log = d.s(&format!("log-{}", rows.len()));
            let mut child = Command::new(program)
                .args(["-k", "--joblog", &log])
                .args(args)
                .env("PARALLEL_SHELL", "/bin/bash")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            assert_eq!(child.wait().unwrap().code(), Some(failed), "{program} {args:?}");
            assert!(wait_for(Duration::from_secs(5), || Path::new(&log).exists()));
            let without_times: Vec<Vec<String>> = joblog_rows(Path::new(&log))
                .into_iter()
                .map(|mut row| {
                    row[2].clear();
                    row[3].clear();
                    row
                })
                .collect();
            rows.push(without_times);
        }
        assert_eq!(rows[1], rows[0], "{args:?}: ours, then GNU's");
    }
}

#[test]
fn files_names_each_blocks_output_file_as_gnu_parallel() {
    let d = Dir::new();
    d.file("s1000", &seq(1000));
    let tmp = d.s("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let ten = seq(10);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (&ten, vec!["--pipe", "-N3", "cat"]),
        (&ten, vec!["--pipe", "-N4", "--cat", "wc -l < {}"]),
        (&ten, vec!["--pipe", "--tee", "echo {}; wc -l", ":::", "a", "b"]),
        ("", vec!["--pipepart", "-a", "s1000", "--block", "1k", "wc -l"]),
    ];
    for (stdin, args) in &cases {
        let mut all = vec!["-k", "--files", "--tmpdir", &tmp];
        all.extend_from_slice(args);
        let [gnu, ours] = both(&all, stdin.as_bytes(), d.0.path()).map(|(stdout, code)| {
            // Each line names a file in --tmpdir, as GNU names them; what
            // counts is what the files hold, in order.
            let held: Vec<String> = stdout
                .lines()
                .map(|name| {
                    let path = Path::new(name);
                    assert_eq!(path.parent(), Some(Path::new(&tmp)), "{args:?}: {name}");
                    assert!(name.ends_with(".par"), "{args:?}: {name}");
                    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{args:?}: {name}: {e}"))
                })
                .collect();
            (held, code)
        });
        assert!(!gnu.0.is_empty(), "{args:?}: GNU printed no file names");
        assert_eq!(ours, gnu, "{args:?}: ours, then GNU's");
    }
}

#[test]
fn pipe_values_without_a_command_are_the_commands_as_in_gnu_parallel() {
    use super::gnu::{gnu_with, same_as_gnu, same_as_gnu_with_messages};
    use super::run_with;
    // "If command is not given GNU parallel will behave similar to cat | sh":
    // each `:::` value is the command a block (or, with --tee, all of it)
    // is piped into.
    let twenty = seq(20);
    let r = same_as_gnu(&["--pipe", "--tee", "-k", ":::", "wc -l", "tail -2"], twenty.as_bytes());
    assert_eq!((r.stdout.as_str(), r.code), ("20\n19\n20\n", 0));
    // Values from an -a file too (with --pipe; --pipepart reads its -a).
    let dir = tempfile::tempdir().unwrap();
    let commands = dir.path().join("commands");
    std::fs::write(&commands, "wc -l\ntail -2\n").unwrap();
    let commands = commands.to_str().unwrap();
    let r = same_as_gnu(&["--pipe", "--tee", "-k", "-a", commands], twenty.as_bytes());
    assert_eq!((r.stdout.as_str(), r.code), ("20\n19\n20\n", 0));
    for extra in [&[][..], &["-k"], &["-j1"]] {
        let mut args = extra.to_vec();
        args.extend(["--pipe", ":::", "cat", "wc -l"]);
        // One block: only the first value runs.
        let r = same_as_gnu(&args, b"1\n2\n3\n");
        assert_eq!(r.stdout, "1\n2\n3\n", "{args:?}");
    }
    // A block with no value left (or an empty one) to go into stops the
    // run: the message, and 255 (what GNU printed before it stopped
    // depends on its timing).
    let s = seq(100_000);
    let args = ["--pipe", "--block", "100k", "-k", ":::", "wc -l", "cat"];
    let ours = run_with(&args, s.as_bytes());
    let gnu = gnu_with(&args, s.as_bytes());
    let message = "Error: --pipe/--pipepart must have a command to pipe into (e.g. 'cat').\n";
    assert_eq!((ours.code, gnu.code), (255, 255), "{}", ours.stderr);
    assert!(
        ours.stderr.ends_with(message) && gnu.stderr.ends_with(message),
        "{ours:?} {gnu:?}"
    );
    // The first block went into the first value.
    assert!(
        ours.stdout.starts_with("18517\n"),
        "{}",
        ours.stdout.lines().next().unwrap_or("")
    );
    same_as_gnu_with_messages(&["--pipe", "{}", ":::", "", "cat"], b"1\n2\n3\n");
    // No command and no values: still refused.
    same_as_gnu_with_messages(&["--pipe"], b"1\n");
    let d = Dir::new();
    let file = d.file("in", "1\n2\n3\n");
    same_as_gnu_with_messages(&["--pipepart", "-a", &file, ":::", "cat", "wc -l"], b"");
    same_as_gnu(&["--pipepart", "-a", &file, "--tee", "-k", ":::", "cat", "wc -l"], b"");
}

#[test]
fn a_failing_cat_job_fails_unlike_in_gnu_parallel() {
    use super::gnu::gnu_with;
    use super::run_with;
    // `--cat`: GNU parallel 20221122's wrapper (which removes the file)
    // loses the job's status: exit 0, Exitval 0. forkpool reports it, as
    // the man page's EXIT STATUS says.
    let d = Dir::new();
    let thirty = seq(30);
    let exitvals = |log: &str| -> Vec<String> {
        joblog_rows(Path::new(log))
            .into_iter()
            .map(|row| row[6].clone())
            .collect()
    };
    let ours_log = d.s("ours.log");
    let args = ["--pipe", "-N10", "--cat", "--joblog", &ours_log, "echo n; false"];
    let r = run_with(&args, thirty.as_bytes());
    assert_eq!((r.stdout.as_str(), r.code), ("n\nn\nn\n", 3), "{}", r.stderr);
    assert_eq!(exitvals(&ours_log), ["1", "1", "1"]);
    let gnu_log = d.s("gnu.log");
    let args = ["--pipe", "-N10", "--cat", "--joblog", &gnu_log, "echo n; false"];
    let r = gnu_with(&args, thirty.as_bytes());
    assert_eq!((r.stdout.as_str(), r.code), ("n\nn\nn\n", 0), "{}", r.stderr);
    assert_eq!(exitvals(&gnu_log), ["0", "0", "0"]);
    // `--cat --retries`: GNU's run prints and then never ends; ours ends.
    let r = run_with(
        &["--pipe", "-N3", "--cat", "--retries", "2", "-k", "wc -l < {}"],
        seq(10).as_bytes(),
    );
    assert_eq!((r.stdout.as_str(), r.code), ("3\n3\n3\n1\n", 0), "{}", r.stderr);
}

#[test]
fn tee_groups_its_commands_with_n_as_with_n_upper() {
    // --tee's `:::` values are its jobs' commands (or their arguments),
    // every job reading all the input: -n groups them into command lines
    // as -N does, as in GNU parallel.
    let three = seq(3);
    for args in [
        &["-n2", ":::", "echo", "a", "echo", "b"][..],
        &["-N2", ":::", "echo", "a", "echo", "b"],
        &["-n2", ":::", "wc", "-l", "head", "-1"],
        &["-n1", ":::", "wc -l", "cat"],
        &["-n2", "echo", ":::", "x", "y"],
        &["-n2", "echo", "x{}y", ":::", "a", "b"],
        &["-N2", "echo", "x{}y", ":::", "a", "b"],
        &["-n2", "--tag", ":::", "echo", "a", "echo", "b"],
        &["-n0", ":::", "wc", "cat"],
    ] {
        // GNU leaves its fifos behind with -n0: in a directory of the
        // test's own.
        let tmp = Dir::new();
        let tmp = tmp.s("");
        let mut all = vec!["--tmpdir", &tmp, "--pipe", "--tee", "-k"];
        all.extend_from_slice(args);
        super::gnu::same_as_gnu_with_messages(&all, three.as_bytes());
    }
}

#[test]
fn n_counts_records_per_block_as_n_upper_does() {
    // Without --tee, -n is records per block too, as in GNU parallel; -N
    // wins over it in either order, and -L multiplies it.
    let five = seq(5);
    for args in [
        &["-n2", "wc", "-l"][..],
        &["-n", "2", "--block", "1", "wc", "-l"],
        &["-n2", "-N3", "wc", "-l"],
        &["-N3", "-n2", "wc", "-l"],
        &["-n2", "-L2", "wc", "-l"],
        &["-n0", "wc", "-l"],
        &["-n2", "--recend", "3", "--regexp", "wc", "-l"],
        // ... and, as -N, the `:::` values per job: arguments, or the
        // commands themselves. (A job that does not read its block may
        // fail in GNU, as its write meets a closed pipe, or not.)
        &["-n2", "cat >/dev/null; echo {}", ":::", "a", "b", "c", "d"],
        &["-n3", "--block", "1k", ":::", "wc -l", "wc -c", "wc -w", "cat"],
    ] {
        let mut all = vec!["--pipe", "-k"];
        all.extend_from_slice(args);
        super::gnu::same_as_gnu_with_messages(&all, five.as_bytes());
    }
}

#[test]
fn tee_runs_a_last_group_short_of_its_count_unlike_gnu_parallel() {
    // GNU parallel 20221122 counts one --tee job too few when the values
    // do not fill the last group: it runs no job for them, silently, and
    // exits 0 (`-N3 ::: wc cat` runs nothing). forkpool runs that group
    // as a command line of the values there are, as -N does without --tee.
    let three = seq(3);
    for count in ["-N3", "-n3"] {
        let args = ["--pipe", "--tee", "-k", count, ":::", "echo", "a", "b", "echo", "c"];
        let ours = super::run_with(&args, three.as_bytes());
        assert_eq!((ours.stdout.as_str(), ours.code), ("a b\nc\n", 0), "{args:?}");
        let theirs = super::gnu::gnu_with(&args, three.as_bytes());
        assert_eq!((theirs.stdout.as_str(), theirs.code), ("a b\n", 0), "{args:?}");
    }
}

/// `forkpool ARGS` with `stdin`, killed if not over in a minute (exit
/// status 124): a run that waits for itself fails instead of hanging.
fn run_within_a_minute(args: &[&str], stdin: Stdio, data: &[u8]) -> super::Run {
    let child = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_forkpool"))
        .args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if data.is_empty() {
        super::finish(child)
    } else {
        super::feed(child, data)
    }
}

#[test]
fn a_block_with_no_command_left_lets_the_started_jobs_finish_and_print() {
    // `--pipe ::: cmd...` with more blocks than commands: GNU parallel
    // 20221122 stops with an error and 255, and prints the output of the
    // jobs that ended by then (by its timing: often none). forkpool starts
    // no more jobs, lets those started finish, prints all of their output,
    // then the error: 255.
    let message = "Error: --pipe/--pipepart must have a command to pipe into (e.g. 'cat').\n";
    let twenty = seq(20);
    // (Blocks of 3 and 2 records; `-n` would also group GNU's values.)
    let wc_cat = ["--pipe", "--block", "6", ":::", "wc", "cat"];
    let heads = ["--pipe", "--block", "4", ":::", "head -1", "head -1", "head -1"];
    let verbose = ["-v", "--pipe", "--block", "4", ":::", "wc"];
    let cases: [(&[&str], &str); 3] = [
        (&wc_cat, "      3       3       6\n4\n5\n6\n"),
        (&heads, "1\n3\n5\n"),
        (&verbose, "wc\n      2       2       4\n"),
    ];
    for (case, want) in cases {
        for extra in [&[][..], &["-k"], &["-j1"], &["-j2"], &["-j2", "-k"]] {
            let mut args = extra.to_vec();
            args.extend_from_slice(case);
            let theirs = super::gnu::gnu_with(&args, twenty.as_bytes());
            assert_eq!(theirs.code, 255, "{args:?}: {}", theirs.stderr);
            assert!(theirs.stderr.ends_with(message), "{args:?}: {}", theirs.stderr);
            let ours = run_within_a_minute(&args, Stdio::piped(), twenty.as_bytes());
            assert_eq!(ours.code, 255, "{args:?}: {}", ours.stderr);
            // The error is the run's last word, after all of the output.
            assert_eq!(ours.stderr, format!("forkpool: {message}"), "{args:?}");
            if args.contains(&"-k") {
                assert_eq!(ours.stdout, want, "{args:?}");
            } else {
                let mut want: Vec<&str> = want.lines().collect();
                want.sort_unstable();
                assert_eq!(ours.sorted(), want, "{args:?}");
            }
        }
    }
    // Big blocks: relayed from a pipe, cut by position from a file, dealt
    // round robin (where the jobs without a command hold the dealer's
    // seats). Each command's job gets its whole block.
    let d = Dir::new();
    let big = seq(300_000);
    let file = d.file("in", &big);
    let plain = ["-k", "--pipe", "--block", "100k", ":::", "wc -l", "cat"];
    let robin = [
        "-k",
        "-j4",
        "--round-robin",
        "--pipe",
        "--block",
        "100k",
        ":::",
        "wc -l",
        "cat",
    ];
    for args in [&plain[..], &robin] {
        for from_file in [false, true] {
            let ours = if from_file {
                let stdin = std::fs::File::open(&file).unwrap();
                run_within_a_minute(args, stdin.into(), b"")
            } else {
                run_within_a_minute(args, Stdio::piped(), big.as_bytes())
            };
            assert_eq!(ours.code, 255, "{args:?} {from_file}: {}", ours.stderr);
            assert_eq!(ours.stderr, format!("forkpool: {message}"), "{args:?} {from_file}");
            let lines = ours.lines();
            let counted: usize = lines[0].parse().unwrap();
            // `cat`'s block follows `wc -l`'s, whole.
            let catted: Vec<usize> = lines[1..].iter().map(|l| l.parse().unwrap()).collect();
            let want: Vec<usize> = (counted + 1..counted + 1 + catted.len()).collect();
            assert!(catted.len() > 1000, "{args:?} {from_file}: {} lines", catted.len());
            assert_eq!(catted, want, "{args:?} {from_file}");
        }
    }
}

#[test]
fn pipepart_and_tee_with_command_values_are_as_in_gnu_at_any_jobs() {
    // Unlike --pipe's blocks, neither runs out of commands part-way:
    // --pipepart reads -a as its data and refuses the values before any
    // job; --tee runs every value's job on all of the input.
    let d = Dir::new();
    let twenty = seq(20);
    let file = d.file("in", &twenty);
    for extra in [&[][..], &["-k"], &["-j1"], &["-j2"], &["-j2", "-k"]] {
        let mut part = extra.to_vec();
        part.extend(["--pipepart", "-a", &file, "--block", "6", ":::", "wc", "cat"]);
        super::gnu::same_as_gnu_with_messages(&part, b"");
        if extra == ["-j1"] {
            // (Too few slots for --tee: GNU refuses it, but leaves its
            // `tee` behind, blocked, holding the output pipe open: a
            // reader of its output waits for good.)
            continue;
        }
        let mut tee = extra.to_vec();
        tee.extend(["--pipe", "--tee", "--block", "6", ":::", "wc", "cat"]);
        let ours = run_within_a_minute(&tee, Stdio::piped(), twenty.as_bytes());
        let theirs = super::gnu::gnu_with(&tee, twenty.as_bytes());
        assert_eq!(
            (ours.sorted(), ours.stderr.replace("forkpool:", "parallel:"), ours.code),
            (theirs.sorted(), theirs.stderr.clone(), theirs.code),
            "{tee:?}"
        );
    }
}

#[test]
fn pipe_counts_are_the_numbers_gnu_parallel_makes_of_them() {
    // With --pipe, -n/-N (records per block) and -L (lines per record)
    // are what GNU makes of them too: a value that is no number is 0
    // there, no count; a fraction is the records its `1..n` counts; -L
    // `%` takes the whole part, whatever its sign.
    let seven = super::pipe::seq(7);
    for value in ["x", "", "1.5", "2.7", "1_0", "2k", "010", "-0"] {
        for option in ["-n", "-N", "-L", "-l"] {
            for more in [&[][..], &["-N", "2"]] {
                let args = [&["--pipe", "-k", option, value][..], more, &["wc", "-l"]].concat();
                super::gnu::same_as_gnu_with_messages(&args, seven.as_bytes());
            }
        }
    }
    for args in [
        &["-L", "-2", "wc", "-l"][..],
        &["-l", "-3", "wc", "-l"],
        &["-n", "x", "-L", "2", "wc", "-l"],
        // The records a block holds: -N times -L, whole.
        &["-N", "0.5", "-L", "4", "wc", "-l"],
        &["-N", "-1", "-L", "-2", "wc", "-l"],
    ] {
        let args = [&["--pipe", "-k"][..], args].concat();
        super::gnu::same_as_gnu_with_messages(&args, seven.as_bytes());
    }
    // A count below 1 (`0.5`, `-1`): GNU parallel 20221122 hands each job
    // one byte, cutting records apart; forkpool refuses it (README).
    for value in ["-1", "0.5", "-2"] {
        for option in ["-n", "-N"] {
            let r = super::run_with(&["--pipe", option, value, "wc", "-l"], seven.as_bytes());
            assert_eq!((r.stdout.as_str(), r.code), ("", 255), "{option} {value}");
            assert_eq!(
                r.stderr,
                format!("forkpool: Error: {option} must be 0 or at least 1 with --pipe, not \"{value}\"\n")
            );
        }
    }
    let r = super::run_with(&["--pipe", "-N", "2", "-L", "0.25", "wc", "-l"], seven.as_bytes());
    assert_eq!(
        (r.stderr.as_str(), r.code),
        (
            "forkpool: Error: -N times -L must be 0 or at least 1 with --pipe, not \"2\" times \"0.25\"\n",
            255
        )
    );
    // -L 0.5: GNU dies of a Perl error ("Illegal modulus zero"); forkpool
    // reads it as no count of lines (README).
    let r = super::run_with(&["--pipe", "-k", "-L", "0.5", "wc", "-l"], seven.as_bytes());
    assert_eq!((r.stdout.as_str(), r.code), ("7\n", 0));
}
