//! Which shell runs the commands, and when it can be skipped.
//!
//! Commands are shell syntax, as in GNU parallel: `forkpool 'gzip < {} >
//! {}.gz' ::: *.txt` works. But starting a shell per job costs about as
//! much as the job itself for small commands, so a command line that holds
//! no shell syntax (just words, maybe in the single quotes our own
//! quoting adds) is run directly, the way the shell would have run it:
//! same `argv`, same `PATH` lookup, the same `SHLVL` and `$_` that bash
//! would have set. Anything the shell would treat specially (a builtin or
//! keyword, an exported function, an assignment, redirection, expansion,
//! globbing, a comment...) goes through the shell.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The shell jobs run under.
///
/// Which shell it is is known at start (its name says whether it is bash,
/// which decides how jobs run directly); where it is is found only when a
/// job, or a check, needs the shell itself: a run of plain commands never
/// searches `PATH` for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shell {
    /// Where it is, once known.
    path: std::sync::OnceLock<PathBuf>,
    /// The nearest shell above us, by name (its path is that name's on
    /// `PATH`, else the process's own executable).
    found: Option<(&'static str, PathBuf)>,
    /// Bash sets `SHLVL` and `$_` for what it runs; others do not.
    pub(crate) is_bash: bool,
}

impl Shell {
    /// As GNU parallel chooses: `$PARALLEL_SHELL`, else the nearest shell
    /// above us, else `$SHELL`, else `/bin/sh`.
    pub(crate) fn detect() -> Shell {
        let named = std::env::var_os("PARALLEL_SHELL").filter(|p| !p.is_empty());
        if named.is_none()
            && let Some((name, exe)) = parent_shell()
        {
            return Shell {
                path: std::sync::OnceLock::new(),
                found: Some((name, exe)),
                is_bash: name == "bash",
            };
        }
        let path = named
            .or_else(|| std::env::var_os("SHELL"))
            .map(PathBuf::from)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("/bin/sh"));
        Shell::at(path)
    }

    /// The shell at `path`.
    pub(crate) fn at(path: PathBuf) -> Shell {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Shell {
            is_bash: name == "bash",
            path: std::sync::OnceLock::from(path),
            found: None,
        }
    }

    /// Where the shell is (looked up the first time it is asked).
    pub(crate) fn path(&self) -> &Path {
        self.path.get_or_init(|| match &self.found {
            Some((name, exe)) => which(OsStr::new(name)).unwrap_or_else(|| exe.clone()),
            None => PathBuf::from("/bin/sh"),
        })
    }

    /// Whether the shell is there to run (a shell found above us is: it
    /// runs): as GNU parallel checks `$PARALLEL_SHELL` and `$SHELL`, a
    /// file we may execute (also when named by a path; not a directory).
    pub(crate) fn exists(&self) -> bool {
        self.found.is_some() || which(self.path().as_os_str()).is_some_and(|p| forkpool::command::is_executable(&p))
    }
}

/// The nearest ancestor that is a shell, as GNU parallel finds it: walk up
/// from our parent (past `timeout`, `sudo`, `xargs`, `make`...) to the
/// first process whose `argv[0]` names a shell; its path is that name's
/// on `PATH` (so `sh` stays `/usr/bin/sh`, not the `dash` it links to), or
/// failing that, the process's own executable. `None` if the nearest shell
/// is one whose syntax we do not speak (csh, fish, ...), or there is none.
/// Returns the name and the executable; the `PATH` search waits until the
/// shell is needed ([`Shell::path`]).
fn parent_shell() -> Option<(&'static str, PathBuf)> {
    let mut pid = rustix::process::getppid()?.as_raw_pid();
    for _ in 0..64 {
        if pid <= 1 {
            return None;
        }
        let mut buf = [0u8; 512];
        let cmdline = read_proc(pid, "cmdline", &mut buf)?;
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        if let Some(name) = shell_name(argv0) {
            if !POSIX_SHELLS.contains(&name) {
                return None;
            }
            // The executable, to fall back on (one `readlink`); when we
            // may not read it, the search happens now, as it decides.
            return match std::fs::read_link(format!("/proc/{pid}/exe")) {
                Ok(exe) => Some((name, exe)),
                Err(_) => which(OsStr::new(name)).map(|path| (name, path)),
            };
        }
        pid = parent_of(pid)?;
    }
    None
}

