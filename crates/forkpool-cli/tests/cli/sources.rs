//! Input sources: `:::`, `::::`, `-a`, `+` and `--link`, standard input
//! (also named by more than one `::::` or `-a`), other separators
//! (`--arg-sep`, `--arg-file-sep`), delimiters, columns and headers,
//! `--csv`, several items per job (`-n`, `-N`, `-X`, `-m`), and a million
//! inputs streamed through.

use super::gnu::same_as_gnu;
use super::replace::{ok, without_perl};
use super::*;

#[test]
fn stdin_named_twice_is_one_stream_the_sources_take_turns_at_as_in_gnu_parallel() {
    // GNU parallel reads a first item for every source, then the last
    // source to the end: `a` goes to the first source, the rest to the
    // second.
    for input in [&b"a\nb\n"[..], b"a\nb\nc\nd\ne\n", b"a\n", b""] {
        same_as_gnu(&["-k", "echo", "::::", "-", "::::", "-"], input);
        same_as_gnu(&["-k", "echo", "::::", "-", ":::", "x", "y", "::::", "-"], input);
        same_as_gnu(&["-k", "echo", "::::", "-", "::::", "-", "::::", "-"], input);
        same_as_gnu(&["-k", "-a", "-", "-a", "-", "echo"], input);
    }
    let r = same_as_gnu(&["-k", "echo", "::::", "-", "::::", "-"], b"a\nb\nc\n");
    assert_eq!(r.stdout, "a b\na c\n");
    // With --link they read an item each in turn, and the shorter wraps.
    for input in [&b"a\nb\n"[..], b"a\nb\nc\nd\ne\n", b""] {
        same_as_gnu(&["-k", "--link", "echo", "::::", "-", "::::", "-"], input);
    }
}

#[test]
fn stdin_linked_twice_with_one_line_runs_nothing_where_gnu_parallel_dies() {
    // GNU parallel 20221122 dies of a Perl error here ("Can't call method
    // "orig" on an undefined value", exit 255); forkpool's second source
    // is empty, and --link over an empty source runs no job.
    let r = run_with(&["--link", "echo", "::::", "-", "::::", "-"], b"a\n");
    assert_eq!((r.stdout.as_str(), r.code), ("", 0), "{}", r.stderr);
}

#[test]
fn a_plus_links_its_source_to_the_one_before_even_after_an_arg_file() {
    // `:::+` links its values to the source just before it, as `man
    // parallel` says: `x 1`, `y 2`, crossed with the -a file's lines. GNU
    // parallel 20221122 counts the `+` links among the `:::` groups only,
    // so with an -a file first it links the file to `x y` instead (README).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("files");
    std::fs::write(&file, "f1\nf2\n").unwrap();
    let file = file.to_str().unwrap();
    let r = run_with(&["-k", "-a", file, "echo", ":::", "x", "y", ":::+", "1", "2"], b"");
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("f1 x 1\nf1 y 2\nf2 x 1\nf2 y 2\n", 0),
        "{}",
        r.stderr
    );
    // Without the -a file, both agree.
    same_as_gnu(
        &["-k", "echo", ":::", "f1", "f2", ":::", "x", "y", ":::+", "1", "2"],
        b"",
    );
}

#[test]
fn a_first_separator_with_nothing_after_it_is_dropped_as_in_gnu_parallel() {
    // GNU parallel's loop over the words drops a `:::` (`::::`, `:::+`)
    // that is the first separator and the last word: the input is then
    // standard input, or the `-a` files.
    let d = Dir::new();
    let file = d.file("ab", "a\nb\n");
    for sep in [":::", "::::", ":::+"] {
        let r = same_as_gnu(&["-k", "echo", sep], b"x y\nz\n");
        assert_eq!(r.stdout, "x y\nz\n", "{sep}");
        let r = same_as_gnu(&["-k", "-a", &file, "echo", sep], b"");
        assert_eq!(r.stdout, "a\nb\n", "{sep}");
    }
    let r = same_as_gnu(&["--pipe", "wc", "-l", ":::"], b"1\n2\n3\n");
    assert_eq!(r.stdout, "3\n");
    // An empty group after another one is an empty source, in both.
    let r = same_as_gnu(&["-k", "echo", "::::", &file, ":::"], b"");
    assert_eq!(r.stdout, "a \nb \n");
    let r = same_as_gnu(&["-k", "echo", ":::", "x", ":::"], b"");
    assert_eq!(r.stdout, "x \n");
}

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

