//! `--results`: each job's output saved to files instead of printed.
//!
//! - `--results DIR`: `DIR/<name1>/<value1>/<name2>/<value2>/{stdout,stderr,seq}`,
//!   one name/value level per column of each input record. A name is the
//!   column's `--header` name or its number; in a value, `\`, TAB, NUL and
//!   `/` are written `\\`, `\t`, `\0` and `\_`.
//! - `--results TEMPLATE` with replacement strings: the rendered path is
//!   the stdout file (`.err` and `.seq` beside it), or, ending in `/`, a
//!   directory holding `stdout`, `stderr` and `seq`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::replace::{Multi, Template, Values};

/// Where results go.
#[derive(Debug, Clone)]
pub(crate) enum Results {
    /// A plain directory.
    Dir { root: PathBuf, names: Vec<Vec<u8>> },
    /// A path with replacement strings.
    Template(Template),
}

/// One job's open result files.
#[derive(Debug)]
pub(crate) struct JobFiles {
    pub(crate) stdout: File,
    pub(crate) stderr: File,
    seq: PathBuf,
    /// Where `stdout` is (`--files` prints it).
    pub(crate) stdout_path: PathBuf,
}

impl JobFiles {
    /// Writes the `seq` file; called when the job ends.
    pub(crate) fn finish(self, seq: u64) -> io::Result<()> {
        std::fs::write(&self.seq, seq.to_string())
    }
}

impl Results {
    /// Where a job's files go: (directory, stdout, stderr, seq).
    fn paths(&self, records: &[Vec<Vec<u8>>], values: Values<'_>) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        match self {
            Results::Dir { root, names } => {
                let mut dir = root.clone();
                for record in records {
                    for (i, value) in record.iter().enumerate() {
                        let name = names
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| (i + 1).to_string().into_bytes());
                        for level in [escape(&name), escape(value)] {
                            // "." names no level (GNU parallel's path says
                            // so too, and a directory cannot be made of it).
                            if level != b"." {
                                dir.push(std::ffi::OsString::from_vec(level));
                            }
                        }
                    }
                }
                (dir.clone(), dir.join("stdout"), dir.join("stderr"), dir.join("seq"))
            }
            Results::Template(template) => {
                let rendered = template.render(values, Multi::Single);
                if rendered.ends_with(b"/") {
                    let dir = PathBuf::from(std::ffi::OsString::from_vec(rendered));
                    (dir.clone(), dir.join("stdout"), dir.join("stderr"), dir.join("seq"))
                } else {
                    let with = |suffix: &[u8]| {
                        let mut p = rendered.clone();
                        p.extend_from_slice(suffix);
                        PathBuf::from(std::ffi::OsString::from_vec(p))
                    };
                    let out = with(b"");
                    let dir = out.parent().map(PathBuf::from).unwrap_or_default();
                    (dir, out, with(b".err"), with(b".seq"))
                }
            }
        }
    }

    /// Whether a finished run already left this job's results (its `seq`
    /// file is written last): `--resume` skips it.
    pub(crate) fn done(&self, records: &[Vec<Vec<u8>>], values: Values<'_>) -> bool {
        self.paths(records, values).3.exists()
    }

    /// `--dry-run`: what GNU parallel leaves for a job it only shows. The
    /// command is not printed; the job's directory gets its `seq` and an
    /// empty `stderr`, and no `stdout` (nothing ran to write it). Returns
    /// the name `stdout` would have (`--files` prints it).
    pub(crate) fn dry_run(&self, records: &[Vec<Vec<u8>>], values: Values<'_>, seq: u64) -> io::Result<PathBuf> {
        let (dir, stdout, stderr, seq_path) = self.paths(records, values);
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(&dir)?;
        }
        File::create(stderr)?;
        std::fs::write(seq_path, seq.to_string())?;
        Ok(stdout)
    }

    /// Creates the files for a job with these input `records`.
    pub(crate) fn open(&self, records: &[Vec<Vec<u8>>], values: Values<'_>) -> io::Result<JobFiles> {
        let (dir, stdout, stderr, seq) = self.paths(records, values);
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(&dir)?;
        }
        Ok(JobFiles {
            stdout: File::create(&stdout)?,
            stderr: File::create(stderr)?,
            seq,
            stdout_path: stdout,
        })
    }
}

/// A value as a directory name.
/// A value as a directory name: escaped, and cut to the 255 bytes a file
/// name may have (as GNU parallel cuts it).
fn escape(value: &[u8]) -> Vec<u8> {
    let mut out = escape_all(value);
    out.truncate(NAME_MAX);
    out
}

/// The longest file name Linux file systems take.
const NAME_MAX: usize = 255;

fn escape_all(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0 => out.extend_from_slice(b"\\0"),
            b'/' => out.extend_from_slice(b"\\_"),
            b => out.push(b),
        }
    }
    out
}

/// Writes to a job's result file.
pub(crate) fn write(file: &mut File, data: &[u8]) -> io::Result<()> {
    file.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_safe_directory_names() {
        assert_eq!(escape(b"a/b"), b"a\\_b");
        assert_eq!(escape(b"a\\b\tc"), b"a\\\\b\\tc");
    }

    #[test]
    fn long_values_are_cut_to_a_file_name_and_a_dot_is_no_level() {
        assert_eq!(escape(&[b'x'; 300]).len(), 255);
        let results = Results::Dir {
            root: PathBuf::from("out"),
            names: vec![],
        };
        let records = vec![vec![b".".to_vec()]];
        let values = Values::plain(&records[0], 1, 1);
        let (dir, ..) = results.paths(&records, values);
        assert_eq!(dir, PathBuf::from("out/1"));
    }

    #[test]
    fn a_plain_directory_gets_one_level_per_column() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::Dir {
            root: dir.path().to_path_buf(),
            names: vec![],
        };
        let records = vec![vec![b"I".to_vec(), b"x/y".to_vec()]];
        let args = records[0].clone();
        let mut files = results.open(&records, Values::plain(&args, 4, 1)).unwrap();
        write(&mut files.stdout, b"out").unwrap();
        files.finish(4).unwrap();
        let base = dir.path().join("1/I/2/x\\_y");
        assert_eq!(std::fs::read_to_string(base.join("stdout")).unwrap(), "out");
        assert_eq!(std::fs::read_to_string(base.join("seq")).unwrap(), "4");
        assert!(base.join("stderr").exists());
    }
}
