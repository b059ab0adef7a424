//! The walk over the option words, as GNU parallel's `Getopt::Long`
//! (`bundling`, `require_order`) walks them: where the options end, which
//! words are long options and what each names, and Getopt::Long's
//! warnings.
//!
//! Getopt::Long does not stop at a bad option: it warns of each one in
//! turn (`Unknown option: foo`, `Option re is ambiguous (...)`, `Value
//! "x" invalid for option nice (number expected)`, `Option jobs requires
//! an argument`), in the order of the words, and only then does GNU
//! parallel stop. A bad option takes no value from the next word, but a
//! bad value is taken (`--nice x` is one bad option, not two); a letter
//! in a bundle that names nothing is warned of, and the letters after it
//! are read on (`-QZ` is two warnings, `-Qk` one).

use std::ffi::OsString;

use crate::getopt::{getopt_name, must_have_value, say, typed_value_refused};
use crate::long_names::{self, Name};
use crate::refusal::Refusal;

/// What [`scan`] finds.
pub(super) struct Scanned<'c> {
    /// Where the options end (see `options_end`).
    pub(super) end: usize,
    /// The words that are long options (not values of other options),
    /// each with the option it names.
    pub(super) long_words: Vec<(usize, &'c clap::Arg)>,
    /// Getopt::Long's warnings, one a line, in the order of the words.
    pub(super) refused: Option<Refusal>,
}

/// A long option word without its `--`, split as Getopt::Long splits it:
/// at the first `=` after the first byte (`--=x` names `=x`).
fn name_and_value(long: &str) -> (&str, Option<&str>) {
    match long.char_indices().skip(1).find(|&(_, c)| c == '=') {
        Some((at, _)) => (&long[..at], Some(&long[at + 1..])),
        None => (long, None),
    }
}

/// Walks the options in `args` (`args[0]` is the program's name).
pub(super) fn scan<'c>(command: &'c clap::Command, args: &[OsString]) -> Scanned<'c> {
    // Whether an option takes the next word as its value. Some take one
    // only if it looks like theirs (`-l 2`, but not `-l echo`).
    let takes_value = |arg: &clap::Arg, next: Option<&OsString>| {
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        let next = next.map(|w| w.to_string_lossy()).unwrap_or_default();
        match crate::xargs::takes_optional_value(arg.get_id().as_str(), &next) {
            Some(takes) if optional => takes,
            _ => arg.get_action().takes_values(),
        }
    };
    let mut long_words = Vec::new();
    let mut refused = None;
    let mut end = args.len();
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_string_lossy();
        if word == "--" {
            end = i;
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, value) = name_and_value(long);
            let next = args.get(i + 1);
            let mut value_next = false;
            match long_names::find(command, name) {
                Name::Option(arg) => {
                    say(&mut refused, long_value_refused(arg, name, value, next));
                    value_next = value.is_none() && takes_value(arg, next);
                    long_words.push((i, arg));
                }
                Name::Ambiguous(message) => say(&mut refused, Some(Refusal::getopt(message))),
                Name::Unknown => say(
                    &mut refused,
                    Some(Refusal::getopt(format!(
                        "Unknown option: {}",
                        name.to_ascii_lowercase()
                    ))),
                ),
            }
            i += 1 + usize::from(value_next);
            continue;
        }
        if word.len() > 1 && word.starts_with('-') {
            let chars: Vec<char> = word[1..].chars().collect();
            for (k, &c) in chars.iter().enumerate() {
                let Some(arg) = long_names::short(command, c) else {
                    say(&mut refused, Some(Refusal::getopt(format!("Unknown option: {c}"))));
                    continue;
                };
                let last = k + 1 == chars.len();
                // The rest of the word is the value of an option that
                // takes one (`-j3`, `-l2`); with none, the next word may be.
                let takes = if last {
                    takes_value(arg, args.get(i + 1))
                } else {
                    arg.get_action().takes_values()
                };
                if !takes {
                    continue;
                }
                if last && i + 1 == args.len() && must_have_value(arg) {
                    say(
                        &mut refused,
                        Some(Refusal::getopt(format!("Option {c} requires an argument"))),
                    );
                }
                // `-Hx`, `-H x`: the value is the rest of the word, or
                // the next word.
                let value = match chars.get(k + 1..).filter(|rest| !rest.is_empty()) {
                    Some(rest) => Some(rest.iter().collect::<String>()),
                    None => args.get(i + 1).map(|v| v.to_string_lossy().into_owned()),
                };
                if let Some(value) = value {
                    say(&mut refused, typed_value_refused(arg, &c.to_string(), &value));
                }
                if last {
                    // The value is the next word.
                    i += 1;
                }
                break;
            }
            i += 1;
            continue;
        }
        end = i;
        break;
    }
    Scanned {
        end,
        long_words,
        refused,
    }
}

/// Getopt::Long's warning, if any, for the long option `arg`, typed as
/// `name`, with the `value` after its `=` or else the `next` word.
fn long_value_refused(arg: &clap::Arg, name: &str, value: Option<&str>, next: Option<&OsString>) -> Option<Refusal> {
    let named = || getopt_name(arg, name);
    match value {
        // `--tag=`, `--tag=yes`: a value given to an option that takes none.
        Some(_) if !arg.get_action().takes_values() => {
            Some(Refusal::getopt(format!("Option {} does not take an argument", named())))
        }
        // `--tagstring=`: Getopt::Long takes nothing after the `=` as no
        // value at all, for an option that must have one.
        Some("") if must_have_value(arg) => Some(Refusal::getopt(format!("Option {} requires an argument", named()))),
        Some("") => None,
        Some(value) => typed_value_refused(arg, &named(), value),
        None if next.is_none() && must_have_value(arg) => {
            Some(Refusal::getopt(format!("Option {} requires an argument", named())))
        }
        None => typed_value_refused(arg, &named(), &next?.to_string_lossy()),
    }
}

/// Spells out in full each long option [`scan`] found in `args`, with
/// the option its name names (see `long_names`): `--keep-ord` becomes
/// `--keep-order`, so that clap, which matches names exactly, reads what
/// GNU parallel reads.
pub(super) fn spell_out(args: &mut [OsString], long_words: Vec<(usize, &clap::Arg)>) {
    for (i, arg) in long_words {
        let word = args[i].to_string_lossy().into_owned();
        let Some(long) = word.strip_prefix("--") else { continue };
        let (name, value) = name_and_value(long);
        let known = arg
            .get_long()
            .into_iter()
            .chain(arg.get_all_aliases().unwrap_or_default())
            .any(|n| n == name);
        if known {
            continue;
        }
        // The value keeps its bytes: only the name is rewritten, long if
        // the option has a long name, else short (`--X`).
        let mut spelled = match (arg.get_long(), arg.get_short()) {
            (Some(full), _) => OsString::from(format!("--{full}")),
            (None, Some(letter)) => OsString::from(format!("-{letter}")),
            (None, None) => continue,
        };
        if value.is_some() {
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(args[i].as_os_str());
            let at = 2 + name.len();
            spelled.push(std::os::unix::ffi::OsStrExt::from_bytes(&bytes[at..]) as &std::ffi::OsStr);
        }
        args[i] = spelled;
    }
}
