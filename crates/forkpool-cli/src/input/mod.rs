//! Input sources and how their items combine into jobs' arguments.
//!
//! Each source yields *items*; an item is one or more columns (more than
//! one with `--colsep`). Sources combine into *records*, the flattened
//! columns of one item from each source:
//! - by default as a cartesian product, the last source varying fastest;
//! - `:::+`/`::::+` link a source to the one before it: they advance
//!   together, and the shorter ends the group;
//! - `--link` links every source, and shorter ones wrap around.
//!
//! Everything is lazy where it can be: a single source (say a million
//! lines on stdin) is read as jobs are started, never held whole. A product
//! needs the inner sources in memory; the first one still streams.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use regex::bytes::Regex;

mod reading;

use reading::{Group, read_all, read_as_gnu, read_each, read_group_item, read_in_turns};

/// The values of one record: every source's columns, in order.
pub(crate) type Record = Vec<Vec<u8>>;

/// A lazily read stream of items split at a delimiter.
pub(crate) struct Reader {
    inner: BufReader<Box<dyn Read + Send>>,
    delimiter: Vec<u8>,
    done: bool,
    /// Reading may wait on another process (a pipe, a terminal), not
    /// just on a disk.
    may_block: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("delimiter", &self.delimiter)
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(crate) fn new(inner: Box<dyn Read + Send>, delimiter: Vec<u8>) -> Reader {
        Reader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            delimiter,
            done: false,
            may_block: false,
        }
    }

    /// Opens a file, or standard input for `-`.
    pub(crate) fn open(path: &Path, delimiter: Vec<u8>) -> io::Result<Reader> {
        let (inner, regular): (Box<dyn Read + Send>, bool) = if path == Path::new("-") {
            let stdin = io::stdin();
            let regular = rustix::fs::fstat(&stdin)
                .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile);
            (Box::new(stdin), regular)
        } else {
            let file = File::open(path)?;
            let regular = file.metadata()?.is_file();
            (Box::new(file), regular)
        };
        let mut reader = Reader::new(inner, delimiter);
        reader.may_block = !regular;
        Ok(reader)
    }

    /// Whether reading may wait on another process (a pipe, a terminal).
    pub(crate) fn may_block(&self) -> bool {
        self.may_block
    }

    /// Whether the next item is already read (or the input ended): it
    /// comes without waiting.
    pub(crate) fn ready(&self) -> bool {
        if self.done || !self.may_block {
            return true;
        }
        let last = *self.delimiter.last().unwrap_or(&b'\n');
        self.inner_buffer().contains(&last)
    }

    fn inner_buffer(&self) -> &[u8] {
        self.inner.buffer()
    }

    /// The next item, with any NUL byte in it replaced by `\0` (an
    /// argument cannot hold one), with GNU parallel's warning for each
    /// such item. GNU's `\0noarg` (which `--nonall` given arguments adds
    /// as an input source) is left as it is: it is nothing in a command.
    fn read_item(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(item) = self.read_raw_item()? else {
            return Ok(None);
        };
        if !item.contains(&0) || item == crate::replace::NOARG {
            return Ok(Some(item));
        }
        warning!(
            "Warning: A NUL character in the input was replaced with \\0.\n\
             Warning: NUL cannot be passed through in the argument list.\n\
             Warning: Did you mean to use the --null option?"
        );
        let mut replaced = Vec::with_capacity(item.len() + 8);
        for b in item {
            match b {
                0 => replaced.extend_from_slice(b"\\0"),
                b => replaced.push(b),
            }
        }
        Ok(Some(replaced))
    }

    fn read_raw_item(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut item = Vec::new();
        let last = *self.delimiter.last().unwrap_or(&b'\n');
        loop {
            let n = self.inner.read_until(last, &mut item)?;
            if n == 0 {
                self.done = true;
                return Ok((!item.is_empty()).then_some(item));
            }
            if item.ends_with(&self.delimiter) {
                item.truncate(item.len() - self.delimiter.len());
                return Ok(Some(item));
            }
            if !item.ends_with(&[last]) {
                // End of input without a final delimiter.
                self.done = true;
                return Ok(Some(item));
            }
        }
    }
}

