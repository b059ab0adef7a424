//! Files to and from the remote hosts, with `rsync` as GNU parallel uses
//! it: `--transferfile` before the job, `--return` after it, `--cleanup`
//! of both, `--basefile` once per host, all relative to `--workdir`.
//!
//! Each is a shell fragment run on this machine around the job's own
//! ssh command, GNU parallel's way:
//!
//! ```text
//! ssh H -- exec mkdir -p WD && rsync --protocol 30 -rlDzR -e 'ssh' ./in H:WD;
//! ssh H -- exec perl ... (the job);
//! _EXIT_status=$?; mkdir -p . && rsync ... --rsync-path='cd WD/.; rsync' -- H:./out .;
//! ssh H -- exec sh -c '...rm -f WD/in; rmdir ...'; exit $_EXIT_status
//! ```
//! A path with `/./` in it is relative to the work dir from there on
//! (rsync's `-R`); an absolute one lands at the same place remotely.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::ssh::Ssh;
use crate::replace::push_quoted;

/// `rsync` and its options: `--rsync-opts`, else `$PARALLEL_RSYNC_OPTS`,
/// else `-rlDzR`, with `--protocol 30` as GNU parallel adds for old
/// remote rsyncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rsync {
    pub(crate) options: String,
}

impl Default for Rsync {
    fn default() -> Self {
        Rsync {
            options: "-rlDzR".to_owned(),
        }
    }
}

/// Where a job's files go on one host.
pub(crate) struct Place<'a> {
    pub(crate) ssh: &'a Ssh,
    pub(crate) control: Option<&'a Path>,
    /// The remote work dir (`.` for the login dir).
    pub(crate) workdir: &'a [u8],
    pub(crate) rsync: &'a Rsync,
}

/// GNU parallel's `shell_quote_file`: quoted, with `./` in front of a
/// relative path (so a name starting with `-` is not an option).
fn quote_file(out: &mut Vec<u8>, path: &[u8]) {
    if path.starts_with(b"/") || path.starts_with(b"./") {
        push_quoted(out, path);
    } else {
        let mut p = b"./".to_vec();
        p.extend_from_slice(path);
        push_quoted(out, &p);
    }
}

/// Whether a path is put relative to the work dir.
fn is_relative(path: &[u8]) -> bool {
    !path.starts_with(b"/") || contains(path, b"/./")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `dirname(1)` for bytes.
fn dirname(path: &[u8]) -> &[u8] {
    let trimmed = &path[..path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1)];
    match trimmed.iter().rposition(|&b| b == b'/') {
        None => b".",
        Some(0) => b"/",
        Some(i) => &trimmed[..i],
    }
}

fn basename(path: &[u8]) -> &[u8] {
    let trimmed = &path[..path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1)];
    match trimmed.iter().rposition(|&b| b == b'/') {
        None => trimmed,
        Some(i) => &trimmed[i + 1..],
    }
}

/// After the last `/./`, or the whole path.
fn after_dot_slash(path: &[u8]) -> &[u8] {
    match path.windows(3).rposition(|w| w == b"/./") {
        Some(i) => &path[i + 3..],
        None => path,
    }
}