/// Shells whose command syntax is POSIX's, which is what we quote for.
const POSIX_SHELLS: &[&str] = &[
    "ash", "bash", "dash", "ksh", "ksh93", "lksh", "mksh", "pdksh", "posh", "rbash", "sh", "yash", "zsh",
];
/// Every shell GNU parallel recognises.
const SHELLS: &[&str] = &[
    "ash",
    "bash",
    "bsd-csh",
    "csh",
    "dash",
    "fdsh",
    "fish",
    "fizsh",
    "ksh",
    "ksh93",
    "lksh",
    "mksh",
    "pdksh",
    "posh",
    "rbash",
    "rc",
    "rush",
    "rzsh",
    "sash",
    "sh",
    "static-sh",
    "tcsh",
    "yash",
    "zsh",
];

/// The shell an `argv[0]` names (`bash`, `-bash`, `/bin/sh`, `busybox sh`).
fn shell_name(argv0: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(argv0).ok()?;
    let text = text.strip_prefix("busybox ").unwrap_or(text);
    let base = text.rsplit('/').next()?.trim_start_matches('-');
    SHELLS.iter().copied().find(|&shell| shell == base)
}

/// The parent of process `pid`.
fn parent_of(pid: i32) -> Option<i32> {
    let mut buf = [0u8; 1024];
    let stat = std::str::from_utf8(read_proc(pid, "stat", &mut buf)?).ok()?;
    stat.get(stat.rfind(')')? + 2..)?.split(' ').nth(1)?.parse().ok()
}

/// The start of `/proc/PID/FILE`, up to `buf`'s length, in one `read`.
///
/// The walk up to a shell reads two files per ancestor, and it happens at
/// every start: `std::fs::read` would add a `statx` (which says 0 bytes
/// for `/proc` files) and read in doubling pieces, some ten system calls
/// a file, a tenth of a millisecond for a few ancestors. What we need is
/// at the start: `argv[0]` (a shell's name is short; a longer one is no
/// shell) and the fields of `stat` up to the parent's pid, well within
/// 1 KiB (the command name in it is at most 64 bytes).
fn read_proc<'a>(pid: i32, file: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(format!("/proc/{pid}/{file}")).ok()?;
    let n = loop {
        match f.read(buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    };
    buf.get(..n)
}

/// How to run one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// Through the shell: `shell -c LINE`.
    Shell(Vec<OsString>),
    /// Directly: the program and arguments, plus the variables bash would
    /// have set for it.
    Direct {
        argv: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
    },
    /// Nothing to run (an empty command succeeds).
    Nothing,
}

/// Builtins and keywords of POSIX shells and bash. A command starting
/// with one of these needs the shell; the few with a look-alike in `PATH`
/// behave differently there (`pwd -L`, `kill %1`, `echo --help`).
const SHELL_WORDS: &[&str] = &[
    ".",
    ":",
    "[",
    "[[",
    "]]",
    "{",
    "}",
    "!",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// Builtins whose program in `PATH` does the same, except on `--help` or
/// `--version` (and, for `echo`, under `POSIXLY_CORRECT` or bash's
/// `xpg_echo`): run directly when none of that applies.
const SAME_AS_PROGRAM: &[&str] = &["true", "false", "echo"];

/// What [`Shell::plan`] needs from our environment, read once: nothing
/// in this program changes its environment, and reading it for every job
/// (five variables, two of them by formatted names) was a few
/// microseconds of each job's start.
struct Surroundings {
    /// `$POSIXLY_CORRECT` is set: bash's `echo` then differs from
    /// `/bin/echo`.
    posixly_correct: bool,
    /// `$BASHOPTS` holds `xpg_echo`: likewise.
    xpg_echo: bool,
    /// `$SHLVL` as a bash running the job would set it.
    next_shlvl: OsString,
    /// The exported bash functions (`BASH_FUNC_NAME%%`, or the older
    /// `BASH_FUNC_NAME()`): a command starting with one needs the shell.
    functions: Vec<Vec<u8>>,
}

impl Surroundings {
    fn get() -> &'static Surroundings {
        static OURS: std::sync::OnceLock<Surroundings> = std::sync::OnceLock::new();
        OURS.get_or_init(|| {
            let level = std::env::var("SHLVL")
                .ok()
                .and_then(|l| l.trim().parse::<i64>().ok())
                .unwrap_or(0);
            Surroundings {
                posixly_correct: std::env::var_os("POSIXLY_CORRECT").is_some(),
                xpg_echo: std::env::var("BASHOPTS").is_ok_and(|o| o.contains("xpg_echo")),
                next_shlvl: (level + 1).max(0).to_string().into(),
                functions: std::env::vars_os()
                    .filter_map(|(name, _)| crate::remote::env::function_name(name.as_bytes()).map(<[u8]>::to_vec))
                    .collect(),
            }
        })
    }
}

