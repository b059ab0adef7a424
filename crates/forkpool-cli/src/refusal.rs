//! Why the program refuses to run, before any job, and how it says so.
//!
//! GNU parallel ends a bad command line with one of two kinds of message:
//! Getopt::Long's own words, which Perl warns alone on their line
//! (`Unknown option: x`, `Option j requires an argument`, `Value "x"
//! invalid for option nice (number expected)`), and its own, after
//! `parallel: Error: `. Which kind a message is, is known where it is
//! made (the option scan in `flags`, `getopt`'s typed values, clap's
//! errors read by [`Refusal::of_clap`], `--nice`'s check in `config`);
//! a [`Refusal`] carries it from there to [`Refusal::report`], which
//! prints the message as GNU parallel prints its kind. A parse of the
//! command line ends in a [`ParseError`]: a refusal, or clap's `--help`
//! and `--version`, which are answers.

use std::fmt;

use clap::error::ErrorKind;

use crate::config::UsageError;

/// Whose words a refusal is in: how it is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Getopt::Long's, as Perl warns them: alone on their line, without
    /// the program's name or `Error: `.
    Getopt,
    /// GNU parallel's own (and ours): after `NAME: Error: `.
    Usage,
}

/// A message that ends the run before any job, with its [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    kind: Kind,
    /// Bytes, not text: Getopt::Long reads a word as bytes and says them
    /// back as they are (`-\xff` is `Unknown option: \xff`).
    message: Vec<u8>,
}

impl Refusal {
    /// Getopt::Long's words.
    pub(crate) fn getopt(message: impl Into<Vec<u8>>) -> Refusal {
        Refusal {
            kind: Kind::Getopt,
            message: message.into(),
        }
    }

    /// Words of our own (GNU parallel's `Error: ` messages).
    pub(crate) fn usage(message: impl Into<String>) -> Refusal {
        Refusal {
            kind: Kind::Usage,
            message: message.into().into_bytes(),
        }
    }

    /// clap's error, on one line, in Getopt::Long's words where it has
    /// them (`Unknown option: x`, `Option j requires an argument`), so
    /// that scripts matching on them work; else clap's first line, as
    /// ours.
    pub(crate) fn of_clap(e: &clap::Error) -> Refusal {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        // The option clap quotes first: `'--nosuch'`, `'--jobs <N>'`.
        let quoted = first
            .split('\'')
            .nth(1)
            .map(|q| q.split([' ', '=']).next().unwrap_or(q))
            .map(|q| q.strip_prefix("--").or_else(|| q.strip_prefix('-')).unwrap_or(q));
        match (e.kind(), quoted) {
            (ErrorKind::UnknownArgument, Some(option)) => Refusal::getopt(format!("Unknown option: {option}")),
            (ErrorKind::InvalidValue, Some(option)) if first.contains("a value is required") => {
                Refusal::getopt(format!("Option {option} requires an argument"))
            }
            _ => Refusal::usage(first),
        }
    }

    /// This refusal and then `next`, a line each: Getopt::Long warns of
    /// each bad option in turn before GNU parallel stops. (Said as this
    /// one's kind.)
    pub(crate) fn then(self, next: Refusal) -> Refusal {
        Refusal {
            kind: self.kind,
            message: [self.message, next.message].join(&b'\n'),
        }
    }

    /// This refusal found in the options of `origin` (`$PARALLEL`, an
    /// option file): said as ours, after the origin's name, as GNU
    /// parallel says it.
    pub(crate) fn within(self, origin: &str) -> Refusal {
        Refusal::usage(format!("{origin}: {self}"))
    }

    /// Prints it on standard error as GNU parallel prints its kind (the
    /// message alone is its `Display`).
    pub(crate) fn report(&self) {
        match self.kind {
            Kind::Getopt => {
                use std::io::Write as _;
                let _ = std::io::stderr().write_all(&[&self.message[..], b"\n"].concat());
            }
            Kind::Usage => error!("{self}"),
        }
    }
}

impl From<UsageError> for Refusal {
    fn from(e: UsageError) -> Refusal {
        Refusal::usage(e.0)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message))
    }
}

/// Why a parse of the command line stopped.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// `--help`, `--version`: clap's text, to print.
    Clap(clap::Error),
    /// A bad command line, in GNU parallel's words.
    Refused(Refusal),
}

impl ParseError {
    /// clap's error: its `--help` and `--version` kept, any other in GNU
    /// parallel's words.
    pub(crate) fn of_clap(e: clap::Error) -> ParseError {
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ParseError::Clap(e),
            _ => ParseError::Refused(Refusal::of_clap(&e)),
        }
    }

    /// The refusal, `--help` and `--version` too (their first line, as
    /// ours), for where they are no answer (`$PARALLEL`).
    pub(crate) fn into_refusal(self) -> Refusal {
        match self {
            ParseError::Clap(e) => Refusal::of_clap(&e),
            ParseError::Refused(refusal) => refusal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(args: &[&str]) -> Refusal {
        let mut argv = vec!["forkpool"];
        argv.extend_from_slice(args);
        match crate::flags::Flags::parse_args(argv.into_iter().map(Into::into)) {
            Err(ParseError::Refused(refusal)) => refusal,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn the_option_parse_says_whose_words_it_refuses_in() {
        for (args, message) in [
            (&["--nosuch", "echo"][..], "Unknown option: nosuch"),
            (&["-j"], "Option j requires an argument"),
            (&["--Jobs"], "Option jobs requires an argument"),
            (&["--jobs="], "Option jobs requires an argument"),
            (&["--tag=3", "echo"], "Option tag does not take an argument"),
            (&["--jo", "echo"], "Option jo is ambiguous (joblog, jobs)"),
            (
                &["--nice", "x", "echo"],
                "Value \"x\" invalid for option nice (number expected)",
            ),
            // A value's newline is the message's, as Perl warns it.
            (
                &["--nice", "1\n2", "echo"],
                "Value \"1\n2\" invalid for option nice (number expected)",
            ),
        ] {
            assert_eq!(refused(args), Refusal::getopt(message), "{args:?}");
        }
    }

    #[test]
    fn clap_errors_without_getopts_words_are_ours() {
        let e = clap::Error::raw(ErrorKind::ValueValidation, "invalid value 'x' for '--jobs <N>'\nmore");
        assert_eq!(
            Refusal::of_clap(&e),
            Refusal::usage("invalid value 'x' for '--jobs <N>'")
        );
    }

    #[test]
    fn getopts_words_from_an_option_source_are_ours() {
        let inner = Refusal::getopt("Option j requires an argument");
        assert_eq!(
            inner.within("$PARALLEL"),
            Refusal::usage("$PARALLEL: Option j requires an argument")
        );
        assert_eq!(Refusal::from(UsageError("x".into())), Refusal::usage("x"));
    }
}
