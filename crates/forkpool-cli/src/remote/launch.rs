//! A job's command for the host it goes to.
//!
//! On this machine (`:`), the job's own line, in its `--workdir`. On
//! another, `ssh HOST -- exec perl ...` with the remote wrapper carrying
//! the line, its environment and its work dir; with files to send or
//! fetch, that command sits in a small shell script between the rsyncs
//! (see `transfer`).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::cluster::{Cluster, shell_command};
use super::hosts::HostId;
use super::ssh;
use super::transfer::{self, Place};
use super::wrapper;
use super::{Settings, Workdir};
use crate::replace::push_quoted;
use crate::replace::{Multi, Template, Values};

/// The file options' templates (`--transferfile`, `--return`,
/// `--workdir`), parsed with the run's other templates (so `{= perl =}`
/// works in them too).
#[derive(Debug, Clone, Default)]
pub(crate) struct Templates {
    transfer: Vec<Template>,
    returns: Vec<Template>,
    workdir: Option<WorkdirTemplate>,
}

#[derive(Debug, Clone)]
enum WorkdirTemplate {
    Here(Vec<u8>),
    Fresh,
    Dir(Template),
}

impl Settings {
    /// The texts of the file options' templates, in the order
    /// [`Templates::new`] takes them back.
    pub(crate) fn file_templates(&self) -> Vec<(&'static str, Vec<u8>)> {
        let transfer = self.transfer.iter().map(|t| ("--transferfile", t.clone()));
        let mut texts: Vec<_> = transfer
            .chain(self.returns.iter().map(|t| ("--return", t.clone())))
            .collect();
        if let Some(Workdir::Dir(d)) = &self.workdir {
            texts.push(("--workdir", d.clone()));
        }
        texts
    }
}

impl Templates {
    /// The templates, parsed from [`Settings::file_templates`].
    pub(crate) fn new(settings: &Settings, parsed: Vec<Template>) -> Templates {
        let mut parsed = parsed.into_iter();
        let transfer: Vec<Template> = parsed.by_ref().take(settings.transfer.len()).collect();
        let returns: Vec<Template> = parsed.by_ref().take(settings.returns.len()).collect();
        let workdir = match &settings.workdir {
            None => None,
            Some(Workdir::Here) => Some(WorkdirTemplate::Here(here_workdir())),
            Some(Workdir::Fresh) => Some(WorkdirTemplate::Fresh),
            Some(Workdir::Dir(_)) => parsed.next().map(WorkdirTemplate::Dir),
        };
        Templates {
            transfer,
            returns,
            workdir,
        }
    }

    /// Whether a job needs any of them.
    pub(crate) fn is_empty(&self) -> bool {
        self.transfer.is_empty() && self.returns.is_empty() && self.workdir.is_none()
    }

    /// A job's files.
    pub(crate) fn render(&self, values: Values<'_>) -> JobFiles {
        let render = |t: &Template| t.render(values, Multi::Single);
        let (workdir, fresh) = match &self.workdir {
            None => (None, false),
            Some(WorkdirTemplate::Here(dir)) => (Some(dir.clone()), false),
            Some(WorkdirTemplate::Fresh) => (
                Some(crate::workdir::fresh(values.seq).into_os_string().into_vec()),
                true,
            ),
            Some(WorkdirTemplate::Dir(t)) => (Some(crate::workdir::tidy(render(t))), false),
        };
        JobFiles {
            transfer: self.transfer.iter().map(render).collect(),
            returns: self.returns.iter().map(render).collect(),
            workdir,
            fresh,
        }
    }
}

