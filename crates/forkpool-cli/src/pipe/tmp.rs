//! The private directory of `--cat` files and `--fifo` pipes.
//!
//! A job's file or fifo is removed when the job ends. If we die first, even
//! by `SIGKILL`, a small watcher removes the directory: a `sh` started at
//! the beginning, in a process group of its own (a Ctrl-C at the terminal
//! does not reach it) and ignoring the usual signals, that waits to read
//! from a pipe whose only write end is ours. Our death closes it; the
//! watcher wakes, removes the directory and exits. On a normal exit we
//! remove the directory ourselves and the watcher finds nothing left.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A directory that does not outlive the run.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
    watcher: Option<Child>,
}

impl TempDir {
    /// Creates `forkpool-XXXXXX` in `parent` (`--tmpdir`, `$TMPDIR` or
    /// `/tmp`) and its watcher.
    pub(crate) fn create(parent: &std::path::Path) -> io::Result<TempDir> {
        let path = tempfile::Builder::new().prefix("forkpool-").tempdir_in(parent)?.keep();
        let watcher = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"trap '' HUP INT QUIT TERM PIPE; read x; rm -rf -- "$0""#)
            .arg(&path)
            // Our end of this pipe is close-on-exec: no job holds it open.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        match watcher {
            Ok(child) => Ok(TempDir {
                path,
                watcher: Some(child),
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&path);
                Err(e)
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        if let Some(mut watcher) = self.watcher.take() {
            // Closing its stdin lets it finish; it exits at once.
            drop(watcher.stdin.take());
            let _ = watcher.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_goes_with_the_value_and_the_watcher_exits() {
        let dir = TempDir::create(&std::env::temp_dir()).unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("x"), "y").unwrap();
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists());
    }
}
