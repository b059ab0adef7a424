//! `--group-by`, `--shard`, `--bin` and `--block-timeout`: blocks and jobs
//! chosen by the lines' keys, and blocks cut by time. Where GNU parallel's
//! result is deterministic it is compared with the installed `parallel`:
//! `--shard`'s mapping of short keys too (GNU's `B::hash` with
//! `PERL_HASH_SEED` set is the same every run with Debian's perl for keys
//! of up to 24 bytes); its promise (each key in exactly one job, every line
//! delivered once, one job per slot) is checked as a property.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;

use super::gnu::same_as_gnu;
use super::{Dir, command, run_with, watch_peak_rss};

/// Lines `KEY\tPAD\tN` whose keys come in runs of uneven length (the same
/// every time: a fixed pseudo-random sequence).
fn keyed_lines(n: usize) -> String {
    let mut state = 12345u64;
    let mut next = move |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    let mut key = 0;
    let mut out = String::new();
    for i in 0..n {
        if next(5) == 0 {
            key += 1 + next(3);
        }
        let pad = "x".repeat(next(30) as usize);
        out.push_str(&format!("{key}\t{pad}\t{}\n", i % 9));
    }
    out
}

/// A command that shows each job's block: its number, then its lines.
const JOB: &str = "echo J{#}; cat";

#[test]
fn group_by_cuts_blocks_where_gnu_parallel_cuts_them() {
    let lines = keyed_lines(1500);
    let with_header = format!("key\tpad\tn\n{lines}");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (&lines, vec!["--pipe", "--group-by", "1", "--block", "1k", JOB]),
        (&lines, vec!["--pipe", "--group-by", "1", "--block", "300", JOB]),
        (&lines, vec!["--pipe", "--group-by", "1", "-N3", JOB]),
        (&lines, vec!["--pipe", "--groupby", "3", "-N2", JOB]),
        (&lines, vec!["--pipe", "--group-by", "1", "-L2", JOB]),
        // --group-by implies --pipe.
        (&lines, vec!["--group-by", "1", "--block", "2k", JOB]),
        // A column and an expression on it; an expression on the line.
        (
            &lines,
            vec!["--pipe", "--group-by", "1 $_ = int($_ / 3)", "--block", "2k", JOB],
        ),
        (
            &lines,
            vec!["--pipe", "--group-by", "$_ = substr($_, 0, 1)", "-N1", JOB],
        ),
        // A column by name: the first line is the header, given to every job.
        (&with_header, vec!["--pipe", "--group-by", "key", "--block", "1k", JOB]),
        (&with_header, vec!["--pipe", "--group-by", "key", "-N4", JOB]),
        (
            &lines,
            vec!["--pipe", "--colsep", "x+", "--group-by", "1", "--block", "700", JOB],
        ),
        // Groups longer than the block grow it, with GNU's warning.
        (
            &lines,
            vec!["--pipe", "--group-by", "1 $_ = int($_ / 50)", "--block", "100", JOB],
        ),
        (
            &lines,
            vec![
                "--pipe",
                "--group-by",
                "1",
                "--block",
                "500",
                "--round-robin",
                "-j1",
                JOB,
            ],
        ),
        // The block in a file or named pipe; the jobs a dry run shows.
        (
            &lines,
            vec![
                "--pipe",
                "--group-by",
                "1",
                "--block",
                "2k",
                "--cat",
                "echo J{#}; cat {}",
            ],
        ),
        (
            &lines,
            vec![
                "--pipe",
                "--group-by",
                "1",
                "--block",
                "2k",
                "--fifo",
                "echo J{#}; cat {}",
            ],
        ),
        (
            &lines,
            vec!["--pipe", "--group-by", "1", "--block", "2k", "--dry-run", "echo {#}"],
        ),
    ];
    for (input, args) in cases {
        let mut args = args;
        args.insert(0, "-k");
        same_as_gnu(&args, input.as_bytes());
    }
}

