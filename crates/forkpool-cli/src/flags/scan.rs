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
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::getopt::{
    bundled_number, getopt_name, hash_value_refused, is_perl_float, must_have_value, say, typed_value_refused,
};
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
fn name_and_value(long: &[u8]) -> (&[u8], Option<&[u8]>) {
    match long.iter().skip(1).position(|&b| b == b'=') {
        Some(at) => (&long[..at + 1], Some(&long[at + 2..])),
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
        second_read: None,
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
                    walk.push_value(next);
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
        refused: walk.refused.or(walk.second_read),
    }
}

/// What [`scan`] has read so far.
struct Walk<'c> {
    command: &'c clap::Command,
    options: Vec<OsString>,
    long_words: Vec<(usize, &'c clap::Arg)>,
    refused: Option<Refusal>,
    /// The warnings only GNU parallel's second read of its options gives
    /// (see `getopt::hash_value_refused`): said if there are no others.
    second_read: Option<Refusal>,
}

impl<'c> Walk<'c> {
    /// The word after an option, taken as its value. A value that looks
    /// like an option (`-l -1`) is joined to the option's word
    /// (`-l-1`, `--max-lines=-1`), so that clap takes it as the value of
    /// an option whose value is optional too.
    fn push_value(&mut self, value: &OsString) {
        let option = self.options.last_mut().filter(|_| value.as_bytes().starts_with(b"-"));
        match option {
            Some(option) if option.as_bytes().starts_with(b"--") => {
                option.push("=");
                option.push(value);
            }
            Some(option) => option.push(value),
            None => self.options.push(value.clone()),
        }
    }

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
        // Perl reads the word as bytes: a byte that is not ASCII is a
        // letter of its own (`-\xc3\xa9` is two unknown options).
        let bytes = word.as_bytes();
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, value) = name_and_value(long);
            let typed = String::from_utf8_lossy(name);
            let mut value_next = false;
            match long_names::find(self.command, &typed) {
                Name::Option(arg) => {
                    say(&mut self.refused, long_value_refused(arg, &typed, value, next));
                    value_next = value.is_none() && Self::takes_value(arg, next);
                    let taken = match value {
                        Some(value) => Some(value).filter(|v| !v.is_empty()),
                        None => next.filter(|_| value_next).map(|v| v.as_bytes()),
                    };
                    if let Some(taken) = taken {
                        say(
                            &mut self.second_read,
                            hash_value_refused(arg, &getopt_name(arg, &typed), taken),
                        );
                    }
                    self.long_words.push((self.options.len(), arg));
                }
                Name::Ambiguous(message) => say(&mut self.refused, Some(Refusal::getopt(message))),
                Name::Unknown => say(
                    &mut self.refused,
                    Some(Refusal::getopt(
                        [&b"Unknown option: "[..], &name.to_ascii_lowercase()].concat(),
                    )),
                ),
            }
            self.options.push(word);
            return (value_next && next.is_some(), None);
        }
        let letters = &bytes[1..];
        for (k, &letter) in letters.iter().enumerate() {
            let c = char::from(letter);
            let Some(arg) = letter.is_ascii().then(|| long_names::short(self.command, c)).flatten() else {
                say(
                    &mut self.refused,
                    Some(Refusal::getopt([&b"Unknown option: "[..], &[letter]].concat())),
                );
                continue;
            };
            let last = k + 1 == letters.len();
            let rest = &letters[k + 1..];
            if let Some(number) = bundled_number(arg, rest).filter(|_| !last) {
                // `-H3x`: the number, then more options; `-Hx`, `-lk`:
                // no number, and the rest is options all the same.
                let taken = number.unwrap_or(0);
                if number.is_none() && must_have_value(arg) {
                    say(&mut self.refused, typed_value_refused(arg, &c.to_string(), rest));
                }
                self.options.push(OsString::from_vec(bytes[..k + 2 + taken].to_vec()));
                let given_back = (taken < rest.len()).then(|| OsString::from_vec([b"-", &rest[taken..]].concat()));
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
                true => next.map(|v| v.as_bytes()),
            };
            if let Some(value) = value {
                say(&mut self.refused, typed_value_refused(arg, &c.to_string(), value));
            }
            let took_next = last && next.is_some();
            self.options.push(word);
            return (took_next, None);
        }
        self.options.push(word);
        (false, None)
    }
}

/// Getopt::Long's warning, if any, for the long option `arg`, typed as
/// `name`, with the `value` after its `=` or else the `next` word.
fn long_value_refused(arg: &clap::Arg, name: &str, value: Option<&[u8]>, next: Option<&OsString>) -> Option<Refusal> {
    let named = || getopt_name(arg, name);
    match value {
        // `--tag=`, `--tag=yes`: a value given to an option that takes none.
        Some(_) if !arg.get_action().takes_values() => {
            Some(Refusal::getopt(format!("Option {} does not take an argument", named())))
        }
        // `--tagstring=`: Getopt::Long takes nothing after the `=` as no
        // value at all, for an option that must have one.
        Some(b"") if must_have_value(arg) => Some(Refusal::getopt(format!("Option {} requires an argument", named()))),
        Some(b"") => None,
        // `--max-lines=x`: `l:f` takes a value after `=` only if a number.
        Some(value) if arg.get_id() == "max_lines" && !is_perl_float(&String::from_utf8_lossy(value)) => {
            Some(Refusal::getopt(
                [
                    &b"Value \""[..],
                    value,
                    format!("\" invalid for option {} (real number expected)", named()).as_bytes(),
                ]
                .concat(),
            ))
        }
        Some(value) => typed_value_refused(arg, &named(), value),
        None if next.is_none() && must_have_value(arg) => {
            Some(Refusal::getopt(format!("Option {} requires an argument", named())))
        }
        None => typed_value_refused(arg, &named(), next?.as_bytes()),
    }
}

/// Spells out in full each long option [`scan`] found in `args`, with
/// the option its name names (see `long_names`): `--keep-ord` becomes
/// `--keep-order`, so that clap, which matches names exactly, reads what
/// GNU parallel reads.
pub(super) fn spell_out(args: &mut [OsString], long_words: Vec<(usize, &clap::Arg)>) {
    for (i, arg) in long_words {
        let Some(long) = args[i].as_bytes().strip_prefix(b"--") else {
            continue;
        };
        let (name, value) = name_and_value(long);
        let known = arg
            .get_long()
            .into_iter()
            .chain(arg.get_all_aliases().unwrap_or_default())
            .any(|n| n.as_bytes() == name);
        if known {
            continue;
        }
        // The value keeps its bytes: only the name is rewritten, long if
        // the option has a long name, else short (`--X`).
        let mut spelled = match (arg.get_long(), arg.get_short()) {
            (Some(full), _) => format!("--{full}").into_bytes(),
            (None, Some(letter)) => format!("-{letter}").into_bytes(),
            (None, None) => continue,
        };
        if let Some(value) = value {
            spelled.push(b'=');
            spelled.extend_from_slice(value);
        }
        args[i] = OsString::from_vec(spelled);
    }
}
