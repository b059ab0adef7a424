//! `--pipe`'s ways of handing blocks to jobs: `--round-robin` (each slot
//! started once, dealt every block), `--cat` and `--fifo` (a block in a
//! file, in the tmpdir), `--tee` (all of the input to every job), and
//! `-k` and the output modes with `--pipe`.

use std::path::Path;

use super::pipe::{SHOW, seq};
use super::{Dir, joblog_rows, run_with};

#[test]
fn round_robin_starts_each_slot_once_and_deals_all_blocks() {
    let d = Dir::new();
    let log = d.s("log");
    let input = seq(100_000);
    let r = run_with(
        &[
            "-j3",
            "--pipe",
            "--round-robin",
            "--block",
            "10k",
            "--joblog",
            &log,
            "echo {#} $(wc -l)",
        ],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut seqs: Vec<u64> = Vec::new();
    let mut total = 0;
    for line in r.lines() {
        let (seq, lines) = line.split_once(' ').unwrap();
        seqs.push(seq.parse().unwrap());
        total += lines.parse::<usize>().unwrap();
    }
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3], "one job per slot");
    assert_eq!(total, 100_000, "every line dealt once");
    let rows = joblog_rows(Path::new(&log));
    let sent: u64 = rows.iter().map(|r| r[4].parse::<u64>().unwrap()).sum();
    assert_eq!(sent, input.len() as u64, "the joblog's Send column");
    // Fewer blocks than slots: fewer jobs; the header once per job.
    let r = run_with(
        &["-j4", "-k", "--pipe", "--roundrobin", "--header", ":", "-N1", SHOW],
        b"h\n1\n",
    );
    assert_eq!(r.stdout, "[h\n1]\n");
    // Small blocks go round the jobs in turn, as in GNU parallel.
    let r = run_with(
        &["-j3", "-k", "--pipe", "--round-robin", "-N1", "echo {#}; cat"],
        seq(10).as_bytes(),
    );
    assert_eq!(r.stdout, "1\n1\n4\n7\n10\n2\n2\n5\n8\n3\n3\n6\n9\n");
}

#[test]
fn round_robin_starts_every_slot_even_when_the_input_ends_first() {
    // As GNU parallel 20221122: `seq 3 | parallel -j3 --pipe --roundrobin
    // CMD` starts three jobs (so that `parsort`'s named pipes all get a
    // writer), but the two the input did not reach are left out of the
    // output and the joblog; their exit statuses count (3 failed: 3).
    let d = Dir::new();
    let log = d.s("log");
    let marks = d.s("");
    let r = run_with(
        &[
            "-j3",
            "--pipe",
            "--roundrobin",
            "--joblog",
            &log,
            &format!("touch {marks}/ran{{#}}; echo {{#}}; wc -l; exit 3"),
        ],
        seq(3).as_bytes(),
    );
    assert_eq!((r.stdout.as_str(), r.code), ("1\n3\n", 3), "{}", r.stderr);
    for seq in 1..=3 {
        assert!(d.path(&format!("ran{seq}")).exists(), "job {seq} ran");
    }
    assert_eq!(
        joblog_rows(Path::new(&log)).len(),
        1,
        "only the job with input is logged"
    );
    let r = run_with(
        &["-j3", "--pipe", "--roundrobin", "read x && echo $x || exit 9"],
        b"only\n",
    );
    assert_eq!((r.stdout.as_str(), r.code), ("only\n", 2), "{}", r.stderr);
}

#[test]
fn round_robin_keep_order_deals_the_blocks_as_gnu_parallel_does_every_run() {
    // `man parallel` (--keep-order): with --round-robin, -k means "the
    // jobslots will get the same blocks as input in the same order in
    // every run". GNU's writes then block, so block k goes to job k, k + n,
    // ... in turn, however long each job waits before reading. The input
    // is more than the jobs' pipes hold, and each job sleeps first, so
    // dealing to whichever job is free would change the split per run.
    let d = Dir::new();
    let input = seq(1_000_000);
    let file = d.file("in", &input);
    // The job's number, slot, and its lines: how many, and a hash of
    // their order.
    let job = "sleep 0.0$RANDOM; echo {#} {%}; awk '{n++; h = (h * 31 + $1) % 1000003} END {print n, h}'";
    let cases: [&[&str]; 10] = [
        &["-j1"],
        &["-j2"],
        &["-j3"],
        &["-j4"],
        &["-j2", "--block", "300k"],
        &["-j4", "--block", "300k"],
        &["-j3", "-N", "90000"],
        &["-j2", "-L", "70000"],
        &["-j3", "-L", "2", "-N", "30000"],
        &["-j3", "--header", ":", "--block", "700k"],
    ];
    for case in cases {
        let args = [&["--pipe", "-k", "--round-robin"][..], case, &[job]].concat();
        let theirs = super::gnu::gnu_with(&args, input.as_bytes());
        assert_eq!(theirs.code, 0, "{args:?}: {}", theirs.stderr);
        for _ in 0..3 {
            let ours = run_with(&args, input.as_bytes());
            assert_eq!(
                (&ours.stdout, ours.code),
                (&theirs.stdout, 0),
                "{case:?}: {}",
                ours.stderr
            );
        }
    }
    // --pipepart --round-robin: one part per slot, a job each, in order.
    for jobs in ["-j1", "-j2", "-j3", "-j4"] {
        let args = ["--pipepart", "-a", &file, "-k", "--round-robin", jobs, job];
        let theirs = super::gnu::gnu_with(&args, b"");
        for _ in 0..2 {
            let ours = run_with(&args, b"");
            assert_eq!((&ours.stdout, ours.code), (&theirs.stdout, theirs.code), "{jobs}");
        }
    }
}

