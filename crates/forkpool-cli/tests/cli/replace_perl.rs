//! `{= perl expression =}`: GNU parallel's documented examples, one perl
//! co-process that evaluates every job and keeps its variables,
//! expressions that need the job slot, `skip()`, an expression that dies,
//! the co-process going when forkpool is killed, and a value holding a
//! NUL byte (the command ends there, as `exec` reads it).

use super::gnu::same_as_gnu_with_messages;
use super::replace::ok;
use super::*;

#[test]
fn perl_expressions_as_gnu_documents_them() {
    // man parallel and man parallel_tutorial.
    assert_eq!(
        ok(&["echo", "{= s:\\.[^.]+$::;s:\\.[^.]+$::; =}", ":::", "foo.tar.gz"]),
        ["foo"]
    );
    assert_eq!(
        ok(&[
            "-k",
            "echo",
            "Job",
            "{#}",
            "of",
            "{= $_=total_jobs() =}",
            ":::",
            "1",
            "2",
            "3"
        ]),
        ["Job 1 of 3", "Job 2 of 3", "Job 3 of 3"]
    );
    assert_eq!(
        ok(&["echo", "{}", "shell", "quoted", "is", "{= $_=Q($_) =}", ":::", "*/!#$"]),
        ["*/!#$ shell quoted is '*/!#$'"]
    );
    let r = run(&[
        "-k",
        "echo",
        "{= if($_==3) { skip() } =}",
        ":::",
        "1",
        "2",
        "3",
        "4",
        "5",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["1", "2", "4", "5"], 1));
    let r = run(&[
        "-k",
        "echo",
        "{= if($arg[1]==$arg[2]) { skip() } =}",
        ":::",
        "1",
        "2",
        ":::",
        "1",
        "2",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["1 2", "2 1"], 2));
    assert_eq!(
        ok(&[
            "echo",
            "{=2 s:\\.[^.]+$::;s:\\.[^.]+$::; =} {1}",
            ":::",
            "bar",
            ":::",
            "foo.tar.gz"
        ]),
        ["foo bar"]
    );
    // `{= perl =}` split over several words, and over lines.
    assert_eq!(ok(&["echo", "{=", "s/a/b/", "=}", ":::", "a"]), ["b"]);
    assert_eq!(ok(&["echo {=\n s/a/b/\n=}x", ":::", "a"]), ["bx"]);
    assert_eq!(ok(&["-k", "echo {}\necho {.}", ":::", "a.b"]), ["a.b", "a"]);
    // Values are quoted unless uq(); a command starting with one is not.
    assert_eq!(
        run(&["--dry-run", "echo", "{= $_=\"x y\" =}", ":::", "a"]).stdout,
        "echo 'x y'\n"
    );
    assert_eq!(
        run(&["--dry-run", "echo", "{= $_=\"x y\"; uq() =}", ":::", "a"]).stdout,
        "echo x y\n"
    );
    assert_eq!(
        run(&["--dry-run", "my_{= $_=\"x y\" =}", ":::", "a"]).stdout,
        "my_x y\n"
    );
    // What the helpers return.
    let r = ok(&[
        "-j1",
        "echo",
        "{= $_=seq().slot().pQ('$x') =}",
        "{= $_=yyyy_mm_dd() =}",
        "{= $_=hash($_) =}",
        ":::",
        "a",
    ]);
    let words: Vec<&str> = r[0].split(' ').collect();
    assert_eq!(words[0], "11\\$x");
    assert!(words[1].len() == 10 && words[1].as_bytes()[4] == b'-', "{}", words[1]);
    assert!(!words[2].is_empty());
    // --tagstring and --results may hold them too.
    assert_eq!(
        ok(&["-k", "--tagstring", "{= $_=seq()*2 =}", "echo", ":::", "a", "b"]),
        ["2\ta", "4\tb"]
    );
}

