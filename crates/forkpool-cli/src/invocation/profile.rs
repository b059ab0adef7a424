//! Where options come from besides the command line, as GNU parallel reads
//! them: option files (`/etc/parallel/config`, `~/.parallel/config`, or
//! the `-J` profiles instead) and the `$PARALLEL` variable.
//!
//! Each file line (except those starting with `#`) and `$PARALLEL` are
//! split into words as Perl's `shellwords` splits them. The files' words,
//! all together, are read as options up to the first word that is not
//! one; the rest of them go in front of the command (so `echo -j2 nice >
//! ~/.parallel/nice_profile` runs every command under `nice`). So are
//! `$PARALLEL`'s. Options given later win: the files, then `$PARALLEL`,
//! then the command line. `--plain` skips all of it.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::words::shell_words;
use crate::config::UsageError;

/// The directories GNU parallel looks in for option files, `will-cite`
/// and `-J` profiles: `$PARALLEL_HOME`, `$XDG_CONFIG_HOME/parallel`, each
/// `$XDG_CONFIG_DIRS` entry's `parallel`, then `~/.parallel`; only those
/// that exist.
pub(crate) fn config_dirs() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(home) = var("PARALLEL_HOME") {
        candidates.push(home.into());
    }
    if let Some(xdg) = var("XDG_CONFIG_HOME") {
        candidates.push(Path::new(&xdg).join("parallel"));
    }
    if let Some(dirs) = var("XDG_CONFIG_DIRS") {
        candidates.extend(std::env::split_paths(&dirs).map(|d| d.join("parallel")));
    }
    candidates.push(home().join(".parallel"));
    candidates.retain(|d| d.is_dir());
    candidates
}

/// The directory GNU parallel writes its own files to (`will-cite`): the
/// first of [`config_dirs`], else `~/.parallel`.
pub(crate) fn config_dir() -> PathBuf {
    config_dirs()
        .into_iter()
        .next()
        .unwrap_or_else(|| home().join(".parallel"))
}

/// The directory for caches and semaphores: `$PARALLEL_HOME`, else
/// `$XDG_CACHE_HOME/parallel`, whichever exists, else `~/.parallel`.
pub(crate) fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    [
        var("PARALLEL_HOME").map(PathBuf::from),
        var("XDG_CACHE_HOME").map(|x| Path::new(&x).join("parallel")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.is_dir())
    .unwrap_or_else(|| home().join(".parallel"))
}

/// `$HOME`, or `/tmp` when it is not set (as GNU parallel falls back).
pub(crate) fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// `$PARALLEL_HOME` is created if it is set but missing, as GNU parallel
/// does; a warning if that fails.
pub(crate) fn make_parallel_home() {
    let Some(home) = std::env::var_os("PARALLEL_HOME").filter(|h| !h.is_empty()) else {
        return;
    };
    let home = PathBuf::from(home);
    if !home.is_dir() && std::fs::create_dir_all(&home).is_err() {
        warning!("$PARALLEL_HOME ({}) does not exist.", home.display());
        warning!("Using {}", config_dir().display());
    }
}

/// Words from one place, and where they came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Words {
    pub(crate) origin: String,
    pub(crate) words: Vec<OsString>,
}

/// The option files to read: the `-J` profiles if any were given, else the
/// default configuration files. A profile that cannot be read is an
/// error; a missing default file is not.
fn option_files(profiles: &[String]) -> Result<Vec<PathBuf>, UsageError> {
    if profiles.is_empty() {
        let mut files = vec![PathBuf::from("/etc/parallel/config")];
        files.extend(config_dirs().into_iter().map(|d| d.join("config")));
        files.push(home().join(".parallelrc"));
        // None is required to exist; one that cannot be read is skipped,
        // as GNU parallel skips it.
        return Ok(files.into_iter().filter(|f| is_readable_file(f)).collect());
    }
    let dirs = config_dirs();
    let mut files = Vec::new();
    for profile in profiles {
        let found: Vec<PathBuf> = if profile.starts_with('/') || profile.starts_with("./") {
            vec![PathBuf::from(profile)]
        } else {
            dirs.iter().map(|d| d.join(profile)).collect()
        };
        let readable: Vec<PathBuf> = found.into_iter().filter(|f| is_readable_file(f)).collect();
        if readable.is_empty() {
            // GNU parallel 20221122 means to say this (its code has the
            // message) but skips a missing profile silently; a typo in a
            // profile name should not go unnoticed.
            let shown = if profile.starts_with('/') || profile.starts_with("./") {
                profile.clone()
            } else {
                home().join(".parallel").join(profile).display().to_string()
            };
            return Err(UsageError(format!("{shown} not readable.")));
        }
        files.extend(readable);
    }
    Ok(files)
}

fn is_readable_file(path: &Path) -> bool {
    std::fs::File::open(path).is_ok_and(|f| f.metadata().is_ok_and(|m| m.is_file()))
}

/// Reads the option files (`profiles`, or the default ones) and
/// `$PARALLEL`: the words of each, in the order they apply. As in GNU
/// parallel, the files' words make one list (read as options up to the
/// first word that is not one, whichever file it is in), and `$PARALLEL`
/// with `$PARALLEL_CSH` another.
pub(crate) fn read(profiles: &[String]) -> Result<Vec<Words>, UsageError> {
    let mut sources = Vec::new();
    let mut files = Vec::new();
    let mut words = Vec::new();
    for file in option_files(profiles)? {
        let text = std::fs::read(&file).map_err(|e| {
            UsageError(format!(
                "{} not readable: {}",
                file.display(),
                crate::jobs::io_reason(&e)
            ))
        })?;
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'#') {
                continue;
            }
            let split = shell_words(line).map_err(|e| {
                UsageError(format!(
                    "{} line {}: {e}: {}",
                    file.display(),
                    n + 1,
                    String::from_utf8_lossy(line)
                ))
            })?;
            words.extend(split.into_iter().map(OsString::from_vec));
        }
        files.push(file.display().to_string());
    }
    if !words.is_empty() {
        sources.push(Words {
            origin: files.join(", "),
            words,
        });
    }
    let mut words = Vec::new();
    let mut origin = Vec::new();
    for var in ["PARALLEL", "PARALLEL_CSH"] {
        let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let split = shell_words(value.as_bytes())
            .map_err(|e| UsageError(format!("${var} has {e}: {}", value.to_string_lossy())))?;
        words.extend(split.into_iter().map(OsString::from_vec));
        origin.push(format!("${var}"));
    }
    if !words.is_empty() {
        sources.push(Words {
            origin: origin.join(", "),
            words,
        });
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_profile_is_named() {
        let err = option_files(&["/no/such/profile".to_owned()]).unwrap_err();
        assert_eq!(err.0, "/no/such/profile not readable.");
        let err = option_files(&["./no-such-profile-here".to_owned()]).unwrap_err();
        assert_eq!(err.0, "./no-such-profile-here not readable.");
    }
}
