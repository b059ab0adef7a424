//! Long option names as GNU parallel reads them.
//!
//! GNU parallel parses its options with Perl's `Getopt::Long`, which takes
//! a long option's name without regard to case and accepts any prefix of
//! it that names one option only: `--keep-ord`, `--dry` and `--Keep-Order`
//! all work there, and `--re` is an error that lists what it could mean
//! (`--recend`, `--results`, `--retries`...). A prefix shared by several
//! names of one option (`--resul`: `--result`, `--results`) is not
//! ambiguous. Scripts written against GNU parallel use such spellings, so
//! before clap sees the command line, every long option word in it is
//! spelled out in full ([`find`]), and clap itself matches names exactly.
//!
//! Abbreviations follow GNU parallel 20221122's own table: a name of
//! forkpool's that it lacks ([`OWN`]: `--files0`, `--slurm`...) is taken
//! only typed in full, so it neither makes an abbreviation GNU reads
//! ambiguous (`--file` is `--files` there) nor is listed among the names
//! of an ambiguous one; `--shebang-wrap` ([`FIRST_ONLY`]) is no option
//! at all past the first argument, as there.

use clap::{Arg, Command};

/// What a long option's name, as typed, names.
#[derive(Debug)]
pub(crate) enum Name<'c> {
    /// One option.
    Option(&'c Arg),
    /// A prefix of names of several options: GNU's message, which lists
    /// every name it matches.
    Ambiguous(String),
    /// Nothing.
    Unknown,
}

/// forkpool's long names that GNU parallel 20221122's option table lacks
/// (`--citation`/`--bibtex` are in GNU's source but taken out of the
/// release): each is found only typed in full.
const OWN: &[&str] = &["bibtex", "citation", "files0", "no-controlmaster", "opentty", "slurm"];

/// Names GNU parallel reads only as the first argument, before its
/// option parser runs (see `shebang::rewrite`); anywhere else they are
/// unknown options there, and here.
const FIRST_ONLY: &[&str] = &["shebang-wrap", "shebangwrap"];

/// Options whose first name in GNU parallel's table (Getopt::Long's name
/// for the option) is not clap's long name here: clap's, GNU's.
const GNU_FIRST: &[(&str, &str)] = &[
    ("block", "block-size"),
    ("colsep", "col-sep"),
    ("compress-program", "use-compress-program"),
    ("ctagstring", "ctag-string"),
    ("ctrlc", "ctrl-c"),
    ("decompress-program", "use-decompress-program"),
    ("files", "output-as-files"),
    ("halt", "halt-on-error"),
    ("hostgroups", "hgrp"),
    ("minversion", "min-version"),
    ("noctrlc", "no-ctrl-c"),
    ("pipepart", "pipe-part"),
    ("record-env", "recordenv"),
    ("rrs", "remove-rec-sep"),
    ("shellquote", "shell-quote"),
    ("sshdelay", "ssh-delay"),
    ("tagstring", "tag-string"),
    ("termseq", "term-seq"),
    ("transferfile", "transfer-file"),
    ("workdir", "work-dir"),
];

/// The name Getopt::Long gives `arg` where no one typed name does (an
/// abbreviation of several of its names, `--mi`: `min-version`): the
/// first of its names in GNU parallel's table.
pub(crate) fn gnu_first_name(arg: &Arg) -> Option<&str> {
    let long = arg.get_long()?;
    Some(
        GNU_FIRST
            .iter()
            .find(|(ours, _)| *ours == long)
            .map_or(long, |(_, gnu)| *gnu),
    )
}

/// Finds the option `typed` (without its leading `--`) names: an exact
/// name or alias first, then the option of that letter (`--j`), then a
/// name that differs only in case, then the options whose names start
/// with it, in either case (of the names GNU parallel has: not [`OWN`]).
pub(crate) fn find<'c>(command: &'c Command, typed: &str) -> Name<'c> {
    let names = || {
        command.get_arguments().flat_map(|arg| {
            arg.get_long()
                .into_iter()
                .chain(arg.get_all_aliases().unwrap_or_default())
                .filter(|name| !FIRST_ONLY.contains(name))
                .map(move |name| (name, arg))
        })
    };
    if let Some((_, arg)) = names().find(|(name, _)| *name == typed) {
        return Name::Option(arg);
    }
    // A letter is the option of that letter (`--j 2`), before it is a
    // prefix of long names. Getopt::Long lowercases it first, as every
    // long name: `--X` is `-x` there, and so here.
    let mut letters = typed.chars();
    if let (Some(c), None) = (letters.next().map(|c| c.to_ascii_lowercase()), letters.next())
        && let Some(arg) = short(command, c)
    {
        return Name::Option(arg);
    }
    let lower = typed.to_ascii_lowercase();
    if let Some((_, arg)) = names().find(|(name, _)| name.eq_ignore_ascii_case(typed)) {
        return Name::Option(arg);
    }
    let mut matching: Vec<(&str, &Arg)> = names()
        .filter(|(name, _)| !OWN.contains(name) && name.to_ascii_lowercase().starts_with(&lower))
        .collect();
    let Some(&(_, first)) = matching.first() else {
        return Name::Unknown;
    };
    if matching.iter().all(|(_, arg)| arg.get_id() == first.get_id()) {
        return Name::Option(first);
    }
    matching.sort_unstable_by(|a, b| a.0.cmp(b.0));
    matching.dedup_by(|a, b| a.0 == b.0);
    let list: Vec<&str> = matching.iter().map(|(name, _)| *name).collect();
    // Named lowercased, as Getopt::Long names it (`--JO`: `jo`).
    Name::Ambiguous(format!("Option {lower} is ambiguous ({})", list.join(", ")))
}