#[test]
fn the_last_column_can_be_named_too() {
    // GNU parallel keeps the header's newline in the last column's name,
    // so it cannot find that column; forkpool can.
    let input = "key\tn\na\t1\nb\t1\nc\t2\n";
    let run = run_with(&["-k", "--pipe", "--group-by", "n", "-N1", JOB], input.as_bytes());
    assert_eq!(
        (run.stdout.as_str(), run.code),
        ("J1\nkey\tn\na\t1\nb\t1\nJ2\nkey\tn\nc\t2\n", 0),
        "{}",
        run.stderr
    );
    let run = run_with(
        &["-k", "--pipe", "--colsep", "\t", "--bin", "n", "-j2", JOB],
        input.as_bytes(),
    );
    assert_eq!(
        (run.stdout.as_str(), run.code),
        ("J1\na\t1\nb\t1\nJ2\nc\t2\n", 0),
        "{}",
        run.stderr
    );
}

#[test]
fn group_by_with_header_repeats_the_header_without_the_marker() {
    // GNU takes --header's header from the marked input, so every job's
    // header starts with its random marker; forkpool's is the input's.
    let input = "k\tv\na\t1\na\t2\nb\t3\n";
    let run = run_with(
        &["-k", "--pipe", "--header", ":", "--group-by", "1", "-N1", JOB],
        input.as_bytes(),
    );
    assert_eq!(
        (run.stdout.as_str(), run.code),
        ("J1\nk\tv\na\t1\na\t2\nJ2\nk\tv\nb\t3\n", 0),
        "{}",
        run.stderr
    );
}

#[test]
fn group_by_cuts_file_parts_where_gnu_parallel_cuts_them() {
    let d = Dir::new();
    let lines = keyed_lines(1500);
    let file = d.file("keyed", &lines);
    let named = d.file("named", &format!("key\tpad\tn\n{lines}"));
    let cases: Vec<Vec<&str>> = vec![
        vec!["--block", "1k", "--group-by", "1"],
        vec!["--block", "100", "--group-by", "1"],
        vec!["--block", "333", "--group-by", "1"],
        vec!["--block", "3k", "--group-by", "3"],
        vec!["--block", "-3", "--group-by", "1"],
        vec!["--group-by", "1"],
        vec!["--block", "1k", "--group-by", "3 $_ %= 2"],
        vec!["--block", "1k", "--header", ":", "--group-by", "1"],
    ];
    for args in cases {
        let mut args = args;
        args.extend(["-k", "--pipepart", "-a", &file, JOB]);
        same_as_gnu(&args, b"");
    }
    // A name is looked up in the file's first line, which stays data.
    same_as_gnu(
        &[
            "-k",
            "--pipepart",
            "-a",
            &named,
            "--block",
            "2k",
            "--group-by",
            "key",
            JOB,
        ],
        b"",
    );
}

