//! Getopt::Long's ways, where GNU parallel's messages come from: how it
//! names an option in them, which options must have a value, and its
//! checks of typed values (`=i`, `=f`).

/// Whether an option must have a value (not `-l`, `-e`, `-i`, whose value
/// is optional).
pub(crate) fn must_have_value(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

/// The name Getopt::Long gives the long option typed as `typed` in its
/// messages: the name matched, lowercased; for an abbreviation, the one
/// name it abbreviates (`--xapplyi`: `xapplyinputsource`, `--ssh-d`:
/// `ssh-delay`), or the option's name if it abbreviates several of its
/// names; a letter is the short option's (`--J`: `j`).
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
        _ => arg.get_long().unwrap_or(&typed).to_owned(),
    }
}

/// Getopt::Long's check of a value of GNU parallel's typed options
/// (`nice=i`, `min-version=i`, `ssh-delay=f`): its message for one that
/// is not of the type, naming the option `name`.
pub(crate) fn typed_value_refused(arg: &clap::Arg, name: &str, value: &str) -> Option<String> {
    let (valid, expected) = match arg.get_id().as_str() {
        "nice" | "minversion" | "link_input_source" => (is_perl_int(value), "number expected"),
        // The retired `-H` (`H=i`).
        "h" if arg.get_short() == Some('H') => (is_perl_int(value), "number expected"),
        "sshdelay" => (is_perl_float(value), "real number expected"),
        _ => return None,
    };
    (!valid).then(|| format!("Value \"{value}\" invalid for option {name} ({expected})"))
}

/// Getopt::Long's `PAT_INT`: `[-+]?_*[0-9][0-9_]*`.
fn is_perl_int(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value).trim_start_matches('_');
    digits.starts_with(|c: char| c.is_ascii_digit()) && digits.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// Getopt::Long's `PAT_FLOAT`: `[-+]?(?=[0-9.])[0-9_]*(\.[0-9_]+)?([eE][-+]?[0-9_]+)?`.
fn is_perl_float(value: &str) -> bool {
    let rest = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return false;
    }
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_').len();
    let mut at = digits(rest);
    if rest[at..].starts_with('.') {
        let fraction = digits(&rest[at + 1..]);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if rest[at..].starts_with(['e', 'E']) {
        let exponent = &rest[at + 1..];
        let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        let n = digits(exponent);
        return n > 0 && n == exponent.len();
    }
    at == rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for bad in ["", ".", "x", "1s", "1e", "e3", "1.5.5", "- 1"] {
            assert!(!is_perl_float(bad), "{bad}");
        }
    }
}
