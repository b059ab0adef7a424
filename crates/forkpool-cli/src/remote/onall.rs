//! `--onall` and `--nonall`: the same jobs on every host.
//!
//! As GNU parallel does it: one inner `forkpool -j1 -S HOST ...` per host,
//! run as the jobs of an outer run (`-j` hosts at once; all of them by
//! default). Each inner run reads the same input (copied once into
//! unnamed temporary files, which the inner runs open through
//! `/proc/PID/fd`, so nothing is left on disk even if we are killed) and
//! runs its jobs in order on its host. So each host's output comes as one
//! group, `--tag` prefixes lines with the host, the joblog has a line per
//! job per host (several with sequence number 1), and the exit status is
//! the number of hosts where something failed.
//!
//! `--nonall` runs the command alone (no arguments) on every host.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::OnAll;
use crate::config::{Config, Resume, Tag};
use crate::flags::{Source, SourceArg};
use crate::replace::push_quoted;

/// Options that stay with the outer run, or that the inner runs get in
/// another form.
const OUTER_ONLY: &[&str] = &[
    "sshlogin",
    "sshloginfile",
    "onall",
    "nonall",
    "jobs",
    "joblog",
    "tag",
    "tagstring",
    "results",
    "arg_files",
    "bar",
    "progress",
    "eta",
    "halt",
    "filter_hosts",
    "resume",
    "resume_failed",
];

/// Options GNU parallel's `--onall` passes to neither run: each host
/// gets every argument as a job of its own whatever `-n`, `-N`, `-X`,
/// `-m`, `--xargs`, `-L`, `-l` say, `-t` shows nothing, `--dry-run` runs
/// the jobs and `--silent` does not undo `-v`. (`-v` goes to the inner
/// runs only: the hosts' commands are shown, not the inner runs'.)
const IGNORED: &[&str] = &[
    "max_args",
    "max_replace_args",
    "context_replace",
    "multiple",
    "xargs",
    "max_lines_l",
    "max_lines",
    "verbose",
    "silent",
    "dry_run",
];

/// Runs `--onall`/`--nonall`; returns the exit status. `options` are the
/// option words as typed (before the command).
pub(crate) fn run(config: &Config, options: &[OsString]) -> i32 {
    match run_inner(config, options) {
        Ok(status) => status,
        Err(message) => {
            error!("{message}");
            255
        }
    }
}

