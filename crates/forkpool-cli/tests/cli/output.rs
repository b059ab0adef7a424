//! How the jobs' output is printed: grouped per job, in input order
//! (`-k`), line by line (`--line-buffer`), straight through (`-u`),
//! tagged (`--tag`, `--tagstring`), saved under `--results DIR`, and big
//! output spooled to disk rather than held in memory.

use super::*;

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

#[test]
fn a_tagstring_repeats_its_words_per_argument_as_the_command_does() {
    // `-X`, `-N2`, `-L2`: `T{}` is `Ta Tb`, as in GNU parallel; `-m`,
    // `-n2`: `Ta b`. `--tag` is the values, space-separated, either way.
    for batching in [&["-X"][..], &["-m"], &["-N2"], &["-n2"], &["-L2"]] {
        let mut args = vec!["-k", "-j1"];
        args.extend_from_slice(batching);
        args.extend(["--tagstring", "T{} {#}", "echo", "{}", ":::", "a", "b", "c", "d"]);
        super::gnu::same_as_gnu(&args, b"");
    }
    let r = super::gnu::same_as_gnu(
        &["-k", "-j1", "-N2", "--tagstring", "T{}", "echo", ":::", "a", "b"],
        b"",
    );
    assert_eq!(r.stdout, "Ta Tb\ta b\n");
}