impl Shell {
    /// Decides how to run `line`: as far as its first NUL byte, if it
    /// holds one, which is all the shell gets of it (`exec` passes C
    /// strings), as in GNU parallel. A `{= =}` can put one there: with
    /// `-N0` its `$_` starts as GNU's `\0noarg`, so that `$_ .= "x"`
    /// leaves the shell an open quote to complain of.
    pub(crate) fn plan(&self, line: &[u8]) -> Launch {
        let line = line.split(|&b| b == 0).next().unwrap_or_default();
        let shell = || {
            Launch::Shell(vec![
                self.path().as_os_str().to_owned(),
                "-c".into(),
                OsString::from_vec(line.to_vec()),
            ])
        };
        let Some(words) = split_plain_words(line) else {
            return shell();
        };
        let Some(first) = words.first() else {
            return Launch::Nothing;
        };
        let name = String::from_utf8_lossy(first);
        let ours = Surroundings::get();
        if SHELL_WORDS.contains(&name.as_ref()) {
            let allowed = self.is_bash
                && SAME_AS_PROGRAM.contains(&name.as_ref())
                && !words[1..].iter().any(|w| w == b"--help" || w == b"--version")
                && !ours.posixly_correct
                && !ours.xpg_echo;
            if !allowed {
                return shell();
            }
        }
        if first.contains(&b'=') || first.contains(&b'/') && first.starts_with(b"~") {
            return shell();
        }
        if ours.functions.iter().any(|f| f.as_slice() == first.as_slice()) {
            return shell();
        }
        let argv: Vec<OsString> = words.into_iter().map(OsString::from_vec).collect();
        let mut env = Vec::new();
        if self.is_bash {
            env.push(("SHLVL".into(), ours.next_shlvl.clone()));
            if let Some(path) = which(&argv[0]) {
                env.push(("_".into(), path.into_os_string()));
            }
        }
        Launch::Direct { argv, env }
    }
}