/// Where a running job runs, and what to account for when it ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub(crate) host: HostId,
    /// The master it uses (`-M`).
    pub(crate) master: Option<usize>,
    /// The local paths `--return` brings back (their sizes count as
    /// received, in the joblog).
    pub(crate) returns: Vec<Vec<u8>>,
    /// Bytes sent by `--transferfile`.
    pub(crate) sent: u64,
    /// ssh failed (255), and the host was then found up: the failure is
    /// the job's own.
    pub(crate) checked: bool,
    /// Its host slot was given back.
    pub(crate) released: bool,
    /// Its stderr is read here: the wrapper says when the job exits 255.
    pub(crate) watched: bool,
    /// `--hostgroups`: the groups its first argument named.
    pub(crate) arg_groups: Option<Vec<String>>,
    /// The wrapper said the job itself exited 255.
    pub(crate) said_255: bool,
    /// The end of its stderr held back: it may be the start of what the
    /// wrapper says.
    pub(crate) tail: Vec<u8>,
}

impl Placement {
    /// Takes what the wrapper says out of a job's stderr; returns what is
    /// the job's, holding back an end that may be the start of it.
    pub(crate) fn filter_stderr(&mut self, data: &[u8]) -> Vec<u8> {
        let marker = wrapper::EXITED_255;
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(data);
        if let Some(at) = buf.windows(marker.len()).position(|w| w == marker) {
            self.said_255 = true;
            buf.drain(at..at + marker.len());
        }
        let keep = (1..marker.len())
            .rev()
            .find(|&n| buf.len() >= n && buf.ends_with(&marker[..n]))
            .unwrap_or(0);
        self.tail = buf.split_off(buf.len() - keep);
        buf
    }
}

/// A job's files, with its replacement strings put in.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobFiles {
    pub(crate) transfer: Vec<Vec<u8>>,
    pub(crate) returns: Vec<Vec<u8>>,
    /// The work dir (`--workdir`), as it is for this job.
    pub(crate) workdir: Option<Vec<u8>>,
    /// `--workdir ...`: the dir is the job's own, removed after it.
    pub(crate) fresh: bool,
}

/// How to start a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// Here, as any local job: this line.
    Local(Vec<u8>),
    /// This command (ssh, or a script around it).
    Remote(ssh::Command),
}

/// `--workdir .` on a host: the current dir, relative to the home dir
/// when under it.
pub(crate) fn here_workdir() -> Vec<u8> {
    crate::workdir::here().into_os_string().into_vec()
}

/// A local job's line in its work dir: `cd DIR || exit 255; LINE` (and,
/// for a fresh dir, its removal after, keeping the job's status). The dir
/// is made first; relative dirs are under the home dir, as on a remote
/// host.
pub(crate) fn local_line(line: &[u8], files: &JobFiles) -> Vec<u8> {
    let Some(dir) = &files.workdir else {
        return line.to_vec();
    };
    let mut dir = dir.clone();
    if !dir.starts_with(b"/") {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        let mut full = home.as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(&dir);
        dir = full;
    }
    let _ = std::fs::create_dir_all(std::ffi::OsStr::from_bytes(&dir));
    let mut out = b"cd ".to_vec();
    push_quoted(&mut out, &dir);
    out.extend_from_slice(b" || exit 255; ");
    out.extend_from_slice(line);
    if files.fresh {
        out.extend_from_slice(b"\n_EXIT_status=$?; rm -rf ");
        push_quoted(&mut out, &dir);
        out.extend_from_slice(b"; exit $_EXIT_status");
    }
    out
}

