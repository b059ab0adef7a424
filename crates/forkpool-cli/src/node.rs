//! `forkpool node`: starts a program built with forkpool as a cluster node.
//!
//! Any program that links forkpool (with its default `cluster` feature)
//! serves its `#[forkpool::remote]` functions, instead of running its
//! `main`, when started with `FORKPOOL_NODE` set to the broker's URL (see
//! `forkpool::cluster::NODE_ENV`). This command sets that variable from
//! its options and then *becomes* the program (`exec`): SIGTERM and
//! SIGINT reach the node itself, which finishes the tasks it holds, and
//! the exit status is the node's.
//!
//! `forkpool node ...` is this command only with a `--` before the
//! program and no `:::` input source; otherwise `node` is a command to run
//! in parallel like any other (Node.js: `forkpool node script.js ::: a b`).

use std::ffi::{OsStr, OsString};
use std::num::NonZeroUsize;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use forkpool::cluster::{NODE_CA_FILE_ENV, NODE_ENV, NODE_MARKER, NODE_WORKERS_ENV};

/// The variable the broker's URL is read from when no option names it.
const BROKER_ENV: &str = "FORKPOOL_BROKER";

/// The options of `forkpool node`.
#[derive(Debug, Parser)]
#[command(
    name = "forkpool node",
    about = "Start a program built with forkpool as a cluster node: it serves its \
             #[forkpool::remote] functions (instead of running its main) until SIGTERM or SIGINT.",
    after_help = "The broker's URL (redis://user:password@host:port/db, or rediss:// for TLS) comes from \
                  --broker-file, --broker, or the FORKPOOL_BROKER variable. Prefer the file or the \
                  variable: other users can read a password given in the command line (ps)."
)]
struct NodeFlags {
    /// Worker processes of the node's pool (default: the available parallelism).
    #[arg(short = 'j', long, value_name = "N")]
    workers: Option<NonZeroUsize>,
    /// The broker's URL.
    #[arg(long, value_name = "URL", conflicts_with = "broker_file")]
    broker: Option<String>,
    /// A file whose first line is the broker's URL.
    #[arg(long, value_name = "FILE")]
    broker_file: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for rediss:// instead of the system's
    /// roots (the program needs forkpool's `tls` feature).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The program to start as a node, and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    program: Vec<OsString>,
}

/// Whether these arguments (after the program's name) ask for `forkpool
/// node`: `node` first, then a `--` before the program (or just `--help`),
/// and no `:::`-style input source.
pub(crate) fn is_node_command(args: &[OsString]) -> bool {
    let Some((first, rest)) = args.split_first() else {
        return false;
    };
    if first != "node" {
        return false;
    }
    if let [only] = rest
        && (only == "--help" || only == "-h")
    {
        return true;
    }
    let is_source = |a: &OsString| matches!(a.to_str(), Some(":::" | "::::" | ":::+" | "::::+"));
    rest.iter().any(|a| a == "--") && !rest.iter().any(is_source)
}

/// Runs `forkpool node` with these arguments (after the program's name);
/// returns only on failure, with the exit status.
pub(crate) fn run(args: Vec<OsString>) -> i32 {
    let flags = match NodeFlags::try_parse_from(
        std::iter::once(OsString::from("forkpool node")).chain(args.into_iter().skip(1)),
    ) {
        Ok(flags) => flags,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            error!("{}", crate::refusal::Refusal::of_clap(&e));
            return 255;
        }
    };
    let url = match broker_url(&flags) {
        Ok(url) => url,
        Err(message) => {
            error!("{message}");
            return 255;
        }
    };
    let Some((program, program_args)) = flags.program.split_first() else {
        error!("forkpool node: no program to start");
        return 255;
    };
    if let Err(message) = check_program(program) {
        error!("{message}");
        return 126;
    }
    let mut command = Command::new(program);
    command.args(program_args).env(NODE_ENV, url);
    if let Some(workers) = flags.workers {
        command.env(NODE_WORKERS_ENV, workers.to_string());
    }
    if let Some(ca) = &flags.ca_file {
        command.env(NODE_CA_FILE_ENV, ca);
    }
    // Only returns if the program could not be started.
    let error = command.exec();
    error!("cannot start {}: {error}", display(program));
    match error.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}