impl Iterator for Reader {
    type Item = io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read_item().transpose()
    }
}

/// Turns an input line into columns.
#[derive(Debug, Clone)]
pub(crate) struct Splitter {
    colsep: Option<Regex>,
    /// `--csv`: fields by CSV rules, and records that span lines joined
    /// with the input delimiter between them.
    csv: Option<(crate::csv::Csv, Vec<u8>)>,
}

impl Splitter {
    pub(crate) fn new(colsep: Option<Regex>) -> Splitter {
        Splitter { colsep, csv: None }
    }

    /// `--csv` with this field separator; `delimiter` ends input items.
    pub(crate) fn csv(separator: &[u8], delimiter: &[u8]) -> Splitter {
        Splitter {
            colsep: None,
            csv: Some((crate::csv::Csv::new(separator), delimiter.to_vec())),
        }
    }

    /// The columns of one item. Blanks around them stay: `--trim` (which
    /// `--colsep` implies) removes them where the values are used, as in
    /// GNU parallel.
    pub(crate) fn split(&self, item: Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
        if let Some((csv, _)) = &self.csv {
            return csv.fields(&item);
        }
        Ok(match &self.colsep {
            None => vec![item],
            Some(re) => perl_split(re, &item),
        })
    }
}

/// `text` split where `re` matches, as Perl's `split` (GNU parallel's
/// `--colsep`, with a limit of -1) does it: an empty match at the start
/// splits nothing, so a pattern that matches nothing (`''`, `'|'`) gives
/// the characters, and then an empty last field.
pub(crate) fn perl_split(re: &Regex, text: &[u8]) -> Vec<Vec<u8>> {
    let mut fields = Vec::new();
    let mut start = 0;
    for m in re.find_iter(text) {
        if m.is_empty() && m.start() == 0 {
            continue;
        }
        fields.push(text[start..m.start()].to_vec());
        start = m.end();
    }
    fields.push(text[start..].to_vec());
    fields
}

/// One input source, ready to read.
pub(crate) enum Source {
    /// Values given on the command line.
    Values(std::vec::IntoIter<Vec<u8>>),
    /// A file or standard input.
    Lines(Reader),
    /// Another source read under xargs's rules (`-E`, `-r`, `-L`).
    Xargs(Box<crate::xargs::items::Items>),
    /// A file read by more than one source (`:::: - :::: -`): as in GNU
    /// parallel, the sources take turns at one stream, each item going to
    /// the source that asks first.
    Shared(SharedReader),
}

/// A [`Reader`] that more than one source reads from.
pub(crate) type SharedReader = std::sync::Arc<std::sync::Mutex<Reader>>;

