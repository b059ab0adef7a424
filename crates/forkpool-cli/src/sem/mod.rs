//! `sem`, or `forkpool --semaphore`: a counting semaphore shared by
//! independent processes, as GNU parallel's `sem`.
//!
//! `sem [-j N] [--id NAME] COMMAND` waits until fewer than N commands of
//! semaphore NAME are running, then runs COMMAND holding a slot: in the
//! background by default (`--bg`: `sem` returns as soon as the slot is
//! taken), or in the foreground with `--fg` (`sem` exits with the
//! command's status). `--wait` waits until no command of NAME runs.
//! `--semaphoretimeout`/`--st SECS` bounds the wait: positive, the command
//! runs anyway (on a slot of its own, counted like the others); negative,
//! `sem` gives up with exit status 1.
//!
//! The slots are files locked with `flock` under
//! `~/.parallel/semaphores/id-NAME/` (see `lock.rs` and `README.md`). In
//! the background case the slot is taken, and the command run, by a copy
//! of this program started for it; the `sem` the user started waits until
//! that copy holds its slot, then exits 0 (or with the copy's status if it
//! could not take one). The copy says it holds the slot over an abstract
//! Unix socket, and only a peer with its pid is believed.

mod lock;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lock::{Semaphore, Slot};

use crate::config::{Config, UsageError};
use crate::flags::{Flags, Source, SourceArg};
use crate::refusal::Refusal;

/// Set in the environment of the copy that runs a background command:
/// `PARENT_PID:SOCKET_NAME`. Never passed on to jobs.
pub(crate) const NOTIFY_VAR: &str = "FORKPOOL_SEM_NOTIFY";

/// The semaphore's options.
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct SemFlags {
    /// Work as a counting semaphore: run COMMAND when fewer than -j (default 1) commands of this --id run.
    #[arg(long = "semaphore", help_heading = "Semaphore (sem)")]
    pub(crate) semaphore: bool,
    /// The semaphore's name [default: the terminal's name, from `tty`]. Implies --semaphore.
    #[arg(
        long = "semaphore-name",
        visible_alias = "id",
        alias = "semaphorename",
        value_name = "NAME",
        allow_hyphen_values = true,
        help_heading = "Semaphore (sem)"
    )]
    pub(crate) semaphore_name: Option<String>,
    /// Wait at most SECS (s, m, h, d units): then run anyway if positive, exit 1 if negative. Implies --semaphore.
    #[arg(
        long = "semaphore-timeout",
        visible_alias = "st",
        alias = "semaphoretimeout",
        value_name = "SECS",
        allow_hyphen_values = true,
        help_heading = "Semaphore (sem)"
    )]
    pub(crate) semaphore_timeout: Option<String>,
    /// Run COMMAND in the foreground and exit with its status. Implies --semaphore.
    #[arg(long = "fg", help_heading = "Semaphore (sem)")]
    pub(crate) fg: bool,
    /// Return once COMMAND holds a slot; it runs in the background (the default). Implies --semaphore.
    #[arg(long = "bg", help_heading = "Semaphore (sem)")]
    pub(crate) bg: bool,
    /// Wait until no command of this --id runs. Implies --semaphore.
    #[arg(long = "wait", help_heading = "Semaphore (sem)")]
    pub(crate) wait: bool,
}

/// Whether the program runs as a semaphore: invoked as `sem`, or given
/// one of the semaphore's options.
pub(crate) fn requested(flags: &Flags) -> bool {
    let s = &flags.sem;
    crate::program::invoked_as() == "sem"
        || s.semaphore
        || s.semaphore_name.is_some()
        || s.semaphore_timeout.is_some()
        || s.fg
        || s.bg
        || s.wait
}

/// `--semaphoretimeout`: how long, and what then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeout {
    after: Duration,
    /// Positive: take a slot anyway. Negative: give up.
    run_anyway: bool,
}

impl Timeout {
    /// When it runs out, counted as GNU parallel counts it: in whole
    /// seconds of the clock (`time - $start_time > $timeout`), so that
    /// `--st 1` runs out at the second tick of the clock after `start`,
    /// 1 to 2 seconds on, and a slot released before then is taken
    /// without a word.
    fn deadline(&self, start: Instant) -> Instant {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let into_second = Duration::from_nanos(now.subsec_nanos().into());
        // The fewest whole seconds that are more than `after`.
        let whole = Duration::from_secs(self.after.as_secs().saturating_add(1));
        start + whole.saturating_sub(into_second)
    }
}

