//! `--pipe` and `--pipepart`: blocks of whole records on the jobs' stdin,
//! checked against GNU parallel's documented output (and, in `pipe_gnu.rs`,
//! against the installed `parallel`). `--round-robin`, `--cat`, `--fifo`,
//! `--tee` and the output modes are in `pipe_modes.rs`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Dir, Run, command, finish, joblog_rows, run_with, spawn_piped, wait_for};

/// Shows each block as `[block]`.
pub(super) const SHOW: &str = "echo \"[$(cat)]\"";

pub(super) fn seq(n: usize) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

/// Runs `forkpool ARGS` with a regular file as its standard input.
fn run_with_file(args: &[&str], input: &Path) -> Run {
    let child = command(args)
        .stdin(std::fs::File::open(input).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    super::finish(child)
}

// ------------------------------------------------------------- blocks --

#[test]
fn pipe_cuts_stdin_into_blocks_of_whole_lines() {
    // What GNU parallel 20221122 prints for `seq 10 | parallel --pipe
    // --block 6 -k 'echo {#} {%}; cat'` with -j2.
    let r = run_with(
        &["-j2", "-k", "--pipe", "--block", "6", "echo {#}; cat"],
        seq(10).as_bytes(),
    );
    assert_eq!(r.stdout, "1\n1\n2\n3\n2\n4\n5\n6\n3\n7\n8\n9\n4\n10\n");
    assert_eq!(r.code, 0);
    // The last record needs no newline; nothing is lost or added.
    let r = run_with(&["-k", "--pipe", SHOW], b"a\nb");
    assert_eq!(r.stdout, "[a\nb]\n");
    // No input, no job.
    let r = run_with(&["--pipe", "echo job"], b"");
    assert_eq!((r.stdout.as_str(), r.code), ("", 0));
}

#[test]
fn spreadstdin_and_block_size_are_aliases() {
    let r = run_with(
        &["-k", "--spreadstdin", "--block-size", "6", "wc -l"],
        seq(10).as_bytes(),
    );
    assert_eq!(r.lines(), ["3", "3", "3", "1"]);
}

#[test]
fn block_sizes_take_gnu_parallels_units() {
    let input = seq(1000);
    let sizes = |block: &str| -> Vec<usize> {
        let r = run_with(&["-k", "--pipe", "--block", block, "wc -c"], input.as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.lines().iter().map(|l| l.trim().parse().unwrap()).collect()
    };
    // k is 1000, K (and Ki) 1024, as GNU's multiply_binary_prefix; the
    // sizes are what GNU parallel 20221122 gives (`seq 1000` has 3892
    // bytes; its lines end at every multiple of 4 past byte 288).
    let k = sizes("1k");
    assert!(
        k.iter().all(|&n| n <= 1000) && k.iter().sum::<usize>() == input.len(),
        "{k:?}"
    );
    assert_eq!(k[..3], [1000, 1000, 1000]);
    let big_k = sizes("1K");
    assert_eq!(big_k[..3], [1024, 1024, 1024]);
    assert_eq!(sizes("1Ki"), big_k);
    assert_eq!(sizes("1.5k"), [1500, 1500, 893]);
    // The default is 1M: all of it in one block.
    assert_eq!(sizes("1M"), [input.len()]);
    assert_eq!(sizes("0"), [input.len()], "0 is the default, as in GNU");
}

#[test]
fn a_record_longer_than_the_block_grows_it_with_gnus_warning() {
    let input = format!("{}\n1\n2\n", "x".repeat(30));
    let r = run_with(&["-k", "--pipe", "--block", "10", "wc -c"], input.as_bytes());
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains("Warning: A record was longer than 10. Increasing to --blocksize 14."),
        "{}",
        r.stderr
    );
    let sizes: Vec<usize> = r.lines().iter().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), input.len());
    assert!(sizes[0] >= 31, "the long record stays whole: {sizes:?}");
}

