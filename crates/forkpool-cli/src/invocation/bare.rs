//! A command line without options (`forkpool true ::: 1`), read without
//! clap.
//!
//! Start-up is most of what a short run costs (issue 8: one job within
//! 1.2x of `xargs`). Building clap's option table for our ~250 options is
//! the biggest single cost of a start: ~0.1 ms and ~60 page faults (a
//! 57 KB stack frame, a ~150 KB `Vec` grown by doubling), before clap
//! reads a word. A command line whose first word is not an option needs
//! none of it: clap would be handed the program's name alone, and its
//! answer is every option at its default.
//!
//! So this recognizes exactly that case and nothing else: the options end
//! at the first word (`options_end_in` stops there), because the word does
//! not start with `-`, is `-` itself (too short to be an option: it starts
//! the command), or is `--` (which ends the options and is dropped). Anything else, however simple, goes to clap,
//! so every error, `--help`, `--version` and every option keeps clap's
//! behaviour. The unit tests below run a table of command lines through
//! both ways and compare the results field by field (their `Debug`
//! forms), so a default that clap fills differently from `Default` (a
//! `default_value` added one day) fails them.

use std::ffi::OsString;

use crate::flags::Flags;

/// The flags of `args` (`args[0]` is the program's name) when it holds no
/// option at all: what clap would give, without building clap's table.
/// `None`: the command line has (or may have) options; ask clap.
pub(crate) fn parse(args: &[OsString]) -> Option<Flags> {
    let rest = match args.get(1).map(|w| w.as_encoded_bytes()) {
        None => &[][..],
        Some(b"--") => &args[2..],
        Some(b"-") => &args[1..],
        Some(word) if word.first() == Some(&b'-') => return None,
        Some(_) => &args[1..],
    };
    Some(Flags {
        rest: rest.to_vec(),
        ..Flags::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("forkpool")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// What clap makes of `args`, as `Debug` text (every field).
    fn by_clap(args: &[OsString]) -> String {
        format!("{:?}", Flags::parse_args(args.to_vec()).expect("clap accepts it"))
    }

    #[test]
    fn a_command_line_without_options_reads_as_clap_reads_it() {
        use std::os::unix::ffi::OsStringExt;
        let mut table: Vec<Vec<OsString>> = [
            &[][..],
            &["true", ":::", "1"],
            &["echo", "-n", "--tag", ":::", "a", "b"],
            &["--", "-weird", "x"],
            &["--"],
            &["--", "--"],
            &["-", ":::", "x"],
            &[":::", "a", "b"],
            &["::::", "file"],
            &["echo {}", ":::+", "a", "::::+", "b"],
            &[""],
            &["", "-j2"],
            &["+2", "echo"],
            &["echo", "-j2", "--", "-k"],
        ]
        .iter()
        .map(|words| argv(words))
        .collect();
        // Not UTF-8: clap never sees the words after the options.
        table.push(vec![
            "forkpool".into(),
            OsString::from_vec(vec![0xff, b'x']),
            "y".into(),
        ]);
        table.push(vec![OsString::from_vec(vec![0xfe]), "echo".into()]);
        for args in table {
            let bare = parse(&args).unwrap_or_else(|| panic!("{args:?} has no option"));
            assert_eq!(format!("{bare:?}"), by_clap(&args), "{args:?}");
        }
    }

    #[test]
    fn anything_that_may_be_an_option_goes_to_clap() {
        for words in [
            &["-j2", "true"][..],
            &["-k", "echo"],
            &["--tag", "echo"],
            &["--help"],
            &["--version"],
            &["-V"],
            &["--nosuchoption", "x"],
            &["-Z"],
            &["---", "x"],
            &["-0"],
            &["--=x"],
        ] {
            assert!(parse(&argv(words)).is_none(), "{words:?}");
        }
    }
}