fn parse_timeout(text: &str) -> Result<Option<Timeout>, UsageError> {
    let (negative, magnitude) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim().strip_prefix('+').unwrap_or(text.trim())),
    };
    let after = crate::units::parse_duration(magnitude).ok_or_else(|| {
        UsageError(format!(
            "--semaphoretimeout must be seconds (or with s, m, h, d), not {text:?}"
        ))
    })?;
    Ok((!after.is_zero()).then_some(Timeout {
        after,
        run_anyway: !negative,
    }))
}

/// The semaphore's name when `--id` is not given: the terminal on our
/// standard input, as `tty` prints it, or `not a tty`.
fn default_id() -> Vec<u8> {
    rustix::termios::ttyname(std::io::stdin(), Vec::new())
        .map_or_else(|_| b"not a tty".to_vec(), |name| name.into_bytes())
}

/// Runs the semaphore; returns the exit status.
pub(crate) fn run(mut flags: Flags, args: &[OsString]) -> i32 {
    let settings = match Settings::of(&mut flags) {
        Ok(settings) => settings,
        Err(e) => {
            Refusal::from(e).report();
            return 255;
        }
    };
    let notify = Notify::from_env();
    if !settings.wait && !settings.fg && notify.is_none() {
        return detach(args);
    }
    let semaphore = match Semaphore::open(&settings.root, &settings.id) {
        Ok(semaphore) => semaphore,
        Err(e) => {
            error!("{e}");
            return 255;
        }
    };
    if settings.wait {
        return wait_for_all(&semaphore, settings.timeout);
    }
    // Checked before the wait, so that a bad command line fails at once.
    let config = match command_config(flags) {
        Ok(config) => config,
        Err(e) => {
            e.report();
            return 255;
        }
    };
    let slot = match acquire(&semaphore, settings.limit, settings.timeout) {
        Ok(slot) => slot,
        Err(code) => return code,
    };
    if let Some(notify) = notify
        && !notify.send()
    {
        // The `sem` that started us is gone (killed while we waited):
        // the user no longer wants the command.
        return 0;
    }
    let code = crate::run_config(&config);
    drop(slot);
    code
}

/// What the semaphore is.
#[derive(Debug)]
struct Settings {
    root: PathBuf,
    id: Vec<u8>,
    limit: usize,
    timeout: Option<Timeout>,
    fg: bool,
    wait: bool,
}

impl Settings {
    /// Takes the semaphore's settings out of `flags` (its `-j` is the
    /// number of slots, not of jobs of this run).
    fn of(flags: &mut Flags) -> Result<Settings, UsageError> {
        let limit = match flags.jobs.take() {
            None => 1,
            Some(j) => {
                use crate::limits::slots::{Wanted, parse_value};
                // A value, or a file holding one, as for a run's `-j`.
                let wanted = parse_value(&j).or_else(|| std::fs::read_to_string(&j).ok().and_then(|c| parse_value(&c)));
                match wanted {
                    // `-j 0%`, `-j -100`: none at once, as GNU says.
                    Some(Wanted::Exactly(0)) => return Err(UsageError("Cannot run any jobs.".to_owned())),
                    Some(Wanted::Exactly(n)) => n,
                    Some(Wanted::AsManyAsPossible) => forkpool::command::MAX_RUNNING,
                    None => {
                        // GNU parallel's words, as for a run's `-j`.
                        return Err(UsageError(crate::limits::slots::PARSE_ERROR.to_owned()));
                    }
                }
            }
        };
        let timeout = flags
            .sem
            .semaphore_timeout
            .as_deref()
            .map(parse_timeout)
            .transpose()?
            .flatten();
        let id = flags
            .sem
            .semaphore_name
            .as_ref()
            .map_or_else(default_id, |id| id.clone().into_bytes());
        Ok(Settings {
            root: crate::invocation::profile::cache_dir().join("semaphores"),
            id,
            limit,
            timeout,
            fg: flags.sem.fg,
            wait: flags.sem.wait,
        })
    }
}

