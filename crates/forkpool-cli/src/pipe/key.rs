//! The key of a line, for `--group-by`, `--shard` and `--bin`: a column
//! (by number, or by name from the input's first line) and/or a perl
//! expression run on it, as GNU parallel's `column_perlexpr` reads them.
//!
//! `--shard 3`, `--bin 'name'`, `--group-by '2 s/\..*//'`, `--shard
//! '$_ = substr($_, 0, 2)'`: a leading word of digits (optionally `-`) is a
//! column number; a leading word of letters, digits and `_` is a column
//! name (so, as in GNU, a bare perl word like `chop` is taken for one); what
//! follows, if anything, is the perl expression, evaluated with `$_` set to
//! the column (or the whole line, newline included). Expressions go to the
//! run's perl co-process ([`crate::replace::perl`]), a batch of lines per
//! round trip; columns are split here, with perl's `split` semantics.

use regex::bytes::Regex;

use crate::replace::Trim;
use crate::replace::perl::{Failure, Perl};

/// A column, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Column {
    Number(i64),
    Name(String),
}

/// `--group-by`, `--shard` or `--bin`'s argument, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeySpec {
    /// The option, for messages (`--shard`).
    pub(crate) option: &'static str,
    /// The argument as typed.
    pub(crate) text: String,
    pub(crate) column: Option<Column>,
    /// The perl expression, if any.
    pub(crate) perl: Option<String>,
}