#[test]
fn bin_sends_each_line_to_the_slot_its_number_names_as_gnu_parallel() {
    let numbers: String = (-7..=12).map(|i| format!("{i}\n")).collect();
    let odd = "3abc\n-7.5\n 4\n1e1\n0x10\nabc\n\n5\n18446744073709551615\n";
    let csv = "a,4,x\nb,5,y\nc,6,z\nd,7,w\n";
    let tsv_header = "n\tname\n1\tx\n2\ty\n3\tz\n";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (&numbers, vec!["--bin", "1", "-j3"]),
        (&numbers, vec!["--bin", "1", "-j4"]),
        (&numbers, vec!["--bin", "1 $_ *= 2", "-j3"]),
        (&numbers, vec!["--bin", "$_ + 1", "-j5"]),
        (odd, vec!["--bin", "1", "-j3"]),
        (csv, vec!["--bin", "2", "-j3"]),
        (csv, vec!["--colsep", ",", "--bin", "2", "-j2"]),
        // A single space splits awk-style (perl's `split ' '`); a regex.
        (" 3 a\n1 b\n  2 c\n5  x\n", vec!["--colsep", " ", "--bin", "1", "-j3"]),
        (" 3 a\n1 b\n  2 c\n5  x\n", vec!["--colsep", " ", "--bin", "2", "-j3"]),
        ("1;2\n3,4\n5;6\n", vec!["--colsep", "[,;]", "--bin", "2", "-j4"]),
        (tsv_header, vec!["--colsep", "\t", "--bin", "n", "-j2"]),
        (tsv_header, vec!["--header", ":", "--bin", "1", "-j2"]),
    ];
    for (input, args) in cases {
        let mut args = args;
        args.extend(["-k", "--pipe", "echo J{#} {%}; cat"]);
        same_as_gnu(&args, input.as_bytes());
    }
    // -k prints the jobs in order, whichever finishes first.
    same_as_gnu(
        &[
            "-k",
            "--pipe",
            "--bin",
            "1",
            "-j3",
            "sleep 0.$((3 - {#})); echo J{#}; cat",
        ],
        numbers.as_bytes(),
    );
    // Arguments go to the jobs in turn; a job without one has an empty {}.
    same_as_gnu(
        &["-k", "--pipe", "--bin", "1", "-j3", "echo {}; cat", ":::", "a", "b"],
        numbers.as_bytes(),
    );
    // `$.` is the input line's number in a key expression, as with GNU's
    // filter reading the input with `<>`.
    same_as_gnu(
        &["-k", "--pipe", "--bin", "$_=$.", "-j2", "echo J{#}; cat"],
        b"a\nb\nc\nd\ne\n",
    );
    same_as_gnu(
        &["-k", "--pipe", "--group-by", "$_=$.", "-N1", "echo J{#}; cat"],
        b"a\nb\nc\n",
    );
}

#[test]
fn a_key_of_0_or_nothing_is_no_key_as_gnu_parallel_reads_it() {
    // GNU tests the three options as Perl truths: `--bin 0` is a plain
    // --pipe run (one block), not column 0; `--bin 0 --shard 2` shards.
    let input = b"1 4\n2 4\n3 5\n";
    for args in [
        &["--bin", "0"][..],
        &["--bin", ""],
        &["--shard", "0"],
        &["--group-by", "0"],
        &["--group-by", "0", "-N1"],
        &["--bin", "0", "--colsep", " ", "--shard", "2", "-j1"],
        &["--bin", "00", "--colsep", " ", "-j2"],
    ] {
        let mut args = args.to_vec();
        args.extend(["-k", "--pipe", JOB]);
        same_as_gnu(&args, input);
    }
    // And a key of 0 does not make a --pipe run of its own.
    same_as_gnu(&["-k", "--group-by", "0", "echo"], b"a\nb\n");
}

/// The lines each job got, by job number, from `echo J{#}; cat` output.
fn jobs_lines(stdout: &str) -> BTreeMap<usize, Vec<String>> {
    let mut jobs = BTreeMap::new();
    let mut current = None;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix('J').and_then(|n| n.parse().ok()) {
            current = Some(n);
            jobs.entry(n).or_insert_with(Vec::new);
        } else {
            let job = current.expect("a line before any job's marker");
            jobs.get_mut(&job).unwrap().push(line.to_owned());
        }
    }
    jobs
}

/// Every key (`key` of each line) in one job only, every line once.
fn assert_sharded(stdout: &str, input: &str, jobs: usize, key: impl Fn(&str) -> String) {
    let got = jobs_lines(stdout);
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        (1..=jobs).collect::<Vec<_>>(),
        "{stdout}"
    );
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (job, lines) in &got {
        for line in lines {
            let k = key(line);
            let first = *owner.entry(k.clone()).or_insert(*job);
            assert_eq!(first, *job, "key {k:?} in jobs {first} and {job}");
        }
    }
    let mut delivered: Vec<&str> = got.values().flatten().map(String::as_str).collect();
    let mut expected: Vec<&str> = input.lines().collect();
    delivered.sort_unstable();
    expected.sort_unstable();
    assert_eq!(delivered, expected, "every line, once");
    assert!(owner.len() > jobs, "enough keys to spread");
    let used: BTreeSet<usize> = owner.values().copied().collect();
    assert!(used.len() > 1, "keys spread over several jobs: {owner:?}");
}

