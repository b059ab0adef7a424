//! A `--pipepart` job shown as run (`-v -v`, and with `--dryrun`): GNU
//! parallel shows the shell command that reads the job's part of the file
//! and pipes it into the job,
//!
//! ```text
//! <FILE perl -e '...' HEADER_START HEADER_LENGTH START LENGTH |(COMMAND)
//! ```
//!
//! and `parsort` runs those lines (`parallel --pipepart --dryrun -vv sort
//! ::: FILE`) to sort the parts in a shell of its own. We show the same
//! line: it reads exactly the part (and its header) we would give the job.

use super::{FilePart, Stdin};

/// GNU parallel's reader of parts of a file: the arguments are pairs of
/// offset and length.
const READER: &[u8] = b"perl -e 'while(@ARGV){sysseek(STDIN,shift,0)||die;$left=shift;\
while($read=sysread(STDIN,$buf,$left>32767?32767:$left)){$left-=$read;syswrite(STDOUT,$buf);}}'";

/// `command` as run with `stdin`, if that is part of a named file.
pub(crate) fn as_run(stdin: Option<&Stdin>, command: &[u8]) -> Option<Vec<u8>> {
    let Some(Stdin::Part(part)) = stdin else {
        return None;
    };
    reading(part, command)
}

fn reading(part: &FilePart, command: &[u8]) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = part.path.as_ref()?;
    let mut line = b"<".to_vec();
    crate::replace::push_quoted(&mut line, path.as_os_str().as_bytes());
    line.push(b' ');
    line.extend_from_slice(READER);
    // Each file's header is its first bytes.
    let (start, end) = (part.range.start, part.range.end);
    let numbers = format!(" 0 {} {start} {} |(", part.header.len(), end - start);
    line.extend_from_slice(numbers.as_bytes());
    line.extend_from_slice(command);
    line.push(b')');
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn a_part_is_read_by_gnus_perl_line() {
        let file = tempfile::tempfile().unwrap();
        let part = FilePart {
            file: Arc::new(file),
            path: Some(Arc::new(PathBuf::from("a b"))),
            header: Arc::from(&b"h\n"[..]),
            range: super::super::part::Range { start: 2, end: 10 },
        };
        let shown = reading(&part, b"sort -n").unwrap();
        let shown = String::from_utf8(shown).unwrap();
        assert!(shown.starts_with("<'a b' perl -e 'while(@ARGV)"), "{shown}");
        assert!(shown.ends_with("}}' 0 2 2 8 |(sort -n)"), "{shown}");
    }
}