impl KeySpec {
    /// Reads `text` as GNU's `column_perlexpr` does.
    pub(crate) fn parse(option: &'static str, text: &str) -> KeySpec {
        let word_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(text.len());
        let word = &text[..word_end];
        let ends_well = text[word_end..].is_empty() || text[word_end..].starts_with(char::is_whitespace);
        let mut column = None;
        let mut rest = text;
        if !word.is_empty() && ends_well {
            let digits = word.strip_prefix('-').unwrap_or(word);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                column = word.parse::<i64>().ok().map(Column::Number);
                // `(\s|$)`: one blank goes with the number.
                rest = skip_one_blank(&text[word_end..]);
            } else if !word.contains('-') {
                column = Some(Column::Name(word.to_owned()));
                // `(\s+|$)`: all the blanks go with the name.
                rest = text[word_end..].trim_start();
            }
        }
        KeySpec {
            option,
            text: text.to_owned(),
            column,
            perl: (!rest.is_empty()).then(|| rest.to_owned()),
        }
    }

    /// Whether GNU reads the input's first line as a header to find the
    /// column in (`^[a-z_][a-z_0-9]*(\s|$)`).
    pub(crate) fn names_a_column(&self) -> bool {
        matches!(&self.column, Some(Column::Name(n)) if n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
    }

    /// The column number (from 1; 0 and negative numbers as perl indexes
    /// them), a name looked up in `header` split at `colsep`.
    pub(crate) fn column_number(&self, header: &[u8], colsep: &ColSep) -> Result<Option<i64>, String> {
        match &self.column {
            None => Ok(None),
            Some(Column::Number(n)) => Ok(Some(*n)),
            Some(Column::Name(name)) => {
                let header = header.strip_suffix(b"\n").unwrap_or(header);
                let fields = colsep.split(header, 0);
                // A later column of the same name wins, as in GNU's hash.
                match fields.iter().rposition(|f| *f == name.as_bytes()) {
                    Some(i) => Ok(Some(i as i64 + 1)),
                    None => Err(format!(
                        "Column '{name}' {} not found in header: {}",
                        colsep.text,
                        fields
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                }
            }
        }
    }
}

fn skip_one_blank(text: &str) -> &str {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_whitespace() => chars.as_str(),
        _ => text,
    }
}

/// A column separator: perl's `split` on a regular expression (or on
/// blanks, awk-style, for the single-space string, as perl's `split`
/// does with `" "`).
#[derive(Debug, Clone)]
pub(crate) struct ColSep {
    /// As typed, for messages.
    pub(crate) text: String,
    regex: Option<Regex>,
}

impl ColSep {
    /// `awk`: whether `" "` means perl's awk-style split (`--shard`, whose
    /// sharder passes the separator to `split` as a string), or a literal
    /// space (`--group-by`, whose `perl -F` gets it as `\040{1}`).
    pub(crate) fn new(text: &str, awk: bool) -> Result<ColSep, String> {
        let regex = if awk && text == " " {
            None
        } else {
            Some(Regex::new(text).map_err(|e| format!("--colsep {text:?} is not a valid regular expression: {e}"))?)
        };
        Ok(ColSep {
            text: text.to_owned(),
            regex,
        })
    }

    /// Perl's `split PATTERN, LINE, LIMIT`: at most `limit` fields if it is
    /// positive (the last holds the rest); trailing empty fields dropped
    /// if it is 0.
    pub(crate) fn split<'a>(&self, line: &'a [u8], limit: i64) -> Vec<&'a [u8]> {
        let mut fields = Vec::new();
        if line.is_empty() {
            return fields;
        }
        let max = usize::try_from(limit).ok().filter(|&n| n > 0);
        let mut start = 0;
        match &self.regex {
            Some(re) => {
                for m in re.find_iter(line) {
                    if max.is_some_and(|n| fields.len() + 1 >= n) {
                        break;
                    }
                    // A match of nothing at the start makes no field.
                    if m.end() == 0 || (m.start() == m.end() && m.start() >= line.len()) {
                        continue;
                    }
                    fields.push(&line[start..m.start()]);
                    start = m.end();
                }
                fields.push(&line[start..]);
            }
            None => {
                // awk: leading blanks skipped, runs of blanks separate.
                let blank = |b: &u8| b.is_ascii_whitespace();
                let mut rest = &line[line.iter().position(|b| !blank(b)).unwrap_or(line.len())..];
                while !rest.is_empty() {
                    if max.is_some_and(|n| fields.len() + 1 >= n) {
                        fields.push(rest);
                        break;
                    }
                    let end = rest.iter().position(blank).unwrap_or(rest.len());
                    fields.push(&rest[..end]);
                    let after = &rest[end..];
                    let skip = after.iter().position(|b| !blank(b)).unwrap_or(after.len());
                    if skip == after.len() && !after.is_empty() {
                        // Trailing blanks: one empty field, dropped below.
                        fields.push(&[]);
                    }
                    rest = &after[skip..];
                }
            }
        }
        if limit == 0 {
            while fields.last().is_some_and(|f| f.is_empty()) {
                fields.pop();
            }
        }
        fields
    }
}

/// `$F[i]` as perl indexes it (negative from the end); `""` if missing.
pub(crate) fn index<'a>(fields: &[&'a [u8]], i: i64) -> &'a [u8] {
    let len = fields.len() as i64;
    let i = if i < 0 { len + i } else { i };
    usize::try_from(i)
        .ok()
        .and_then(|i| fields.get(i).copied())
        .unwrap_or_default()
}

/// How a key is taken from a line: the column, then the expression.
#[derive(Debug)]
pub(crate) struct Keyer {
    spec: KeySpec,
    column: Option<i64>,
    colsep: ColSep,
    /// Fields are split as the sharder does (`split $sep, $_, $col + 1`)
    /// rather than as `perl -a` does (`--group-by`).
    limited: bool,
    perl: Option<Perl>,
    /// `--shard` with perl: `perl` was started seeded, and picks the jobs
    /// (see [`Keyer::shards`]).
    sharding: bool,
    /// The jobs perl gave keys so far, without an expression (whose value
    /// may change from line to line): a repeated key costs no round trip.
    known: Known,
}

/// Keys and their jobs, up to [`KNOWN_BYTES`] of keys.
#[derive(Debug, Default)]
struct Known {
    jobs: std::collections::HashMap<Vec<u8>, usize>,
    bytes: usize,
}

