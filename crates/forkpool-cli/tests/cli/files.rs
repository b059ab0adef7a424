//! `--files`, `--files0`, `--tmpdir`, `--compress` (and its programs),
//! `$TMPDIR`, `$PARALLEL_TMP`, `--process-slot-var`.

use super::gnu::same_as_gnu;
use super::*;

/// The files a run named, each with its content.
fn named_files(names: &str, end: char) -> Vec<(String, String)> {
    names
        .split_terminator(end)
        .map(|name| {
            (
                name.to_owned(),
                std::fs::read_to_string(name).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        })
        .collect()
}

#[test]
fn files_keeps_each_jobs_output_in_a_file_and_prints_its_name() {
    let d = Dir::new();
    let tmp = d.s("");
    let r = run(&[
        "-k",
        "--tmpdir",
        &tmp,
        "--files",
        "echo out{}; echo err{} >&2",
        ":::",
        "a",
        "b",
    ]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, ""),
        "stderr is thrown away, as GNU parallel does"
    );
    let files = named_files(&r.stdout, '\n');
    assert_eq!(files.len(), 2);
    for ((name, content), value) in files.iter().zip(["a", "b"]) {
        let base = Path::new(name).file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&tmp), "{name} is not in --tmpdir");
        assert!(
            base.starts_with("par") && base.ends_with(".par") && base.len() == 12,
            "{name}"
        );
        assert_eq!(content, &format!("out{value}\n"));
    }
    // --files0 ends names with NUL; -v's line goes in the file; tags tag
    // the name; the joblog counts the file's bytes.
    let log = d.s("log");
    let r = run(&[
        "--tmpdir", &tmp, "--files0", "-v", "--tag", "--joblog", &log, "echo", ":::", "x",
    ]);
    let name = r.stdout.strip_prefix("x\t").unwrap();
    assert_eq!(
        named_files(name, '\0'),
        [(name.trim_end_matches('\0').to_owned(), "echo x\nx\n".to_owned())]
    );
    assert_eq!(super::joblog_rows(Path::new(&log))[0][5], "9");
    // -u wins, as in GNU parallel: the output is printed.
    same_as_gnu(&["-u", "--files", "echo", ":::", "a"], b"");
}