impl Place<'_> {
    /// `rsync --protocol 30 OPTIONS -e 'SSH'`.
    fn rsync(&self) -> Vec<u8> {
        let mut line = b"rsync --protocol 30 ".to_vec();
        line.extend_from_slice(self.rsync.options.as_bytes());
        line.extend_from_slice(b" -e");
        push_quoted(&mut line, &self.ssh.rsync_shell(self.control));
        line
    }

    /// Sends `file` (the command that does; `true` with a warning if it
    /// cannot be read, as GNU parallel does).
    pub(crate) fn send(&self, file: &[u8]) -> Vec<u8> {
        if std::fs::File::open(Path::new(std::ffi::OsStr::from_bytes(file))).is_err() {
            warning!(
                "{} is not readable and will not be transferred.",
                String::from_utf8_lossy(file)
            );
            return b"true".to_vec();
        }
        let mut dest = Vec::new();
        if is_relative(file) {
            quote_file(&mut dest, self.workdir);
        } else {
            dest.extend_from_slice(b"/");
        }
        let mut mkdir = b"exec mkdir -p ".to_vec();
        mkdir.extend_from_slice(&dest);
        let mut line = self.ssh.line(self.control, &mkdir);
        line.extend_from_slice(b" && ");
        line.extend(self.rsync());
        line.push(b' ');
        quote_file(&mut line, file);
        line.push(b' ');
        let mut target = self.ssh.rsync_host().into_bytes();
        target.push(b':');
        target.extend_from_slice(&dest);
        line.extend(target);
        line
    }

    /// Fetches `file` back after the job.
    pub(crate) fn fetch(&self, file: &[u8]) -> Vec<u8> {
        let file = {
            let mut f = file;
            while let Some(rest) = f.strip_prefix(b"./") {
                f = rest;
            }
            f
        };
        let mut wd = Vec::new();
        if is_relative(file) {
            wd.extend_from_slice(self.workdir);
            wd.push(b'/');
        }
        let base_dir: &[u8] = match file.windows(3).rposition(|w| w == b"/./") {
            Some(i) => &file[..=i],
            None => b"",
        };
        let no_base = after_dot_slash(file);
        let cd = dirname(no_base);
        let mut local_dir = base_dir.to_vec();
        local_dir.extend_from_slice(cd);
        let mut line = b"mkdir -p ".to_vec();
        quote_file(&mut line, &local_dir);
        line.extend_from_slice(b" && ");
        line.extend(self.rsync());
        let mut remote_cd = b"cd ".to_vec();
        quote_file(&mut remote_cd, &[&wd[..], cd].concat());
        remote_cd.extend_from_slice(b"; rsync");
        line.extend_from_slice(b" --rsync-path=");
        push_quoted(&mut line, &remote_cd);
        line.extend_from_slice(b" -- ");
        let mut remote = self.ssh.rsync_host().into_bytes();
        remote.push(b':');
        // rsync 3.2.4 and later quote remote names themselves; older ones
        // need them quoted for the remote shell too.
        if rsync_quotes_remote_args() {
            let mut name = b"./".to_vec();
            name.extend_from_slice(basename(file));
            remote.extend(name);
        } else {
            quote_file(&mut remote, basename(file));
        }
        push_quoted(&mut line, &remote);
        line.push(b' ');
        quote_file(&mut line, &local_dir);
        line
    }

    /// Removes `file` remotely, and the directories above it that are
    /// left empty; `remove_workdir` also removes the whole work dir
    /// (`--workdir ...`).
    pub(crate) fn remove(&self, file: &[u8], remove_workdir: bool) -> Vec<u8> {
        let path: Vec<u8> = if contains(file, b"/./") {
            [self.workdir, b"/", after_dot_slash(file)].concat()
        } else if !file.starts_with(b"/") {
            [self.workdir, b"/", file].concat()
        } else {
            file.to_vec()
        };
        let mut script = b"rm -f ".to_vec();
        quote_file(&mut script, &path);
        script.extend_from_slice(b" 2>/dev/null;");
        let mut dirs = Vec::new();
        let mut dir = dirname(&path);
        while dir != b"." && dir != b"/" && !dir.is_empty() {
            dirs.push(dir);
            dir = dirname(dir);
        }
        if !dirs.is_empty() {
            script.extend_from_slice(b" rmdir");
            for d in dirs {
                script.push(b' ');
                quote_file(&mut script, d);
            }
            script.extend_from_slice(b" 2>/dev/null;");
        }
        if remove_workdir {
            script.extend_from_slice(b" rm -rf ");
            quote_file(&mut script, self.workdir);
            script.push(b';');
        }
        let mut remote = b"exec sh -c ".to_vec();
        push_quoted(&mut remote, &script);
        self.ssh.line(self.control, &remote)
    }

    /// Removes the work dir (`--workdir ...` after each job).
    pub(crate) fn remove_workdir(&self) -> Vec<u8> {
        let mut remote = b"exec rm -rf ".to_vec();
        quote_file(&mut remote, self.workdir);
        self.ssh.line(self.control, &remote)
    }
}

