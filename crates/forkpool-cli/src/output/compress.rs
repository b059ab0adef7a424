//! `--compress`: output kept on disk goes through a compressor, and is
//! read back through its decompressor, as GNU parallel does. The program
//! is the first of GNU parallel's list that is installed (`PROG -c -1`,
//! read back with `PROG -dc`), or `--compress-program` /
//! `--decompress-program`.
//!
//! A compressor is a process of ours fed through a pipe; it writes to a
//! file of ours, so it never waits on anything but us. If forkpool dies,
//! its input ends and it exits.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::shell::Shell;

/// GNU parallel's compressors, fastest first.
const PROGRAMS: &[&str] = &[
    "pzstd", "lbzip2", "pbzip2", "zstd", "pixz", "lz4", "pigz", "lzop", "plzip", "lzip", "gzip", "lrz", "pxz", "bzip2",
    "lzma", "xz", "clzip",
];

/// The programs to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compression {
    pub(crate) compress: String,
    pub(crate) decompress: String,
    /// The shell that runs them.
    shell: std::path::PathBuf,
}

impl Compression {
    /// The programs for `--compress` (and the `--compress-program` and
    /// `--decompress-program` given, if any).
    pub(crate) fn choose(
        compress: Option<&str>,
        decompress: Option<&str>,
        shell: &Shell,
    ) -> Result<Compression, String> {
        let (compress, default_decompress) = match compress {
            Some(program) => (program.to_owned(), format!("{program} -dc")),
            None => match PROGRAMS.iter().find(|p| crate::shell::which(p.as_ref()).is_some()) {
                Some(p) => (format!("{p} -c -1"), format!("{p} -dc")),
                None => ("cat".to_owned(), "cat".to_owned()),
            },
        };
        let decompress = decompress.map_or(default_decompress, str::to_owned);
        for (flag, program) in [("--compress-program", &compress), ("--decompress-program", &decompress)] {
            if !shell.can_run(program.split_whitespace().next().unwrap_or_default()) {
                let first = program.split_whitespace().next().unwrap_or_default();
                return Err(format!("{flag}: '{first}' is not a program that can run."));
            }
        }
        Ok(Compression {
            compress,
            decompress,
            shell: shell.path().to_path_buf(),
        })
    }

    /// Starts compressing into `file`.
    pub(crate) fn start(&self, file: File) -> io::Result<Packing> {
        let mut child = Command::new(&self.shell)
            .arg("-c")
            .arg(&self.compress)
            .stdin(Stdio::piped())
            .stdout(file)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Packing {
            child: Some(child),
            stdin,
            program: self.compress.clone(),
            broken: false,
        })
    }

    /// Reads `file` (from its start) back through the decompressor, in
    /// pieces, into `sink`.
    pub(crate) fn unpack(&self, file: &File, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut input = file.try_clone()?;
        input.seek(SeekFrom::Start(0))?;
        let mut child = Command::new(&self.shell)
            .arg("-c")
            .arg(&self.decompress)
            .stdin(input)
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = child.stdout.take().ok_or_else(|| io::Error::other("no pipe"))?;
        let mut buf = vec![0u8; 64 * 1024];
        let copied = loop {
            match out.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = sink(&buf[..n]) {
                        break Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        drop(out);
        let status = child.wait()?;
        copied?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("{} failed.", self.decompress)))
        }
    }
}

/// A compressor at work.
#[derive(Debug)]
pub(crate) struct Packing {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    program: String,
    /// It stopped taking input (it died): said when it is finished.
    broken: bool,
}

impl Packing {
    /// Compresses more. A compressor that stopped taking input is only
    /// reported by [`finish`](Packing::finish), once, as GNU parallel
    /// reports it when the job ends.
    pub(crate) fn write(&mut self, data: &[u8]) {
        if let Some(stdin) = &mut self.stdin
            && stdin.write_all(data).is_err()
        {
            self.broken = true;
            self.stdin = None;
        }
    }

    /// Ends the input and waits for the compressor; an error if it failed.
    /// Finishing again does nothing.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.stdin = None;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.wait()?.success() && !self.broken {
            Ok(())
        } else {
            Err(self.failed())
        }
    }

    /// GNU parallel's words.
    fn failed(&self) -> io::Error {
        io::Error::other(format!("{} failed.", self.program))
    }
}

impl Drop for Packing {
    fn drop(&mut self) {
        // Unfinished (the job's output was thrown away): stop it now.
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> Shell {
        Shell::at("/bin/sh".into())
    }

    #[test]
    fn output_comes_back_as_it_went_in() {
        for (program, back) in [(None, None), (Some("gzip"), None), (Some("cat"), Some("cat"))] {
            let compression = Compression::choose(program, back, &sh()).unwrap();
            let file = tempfile::tempfile().unwrap();
            let mut packing = compression.start(file.try_clone().unwrap()).unwrap();
            let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_string().into_bytes()).collect();
            packing.write(&data);
            packing.finish().unwrap();
            let mut back = Vec::new();
            compression
                .unpack(&file, &mut |b| {
                    back.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            assert_eq!(back, data, "{program:?}");
        }
    }

    #[test]
    fn gnu_parallels_programs_and_flags() {
        let gz = Compression::choose(Some("gzip -9"), None, &sh()).unwrap();
        assert_eq!(
            (gz.compress.as_str(), gz.decompress.as_str()),
            ("gzip -9", "gzip -9 -dc")
        );
        let auto = Compression::choose(None, None, &sh()).unwrap();
        assert!(
            auto.compress.ends_with(" -c -1") || auto.compress == "cat",
            "{}",
            auto.compress
        );
    }

    #[test]
    fn a_missing_or_failing_program_is_an_error() {
        let e = Compression::choose(Some("no-such-zipper"), None, &sh()).unwrap_err();
        assert_eq!(e, "--compress-program: 'no-such-zipper' is not a program that can run.");
        let failing = Compression::choose(Some("false"), Some("cat"), &sh()).unwrap();
        let mut packing = failing.start(tempfile::tempfile().unwrap()).unwrap();
        packing.write(b"x");
        assert_eq!(packing.finish().unwrap_err().to_string(), "false failed.");
    }
}
