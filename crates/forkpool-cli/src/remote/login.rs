//! Sshlogins: what `-S` and `--sshloginfile` say, parsed as GNU parallel
//! parses them.
//!
//! ```text
//! [@group+group/][ncpus/][sshcommand [options] ][user[:password]@]host[:port]
//! ```
//! `:` is this machine. `-S` values are split at `,` and newlines (`,,`
//! and `\,` stand for a comma); `..` and `-` in them read a file of
//! sshlogins (`~/.parallel/sshloginfile`, standard input). `-S @group`
//! alone keeps only the sshlogins of that group.

use std::fmt;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One sshlogin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The groups it is in (`@a+b/`), always including its own name.
    pub(crate) groups: Vec<String>,
    /// `N/`: the number of CPUs to assume.
    pub(crate) cpus: Option<usize>,
    /// Its own ssh command (`/usr/bin/ssh -p 2222 host`).
    pub(crate) ssh: Option<String>,
    pub(crate) user: Option<String>,
    /// `user:password@host`: logged in through `sshpass`.
    pub(crate) password: Option<String>,
    /// The host name or address; `:` for this machine.
    pub(crate) host: String,
    pub(crate) port: Option<String>,
    /// As typed, without its groups: `[N/][sshcommand ]user@host`.
    pub(crate) text: String,
}

/// A `-S` word that is not an sshlogin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Login(Login),
    /// `@group` alone: use only the sshlogins of these groups.
    Groups(Vec<String>),
}

/// An sshlogin that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoginError(pub(crate) String);

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Login {
    /// Whether this is `:`.
    pub(crate) fn is_local(&self) -> bool {
        self.host == ":"
    }

    /// The name GNU parallel gives it (in the joblog, `--tag` with
    /// `--onall`, `$PARALLEL_SSHLOGIN`): `[sshcommand ][user@]host[:port]`.
    pub(crate) fn name(&self) -> String {
        if self.is_local() {
            return ":".to_owned();
        }
        let mut s = String::new();
        if let Some(ssh) = &self.ssh {
            s.push_str(ssh);
            s.push(' ');
        }
        if let Some(user) = &self.user {
            s.push_str(user);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(port) = &self.port {
            s.push(':');
            s.push_str(port);
        }
        s
    }

    /// Parses one sshlogin (or `@group`).
    pub(crate) fn parse(text: &str) -> Result<Entry, LoginError> {
        let fail = || LoginError(format!("Cannot parse the sshlogin '{text}'."));
        let mut s = text.trim_end();
        let mut groups: Vec<String> = Vec::new();
        if let Some(rest) = s.strip_prefix('@') {
            let (names, after) = match rest.split_once('/') {
                Some((names, after)) => (names, after),
                None => (rest, ""),
            };
            if names.is_empty() {
                return Err(fail());
            }
            groups.extend(names.split('+').map(str::to_owned));
            if after.is_empty() {
                return Ok(Entry::Groups(groups));
            }
            s = after;
        }
        // A login is always in the group named after its `N/host` form.
        let own_group = s.to_owned();
        let mut cpus = None;
        if let Some((n, rest)) = s.split_once('/')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            cpus = Some(n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(fail)?);
            s = rest;
        }
        let mut ssh = None;
        if let Some(space) = s.rfind(' ') {
            let command = s[..space].trim();
            if !command.is_empty() {
                ssh = Some(command.to_owned());
            }
            s = &s[space + 1..];
        }
        let mut user = None;
        let mut password = None;
        if let Some(at) = s.find('@') {
            let userpw = &s[..at];
            if userpw.is_empty() {
                return Err(fail());
            }
            match userpw.split_once(':') {
                Some((u, p)) => {
                    user = Some(u.to_owned());
                    password = Some(p.to_owned());
                }
                None => user = Some(userpw.to_owned()),
            }
            s = &s[at + 1..];
        }
        let (host, rest) = split_host(s).ok_or_else(fail)?;
        let mut port = None;
        let rest = if let Some(p) = rest.strip_prefix(':').filter(|p| !p.is_empty()) {
            port = Some(p);
            ""
        } else if let Some(p) = rest.strip_prefix(['p', '.', '#']).filter(|p| !p.is_empty()) {
            port = Some(p);
            ""
        } else {
            rest
        };
        if let Some(p) = port
            && !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(fail());
        }
        if !(rest.is_empty() || rest == ":") {
            return Err(fail());
        }
        if host.is_empty() && !(rest == ":" && user.is_none() && ssh.is_none()) {
            return Err(fail());
        }
        let host = if host.is_empty() {
            ":".to_owned()
        } else {
            host.to_owned()
        };
        let mut login = Login {
            text: own_group.clone(),
            groups,
            cpus,
            ssh,
            user,
            password,
            host,
            port: port.map(str::to_owned),
        };
        login.groups.push(own_group);
        let name = login.name();
        if !login.groups.contains(&name) {
            login.groups.push(name);
        }
        Ok(Entry::Login(login))
    }
}