/// Wraps a job's ssh command line with what goes before and after it,
/// keeping the job's exit status.
pub(crate) fn script(before: &[Vec<u8>], job: &[u8], after: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::new();
    for step in before {
        line.extend_from_slice(step);
        line.push(b';');
    }
    line.extend_from_slice(job);
    line.push(b';');
    if !after.is_empty() {
        line.extend_from_slice(b" _EXIT_status=$?;");
        for step in after {
            line.push(b' ');
            line.extend_from_slice(step);
            line.push(b';');
        }
        line.extend_from_slice(b" exit $_EXIT_status");
    }
    line
}

/// Whether the local rsync protects remote file names from the remote
/// shell itself (version 3.2.4 and later do).
fn rsync_quotes_remote_args() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        let Ok(out) = std::process::Command::new("rsync").arg("--version").output() else {
            return true;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
            .unwrap_or("");
        let numbers: Vec<u32> = version
            .trim_start_matches('v')
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        numbers >= vec![3, 2, 4]
    })
}

/// Refuses to start when `rsync` is not installed here.
pub(crate) fn check_rsync() -> Result<(), String> {
    match crate::shell::which(std::ffi::OsStr::new("rsync")) {
        Some(_) => Ok(()),
        None => Err("'rsync' is not in $PATH.".to_owned()),
    }
}

/// The size of a local file, 0 if it is not there.
pub(crate) fn size(file: &[u8]) -> u64 {
    std::fs::metadata(Path::new(std::ffi::OsStr::from_bytes(file))).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::login::{Entry, Login};

    fn ssh() -> Ssh {
        match Login::parse("h1").unwrap() {
            Entry::Login(l) => Ssh::new(&l, "ssh"),
            Entry::Groups(_) => unreachable!(),
        }
    }

    fn text(line: Vec<u8>) -> String {
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn paths_split_as_rsync_sees_them() {
        assert_eq!(dirname(b"a/b/c"), b"a/b");
        assert_eq!(dirname(b"c"), b".");
        assert_eq!(dirname(b"/c"), b"/");
        assert_eq!(basename(b"a/b/c"), b"c");
        assert_eq!(after_dot_slash(b"/tmp/./foo/bar"), b"foo/bar");
        assert!(is_relative(b"tmp/foo") && is_relative(b"/tmp/./foo") && !is_relative(b"/tmp/foo"));
    }

    #[test]
    fn files_are_sent_fetched_and_removed_as_gnu_parallel_does() {
        let ssh = ssh();
        let rsync = Rsync::default();
        let place = Place {
            ssh: &ssh,
            control: None,
            workdir: b".",
            rsync: &rsync,
        };
        let readable = "/etc/hostname";
        assert_eq!(
            text(place.send(readable.as_bytes())),
            "ssh h1 -- 'exec mkdir -p /' && rsync --protocol 30 -rlDzR -essh /etc/hostname h1:/"
        );
        assert_eq!(text(place.send(b"/nonexistent/file")), "true");
        assert_eq!(
            text(place.fetch(b"out/./in/file.out")),
            "mkdir -p ./out/in && rsync --protocol 30 -rlDzR -essh --rsync-path='cd ./in; rsync' \
             -- 'h1:./file.out' ./out/in"
        );
        assert_eq!(
            text(place.fetch(b"/tmp/x.out")),
            "mkdir -p /tmp && rsync --protocol 30 -rlDzR -essh --rsync-path='cd /tmp; rsync' -- 'h1:./x.out' /tmp"
        );
        assert_eq!(
            text(place.remove(b"a/b/c", false)),
            "ssh h1 -- 'exec sh -c '\"'\"'rm -f ./a/b/c 2>/dev/null; rmdir ./a/b ./a 2>/dev/null;'\"'\""
        );
        assert_eq!(
            text(script(&[b"pre".to_vec()], b"job", &[b"post".to_vec()])),
            "pre;job; _EXIT_status=$?; post; exit $_EXIT_status"
        );
        assert_eq!(text(script(&[], b"job", &[])), "job;");
    }
}
