//! A `--results FILE.csv`, `.tsv` or `.json` table: its format, and beside
//! the other ways of printing (`--line-buffer`, `-u`, `--files`), against
//! GNU parallel.

use super::*;

/// A job writing a line to each stream.
const JOB: &str = "echo {}; echo e{} >&2";

/// What a run printed, and its table: start times and runtimes masked, as
/// are the random parts of temporary files' names.
#[derive(Debug, PartialEq)]
struct Tabled {
    stdout: String,
    stderr: String,
    code: i32,
    table: String,
}

/// `forkpool` (or GNU parallel) `--results DIR/t.EXT --tmpdir DIR/tmp ARGS`.
fn tabled(gnu: bool, ext: &str, args: &[&str]) -> Tabled {
    let dir = Dir::new();
    let table = dir.s(&format!("t.{ext}"));
    let tmpdir = dir.s("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let mut all = vec!["--results", &table, "--tmpdir", &tmpdir];
    all.extend_from_slice(args);
    let r = if gnu {
        super::gnu::gnu_with(&all, b"")
    } else {
        run_with(&all, b"")
    };
    let names = regex::Regex::new(&format!("{}/par[A-Za-z0-9_]{{5}}\\.par", regex::escape(&tmpdir))).unwrap();
    let times = regex::Regex::new(r"\b[0-9]+\.[0-9]{3}\b").unwrap();
    let mask = |s: &str| times.replace_all(&names.replace_all(s, "NAME"), "TIME").into_owned();
    Tabled {
        stdout: mask(&r.stdout),
        stderr: mask(&r.stderr.replace("forkpool:", "parallel:")),
        code: r.code,
        table: mask(&std::fs::read_to_string(&table).unwrap_or_default()),
    }
}

/// Asserts forkpool prints, and tables, what GNU parallel does.
fn same_table_as_gnu(ext: &str, args: &[&str]) -> Tabled {
    let ours = tabled(false, ext, args);
    assert_eq!(ours, tabled(true, ext, args), "--results t.{ext} {args:?}");
    ours
}

/// The bytes received, masked: GNU parallel's line-buffered count is its
/// own (stderr too, and an unfinished last line twice).
fn without_receive(mut t: Tabled) -> Tabled {
    let csv = regex::Regex::new(r"(?m)^([0-9]+[,\t][^,\t]*[,\t]TIME[,\t]TIME[,\t][0-9]+[,\t])[0-9]+").unwrap();
    let json = regex::Regex::new(r#""Receive": [0-9]+"#).unwrap();
    t.table = json
        .replace_all(&csv.replace_all(&t.table, "${1}R"), r#""Receive": R"#)
        .into_owned();
    t
}

#[test]
fn a_table_with_line_buffer_prints_the_lines_too_and_holds_them_as_printed() {
    for ext in ["csv", "tsv"] {
        for args in [
            &["-j1", "--line-buffer", JOB, ":::", "a", "b"][..],
            &["-j1", "--lb", "--tag", JOB, ":::", "a", "b"],
            &[
                "-k",
                "--lb",
                "--tagstring",
                "<{}>",
                "printf '{}\\nx'; echo e{} >&2",
                ":::",
                "a",
                "b",
            ],
        ] {
            let ours = without_receive(tabled(false, ext, args));
            assert_eq!(
                ours,
                without_receive(tabled(true, ext, args)),
                "--results t.{ext} {args:?}"
            );
            assert!(!ours.stdout.is_empty(), "{ours:?}");
        }
    }
}

#[test]
fn a_table_with_ungroup_prints_the_output_and_holds_none_of_it() {
    for ext in ["csv", "tsv", "json"] {
        for args in [
            &["-j1", "-u", JOB, ":::", "a", "b"][..],
            &["-j1", "-u", "--tag", JOB, ":::", "a", "b"],
            &["-k", "--ungroup", "-v", "echo", ":::", "a"],
        ] {
            let ours = same_table_as_gnu(ext, args);
            assert!(ours.stdout.contains("a\n"), "{ours:?}");
        }
    }
}

#[test]
fn a_table_with_files_prints_the_names_and_holds_them_without_their_newline() {
    for ext in ["csv", "tsv", "json"] {
        for args in [
            &["-k", "--files", JOB, ":::", "a", "b"][..],
            &["-j1", "--files", "--tag", JOB, ":::", "a", "b"],
            &["-k", "--files", "--lb", "--tagstring", "<{}>", JOB, ":::", "a", "b"],
            &["--dry-run", "-k", "--files", "--tag", JOB, ":::", "a", "b"],
        ] {
            let ours = same_table_as_gnu(ext, args);
            assert!(ours.stdout.contains("NAME\n"), "{ours:?}");
        }
    }
    // A table on standard output: only the table goes there. (The files
    // it names are left for the user: in a directory of the test's own.)
    let times = regex::Regex::new(r"[0-9]+\.[0-9]{3}|par[A-Za-z0-9_]{5}\.par").unwrap();
    let tmp = Dir::new();
    let tmp = tmp.s("");
    let args = [
        "--tmpdir",
        &tmp,
        "-k",
        "--files",
        "--tag",
        "--results",
        "-.tsv",
        JOB,
        ":::",
        "a",
        "b",
    ];
    let (ours, theirs) = (run_with(&args, b""), super::gnu::gnu_with(&args, b""));
    assert_eq!(
        times.replace_all(&ours.stdout, "X"),
        times.replace_all(&theirs.stdout, "X"),
        "{args:?}"
    );
}

#[test]
fn a_json_table_with_line_buffer_is_like_a_csv_one() {
    // GNU parallel 20221122 prints the name of a temporary file it has
    // removed instead (README: where forkpool differs, on purpose).
    let args = ["-j1", "--lb", "--tag", JOB, ":::", "a", "b"];
    let (json, csv) = (tabled(false, "json", &args), tabled(false, "csv", &args));
    assert_eq!((&json.stdout, &json.stderr, json.code), (&csv.stdout, &csv.stderr, 0));
    assert_eq!(json.stdout, "a\ta\nb\tb\n");
    assert!(
        json.table
            .contains(r#""Stdout": "a\u0009a\u000a", "Stderr": "a\u0009ea\u000a" }"#),
        "{}",
        json.table
    );
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

#[test]
fn a_table_on_stdout_gets_nothing_else_even_with_ungroup_or_line_buffer() {
    let times = regex::Regex::new(r"\b[0-9]+\.[0-9]{3}\b").unwrap();
    let masked = |r: Run| {
        without_receive(Tabled {
            stdout: String::new(),
            stderr: r.stderr,
            code: r.code,
            table: times.replace_all(&r.stdout, "TIME").into_owned(),
        })
    };
    for args in [
        &["-j1", "-u", "--results", "-.tsv", JOB, ":::", "a", "b"][..],
        &["-j1", "-u", "-v", "--results", "-.json", JOB, ":::", "a"],
        &["-j1", "--lb", "--tag", "--results", "-.csv", JOB, ":::", "a", "b"],
    ] {
        let ours = masked(run_with(args, b""));
        assert_eq!(ours, masked(super::gnu::gnu_with(args, b"")), "{args:?}");
        assert_eq!(ours.stderr, "", "{args:?}");
    }
}