fn lock(reader: &SharedReader) -> std::sync::MutexGuard<'_, Reader> {
    reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Source {
    /// Values given on the command line, in order, as they are.
    #[cfg(test)]
    pub(crate) fn values<S: AsRef<std::ffi::OsStr>>(values: &[S]) -> Source {
        use std::os::unix::ffi::OsStrExt;
        Source::Values(
            values
                .iter()
                .map(|v| v.as_ref().as_bytes().to_vec())
                .collect::<Vec<_>>()
                .into_iter(),
        )
    }

    /// Values given after `:::`, each cut at `delimiter` as GNU parallel
    /// cuts them (it reads them back as if from a file): `::: "a,b" -d ,`
    /// is two items, and so is a value with a newline in it.
    pub(crate) fn delimited_values<S: AsRef<std::ffi::OsStr>>(values: &[S], delimiter: &[u8]) -> Source {
        use std::os::unix::ffi::OsStrExt;
        let mut items = Vec::new();
        for value in values {
            let mut rest = value.as_ref().as_bytes();
            while let Some(at) = find(rest, delimiter) {
                items.push(rest[..at].to_vec());
                rest = &rest[at + delimiter.len()..];
            }
            items.push(rest.to_vec());
        }
        Source::Values(items.into_iter())
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Source {
    /// Whether the next item can be read without waiting.
    pub(crate) fn ready(&self) -> bool {
        match self {
            Source::Values(_) => true,
            Source::Lines(r) => r.ready(),
            Source::Xargs(items) => items.ready(),
            Source::Shared(r) => lock(r).ready(),
        }
    }

    /// Whether this source reads a stream another source reads too.
    fn is_shared(&self) -> bool {
        match self {
            Source::Shared(_) => true,
            Source::Xargs(items) => items.source().is_shared(),
            Source::Values(_) | Source::Lines(_) => false,
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Values(v) => f.debug_tuple("Values").field(&v.len()).finish(),
            Source::Lines(r) => f.debug_tuple("Lines").field(r).finish(),
            Source::Xargs(items) => f.debug_tuple("Xargs").field(items).finish(),
            Source::Shared(r) => f.debug_tuple("Shared").field(&*lock(r)).finish(),
        }
    }
}

impl Iterator for Source {
    type Item = io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Source::Values(v) => v.next().map(Ok),
            Source::Lines(r) => r.next(),
            Source::Xargs(items) => items.next(),
            Source::Shared(r) => lock(r).next(),
        }
    }
}

/// A source with its column splitting applied; yields items as columns.
#[derive(Debug)]
pub(crate) struct Columns {
    source: Source,
    splitter: Splitter,
    /// Columns of this source's items, at least (the widest so far).
    pub(crate) width: usize,
}

impl Columns {
    pub(crate) fn new(source: Source, splitter: Splitter) -> Columns {
        Columns {
            source,
            splitter,
            width: 1,
        }
    }

    /// Reads the first item as a header line: the names of this source's
    /// columns.
    pub(crate) fn take_header(&mut self, split: &Regex) -> io::Result<Vec<Vec<u8>>> {
        let mut line = self.source.next().transpose()?.unwrap_or_default();
        if line.ends_with(b"\r") {
            line.pop();
        }
        Ok(perl_split(split, &line))
    }
}

impl Iterator for Columns {
    type Item = io::Result<Vec<Vec<u8>>>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut item = match self.source.next()? {
            Ok(item) => item,
            Err(e) => return Some(Err(e)),
        };
        if let Some((_, delimiter)) = &self.splitter.csv {
            // A quoted field may hold the delimiter: read on to its end.
            while crate::csv::Csv::is_open(&item) {
                match self.source.next() {
                    Some(Ok(more)) => {
                        item.extend_from_slice(delimiter);
                        item.extend_from_slice(&more);
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => break,
                }
            }
        }
        Some(self.splitter.split(item).inspect(|columns| {
            self.width = self.width.max(columns.len());
        }))
    }
}

impl Columns {
    /// Whether the next item can be read without waiting.
    pub(crate) fn ready(&self) -> bool {
        self.source.ready()
    }
}

/// How sources combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linking {
    /// The cartesian product, except where `:::+` links a source to the
    /// one before it.
    Product,
    /// `--link`: every source advances together; shorter ones wrap.
    All,
}

/// Yields records, combining the sources.
pub(crate) struct Records {
    state: State,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").finish_non_exhaustive()
    }
}

