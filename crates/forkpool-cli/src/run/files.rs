//! A job's files: `--files` (its output kept in a file whose name is
//! printed), and `$PARALLEL_TMP` (a name for the job to use, removed when
//! it ends), plus the variables GNU parallel gives every local job.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use forkpool::command::Stream;

use super::{Runner, Running};
use crate::jobs::io_reason;
use crate::output::Mode;
use crate::output::files::{OutFile, fresh_name};

/// What `--files` leaves of a finished job.
pub(super) struct Published {
    /// The name to print (with its end: newline or NUL), when the file
    /// has one already (a `--results` file); else the `--files` file gets
    /// one when it is printed.
    name: Option<Vec<u8>>,
    /// Bytes in the file (the joblog's "received").
    pub(super) size: Option<u64>,
}

impl Runner<'_> {
    /// Whether jobs' output goes to `--files` (not with `-u`).
    pub(super) fn files_mode(&self) -> bool {
        self.config.files.names.is_some() && self.config.mode != Mode::Ungroup
    }

    /// `--files`: the job's output file (none with `--results`, whose
    /// stdout file is the one named).
    pub(super) fn open_out_file(&self, results: bool) -> Result<Option<OutFile>, String> {
        if !self.files_mode() || results {
            return Ok(None);
        }
        OutFile::create(&self.config.files)
            .map(Some)
            .map_err(|e| format!("cannot create a file for --files: {}", io_reason(&e)))
    }

    /// Variables every job gets from GNU parallel beyond
    /// `PARALLEL_SEQ`, `PARALLEL_JOBSLOT` and `PARALLEL_PID`.
    pub(super) fn job_env(&self, running: &Running, env: &mut Vec<(OsString, OsString)>) {
        env.push(("TMPDIR".into(), self.config.files.tmpdir_var()));
        env.push(("PARALLEL_TMP".into(), running.tmp.as_os_str().to_owned()));
        // The job's host (`:` here), as GNU parallel sets it ({host}, {sshlogin}).
        let (login, host) = self.job_host(running.placement.as_ref());
        env.push(("PARALLEL_SSHLOGIN".into(), login.into()));
        env.push(("PARALLEL_SSHHOST".into(), host.into()));
        if self.config.remote.hostgroups
            && let (Some(cluster), Some(placement)) = (self.cluster(), running.placement.as_ref())
        {
            let host = cluster.table.get(placement.host);
            let vars = crate::remote::hostgroups::variables(&host.login.groups, placement.arg_groups.as_deref());
            for (name, value) in vars {
                use std::os::unix::ffi::OsStringExt as _;
                env.push((OsString::from_vec(name), OsString::from_vec(value)));
            }
        }
        env.push((
            self.config.process_slot_var.clone(),
            (running.slot.saturating_sub(1)).to_string().into(),
        ));
    }

    /// A name for the job's `$PARALLEL_TMP` in slot `slot`: a name that
    /// does not exist yet, as in GNU parallel. The one the slot's last job
    /// had, which was removed when that job ended, when it still does not
    /// exist (someone may have taken it since); else a fresh one.
    ///
    /// Why not always a fresh one: making sure a new random name is free
    /// is a lookup the file system cannot answer from its cache, a search
    /// of the directory, and in a big `/tmp` (a few hundred thousand
    /// entries) that search was the most expensive thing we did per job
    /// (20 µs, more than the rest of our per-job own time together, apart
    /// from starting the process). Checking the name we removed ourselves
    /// is answered from the kernel's cache of names known to be absent.
    /// Jobs running at the same time still have different names (one per
    /// slot); only jobs of the same slot, one after the other, may see the
    /// same one.
    pub(super) fn tmp_name(&mut self, slot: usize) -> PathBuf {
        if let Some(name) = self.spare_tmp.remove(&slot)
            && std::fs::symlink_metadata(&name).is_err()
        {
            return name;
        }
        fresh_name(&self.config.files.tmpdir, "par", "")
    }

    /// The job ended: its `$PARALLEL_TMP` goes, its compressors finish
    /// and its `--files` file is complete. The message, if a compressor
    /// failed (the job then failed too, as in GNU parallel).
    pub(super) fn settle_files(&mut self, running: &mut Running) -> (Option<Published>, Option<String>) {
        let _ = std::fs::remove_file(&running.tmp);
        // Free again (or taken by someone else, which the next job of the
        // slot finds out): see `tmp_name`.
        self.spare_tmp.insert(running.slot, std::mem::take(&mut running.tmp));
        if self.config.cleanup {
            for file in &running.filled {
                let _ = std::fs::remove_file(file);
            }
        }
        let mut failure = self.printer.seal(running.job.seq).err().map(|e| e.to_string());
        if !self.files_mode() {
            return (None, failure);
        }
        let end = self.name_end();
        let (name, size) = match (&mut running.out_file, &running.files) {
            (Some(file), _) => {
                let size = match file.finish() {
                    Ok(size) => Some(size),
                    Err(e) => {
                        failure.get_or_insert(format!("cannot keep the output of job {}: {e}", running.job.seq));
                        None
                    }
                };
                (None, size)
            }
            (None, Some(results)) => {
                let mut name = results.stdout_path.as_os_str().as_bytes().to_vec();
                name.push(end);
                (Some(name), None)
            }
            (None, None) => return (None, failure),
        };
        (Some(Published { name, size }), failure)
    }

    /// What ends a printed `--files` name: a newline, or NUL (`--files0`).
    fn name_end(&self) -> u8 {
        self.config.files.names.map_or(b'\n', |n| n.byte())
    }

    /// Prints a `--files` name as the job's output: a `--results` file's
    /// now, `file`'s when the printer prints it (it is named then).
    pub(super) fn publish(&mut self, seq: u64, published: &Published, file: Option<OutFile>) {
        let Some(name) = &published.name else {
            if let Some(file) = file {
                self.printer.name_later(seq, file, self.name_end());
            }
            return;
        };
        let printer = &mut self.printer;
        let written = self.progress.suspend(|| printer.output(seq, Stream::Stdout, name));
        if let Err(e) = written {
            self.output_failed(&e);
        }
    }
}
