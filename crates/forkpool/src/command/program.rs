//! Finding a job's program before it starts: the `PATH` search `execvp`
//! does, done once in the supervisor ([`find_program`]), and whether a
//! file may be executed ([`is_executable`]).

use std::ffi::{OsStr, OsString};
use std::path::Path;

use super::SpawnError;

/// Where `exec` finds `program`, searched as `execvp` searches: in the
/// job's own `PATH` when `env` sets one, else in ours, else in the
/// default `/bin:/usr/bin`; an empty entry is the current directory, `.`
/// (so a program found there is `./program`, which is what a script run
/// that way sees as `$0`, as under a shell). A name with a `/` is taken as
/// it is. The supervisor finds each job's program with it once, and execs
/// it at that path: the child makes no failed `exec` per `PATH` entry.
///
/// Not found: [`SpawnError::NotFound`], or [`SpawnError::PermissionDenied`]
/// if some entry held a file by that name that may not be run (`execvp`'s
/// `EACCES`).
///
/// ```
/// use std::ffi::{OsStr, OsString};
/// use forkpool::command::find_program;
///
/// let sh = find_program(OsStr::new("sh"), &[])?;
/// assert!(sh.to_string_lossy().ends_with("/sh"));
/// let env = [(OsString::from("PATH"), OsString::from("/nonexistent"))];
/// assert!(find_program(OsStr::new("sh"), &env).is_err());
/// # Ok::<(), forkpool::command::SpawnError>(())
/// ```
pub fn find_program(program: &OsStr, env: &[(OsString, OsString)]) -> Result<OsString, SpawnError> {
    use std::os::unix::ffi::OsStrExt;
    if program.is_empty() {
        return Err(SpawnError::NotFound);
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(program.to_owned());
    }
    let ours;
    let path = match env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, path)) => path.as_os_str(),
        None => {
            ours = std::env::var_os("PATH");
            ours.as_deref().unwrap_or(OsStr::new("/bin:/usr/bin"))
        }
    };
    let mut denied = false;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
        let candidate = Path::new(OsStr::from_bytes(dir)).join(program);
        match std::fs::metadata(&candidate) {
            Ok(m) if runnable(&candidate, &m) => return Ok(candidate.into_os_string()),
            Ok(_) => denied = true,
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied {
        SpawnError::PermissionDenied
    } else {
        SpawnError::NotFound
    })
}

/// Whether `path` is a file that we may execute: a regular file with an
/// execute bit, and `access` says so for our ids, as `exec` will (a
/// directory is not, whatever its bits).
///
/// ```
/// use std::path::Path;
/// use forkpool::command::is_executable;
///
/// assert!(is_executable(Path::new("/bin/sh")));
/// assert!(!is_executable(Path::new("/")));
/// assert!(!is_executable(Path::new("/nonexistent")));
/// ```
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| runnable(path, &m))
}

/// [`is_executable`], the file's metadata read already.
fn runnable(path: &Path, metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    // `access` answers for our ids as `exec` will.
    metadata.is_file()
        && metadata.permissions().mode() & 0o111 != 0
        && rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}
