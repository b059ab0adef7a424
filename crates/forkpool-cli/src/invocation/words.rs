//! Splitting `$PARALLEL` and the lines of option files into words, as GNU
//! parallel does it: with Perl's `Text::ParseWords::shellwords`.
//!
//! The rules are those of that module, not of a real shell:
//! - words are separated by whitespace;
//! - outside quotes, and inside double quotes, a backslash makes the next
//!   character literal (`a\ b` is one word, `"a\"b"` is `a"b`);
//! - inside single quotes everything is literal, backslashes included,
//!   but a backslash still keeps the next character from ending the quote
//!   (`'a\'b'` is the word `a\'b`);
//! - quoted and unquoted pieces next to each other make one word
//!   (`-S"my ssh"` is `-Smy ssh`), and `''` is an empty word;
//! - nothing is expanded: `$HOME` stays `$HOME`, `~` stays `~`.
//!
//! Where Perl gives up (an unclosed quote, a trailing lone backslash) it
//! returns no words at all, and GNU parallel then silently ignores the
//! whole variable or line; we report it instead (see [`Unbalanced`]).

/// Text that does not split: an unclosed quote, or a backslash with
/// nothing after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unbalanced {
    /// What is wrong, e.g. "an unclosed '".
    pub(crate) reason: &'static str,
}

impl std::fmt::Display for Unbalanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

/// Splits `text` into words (see the module docs).
pub(crate) fn shell_words(text: &[u8]) -> Result<Vec<Vec<u8>>, Unbalanced> {
    let mut words = Vec::new();
    // The word being built; `None` between words (so that `''` still
    // makes an empty word).
    let mut word: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b.is_ascii_whitespace() || b == 0x0b {
            if let Some(w) = word.take() {
                words.push(w);
            }
            i += 1;
            continue;
        }
        let current = word.get_or_insert_with(Vec::new);
        match b {
            b'"' | b'\'' => {
                let close = closing_quote(text, i + 1, b).ok_or(Unbalanced {
                    reason: if b == b'"' { "an unclosed \"" } else { "an unclosed '" },
                })?;
                let inside = &text[i + 1..close];
                if b == b'"' {
                    unescape_into(current, inside);
                } else {
                    current.extend_from_slice(inside);
                }
                i = close + 1;
            }
            b'\\' => {
                let Some(&next) = text.get(i + 1) else {
                    return Err(Unbalanced {
                        reason: "a backslash at the end",
                    });
                };
                current.push(next);
                i += 2;
            }
            _ => {
                current.push(b);
                i += 1;
            }
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

/// The index of the quote closing a quoted string that starts at `from`
/// (just after the opening `quote`): a backslash skips the character after
/// it, in both kinds of quotes.
fn closing_quote(text: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Appends `inside` with every `\X` turned into `X`.
fn unescape_into(out: &mut Vec<u8>, inside: &[u8]) {
    let mut i = 0;
    while i < inside.len() {
        if inside[i] == b'\\' && i + 1 < inside.len() {
            out.push(inside[i + 1]);
            i += 2;
        } else {
            out.push(inside[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<String> {
        shell_words(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn words_split_at_whitespace_and_join_across_quotes() {
        assert_eq!(split("  -k   -j2\t--tag \n"), ["-k", "-j2", "--tag"]);
        assert_eq!(split("-S\"my ssh\" x"), ["-Smy ssh", "x"]);
        assert_eq!(split("a'b c'd"), ["ab cd"]);
        assert_eq!(split("'' x \"\""), ["", "x", ""]);
        assert!(split("").is_empty());
        assert!(split("   ").is_empty());
    }

    #[test]
    fn backslashes_as_perls_shellwords_reads_them() {
        // The man page's example: `myssh\ user@server` is one word.
        assert_eq!(
            split("-kvj1 -S myssh\\ user@server"),
            ["-kvj1", "-S", "myssh user@server"]
        );
        assert_eq!(split("\"a\\\"b\\\\c\""), ["a\"b\\c"]);
        // Single quotes keep the backslash but are not closed by `\'`.
        assert_eq!(split("'a\\'b'"), ["a\\'b"]);
        assert_eq!(split("\\$HOME ~ $x"), ["$HOME", "~", "$x"]);
    }

    #[test]
    fn what_perl_cannot_split_is_reported() {
        assert_eq!(shell_words(b"--tag 'a b").unwrap_err().reason, "an unclosed '");
        assert_eq!(shell_words(b"\"x").unwrap_err().reason, "an unclosed \"");
        assert_eq!(shell_words(b"x \\").unwrap_err().reason, "a backslash at the end");
        assert!(shell_words(b"'a\\'").is_err(), "the \\' does not close the quote");
    }

    /// The same strings through Perl's own `shellwords`, when perl is
    /// installed (CI installs it): the two must agree word for word.
    #[test]
    fn agrees_with_perls_text_parsewords() {
        let cases = [
            "-k -j2",
            "-S\"my ssh\" x",
            "a'b c'd",
            "'' x \"\"",
            "-kvj1 -S myssh\\ user@server",
            "\"a\\\"b\\\\c\"",
            "'a\\'b'",
            "\\$HOME ~ $x",
            "--tag 'a b",
            "x \\",
            "a\\\nb",
            "it\"'\"s",
        ];
        let script = r#"use Text::ParseWords; local $/; my @c = split /\0/, <STDIN>;
            for (@c) { my @w = shellwords($_); print @w ? join("\x01", @w) : "-", "\x02" }"#;
        let Ok(mut child) = std::process::Command::new("perl")
            .args(["-e", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            panic!("perl is needed to compare with Text::ParseWords (CI installs it)");
        };
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(cases.join("\0").as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let perl = String::from_utf8(out.stdout).unwrap();
        let perl: Vec<&str> = perl.split('\x02').collect();
        for (case, expected) in cases.iter().zip(perl) {
            let ours = match shell_words(case.as_bytes()) {
                Ok(words) if words.is_empty() => "-".to_owned(),
                Ok(words) => words
                    .iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect::<Vec<_>>()
                    .join("\x01"),
                // Perl returns no words where we report an error.
                Err(_) => "-".to_owned(),
            };
            assert_eq!(ours, expected, "{case:?}");
        }
    }
}