fn run_inner(config: &Config, options: &[OsString]) -> Result<i32, String> {
    let on_all = config.remote.on_all.unwrap_or(OnAll::Jobs);
    let logins = if config.remote.filter_hosts {
        super::cluster::reachable(&config.remote, config.termseq.clone())?
    } else {
        config.remote.logins.clone()
    };
    let mut kept = inner_options(options)?;
    // Under the name we were invoked by, so that the inner runs' messages
    // say `parallel:` when we do.
    let exe = crate::program::self_path().map_err(|e| format!("cannot find the forkpool program: {e}"))?;
    let pid = std::process::id();
    let proc_path = |file: &File| format!("/proc/{pid}/fd/{}", file.as_raw_fd());

    // The input, once, for every host.
    let mut inputs: Vec<(File, bool)> = Vec::new();
    let sources = if on_all == OnAll::Jobs && config.sources.is_empty() {
        vec![Source {
            arg: SourceArg::File("-".into()),
            linked: false,
        }]
    } else {
        config.sources.clone()
    };
    for source in sources {
        inputs.push((copy_source(&source.arg, &config.delimiter)?, source.linked));
    }
    // `--nonall` given arguments anyway: GNU parallel adds its `\0noarg`
    // as one more input source, so each argument is a job, its `{}` the
    // argument and a space (the `\0noarg` is nothing). A delimiter with a
    // NUL in it (`-0`) cannot carry that value: then the arguments are all
    // there is, as with --onall (GNU's shell fails on each job).
    let no_args_alone = on_all == OnAll::NoArgs && inputs.is_empty();
    if on_all == OnAll::NoArgs && !no_args_alone && !config.delimiter.contains(&0) {
        let noarg = SourceArg::Values(vec![OsString::from_vec(crate::replace::NOARG.to_vec())]);
        inputs.push((copy_source(&noarg, &config.delimiter)?, false));
    }
    let command = command_words(config, no_args_alone);
    if config.quote && no_args_alone {
        kept.retain(|word| word != "--quote");
    }

    let mut joblogs: Vec<File> = Vec::new();
    let mut lines: Vec<OsString> = Vec::new();
    for login in &logins {
        let mut words: Vec<Vec<u8>> = vec![exe.as_os_str().as_bytes().to_vec()];
        words.extend(kept.iter().map(|w| w.as_bytes().to_vec()));
        words.push(b"-j1".to_vec());
        words.push(b"-S".to_vec());
        words.push(login.text.replace(',', ",,").into_bytes());
        if config.tag_option && config.tag != Tag::None {
            words.push(b"--tagstring".to_vec());
            words.push(login.name().into_bytes());
        }
        if config.joblog.is_some() {
            let log = tempfile::tempfile().map_err(|e| format!("cannot create a temporary joblog: {e}"))?;
            words.push(b"--joblog".to_vec());
            words.push(proc_path(&log).into_bytes());
            joblogs.push(log);
        }
        match on_all {
            OnAll::NoArgs if no_args_alone => {
                // GNU parallel's one argument, `\0noarg`, which is nothing
                // in the command (`{}`) and leaves `{#}` and the rest as
                // usual: what -N0 makes of a value.
                words.push(b"-N0".to_vec());
                words.push(b"--".to_vec());
                words.extend(command.iter().cloned());
                words.push(b":::".to_vec());
                words.push(Vec::new());
            }
            _ => {
                words.push(b"--".to_vec());
                words.extend(command.iter().cloned());
                for (file, linked) in &inputs {
                    words.push(if *linked { b"::::+".to_vec() } else { b"::::".to_vec() });
                    words.push(proc_path(file).into_bytes());
                }
            }
        }
        let mut line = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            push_quoted(&mut line, word);
        }
        lines.push(OsString::from_vec(line));
    }

    // The outer run: one job per host.
    let mut outer = config.clone();
    outer.command = Vec::new();
    outer.sources = vec![Source {
        arg: SourceArg::Values(lines),
        linked: false,
    }];
    outer.remote = super::Settings::default();
    outer.joblog = None;
    outer.tag = Tag::None;
    outer.results = None;
    outer.resume = Resume::No;
    outer.timeout = None;
    outer.delay = None;
    outer.retries = 1;
    outer.halt = crate::halt::Halt::default();
    outer.quote = false;
    outer.batching = crate::config::Batching::Single;
    outer.multi = crate::replace::Multi::Single;
    // Each host's line is one outer job's whole command, shown by no -v or
    // -t and run whatever -N0, -X, -L or --dry-run say (as GNU's).
    outer.no_args = false;
    outer.spread = false;
    outer.xargs.max_lines = None;
    outer.xargs.xargs = false;
    outer.show.stdout = 0;
    outer.verbose = false;
    outer.dry_run = false;
    outer.colsep = None;
    outer.header = None;
    outer.delimiter = b"\n".to_vec();
    if config.remote.jobs.is_none() {
        outer.jobs = logins.len().max(1);
    }
    let prepared = crate::jobs::prepare(&outer).map_err(|e| e.0)?;
    let status = crate::run::Runner::new(&outer, prepared)?.run();

    if let Some((path, append)) = &config.joblog {
        merge_joblogs(path, *append, &mut joblogs).map_err(|e| {
            format!(
                "cannot write the joblog '{}': {}",
                path.display(),
                crate::jobs::io_reason(&e)
            )
        })?;
    }
    Ok(status)
}

/// The command words the inner runs get. With `--nonall -q` (`no_args`:
/// no arguments given) they are quoted here and the inner runs get no
/// `-q`, as GNU parallel does it: a quoted `{}`, which is nothing, leaves
/// an empty word `''`, not none. (Given arguments, `-q` is passed on: GNU's
/// way quotes them wrongly, see README.md.)
fn command_words(config: &Config, no_args: bool) -> Vec<Vec<u8>> {
    if !config.quote || !no_args {
        return config.command.clone();
    }
    config
        .command
        .iter()
        .map(|word| {
            let mut quoted = Vec::new();
            push_quoted(&mut quoted, word);
            quoted
        })
        .collect()
}

