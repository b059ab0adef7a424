//! `--retry-failed`: run again the commands that failed in the joblog,
//! taken from the joblog itself (the command line's command and input are
//! ignored), keeping their sequence numbers, as GNU parallel does.
//!
//! The log's jobs become the input, one command line per sequence number
//! (`true` for those that succeeded, which `--resume-failed`'s rule then
//! skips; nothing for numbers the log does not have); the new lines are
//! added to the same log.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// The input `--retry-failed` runs: one command line per sequence number,
/// from 1 to the highest in the log.
pub(crate) fn commands(joblog: &Path) -> Result<Vec<OsString>, String> {
    let text = std::fs::read(joblog).map_err(|e| {
        format!(
            "--retry-failed cannot read the joblog '{}': {}",
            joblog.display(),
            crate::jobs::io_reason(&e)
        )
    })?;
    let mut by_seq: Vec<Option<Vec<u8>>> = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let fields: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
        let number = |f: &[u8]| std::str::from_utf8(f).ok()?.trim().parse::<i64>().ok();
        let parsed = (fields.len() == 9)
            .then(|| Some((number(fields[0])?, number(fields[6])?, number(fields[7])?)))
            .flatten();
        let Some((seq, exitval, signal)) = parsed.filter(|(seq, _, _)| *seq > 0) else {
            if line.starts_with(b"Seq\t") {
                continue;
            }
            return Err(format!(
                "Format of '{}' is wrong: {}",
                joblog.display(),
                String::from_utf8_lossy(line)
            ));
        };
        let index = seq as usize - 1;
        if by_seq.len() <= index {
            by_seq.resize(index + 1, None);
        }
        // A command that once succeeded is not run again; the joblog
        // writes a newline in a command as NUL.
        let command = if exitval == 0 && signal == 0 {
            b"true".to_vec()
        } else {
            fields[8].iter().map(|&b| if b == 0 { b'\n' } else { b }).collect()
        };
        if by_seq[index].as_deref() != Some(b"true") {
            by_seq[index] = Some(command);
        }
    }
    Ok(by_seq
        .into_iter()
        .map(|c| OsString::from_vec(c.unwrap_or_default()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_commands_come_back_in_their_places() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(
            &log,
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n\
             1\t:\t1.000\t     0.001\t0\t2\t1\t0\techo 1; exit 1\n\
             2\t:\t1.000\t     0.001\t0\t2\t0\t0\techo 2\n\
             4\t:\t1.000\t     0.001\t0\t2\t0\t9\tsleep 9\0echo x\n",
        )
        .unwrap();
        let got: Vec<String> = commands(&log)
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["echo 1; exit 1", "true", "", "sleep 9\necho x"]);
    }

    #[test]
    fn a_missing_or_malformed_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            commands(&dir.path().join("none"))
                .unwrap_err()
                .contains("cannot read the joblog")
        );
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "nonsense\n").unwrap();
        assert!(commands(&bad).unwrap_err().starts_with("Format of"));
    }
}
