//! `$PARALLEL_ENV`: shell code put in front of every job's command, which
//! is how `env_parallel` hands the shell's functions, aliases and
//! variables to the jobs.
//!
//! As in GNU parallel: the variable's value is the code, or, when it names
//! an existing file, that file's content; a `\001` byte stands for a
//! newline; the variable itself is not passed on to the jobs (it can be
//! big, and each job gets the code anyway); and under zsh the command is
//! run through `eval`, so that aliases defined by the code apply to it.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use crate::config::UsageError;
use crate::shell::Shell;

/// The variable.
pub(crate) const VAR: &str = "PARALLEL_ENV";

static CODE: OnceLock<Option<Vec<u8>>> = OnceLock::new();

/// The code, read once (`None` when `$PARALLEL_ENV` is unset or empty).
pub(crate) fn code() -> Result<Option<&'static [u8]>, UsageError> {
    if let Some(code) = CODE.get() {
        return Ok(code.as_deref());
    }
    let code = read()?;
    Ok(CODE.get_or_init(|| code).as_deref())
}

fn read() -> Result<Option<Vec<u8>>, UsageError> {
    let Some(value) = std::env::var_os(VAR).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let mut code = if Path::new(&value).exists() {
        std::fs::read(&value).map_err(|e| {
            UsageError(format!(
                "Cannot read ${VAR} from {}: {}",
                value.to_string_lossy(),
                crate::jobs::io_reason(&e)
            ))
        })?
    } else {
        value.as_bytes().to_vec()
    };
    for b in &mut code {
        if *b == 1 {
            *b = b'\n';
        }
    }
    if code.contains(&0) {
        warning!("\\0 (NUL) in environment is not supported");
    }
    Ok(Some(code))
}

/// The length the code adds to every command line, as GNU parallel
/// counts it (0 without it).
pub(crate) fn length() -> usize {
    match code() {
        Ok(Some(code)) => code.len(),
        _ => 0,
    }
}

/// `command` with the code in front of it, as the shell is to run it.
pub(crate) fn wrap(code: &[u8], shell: &Shell, command: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(code.len() + command.len() + 16);
    line.extend_from_slice(code);
    line.push(b'\n');
    let zsh = shell.path().as_os_str().as_bytes().windows(3).any(|w| w == b"zsh");
    if zsh {
        line.extend_from_slice(b"eval ");
        crate::replace::push_quoted(&mut line, command);
    } else {
        line.extend_from_slice(command);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_goes_first_on_a_line_of_its_own() {
        let bash = Shell::at("/bin/bash".into());
        assert_eq!(wrap(b"f() { echo $1; }", &bash, b"f a"), b"f() { echo $1; }\nf a");
        let zsh = Shell::at("/usr/bin/zsh".into());
        assert_eq!(
            wrap(b"alias x=y", &zsh, b"x 'a b'"),
            b"alias x=y\neval 'x '\"'\"'a b'\"'\""
        );
    }
}