#[test]
fn round_robin_goes_on_when_a_job_exits_early_where_gnu_parallel_dies_of_sigpipe() {
    // `head -1` exits with most of its blocks unread. GNU parallel
    // 20221122 writes to its pipe regardless and dies of SIGPIPE (exit
    // 141, what the jobs still running would print is lost), with -k or
    // without. forkpool drops that job's seat (and the block it was
    // writing), and a new job takes the slot's turns (README).
    let input = seq(2_000_000);
    let args = ["--pipe", "-k", "--round-robin", "--block", "10k", "-j3", "head -1"];
    // (Its own TMPDIR: a run killed so leaves its files behind.)
    let tmp = Dir::new();
    let mut gnu = std::process::Command::new("timeout")
        .args(["60", "parallel", "--will-cite"])
        .args(args)
        .env("TMPDIR", tmp.path(""))
        .env("PARALLEL_SHELL", "/bin/bash")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("GNU parallel is installed");
    let mut stdin = gnu.stdin.take().unwrap();
    let data = input.clone().into_bytes();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let status = gnu.wait().unwrap();
    let _ = feeder.join();
    // (`timeout` passes its command's death by a signal on.)
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    assert_eq!(signal, Some(libc::SIGPIPE), "GNU parallel dies of SIGPIPE: {status}");
    let ours = run_with(&args, input.as_bytes());
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let firsts: Vec<u64> = ours.lines().iter().map(|l| l.parse().unwrap()).collect();
    // Each job's first line, that of a block. Which blocks die with the
    // jobs that left early depends on when each left: the first job gets
    // the first block, and the others are in input order.
    assert_eq!(firsts.first(), Some(&1), "{firsts:?}");
    assert!(firsts.len() > 3, "new jobs take the slots: {firsts:?}");
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
}

#[test]
fn cat_gives_each_block_in_a_temporary_file_removed_afterwards() {
    let d = Dir::new();
    let names = d.s("names");
    let job = format!("cat {{}}; echo {{}} >> {names}; test \"$PARALLEL_TMP\" = {{}}");
    let r = run_with(&["-k", "--pipe", "-N2", "--cat", &job], seq(5).as_bytes());
    assert_eq!((r.stdout.as_str(), r.code), ("1\n2\n3\n4\n5\n", 0), "{}", r.stderr);
    let used = std::fs::read_to_string(&names).unwrap();
    assert_eq!(used.lines().count(), 3);
    for name in used.lines() {
        assert!(!Path::new(name).exists(), "{name} was left behind");
        let dir = Path::new(name).parent().unwrap();
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    // --cat alone implies --pipe.
    let r = run_with(&["-k", "--cat", "wc -l < {}"], seq(3).as_bytes());
    assert_eq!(r.lines(), ["3"]);
}

#[test]
fn cat_and_fifo_files_go_in_the_tmpdir() {
    let d = Dir::new();
    let tmp = d.s("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for mode in ["--cat", "--fifo"] {
        let r = run_with(
            &[
                "-k",
                "--pipe",
                "-N2",
                mode,
                "--tmpdir",
                &tmp,
                "echo {}; cat {} >/dev/null",
            ],
            seq(3).as_bytes(),
        );
        assert_eq!((r.lines().len(), r.code), (2, 0), "{mode}: {}", r.stderr);
        for name in r.lines() {
            assert!(name.starts_with(&format!("{tmp}/")), "{mode}: {name} is not in {tmp}");
        }
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{mode}: {left:?} was left behind");
    }
}

#[test]
fn fifo_gives_each_block_through_a_named_pipe() {
    let r = run_with(
        &["-k", "--pipe", "-N2", "--fifo", "test -p {} && cat {}"],
        seq(5).as_bytes(),
    );
    assert_eq!((r.stdout.as_str(), r.code), ("1\n2\n3\n4\n5\n", 0), "{}", r.stderr);
    // A job that never opens its fifo does not hang the run.
    let r = run_with(&["--pipe", "--block", "1k", "--fifo", "true"], seq(10_000).as_bytes());
    assert_eq!(r.code, 0);
}

#[test]
fn tee_gives_all_of_the_input_to_every_job() {
    let r = run_with(
        &["-k", "--pipe", "--tee", "echo {}; wc -l", ":::", "a", "b", "c"],
        seq(5).as_bytes(),
    );
    assert_eq!(r.stdout, "a\n5\nb\n5\nc\n5\n");
    // A job that stops reading early takes nothing from the others.
    let input = seq(200_000);
    let r = run_with(
        &["-k", "--pipe", "--tee", "{}", ":::", "head -1", "wc -l"],
        input.as_bytes(),
    );
    assert_eq!((r.stdout.as_str(), r.code), ("1\n200000\n", 0));
    // All of them must run at once.
    let d = Dir::new();
    let marker = d.s("ran");
    let job = format!("touch {marker}");
    let r = run_with(&["-j2", "--pipe", "--tee", &job, ":::", "a", "b", "c"], b"1\n");
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr.trim_end(),
        "forkpool: Error: --tee requires --jobs to be higher. Try --jobs 0."
    );
    assert!(!Path::new(&marker).exists(), "no job runs");
}