#[test]
fn one_perl_evaluates_every_job_and_keeps_its_variables() {
    // Variables live from job to job, in job order, as in GNU parallel.
    let numbers: Vec<String> = (1..=300).map(|i| i.to_string()).collect();
    let mut args = vec!["-k", "echo", "{= $n++; $_=$n =}", "{= $_=$$ =}", ":::"];
    args.extend(numbers.iter().map(String::as_str));
    let lines = ok(&args);
    assert_eq!(lines.len(), 300);
    let pids: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(pids.len(), 1, "one perl for every job: {pids:?}");
    let counts: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(counts, numbers);
    // From standard input too (read ahead in batches).
    let input: String = (1..=300).map(|i| format!("{i}\n")).collect();
    let r = run_with(&["-k", "echo", "{= $_ *= 2 =}"], input.as_bytes());
    assert_eq!(r.lines().last(), Some(&"600"));
    assert_eq!(r.lines().len(), 300);
}

#[test]
fn expressions_that_need_the_slot_are_evaluated_as_the_job_starts() {
    let r = ok(&[
        "-k",
        "-j2",
        "echo",
        "{%}={= $_=slot() =}={= $_=$job->slot() =}",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ]);
    for line in &r {
        let parts: Vec<&str> = line.split('=').collect();
        assert!(parts[0] == parts[1] && parts[1] == parts[2], "{line}");
        assert!(["1", "2"].contains(&parts[0]), "{line}");
    }
}

#[test]
fn an_expression_that_dies_on_a_later_job_stops_new_jobs() {
    // GNU parallel dies at that job; the jobs before it ran. forkpool
    // starts no job from there on, lets the running ones finish, says so
    // and exits 255.
    let r = run(&[
        "-k",
        "-j1",
        "echo",
        "{= die \"bad\\n\" if /c/ =}",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["a", "b"], 255));
    assert_eq!(
        r.stderr,
        "forkpool: Error: {= die \"bad\\n\" if /c/ =} died in job 3: bad\n"
    );
}

#[test]
fn jobs_running_when_an_expression_dies_finish_even_if_they_print_afterwards() {
    // Jobs 1 and 2 run while job 3's expression dies; what they print
    // after that does not get them killed.
    let r = run(&[
        "-k",
        "-j3",
        "echo start {= die \"bad\\n\" if /c/ =}; sleep 0.5; echo done {}",
        ":::",
        "a",
        "b",
        "c",
    ]);
    assert_eq!(
        (r.lines(), r.code),
        (vec!["start a", "done a", "start b", "done b"], 255),
        "{}",
        r.stderr
    );
}

#[test]
fn skipped_jobs_are_logged_with_exit_value_minus_two() {
    let d = Dir::new();
    let log = d.s("log");
    let r = run(&[
        "-k",
        "--joblog",
        &log,
        "echo",
        "{= skip() if /b/ =}",
        ":::",
        "a",
        "b",
        "c",
    ]);
    assert_eq!((r.lines(), r.code), (vec!["a", "c"], 1));
    let rows = joblog_rows(Path::new(&log));
    let exits: Vec<&str> = rows.iter().map(|r| r[6].as_str()).collect();
    assert_eq!(exits, ["0", "-2", "0"]);
    assert_eq!(rows[1][8], "echo b");
}

#[test]
fn the_perl_co_process_goes_when_forkpool_is_killed() {
    let d = Dir::new();
    let pids = d.s("pids");
    let mut child = command(&[
        "-j1",
        &format!("echo {{= $_=$$ =}} >> {pids}; sleep 30"),
        ":::",
        "a",
        "b",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || !pids_in(Path::new(&pids)).is_empty()),
        "the job never started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_all_dead(Path::new(&pids));
}

#[test]
fn a_nul_byte_in_a_perl_value_ends_the_command_there_as_in_gnu_parallel() {
    // With -N0 `$_` starts as GNU's `\0noarg`: `$_ .= "x"` keeps it, and
    // the shell gets the command only up to the NUL (`exec` passes C
    // strings), so an open quote; without quotes, an empty `echo`.
    for args in [
        &["-N0", "echo", r#"{= $_ .= "x" =}"#, ":::", "a", "b"][..],
        &["-n0", "-q", "echo", r#"{= $_ .= "x" =}"#, ":::", "a", "b"],
        &["-k", "echo", r#"{= $_ = "a\0b" =}"#, ":::", "x"],
        &["-N0", "echo", r#"p{= $_ .= "x"; uq() =}q"#, ":::", "a", "b"],
        &["-N0", "echo", r#"{= $_ = "" =}"#, ":::", "a", "b"],
    ] {
        same_as_gnu_with_messages(args, b"");
    }
}
