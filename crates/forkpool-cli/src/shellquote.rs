//! Quoting for the shell, as GNU parallel quotes (`Q()` in its source),
//! and `--shellquote`, which prints a job's command line quoted instead of
//! running it.

use crate::template::push_quoted;

/// `value` quoted for the shell: as is when it only has
/// `[-_.+a-zA-Z0-9/]`, `''` when empty, else in single quotes.
pub(crate) fn quote(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    push_quoted(&mut out, value);
    out
}

/// [`quote`] as text (for messages and scripts we build).
pub(crate) fn quote_str(value: &str) -> String {
    String::from_utf8_lossy(&quote(value.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_gnu_parallel() {
        assert_eq!(quote_str("abc/d-e_f.g+h"), "abc/d-e_f.g+h");
        assert_eq!(quote_str(""), "''");
        assert_eq!(quote_str("a b"), "'a b'");
        assert_eq!(quote_str("x y"), "'x y'");
        assert_eq!(quote_str("'x y'"), "\"'\"'x y'\"'\"");
        assert_eq!(quote_str("c$d"), "'c$d'");
    }
}