/// The configuration of the one job a semaphore runs: the command with no
/// arguments (`{}` is empty), stdin passed on, and its exit status as
/// ours. As in GNU parallel, `:::` sources are ignored and the first `-a`
/// file becomes the command's standard input.
fn command_config(mut flags: Flags) -> Result<Config, Refusal> {
    let is_separator = |w: &OsString| matches!(w.to_str(), Some(":::" | ":::+" | "::::" | "::::+"));
    if let Some(end) = flags.rest.iter().position(is_separator) {
        flags.rest.truncate(end);
    }
    let arg_files = std::mem::take(&mut flags.arg_files);
    if arg_files.len() > 1 {
        return Err(Refusal::usage("A semaphore cannot take input from more files"));
    }
    if let Some(file) = arg_files.first() {
        let input = std::fs::File::open(file).map_err(|_| Refusal::usage(crate::jobs::cannot_open_input(file)))?;
        rustix::stdio::dup2_stdin(&input)
            .map_err(|e| Refusal::usage(format!("cannot read from '{}': {e}", file.display())))?;
    }
    flags.max_args = Some("0".into());
    flags.max_replace_args = None;
    flags.context_replace = false;
    flags.multiple = false;
    let mut config = Config::from_flags(flags)?;
    config.sources = vec![Source {
        arg: SourceArg::Values(vec![OsString::new()]),
        linked: false,
    }];
    config.jobs = 1;
    config.semaphore = true;
    Ok(config)
}

/// Waits for a slot, as `--semaphoretimeout` allows. `Err` holds the exit
/// status when there is none.
fn acquire(semaphore: &Semaphore, limit: usize, timeout: Option<Timeout>) -> Result<Slot, i32> {
    match wait_until(semaphore, timeout, |deadline| semaphore.try_acquire(limit, deadline)) {
        Ok(slot) => Ok(slot),
        Err(Ended::RunAnyway) => {
            warning!("Semaphore timed out. Stealing the semaphore.");
            semaphore.steal().map_err(|e| {
                error!("cannot use the semaphore: {}", crate::jobs::io_reason(&e));
                255
            })
        }
        Err(ended) => Err(ended.status()),
    }
}

/// `--wait`: until no slot is held. 0, or 1 if a negative timeout ran out.
fn wait_for_all(semaphore: &Semaphore, timeout: Option<Timeout>) -> i32 {
    match wait_until(semaphore, timeout, |_| Ok((semaphore.held()? == 0).then_some(()))) {
        Ok(()) => 0,
        Err(Ended::RunAnyway) => {
            warning!("Semaphore timed out. Stealing the semaphore.");
            0
        }
        Err(ended) => ended.status(),
    }
}

/// Why a wait ended without what it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// A positive timeout ran out.
    RunAnyway,
    /// A negative timeout ran out (said, with status 1).
    GaveUp,
    /// The semaphore could not be used (said, with status 255).
    Failed,
}

impl Ended {
    fn status(self) -> i32 {
        match self {
            Ended::RunAnyway => 0,
            Ended::GaveUp => 1,
            Ended::Failed => 255,
        }
    }
}

/// Calls `attempt` (with the deadline) until it gives something, sleeping
/// until a slot is released in between, as long as `timeout` allows.
fn wait_until<T>(
    semaphore: &Semaphore,
    timeout: Option<Timeout>,
    mut attempt: impl FnMut(Option<Instant>) -> std::io::Result<Option<T>>,
) -> Result<T, Ended> {
    let watch = semaphore.watch();
    let deadline = timeout.map(|t| t.deadline(Instant::now()));
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(watch) = &watch {
            lock::drain(watch);
        }
        match attempt(deadline) {
            Ok(Some(got)) => return Ok(got),
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => {
                error!("cannot use the semaphore: {}", crate::jobs::io_reason(&e));
                return Err(Ended::Failed);
            }
        }
        if let (Some(deadline), Some(timeout)) = (deadline, timeout)
            && Instant::now() >= deadline
        {
            if timeout.run_anyway {
                return Err(Ended::RunAnyway);
            }
            warning!("Semaphore timed out. Exiting.");
            return Err(Ended::GaveUp);
        }
        wait_for_release(watch.as_ref(), deadline, pause);
        // Without inotify (or for holders on another machine sharing the
        // directory), looking again now and then is all there is.
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Sleeps until a slot is released, the deadline, or `pause` has passed.
fn wait_for_release(watch: Option<&std::os::fd::OwnedFd>, deadline: Option<Instant>, pause: Duration) {
    let until = deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()).min(pause));
    match watch {
        Some(watch) => {
            let mut fds = [rustix::event::PollFd::new(watch, rustix::event::PollFlags::IN)];
            let timeout = rustix::time::Timespec::try_from(until).unwrap_or_default();
            let _ = rustix::event::poll(&mut fds, Some(&timeout));
        }
        None => std::thread::sleep(until),
    }
}

// ------------------------------------------------------------- detaching --

