//! `--csv`: input records as CSV, the way GNU parallel reads them with
//! Perl's `Text::CSV` (`binary => 1`, `sep_char` = `--colsep` taken
//! literally, `"` quotes and escapes itself).
//!
//! A record may span lines: while a line has an odd number of `"`, the
//! next line (with the newline between) belongs to it. A field is either
//! quoted (`"a, ""b""` → `a, "b"`; anything but a lone `"` inside) or not
//! (no `"` at all, and no CR). Anything else is an error that names the
//! record, as `Text::CSV` refuses it.

use std::io;

/// Splits records into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Csv {
    separator: Vec<u8>,
}

impl Csv {
    /// Fields separated by `separator` (bytes, not a pattern).
    pub(crate) fn new(separator: &[u8]) -> Csv {
        Csv {
            separator: if separator.is_empty() {
                b",".to_vec()
            } else {
                separator.to_vec()
            },
        }
    }

    /// Whether `record` is still open: an odd number of quotes.
    pub(crate) fn is_open(record: &[u8]) -> bool {
        record.iter().filter(|&&b| b == b'"').count() % 2 == 1
    }

    /// The fields of one record; an empty record is one empty field.
    pub(crate) fn fields(&self, record: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        if record.is_empty() {
            return Ok(vec![Vec::new()]);
        }
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "CSV has unexpected format: ^{}^ ({why})",
                    String::from_utf8_lossy(record)
                ),
            )
        };
        let sep = &self.separator;
        let mut fields = Vec::new();
        let mut i = 0;
        loop {
            let mut field = Vec::new();
            if record.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    match record.get(i) {
                        None => return Err(bad("quoted field not terminated")),
                        Some(b'"') if record.get(i + 1) == Some(&b'"') => {
                            field.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(&b) => {
                            field.push(b);
                            i += 1;
                        }
                    }
                }
                if i < record.len() && !record[i..].starts_with(sep) {
                    return Err(bad("a quote character is not allowed here"));
                }
            } else {
                while i < record.len() && !record[i..].starts_with(sep) {
                    match record[i] {
                        b'"' => return Err(bad("loose unescaped quote")),
                        b'\r' => return Err(bad("CR inside an unquoted field")),
                        b => field.push(b),
                    }
                    i += 1;
                }
            }
            fields.push(field);
            if i >= record.len() {
                return Ok(fields);
            }
            i += sep.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, String> {
        Csv::new(b",")
            .fields(line.as_bytes())
            .map(|f| f.into_iter().map(|v| String::from_utf8(v).unwrap()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn fields_as_text_csv_reads_them() {
        assert_eq!(fields("a,b").unwrap(), ["a", "b"]);
        assert_eq!(fields(r#""a""b",c"#).unwrap(), [r#"a"b"#, "c"]);
        assert_eq!(fields("a,,").unwrap(), ["a", "", ""]);
        assert_eq!(fields(",").unwrap(), ["", ""]);
        assert_eq!(fields("\"x\ny\",z").unwrap(), ["x\ny", "z"]);
        assert_eq!(fields("a\tb").unwrap(), ["a\tb"]);
        assert_eq!(fields("").unwrap(), [""]);
        for bad in ["a,b\r", r#""a"b,c"#, r#"a"b,c"#, r#" "a",b"#, r#""a" ,b"#, r#"a,"b"#] {
            assert!(
                fields(bad).unwrap_err().contains("CSV has unexpected format"),
                "{bad:?}"
            );
        }
        let semi = Csv::new(b";;").fields(b"a;;b").unwrap();
        assert_eq!(semi, [b"a".to_vec(), b"b".to_vec()]);
        assert!(Csv::is_open(b"\"a"));
        assert!(!Csv::is_open(b"\"a\"\"\""));
    }
}