impl Cluster {
    /// The command for a job of sequence number `seq` in job slot `slot`,
    /// placed on `placement.host`.
    /// `watched`: its stderr is read here (not shown as it comes).
    pub(crate) fn command(
        &self,
        placement: &mut Placement,
        line: &[u8],
        seq: u64,
        slot: usize,
        files: &JobFiles,
        watched: bool,
    ) -> Launch {
        let host = self.table.get(placement.host);
        if host.is_local() {
            return Launch::Local(local_line(line, files));
        }
        let mut env: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"PARALLEL_PID".to_vec(), std::process::id().to_string().into_bytes()),
            (b"PARALLEL_SEQ".to_vec(), seq.to_string().into_bytes()),
            (b"PARALLEL_JOBSLOT".to_vec(), slot.to_string().into_bytes()),
            (b"PARALLEL_SSHLOGIN".to_vec(), host.name.clone().into_bytes()),
            (b"PARALLEL_SSHHOST".to_vec(), host.login.host.clone().into_bytes()),
        ];
        if self.settings.hostgroups {
            env.extend(super::hostgroups::variables(
                &host.login.groups,
                placement.arg_groups.as_deref(),
            ));
        }
        env.extend(self.settings.env.vars.iter().cloned());
        let mut command = self.settings.env.functions.clone();
        command.extend_from_slice(line);
        let shell = std::env::var_os("PARALLEL_SHELL").filter(|s| !s.is_empty());
        let words = wrapper::Job {
            command: &command,
            env,
            shell: shell.as_ref().map(|s| s.as_bytes()),
            workdir: files.workdir.as_deref(),
            nice: self.nice(),
            termseq: self.termseq_text(),
            report_255: watched,
        }
        .words();
        placement.watched = watched;
        let control = placement.master.map(|k| host.masters[k].socket.clone());
        let control = control.as_deref();
        let cleanup = self.settings.cleanup;
        if files.transfer.is_empty() && files.returns.is_empty() && !files.fresh {
            return Launch::Remote(host.ssh.run(control, &words));
        }
        let workdir = files.workdir.clone().unwrap_or_else(|| b".".to_vec());
        let place = Place {
            ssh: &host.ssh,
            control,
            workdir: &workdir,
            rsync: &self.settings.rsync,
        };
        let before: Vec<Vec<u8>> = files.transfer.iter().map(|f| place.send(f)).collect();
        placement.sent = files.transfer.iter().map(|f| transfer::size(f)).sum();
        let mut after: Vec<Vec<u8>> = files.returns.iter().map(|f| place.fetch(f)).collect();
        if cleanup {
            after.extend(
                files
                    .transfer
                    .iter()
                    .chain(&files.returns)
                    .map(|f| place.remove(f, files.fresh)),
            );
        }
        if files.fresh {
            after.push(place.remove_workdir());
        }
        placement.returns.clone_from(&files.returns);
        let job = host.ssh.line(control, words.join(" ").as_bytes());
        let script = transfer::script(&before, &job, &after);
        let env: Vec<(OsString, OsString)> = host.ssh.env();
        Launch::Remote(shell_command(&script, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrappers_word_is_taken_out_of_stderr_across_chunks() {
        let mut p = Placement::default();
        let marker = wrapper::EXITED_255;
        let mut out = p.filter_stderr(b"error: x\n");
        out.extend(p.filter_stderr(&marker[..5]));
        assert!(!p.said_255);
        out.extend(p.filter_stderr(&marker[5..]));
        assert!(p.said_255);
        assert_eq!(out, b"error: x\n");
        assert!(p.tail.is_empty());
        let mut q = Placement::default();
        assert_eq!(q.filter_stderr(b"a\0"), b"a");
        assert_eq!(q.tail, b"\0", "held: it may start the word");
    }

    #[test]
    fn workdirs_are_cleaned_as_gnu_parallel_cleans_them() {
        use crate::workdir::{fresh, tidy};
        assert_eq!(tidy(b"./a/./b/".to_vec()), b"a/b");
        assert_eq!(tidy(b"/".to_vec()), b"/");
        assert_eq!(tidy(b"dir".to_vec()), b"dir");
        let fresh = fresh(7).into_os_string().into_string().unwrap();
        assert!(fresh.starts_with(".parallel/tmp/") && fresh.ends_with(&format!("-{}-7", std::process::id())));
    }

    #[test]
    fn local_jobs_change_to_their_workdir() {
        let files = JobFiles {
            workdir: Some(b"/tmp".to_vec()),
            ..JobFiles::default()
        };
        assert_eq!(local_line(b"pwd", &files), b"cd /tmp || exit 255; pwd");
        assert_eq!(local_line(b"pwd", &JobFiles::default()), b"pwd");
    }
}