#[test]
fn records_per_job_with_n_and_lines_per_record_with_l() {
    let r = run_with(&["-k", "--pipe", "-N3", "wc -l"], seq(10).as_bytes());
    assert_eq!(r.lines(), ["3", "3", "3", "1"]);
    // -L: a record is L lines; a block holds whole records.
    let r = run_with(&["-k", "--pipe", "-L3", "--block", "10", SHOW], seq(10).as_bytes());
    assert_eq!(r.stdout, "[1\n2\n3]\n[4\n5\n6]\n[7\n8\n9]\n[10]\n");
    // -L with -N: N records of L lines.
    let r = run_with(&["-k", "--pipe", "-L2", "-N2", "wc -l"], seq(10).as_bytes());
    assert_eq!(r.lines(), ["4", "4", "2"]);
}

#[test]
fn header_is_repeated_at_the_start_of_every_block() {
    let input = "h1\nh2\n1\n2\n3\n4\n5\n";
    let blocks = |header: &str| run_with(&["-k", "--pipe", "-N2", "--header", header, SHOW], input.as_bytes()).stdout;
    assert_eq!(blocks(":"), "[h1\nh2\n1]\n[h1\n2\n3]\n[h1\n4\n5]\n");
    assert_eq!(blocks("2"), "[h1\nh2\n1\n2]\n[h1\nh2\n3\n4]\n[h1\nh2\n5]\n");
    assert_eq!(blocks("h.\\n"), "[h1\nh2\n1]\n[h1\n2\n3]\n[h1\n4\n5]\n");
    // No match (or 0): no header.
    assert_eq!(blocks("zz"), "[h1\nh2]\n[1\n2]\n[3\n4]\n[5]\n");
    assert_eq!(blocks("0"), blocks("zz"));
}

#[test]
fn record_separators_fixed_and_regular() {
    let fasta = ">a\nAAA\n>b\nBB\n>c\nC\n";
    let r = run_with(&["-k", "--pipe", "--recstart", ">", "-N1", SHOW], fasta.as_bytes());
    assert_eq!(r.stdout, "[>a\nAAA]\n[>b\nBB]\n[>c\nC]\n");
    let r = run_with(
        &["-k", "--pipe", "--recstart", ">", "--recend", "\\n", "-N2", SHOW],
        fasta.as_bytes(),
    );
    assert_eq!(r.stdout, "[>a\nAAA\n>b\nBB]\n[>c\nC]\n");
    let r = run_with(&["-k", "--pipe", "--recend", ";", "-N2", SHOW], b"a;b;c;d;e");
    assert_eq!(r.stdout, "[a;b;]\n[c;d;]\n[e]\n");
    // --regexp: the separators are regular expressions.
    let r = run_with(
        &["-k", "--pipe", "--regexp", "--recend", "[0-9]+", "-N1", SHOW],
        b"a1b22c333d",
    );
    assert_eq!(r.stdout, "[a1]\n[b22]\n[c333]\n[d]\n");
    let r = run_with(
        &["-k", "--pipe", "--regexp", "--recstart", ">[ab]", "-N1", SHOW],
        fasta.as_bytes(),
    );
    assert_eq!(r.stdout, "[>a\nAAA]\n[>b\nBB\n>c\nC]\n");
    // What precedes the first record start is a record of its own.
    let r = run_with(
        &["-k", "--pipe", "--regexp", "--recstart", ">", "-N2", SHOW],
        b"junk\n>a\n1\n>b\n2\n",
    );
    assert_eq!(r.stdout, "[junk]\n[>a\n1\n>b\n2]\n");
}

#[test]
fn rrs_removes_the_record_separators() {
    let r = run_with(&["-k", "--pipe", "--rrs", "cat"], seq(3).as_bytes());
    assert_eq!(r.stdout, "123");
    let r = run_with(
        &["-k", "--pipe", "--recstart", ">", "-N1", "--remove-rec-sep", SHOW],
        b">a\nAAA\n>b\nBB\n",
    );
    assert_eq!(r.stdout, "[a\nAAA]\n[b\nBB]\n");
    let r = run_with(
        &["-k", "--pipe", "--regexp", "--recend", "[0-9]+", "--rrs", "-N1", SHOW],
        b"a1b22c333d",
    );
    assert_eq!(r.stdout, "[a]\n[b]\n[c]\n[d]\n");
}

// -------------------------------------------------------- replacement --

