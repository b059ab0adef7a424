//! `--limit "command args"`: a command run before starting a job (and
//! now and then while jobs run) whose exit status says whether another
//! may start: 0 yes, 1 not now, 2 not now and kill the youngest job.
//! `io N`, `load N` and `mem N` are GNU parallel's predefined limits, run
//! as the same shell scripts.

use std::process::{Command, Stdio};

use crate::shell::Shell;
use crate::units::parse_size;

/// What the limit command said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Below the limit: start another job.
    Below,
    /// Over the limit: start none.
    Over,
    /// Way over: kill the youngest job (it goes back on the queue).
    WayOver,
}

/// A checked `--limit`.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    /// The shell script run for it.
    script: String,
    /// A file the `io` script keeps its last measurement in.
    scratch: Option<std::path::PathBuf>,
}

/// `io N`: at most N% disk utilisation (from `iostat`).
const IO: &str = "io() { limit=$1; io_file=$2; \
     ((tmp=$(mktemp); LANG=C iostat -x 1 2 > $tmp; mv $tmp $io_file) </dev/null >/dev/null & ); \
     perl -e '-e $ARGV[0] or exit(1); for(reverse <>) { /Device/ and last; /(\\S+)$/ and $max = $max > $1 ? $max : $1; } \
     exit ('$limit' < $max)' $io_file; }; io %s %s";

/// `mem N`: at least N bytes free (2 when under half of it).
const MEM: &str = "mem() { limit=$1; \
     awk '/^((Swap)?Cached|MemFree|Buffers):/{ sum += $2} \
     END { if (sum*1024 < '$limit'/2) { exit 2; } else { exit (sum*1024 < '$limit') } }' /proc/meminfo; }; mem %s;";

/// `load N`: fewer than N processes running or in disk wait.
const LOAD: &str = "load() { limit=$1; ps ax -o state,command | grep -E '^[DOR].[^[]' | wc -l | \
     perl -ne 'exit ('$limit' < $_)'; }; load %s";

impl Limit {
    /// Checks `--limit TEXT` before anything runs: its command must exist
    /// (and the programs a predefined limit uses).
    pub(crate) fn parse(text: &str, shell: &Shell) -> Result<Limit, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some(&first) = words.first() else {
            return Err("--limit needs a command".to_owned());
        };
        let size = |what: &str| -> Result<String, String> {
            let arg = words.get(1).copied().unwrap_or_default();
            parse_size(arg)
                .map(|n| n.to_string())
                .ok_or_else(|| format!("--limit \"{what} N\" needs a number, not {arg:?}"))
        };
        let needs = |programs: &[&str]| -> Result<(), String> {
            match programs.iter().find(|p| crate::shell::which(p.as_ref()).is_none()) {
                Some(missing) => Err(format!("--limit \"{first}\" needs {missing}, which is not installed.")),
                None => Ok(()),
            }
        };
        let (script, scratch) = match first {
            "io" => {
                needs(&["iostat", "perl", "mktemp"])?;
                let file = std::env::temp_dir().join(format!("parlmt{}", std::process::id()));
                (
                    IO.replacen("%s", &size("io")?, 1).replacen(
                        "%s",
                        &crate::shellquote::quote_str(&file.to_string_lossy()),
                        1,
                    ),
                    Some(file),
                )
            }
            "mem" => {
                needs(&["awk"])?;
                (MEM.replacen("%s", &size("mem")?, 1), None)
            }
            "load" => {
                needs(&["ps", "grep", "wc", "perl"])?;
                (LOAD.replacen("%s", &size("load")?, 1), None)
            }
            _ => {
                if !shell.can_run(first) {
                    return Err(format!("--limit: {first}: command not found"));
                }
                (text.to_owned(), None)
            }
        };
        Ok(Limit { script, scratch })
    }

    /// Runs the command (with `SSHLOGIN=:`, as GNU parallel runs it for
    /// the local computer) and reads its verdict. A status other than 0, 1
    /// and 2 (a command that cannot run) counts as over the limit.
    pub(crate) fn check(&self, shell: &Shell) -> Verdict {
        let status = Command::new(shell.path())
            .arg("-c")
            .arg(&self.script)
            .env("SSHLOGIN", ":")
            .stdin(Stdio::null())
            .status();
        match status.ok().and_then(|s| s.code()) {
            Some(0) => Verdict::Below,
            Some(2) => Verdict::WayOver,
            _ => Verdict::Over,
        }
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        if let Some(file) = &self.scratch {
            let _ = std::fs::remove_file(file);
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
    fn the_exit_status_is_the_verdict() {
        for (text, verdict) in [
            ("exit 0", Verdict::Below),
            ("true", Verdict::Below),
            ("false", Verdict::Over),
            ("exit 2", Verdict::WayOver),
            ("exit 7", Verdict::Over),
            ("test \"$SSHLOGIN\" = :", Verdict::Below),
        ] {
            let limit = Limit::parse(text, &sh()).unwrap();
            assert_eq!(limit.check(&sh()), verdict, "{text}");
        }
    }

    #[test]
    fn predefined_limits_run_gnus_scripts() {
        // A huge amount of free memory is never there; none always is.
        assert_eq!(Limit::parse("mem 0", &sh()).unwrap().check(&sh()), Verdict::Below);
        assert_eq!(Limit::parse("mem 1P", &sh()).unwrap().check(&sh()), Verdict::WayOver);
    }

    #[test]
    fn a_missing_command_or_number_is_an_error() {
        assert!(Limit::parse("", &sh()).is_err());
        assert!(
            Limit::parse("no-such-command-here 3", &sh())
                .unwrap_err()
                .contains("command not found")
        );
        assert!(Limit::parse("mem lots", &sh()).unwrap_err().contains("needs a number"));
        assert!(Limit::parse("/no/such/file", &sh()).is_err());
    }
}