enum State {
    /// One group, read in lockstep as records are asked for.
    Stream(Group),
    /// `--link` over several sources: read whole, then zipped with
    /// wrap-around.
    Wrapped {
        sources: Vec<Vec<Vec<Vec<u8>>>>,
        index: usize,
        len: usize,
    },
    /// A product: the first group streams, the others are in memory. As in
    /// GNU parallel, an empty group counts as one empty value (unless every
    /// group is empty).
    Product {
        outer: Group,
        /// The outer group's first record, when it was read ahead.
        first: Option<Option<Record>>,
        inner: Vec<Vec<Record>>,
        current: Option<Record>,
        odometer: Vec<usize>,
        /// Whether the outer group has yielded anything yet.
        outer_started: bool,
        /// Whether some inner group has values of its own.
        inner_has_values: bool,
    },
    Failed(Option<io::Error>),
}

impl Records {
    /// Combines `sources`; `linked[i]` says whether source `i` is linked to
    /// source `i - 1` (`:::+`).
    pub(crate) fn new(sources: Vec<Columns>, linked: &[bool], linking: Linking) -> Records {
        let shared = sources.iter().any(|c| c.source.is_shared());
        if linking == Linking::All && sources.len() > 1 {
            let read = if shared {
                read_in_turns(sources)
            } else {
                read_each(sources)
            };
            let materialized = match read {
                Ok(materialized) => materialized,
                Err(e) => {
                    return Records {
                        state: State::Failed(Some(e)),
                    };
                }
            };
            let len = if materialized.iter().any(Vec::is_empty) {
                0
            } else {
                materialized.iter().map(Vec::len).max().unwrap_or(0)
            };
            return Records {
                state: State::Wrapped {
                    sources: materialized,
                    index: 0,
                    len,
                },
            };
        }
        let mut groups: Vec<Group> = Vec::new();
        for (i, source) in sources.into_iter().enumerate() {
            match groups.last_mut() {
                Some(group) if linked.get(i).copied().unwrap_or(false) => group.sources.push(source),
                _ => groups.push(Group { sources: vec![source] }),
            }
        }
        let mut groups = groups.into_iter();
        let Some(mut outer) = groups.next() else {
            return Records {
                state: State::Failed(None),
            };
        };
        let rest: Vec<Group> = groups.collect();
        if rest.is_empty() {
            return Records {
                state: State::Stream(outer),
            };
        }
        let read = if shared {
            read_as_gnu(&mut outer, rest).map(|(first, inner)| (Some(first), inner))
        } else {
            rest.into_iter()
                .map(|mut group| read_all(&mut group).map(|all| (all, group.sources.len())))
                .collect::<io::Result<Vec<_>>>()
                .map(|inner| (None, inner))
        };
        let (first, read) = match read {
            Ok(read) => read,
            Err(e) => {
                return Records {
                    state: State::Failed(Some(e)),
                };
            }
        };
        let mut inner = Vec::new();
        let mut inner_has_values = false;
        for (all, width) in read {
            if all.is_empty() {
                inner.push(vec![vec![Vec::new(); width]]);
            } else {
                inner_has_values = true;
                inner.push(all);
            }
        }
        let odometer = vec![0; inner.len()];
        Records {
            state: State::Product {
                outer,
                first,
                inner,
                current: None,
                odometer,
                outer_started: false,
                inner_has_values,
            },
        }
    }
}

impl Records {
    /// Whether the next record comes without waiting on the input.
    pub(crate) fn ready(&self) -> bool {
        match &self.state {
            State::Stream(group) => group.sources.iter().all(Columns::ready),
            State::Wrapped { .. } | State::Failed(_) => true,
            State::Product {
                outer, current, first, ..
            } => current.is_some() || first.is_some() || outer.sources.iter().all(Columns::ready),
        }
    }
}