#[test]
fn replacement_strings_and_arguments_in_pipe_commands() {
    let r = run_with(&["-k", "-j2", "--pipe", "-N2", "echo {#} {%}; cat"], seq(4).as_bytes());
    assert_eq!(r.lines()[0], "1 1");
    assert_eq!(r.lines()[3], "2 2");
    // {} is empty ('') without arguments; nothing is appended otherwise.
    let r = run_with(&["--pipe", "--dry-run", "echo {} {1} x"], b"1\n");
    assert_eq!(r.stdout, "echo '' '' x\n");
    let r = run_with(&["--pipe", "--dry-run", "wc -l"], b"1\n");
    assert_eq!(r.stdout, "wc -l\n");
    // With ::: values, job k gets value k (GNU parallel's behaviour).
    let r = run_with(
        &["-k", "--pipe", "--block", "4", "echo {} {#}; cat", ":::", "a", "b"],
        seq(5).as_bytes(),
    );
    assert_eq!(r.stdout, "a 1\n1\n2\nb 2\n3\n4\n 3\n5\n");
    // Perl expressions, on the empty value ($_ is '').
    let r = run_with(&["-k", "--pipe", "-N2", "echo {= $_=\"x\".$_ =}{#}"], seq(3).as_bytes());
    assert_eq!(r.stdout, "x1\nx2\n");
    // The number of jobs is not known before the input ends: GNU refuses
    // it with --pipe, not with --pipepart.
    let r = run_with(&["--plus", "--pipe", "echo {##}"], seq(3).as_bytes());
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("--pipe is incompatible with"), "{}", r.stderr);
    let d = Dir::new();
    let file = d.file("in", &seq(10));
    let r = run(&["-k", "--plus", "--pipepart", "-a", &file, "--block", "10", "echo {##}"]);
    assert_eq!(r.stdout, "2\n2\n");
    // --tag and --tagstring work as for any job.
    let r = run_with(
        &["-k", "--pipe", "-N3", "--tagstring", "{#}", "wc -l"],
        seq(5).as_bytes(),
    );
    assert_eq!(r.stdout, "1\t3\n2\t2\n");
}

// ------------------------------------------------------------ pipepart --

#[test]
fn pipepart_cuts_the_file_at_the_first_record_end_after_each_block() {
    let d = Dir::new();
    let file = d.file("in", &seq(10));
    let r = run(&["-k", "--pipepart", "-a", &file, "--block", "5", SHOW]);
    assert_eq!(r.stdout, "[1\n2\n3]\n[4\n5\n6]\n[7\n8\n9]\n[10]\n");
    // :::: names the file too; several files are cut one after the other.
    let other = d.file("other", "a\nb\n");
    let r = run(&["-k", "--pipepart", "--block", "100", "wc -l", "::::", &file, &other]);
    assert_eq!(r.lines(), ["10", "2"]);
    // By default, ten blocks per job slot (GNU's --block -10): with -j2 and
    // 21 bytes, blocks of 2 bytes, cut at the next line end: 2 lines each.
    let r = run(&["-k", "-j2", "--pipepart", "-a", &file, "wc -l"]);
    assert_eq!(r.lines(), ["2", "2", "2", "2", "2"]);
    // --block -1: one block per slot.
    let r = run(&["-k", "-j2", "--pipepart", "-a", &file, "--block", "-1", "wc -l"]);
    assert_eq!(r.lines(), ["6", "4"]);
}

fn run(args: &[&str]) -> Run {
    run_with(args, b"")
}