/// The option of the letter `c` (`-j`, or a short alias such as `-P`).
pub(crate) fn short(command: &Command, c: char) -> Option<&Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_short() == Some(c) || arg.get_all_short_aliases().is_some_and(|s| s.contains(&c)))
}

#[cfg(test)]
mod tests {
    use super::{Name, find};
    use clap::{Arg, ArgAction, Command};

    fn command() -> Command {
        Command::new("t")
            .arg(
                Arg::new("keep")
                    .long("keep-order")
                    .alias("keeporder")
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("results").long("results").aliases(["result", "res"]))
            .arg(Arg::new("resume").long("resume").action(ArgAction::SetTrue))
            .arg(Arg::new("dry").long("dry-run").action(ArgAction::SetTrue))
            .arg(Arg::new("jobs").long("jobs").short('j').short_alias('P'))
            .arg(Arg::new("joblog").long("joblog"))
            .arg(Arg::new("context").short('x').action(ArgAction::SetTrue))
    }

    fn id(name: Name<'_>) -> Option<String> {
        match name {
            Name::Option(arg) => Some(arg.get_id().to_string()),
            Name::Ambiguous(m) => Some(m),
            Name::Unknown => None,
        }
    }

    #[test]
    fn names_are_found_exactly_in_any_case_and_by_a_prefix_of_one_option() {
        let c = command();
        assert_eq!(id(find(&c, "keep-order")).as_deref(), Some("keep"));
        assert_eq!(id(find(&c, "keeporder")).as_deref(), Some("keep"));
        assert_eq!(id(find(&c, "Keep-Order")).as_deref(), Some("keep"));
        assert_eq!(id(find(&c, "keep-o")).as_deref(), Some("keep"));
        assert_eq!(id(find(&c, "dry")).as_deref(), Some("dry"));
        assert_eq!(id(find(&c, "DRY")).as_deref(), Some("dry"));
        // Every name it starts is one option's.
        assert_eq!(id(find(&c, "resul")).as_deref(), Some("results"));
        // An exact name wins over the longer names it starts.
        assert_eq!(id(find(&c, "res")).as_deref(), Some("results"));
        assert_eq!(id(find(&c, "nosuch")), None);
        // A letter names its option, though it starts longer names.
        assert_eq!(id(find(&c, "j")).as_deref(), Some("jobs"));
        assert_eq!(id(find(&c, "J")).as_deref(), Some("jobs"));
        assert_eq!(id(find(&c, "x")).as_deref(), Some("context"));
        assert_eq!(
            id(find(&c, "jo")).as_deref(),
            Some("Option jo is ambiguous (joblog, jobs)")
        );
        assert_eq!(
            id(find(&c, "JO")).as_deref(),
            Some("Option jo is ambiguous (joblog, jobs)")
        );
    }

    #[test]
    fn forkpools_own_names_are_found_only_in_full_as_gnu_lacks_them() {
        let c = crate::flags::command();
        for (typed, found) in [
            ("file", Some("files")),
            ("files0", Some("files0")),
            ("bi", Some("bin")),
            ("sl", Some("Option sl is ambiguous (slf, slotreplace)")),
            ("no-c", Some("noctrlc")),
            // Only the first argument, taken apart before the options are read.
            ("shebang-wrap", None),
            ("sheb", Some("shebang")),
        ] {
            assert_eq!(id(find(&c, typed)).as_deref(), found, "{typed}");
        }
    }

    #[test]
    fn gnus_first_names_are_names_of_the_options_they_name() {
        let c = crate::flags::command();
        for (ours, gnu) in super::GNU_FIRST {
            let arg = c.get_arguments().find(|a| a.get_long() == Some(ours));
            let names: Vec<&str> = arg.and_then(|a| a.get_all_aliases()).unwrap_or_default();
            assert!(names.contains(gnu), "--{ours}: {names:?}");
        }
    }

    #[test]
    fn a_prefix_of_several_options_names_them_all_as_gnu_does() {
        let c = command();
        assert_eq!(
            id(find(&c, "re")).as_deref(),
            Some("Option re is ambiguous (res, result, results, resume)")
        );
    }
}