/// `--bg`: starts a copy of this program to take the slot and run the
/// command, waits until it holds the slot, and returns 0 (or the copy's
/// exit status if it ended without one: a bad option, a timeout).
fn detach(args: &[OsString]) -> i32 {
    let me = std::process::id();
    let name = format!("forkpool-sem-{me}-{:016x}", nonce());
    let listener = match SocketAddr::from_abstract_name(name.as_bytes()).and_then(|a| UnixListener::bind_addr(&a)) {
        Ok(listener) => listener,
        Err(e) => {
            error!("cannot start the background command: {e}");
            return 255;
        }
    };
    let argv0 = args.first().cloned().unwrap_or_else(|| "sem".into());
    // In a process group of its own: a `sem` run as a job of `forkpool`
    // (`parallel sem CMD ::: ...`, as GNU's examples do) returns at once,
    // and the job's group is killed when the job ends; the background
    // command, which `sem --wait` waits for, must not go with it.
    let child = std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args.get(1..).unwrap_or_default())
        .env(NOTIFY_VAR, format!("{me}:{name}"))
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            error!("cannot start the background command: {e}");
            return 255;
        }
    };
    let child_pid = child.id();
    let Ok(pidfd) = rustix::process::Pid::from_raw(child_pid as i32)
        .ok_or(rustix::io::Errno::INVAL)
        .and_then(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()))
    else {
        // Cannot watch it: wait for it instead (it is our child).
        return child.wait().map_or(255, |s| s.code().unwrap_or(255));
    };
    loop {
        let mut fds = [
            rustix::event::PollFd::new(&listener, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN),
        ];
        if rustix::event::poll(&mut fds, None).is_err() {
            continue;
        }
        if !fds[0].revents().is_empty()
            && let Ok((stream, _)) = listener.accept()
            && from_pid(&stream, child_pid)
        {
            // It holds its slot and runs the command: we are done.
            return 0;
        }
        if !fds[1].revents().is_empty() {
            return match child.wait() {
                Ok(status) => status
                    .code()
                    .unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
                Err(_) => 255,
            };
        }
    }
}

/// Whether the peer of `stream` is process `pid` and says it holds its
/// slot.
fn from_pid(stream: &UnixStream, pid: u32) -> bool {
    let peer = rustix::net::sockopt::socket_peercred(stream).ok();
    if peer.is_none_or(|c| c.pid.as_raw_nonzero().get() as u32 != pid) {
        return false;
    }
    let mut byte = [0u8; 1];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    matches!((&*stream).read(&mut byte), Ok(1)) && byte[0] == b'!'
}

/// A random number, from the standard library's random hash keys.
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// In the copy started by [`detach`]: how to tell it that we hold a slot.
#[derive(Debug)]
struct Notify {
    name: String,
}

impl Notify {
    /// From [`NOTIFY_VAR`], if it names our parent.
    fn from_env() -> Option<Notify> {
        let value = std::env::var(NOTIFY_VAR).ok()?;
        let (pid, name) = value.split_once(':')?;
        let parent = rustix::process::getppid()?.as_raw_nonzero().get();
        (pid.parse::<i32>().ok()? == parent).then(|| Notify { name: name.to_owned() })
    }

    /// Tells the waiting `sem`; false if it is gone.
    fn send(self) -> bool {
        let Ok(address) = SocketAddr::from_abstract_name(self.name.as_bytes()) else {
            return false;
        };
        UnixStream::connect_addr(&address).is_ok_and(|mut stream| stream.write_all(b"!").is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_runs_out_at_a_tick_of_the_clock() {
        for (after, whole) in [(0.3, 1), (1.0, 2), (2.5, 3)] {
            let t = Timeout {
                after: Duration::from_secs_f64(after),
                run_anyway: true,
            };
            let start = Instant::now();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            let left = t.deadline(start) - start;
            // `whole` seconds after the start's second began.
            let at = now + left;
            // (So `--st 2.5` may run out after 2.1 seconds, as in GNU.)
            assert!(
                left > Duration::from_secs(whole - 1) && left <= Duration::from_secs(whole),
                "{after}: {left:?}"
            );
            let off = at.subsec_millis();
            assert!(!(20..=980).contains(&off), "{after}: {at:?}");
        }
    }

    #[test]
    fn timeouts_are_signed_durations() {
        assert_eq!(
            parse_timeout("2").unwrap(),
            Some(Timeout {
                after: Duration::from_secs(2),
                run_anyway: true
            })
        );
        assert_eq!(
            parse_timeout("-1m").unwrap(),
            Some(Timeout {
                after: Duration::from_secs(60),
                run_anyway: false
            })
        );
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("--3").is_err());
    }
}
