//! `--results FILE.csv`, `.tsv` or `.json`: one row per job (its joblog
//! fields, its input values, its whole stdout and stderr) in one file, in
//! GNU parallel's exact format. `-.csv`, `-.tsv` and `-.json` write the
//! table to standard output, and nothing else goes there.
//!
//! A row is written when the job's output would have been printed (so in
//! input order under `-k`). Outputs are streamed from wherever the printer
//! holds them, twice for CSV (once to see whether the field needs quotes),
//! so a big output costs no memory here.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::joblog::Finished;

/// The table's format, from the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Comma-separated.
    Csv,
    /// Tab-separated.
    Tsv,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The format `--results NAME` asks for, if NAME is a table's name.
    pub(crate) fn of(name: &[u8]) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(b".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(b".tsv") {
            Some(Format::Tsv)
        } else if lower.ends_with(b".json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// Whether the table `--results NAME` is standard output (`-.csv`,
/// `-.tsv`, `-.json`).
fn on_stdout(path: &Path) -> bool {
    path.file_stem().is_some_and(|s| s == "-") && path.parent() == Some(Path::new(""))
}

/// Bytes that can be read more than once, piece by piece (a job's held
/// output).
pub(crate) trait Replay {
    /// Feeds every byte, in order, to `sink`.
    fn replay(&self, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()>;
}

impl Replay for &[u8] {
    fn replay(&self, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        sink(self)
    }
}

/// An open table.
pub(crate) struct Table {
    format: Format,
    out: BufWriter<Box<dyn Write + Send>>,
    /// Column names from `--header`; otherwise `V1`, `V2`...
    names: Option<Vec<Vec<u8>>>,
    header_written: bool,
    /// `-.csv` and the like: nothing else may go to standard output.
    on_stdout: bool,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Creates (or empties) the table file; `-.csv` and the like are
    /// standard output.
    pub(crate) fn create(path: &Path, format: Format, names: Option<Vec<Vec<u8>>>) -> io::Result<Table> {
        let stdout = on_stdout(path);
        let out: Box<dyn Write + Send> = if stdout {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path)?)
        };
        Ok(Table {
            format,
            out: BufWriter::new(out),
            names,
            header_written: false,
            on_stdout: stdout,
        })
    }

    /// Whether the table is standard output (so nothing else goes there).
    pub(crate) fn is_stdout(&self) -> bool {
        self.on_stdout
    }

    /// Writes a job's row (and, before the first, the header).
    pub(crate) fn write_row(&mut self, row: &Finished, stdout: &dyn Replay, stderr: &dyn Replay) -> io::Result<()> {
        match self.format {
            Format::Csv => self.write_separated(b',', row, stdout, stderr)?,
            Format::Tsv => self.write_separated(b'\t', row, stdout, stderr)?,
            Format::Json => self.write_json(row, stdout, stderr)?,
        }
        self.out.flush()
    }

    fn write_separated(&mut self, sep: u8, row: &Finished, stdout: &dyn Replay, stderr: &dyn Replay) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            let mut header: Vec<Vec<u8>> = [
                "Seq",
                "Host",
                "Starttime",
                "JobRuntime",
                "Send",
                "Receive",
                "Exitval",
                "Signal",
                "Command",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
            for i in 0..row.values.len() {
                header.push(match &self.names {
                    Some(names) => names.get(i).cloned().unwrap_or_default(),
                    None => format!("V{}", i + 1).into_bytes(),
                });
            }
            header.push(b"Stdout".to_vec());
            header.push(b"Stderr".to_vec());
            for (i, name) in header.iter().enumerate() {
                if i > 0 {
                    self.out.write_all(&[sep])?;
                }
                write_field(&mut self.out, sep, &name.as_slice())?;
            }
            self.out.write_all(b"\n")?;
        }
        let fixed = [
            row.seq.to_string(),
            row.host.clone(),
            row.start_text(),
            format!("{:.3}", row.runtime.as_secs_f64()),
            row.send.to_string(),
            row.receive.to_string(),
            row.exitval.to_string(),
            row.signal.to_string(),
        ];
        for field in &fixed {
            write_field(&mut self.out, sep, &field.as_bytes())?;
            self.out.write_all(&[sep])?;
        }
        write_field(&mut self.out, sep, &row.command.as_slice())?;
        for value in &row.values {
            self.out.write_all(&[sep])?;
            write_field(&mut self.out, sep, &value.as_slice())?;
        }
        self.out.write_all(&[sep])?;
        write_field(&mut self.out, sep, stdout)?;
        self.out.write_all(&[sep])?;
        write_field(&mut self.out, sep, stderr)?;
        self.out.write_all(b"\n")
    }

    fn write_json(&mut self, row: &Finished, stdout: &dyn Replay, stderr: &dyn Replay) -> io::Result<()> {
        write!(
            self.out,
            "{{ \"Seq\": {}, \"Host\": \"{}\", \"Starttime\": {}, \"JobRuntime\": {:.3}, \"Send\": {}, \
             \"Receive\": {}, \"Exitval\": {}, \"Signal\": {}, \"Command\": \"",
            row.seq,
            row.host.replace('\\', "\\\\").replace('"', "\\\""),
            row.start_text(),
            row.runtime.as_secs_f64(),
            row.send,
            row.receive,
            row.exitval,
            row.signal,
        )?;
        json_escape(&mut self.out, &row.command)?;
        self.out.write_all(b"\", \"V\": [ ")?;
        for (i, value) in row.values.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(b"\"")?;
            json_escape(&mut self.out, value)?;
            self.out.write_all(b"\"")?;
        }
        self.out.write_all(b" ], \"Stdout\": \"")?;
        let out = &mut self.out;
        stdout.replay(&mut |bytes| json_escape(out, bytes))?;
        self.out.write_all(b"\", \"Stderr\": \"")?;
        let out = &mut self.out;
        stderr.replay(&mut |bytes| json_escape(out, bytes))?;
        self.out.write_all(b"\" }\n")
    }
}

