//! How GNU parallel reads option values, where its Perl reads them its
//! own way: the truth of a value (`''` and `0` are false), an `eval`ed
//! count, the syntax of `--timeout`, `--load` and `--delay`, the escapes
//! of `--tagstring`, and a regex error on one line. Each is a small pure
//! function, tested here; `resolve` applies them to the flags.

use crate::units::parse_duration;

/// GNU parallel's test of a `--timeout`: `N`, `N.N`, either with `%`, or
/// numbers each with a unit of `d`, `h`, `m`, `s` (any case): `1m30s`.
pub(super) fn gnu_timeout_syntax(text: &str) -> bool {
    /// Length of the leading `\d+(\.\d+)?` of `text`, if it has one.
    fn number(text: &str) -> Option<usize> {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let whole = digits(text);
        if whole == 0 {
            return None;
        }
        match text[whole..].strip_prefix('.') {
            Some(rest) if digits(rest) > 0 => Some(whole + 1 + digits(rest)),
            _ => Some(whole),
        }
    }
    if let Some(n) = number(text)
        && matches!(&text[n..], "" | "%")
    {
        return true;
    }
    let mut rest = text;
    while !rest.is_empty() {
        let Some(n) = number(rest) else { return false };
        if !rest[n..].starts_with(|c: char| "dhmsDHMS".contains(c)) {
            return false;
        }
        rest = &rest[n + 1..];
    }
    !text.is_empty()
}

/// Whether `spec` is a `--load` value itself rather than a file's name.
pub(super) fn is_load_spec(spec: &str) -> bool {
    load_of(spec, 1).is_some()
}

/// A `--load` value as GNU parallel reads it (the syntax of `--jobs`):
/// `+N` and `-N` CPUs more or fewer than there are, `N%` of them, or a
/// number; anything else is not a load.
pub(super) fn load_of(spec: &str, cpus: usize) -> Option<f64> {
    let whole = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<f64>().ok())
            .flatten()
    };
    if let Some(n) = spec.strip_prefix('+') {
        return whole(n).map(|n| cpus as f64 + n);
    }
    if let Some(n) = spec.strip_prefix('-') {
        return whole(n).map(|n| cpus as f64 - n);
    }
    if let Some(pct) = spec.strip_suffix('%') {
        return whole(pct).map(|p| cpus as f64 * p / 100.0);
    }
    let (int, frac) = spec.split_once('.').unwrap_or((spec, "0"));
    whole(int)?;
    whole(frac)?;
    spec.parse::<f64>().ok()
}

/// An option's value as GNU parallel's Perl tests it (`if($opt::x)`):
/// `""` and `"0"` are false, so the option counts as not given.
pub(crate) fn perl_true(value: Option<&String>) -> Option<String> {
    value.filter(|v| is_perl_true(v)).cloned()
}

/// Whether Perl reads `value` as true: not `""`, not `"0"`.
pub(super) fn is_perl_true(value: &str) -> bool {
    !value.is_empty() && value != "0"
}

/// An option's value as GNU parallel `eval`s it (`-n`, `-N`, `-s`, `-L`):
/// empty or blank, it is no value at all, as if the option were not given.
pub(crate) fn perl_eval_given(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// A regex error on one line: its reason ("unclosed group"), without the
/// pattern-and-caret drawing around it.
pub(crate) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid");
    last.trim().trim_start_matches("error: ").to_owned()
}

/// A `--delay`: a duration as `--timeout` takes one, and also what GNU
/// parallel's arithmetic makes of the rest: nothing or a negative number
/// is no delay, and a number may have an exponent (`1e-3`).
pub(super) fn delay_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return Some(std::time::Duration::ZERO);
    }
    if let Some(positive) = text.strip_prefix('-') {
        return delay_duration(positive).map(|_| std::time::Duration::ZERO);
    }
    parse_duration(text).or_else(|| {
        let seconds: f64 = text.parse().ok()?;
        std::time::Duration::try_from_secs_f64(seconds).ok()
    })
}

/// GNU parallel's escapes in `--tagstring` (its `unquote_printf`): `\t`,
/// `\n`, `\r`, and an octal code of up to three digits (`\033`, the start
/// of a colour; `\0`). Any other backslash stays as it is.
pub(super) fn printf_escapes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let next = text.get(i + 1).copied();
        match (text[i], next) {
            (b'\\', Some(c @ (b't' | b'n' | b'r'))) => {
                out.push(match c {
                    b't' => b'\t',
                    b'n' => b'\n',
                    _ => b'\r',
                });
                i += 2;
            }
            (b'\\', Some(b'0'..=b'7')) => {
                let digits = text[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|b| (b'0'..=b'7').contains(*b))
                    .count();
                let code = text[i + 1..i + 1 + digits]
                    .iter()
                    .fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
                // As Perl's "\777": past 255 the code is a wide
                // character, which prints as its UTF-8.
                match char::from_u32(code) {
                    Some(c) if code > 0xff => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    _ => out.push(code as u8),
                }
                i += 1 + digits;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_what_gnu_parallel_makes_of_them() {
        use std::time::Duration;
        assert_eq!(delay_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(delay_duration("2m1s"), Some(Duration::from_secs(121)));
        assert_eq!(delay_duration("1e-3"), Some(Duration::from_millis(1)));
        assert_eq!(delay_duration(""), Some(Duration::ZERO));
        assert_eq!(delay_duration("-1"), Some(Duration::ZERO));
        assert_eq!(delay_duration("-0.5s"), Some(Duration::ZERO));
        assert_eq!(delay_duration("soon"), None);
        assert_eq!(delay_duration("-soon"), None);
        assert_eq!(delay_duration("inf"), None);
    }

    #[test]
    fn tagstrings_take_gnu_parallels_printf_escapes() {
        assert_eq!(printf_escapes(br"a\tb\nc\rd"), b"a\tb\nc\rd");
        assert_eq!(printf_escapes(br"\033[31m{}"), b"\x1b[31m{}");
        assert_eq!(printf_escapes(br"\0x\7\08"), b"\0x\x07\x008");
        // Anything else stays: \x, \\, a trailing backslash.
        assert_eq!(printf_escapes(br"\x41\\q\"), br"\x41\\q\");
    }
}