/// How much [`Known`] may hold: past that, new keys are asked each time.
const KNOWN_BYTES: usize = 4 << 20;

/// Lines whose keys perl computes per round trip.
const BATCH: usize = 4096;

impl Keyer {
    /// Starts perl if the key needs it: a missing perl or an expression
    /// that does not compile is an error here, before any job.
    pub(crate) fn new(spec: KeySpec, column: Option<i64>, colsep: ColSep, limited: bool) -> Result<Keyer, String> {
        let perl = match &spec.perl {
            None => None,
            Some(code) => Some(
                Perl::start(&[code.as_bytes().to_vec()], Trim::None, 1).map_err(|f| match f {
                    Failure::Missing(why) => format!("{} '{}': {why}", spec.option, spec.text),
                    Failure::Expression(_, why) | Failure::Broken(why) => {
                        format!("Cannot use {} '{}': {why}", spec.option, spec.text)
                    }
                })?,
            ),
        };
        Ok(Keyer {
            spec,
            column,
            colsep,
            limited,
            perl,
            sharding: false,
            known: Known::default(),
        })
    }

    /// `--shard`'s keyer: where perl is installed, one started as GNU's
    /// sharder is (`PERL_HASH_SEED` set), which also picks each line's job
    /// ([`Keyer::shards`]); without perl, a plain keyer (an expression
    /// still needs perl: the same error as [`Keyer::new`]).
    pub(crate) fn for_shard(spec: KeySpec, column: Option<i64>, colsep: ColSep) -> Result<Keyer, String> {
        let codes: Vec<Vec<u8>> = spec.perl.iter().map(|c| c.as_bytes().to_vec()).collect();
        match Perl::start_seeded(&codes) {
            Ok(perl) => Ok(Keyer {
                spec,
                column,
                colsep,
                limited: true,
                perl: Some(perl),
                sharding: true,
                known: Known::default(),
            }),
            Err(Failure::Missing(_)) if codes.is_empty() => Keyer::new(spec, column, colsep, true),
            Err(Failure::Missing(why)) => Err(format!("{} '{}': {why}", spec.option, spec.text)),
            Err(Failure::Expression(_, why) | Failure::Broken(why)) => {
                Err(format!("Cannot use {} '{}': {why}", spec.option, spec.text))
            }
        }
    }