#[test]
fn pipepart_header_separators_and_tee() {
    let d = Dir::new();
    let file = d.file("in", "h1\nh2\n1\n2\n3\n4\n5\n");
    let r = run(&["-k", "--pipepart", "-a", &file, "--header", ":", "--block", "3", SHOW]);
    assert_eq!(r.stdout, "[h1\nh2\n1]\n[h1\n2\n3]\n[h1\n4\n5]\n");
    let fasta = d.file("fa", ">a\nAAA\n>b\nBB\n>c\nC\n");
    let r = run(&[
        "-k",
        "--pipepart",
        "-a",
        &fasta,
        "--recstart",
        ">",
        "--block",
        "1",
        SHOW,
    ]);
    assert_eq!(r.stdout, "[>a\nAAA]\n[>b\nBB]\n[>c\nC]\n");
    // --tee: every job reads the whole file; ::: gives the arguments.
    let r = run(&[
        "-k",
        "--pipepart",
        "--tee",
        "-a",
        &file,
        "echo {}; wc -l",
        ":::",
        "x",
        "y",
    ]);
    assert_eq!(r.stdout, "x\n7\ny\n7\n");
    // --cat and --fifo work on parts as on blocks.
    let r = run(&[
        "-k",
        "--pipepart",
        "-a",
        &fasta,
        "--block",
        "1",
        "--cat",
        "--recstart",
        ">",
        "head -1 {}",
    ]);
    assert_eq!(r.stdout, ">a\n>b\n>c\n");
}

#[test]
fn pipe_from_a_regular_file_cuts_like_a_stream() {
    // Standard input that is a file is cut by position (see pipe/part.rs),
    // into exactly the blocks a stream gives.
    let d = Dir::new();
    let content = seq(20_000);
    let file = d.file("in", &content);
    for args in [
        &["-k", "--pipe", "--block", "10k", "md5sum"][..],
        &["-k", "--pipe", "--block", "1k", "--header", "2", "md5sum"][..],
        &["-k", "--pipe", "--block", "1k", "--recstart", "5", "md5sum"][..],
    ] {
        let from_file = run_with_file(args, Path::new(&file));
        let from_pipe = run_with(args, content.as_bytes());
        assert_eq!(from_file.code, 0, "{}", from_file.stderr);
        assert!(from_file.lines().len() > 3);
        assert_eq!(from_file.stdout, from_pipe.stdout, "{args:?}");
    }
    // After the run, standard input is at its end, as after reading it.
    let script = format!(
        "{{ {} --pipe --block 1k 'cat >/dev/null'; cat | wc -c; }} < {file}",
        env!("CARGO_BIN_EXE_forkpool")
    );
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

// ------------------------------------------------------- exit statuses --

#[test]
fn exit_status_counts_the_failed_jobs() {
    let r = run_with(
        &["--pipe", "-N10", "cat >/dev/null; exit $(( $PARALLEL_SEQ % 3 ))"],
        seq(100).as_bytes(),
    );
    assert_eq!(r.code, 7);
    // A job killed by a signal is logged as GNU's --pipe wrapper logs it:
    // exit value 128 + signal.
    let d = Dir::new();
    let log = d.s("log");
    let r = run_with(&["--pipe", "-N5", "--joblog", &log, "kill -9 $$"], seq(10).as_bytes());
    assert_eq!(r.code, 2);
    let rows = joblog_rows(Path::new(&log));
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!((row[6].as_str(), row[7].as_str()), ("137", "0"), "{row:?}");
    }
    let mut sent: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    sent.sort_unstable();
    assert_eq!(sent, ["10", "11"], "the joblog's Send column is the block's size");
}

#[test]
fn a_job_that_does_not_read_its_input_is_not_an_error() {
    // GNU parallel reports these as killed by SIGPIPE; here a job is judged
    // by its own exit status.
    let input = seq(300_000);
    let r = run_with(&["--pipe", "--block", "100k", "true"], input.as_bytes());
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let r = run_with(&["-k", "--pipe", "--block", "100k", "head -1"], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines().len(), r.lines().iter().filter(|l| !l.is_empty()).count());
    assert!(r.lines().len() >= 15, "{}", r.stdout);
}

#[test]
fn a_job_that_stops_reading_holds_up_no_other_job() {
    // Job 1 gets a block bigger than any pipe and reads none of it until job
    // 3 has run; with -j2 that needs job 2 to finish and job 3 to start
    // while job 1's block is still being written.
    let d = Dir::new();
    let mark = d.s("3");
    let job = format!(
        "case {{#}} in 1) n=0; while [ ! -e {mark} ] && [ $n -lt 3000 ]; do sleep 0.01; n=$((n+1)); done; \
         test -e {mark} || exit 99;; 3) touch {mark};; esac; wc -l"
    );
    let input = seq(1_500_000);
    let r = run_with(&["-j2", "--pipe", "--block", "4M", &job], input.as_bytes());
    assert_eq!(r.code, 0, "job 1 waited in vain: {}", r.stderr);
    let total: usize = r.lines().iter().map(|l| l.trim().parse::<usize>().unwrap()).sum();
    assert_eq!(total, 1_500_000);
}

