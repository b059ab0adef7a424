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
//! are read on (`-QZ` is two warnings, `-Qk` one). A letter typed as a
//! number (`-H`, `-l`) takes only the number the rest of its word starts
//! with, and Getopt::Long gives the rest back to be read as options
//! (`-H3x` is `-H3 -x`; `-Hk3` refuses `k3`, then warns of `3`).

use std::ffi::OsString;

use crate::getopt::{bundled_number, getopt_name, must_have_value, say, typed_value_refused};
use crate::long_names::{self, Name};
use crate::refusal::Refusal;

/// What [`scan`] finds.
pub(super) struct Scanned<'c> {
    /// `args[0]` and the option words, as Getopt::Long reads them: a
    /// bundle whose number ends before its word does is two words
    /// (`-H3x` is `-H3` and `-x`, see `getopt::bundled_number`).
    pub(super) options: Vec<OsString>,
    /// Where the options end (see `options_end`).
    pub(super) end: usize,
    /// Where the command starts: `end`, or after the `--` there.
    pub(super) rest: usize,
    /// The words of `options` that are long options (not values of other
    /// options), each with the option it names.
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
    let mut walk = Walk {
        command,
        options: args.first().cloned().into_iter().collect(),
        long_words: Vec::new(),
        refused: None,
    };
    let mut end = args.len();
    let mut rest = args.len();
    let mut i = 1;
    'words: while i < args.len() {
        let word = &args[i];
        if word == "--" {
            (end, rest) = (i, i + 1);
            break;
        }
        if word.len() < 2 || !word.to_string_lossy().starts_with('-') {
            (end, rest) = (i, i);
            break;
        }
        // The word, then what Getopt::Long gives back of it to read next.
        let mut reading = Some(word.clone());
        while let Some(word) = reading.take() {
            if word == "--" {
                // Given back (`-H3-`): the options end here too.
                (end, rest) = (i + 1, i + 1);
                break 'words;
            }
            let next = args.get(i + 1);
            let (takes_next, given_back) = walk.word(word, next);
            if takes_next {
                if let Some(next) = next {
                    walk.options.push(next.clone());
                }
                i += 1;
            }
            reading = given_back;
        }
        i += 1;
    }
    Scanned {
        options: walk.options,
        end,
        rest,
        long_words: walk.long_words,
        refused: walk.refused,
    }
}

/// What [`scan`] has read so far.
struct Walk<'c> {
    command: &'c clap::Command,
    options: Vec<OsString>,
    long_words: Vec<(usize, &'c clap::Arg)>,
    refused: Option<Refusal>,
}

impl<'c> Walk<'c> {
    /// Whether `arg` takes the `next` word as its value. Some take one
    /// only if it looks like theirs (`-l 2`, but not `-l echo`).
    fn takes_value(arg: &clap::Arg, next: Option<&OsString>) -> bool {
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        let next = next.map(|w| w.to_string_lossy()).unwrap_or_default();
        match crate::xargs::takes_optional_value(arg.get_id().as_str(), &next) {
            Some(takes) if optional => takes,
            _ => arg.get_action().takes_values(),
        }
    }

    /// Reads the option word `word` (`--name`, `--name=value` or a bundle
    /// of letters), the `next` word after it being its value if it takes
    /// one. Returns whether it did, and the part of the word Getopt::Long
    /// gives back to read as a word of its own, if any.
    fn word(&mut self, word: OsString, next: Option<&OsString>) -> (bool, Option<OsString>) {
        let text = word.to_string_lossy().into_owned();
        if let Some(long) = text.strip_prefix("--") {
            let (name, value) = name_and_value(long);
            let mut value_next = false;
            match long_names::find(self.command, name) {
                Name::Option(arg) => {
                    say(&mut self.refused, long_value_refused(arg, name, value, next));
                    value_next = value.is_none() && Self::takes_value(arg, next);
                    self.long_words.push((self.options.len(), arg));
                }
                Name::Ambiguous(message) => say(&mut self.refused, Some(Refusal::getopt(message))),
                Name::Unknown => say(
                    &mut self.refused,
                    Some(Refusal::getopt(format!(
                        "Unknown option: {}",
                        name.to_ascii_lowercase()
                    ))),
                ),
            }
            self.options.push(word);
            return (value_next && next.is_some(), None);
        }
        let chars: Vec<char> = text[1..].chars().collect();
        for (k, &c) in chars.iter().enumerate() {
            let Some(arg) = long_names::short(self.command, c) else {
                say(&mut self.refused, Some(Refusal::getopt(format!("Unknown option: {c}"))));
                continue;
            };
            let last = k + 1 == chars.len();
            let rest: String = chars[k + 1..].iter().collect();
            if let Some(number) = bundled_number(arg, &rest).filter(|_| !last) {
                // `-H3x`: the number, then more options; `-Hx`, `-lk`:
                // no number, and the rest is options all the same.
                let taken = number.unwrap_or(0);
                if number.is_none() && must_have_value(arg) {
                    say(&mut self.refused, typed_value_refused(arg, &c.to_string(), &rest));
                }
                let kept: String = chars[..=k].iter().collect();
                self.options.push(format!("-{kept}{}", &rest[..taken]).into());
                let given_back = (taken < rest.len()).then(|| format!("-{}", &rest[taken..]).into());
                return (false, given_back);
            }
            // The rest of the word is the value of an option that
            // takes one (`-j3`, `-l2`); with none, the next word may be.
            let takes = if last {
                Self::takes_value(arg, next)
            } else {
                arg.get_action().takes_values()
            };
            if !takes {
                continue;
            }
            if last && next.is_none() && must_have_value(arg) {
                say(
                    &mut self.refused,
                    Some(Refusal::getopt(format!("Option {c} requires an argument"))),
                );
            }
            // `-jx`, `-j x`: the value is the rest of the word, or the
            // next word.
            let value = match last {
                false => Some(rest),
                true => next.map(|v| v.to_string_lossy().into_owned()),
            };
            if let Some(value) = value {
                say(&mut self.refused, typed_value_refused(arg, &c.to_string(), &value));
            }
            self.options.push(word);
            return (last && next.is_some(), None);
        }
        self.options.push(word);
        (false, None)
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
