//! `--header` with `--pipe`: the first lines of the input, repeated at the
//! start of every block (or of every job, with `--round-robin`).

use regex::bytes::Regex;

/// How to find the header at the start of the input.
#[derive(Debug, Clone)]
pub(crate) struct HeaderRule {
    /// Anchored at the start of the input.
    pattern: Regex,
}

impl HeaderRule {
    /// GNU parallel's forms: `:` is one line, `N` is N lines, anything else
    /// is a regular expression matched at the very start. `0` (or nothing)
    /// is no header, as there.
    pub(crate) fn parse(text: &str) -> Result<Option<HeaderRule>, String> {
        let pattern = match text {
            "" | "0" => return Ok(None),
            ":" => "(?:.*\n)".to_owned(),
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                let lines: usize = n.parse().map_err(|_| format!("--header {n}: too many lines"))?;
                if lines == 0 {
                    return Ok(None);
                }
                format!("(?:.*\n){{{lines}}}")
            }
            re => re.to_owned(),
        };
        let anchored = format!("\\A(?:{pattern})");
        Regex::new(&anchored)
            .map(|pattern| Some(HeaderRule { pattern }))
            .map_err(|e| {
                format!(
                    "--header {text:?} is not a valid regular expression: {}",
                    crate::config::regex_reason(&e)
                )
            })
    }

    /// The length of the header at the start of `buf`, if it is there.
    pub(crate) fn find(&self, buf: &[u8]) -> Option<usize> {
        self.pattern.find(buf).map(|m| m.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str, input: &[u8]) -> Option<usize> {
        HeaderRule::parse(text).unwrap().and_then(|h| h.find(input))
    }

    #[test]
    fn gnu_forms() {
        assert_eq!(header(":", b"h1\nh2\n1\n"), Some(3));
        assert_eq!(header("2", b"h1\nh2\n1\n"), Some(6));
        assert_eq!(header("h.\n", b"h1\nh2\n1\n"), Some(3));
        assert_eq!(header("zz", b"h1\n"), None);
        assert!(HeaderRule::parse("0").unwrap().is_none());
        assert!(HeaderRule::parse("(").is_err());
    }
}