#[test]
fn a_killed_run_leaves_no_files_of_its_running_jobs() {
    // A --files file gets its name when its job ends: until then it has
    // none, so SIGKILL leaves nothing half-written behind.
    let d = Dir::new();
    let tmp = d.s("");
    let mut child = spawn_piped(&[
        "--tmpdir",
        &tmp,
        "--files",
        "seq 1000; touch $TMPDIR/started{}; sleep 100",
        ":::",
        "1",
        "2",
    ]);
    let started = || ["started1", "started2"].iter().all(|f| d.path(f).exists());
    assert!(wait_for(Duration::from_secs(30), started), "the jobs did not start");
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d.path(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("started"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(entries(), Vec::<String>::new(), "no file is named while its job runs");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(entries(), Vec::<String>::new());
}

#[test]
fn a_killed_run_leaves_no_files_of_finished_jobs_keep_order_held_back() {
    // With -k the names of jobs 2 and 3 wait for job 1's: their files stay
    // unnamed until then, so SIGKILL leaves none of them behind.
    let d = Dir::new();
    let tmp = d.s("");
    let mut child = spawn_piped(&[
        "-k",
        "--tmpdir",
        &tmp,
        "--files",
        "seq 1000; touch $TMPDIR/ended{}; if [ {} = 1 ]; then sleep 100; fi",
        ":::",
        "1",
        "2",
        "3",
    ]);
    let ended = || ["ended1", "ended2", "ended3"].iter().all(|f| d.path(f).exists());
    assert!(wait_for(Duration::from_secs(30), ended), "the jobs did not run");
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d.path(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("ended"))
            .collect();
        names.sort();
        names
    };
    // Time for jobs 2 and 3 to be reaped and their files settled (when
    // files were named at the end of their job, two appeared here).
    wait_for(Duration::from_secs(3), || !entries().is_empty());
    assert_eq!(
        entries(),
        Vec::<String>::new(),
        "no file is named before its name is printed"
    );
    super::signal(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(entries(), Vec::<String>::new());
}

#[test]
fn files_keep_order_names_files_as_their_names_are_printed() {
    let d = Dir::new();
    let tmp = d.s("t");
    std::fs::create_dir(&tmp).unwrap();
    let r = run(&[
        "-k",
        "--tmpdir",
        &tmp,
        "--files",
        "--tag",
        "sleep 0.{}; echo {}",
        ":::",
        "3",
        "1",
        "2",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 3);
    for (line, value) in lines.iter().zip(["3", "1", "2"]) {
        let (tag, name) = line.split_once('\t').unwrap();
        assert_eq!(tag, value);
        assert_eq!(std::fs::read_to_string(name).unwrap(), format!("{value}\n"));
    }
}

#[test]
fn files_with_results_names_the_results_file() {
    let d = Dir::new();
    let res = d.s("res");
    let r = run(&["-k", "--files", "--results", &res, "echo", ":::", "a", "b"]);
    assert_eq!(r.stdout, format!("{res}/1/a/stdout\n{res}/1/b/stdout\n"));
    assert_eq!(std::fs::read_to_string(format!("{res}/1/b/stdout")).unwrap(), "b\n");
}

#[test]
fn jobs_get_tmpdir_parallel_tmp_and_the_slot_variable() {
    let d = Dir::new();
    let tmp = d.s("t");
    std::fs::create_dir(&tmp).unwrap();
    let r = run(&[
        "--tmpdir",
        &tmp,
        "echo $TMPDIR; echo $PARALLEL_TMP; touch $PARALLEL_TMP; echo $PARALLEL_JOBSLOT0 $PARALLEL_SSHLOGIN {}",
        ":::",
        "a",
    ]);
    let lines = r.lines();
    assert_eq!(lines[0], tmp);
    assert!(
        lines[1].starts_with(&format!("{tmp}/par")) && lines[1].len() == tmp.len() + 9,
        "{}",
        lines[1]
    );
    assert!(
        !Path::new(lines[1]).exists(),
        "$PARALLEL_TMP is removed when the job ends"
    );
    assert_eq!(lines[2], "0 : a");
    let r = same_as_gnu(
        &["-j1", "--process-slot-var=name", "-k", "echo", "$name", "{}"],
        b"a\nb\n",
    );
    assert_eq!(r.stdout, "0 a\n0 b\n");
    let r = same_as_gnu(
        &[
            "-j2",
            "--process-slot-var",
            "name",
            "sleep 0.{}; echo $name",
            ":::",
            "5",
            "1",
        ],
        b"",
    );
    assert_eq!(r.sorted(), ["0", "1"]);
}

#[test]
fn parallel_tmp_never_names_something_that_exists_and_differs_between_running_jobs() {
    let d = Dir::new();
    let tmp = d.s("t");
    std::fs::create_dir(&tmp).unwrap();
    // The names three jobs of `script` were given, each checked free.
    let names = |jobs: &str, script: &str| -> std::collections::BTreeSet<String> {
        let job = format!("test ! -e $PARALLEL_TMP && {script} && echo $PARALLEL_TMP");
        let r = run(&[jobs, "--tmpdir", &tmp, &job, ":::", "a", "b", "c"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.lines().into_iter().map(str::to_owned).collect()
    };
    // Each job takes its name with a directory, which the end of the job
    // cannot remove: no later job may be given that name again.
    assert_eq!(names("-j1", "mkdir $PARALLEL_TMP").len(), 3);
    // Jobs that run at the same time have names of their own, and each
    // name is gone when its job has ended.
    let running = names("-j3", "touch $PARALLEL_TMP && sleep 0.3");
    assert_eq!(running.len(), 3, "{running:?}");
    assert!(running.iter().all(|n| !Path::new(n).exists()), "{running:?}");
}

#[test]
fn an_unwritable_tmpdir_is_one_line_error_before_any_job() {
    let d = Dir::new();
    let marker = d.s("ran");
    let job = format!("touch {marker}");
    let file = d.file("plain", "");
    for tmpdir in ["/no/such/dir", file.as_str()] {
        let r = run(&["--tmpdir", tmpdir, &job, ":::", "a"]);
        assert_eq!(r.code, 255, "{r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("Cannot write temporary files in {tmpdir}")),
            "{}",
            r.stderr
        );
        let env = command(&[&job, ":::", "a"]).env("TMPDIR", tmpdir).output().unwrap();
        assert_eq!(env.status.code(), Some(255));
    }
    assert!(!Path::new(&marker).exists());
}

#[test]
fn compress_prints_the_same_output() {
    same_as_gnu(&["--compress", "-k", "echo", ":::", "a", "b"], b"");
    same_as_gnu(
        &["--compress", "-k", "-j2", "seq {}; echo {} >&2", ":::", "30000", "3"],
        b"",
    );
    same_as_gnu(
        &["--compress-program", "gzip", "-k", "--tag", "seq", ":::", "3", "2"],
        b"",
    );
    let r = run(&["--compress", "-k", "--lb", "-j2", "seq 2 {}", ":::", "4", "3"]);
    assert_eq!(r.stdout, "2\n3\n4\n2\n3\n");
}

#[test]
fn compress_with_files_compresses_the_files() {
    let d = Dir::new();
    let tmp = d.s("");
    let r = run(&[
        "--tmpdir",
        &tmp,
        "--compress-program",
        "gzip",
        "--files",
        "seq",
        ":::",
        "5",
    ]);
    let name = r.stdout.trim_end();
    let bytes = std::fs::read(name).unwrap();
    assert_eq!(&bytes[..2], b"\x1f\x8b", "a gzip file");
    let back = Command::new("gzip").args(["-dc", name]).output().unwrap();
    assert_eq!(back.stdout, b"1\n2\n3\n4\n5\n");
}

#[test]
fn a_failing_or_missing_compressor() {
    // As GNU parallel: it is reported, and the job failed.
    let r = same_as_gnu(
        &[
            "--compress-program",
            "false",
            "--decompress-program",
            "cat",
            "echo",
            ":::",
            "a",
        ],
        b"",
    );
    // GNU parallel's words: `parallel: Error: false failed.`
    assert_eq!(r.stderr, "forkpool: Error: false failed.\n");
    let d = Dir::new();
    let marker = d.s("ran");
    let r = run(&[
        "--compress-program",
        "no-such-zipper",
        &format!("touch {marker}"),
        ":::",
        "a",
    ]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            255,
            "forkpool: Error: --compress-program: 'no-such-zipper' is not a program that can run.\n"
        )
    );
    assert!(!Path::new(&marker).exists());
}

#[test]
fn a_bad_process_slot_variable_is_an_error() {
    let r = run(&["--process-slot-var", "a=b", "echo", ":::", "a"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            255,
            "forkpool: Error: --process-slot-var \"a=b\" is not a variable name\n"
        )
    );
}

/// Every file under `root` (relative, sorted) with its content.
fn tree(root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                found.push((format!("{name}/"), String::new()));
                dirs.push(path);
            } else {
                found.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn results_with_dry_run_print_nothing_and_leave_gnus_files() {
    // GNU parallel shows no command, and writes each job's `seq` and an
    // empty `stderr` (no `stdout`: nothing ran).
    for results in ["{root}/res", "{root}/res/{}"] {
        let (ours, theirs) = (Dir::new(), Dir::new());
        let args = |d: &Dir| {
            let path = results.replace("{root}", &d.s(""));
            ["-k", "--results", &path, "--dry-run", "echo", ":::", "a", "b"].map(str::to_owned)
        };
        let (a, b) = (args(&ours), args(&theirs));
        let r = run(&a.each_ref().map(String::as_str));
        let gnu = super::gnu::gnu_with(&b.each_ref().map(String::as_str), b"");
        assert_eq!((r.stdout.as_str(), r.code), ("", 0), "{results}: {}", r.stderr);
        assert_eq!(
            (gnu.stdout.as_str(), gnu.code),
            ("", 0),
            "{results}: GNU {}",
            gnu.stderr
        );
        let tree_ours = tree(&ours.path("res"));
        assert!(
            tree_ours.iter().any(|(n, c)| n.ends_with("seq") && c == "2"),
            "{tree_ours:?}"
        );
        assert_eq!(tree_ours, tree(&theirs.path("res")), "{results}");
    }
}

#[test]
fn a_results_table_with_dry_run_holds_the_commands_as_gnus() {
    // GNU parallel's row per job, with the shown command as its output.
    let table = |program: &mut Command| {
        let d = Dir::new();
        let path = d.s("res.csv");
        let out = program
            .args(["-k", "--results", &path, "--dry-run", "echo", ":::", "a", "b"])
            .output()
            .unwrap();
        assert_eq!(
            (out.stdout.as_slice(), out.status.code()),
            (&b""[..], Some(0)),
            "{out:?}"
        );
        // Start times and run times differ from run to run.
        let text = std::fs::read_to_string(&path).unwrap();
        text.lines()
            .map(|line| {
                let mut fields: Vec<&str> = line.split(',').collect();
                if line.starts_with(|c: char| c.is_ascii_digit()) && fields.len() > 3 {
                    fields[2] = "T";
                    fields[3] = "R";
                }
                fields.join(",")
            })
            .collect::<Vec<String>>()
    };
    let ours = table(&mut command(&[]));
    assert_eq!(ours.len(), 5, "{ours:?}");
    assert_eq!(ours[1], r#"1,:,T,R,0,7,0,0,"echo a",a,"echo a"#, "{ours:?}");
    let theirs = table(Command::new("parallel").arg("--will-cite"));
    assert_eq!(ours, theirs);
}

/// `text` with `dir` as `TMP` and every temporary name in it
/// (`parXXXXX.par`, `fifXXXXX`) made the same, as the random part differs
/// from run to run.
fn tmp_names_masked(text: &str, dir: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(dir) {
        out.push_str(&rest[..at]);
        out.push_str("TMP");
        rest = &rest[at + dir.len()..];
        for (prefix, suffix) in [("/par", ".par"), ("/fif", "")] {
            let name_len = prefix.len() + 5 + suffix.len();
            if rest.starts_with(prefix) && rest.get(prefix.len() + 5..name_len) == Some(suffix) {
                out.push_str(prefix);
                out.push_str("XXXXX");
                out.push_str(suffix);
                rest = &rest[name_len..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn dry_run_with_files_prints_file_names_and_tee_shows_its_fifos_as_gnu_parallel() {
    for args in [
        &["-k", "--files", "echo", ":::", "a", "b"][..],
        &["-k", "--files", "--tag", "echo", ":::", "a", "b"],
        &["--pipe", "--files", "cat"],
        &["--pipe", "--tee", "-k", "cat", ":::", "1", "2"],
        &["--pipe", "--tee", "-k", "--files", "cat", ":::", "1", "2"],
    ] {
        let ours_dir = Dir::new();
        let gnu_dir = Dir::new();
        let run_in = |dir: &Dir, gnu: bool| {
            let tmp = dir.s("t");
            std::fs::create_dir(&tmp).unwrap();
            let mut all = vec!["--dry-run", "--tmpdir", &tmp];
            all.extend_from_slice(args);
            let r = if gnu {
                super::gnu::gnu_with(&all, b"1\n2\n3\n")
            } else {
                run_with(&all, b"1\n2\n3\n")
            };
            let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
            assert!(left.is_empty(), "{args:?} (GNU: {gnu}) left {left:?}");
            (tmp_names_masked(&r.stdout, &tmp), r.code)
        };
        let ours = run_in(&ours_dir, false);
        let mut theirs = run_in(&gnu_dir, true);
        assert!(ours.0.contains("XXXXX"), "{args:?}: {}", ours.0);
        if args.contains(&"--tee") {
            // GNU's `mkfifo`/`tee` lines come from a process of their own
            // and, loaded, now and then after the jobs' lines: forkpool's
            // come first, as GNU's do on a quiet machine; the lines are
            // compared as a set.
            assert!(ours.0.starts_with("mkfifo "), "{args:?}: {}", ours.0);
            let sorted = |text: &str| {
                let mut lines: Vec<&str> = text.lines().collect();
                lines.sort_unstable();
                lines.join("\n")
            };
            theirs.0 = if sorted(&theirs.0) == sorted(&ours.0) {
                ours.0.clone()
            } else {
                theirs.0
            };
        }
        assert_eq!(ours, theirs, "{args:?}");
    }
    // With --results, the name of the stdout file (which is not made).
    let d = Dir::new();
    let r = run(&["--dry-run", "--files", "--results", &d.s("r"), "echo", ":::", "a"]);
    assert_eq!(r.stdout, format!("{}\n", d.s("r/1/a/stdout")));
    assert!(!d.path("r/1/a/stdout").exists());
}

#[test]
fn results_dir_with_line_buffer_prints_the_stdout_files_names_as_gnu_parallel() {
    // GNU parallel's line-buffered printing of a --results DIR job prints
    // the name of its stdout file, as --files does.
    let d = Dir::new();
    let dir = d.s("r");
    for extra in [&["--compress"][..], &["--tag"], &["--tagstring", "x"], &[]] {
        let mut args = vec!["--results", &dir, "--line-buffer", "-k"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["echo {}; echo e{} >&2", ":::", "a", "b"]);
        let r = super::gnu::same_as_gnu_with_messages(&args, b"");
        assert!(r.stdout.contains(&format!("{dir}/1/a/stdout")), "{}", r.stdout);
    }
    assert_eq!(std::fs::read_to_string(d.path("r/1/b/stdout")).unwrap(), "b\n");
    assert_eq!(std::fs::read_to_string(d.path("r/1/b/stderr")).unwrap(), "eb\n");
}
