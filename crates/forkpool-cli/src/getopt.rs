//! Getopt::Long's ways, where GNU parallel's messages come from: how it
//! names an option in them, which options must have a value, and its
//! checks of typed values (`=i`, `=f`).

use crate::refusal::Refusal;

/// Whether an option must have a value (not `-l`, `-e`, `-i`, whose value
/// is optional).
pub(crate) fn must_have_value(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

/// The name Getopt::Long gives the long option typed as `typed` in its
/// messages: the name matched, lowercased; for an abbreviation, the one
/// name it abbreviates (`--xapplyi`: `xapplyinputsource`, `--ssh-d`:
/// `ssh-delay`), or the option's first name in GNU's table if it
/// abbreviates several of its names (`--mi`: `min-version`); a letter is the short option's (`--J`: `j`).
pub(crate) fn getopt_name(arg: &clap::Arg, typed: &str) -> String {
    let names = || {
        arg.get_long()
            .into_iter()
            .chain(arg.get_all_aliases().unwrap_or_default())
    };
    let typed = typed.to_ascii_lowercase();
    if typed.chars().count() == 1 || names().any(|n| n.eq_ignore_ascii_case(&typed)) {
        return typed;
    }
    let mut abbreviated = names().filter(|n| n.to_ascii_lowercase().starts_with(&typed));
    match (abbreviated.next(), abbreviated.next()) {
        (Some(only), None) => only.to_owned(),
        _ => crate::long_names::gnu_first_name(arg).unwrap_or(&typed).to_owned(),
    }
}

/// Adds Getopt::Long's `message`, if any, to those said so far: it warns
/// of each bad option in turn, then GNU parallel stops.
pub(crate) fn say(said: &mut Option<Refusal>, message: Option<Refusal>) {
    if let Some(message) = message {
        *said = Some(match said.take() {
            Some(said) => said.then(message),
            None => message,
        });
    }
}

/// Getopt::Long's check of a value of GNU parallel's typed options
/// (`nice=i`, `min-version=i`, `ssh-delay=f`): its message for one that
/// is not of the type, naming the option `name`. The value's bytes are
/// said as they are.
pub(crate) fn typed_value_refused(arg: &clap::Arg, name: &str, value: &[u8]) -> Option<Refusal> {
    let text = std::str::from_utf8(value).unwrap_or("");
    let (valid, expected) = match arg.get_id().as_str() {
        "nice" | "minversion" | "link_input_source" => (is_perl_int(text), "number expected"),
        // The retired `-H` (`H=i`).
        "h" if arg.get_short() == Some('H') => (is_perl_int(text), "number expected"),
        "sshdelay" => (is_perl_float(text), "real number expected"),
        _ => return None,
    };
    (!valid).then(|| {
        let said = format!("\" invalid for option {name} ({expected})");
        Refusal::getopt([&b"Value \""[..], value, said.as_bytes()].concat())
    })
}

/// Getopt::Long's check of a value of GNU parallel's one hash option,
/// `--template` (`template|tmpl=s%`), named `name`: a `KEY=VALUE` pair,
/// else its message, with the bytes given as the key.
///
/// GNU parallel reads its options twice, first for `--profile` alone,
/// with every other option's values put in a list: there a template is
/// no hash, and any other warning ends the run before the second read,
/// where this one is said.
pub(crate) fn hash_value_refused(arg: &clap::Arg, name: &str, value: &[u8]) -> Option<Refusal> {
    (arg.get_id() == "template" && !value.contains(&b'=')).then(|| {
        let said = format!("Option {name}, key \"");
        Refusal::getopt([said.as_bytes(), value, b"\", requires a value"].concat())
    })
}

/// For a letter option GNU parallel types as a number (`H=i`, the
/// optional `l:f`), how Getopt::Long (`bundling`) reads the rest of its
/// word: as the number its leading characters make, the characters after
/// that being more bundled options (`-H3x` is `-H 3 -x`, `-l2k` is
/// `-l 2 -k`). `Some(Some(n))`: the number is the first `n` bytes;
/// `Some(None)`: the rest does not start with one (then `-H` refuses it
/// and `-l` takes no value, but Getopt::Long reads the rest as options
/// all the same, `-Hk3` warning of `3`); `None`: not such an option.
pub(crate) fn bundled_number(arg: &clap::Arg, rest: &[u8]) -> Option<Option<usize>> {
    match arg.get_short() {
        Some('H') => Some(perl_int_prefix(rest)),
        Some('l') => Some(perl_float_prefix(rest)),
        _ => None,
    }
}

/// The length of the longest start of `text` that is Getopt::Long's
/// `PAT_INT`, if one is.
fn perl_int_prefix(b: &[u8]) -> Option<usize> {
    let mut at = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    at += b[at..].iter().take_while(|&&c| c == b'_').count();
    if !b.get(at).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(at + digits(&b[at..]))
}

/// The length of the longest start of `text` that is Getopt::Long's
/// `PAT_FLOAT` (which may be empty: `.` starts no fraction), if one is.
/// (Its "decimal point" is any byte: the pattern is a Perl string, where
/// `\.` is a plain `.`; so `0x10` is a number there.)
fn perl_float_prefix(b: &[u8]) -> Option<usize> {
    let mut at = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if !b.get(at).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
        return None;
    }
    at += digits(&b[at..]);
    if at < b.len() && digits(&b[at + 1..]) > 0 {
        at += 1 + digits(&b[at + 1..]);
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(at + 1), Some(b'-' | b'+')));
        let n = digits(&b[at + 1 + sign..]);
        if n > 0 {
            at += 1 + sign + n;
        }
    }
    Some(at)
}