/// Splits the host (name, IPv4, `[IPv6]` or bare IPv6) from what follows.
fn split_host(s: &str) -> Option<(&str, &str)> {
    let colons = s.bytes().filter(|&b| b == b':').count();
    if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']')?;
        let host = &inner[..end];
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return None;
        }
        return Some((host, &inner[end + 1..]));
    }
    if colons >= 2 {
        // Bare IPv6: the port, if any, follows `p`, `.` or `#`.
        let end = s
            .bytes()
            .position(|b| !(b.is_ascii_hexdigit() || b == b':'))
            .unwrap_or(s.len());
        return Some((&s[..end], &s[end..]));
    }
    let end = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
        .unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// Splits a `-S` value into its sshlogins: at `,` and newlines, with `,,`
/// and `\,` standing for a comma.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    let protected = value.replace("\\,", "\0").replace(",,", "\0");
    protected
        .split([',', '\n'])
        .map(|s| s.replace('\0', ","))
        .map(|s| s.trim_end().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A `--sshloginfile` (or `..`/`-` in `-S`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginFile {
    /// `-`: standard input, read once.
    Stdin,
    /// A file, read again when it changes.
    Path(PathBuf),
}

impl LoginFile {
    /// Resolves a `--sshloginfile` name as GNU parallel does: `..` is
    /// `~/.parallel/sshloginfile`, `.` is `/etc/parallel/sshloginfile`,
    /// `-` standard input; a name not found here is looked for in
    /// `~/.parallel`.
    pub(crate) fn resolve(name: &str) -> Result<LoginFile, LoginError> {
        let path = match name {
            "-" => return Ok(LoginFile::Stdin),
            ".." => crate::env::config_dir().join("sshloginfile"),
            "." => PathBuf::from("/etc/parallel/sshloginfile"),
            _ => {
                let here = PathBuf::from(name);
                if std::fs::File::open(&here).is_ok() {
                    here
                } else {
                    let there = crate::env::config_dir().join(name);
                    if std::fs::File::open(&there).is_ok() {
                        there
                    } else {
                        here
                    }
                }
            }
        };
        Ok(LoginFile::Path(path))
    }

    /// Reads its sshlogins (one a line; blank lines and `#` comments
    /// skipped).
    pub(crate) fn read(&self) -> Result<Vec<String>, LoginError> {
        let cannot = |path: &Path, e: &io::Error| {
            LoginError(format!(
                "Cannot open {}: {}.",
                path.display(),
                crate::jobs::io_reason(e)
            ))
        };
        let lines: Vec<String> = match self {
            LoginFile::Stdin => io::stdin()
                .lock()
                .lines()
                .collect::<Result<_, _>>()
                .map_err(|e| cannot(Path::new("-"), &e))?,
            LoginFile::Path(path) => {
                let text = std::fs::read(path).map_err(|e| cannot(path, &e))?;
                String::from_utf8_lossy(&text).lines().map(str::to_owned).collect()
            }
        };
        Ok(lines
            .into_iter()
            .filter(|l| {
                let t = l.trim_start();
                !t.is_empty() && !t.starts_with('#')
            })
            .map(|l| l.trim_end().to_owned())
            .collect())
    }

    /// When it was last changed (`None` for standard input, or when it
    /// cannot be read).
    pub(crate) fn modified(&self) -> Option<SystemTime> {
        match self {
            LoginFile::Stdin => None,
            LoginFile::Path(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
        }
    }
}

/// All sshlogins of `-S` values and login files, in order, each once;
/// `@group` entries keep only the sshlogins in those groups.
pub(crate) fn collect(sshlogins: &[String], files: &[LoginFile]) -> Result<Vec<Login>, LoginError> {
    let mut words = Vec::new();
    for value in sshlogins {
        for word in split_list(value) {
            match word.as_str() {
                ".." | "-" => words.extend(LoginFile::resolve(&word)?.read()?),
                _ => words.push(word),
            }
        }
    }
    for file in files {
        words.extend(file.read()?);
    }
    let mut logins: Vec<Login> = Vec::new();
    let mut wanted_groups: Vec<String> = Vec::new();
    for word in words {
        match Login::parse(&word)? {
            Entry::Groups(groups) => wanted_groups.extend(groups),
            Entry::Login(login) => {
                if let Some(same) = logins.iter_mut().find(|l| l.name() == login.name()) {
                    // Seen before: a later `N/` wins.
                    if login.cpus.is_some() {
                        same.cpus = login.cpus;
                    }
                    for g in login.groups {
                        if !same.groups.contains(&g) {
                            same.groups.push(g);
                        }
                    }
                } else {
                    logins.push(login);
                }
            }
        }
    }
    if !wanted_groups.is_empty() {
        logins.retain(|l| l.groups.iter().any(|g| wanted_groups.contains(g)));
    }
    Ok(logins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(text: &str) -> Login {
        match Login::parse(text) {
            Ok(Entry::Login(l)) => l,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn every_documented_form_parses() {
        let l = login("server.example.com");
        assert_eq!(
            (l.host.as_str(), l.user.as_deref(), l.cpus),
            ("server.example.com", None, None)
        );
        let l = login("8/my-8-cpu-server.example.com");
        assert_eq!((l.host.as_str(), l.cpus), ("my-8-cpu-server.example.com", Some(8)));
        let l = login("2/my_other_username@my-dualcore.example.net");
        assert_eq!(l.user.as_deref(), Some("my_other_username"));
        assert_eq!(l.name(), "my_other_username@my-dualcore.example.net");
        let l = login("4/ssh -p 2222 quadserver.example.net");
        assert_eq!(
            (l.ssh.as_deref(), l.host.as_str(), l.cpus),
            (Some("ssh -p 2222"), "quadserver.example.net", Some(4))
        );
        assert_eq!(l.name(), "ssh -p 2222 quadserver.example.net");
        let l = login("6//usr/local/bin/myssh -p 2222 -l myusername hexacpu");
        assert_eq!(
            (l.ssh.as_deref(), l.cpus),
            (Some("/usr/local/bin/myssh -p 2222 -l myusername"), Some(6))
        );
        let l = login("//usr/local/bin/myssh -p 2222 -l myusername hexacpu");
        assert_eq!(
            (l.ssh.as_deref(), l.cpus),
            (Some("//usr/local/bin/myssh -p 2222 -l myusername"), None)
        );
        let l = login("16/:");
        assert!(l.is_local());
        assert_eq!(l.cpus, Some(16));
        assert!(login(":").is_local());
        let l = login("@hostgroup1+hostgroup2/myusername@server2");
        assert!(l.groups.contains(&"hostgroup1".to_owned()) && l.groups.contains(&"hostgroup2".to_owned()));
        let l = login("user:secret@host:2222");
        assert_eq!(
            (l.password.as_deref(), l.port.as_deref()),
            (Some("secret"), Some("2222"))
        );
        assert_eq!(l.name(), "user@host:2222");
        let l = login("[::1]:2222");
        assert_eq!((l.host.as_str(), l.port.as_deref()), ("::1", Some("2222")));
        let l = login("::1p2222");
        assert_eq!((l.host.as_str(), l.port.as_deref()), ("::1", Some("2222")));
        assert_eq!(Login::parse("@grp").unwrap(), Entry::Groups(vec!["grp".into()]));
    }

    #[test]
    fn what_is_no_sshlogin_is_refused() {
        for bad in ["a@b@c", "host!", "@", "user@", "@/x", "h:2!2", "ssh -p 1 a@", "0/host"] {
            assert!(Login::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_split_at_commas_and_newlines() {
        assert_eq!(split_list("a,b\nc"), ["a", "b", "c"]);
        assert_eq!(split_list("ssh -J j1,,j2 h1,h2"), ["ssh -J j1,j2 h1", "h2"]);
        assert_eq!(split_list("a\\,b"), ["a,b"]);
    }

    #[test]
    fn files_skip_comments_and_groups_select() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slf");
        std::fs::write(&path, "# comment\n\n@g1/h1\n2/h2  \nh1\n").unwrap();
        let file = LoginFile::resolve(path.to_str().unwrap()).unwrap();
        let logins = collect(&[], std::slice::from_ref(&file)).unwrap();
        assert_eq!(logins.iter().map(Login::name).collect::<Vec<_>>(), ["h1", "h2"]);
        let only = collect(&["@g1".to_owned()], &[file]).unwrap();
        assert_eq!(only.iter().map(Login::name).collect::<Vec<_>>(), ["h1"]);
        let missing = LoginFile::resolve("/nonexistent/slf").unwrap();
        assert!(
            missing
                .read()
                .unwrap_err()
                .0
                .starts_with("Cannot open /nonexistent/slf")
        );
    }
}