impl Shell {
    /// Whether this shell could run a command starting with `name`: a
    /// path that exists, an assignment or compound command, an exported
    /// function, a program on `PATH`, or a builtin or keyword (which the
    /// shell itself is asked about). For commands given in options
    /// (`--limit`, `--compress-program`), checked before any job runs.
    pub(crate) fn can_run(&self, name: &str) -> bool {
        if name.contains('/') {
            return Path::new(name).exists();
        }
        if name.is_empty() {
            return false;
        }
        if name.contains('=') || name.starts_with(['(', '{', '!']) {
            return true;
        }
        if std::env::var_os(format!("BASH_FUNC_{name}%%")).is_some() || which(OsStr::new(name)).is_some() {
            return true;
        }
        std::process::Command::new(self.path())
            .arg("-c")
            .arg(format!("command -v {} >/dev/null", crate::shellquote::quote_str(name)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// Finds `program` the way `execvp` would, remembering the answer (as
/// shells hash command paths).
pub(crate) fn which(program: &OsStr) -> Option<PathBuf> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<HashMap<OsString, Option<PathBuf>>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(found) = cache.get(program) {
        return found.clone();
    }
    let found = which_uncached(program);
    cache.insert(program.to_os_string(), found.clone());
    found
}

/// The library's search, as the supervisor makes it for a job (`execvp`'s:
/// an empty `PATH` entry is `.`, so a program found there is `./name`, the
/// path a shell would run it at).
fn which_uncached(program: &OsStr) -> Option<PathBuf> {
    forkpool::command::find_program(program, &[]).ok().map(PathBuf::from)
}

/// Splits `line` into words if it holds nothing but plain words and
/// quoted strings that the shell would take literally; `None` otherwise.
pub(crate) fn split_plain_words(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut word: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        match b {
            b' ' | b'\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
                i += 1;
            }
            b'\'' => {
                let end = line[i + 1..].iter().position(|&c| c == b'\'')? + i + 1;
                word.get_or_insert_with(Vec::new).extend_from_slice(&line[i + 1..end]);
                i = end + 1;
            }
            b'"' => {
                let end = line[i + 1..].iter().position(|&c| c == b'"')? + i + 1;
                let inside = &line[i + 1..end];
                // Only when nothing inside is expanded.
                if inside.iter().any(|c| matches!(c, b'$' | b'`' | b'\\' | b'!')) {
                    return None;
                }
                word.get_or_insert_with(Vec::new).extend_from_slice(inside);
                i = end + 1;
            }
            // Characters that are plain wherever they are.
            b if b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'+' | b'/' | b',' | b':' | b'@' | b'%' | b'^' | b'='
                ) =>
            {
                word.get_or_insert_with(Vec::new).push(b);
                i += 1;
            }
            // `~` and `#` are only special at the start of a word.
            b'~' | b'#' if word.is_some() => {
                word.get_or_insert_with(Vec::new).push(b);
                i += 1;
            }
            // Non-ASCII bytes are plain too.
            b if b >= 0x80 => {
                word.get_or_insert_with(Vec::new).push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bash() -> Shell {
        Shell::at("/bin/bash".into())
    }

    fn direct(line: &str) -> Option<Vec<String>> {
        match bash().plan(line.as_bytes()) {
            Launch::Direct { argv, .. } => Some(argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()),
            _ => None,
        }
    }

    #[test]
    fn shells_are_recognised_by_the_name_they_were_started_as() {
        assert_eq!(shell_name(b"bash"), Some("bash"));
        assert_eq!(shell_name(b"-bash"), Some("bash"));
        assert_eq!(shell_name(b"/usr/bin/sh"), Some("sh"));
        assert_eq!(shell_name(b"busybox sh"), Some("sh"));
        assert_eq!(shell_name(b"/usr/bin/timeout"), None);
        assert_eq!(shell_name(b"sshd"), None);
        assert_eq!(shell_name(b"crash"), None);
    }

    #[test]
    fn the_parent_of_a_process_is_read_from_proc() {
        let me = std::process::id() as i32;
        let parent = rustix::process::getppid().map(|p| p.as_raw_pid());
        assert_eq!(parent_of(me), parent);
    }

    #[test]
    fn plain_commands_run_directly() {
        assert_eq!(
            direct("gzip -9 file.txt"),
            Some(vec!["gzip".into(), "-9".into(), "file.txt".into()])
        );
        assert_eq!(
            direct("echo 'a b' 'c'\"'\"'d'"),
            Some(vec!["echo".into(), "a b".into(), "c'd".into()])
        );
        assert_eq!(direct("true"), Some(vec!["true".into()]));
        assert_eq!(
            direct("ls a~b x#y"),
            Some(vec!["ls".into(), "a~b".into(), "x#y".into()])
        );
        assert_eq!(direct("sleep 1"), Some(vec!["sleep".into(), "1".into()]));
    }

    #[test]
    fn anything_the_shell_would_interpret_goes_through_it() {
        for line in [
            "echo a; echo b",
            "echo $HOME",
            "echo *.txt",
            "echo a > f",
            "cd /tmp",
            "exit 3",
            "VAR=1 env",
            "echo ~",
            "echo a # comment",
            "echo \"$x\"",
            "echo `date`",
            "echo {a,b}",
            "printf %s x",
            "pwd",
            "echo --help",
            "true --version",
            "if true",
            "echo 'unterminated",
        ] {
            assert_eq!(direct(line), None, "{line:?} would skip the shell");
        }
    }

    #[test]
    fn only_bash_builtins_are_trusted_to_match_programs() {
        let dash = Shell::at("/bin/dash".into());
        assert!(matches!(dash.plan(b"echo a\\nb"), Launch::Shell(_)));
        assert!(matches!(dash.plan(b"echo a"), Launch::Shell(_)));
        assert!(matches!(dash.plan(b"gzip a"), Launch::Direct { .. }));
    }

    #[test]
    fn bash_would_set_shlvl_and_underscore() {
        match bash().plan(b"sh -c true") {
            Launch::Direct { env, .. } => {
                assert!(env.iter().any(|(k, _)| k == "SHLVL"));
                assert!(
                    env.iter()
                        .any(|(k, v)| k == "_" && v.to_string_lossy().ends_with("/sh"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(bash().plan(b"  "), Launch::Nothing);
    }
}