// ---------------------------------------------------------- bad input --

#[test]
fn bad_pipe_options_are_one_line_errors_before_any_job() {
    let d = Dir::new();
    let marker = d.s("ran");
    let job = format!("touch {marker}");
    let file = d.file("in", "1\n2\n");
    let fifo = d.s("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--pipe", "--block", "10Q", &job], "--block \"10Q\" is not a size"),
        (vec!["--pipe", "--block", "-0", &job], "--block \"-0\" is not a size"),
        (vec!["--pipe", "--block", "-1", &job], "needs --pipepart"),
        (vec!["--pipe", "--block", "1x", &job], "is not a size"),
        (
            vec!["--pipe"],
            "--pipe/--pipepart must have a command to pipe into (e.g. 'cat').",
        ),
        (
            vec!["--pipe", "--fifo", "--cat", &job],
            "--fifo cannot be combined with --cat.",
        ),
        (
            vec!["--pipe", "--round-robin", "--retries", "2", &job],
            "--retries cannot be combined with --roundrobin.",
        ),
        (
            vec!["--pipe", "--bar", &job],
            "--pipe is incompatible with --eta/--bar/--shuf",
        ),
        (vec!["--pipe", "--halt", "now,fail=50%", &job], "incompatible"),
        (
            vec!["--pipepart", "-a", &file, "-N2", &job],
            "--pipepart is incompatible with --max-replace-args, --max-lines, and -L.",
        ),
        (
            vec!["--pipe", "--regexp", "--recstart", "(", &job],
            "--recstart \"(\" is not a valid regular expression",
        ),
        (
            vec!["--pipe", "--regexp", "--recend", "[z-a]", &job],
            "--recend \"[z-a]\" is not a valid",
        ),
        (
            vec!["--pipe", "--header", "(", &job],
            "--header \"(\" is not a valid regular expression",
        ),
        (vec!["--pipepart", &job, ":::", "a"], "--pipepart needs a file"),
        (
            vec!["--pipepart", "-a", "/nonexistent/x", &job],
            "File not found: /nonexistent/x",
        ),
        (
            vec!["--pipepart", "--block", "1k", "-a", &fifo, &job],
            "--pipepart only works on seekable files",
        ),
        (
            vec!["--pipepart", "-a", &fifo, &job],
            "is neither a file nor a block device",
        ),
    ];
    for (args, message) in cases {
        let r = run_with(&args, b"1\n");
        assert_eq!(r.code, 255, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.lines().all(|l| l.starts_with("forkpool: ")),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!Path::new(&marker).exists(), "{args:?} ran a job");
    }
}

// ------------------------------------------------------------- memory --