impl Iterator for Records {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.state {
            State::Failed(e) => e.take().map(Err),
            State::Stream(group) => read_group_item(group).transpose(),
            State::Wrapped { sources, index, len } => {
                if *index >= *len {
                    return None;
                }
                let record = sources
                    .iter()
                    .flat_map(|s| s[*index % s.len()].iter().cloned())
                    .collect();
                *index += 1;
                Some(Ok(record))
            }
            State::Product {
                outer,
                first,
                inner,
                current,
                odometer,
                outer_started,
                inner_has_values,
            } => {
                if current.is_none() {
                    let next = match first.take() {
                        Some(first) => Ok(first),
                        None => read_group_item(outer),
                    };
                    match next {
                        Ok(Some(record)) => *current = Some(record),
                        // An empty outer group: one empty value, once.
                        Ok(None) if !*outer_started && *inner_has_values => {
                            *current = Some(vec![Vec::new(); outer.sources.len()]);
                        }
                        Ok(None) => return None,
                        Err(e) => return Some(Err(e)),
                    }
                    *outer_started = true;
                    odometer.iter_mut().for_each(|i| *i = 0);
                }
                let mut record = current.clone().unwrap_or_default();
                for (group, &i) in inner.iter().zip(odometer.iter()) {
                    record.extend(group[i].iter().cloned());
                }
                // Advance the odometer: the last group fastest.
                let mut k = odometer.len();
                loop {
                    if k == 0 {
                        *current = None;
                        break;
                    }
                    k -= 1;
                    odometer[k] += 1;
                    if odometer[k] < inner[k].len() {
                        break;
                    }
                    odometer[k] = 0;
                }
                Some(Ok(record))
            }
        }
    }
}