#[test]
fn shard_keeps_every_key_in_one_job_and_delivers_every_line_once() {
    let lines = keyed_lines(3000);
    let first = |l: &str| l.split('\t').next().unwrap().to_owned();
    // Column 1 with GNU's default separator for --shard without --colsep
    // (a comma: the whole line here), so with --colsep.
    let run = run_with(
        &["-k", "--pipe", "--colsep", "\t", "--shard", "1", "-j3", JOB],
        lines.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_sharded(&run.stdout, &lines, 3, first);
    // An expression on the column: all keys with the same last digit together.
    let run = run_with(
        &["-k", "--pipe", "--colsep", "\t", "--shard", "1 $_ %= 10", "-j4", JOB],
        lines.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_sharded(&run.stdout, &lines, 4, |l| {
        (first(l).parse::<u64>().unwrap() % 10).to_string()
    });
    // By name (the header line goes to no job, as in GNU), --header's tab.
    let named = format!("key\tpad\tn\n{lines}");
    let run = run_with(
        &["-k", "--pipe", "--header", ":", "--shard", "key", "-j2", JOB],
        named.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_sharded(&run.stdout, &lines, 2, first);
    // The structure is GNU's: one job per slot, in order under -k, each
    // one's output whole.
    let gnu = super::gnu::gnu_with(
        &["-k", "--pipe", "--colsep", "\t", "--shard", "1", "-j3", JOB],
        lines.as_bytes(),
    );
    assert_sharded(&gnu.stdout, &lines, 3, first);
}

/// Each job's lines, sorted (GNU's sharders may interleave them).
fn sorted_jobs(stdout: &str) -> BTreeMap<usize, Vec<String>> {
    let mut jobs = jobs_lines(stdout);
    for lines in jobs.values_mut() {
        lines.sort_unstable();
    }
    jobs
}

#[test]
fn shard_sends_each_key_to_the_job_gnu_parallel_sends_it_to() {
    // GNU's sharder: `hex(B::hash($key)) % jobs`, in a perl with
    // `PERL_HASH_SEED` set (to its pid); forkpool asks its perl the same.
    // Debian's perl 5.36 hashes keys of up to 24 bytes the same whatever
    // the seed (longer ones by the seed: per run, in GNU too), so the
    // keys here are short.
    let lines = keyed_lines(3000);
    let named = format!("key\tpad\tn\n{lines}");
    let csv = "a,1\nb,2\nc,3\na,4\nd,5\ne,6\nf,7\ng,8\n";
    for (input, args) in [
        (lines.as_str(), vec!["--colsep", "\t", "--shard", "1", "-j3"]),
        (lines.as_str(), vec!["--colsep", "\t", "--shard", "1 $_ %= 10", "-j4"]),
        (lines.as_str(), vec!["--colsep", "\t", "--shard", "3", "-j5"]),
        // `$F[$col - 1]`: -2 is the third column from the end, the first.
        (lines.as_str(), vec!["--colsep", "\t", "--shard", "-2", "-j2"]),
        (named.as_str(), vec!["--header", ":", "--shard", "key", "-j3"]),
        // GNU's default separator, a comma; the last column ends with its newline.
        (csv, vec!["--shard", "1", "-j3"]),
        (csv, vec!["--shard", "2", "-j3"]),
        (csv, vec!["--shard", "1 $_ = uc", "-j2"]),
        (csv, vec!["--colsep", " ", "--shard", "1", "-j4"]),
    ] {
        let mut args: Vec<&str> = [&["-k", "--pipe"][..], &args].concat();
        args.push(JOB);
        let ours = run_with(&args, input.as_bytes());
        let gnu = super::gnu::gnu_with(&args, input.as_bytes());
        assert_eq!(
            (sorted_jobs(&ours.stdout), ours.code),
            (sorted_jobs(&gnu.stdout), gnu.code),
            "{args:?}: {}",
            ours.stderr
        );
    }
}

#[test]
fn perl_keys_of_a_long_input_are_gnus() {
    // Perl computes the keys of one read while the read before is marked
    // and cut (or dealt): many reads, so many hand-offs, and the blocks,
    // jobs and `$.` still GNU's.
    let lines = keyed_lines(20_000);
    let groups: BTreeSet<&str> = lines.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert!(groups.len() > 1000, "several groups: {}", groups.len());
    for args in [
        vec!["--group-by", "1 $_ = int($_ / 7)", "--block", "10k"],
        vec!["--group-by", "$_ = int($. / 1000)", "--block", "30k"],
        // Keys with a tab (escaped both ways).
        vec!["--group-by", "$_ = substr($_, 0, 3)", "--block", "20k"],
        vec!["--group-by", "1 $_ = int($_ / 50)", "-N2"],
    ] {
        let mut args: Vec<&str> = [&["-k", "--pipe"][..], &args].concat();
        args.push("echo J{#}; cat");
        same_as_gnu(&args, lines.as_bytes());
    }
    // GNU's sharders and binners read the input in turns: a job's lines
    // come in their order only per reader, so the jobs are compared sorted.
    for args in [
        vec!["--colsep", "\t", "--shard", "1 $_ = int($_ / 3)", "-j3"],
        vec!["--bin", "1 $_ = int($_ / 3)", "-j3"],
    ] {
        let mut args: Vec<&str> = [&["-k", "--pipe"][..], &args].concat();
        args.push(JOB);
        let ours = run_with(&args, lines.as_bytes());
        let gnu = super::gnu::gnu_with(&args, lines.as_bytes());
        assert!(
            (sorted_jobs(&ours.stdout), ours.code) == (sorted_jobs(&gnu.stdout), gnu.code),
            "{args:?}: {}",
            ours.stderr
        );
    }
}

#[test]
fn perl_keys_with_escapes_or_no_value_are_gnus() {
    // The values and keys cross to perl escaped (`\\`, `\t`, `\n`), and
    // are keyed in place: undef is an empty key, as GNU compares it.
    let input = b"a\\\\b\t1\nc\\d\t1\nx\\ty\t2\n\\\\n\t3\nq\\\t3\nz\t4\n";
    for key in [
        "$_ = undef if /1/",
        "$_ = substr($_, 0, 3)",
        "2 $_ = $_ > 2 ? \"\\\\\" : \"\\t\"",
        "s/\\\\/\\\\\\\\/g; $_ = substr($_, 0, 4)",
    ] {
        same_as_gnu(&["-k", "--pipe", "--group-by", key, "-N1", "echo J; cat"], input);
    }
}

#[test]
fn a_perl_key_that_dies_late_in_a_long_input_stops_the_run_with_255() {
    // Some reads are keyed and handed on before the one that dies.
    let input: String = (1..=20_000).map(|i| format!("{i}\n")).collect();
    let key = "$_ == 19000 and die \"bad\\n\"; $_ = int($_ / 100)";
    for option in ["--group-by", "--shard", "--bin"] {
        let run = run_with(&["--pipe", option, key, "-j2", "wc -l"], input.as_bytes());
        assert_eq!(run.code, 255, "{option}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim(),
            format!("forkpool: Error: {option} '{key}' died: bad"),
            "{option}"
        );
    }
}

#[test]
fn without_perl_shard_still_keeps_every_key_in_one_job() {
    // No perl on PATH: SipHash picks the jobs (not GNU's), the promise holds.
    let lines = keyed_lines(3000);
    let first = |l: &str| l.split('\t').next().unwrap().to_owned();
    let out = command(&[
        "-k",
        "--pipe",
        "--colsep",
        "\t",
        "--shard",
        "1",
        "-j3",
        "echo J{#}; while read -r l; do echo \"$l\"; done",
    ])
    .env("PATH", "/nonexistent")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .and_then(|mut child| {
        let mut stdin = child.stdin.take().unwrap();
        let input = lines.clone();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output();
        let _ = writer.join();
        out
    })
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_sharded(&stdout, &lines, 3, first);
}

/// Runs `forkpool ARGS` with what `write` writes to its stdin (from a
/// thread): its stdout's numbers (one per line) and its peak RSS in KiB.
fn counts_and_peak(args: &[&str], write: impl FnOnce(&mut dyn Write) + Send + 'static) -> (Vec<u64>, u64) {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let peak = watch_peak_rss(child.id());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || write(&mut stdin));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let counts = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse::<u64>().unwrap())
        .collect();
    (counts, peak.join().unwrap())
}

#[test]
fn shard_and_bin_stream_the_input_in_bounded_memory() {
    for key in [["--shard", "1"], ["--bin", "2"]] {
        let line = format!("{}\t{}\t7\n", "k", "x".repeat(90));
        let chunk = line.repeat(10_000);
        // About 96 MB, written as it is read.
        let (counts, peak) = counts_and_peak(
            &["--pipe", "--colsep", "\t", key[0], key[1], "-j2", "wc -l"],
            move |w| {
                for _ in 0..100 {
                    w.write_all(chunk.as_bytes()).unwrap();
                }
            },
        );
        assert_eq!(
            counts.iter().sum::<u64>(),
            1_000_000,
            "{key:?}: every line reached a job"
        );
        assert!(peak < 48 * 1024, "{key:?}: peak RSS {peak} KiB for 96 MB of input");
    }
}

#[test]
fn group_by_streams_the_input_in_bounded_memory() {
    let args = ["--pipe", "--group-by", "1", "--block", "1M", "-j2", "wc -l"];
    let (counts, peak) = counts_and_peak(&args, |w| {
        for k in 0..100 {
            let chunk = format!("{k}\t{}\n", "x".repeat(90)).repeat(10_000);
            w.write_all(chunk.as_bytes()).unwrap();
        }
    });
    assert_eq!(counts.iter().sum::<u64>(), 1_000_000);
    // Groups of 10,000 lines, about 1 MB, never split.
    assert!(counts.iter().all(|c| c % 10_000 == 0), "{counts:?}");
    assert!(peak < 48 * 1024, "peak RSS {peak} KiB for 96 MB of input");
}

/// `(seq 3; sleep PAUSE; seq 4 6) | PROGRAM ARGS`: stdout and status.
fn slow_producer(program: &str, pause: u32, args: &str) -> (String, i32) {
    let script = format!("(seq 3; sleep {pause}; seq 4 6) | {program} {args}");
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("PARALLEL_SHELL", "/bin/bash")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn block_timeout_gives_a_job_what_was_read_when_reading_stalls() {
    let ours = env!("CARGO_BIN_EXE_forkpool");
    // The producer pauses 3 s; the timeout is 1 s: the first three lines
    // are a block of their own (they come at once: a second's margin).
    // When the rest comes, at 3 s, a timeout may fire then too: the cuts
    // are the same whichever is first.
    for args in [
        "--pipe --bt 1 -k wc -l",
        "--pipe --block-timeout 1s -N2 -k 'paste -sd,'",
    ] {
        let gnu = slow_producer("parallel --will-cite", 3, args);
        assert_eq!(slow_producer(ours, 3, args), gnu, "{args}");
    }
    assert_eq!(slow_producer(ours, 3, "--pipe --bt 1 -k wc -l").0, "3\n3\n");
    // With --group-by, what was read is cut where a group starts: the
    // group of 2 and 3 may go on after the pause, so it waits. (GNU's
    // grouping filter holds its output in perl's buffer, so its timeout
    // never sees a short input before it ends: one block.)
    // (Timeouts at 2 s and 4 s, the rest of the input at 5 s: a second's
    // margin either way.)
    let grouped = slow_producer(ours, 5, "--pipe --bt 2 --group-by '$_ = int($_ / 2)' -k 'echo J; cat'");
    assert_eq!(grouped.0, "J\n1\nJ\n2\n3\n4\n5\n6\n");
    // Without it (or with one longer than the pause) the input is one block.
    assert_eq!(slow_producer(ours, 3, "--pipe -k wc -l").0, "6\n");
    assert_eq!(slow_producer(ours, 3, "--pipe --blocktimeout 30 -k wc -l").0, "6\n");
}

#[test]
fn bad_keys_and_timeouts_are_one_line_errors_before_any_job() {
    let d = Dir::new();
    let file = d.file("keyed", "a\t1\nb\t2\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--pipe", "--group-by", "1", "--rrs"],
            "--remove-rec-sep is not compatible with --groupby",
        ),
        (
            vec!["--pipe", "--group-by", "1", "--recstart", "x"],
            "--recstart is not compatible with --groupby",
        ),
        (
            vec!["--pipe", "--group-by", "1", "--recend", "x"],
            "--recend is not compatible with --groupby",
        ),
        (vec!["--pipe", "--bt", "0.5"], "--block-timeout must be at least 1"),
        (
            vec!["--pipepart", "-a", &file, "--shard", "1"],
            "--shard and --bin work with --pipe, not with --pipepart.",
        ),
        (
            vec!["--pipepart", "-a", &file, "--bin", "1"],
            "--shard and --bin work with --pipe, not with --pipepart.",
        ),
        (vec!["--pipe", "--bt", "soon"], "--block-timeout must be at least 1"),
        (
            vec!["--pipe", "--shard", "zz", "--colsep", "\t"],
            "Column 'zz' \t not found in header",
        ),
        (vec!["--pipe", "--group-by", "zz"], "Column 'zz' \t not found in header"),
        (
            vec!["--pipepart", "-a", &file, "--group-by", "zz"],
            "Column 'zz' \t not found in header",
        ),
        (
            vec!["--pipe", "--group-by", "1 s/(/"],
            "Cannot use --group-by '1 s/(/': ",
        ),
        (vec!["--pipe", "--shard", "s/(/"], "Cannot use --shard 's/(/': "),
        (vec!["--pipe", "--bin", "1 $_ = (("], "Cannot use --bin '1 $_ = ((': "),
        (
            vec!["--pipepart", "-a", &file, "--group-by", "2 die \"no\\n\" if $_ == 2"],
            "--group-by '2 die \"no\\n\" if $_ == 2' died: no",
        ),
        (
            vec!["--pipe", "--group-by", "$_ == 2 and die \"no\\n\""],
            "--group-by '$_ == 2 and die \"no\\n\"' died: no",
        ),
        (
            vec!["--pipe", "--shard", "1", "-j2", "echo ran {}", ":::", "a", "b", "c"],
            "--shard requires --jobs to be higher than the number of arguments",
        ),
    ];
    for (args, message) in cases {
        let mut args = args;
        if !args.iter().any(|a| a.starts_with("echo")) {
            args.push("echo ran");
        }
        let run = run_with(&args, b"1\t1\n2\t2\n3\t3\n");
        assert_eq!(run.code, 255, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}: no job ran");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: one line: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    // Perl missing: the error names the expression.
    let out = command(&["--pipe", "--shard", "1 $_++", "-j2", "echo ran"])
        .env("PATH", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--shard '1 $_++': perl is not installed"), "{stderr}");
}

#[test]
fn an_expression_that_dies_while_sharding_stops_the_run_with_255() {
    let input: String = (1..=10_000).map(|i| format!("{i}\n")).collect();
    let run = run_with(
        &["--pipe", "--bin", "$_ == 9000 and die \"bad\\n\"", "-j2", "wc -l"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 255, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "forkpool: Error: --bin '$_ == 9000 and die \"bad\\n\"' died: bad"
    );
    // The jobs ran, and ended: their input was closed.
    assert_eq!(run.lines().len(), 2, "{}", run.stdout);
}

#[test]
fn dry_run_shows_one_job_per_slot() {
    let run = run_with(&["--pipe", "--shard", "1", "-j3", "--dry-run", "wc -l"], b"1\n2\n");
    assert_eq!(
        (run.stdout.as_str(), run.code),
        ("wc -l\nwc -l\nwc -l\n", 0),
        "{}",
        run.stderr
    );
}