    /// The job (from 0, of `jobs`) of each of `lines`, as GNU parallel's
    /// sharder picks it (`hex(B::hash($key)) % jobs`), if this keyer was
    /// made by [`Keyer::for_shard`] with perl; `None` otherwise.
    pub(crate) fn shards(&mut self, lines: &[&[u8]], jobs: usize) -> Result<Option<Vec<usize>>, String> {
        if !self.sharding {
            return Ok(None);
        }
        let values: Vec<&[u8]> = lines.iter().map(|l| self.column_of(l)).collect();
        let Some(perl) = &mut self.perl else {
            return Ok(None);
        };
        let expr = self.spec.perl.is_some().then_some(0);
        let died = |f: Failure| died(&self.spec, f);
        if expr.is_some() {
            let mut shards = Vec::with_capacity(values.len());
            for chunk in values.chunks(BATCH) {
                shards.extend(perl.shards(expr, jobs, chunk).map_err(died)?);
            }
            return Ok(Some(shards));
        }
        // Perl is asked only the keys it has not been asked before.
        let known = &mut self.known;
        let mut shards: Vec<usize> = Vec::with_capacity(values.len());
        let mut asked: Vec<&[u8]> = Vec::new();
        let mut waiting: Vec<usize> = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match known.jobs.get(*value) {
                Some(&job) => shards.push(job),
                None => {
                    shards.push(0);
                    asked.push(value);
                    waiting.push(i);
                }
            }
        }
        for (chunk, at) in asked.chunks(BATCH).zip(waiting.chunks(BATCH)) {
            let jobs_of = perl.shards(None, jobs, chunk).map_err(died)?;
            for ((key, &i), job) in chunk.iter().zip(at).zip(jobs_of) {
                shards[i] = job;
                if known.bytes < KNOWN_BYTES && !known.jobs.contains_key(*key) {
                    // With what the map and the copy cost besides the bytes.
                    known.bytes += key.len() + 96;
                    known.jobs.insert(key.to_vec(), job);
                }
            }
        }
        Ok(Some(shards))
    }

    /// The column value of `line` (the whole line without a column).
    fn column_of<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        match self.column {
            None => line,
            Some(col) if self.limited => {
                // `split $sep, $_, $col + 1` then `$F[$col - 1]`.
                let fields = self.colsep.split(line, col.saturating_add(1));
                index(&fields, col - 1)
            }
            Some(col) => {
                // `perl -a`: all the fields; column n is `$F[n - 1]` (0 is
                // `$F[0]` too: GNU decrements only a true column).
                let fields = self.colsep.split(line, 0);
                index(&fields, if col != 0 { col - 1 } else { 0 })
            }
        }
    }

    /// The keys of `lines`, in order. A dying expression is an error that
    /// names it.
    pub(crate) fn keys<'a>(&mut self, lines: &[&'a [u8]]) -> Result<Keys<'a>, String> {
        let values: Vec<&'a [u8]> = lines.iter().map(|l| self.column_of(l)).collect();
        let Some(perl) = &mut self.perl else {
            // A column is a slice of its line: nothing to copy.
            return Ok(Keys::Columns(values));
        };
        let mut keys = Vec::with_capacity(values.len());
        for chunk in values.chunks(BATCH) {
            keys.extend(perl.keys(0, chunk).map_err(|f| died(&self.spec, f))?);
        }
        Ok(Keys::Computed(keys))
    }

    /// Whether an expression computes the keys (in perl): then
    /// [`Keyer::keys_ahead`] (and, for `--shard`, [`Keyer::shards_ahead`])
    /// let perl work while the caller does.
    pub(crate) fn evaluates(&self) -> bool {
        self.perl.is_some() && self.spec.perl.is_some()
    }

    /// [`Keyer::keys`] pipelined, for a keyer that [evaluates]: asks perl
    /// the keys of `lines` and returns those of the lines of the call
    /// before (`None` the first time), so that perl computes the next keys
    /// while the caller uses these. Empty `lines` asks nothing: the call
    /// that collects the last keys.
    ///
    /// [evaluates]: Keyer::evaluates
    pub(crate) fn keys_ahead(&mut self, lines: &[&[u8]]) -> Result<Option<Keys<'static>>, String> {
        let (perl, values) = self.asking(lines, true)?;
        let keys = perl.keys_ahead(0, &values, BATCH).map_err(|f| died(&self.spec, f))?;
        Ok(keys.map(Keys::Computed))
    }

    /// [`Keyer::shards`] pipelined as [`Keyer::keys_ahead`] is, for a
    /// `--shard` keyer with perl that [evaluates]; `None` when nothing was
    /// asked before.
    ///
    /// [evaluates]: Keyer::evaluates
    pub(crate) fn shards_ahead(&mut self, lines: &[&[u8]], jobs: usize) -> Result<Option<Vec<usize>>, String> {
        let (perl, values) = self.asking(lines, self.sharding)?;
        perl.shards_ahead(Some(0), jobs, &values, BATCH)
            .map_err(|f| died(&self.spec, f))
    }

    /// The co-process to ask (if `allowed`) and the values of `lines` it
    /// is asked about.
    fn asking<'l>(&mut self, lines: &[&'l [u8]], allowed: bool) -> Result<(&mut Perl, Vec<&'l [u8]>), String> {
        let values = lines.iter().map(|l| self.column_of(l)).collect();
        match self.perl.as_mut().filter(|_| allowed) {
            Some(perl) => Ok((perl, values)),
            None => Err(format!("{} '{}': no perl to ask", self.spec.option, self.spec.text)),
        }
    }

    /// Whether perl picks the jobs ([`Keyer::shards`]).
    pub(crate) fn hashes(&self) -> bool {
        self.sharding && self.perl.is_some()
    }
}