#[test]
fn keep_order_and_output_modes_with_pipe() {
    // The first block's job is the slowest; -k still prints it first.
    let r = run_with(
        &["-k", "-j4", "--pipe", "-N1", "sleep 0.$((5 - {#})); cat"],
        seq(4).as_bytes(),
    );
    assert_eq!(r.stdout, "1\n2\n3\n4\n");
    let r = run_with(&["--line-buffer", "--pipe", "-N1", "cat"], seq(3).as_bytes());
    assert_eq!(r.sorted(), ["1", "2", "3"]);
}

#[test]
fn quoted_words_with_pipe_get_no_stray_quote_as_in_gnu_parallel() {
    // `-q` quoted the `{}` a `--pipe` job's command gets no value for, then
    // took its last byte off: `wc -l '`, a bash EOF error.
    let d = Dir::new();
    let file = d.file("in", &seq(5));
    let modes: [&[&str]; 4] = [
        &["--pipe"],
        &["--pipe", "-N2"],
        &["--pipepart", "-a", &file, "--block", "3"],
        &["--tee", "--pipe"],
    ];
    // Commands that read all of their block (GNU counts a job that does
    // not as failed: a documented difference).
    let reading: [&[&str]; 5] = [
        &["wc", "-l"],
        &["sh", "-c", "cat | wc -c"],
        &["sh", "-c", "wc -l; echo \"[$0]\" \"[$1]\"", "{}", "x"],
        &["sh", "-c", "wc -l; echo \"[$0]\"", "a{}b{#}"],
        &["-I", ",,", "sh", "-c", "wc -l; echo \"[$0]\" \"[$1]\"", ",,", "{}"],
    ];
    let shown: [&[&str]; 3] = [
        &["echo", "{}", "x"],
        &["-I", ",,", "echo", ",,", "x", "{}"],
        // The example from `man parallel_examples`.
        &["-I,,", "parallel", "-j0", "touch", "pict{}.jpg"],
    ];
    let runs = reading.iter().map(|c| (*c, false));
    let dry_runs = reading.iter().chain(&shown).map(|c| (*c, true));
    for mode in modes {
        for (command, dry) in runs.clone().chain(dry_runs.clone()) {
            if mode[0] == "--tee" && dry {
                // Its lines name fifos of random names.
                continue;
            }
            let dry: &[&str] = if dry { &["--dry-run"] } else { &[] };
            let tee_args: &[&str] = if mode[0] == "--tee" { &[":::", "1", "2"] } else { &[] };
            let args: Vec<&str> = ["-q", "-k"]
                .iter()
                .chain(mode)
                .chain(dry)
                .chain(command)
                .chain(tee_args)
                .copied()
                .collect();
            let r = super::gnu::same_as_gnu(&args, seq(5).as_bytes());
            assert!(!r.stderr.contains("EOF"), "{args:?}: {}", r.stderr);
        }
    }
    // --round-robin (GNU's --dry-run shows nothing there).
    for command in reading {
        let args: Vec<&str> = ["-q", "-j2", "--pipe", "--round-robin"]
            .iter()
            .chain(command)
            .copied()
            .collect();
        let ours = run_with(&args, seq(5).as_bytes());
        let gnu = super::gnu::gnu_with(&args, seq(5).as_bytes());
        assert_eq!((ours.sorted(), ours.code), (gnu.sorted(), gnu.code), "{args:?}");
    }
    // `wc -l` with -q, as without it.
    let r = run_with(&["-q", "--pipe", "wc", "-l"], b"1\n2\n3\n");
    assert_eq!((r.stdout.as_str(), r.code), ("3\n", 0), "{}", r.stderr);
}

