//! The environment a job starts with: ours, encoded once when the
//! supervisor starts, with the job's own variables on top.
//!
//! Encoding our whole environment for every job (reading it, checking it,
//! building `KEY=VALUE` strings) was most of what a spawn cost us; jobs
//! that start by the thousand make that the overhead that counts. So it is
//! captured once, and a job only encodes the few variables it sets.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

use super::SpawnError;

/// One variable, encoded: the whole `NAME=VALUE` string, in one
/// allocation (a job's few variables are encoded at every spawn), and
/// where its name ends.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    entry: CString,
    name_len: usize,
}

impl Var {
    /// Encodes `name=value`; a name that is empty or holds `=`, or a NUL
    /// anywhere, cannot be passed.
    pub(crate) fn new(name: &OsStr, value: &OsStr) -> Result<Var, SpawnError> {
        let name = name.as_bytes();
        if name.is_empty() || name.contains(&b'=') {
            return Err(SpawnError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an environment variable name is empty or contains '='",
            )));
        }
        // Room for the NUL too, which `CString::new` appends.
        let mut entry = Vec::with_capacity(name.len() + 1 + value.len() + 1);
        entry.extend_from_slice(name);
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        Ok(Var {
            entry: CString::new(entry).map_err(|_| SpawnError::NulByte)?,
            name_len: name.len(),
        })
    }

    /// Its name.
    fn name(&self) -> &[u8] {
        &self.entry.as_bytes()[..self.name_len]
    }
}

/// Our environment as it was when the supervisor started, plus the
/// guardian's marker (which no job can replace).
#[derive(Debug)]
pub(crate) struct Environment {
    base: Vec<Var>,
    marker_name: Vec<u8>,
}

impl Environment {
    /// Captures our environment, with `marker_name=marker_value` added.
    pub(crate) fn capture(marker_name: &str, marker_value: &OsStr) -> Environment {
        let mut base: Vec<Var> = std::env::vars_os()
            .filter(|(name, _)| name != marker_name)
            // What exec could not pass anyway cannot be in our
            // environment; skip rather than fail every job.
            .filter_map(|(name, value)| Var::new(&name, &value).ok())
            .collect();
        if let Ok(marker) = Var::new(OsStr::new(marker_name), marker_value) {
            base.push(marker);
        }
        Environment {
            base,
            marker_name: marker_name.as_bytes().to_vec(),
        }
    }

    /// Leaves variable `name` of ours out of every job's environment (the
    /// marker stays).
    pub(crate) fn remove(&mut self, name: &OsStr) {
        let name = name.as_bytes();
        if name != self.marker_name.as_slice() {
            self.base.retain(|var| var.name() != name);
        }
    }

    /// Encodes a job's own variables (the marker's name is ignored).
    pub(crate) fn encode(&self, vars: &[(OsString, OsString)]) -> Result<Vec<Var>, SpawnError> {
        vars.iter()
            .filter(|(name, _)| name.as_bytes() != self.marker_name.as_slice())
            .map(|(name, value)| Var::new(name, value))
            .collect()
    }

    /// The job's whole environment: ours, less what the job sets, then the
    /// job's (the last of several with one name wins).
    pub(crate) fn merged<'a>(&'a self, own: &'a [Var]) -> Vec<&'a CStr> {
        let set_later = |i: usize, name: &[u8]| own[i + 1..].iter().any(|v| v.name() == name);
        let mut entries: Vec<&CStr> = Vec::with_capacity(self.base.len() + own.len());
        entries.extend(
            self.base
                .iter()
                .filter(|var| !own.iter().any(|o| o.name() == var.name()))
                .map(|var| var.entry.as_c_str()),
        );
        entries.extend(
            own.iter()
                .enumerate()
                .filter(|(i, var)| !set_later(*i, var.name()))
                .map(|(_, var)| var.entry.as_c_str()),
        );
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(entries: Vec<&CStr>) -> Vec<String> {
        entries.iter().map(|e| e.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn a_jobs_variables_replace_ours_and_the_marker_stays() {
        let env = Environment {
            base: vec![
                Var::new(OsStr::new("A"), OsStr::new("1")).unwrap(),
                Var::new(OsStr::new("B"), OsStr::new("2")).unwrap(),
                Var::new(OsStr::new("MARK"), OsStr::new("42")).unwrap(),
            ],
            marker_name: b"MARK".to_vec(),
        };
        let own = env
            .encode(&[
                ("B".into(), "x".into()),
                ("C".into(), "y".into()),
                ("B".into(), "z".into()),
                ("MARK".into(), "no".into()),
            ])
            .unwrap();
        assert_eq!(strings(env.merged(&own)), ["A=1", "MARK=42", "C=y", "B=z"]);
    }

    #[test]
    fn removed_variables_are_not_passed_on_but_the_marker_stays() {
        let mut env = Environment {
            base: vec![
                Var::new(OsStr::new("BIG"), OsStr::new("x")).unwrap(),
                Var::new(OsStr::new("A"), OsStr::new("1")).unwrap(),
                Var::new(OsStr::new("MARK"), OsStr::new("42")).unwrap(),
            ],
            marker_name: b"MARK".to_vec(),
        };
        env.remove(OsStr::new("BIG"));
        env.remove(OsStr::new("MARK"));
        env.remove(OsStr::new("NOT_THERE"));
        assert_eq!(strings(env.merged(&[])), ["A=1", "MARK=42"]);
        // A job may still set it.
        let own = env.encode(&[("BIG".into(), "y".into())]).unwrap();
        assert_eq!(strings(env.merged(&own)), ["A=1", "MARK=42", "BIG=y"]);
    }

    #[test]
    fn variables_exec_cannot_pass_are_errors() {
        assert!(matches!(
            Var::new(OsStr::new("A"), OsStr::new("a\0b")),
            Err(SpawnError::NulByte)
        ));
        assert!(matches!(
            Var::new(OsStr::new("A=B"), OsStr::new("")),
            Err(SpawnError::Io(_))
        ));
        assert!(matches!(
            Var::new(OsStr::new(""), OsStr::new("")),
            Err(SpawnError::Io(_))
        ));
    }
}