/// An expression's failure while keying: `--OPTION 'EXPR' died: why`.
fn died(spec: &KeySpec, f: Failure) -> String {
    match f {
        Failure::Expression(_, why) | Failure::Broken(why) | Failure::Missing(why) => {
            format!("{} '{}' died: {why}", spec.option, spec.text)
        }
    }
}

/// The keys of a batch of lines.
#[derive(Debug)]
pub(crate) enum Keys<'a> {
    /// Columns of the lines themselves.
    Columns(Vec<&'a [u8]>),
    /// What perl left in `$_`.
    Computed(Vec<Vec<u8>>),
}

impl Keys<'_> {
    /// How many keys.
    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::Columns(keys) => keys.len(),
            Keys::Computed(keys) => keys.len(),
        }
    }

    /// Line `i`'s key.
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        match self {
            Keys::Columns(keys) => keys.get(i).copied().unwrap_or_default(),
            Keys::Computed(keys) => keys.get(i).map(Vec::as_slice).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> KeySpec {
        KeySpec::parse("--shard", text)
    }

    #[test]
    fn columns_and_expressions_as_gnu_reads_them() {
        assert_eq!(spec("3").column, Some(Column::Number(3)));
        assert_eq!(spec("3").perl, None);
        assert_eq!(spec("-1").column, Some(Column::Number(-1)));
        let s = spec("2 s/a/b/");
        assert_eq!((s.column, s.perl.as_deref()), (Some(Column::Number(2)), Some("s/a/b/")));
        let s = spec("name  $_ = 1");
        assert_eq!(
            (s.column, s.perl.as_deref()),
            (Some(Column::Name("name".into())), Some("$_ = 1"))
        );
        assert!(spec("name").names_a_column());
        assert!(!spec("1ab").names_a_column());
        let s = spec("$_ %= 3");
        assert_eq!((s.column, s.perl.as_deref()), (None, Some("$_ %= 3")));
        let s = spec("s/x/y/");
        assert_eq!(s.column, None, "s/ is not a word followed by a blank");
    }

    #[test]
    fn names_are_looked_up_in_the_header() {
        let tab = ColSep::new("\t", false).unwrap();
        assert_eq!(spec("v").column_number(b"k\tv\n", &tab), Ok(Some(2)));
        assert_eq!(spec("k").column_number(b"k\tv\tk\n", &tab), Ok(Some(3)));
        let err = spec("zz").column_number(b"k\tv\n", &tab).unwrap_err();
        assert!(err.starts_with("Column 'zz' \t not found in header"), "{err}");
    }

    #[test]
    fn split_as_perl() {
        let comma = ColSep::new(",", true).unwrap();
        assert_eq!(comma.split(b"a,b,c\n", 2), vec![&b"a"[..], b"b,c\n"]);
        assert_eq!(comma.split(b"a,,b,,", 0), vec![&b"a"[..], b"", b"b"]);
        assert_eq!(comma.split(b",a", 0), vec![&b""[..], b"a"]);
        assert_eq!(comma.split(b"", 0), Vec::<&[u8]>::new());
        let awk = ColSep::new(" ", true).unwrap();
        assert_eq!(awk.split(b"  a  b c\n", 3), vec![&b"a"[..], b"b", b"c\n"]);
        assert_eq!(awk.split(b" a b ", 0), vec![&b"a"[..], b"b"]);
        let fields = comma.split(b"a,b", 0);
        assert_eq!((index(&fields, -1), index(&fields, 5)), (&b"b"[..], &b""[..]));
    }
}