/// A CSV/TSV field, quoted as GNU parallel quotes it: when it holds a
/// quote (doubled), white space, the separator or a NUL.
fn write_field(out: &mut impl Write, sep: u8, field: &dyn Replay) -> io::Result<()> {
    let mut quote = false;
    field.replay(&mut |bytes| {
        quote = quote || bytes.iter().any(|&b| needs_quotes(b, sep));
        Ok(())
    })?;
    if !quote {
        return field.replay(&mut |bytes| out.write_all(bytes));
    }
    out.write_all(b"\"")?;
    field.replay(&mut |bytes| {
        for piece in bytes.split_inclusive(|&b| b == b'"') {
            out.write_all(piece)?;
            if piece.ends_with(b"\"") {
                out.write_all(b"\"")?;
            }
        }
        Ok(())
    })?;
    out.write_all(b"\"")
}

/// Perl's `\s` (space, tab, newline, vertical tab, form feed, carriage
/// return), the separator, a quote or NUL.
fn needs_quotes(b: u8, sep: u8) -> bool {
    matches!(b, b'"' | 0 | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') || b == sep
}

/// A JSON string's contents as GNU parallel writes them: `\` and `"`
/// escaped, control characters as `\u00XX`, other bytes as they are.
fn json_escape(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: Option<Vec<u8>> = match b {
            b'\\' => Some(b"\\\\".to_vec()),
            b'"' => Some(b"\\\"".to_vec()),
            0..=31 => Some(format!("\\u{b:04x}").into_bytes()),
            _ => None,
        };
        if let Some(escaped) = escaped {
            out.write_all(&bytes[start..i])?;
            out.write_all(&escaped)?;
            start = i + 1;
        }
    }
    out.write_all(&bytes[start..])
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn table(format: Format, names: Option<Vec<Vec<u8>>>, rows: &[(&[u8], &[&str], &str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut t = Table::create(&path, format, names).unwrap();
        for (command, values, out, err) in rows {
            let row = Finished {
                seq: 3,
                start: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_297_968_552),
                runtime: Duration::from_millis(3),
                host: ":".to_owned(),
                send: 0,
                receive: 3,
                exitval: 0,
                signal: 0,
                command: command.to_vec(),
                values: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            };
            t.write_row(&row, &out.as_bytes(), &err.as_bytes()).unwrap();
        }
        drop(t);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn csv_rows_are_quoted_as_gnu_parallel_quotes_them() {
        // What GNU parallel 20221122 writes for `--results o.csv 'printf "%s" {}' ::: 'x,y'`.
        let text = table(Format::Csv, None, &[(b"printf \"%s\" 'x,y'", &["x,y"], "x,y", "")]);
        assert_eq!(
            text,
            "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n\
             3,:,1795297968.552,0.003,0,3,0,0,\"printf \"\"%s\"\" 'x,y'\",\"x,y\",\"x,y\",\n"
        );
        let text = table(Format::Csv, None, &[(b"echo", &["plain"], "a\n", "")]);
        assert!(
            text.ends_with("\n3,:,1795297968.552,0.003,0,3,0,0,echo,plain,\"a\n\",\n"),
            "{text}"
        );
    }

    #[test]
    fn tsv_uses_tabs_and_header_names() {
        let names = Some(vec![b"h".to_vec()]);
        let text = table(Format::Tsv, names, &[(b"echo a", &["a"], "a\n", "")]);
        assert_eq!(
            text,
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\th\tStdout\tStderr\n\
             3\t:\t1795297968.552\t0.003\t0\t3\t0\t0\t\"echo a\"\ta\t\"a\n\"\t\n"
        );
    }

    #[test]
    fn json_rows_escape_like_gnu_parallel() {
        let text = table(Format::Json, None, &[(b"echo \"q\"", &["0", "x"], "out\n", "tab\t\\")]);
        assert_eq!(
            text,
            "{ \"Seq\": 3, \"Host\": \":\", \"Starttime\": 1795297968.552, \"JobRuntime\": 0.003, \"Send\": 0, \
             \"Receive\": 3, \"Exitval\": 0, \"Signal\": 0, \"Command\": \"echo \\\"q\\\"\", \"V\": [ \"0\",\"x\" ], \
             \"Stdout\": \"out\\u000a\", \"Stderr\": \"tab\\u0009\\\\\" }\n"
        );
    }

    #[test]
    fn formats_come_from_the_name() {
        assert_eq!(Format::of(b"out.CSV"), Some(Format::Csv));
        assert_eq!(Format::of(b"-.tsv"), Some(Format::Tsv));
        assert_eq!(Format::of(b"x.json"), Some(Format::Json));
        assert_eq!(Format::of(b"dir"), None);
    }
}