#[test]
fn csv_input_as_text_csv_reads_it() {
    // man parallel's examples.
    let r = run_with(
        &["--csv", "echo", "{1}", "of", "{2}", "at", "{3}"],
        b"\"1 big, 2 small\",\"2\"\"x4\"\" plank\",12.34\n",
    );
    assert_eq!(r.stdout, "1 big, 2 small of 2\"x4\" plank at 12.34\n", "{}", r.stderr);
    let r = run_with(
        &[
            "--csv", "--colsep", ";", "echo", "Field", "1:", "{1}", "Field", "2:", "{2}",
        ],
        b"\"Start of field 1 with newline\nLine 2 in field 1\";value 2\n",
    );
    assert_eq!(
        r.stdout,
        "Field 1: Start of field 1 with newline\nLine 2 in field 1 Field 2: value 2\n"
    );
    // Needs no perl.
    let r = without_perl(&["--csv", "-k", "echo", "{2}", ":::", "a,b", "c,\"d,e\""]);
    assert_eq!((r.stdout.as_str(), r.code), ("b\nd,e\n", 0), "{}", r.stderr);
    // A record Text::CSV refuses ends the run before any job.
    let d = Dir::new();
    let marker = d.s("ran");
    let r = run_with(&["--csv", &format!("touch {marker}; echo {{1}}")], b"a,\"b\"x\n");
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("CSV has unexpected format"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(!Path::new(&marker).exists());
}

#[test]
fn separators_headers_and_linked_files() {
    assert_eq!(ok(&["-k", "--arg-sep", ",,", "echo", ",,", "a", "b"]), ["a", "b"]);
    assert_eq!(ok(&["-k", "--argsep", ",,", "echo", ":::", ",,", "a"]), ["::: a"]);
    let d = Dir::new();
    let f1 = d.file("f1", "l1\nl2\n");
    let f2 = d.file("f2", "m1\nm2\nm3\n");
    let f3 = d.file("f3", "n1\nn2\n");
    assert_eq!(ok(&["-k", "--arg-file-sep", "//", "echo", "//", &f1]), ["l1", "l2"]);
    // `::::+` links every file after it, as GNU parallel does.
    assert_eq!(ok(&["-k", "echo", "::::+", &f1, &f2]), ["l1 m1", "l2 m2"]);
    assert_eq!(
        ok(&["-k", "echo", "::::", &f1, "::::+", &f2, &f3]),
        ["l1 m1 n1", "l2 m2 n2"]
    );
    // `--header :` without `--colsep` splits at tabs.
    let r = run_with(&["-k", "--header", ":", "echo", "{a}-{b}"], b"a\tb\nc\td\n");
    assert_eq!(r.lines(), ["c-d"]);
    let r = run_with(
        &["-k", "--header", ":", "--colsep", ",", "echo", "{=b s/d/D/ =}"],
        b"a,b\nc,d\n",
    );
    assert_eq!(r.lines(), ["D"]);
}

#[test]
fn an_empty_values_group_is_one_empty_value_also_when_linked_as_in_gnu_parallel() {
    // GNU parallel reads an empty `:::` group as one empty value: in the
    // product (as before) and linked by `:::+`, where it pairs with the
    // first value of the group before (forkpool used to run no job, or
    // to blank that group's values).
    for args in [
        &["-k", "--dry-run", "echo", ":::", "x", "y", ":::+"][..],
        &["-k", "--dry-run", "echo", ":::", ":::+", "a"],
        &["-k", "--dry-run", "echo", ":::", "a", "b", ":::+", ":::", "c"],
        &["-k", "--dry-run", "echo", ":::", ":::", "a"],
    ] {
        same_as_gnu(args, b"");
    }
    let r = same_as_gnu(&["-k", "--dry-run", "echo", ":::", "x", "y", ":::+"], b"");
    assert_eq!(r.stdout, "echo x ''\n");
}