#[test]
fn a_plain_pipe_is_relayed_to_pipes_and_spooled_only_for_second_attempts() {
    // From a pipe, a plain --pipe job reads a pipe the relay splices its
    // block into (as GNU's jobs read a pipe); where a job may run again
    // (--retries), its block is kept in a memfd, a regular file.
    let input = seq(200_000);
    let kinds = |extra: &[&str]| {
        let mut args = vec!["-j2", "-k", "--block", "300k", "--pipe"];
        args.extend_from_slice(extra);
        args.push("echo $(stat -L -c %F /dev/stdin) $(wc -l)");
        let r = run_with(&args, input.as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut total = 0;
        let mut kinds: Vec<String> = Vec::new();
        for line in r.lines() {
            let (kind, n) = line.rsplit_once(' ').unwrap();
            total += n.parse::<usize>().unwrap();
            kinds.push(kind.to_owned());
        }
        assert_eq!(total, 200_000);
        kinds.dedup();
        kinds
    };
    assert_eq!(kinds(&[]), ["fifo"]);
    assert_eq!(kinds(&["--retries", "2"]), ["regular file"]);
}

#[test]
fn relayed_blocks_survive_slow_jobs_and_jobs_that_stop_reading() {
    // A job slower than the input gets the rest of its block from a memfd
    // (the input moves on); one that stops reading loses the rest of its
    // block, and the next job starts where the block ended.
    // The spool (chosen by --retries) cuts the same blocks.
    let input = seq(300_000);
    let blocks = |command: &str, extra: &[&str]| {
        let mut args = vec!["-j2", "-k", "--block", "500k", "--pipe"];
        args.extend_from_slice(extra);
        args.push(command);
        let r = run_with(&args, input.as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let counts = blocks("sleep 0.2; wc -l", &[]);
    assert_eq!(counts, blocks("wc -l", &["--retries", "2"]));
    let total: usize = counts.lines().map(|l| l.trim().parse::<usize>().unwrap()).sum();
    assert_eq!(total, 300_000);
    assert!(counts.lines().count() >= 3, "{counts}");
    assert_eq!(blocks("head -1", &[]), blocks("head -1", &["--retries", "2"]));
    // Records of a custom end, long ones (the window grows), a header.
    let records: String = (0..3000).map(|i| format!("{}{i};", "x".repeat(i % 700))).collect();
    let both = |extra: &[&str]| {
        let mut args = vec!["-k", "--pipe", "--recend", ";", "--block", "10k", "--header", "1"];
        args.extend_from_slice(extra);
        args.push("md5sum");
        let r = run_with(&args, format!("head\n{records}").as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    assert_eq!(both(&[]), both(&["--retries", "2"]));
}

#[test]
fn a_record_start_right_at_a_piece_read_on_its_own_is_a_cut() {
    // With --recstart alone, a block ends right before a record's start.
    // Where the cut is looked for in a piece of the window read on its own
    // (from a file, read backwards; from a pipe, what came after the
    // carry), a record starting at the piece's first byte is a cut too:
    // only the window's own first byte is not. GNU parallel gives these
    // blocks (34464 and 70005 bytes).
    let d = Dir::new();
    let input = format!(">{}\n>{}\n>z\n", "x".repeat(34_462), "y".repeat(70_000));
    let file = d.file("records", &input);
    let args = ["-k", "--pipe", "--recstart", ">", "--block", "100000"];
    for extra in [&[][..], &["--retries", "2"][..]] {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        all.push("wc -c");
        // From the file itself (cut by position, or spooled), and piped.
        let out = command(&all)
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        let sizes = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert_eq!(
            sizes,
            ["34464", "70005"],
            "< FILE {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = run_with(&all, input.as_bytes());
        assert_eq!(
            r.lines().iter().map(|l| l.trim()).collect::<Vec<_>>(),
            ["34464", "70005"],
            "piped {extra:?}: {}",
            r.stderr
        );
    }
    // From a pipe whose writes end right before a record's start: the
    // relay has the first record as its carry when the next arrives.
    let mut child = spawn_piped(&["-k", "--pipe", "--recstart", ">", "--block", "5", "wc -c"]);
    let mut stdin = child.stdin.take().unwrap();
    for record in [">a\nAC\n", ">b\nAC\n", ">c\nAC\n"] {
        stdin.write_all(record.as_bytes()).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    let r = finish(child);
    assert_eq!(
        r.lines().iter().map(|l| l.trim()).collect::<Vec<_>>(),
        ["6", "6", "6"],
        "{}",
        r.stderr
    );
    // One record longer than the block: GNU's one warning, no more.
    assert_eq!(r.stderr.matches("Warning").count(), 1, "{}", r.stderr);
}

#[test]
fn a_halted_relay_runs_no_job_past_the_halt() {
    // The relay asks for the next block's job while a block is still
    // being relayed; a run halted by a failing job must still start no
    // job after it, and end. (GNU parallel 20221122 hangs on this with
    // `soon`, so it is not among the differential cases.)
    let input = seq(20_000);
    for halt in ["now,fail=1", "soon,fail=1"] {
        let d = Dir::new();
        let log = d.s("log");
        let r = run_with(
            &[
                "-j1",
                "--pipe",
                "--block",
                "10k",
                "--joblog",
                &log,
                "--halt",
                halt,
                "wc -l; false",
            ],
            input.as_bytes(),
        );
        assert_eq!(r.code, 1, "{halt}: {}", r.stderr);
        assert_eq!(r.lines().len(), 1, "{halt}: one job ran: {}", r.stdout);
        assert_eq!(joblog_rows(Path::new(&log)).len(), 1, "{halt}");
    }
}

#[test]
fn piped_input_is_never_held_whole_in_memory() {
    // 256 MB through 1 MB blocks (and round-robin's dealer, and -N's many
    // small blocks): memory holds a few blocks, not the input.
    for mode in [
        &["--pipe"][..],
        &["--pipe", "--round-robin"][..],
        &["--pipe", "-N", "50000"][..],
    ] {
        let mut args = vec!["-j2", "--block", "1M"];
        args.extend_from_slice(mode);
        args.push("wc -c");
        let mut child = command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let watcher = super::watch_peak_rss(child.id());
        let spooled = watch_spooled_blocks(child.id());
        let mut input = child.stdin.take().unwrap();
        let chunk = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\n".repeat(1024);
        let total = chunk.len() * 4096;
        let feeder = std::thread::spawn(move || {
            for _ in 0..4096 {
                input.write_all(&chunk).unwrap();
            }
        });
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        feeder.join().unwrap();
        assert!(child.wait().unwrap().success());
        let got: usize = out.split_whitespace().map(|n| n.parse::<usize>().unwrap()).sum();
        assert_eq!(got, total, "{mode:?}");
        let peak = watcher.join().unwrap();
        assert!(peak < 48 * 1024, "{mode:?}: forkpool held {} MiB", peak / 1024);
        // Blocks spilled into memfds are memory too, outside our heap.
        let (peak, _) = spooled.join().unwrap();
        assert!(peak < 16 << 20, "{mode:?}: {} MiB of blocks at once", peak >> 20);
    }
}

/// Samples the memfd blocks (`spool.rs`) that a run and its jobs hold open,
/// until the run is gone; the thread returns the most bytes held at once
/// and whether there were any.
fn watch_spooled_blocks(pid: u32) -> std::thread::JoinHandle<(u64, bool)> {
    use std::os::unix::fs::MetadataExt;
    std::thread::spawn(move || {
        let (mut peak, mut seen) = (0, false);
        while Path::new(&format!("/proc/{pid}/fd")).exists() {
            let children = std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
                .flat_map(|list| list.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
            let mut blocks = std::collections::HashMap::new();
            for process in std::iter::once(pid.to_string()).chain(children) {
                let Ok(fds) = std::fs::read_dir(format!("/proc/{process}/fd")) else {
                    continue;
                };
                for fd in fds.flatten() {
                    let is_block = std::fs::read_link(fd.path())
                        .is_ok_and(|target| target.to_string_lossy().starts_with("/memfd:forkpool-block"));
                    if let (true, Ok(meta)) = (is_block, std::fs::metadata(fd.path())) {
                        blocks.insert(meta.ino(), meta.len());
                    }
                }
            }
            seen |= !blocks.is_empty();
            peak = peak.max(blocks.values().sum());
            std::thread::sleep(Duration::from_millis(10));
        }
        (peak, seen)
    })
}

#[test]
fn cat_and_fifo_files_do_not_outlive_a_killed_run() {
    for mode in ["--cat", "--fifo"] {
        let d = Dir::new();
        let names = d.s("names");
        // The job notes its file's name, then holds on to it.
        let job = format!("echo {{}} >> {names}; sleep 100");
        let mut child = command(&["-j2", "--pipe", "-N1", mode, &job])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // All of the input: a block is cut when its window is full or the
        // input ends.
        child.stdin.take().unwrap().write_all(b"1\n2\n3\n").unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || std::fs::read_to_string(&names)
                .is_ok_and(|n| n.lines().count() == 2)),
            "{mode}: the jobs did not start"
        );
        let listed = std::fs::read_to_string(&names).unwrap();
        let dir = Path::new(listed.lines().next().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        assert!(
            dir.is_dir(),
            "{mode}: {} should exist while the run does",
            dir.display()
        );
        super::signal(child.id(), libc::SIGKILL);
        child.wait().unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || !dir.exists()),
            "{mode}: {} outlived the killed run",
            dir.display()
        );
    }
}