/// Parses a `-d` delimiter: C escapes (`\n`, `\t`, `\0`, `\\`), octal
/// (`\012`) and hex (`\x0a`).
pub(crate) fn parse_delimiter(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = bytes[i];
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex: String = bytes[i..]
                    .iter()
                    .take(2)
                    .take_while(|b| b.is_ascii_hexdigit())
                    .map(|&b| b as char)
                    .collect();
                if hex.is_empty() {
                    return None;
                }
                i += hex.len();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            b'0'..=b'7' => {
                let oct: String = std::iter::once(c as char)
                    .chain(
                        bytes[i..]
                            .iter()
                            .take(2)
                            .take_while(|b| (b'0'..=b'7').contains(b))
                            .map(|&b| b as char),
                    )
                    .collect();
                i += oct.len() - 1;
                out.push(u8::from_str_radix(&oct, 8).ok()?);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str]) -> Columns {
        Columns::new(Source::values(v), Splitter::new(None))
    }

    fn lines(text: &str, delimiter: &[u8]) -> Vec<String> {
        Reader::new(Box::new(io::Cursor::new(text.as_bytes().to_vec())), delimiter.to_vec())
            .map(|r| String::from_utf8(r.unwrap()).unwrap())
            .collect()
    }

    fn strings(records: Records) -> Vec<String> {
        records
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| String::from_utf8(v).unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn readers_split_at_the_delimiter() {
        assert_eq!(lines("a\n\nb\n", b"\n"), ["a", "", "b"]);
        assert_eq!(lines("a\nb", b"\n"), ["a", "b"]);
        assert_eq!(lines("", b"\n"), Vec::<String>::new());
        assert_eq!(lines("a b\0c\nd\0", b"\0"), ["a b", "c\nd"]);
        assert_eq!(lines("x::y::::z", b"::"), ["x", "y", "", "z"]);
        assert_eq!(lines("x:y::z:", b"::"), ["x:y", "z:"]);
    }

    #[test]
    fn products_vary_the_last_source_fastest() {
        let r = Records::new(
            vec![values(&["a", "b"]), values(&["1", "2"])],
            &[false, false],
            Linking::Product,
        );
        assert_eq!(strings(r), ["a 1", "a 2", "b 1", "b 2"]);
    }

    #[test]
    fn plus_links_to_the_previous_source_without_wrapping() {
        let r = Records::new(
            vec![values(&["a", "b", "c"]), values(&["1", "2"]), values(&["X", "Y"])],
            &[false, true, false],
            Linking::Product,
        );
        assert_eq!(strings(r), ["a 1 X", "a 1 Y", "b 2 X", "b 2 Y"]);
    }

    #[test]
    fn link_wraps_shorter_sources() {
        let r = Records::new(
            vec![
                values(&["1", "2"]),
                values(&["I", "II", "III"]),
                values(&["a", "b", "c", "d"]),
            ],
            &[false, false, false],
            Linking::All,
        );
        assert_eq!(strings(r), ["1 I a", "2 II b", "1 III c", "2 I d"]);
    }

    #[test]
    fn a_colsep_matching_nothing_splits_characters_as_perl_does() {
        let chars = Splitter::new(Some(Regex::new("").unwrap()));
        let got = chars.split(Vec::from("ab")).unwrap();
        assert_eq!(got, vec![Vec::from("a"), Vec::from("b"), Vec::new()]);
        let bar = Splitter::new(Some(Regex::new("|").unwrap()));
        let got = bar.split(Vec::from("a|")).unwrap();
        assert_eq!(got, vec![Vec::from("a"), Vec::from("|"), Vec::new()]);
        assert_eq!(chars.split(Vec::new()).unwrap(), [Vec::<u8>::new()]);
    }

    #[test]
    fn colsep_splits_columns_and_keeps_their_blanks() {
        let splitter = Splitter::new(Some(Regex::new(",").unwrap()));
        let line = b" a , b,c,".to_vec();
        assert_eq!(
            splitter.split(line).unwrap(),
            [b" a ".to_vec(), b" b".to_vec(), b"c".to_vec(), b"".to_vec()]
        );
    }

    #[test]
    fn csv_records_span_lines() {
        let source = Source::Lines(Reader::new(
            Box::new(io::Cursor::new(b"\"a\nb\",c\nd,e\n".to_vec())),
            b"\n".to_vec(),
        ));
        let columns = Columns::new(source, Splitter::csv(b",", b"\n"));
        let records: Vec<Vec<Vec<u8>>> = columns.map(Result::unwrap).collect();
        assert_eq!(
            records,
            [
                vec![b"a\nb".to_vec(), b"c".to_vec()],
                vec![b"d".to_vec(), b"e".to_vec()]
            ]
        );
    }

    #[test]
    fn delimiters_understand_escapes() {
        assert_eq!(parse_delimiter("\\t"), Some(b"\t".to_vec()));
        assert_eq!(parse_delimiter("\\0"), Some(b"\0".to_vec()));
        assert_eq!(parse_delimiter("\\x1f"), Some(vec![0x1f]));
        assert_eq!(parse_delimiter("\\012"), Some(b"\n".to_vec()));
        assert_eq!(parse_delimiter(","), Some(b",".to_vec()));
        assert_eq!(parse_delimiter(""), None);
    }

    #[test]
    fn command_line_values_are_cut_at_the_delimiter() {
        let items = |values: &[&str], delimiter: &[u8]| {
            let mut source = Source::delimited_values(values, delimiter);
            std::iter::from_fn(|| source.next())
                .map(|v| String::from_utf8(v.unwrap()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(items(&["a,", "b"], b","), ["a", "", "b"]);
        assert_eq!(items(&["x\ny", "z"], b"\n"), ["x", "y", "z"]);
        assert_eq!(items(&["a::b"], b"::"), ["a", "b"]);
    }

    #[test]
    fn an_empty_source_in_a_product_is_one_empty_value_as_in_gnu_parallel() {
        let product = |sources: Vec<Columns>| {
            let linked = vec![false; sources.len()];
            strings(Records::new(sources, &linked, Linking::Product))
        };
        assert_eq!(product(vec![values(&["a", "b"]), values(&[])]), ["a ", "b "]);
        assert_eq!(product(vec![values(&[]), values(&["a", "b"])]), [" a", " b"]);
        assert_eq!(product(vec![values(&[]), values(&[])]), Vec::<String>::new());
    }
}