#[test]
fn quoted_words_with_cat_and_fifo_name_the_file() {
    // GNU parallel 20221122 quotes its `$PARALLEL_TMP` with -q, so the
    // command gets that literal string (`wc: '$PARALLEL_TMP': No such
    // file`); forkpool's `{}` is the file's name, -q or not.
    for how in ["--cat", "--fifo"] {
        for command in [&["wc", "-l"][..], &["wc", "-l", "{}"]] {
            let mut args = vec!["-q", "--pipe", how];
            args.extend_from_slice(command);
            let r = run_with(&args, b"1\n2\n3\n");
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            assert!(r.stdout.starts_with("3 /"), "{args:?}: {}", r.stdout);
        }
    }
}

#[test]
fn pipepart_jobs_without_arguments_have_gnu_parallels_no_argument() {
    // GNU's `{}` of a --pipepart job is its `\0noarg`, as with -N0: no
    // word at all (--pipe's is an empty one, `''`); a `{= =}`'s `$_` is
    // `\0noarg`, and `--results DIR` makes `DIR/1/\0noarg/`.
    let d = Dir::new();
    let file = d.file("in", &seq(5));
    let commands: [&[&str]; 4] = [
        &["echo", "{}", "x", "a{}b", "{=$_=length($_)=}", "{#}", "{//}"],
        &["--tag", "cat"],
        &["--tagstring", "<{}{#}>", "cat"],
        &["sh", "-c", "cat; echo \"[$0]\" \"[$1]\"", "{}", "x"],
    ];
    for command in commands {
        for dry in [&["--dry-run"][..], &[]] {
            for q in [&["-q"][..], &[]] {
                let args: Vec<&str> = ["-k", "--pipepart", "-a", &file, "--block", "3"]
                    .iter()
                    .chain(dry)
                    .chain(q)
                    .chain(command)
                    .copied()
                    .collect();
                super::gnu::same_as_gnu(&args, b"");
            }
        }
    }
    let results = d.s("results");
    let r = run_with(&["--pipepart", "-a", &file, "--results", &results, "cat"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    // (Every part's job writes there, as in GNU.)
    assert!(d.path("results/1/\\0noarg/stdout").is_file());
}

#[test]
fn round_robin_dry_run_shows_each_job_where_gnu_parallel_dies_of_sigpipe() {
    // A dry run's jobs are `true` in GNU parallel, which reads none of its
    // block: dealing them blocks, GNU parallel 20221122 dies of SIGPIPE
    // (killed by it, nothing printed; by timing, with -j1, the block may fit
    // in the pipe first and the command is printed). forkpool prints the
    // command of each job started, one per slot dealt a block, as a dry
    // run does without --round-robin.
    let cases: [(&[&str], usize); 7] = [
        (&["-j2"], 1),
        (&["-j2", "-N3"], 2),
        (&["-j2", "--block", "3"], 2),
        (&["-j3", "-N3", "-k"], 3),
        (&["-j2", "-N2", "-u"], 2),
        (&["-j2", "-N3", "--line-buffer"], 2),
        (&["-j1", "-N2"], 1),
    ];
    for (options, jobs) in cases {
        let args = [&["--pipe", "--round-robin", "--dry-run"][..], options, &["wc", "-l"]].concat();
        let ours = run_with(&args, seq(10).as_bytes());
        assert_eq!(
            (ours.stdout.as_str(), ours.code),
            ("wc -l\n".repeat(jobs).as_str(), 0),
            "{args:?}: {}",
            ours.stderr
        );
        let gnu = super::gnu::gnu_with(&args, seq(10).as_bytes());
        // GNU prints the commands of the jobs it started before the
        // SIGPIPE, if any (by timing): never other lines, nor more.
        let printed = gnu.stdout.lines().count();
        assert!(
            gnu.stdout.lines().all(|l| l == "wc -l")
                && printed <= jobs
                // (Killed by a signal: no exit code, -1 here.)
                && (matches!(gnu.code, -1 | 141) || (gnu.code, printed) == (0, jobs)),
            "{args:?}: GNU {gnu:?}"
        );
    }
}
