//! Output kept in files: `--files` (each job's standard output saved in a
//! temporary file whose name is printed instead; `--files0` ends the name
//! with NUL), `--tmpdir` (where temporary files go, and the jobs'
//! `$TMPDIR`), the per-job `$PARALLEL_TMP` name, and `--compress`.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::compress::{Compression, Packing};
use crate::shell::Shell;

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct FilesFlags {
    /// Save each job's output in a temporary file and print the file's name instead.
    #[arg(
        long = "files",
        visible_aliases = ["output-as-files", "outputasfiles"],
        help_heading = "Output"
    )]
    pub(crate) files: bool,
    /// Like --files, with each name ending in NUL instead of a newline.
    #[arg(long = "files0", help_heading = "Output")]
    pub(crate) files0: bool,
    /// Put temporary files in DIR (and give jobs TMPDIR=DIR) [default: $TMPDIR, else /tmp].
    #[arg(
        long = "tmpdir",
        visible_alias = "tempdir",
        value_name = "DIR",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub(crate) tmpdir: Option<PathBuf>,
    /// Compress output held on disk (and --files), with the first of zstd, gzip... installed.
    #[arg(long = "compress", help_heading = "Output")]
    pub(crate) compress: bool,
    /// Compress with PROGRAM (stdin to stdout); implies --compress.
    #[arg(
        long = "compress-program",
        visible_aliases = ["use-compress-program", "compressprogram", "usecompressprogram"],
        value_name = "PROGRAM",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub(crate) compress_program: Option<String>,
    /// Decompress with PROGRAM [default: the compress program with -dc].
    #[arg(
        long = "decompress-program",
        visible_aliases = ["use-decompress-program", "decompressprogram", "usedecompressprogram"],
        value_name = "PROGRAM",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub(crate) decompress_program: Option<String>,
}

/// How a printed file name ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameEnd {
    Newline,
    Nul,
}

impl NameEnd {
    pub(crate) fn byte(self) -> u8 {
        match self {
            NameEnd::Newline => b'\n',
            NameEnd::Nul => 0,
        }
    }
}

/// The checked settings.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    /// `--files`/`--files0`.
    pub(crate) names: Option<NameEnd>,
    /// Where temporary files go.
    pub(crate) tmpdir: PathBuf,
    /// `--compress`.
    pub(crate) compression: Option<Compression>,
}

impl FilesFlags {
    /// Checks the values: the directory must take files, the compressor
    /// must be there.
    pub(crate) fn resolve(&self, shell: &Shell) -> Result<Files, String> {
        let tmpdir = match &self.tmpdir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("TMPDIR")
                .filter(|d| !d.is_empty())
                .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from),
        };
        // Whatever will go there must be able to: check now, before any
        // job (a directory we may write in, as GNU parallel's `-w`).
        writable_dir(&tmpdir).map_err(|e| {
            format!(
                "Cannot write temporary files in {} (--tmpdir or $TMPDIR): {}",
                tmpdir.display(),
                crate::jobs::io_reason(&e)
            )
        })?;
        let names = if self.files0 {
            Some(NameEnd::Nul)
        } else {
            self.files.then_some(NameEnd::Newline)
        };
        let compression = if self.compress || self.compress_program.is_some() || self.decompress_program.is_some() {
            Some(Compression::choose(
                self.compress_program.as_deref(),
                self.decompress_program.as_deref(),
                shell,
            )?)
        } else {
            None
        };
        Ok(Files {
            names,
            tmpdir,
            compression,
        })
    }
}

/// Whether `dir` is a directory we may create files in: a `stat` and an
/// `access`, rather than creating a file there.
fn writable_dir(dir: &Path) -> io::Result<()> {
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK)?;
    Ok(())
}

impl Files {
    /// The jobs' `$TMPDIR`.
    pub(crate) fn tmpdir_var(&self) -> OsString {
        self.tmpdir.as_os_str().to_owned()
    }
}

/// `--files`: one job's standard output, kept in a file of its own
/// (compressed with `--compress`) whose name is printed when it ends.
///
/// Until its name is printed the file has no name: it is made with
/// `O_TMPFILE` and linked into the temporary directory as `parXXXXX.par`
/// only when the name is printed ([`OutFile::name`]), so a run that is
/// killed, even by `SIGKILL`, leaves no file behind whose name it did not
/// print: not a running job's, nor a finished one's that `-k` holds back. (GNU
/// parallel names the file when the job starts, and such files stay.)
/// Where the file system has no `O_TMPFILE`, the file is named at once,
/// as GNU's.
#[derive(Debug)]
pub(crate) struct OutFile {
    /// Its name: `None` until it is linked.
    path: Option<PathBuf>,
    dir: PathBuf,
    file: File,
    packing: Option<Packing>,
}

