//! The name the program was invoked by, and the name its messages carry.
//!
//! GNU parallel names itself in every message (`parallel: Warning: ...`),
//! and scripts match on that text; so the binary installed or linked as
//! `parallel` says `parallel:`, and as `forkpool` says `forkpool:`. Two
//! names follow GNU parallel's own rules: invoked as `sem` (GNU's `sem` is
//! a link to `parallel`) the messages still say `parallel:`, and while
//! generating code for `parset` they say `parset:`.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

static INVOKED: OnceLock<String> = OnceLock::new();
static ARGV0: OnceLock<std::ffi::OsString> = OnceLock::new();
static OVERRIDE: OnceLock<&'static str> = OnceLock::new();

/// The name used when none was set (a test calling in directly).
const DEFAULT: &str = "forkpool";

/// Records the invoked name from `argv[0]` (its last path component).
/// The first call wins: the name is set once per process.
pub(crate) fn set_name(argv0: &OsStr) {
    let _ = INVOKED.set(base_name(argv0));
    let _ = ARGV0.set(argv0.to_owned());
}

/// A path that runs this program under the name it was invoked by, for
/// runs of its own it starts (`--onall`): their messages then carry the
/// same name. `argv[0]` (found on `$PATH` as a shell finds it, when it
/// has no `/`) when that is this program, else the program's own file.
pub(crate) fn self_path() -> std::io::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let Some(argv0) = ARGV0.get() else {
        return Ok(exe);
    };
    let found = if argv0.as_encoded_bytes().contains(&b'/') {
        Some(Path::new(argv0).to_path_buf())
    } else {
        crate::shell::which(argv0)
    };
    // Made absolute: the inner runs need not start where we are.
    let candidate = match found {
        Some(path) => Some(std::env::current_dir()?.join(path)),
        None => None,
    };
    let same = |p: &Path| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&exe).ok();
    Ok(candidate.filter(|p| same(p)).unwrap_or(exe))
}

/// Messages say `name` from now on (`parset`). The first call wins.
pub(crate) fn rename(name: &'static str) {
    let _ = OVERRIDE.set(name);
}

/// `argv[0]`'s last path component, or the default when it has none.
fn base_name(argv0: &OsStr) -> String {
    Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT.to_owned())
}

/// The name the program was invoked by (`sem` makes it a semaphore).
pub(crate) fn invoked_as() -> &'static str {
    INVOKED.get().map_or(DEFAULT, String::as_str)
}

/// The name to put in front of messages.
pub(crate) fn name() -> &'static str {
    if let Some(name) = OVERRIDE.get() {
        return name;
    }
    message_name(invoked_as())
}

fn message_name(invoked: &str) -> &str {
    if invoked == "sem" { "parallel" } else { invoked }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_last_path_component() {
        assert_eq!(base_name(OsStr::new("/usr/local/bin/parallel")), "parallel");
        assert_eq!(base_name(OsStr::new("sem")), "sem");
        assert_eq!(base_name(OsStr::new("")), "forkpool");
        assert_eq!(base_name(OsStr::new("/")), "forkpool");
    }

    #[test]
    fn sem_speaks_as_parallel_as_gnus_does() {
        assert_eq!(message_name("sem"), "parallel");
        assert_eq!(message_name("parallel"), "parallel");
        assert_eq!(message_name("forkpool"), "forkpool");
    }
}