/// The broker's URL, from the options or `FORKPOOL_BROKER`.
fn broker_url(flags: &NodeFlags) -> Result<String, String> {
    if let Some(url) = &flags.broker {
        return Ok(url.clone());
    }
    if let Some(path) = &flags.broker_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read --broker-file {}: {e}", path.display()))?;
        let url = text.lines().next().unwrap_or_default().trim();
        if url.is_empty() {
            return Err(format!(
                "--broker-file {} holds no URL on its first line",
                path.display()
            ));
        }
        return Ok(url.to_owned());
    }
    match std::env::var(BROKER_ENV) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        _ => Err(format!(
            "forkpool node needs the broker's URL: --broker-file FILE, --broker URL, or {BROKER_ENV}"
        )),
    }
}

/// Checks, without running it, that `program` is a forkpool cluster
/// program: one that serves as a node when started with `FORKPOOL_NODE`.
/// Any other program would run its own `main`, with the broker's URL and
/// password in its environment. A program that cannot be found is left to
/// `exec`, which says so.
fn check_program(program: &OsStr) -> Result<(), String> {
    let Some(path) = resolve(program) else {
        return Ok(());
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(());
    };
    let shown = display(program);
    if bytes.starts_with(b"#!") {
        return Err(format!(
            "{shown} is a script; give forkpool node the program built with forkpool itself"
        ));
    }
    if memchr::memmem::find(&bytes, NODE_MARKER).is_none() {
        return Err(format!(
            "{shown} is not a forkpool cluster program (built with forkpool's `cluster` \
             feature), so it cannot serve as a node"
        ));
    }
    Ok(())
}

/// Where `program` is: itself when it names a path, else the first match
/// in `PATH`, as `exec` looks.
fn resolve(program: &OsStr) -> Option<PathBuf> {
    let path = PathBuf::from(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return Some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(&path))
        .find(|candidate| candidate.is_file())
}

fn display(program: &OsStr) -> String {
    program.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn node_is_the_subcommand_only_with_a_program_after_dashes_and_no_input_source() {
        assert!(is_node_command(&args(&["node", "--broker-file", "b", "--", "./app"])));
        assert!(is_node_command(&args(&["node", "--", "./app", "--flag"])));
        assert!(is_node_command(&args(&["node", "--help"])));
        // Node.js, run in parallel.
        assert!(!is_node_command(&args(&["node", "script.js", ":::", "a", "b"])));
        assert!(!is_node_command(&args(&["node", "--", "x.js", ":::", "a"])));
        assert!(!is_node_command(&args(&["node", "script.js"])));
        assert!(!is_node_command(&args(&["-j2", "node", "--", "x"])));
        assert!(!is_node_command(&args(&[])));
    }

    #[test]
    fn only_forkpool_cluster_programs_pass_the_check() {
        // This test binary links forkpool with its cluster feature.
        let me = std::env::current_exe().unwrap();
        assert_eq!(check_program(me.as_os_str()), Ok(()));
        let e = check_program(OsStr::new("/bin/sh")).unwrap_err();
        assert!(e.contains("not a forkpool cluster program"), "{e}");
        assert_eq!(resolve(OsStr::new("sh")).map(|p| p.is_file()), Some(true));
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("wrapper");
        std::fs::write(&script, "#!/bin/sh\nexec ./app\n").unwrap();
        let e = check_program(script.as_os_str()).unwrap_err();
        assert!(e.contains("is a script"), "{e}");
        // Left to exec, which says it cannot start it.
        assert_eq!(check_program(OsStr::new("/nonexistent/app")), Ok(()));
    }

    #[test]
    fn the_url_comes_from_the_file_the_option_or_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broker");
        std::fs::write(&file, "redis://u:p@127.0.0.1:6379/0\n# comment\n").unwrap();
        let parse = |a: &[&str]| NodeFlags::try_parse_from(std::iter::once("forkpool node").chain(a.iter().copied()));
        let flags = parse(&["--broker-file", file.to_str().unwrap(), "--", "app"]).unwrap();
        assert_eq!(broker_url(&flags).unwrap(), "redis://u:p@127.0.0.1:6379/0");
        let flags = parse(&["--broker", "redis://h", "-j", "3", "--", "app", "x"]).unwrap();
        assert_eq!(broker_url(&flags).unwrap(), "redis://h");
        assert_eq!(flags.workers.map(NonZeroUsize::get), Some(3));
        assert_eq!(flags.program, args(&["app", "x"]));
        std::fs::write(&file, "\n").unwrap();
        let flags = parse(&["--broker-file", file.to_str().unwrap(), "--", "app"]).unwrap();
        assert!(broker_url(&flags).unwrap_err().contains("no URL"));
        assert!(parse(&["--broker", "a", "--broker-file", "b", "--", "app"]).is_err());
        assert!(parse(&["-j", "0", "--", "app"]).is_err());
        assert!(parse(&["--broker", "a"]).is_err(), "a program is required");
    }
}