impl OutFile {
    /// A new file for the job's output, in the temporary directory.
    pub(crate) fn create(files: &Files) -> io::Result<OutFile> {
        let dir = files.tmpdir.clone();
        let (file, path) = match unnamed(&dir) {
            Some(file) => (file, None),
            None => {
                let (file, path) = create_fresh(&dir, "par", ".par")?;
                (file, Some(path))
            }
        };
        let packing = files
            .compression
            .as_ref()
            .map(|c| c.start(file.try_clone()?))
            .transpose()?;
        Ok(OutFile {
            path,
            dir,
            file,
            packing,
        })
    }

    /// Keeps more of the job's output.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        use std::io::Write as _;
        match &mut self.packing {
            Some(packing) => {
                packing.write(data);
                Ok(())
            }
            None => self.file.write_all(data),
        }
    }

    /// The job ended: the compressor (if any) finishes. Returns the size
    /// of the file, which the joblog counts as the bytes received.
    pub(crate) fn finish(&mut self) -> io::Result<u64> {
        if let Some(packing) = &mut self.packing {
            packing.finish()?;
        }
        Ok(self.file.metadata()?.len())
    }

    /// Gives the file its name (when its name is printed), if it has none
    /// yet.
    pub(crate) fn name(&mut self) -> io::Result<&Path> {
        let path = match self.path.take() {
            Some(path) => path,
            None => link_fresh(&self.file, &self.dir, "par", ".par")?,
        };
        Ok(self.path.insert(path))
    }

    /// Throws the file away (a job that will run again).
    pub(crate) fn remove(self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A file in `dir` without a name (`O_TMPFILE`), readable by its owner
/// only; `None` where the file system cannot make one.
fn unnamed(dir: &Path) -> Option<File> {
    use rustix::fs::{CWD, Mode, OFlags};
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o600))
        .ok()
        .map(File::from)
}

/// Gives the unnamed `file` a fresh name in `dir`, as [`create_fresh`]
/// names files.
fn link_fresh(file: &File, dir: &Path, prefix: &str, suffix: &str) -> io::Result<PathBuf> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd;
    // Through `/proc`: linking the descriptor itself (`AT_EMPTY_PATH`)
    // needs a privilege (CAP_DAC_READ_SEARCH) that users lack.
    let by_proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    loop {
        let path = fresh_name(dir, prefix, suffix);
        let linked = rustix::fs::linkat(file, "", CWD, &path, AtFlags::EMPTY_PATH)
            .or_else(|_| rustix::fs::linkat(CWD, by_proc.as_str(), CWD, &path, AtFlags::SYMLINK_FOLLOW));
        match linked {
            Ok(()) => return Ok(path),
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A name in `dir` that does not exist yet: `PREFIXxxxxxSUFFIX`, with five
/// random letters, digits or `_`, as GNU parallel names its files.
pub(crate) fn fresh_name(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    loop {
        let mut name = Vec::with_capacity(prefix.len() + 5 + suffix.len());
        name.extend_from_slice(prefix.as_bytes());
        for _ in 0..5 {
            name.push(CHARS[(random() % CHARS.len() as u64) as usize]);
        }
        name.extend_from_slice(suffix.as_bytes());
        let path = dir.join(std::ffi::OsStr::from_bytes(&name));
        if std::fs::symlink_metadata(&path).is_err() {
            return path;
        }
    }
}

/// A new file in `dir` named as [`fresh_name`] names, created exclusively
/// and readable by its owner only.
pub(crate) fn create_fresh(dir: &Path, prefix: &str, suffix: &str) -> io::Result<(File, PathBuf)> {
    loop {
        let path = fresh_name(dir, prefix, suffix);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// A fast, non-cryptographic random number (names need only not clash).
fn random() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish() | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_look_like_gnu_parallels_and_do_not_clash() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let (_file, path) = create_fresh(dir.path(), "par", ".par").unwrap();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(name.len(), "parXXXXX.par".len(), "{name}");
            assert!(name.starts_with("par") && name.ends_with(".par"));
            assert!(seen.insert(name));
        }
    }

    #[test]
    fn an_unwritable_tmpdir_is_refused() {
        let flags = FilesFlags {
            tmpdir: Some("/nonexistent/dir".into()),
            ..FilesFlags::default()
        };
        let e = flags.resolve(&Shell::at("/bin/sh".into())).unwrap_err();
        assert!(e.starts_with("Cannot write temporary files in /nonexistent/dir"), "{e}");
    }
}
