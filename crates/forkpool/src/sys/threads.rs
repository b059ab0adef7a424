//! How many threads the calling process has, read from `/proc`.

use std::io;

/// The number of threads in this process (field 20 of `/proc/self/stat`).
///
/// Forking, or changing the environment, is only sound when this is 1.
pub(crate) fn count() -> io::Result<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    parse_thread_count(&stat).ok_or_else(|| io::Error::other("unreadable /proc/self/stat"))
}

/// Parses the thread count out of a `/proc/<pid>/stat` line. The command
/// name (field 2) is in parentheses and may itself hold spaces or `)`, so the
/// fields are counted from the *last* `)`.
fn parse_thread_count(stat: &str) -> Option<usize> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Fields after the name start at field 3 ("state"); threads is field 20.
    after_comm.split_whitespace().nth(20 - 3)?.parse().ok()
}

/// True when the calling process has exactly one thread.
pub(crate) fn is_single_threaded() -> bool {
    matches!(count(), Ok(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 12345 1000 10";
        assert_eq!(parse_thread_count(line), Some(7));
        assert_eq!(parse_thread_count("garbage"), None);
    }

    #[test]
    fn counts_this_process() {
        // The test harness runs at least this thread.
        assert!(count().unwrap() >= 1);
    }
}