/// How many of the bytes `b` starts with are digits or `_`.
fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit() || **c == b'_').count()
}

/// The integer Perl makes of a value Getopt::Long took for an `=i` option
/// (`_` groups digits): one beyond 64 bits becomes what Perl's `SvIV`
/// gives, `-1` above the largest unsigned (`UV_MAX`), the smallest signed
/// below it, and one between the signed and unsigned limits wraps. `None`
/// if it is not such a value.
pub(crate) fn perl_iv(value: &str) -> Option<i64> {
    if !is_perl_int(value) {
        return None;
    }
    let digits = value.replace('_', "");
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, digits.trim_start_matches('+').to_owned()),
    };
    // Saturated far beyond 64 bits: the limits below are all it needs.
    let magnitude = digits
        .parse::<u128>()
        .unwrap_or(u128::MAX)
        .min(u128::from(u64::MAX) + 1);
    Some(match (negative, magnitude) {
        (false, m) if m > u128::from(u64::MAX) => -1,
        // Wraps, as Perl's UV read as an IV.
        (false, m) => m as u64 as i64,
        (true, m) if m > 1 << 63 => i64::MIN,
        (true, m) => (m as i128).wrapping_neg() as i64,
    })
}

/// The niceness a job gets from GNU parallel's `setpriority(0,0,$nice)`
/// with Perl's integer of `--nice`'s value (see [`perl_iv`]): C's `int`
/// keeps its low 32 bits, and the kernel clamps that to -20..=19
/// (`--nice 4294967306` is 10, `--nice 99999999999999999999` is -1).
/// `Some(None)` for a value that is 0 (`0`, `-0`, `00`): GNU's
/// `$opt::nice ||= getpriority` leaves the jobs the niceness it has.
/// `None` if it is not an integer.
pub(crate) fn niceness(value: &str) -> Option<Option<i32>> {
    perl_iv(value).map(|n| (n != 0).then(|| (n as i32).clamp(-20, 19)))
}

/// Getopt::Long's `PAT_INT`: `[-+]?_*[0-9][0-9_]*`.
fn is_perl_int(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value).trim_start_matches('_');
    digits.starts_with(|c: char| c.is_ascii_digit()) && digits.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// Getopt::Long's `PAT_FLOAT`: `[-+]?(?=[0-9.])[0-9_]*(\.[0-9_]+)?([eE][-+]?[0-9_]+)?`,
/// the whole of `value`: [`perl_float_prefix`] of all of it. The
/// pattern's `\.` (any byte) is no newline, and nothing else in it
/// matches one.
pub(crate) fn is_perl_float(value: &str) -> bool {
    !value.contains('\n') && perl_float_prefix(value.as_bytes()) == Some(value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn niceness_is_what_perls_setpriority_gives() {
        for (value, nice) in [
            ("5", 5),
            ("+5", 5),
            ("1_0", 10),
            ("100", 19),
            ("-21", -20),
            ("99999999999999999999", -1),
            ("-99999999999999999999", 0),
            ("9223372036854775807", -1),
            ("9223372036854775808", 0),
            ("18446744073709551615", -1),
            ("4294967295", -1),
            ("4294967296", 0),
            ("4294967306", 10),
            ("2147483648", -20),
            ("-2147483649", 19),
            ("-9223372036854775808", 0),
            ("-9223372036854775809", 0),
        ] {
            assert_eq!(niceness(value), Some(Some(nice)), "{value}");
        }
        for zero in ["0", "-0", "00", "0_0"] {
            assert_eq!(niceness(zero), Some(None), "{zero}");
        }
        for bad in ["2.5", "1e3", "x", ""] {
            assert_eq!(niceness(bad), None, "{bad}");
        }
    }

    #[test]
    fn getopt_long_number_patterns() {
        for good in ["3", "-3", "+3", "1_0", "_1"] {
            assert!(is_perl_int(good), "{good}");
        }
        for bad in ["", " 3", "x", "1.5", "3x", "-"] {
            assert!(!is_perl_int(bad), "{bad}");
        }
        for good in ["1", ".5", "1.5", "-1e3", "1E-3", "+.5e+2", "1_0.0_1"] {
            assert!(is_perl_float(good), "{good}");
        }
        assert!(!is_perl_float("1."), "a point needs digits after it");
        // Getopt::Long's point is any byte (but a newline).
        for good in ["0x10", "0b1", "1x5e3", "-1_0"] {
            assert!(is_perl_float(good), "{good}");
        }
        for bad in ["0xff", "0x", "1\n5", "0x1g"] {
            assert!(!is_perl_float(bad), "{bad}");
        }
        for (text, number) in [
            ("3x", Some(1)),
            ("-3x", Some(2)),
            ("_3_x", Some(3)),
            ("x3", None),
            ("-x", None),
        ] {
            assert_eq!(perl_int_prefix(text.as_bytes()), number, "{text}");
        }
        for (text, number) in [
            ("2k", Some(1)),
            ("1.5k", Some(3)),
            ("2.k", Some(1)),
            ("2e", Some(1)),
            ("1e-2k", Some(4)),
            ("0x10", Some(4)),
            ("0xffk", Some(1)),
            (".k", Some(0)),
            ("k", None),
            ("-k", None),
        ] {
            assert_eq!(perl_float_prefix(text.as_bytes()), number, "{text}");
        }
        for bad in ["", ".", "x", "1s", "1e", "e3", "1.5.5", "- 1"] {
            assert!(!is_perl_float(bad), "{bad}");
        }
    }
}