/// The option words the inner runs get: all as typed, in their long
/// form, but those of the outer run.
fn inner_options(options: &[OsString]) -> Result<Vec<OsString>, String> {
    let command = crate::flags::command();
    // Any spelling the command line takes (see `long_names`).
    let by_long = |name: &str| match crate::long_names::find(&command, name) {
        crate::long_names::Name::Option(arg) => Some(arg),
        _ => None,
    };
    let by_short = |c: char| crate::long_names::short(&command, c);
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let mut kept: Vec<OsString> = Vec::new();
    let mut keep = |arg: &clap::Arg, value: Option<OsString>| {
        if OUTER_ONLY.contains(&arg.get_id().as_str()) || IGNORED.contains(&arg.get_id().as_str()) {
            return;
        }
        let name = match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => format!("-{}", arg.get_short().unwrap_or('?')),
        };
        match value {
            Some(v) if arg.is_require_equals_set() => {
                let mut word = OsString::from(format!("{name}="));
                word.push(v);
                kept.push(word);
            }
            Some(v) => {
                kept.push(name.into());
                kept.push(v);
            }
            None => kept.push(name.into()),
        }
    };
    let unknown = |w: &str| format!("cannot pass the option {w} on to --onall's runs");
    let mut i = 0;
    while i < options.len() {
        let word = options[i].to_string_lossy().into_owned();
        i += 1;
        if word == "--" {
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(OsString::from(v))),
                None => (long, None),
            };
            let arg = by_long(name).ok_or_else(|| unknown(&word))?;
            // An optional value (`--replace [REPL]`) is the next word only
            // when that is not an option, as the command line parses it.
            let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            let next_is_option = options.get(i).is_none_or(|w| w.to_string_lossy().starts_with('-'));
            let value =
                if inline.is_some() || !takes_value(arg) || arg.is_require_equals_set() || (optional && next_is_option)
                {
                    inline
                } else {
                    i += 1;
                    options.get(i - 1).cloned()
                };
            keep(arg, value);
            continue;
        }
        let chars: Vec<char> = word.chars().skip(1).collect();
        let mut k = 0;
        while k < chars.len() {
            let arg = by_short(chars[k]).ok_or_else(|| unknown(&word))?;
            if takes_value(arg) {
                let rest: String = chars[k + 1..].iter().collect();
                let value = if rest.is_empty() {
                    i += 1;
                    options.get(i - 1).cloned()
                } else {
                    Some(OsString::from(rest))
                };
                keep(arg, value);
                break;
            }
            keep(arg, None);
            k += 1;
        }
    }
    Ok(kept)
}

/// Copies an input source into an unnamed temporary file.
fn copy_source(source: &SourceArg, delimiter: &[u8]) -> Result<File, String> {
    let mut file = tempfile::tempfile().map_err(|e| format!("cannot create a temporary file: {e}"))?;
    let copied = match source {
        SourceArg::Values(values) => values.iter().try_for_each(|v| {
            file.write_all(v.as_bytes())?;
            file.write_all(delimiter)
        }),
        SourceArg::File(path) if path.as_os_str() == "-" => io::copy(&mut io::stdin().lock(), &mut file).map(drop),
        SourceArg::File(path) => File::open(path).and_then(|mut f| io::copy(&mut f, &mut file)).map(drop),
    };
    copied.map_err(|e| format!("cannot read input: {}", crate::jobs::io_reason(&e)))?;
    Ok(file)
}

/// Appends the inner runs' joblog lines to the real joblog.
fn merge_joblogs(path: &std::path::Path, append: bool, logs: &mut [File]) -> io::Result<()> {
    let (mut out, _) = crate::joblog::Joblog::open(
        path,
        if append {
            crate::joblog::Open::Append
        } else {
            crate::joblog::Open::Create
        },
    )?;
    for log in logs {
        let mut text = Vec::new();
        log.rewind()?;
        log.read_to_end(&mut text)?;
        for line in text.split_inclusive(|&b| b == b'\n').skip(1) {
            out.write_raw(line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn inner_runs_get_the_options_but_the_outer_ones() {
        let kept = inner_options(&words(&[
            "-kS",
            "h1,h2",
            "--onall",
            "-j3",
            "--timeout",
            "5",
            "--tag",
            "-vt",
            "--dry-run",
        ]))
        .unwrap();
        assert_eq!(kept, words(&["--keep-order", "--timeout", "5", "-v"]));
        let kept = inner_options(&words(&["--env=A", "--replace", "--joblog", "x", "-n1"])).unwrap();
        assert_eq!(kept, words(&["--env", "A", "--replace"]));
        let kept = inner_options(&words(&["--replace", "R", "-N2", "-k"])).unwrap();
        assert_eq!(kept, words(&["--replace", "R", "--keep-order"]));
    }
}
