//! `#!/usr/bin/forkpool --shebang OPTIONS COMMAND` and
//! `#!/usr/bin/forkpool --shebang-wrap [OPTIONS] INTERPRETER`: forkpool as
//! a script's interpreter, as GNU parallel can be.
//!
//! Linux hands an interpreter everything after its path on the `#!` line
//! as one argument, then the script's path, then the script's own
//! arguments. So, as GNU parallel does, the first argument is taken apart
//! into words here, before the options are parsed:
//! - `--shebang` (`--hashbang`): the script's lines are the input (its
//!   first line, the `#!` line itself, skipped): `forkpool
//!   --skip-first-line -a SCRIPT OPTIONS COMMAND`.
//! - `--shebang-wrap`: the script is run by its real interpreter once per
//!   argument given to it: `forkpool OPTIONS INTERPRETER SCRIPT :::
//!   ARGUMENTS` (`::::`, argument files, with `--pipe`). With no
//!   arguments the trailing separator is dropped (see
//!   `flags::split_command_with`), so they are read from standard input.

use std::ffi::OsString;

/// The options of this room, as typed (`--shebang` and `--shebang-wrap`
/// only mean something as the first argument; see [`rewrite`]). Anywhere
/// else `--shebang` does nothing, and `--shebang-wrap` is an unknown
/// option (`long_names`), as in GNU parallel.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ShebangFlags {
    /// First option of a script's #! line: the script's lines are the input.
    #[arg(long = "shebang", visible_alias = "hashbang", help_heading = "Scripts")]
    pub(crate) shebang: bool,
    /// First option of a script's #! line, before the real interpreter: run the script once per argument.
    #[arg(long = "shebang-wrap", visible_alias = "shebangwrap", help_heading = "Scripts")]
    pub(crate) shebang_wrap: bool,
    /// GNU parallel's inner option behind `--shebang-wrap`, hidden as there:
    /// with `--pipe`, the values after `:::` are files to read, as after `::::`.
    #[arg(long = "_pipe-means-argfiles", hide = true)]
    pub(crate) pipe_means_argfiles: bool,
    /// Do not use the first line of the input (of the first input source).
    #[arg(long = "skip-first-line", visible_alias = "skipfirstline", help_heading = "Scripts")]
    pub(crate) skip_first_line: bool,
}

/// The command line to parse instead of `args` (unchanged unless the
/// first option is `--shebang`, `--hashbang` or `--shebang-wrap`).
pub(crate) fn rewrite(args: Vec<OsString>) -> Vec<OsString> {
    let Some(first) = args.get(1).and_then(|a| a.to_str()) else {
        return args;
    };
    let (wrap, rest) = if let Some(rest) = strip(first, &["--shebang-wrap", "--shebangwrap"]) {
        (true, rest)
    } else if let Some(rest) = strip(first, &["--shebang", "--hashbang"]) {
        (false, rest)
    } else {
        warn_if_misplaced(first);
        return args;
    };
    let mut words: Vec<OsString> = shell_words(rest).into_iter().map(OsString::from).collect();
    let mut tail: Vec<OsString> = args[2..].to_vec();
    let mut out = vec![args[0].clone()];
    if wrap {
        // The options and interpreter, the script, then its arguments.
        let pipe = words.iter().any(|w| w == "--pipe" || w == "--spreadstdin");
        out.append(&mut words);
        if !tail.is_empty() {
            out.push(tail.remove(0));
        }
        out.push(if pipe { "::::" } else { ":::" }.into());
        out.append(&mut tail);
    } else {
        // The last argument is the script: its lines are the input.
        let Some(script) = tail.pop() else {
            out.append(&mut words);
            return out;
        };
        out.extend(["--skip-first-line".into(), "-a".into(), script]);
        out.append(&mut words);
        out.append(&mut tail);
    }
    out
}

/// GNU parallel's warning for a `#!` line with `--shebang` or
/// `--shebang-wrap` after other options (`#!/usr/bin/forkpool -k
/// --shebang echo`): Linux hands the line's words over as one first
/// argument, in which GNU looks for the option between blanks. (Its
/// message ends with a newline of its own: an empty line follows.)
fn warn_if_misplaced(first: &str) {
    if [" --shebang ", " --shebang-wrap ", " --shebangwrap "]
        .iter()
        .any(|option| first.contains(option))
    {
        warning!("--shebang and --shebang-wrap must be the first argument.");
        say!();
    }
}

/// `text` without one of `prefixes` (and the blanks after it), if it
/// starts with one as a whole word.
fn strip<'a>(text: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| {
        let rest = text.strip_prefix(p)?;
        (rest.is_empty() || rest.starts_with([' ', '\t'])).then(|| rest.trim_start())
    })
}

/// Splits a line into words as a shell would (without expanding
/// anything): blanks separate words; `'...'` is literal; in `"..."` and
/// outside quotes a backslash escapes the next character.
pub(crate) fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                if !matches!(next, '"' | '\\' | '$' | '`') {
                                    w.push('\\');
                                }
                                w.push(next);
                            }
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(next) = chars.next() {
                    w.push(next);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn shebang_reads_the_script_as_input() {
        assert_eq!(
            rewrite(argv(&["forkpool", "--shebang -r --tag echo", "./script"])),
            argv(&["forkpool", "--skip-first-line", "-a", "./script", "-r", "--tag", "echo"])
        );
        assert_eq!(
            rewrite(argv(&["forkpool", "--hashbang", "./script"])),
            argv(&["forkpool", "--skip-first-line", "-a", "./script"])
        );
        // `env -S` hands the words over apart.
        assert_eq!(
            rewrite(argv(&["forkpool", "--shebang", "-k", "echo", "./script"])),
            argv(&["forkpool", "--skip-first-line", "-a", "./script", "-k", "echo"])
        );
    }

    #[test]
    fn shebang_wrap_runs_the_script_per_argument() {
        assert_eq!(
            rewrite(argv(&[
                "forkpool",
                "--shebang-wrap -k /usr/bin/python3",
                "./s.py",
                "a",
                "b"
            ])),
            argv(&["forkpool", "-k", "/usr/bin/python3", "./s.py", ":::", "a", "b"])
        );
        assert_eq!(
            rewrite(argv(&[
                "forkpool",
                "--shebang-wrap --pipe /usr/bin/perl -w",
                "./s.pl",
                "f"
            ])),
            argv(&["forkpool", "--pipe", "/usr/bin/perl", "-w", "./s.pl", "::::", "f"])
        );
    }

    #[test]
    fn other_command_lines_are_left_alone() {
        let plain = argv(&["forkpool", "-k", "--shebang", "x"]);
        assert_eq!(rewrite(plain.clone()), plain);
        let lookalike = argv(&["forkpool", "--shebangs", "x"]);
        assert_eq!(rewrite(lookalike.clone()), lookalike);
    }

    #[test]
    fn words_split_as_a_shell_splits_them() {
        assert_eq!(shell_words(r#"a 'b c' "d \"e\"" f\ g"#), ["a", "b c", "d \"e\"", "f g"]);
        assert_eq!(shell_words("  "), Vec::<String>::new());
        assert_eq!(shell_words("x''"), ["x"]);
    }
}
