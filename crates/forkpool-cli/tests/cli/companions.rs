//! GNU parallel's companion programs on top of forkpool: `env_parallel`
//! (and `$PARALLEL_ENV`), `parset`, `parsort` and `parcat`, run as a user
//! would after putting forkpool on `PATH` as `parallel` (see the README).
//! The companions come with GNU parallel, which `.ci/run` installs.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{Dir, Run, command};

/// A directory holding `parallel` (a link to forkpool), for `PATH`.
struct Setup {
    dir: Dir,
}

impl Setup {
    fn new() -> Setup {
        let dir = Dir::new();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forkpool"), dir.path("parallel")).unwrap();
        Setup { dir }
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.0.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Runs a bash script with forkpool first on `PATH` as `parallel`.
    fn bash(&self, script: &str) -> Run {
        let out = Command::new("bash")
            .args(["-c", script])
            .env("PATH", self.path_var())
            .env("HOME", self.dir.0.path())
            .env_remove("PARALLEL")
            .env_remove("PARALLEL_ENV")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }
}

fn env_parallel_bash() -> PathBuf {
    let path = PathBuf::from("/usr/bin/env_parallel.bash");
    assert!(
        path.exists(),
        "GNU parallel's env_parallel.bash is needed (CI installs parallel)"
    );
    path
}

#[test]
fn parallel_env_is_run_before_each_job_and_not_passed_on() {
    let r = {
        let out = command(&["-k", "greet {}; echo ${PARALLEL_ENV:-unset}", ":::", "a", "b"])
            .env("PARALLEL_ENV", "greet() { echo \"hello $1\"; }")
            .output()
            .unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
    };
    assert_eq!(r, ("hello a\nunset\nhello b\nunset\n".to_owned(), Some(0)));
    // A file's content, with \001 standing for newlines.
    let d = Dir::new();
    let file = d.file("env", "x=1\u{1}y=2\n");
    let out = command(&["echo $x$y", ":::", "a"])
        .env("PARALLEL_ENV", &file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "12 a\n");
    // Its length counts against GNU parallel's command-line limit.
    let big = format!("v='{}'", "x".repeat(64_000));
    let out = command(&["echo", ":::", "a"])
        .env("PARALLEL_ENV", &big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Command line too long"));
}

#[test]
fn env_parallel_hands_functions_variables_and_aliases_to_the_jobs() {
    let s = Setup::new();
    let script = format!(
        ". {}\n\
         shopt -s expand_aliases\n\
         myfunc() {{ echo \"func $1 $myvar\"; }}\n\
         myvar='a value'\n\
         alias myalias='echo aliased'\n\
         env_parallel -k myfunc ::: 1 2\n\
         echo \"status $?\"\n\
         env_parallel -k 'myalias {{}}' ::: 3\n\
         env_parallel -k 'exit {{}}' ::: 0 1 1\n\
         echo \"status $?\"\n",
        env_parallel_bash().display()
    );
    let r = s.bash(&script);
    assert_eq!(
        r.stdout, "func 1 a value\nfunc 2 a value\nstatus 0\naliased 3\nstatus 2\n",
        "{}",
        r.stderr
    );
}

#[test]
fn parset_sets_arrays_variables_and_associative_arrays() {
    let s = Setup::new();
    let script = format!(
        ". {}\n\
         parset arr echo ::: x 'y z'\n\
         echo \"${{#arr[@]}}|${{arr[0]}}|${{arr[1]}}\"\n\
         parset 'v1 v2' 'echo {{}}; exit 3' ::: 1 2\n\
         echo \"status $? v1=$v1 v2=$v2\"\n\
         parset a,b,c echo ::: 1 2\n\
         echo \"a=$a b=$b c=${{c:-unset}}\"\n\
         declare -A m\n\
         parset m echo out ::: k1 'k 2'\n\
         echo \"${{m[k1]}}|${{m[k 2]}}\"\n\
         parset two,vars echo ::: 1 2 3\n\
         echo \"status $?\"\n\
         parset 1bad echo ::: 1\n\
         echo \"status $?\"\n\
         parset ok --no-such-option echo ::: 1\n\
         echo \"status $?\"\n\
         parset quoted echo ::: \"it's\" 'a\"b' 'x  y'\n\
         printf '[%s]' \"${{quoted[@]}}\"; echo\n",
        env_parallel_bash().display()
    );
    let r = s.bash(&script);
    assert_eq!(
        r.stdout,
        "2|x|y z\n\
         status 2 v1=1 v2=2\n\
         a=1 b=2 c=unset\n\
         out k1|out k 2\n\
         status 255\n\
         status 255\n\
         status 255\n\
         [it's][a\"b][x  y]\n",
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("parset: Error: Too few named destination variables"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("parset: Error: 1bad is an invalid variable name."),
        "{}",
        r.stderr
    );
}

#[test]
fn parset_code_is_gnu_parallels() {
    // What parset evaluates, byte for byte.
    let d = Dir::new();
    for args in [
        &["-k", "--_parset", "var,a,b", "echo", ":::", "x y", "it's"][..],
        &["-k", "--_parset", "var,arr", "echo", ":::", "1", "2"][..],
        &["-k", "--_parset", "assoc,m", "echo", ":::", "1", "a b"][..],
        &["-k", "--_parset", "var,a b", "echo {}; exit 2", ":::", "1", "2"][..],
        &["-k", "--_parset", "var,a,b", "echo", ":::", "1", "2", "3"][..],
        &["-k", "--tag", "--_parset", "var,a", "printf 'l1\\nl2\\n'", ":::", "t"][..],
    ] {
        let ours = command(args).env("HOME", d.0.path()).output().unwrap();
        let theirs = Command::new("parallel")
            .args(args)
            .env("HOME", d.0.path())
            .env("PARALLEL_SHELL", "/bin/bash")
            .output()
            .unwrap();
        assert_eq!(
            (String::from_utf8_lossy(&ours.stdout), ours.status.code()),
            (String::from_utf8_lossy(&theirs.stdout), theirs.status.code()),
            "{args:?}"
        );
    }
}

#[test]
fn parcat_reads_what_forkpool_jobs_write_into_fifos() {
    let s = Setup::new();
    let dir = s.dir.0.path().display().to_string();
    let script = format!(
        "cd {dir} && mkfifo f1 f2 && \
         (parallel -j2 'for i in 1 2 3; do echo {{}} line $i; done > {{}}' ::: f1 f2 &) && \
         parcat f1 f2 | sort"
    );
    let r = s.bash(&script);
    assert_eq!(
        r.stdout, "f1 line 1\nf1 line 2\nf1 line 3\nf2 line 1\nf2 line 2\nf2 line 3\n",
        "{}",
        r.stderr
    );
}

#[test]
fn parsort_asks_forkpool_for_the_cpu_threads() {
    // parsort sizes its work with `parallel --number-of-threads`, which it
    // reads as a number.
    let s = Setup::new();
    let r = s.bash("parallel --number-of-threads");
    let threads: usize = r.stdout.trim().parse().expect("a number");
    assert!(threads >= 1);
}

#[test]
fn parsort_sorts_files_and_stdin_on_top_of_forkpool() {
    let s = Setup::new();
    let numbers: Vec<String> = (0..20_000).map(|i| ((i * 7919) % 20_000).to_string()).collect();
    let input = s.dir.file("numbers", &(numbers.join("\n") + "\n"));
    let mut sorted: Vec<u32> = (0..20_000).collect();
    sorted.sort_unstable();
    let expected: String = sorted.iter().map(|n| format!("{n}\n")).collect();
    let r = s.bash(&format!("parsort -n {input}"));
    assert_eq!((r.stdout.len(), r.code), (expected.len(), 0), "{}", r.stderr);
    assert!(r.stdout == expected, "parsort FILE");
    let r = s.bash(&format!("parsort -n < {input}"));
    assert!(r.stdout == expected && r.code == 0, "parsort < FILE: {}", r.stderr);
}
