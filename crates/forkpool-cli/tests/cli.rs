//! The `forkpool` command, driven as a user would drive it: every option's
//! output and exit status, checked against GNU parallel's documented
//! behaviour.
//!
//! One module per concept under `tests/cli/`, named for it. This root holds
//! what every module needs to run `forkpool` (`Run`, `Dir`, `run`,
//! `run_with`, ...); `common.rs` the other shared helpers (processes,
//! signals, joblogs, memory), and `gnu.rs` the runs of GNU parallel beside
//! forkpool.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run produced.
#[derive(Debug)]
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    fn sorted(&self) -> Vec<&str> {
        let mut lines = self.lines();
        lines.sort_unstable();
        lines
    }
}

/// A scratch directory for one test, removed afterwards.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forkpool"));
    // The shell is pinned: otherwise it is whichever shell started the tests.
    cmd.args(args)
        .env("PARALLEL_SHELL", "/bin/bash")
        .env("SHELL", "/bin/bash");
    cmd
}

/// Starts `forkpool ARGS` with all three standard streams piped.
fn spawn_piped(args: &[&str]) -> std::process::Child {
    command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `forkpool ARGS` with `stdin` as its input.
fn run_with(args: &[&str], stdin: &[u8]) -> Run {
    feed(spawn_piped(args), stdin)
}

/// Writes `stdin` to a child started with its streams piped (from a thread,
/// so that a full output pipe cannot block the writing), and waits for it.
fn feed(mut child: std::process::Child, stdin: &[u8]) -> Run {
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let run = finish(child);
    feeder.join().unwrap();
    run
}

fn run(args: &[&str]) -> Run {
    run_with(args, b"")
}

/// Runs `cmd` with no input, and its output collected.
fn output_of(cmd: &mut Command) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

// The shared helpers (named here, so that every module's `use super::*`
// finds them), and the rooms of the command, one module each.
#[path = "cli/common.rs"]
mod common;
use common::{
    assert_all_dead, children_of, cpus, is_dead, joblog_rows, peak_rss_kib, pids_in, signal, start_and_wait_for_lines,
    wait_for, watch_peak_rss,
};
#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/joblog.rs"]
mod joblog;
#[path = "cli/jobs.rs"]
mod jobs;
#[path = "cli/output.rs"]
mod output;
#[path = "cli/progress.rs"]
mod progress;
#[path = "cli/signals.rs"]
mod signals;

// The rooms of the command added since, one module each (tests/cli/*.rs).
#[path = "cli/control.rs"]
mod control;
#[path = "cli/files.rs"]
mod files;
#[path = "cli/gnu.rs"]
mod gnu;
#[path = "cli/gnu_options.rs"]
mod gnu_options;
#[path = "cli/limits.rs"]
mod limits;
#[path = "cli/misc.rs"]
mod misc;
#[path = "cli/scripts.rs"]
mod scripts;
#[path = "cli/shell.rs"]
mod shell;
#[path = "cli/sources.rs"]
mod sources;
#[path = "cli/tables.rs"]
mod tables;
#[path = "cli/verbose.rs"]
mod verbose;
#[path = "cli/xargs.rs"]
mod xargs;
// Replacement strings, perl expressions and the options around them.
#[path = "cli/no_args.rs"]
mod no_args;
#[path = "cli/parens.rs"]
mod parens;
#[path = "cli/replace.rs"]
mod replace;
#[path = "cli/replace_cache.rs"]
mod replace_cache;
#[path = "cli/replace_fill.rs"]
mod replace_fill;
#[path = "cli/replace_perl.rs"]
mod replace_perl;
#[path = "cli/replace_plus.rs"]
mod replace_plus;

// --pipe and --pipepart, and beside GNU parallel.
#[path = "cli/pipe.rs"]
mod pipe;
#[path = "cli/pipe_gnu.rs"]
mod pipe_gnu;
#[path = "cli/pipe_keys.rs"]
mod pipe_keys;
#[path = "cli/pipe_modes.rs"]
mod pipe_modes;
// Invocation ($PARALLEL, option files, -J, the options that answer and
// exit), sem, and GNU parallel's companion programs on top of forkpool.
#[path = "cli/companions.rs"]
mod companions;
#[path = "cli/guardian.rs"]
mod guardian;
#[path = "cli/invocation.rs"]
mod invocation;
#[path = "cli/sem.rs"]
mod sem;
#[path = "cli/startup.rs"]
mod startup;
// -k: sequence order, whatever starts or ends first, and whatever never runs.
#[path = "cli/order.rs"]
mod order;
