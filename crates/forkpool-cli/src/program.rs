//! The name the program was invoked by.
//!
//! GNU parallel names itself in every message after `argv[0]` (`parallel:
//! Warning: ...`, `sem: ...`), and scripts match on that text; so the
//! binary installed or linked as `parallel` says `parallel:`, and as `sem`
//! says `sem:`.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

static NAME: OnceLock<String> = OnceLock::new();

/// The name used when none was set (a test calling in directly).
const DEFAULT: &str = "forkpool";

/// Records the invoked name from `argv[0]` (its last path component).
/// The first call wins: the name is set once per process.
pub(crate) fn set_name(argv0: &OsStr) {
    let _ = NAME.set(base_name(argv0));
}

/// `argv[0]`'s last path component, or the default when it has none.
fn base_name(argv0: &OsStr) -> String {
    Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT.to_owned())
}

/// The name to put in front of messages.
pub(crate) fn name() -> &'static str {
    NAME.get().map_or(DEFAULT, String::as_str)
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
}
