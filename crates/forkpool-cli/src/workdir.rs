//! `--workdir DIR` (`--wd`): jobs run in DIR. On this computer that is,
//! as in GNU parallel, the directory made if it is missing and the
//! command line wrapped in `cd DIR || exit 255;` (which `-t` and `-v -v`
//! show). DIR may hold replacement strings; `.` is the current directory
//! (written relative to `$HOME`, as GNU parallel writes it); `...` a fresh
//! directory `~/.parallel/tmp/HOST-PID-SEQ` per job, removed when the job
//! ends. Jobs on hosts (`-S`, `--slurm`) get theirs from
//! `crate::remote::launch` instead, with GNU parallel's remote meaning.

use std::path::{Path, PathBuf};

use crate::replace::Template;
use crate::shellquote::quote;

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct WorkdirFlags {
    /// Run the jobs in DIR, made if missing (replacement strings allowed; ... for a fresh one per job; on hosts relative to home).
    #[arg(
        long = "workdir",
        visible_aliases = ["wd", "work-dir"],
        value_name = "DIR",
        allow_hyphen_values = true,
        help_heading = "Jobs"
    )]
    pub(crate) workdir: Option<String>,
}

/// Where jobs run.
#[derive(Debug, Clone)]
pub(crate) enum Workdir {
    /// A directory, maybe with replacement strings.
    Dir(Template),
    /// `.`: the current directory.
    Current(PathBuf),
    /// `...`: a fresh `~/.parallel/tmp/HOST-PID-SEQ`, removed after.
    Fresh,
}

/// GNU parallel's cleaning of a directory name: no `/./`, no trailing
/// `/`, no leading `./` (rsync treats `/./` specially). Remote jobs' dirs
/// are cleaned so too.
pub(crate) fn tidy(mut dir: Vec<u8>) -> Vec<u8> {
    while let Some(i) = dir.windows(3).position(|w| w == b"/./") {
        dir.drain(i..i + 2);
    }
    while dir.len() > 1 && dir.ends_with(b"/") {
        dir.pop();
    }
    while dir.starts_with(b"./") {
        dir.drain(..2);
    }
    dir
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// `--workdir .` as GNU parallel writes it: the current directory
/// relative to `$HOME` (`.` for `$HOME` itself; so it is the same place
/// under another machine's home), absolute when outside it.
pub(crate) fn here() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let home = home();
    let under = |cwd: &Path, home: &Path| {
        cwd.strip_prefix(home).ok().map(|rest| {
            if rest.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                rest.to_path_buf()
            }
        })
    };
    under(&cwd, &home)
        .or_else(|| {
            // Through symbolic links (a home under /home -> /data/home).
            let (cwd, home) = (std::fs::canonicalize(&cwd).ok()?, std::fs::canonicalize(&home).ok()?);
            under(&cwd, &home)
        })
        .unwrap_or(cwd)
}

/// `.` for a job here: [`here`], with `$HOME/` in front again when relative.
fn current() -> PathBuf {
    let relative = here();
    if relative.is_absolute() {
        relative
    } else {
        home().join(relative)
    }
}

/// `--workdir ...`: `.parallel/tmp/HOST-PID-SEQ`, as GNU parallel names
/// it, relative to the home dir (here or on the job's host).
pub(crate) fn fresh(seq: u64) -> PathBuf {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    PathBuf::from(format!(".parallel/tmp/{host}-{}-{seq}", std::process::id()))
}

impl Workdir {
    /// Makes the job's directory and wraps its command line to run there.
    /// An error (GNU parallel's words) if the directory cannot be entered.
    pub(crate) fn wrap(
        &self,
        line: &[u8],
        render: impl FnOnce(&Template) -> Vec<u8>,
        seq: u64,
    ) -> Result<Vec<u8>, String> {
        let (dir, fresh) = match self {
            Workdir::Dir(template) => {
                let dir = tidy(render(template));
                let dir = if dir.is_empty() { b".".to_vec() } else { dir };
                (
                    PathBuf::from(std::ffi::OsString::from(String::from_utf8_lossy(&dir).into_owned())),
                    false,
                )
            }
            Workdir::Current(dir) => (dir.clone(), false),
            Workdir::Fresh => (home().join(fresh(seq)), true),
        };
        make(&dir)?;
        let quoted = quote(dir.as_os_str().as_encoded_bytes());
        let mut out = b"cd ".to_vec();
        out.extend_from_slice(&quoted);
        out.extend_from_slice(b" || exit 255; ");
        out.extend_from_slice(line);
        if fresh {
            out.extend_from_slice(b";_EXIT_status=$?; rm -rf ");
            out.extend_from_slice(&quoted);
            out.extend_from_slice(b";exit $_EXIT_status;");
        }
        Ok(out)
    }
}

/// Makes `dir` (and its parents); an error if it cannot be entered.
fn make(dir: &Path) -> Result<(), String> {
    let made = std::fs::create_dir_all(dir);
    let enterable = std::fs::metadata(dir).is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.is_dir() && m.permissions().mode() & 0o111 != 0
    });
    if enterable {
        return Ok(());
    }
    let reason = match made {
        Err(e) => crate::jobs::io_reason(&e),
        Ok(()) => "Permission denied".to_owned(),
    };
    Err(format!(
        "Cannot change into non-executable dir {}: {reason}",
        dir.display()
    ))
}

/// Checks `--workdir` (parsing its replacement strings with `parse`).
pub(crate) fn resolve(
    workdir: Option<&str>,
    parse: impl FnOnce(&[u8]) -> Result<Template, String>,
) -> Result<Option<Workdir>, String> {
    match workdir {
        None => Ok(None),
        Some("") => Err("--workdir needs a directory".to_owned()),
        Some("...") => Ok(Some(Workdir::Fresh)),
        Some(".") => Ok(Some(Workdir::Current(current()))),
        Some(dir) => parse(dir.as_bytes()).map(|t| Some(Workdir::Dir(t))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_tidied_as_gnu_parallel_does() {
        assert_eq!(tidy(b"/tmp/./a/".to_vec()), b"/tmp/a");
        assert_eq!(tidy(b"./x".to_vec()), b"x");
        assert_eq!(tidy(b"/".to_vec()), b"/");
    }

    #[test]
    fn the_line_is_wrapped_in_a_cd_and_the_directory_made() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a b");
        let text = dir.to_str().unwrap().as_bytes().to_vec();
        let t = Template::plain(std::slice::from_ref(&text));
        let w = Workdir::Dir(t).wrap(b"pwd", |_| text.clone(), 1).unwrap();
        assert_eq!(w, format!("cd '{}' || exit 255; pwd", dir.display()).into_bytes());
        assert!(dir.is_dir());
        let file = d.path().join("f");
        std::fs::write(&file, "").unwrap();
        let t = Template::plain(&[b"x".to_vec()]);
        let e = Workdir::Dir(t)
            .wrap(b"pwd", |_| file.to_str().unwrap().as_bytes().to_vec(), 1)
            .unwrap_err();
        assert!(e.starts_with("Cannot change into non-executable dir"), "{e}");
    }
}
