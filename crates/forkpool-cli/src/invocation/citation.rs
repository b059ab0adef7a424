//! `--citation` (and its alias `--bibtex`), as GNU parallel 20221122 has
//! it upstream: the BibTeX entry for GNU parallel on stderr, then, unless
//! a `will-cite` file exists in one of the configuration directories, a
//! prompt on stdout to type `will cite`, which creates that file.
//!
//! forkpool never prints GNU parallel's citation notice, so it needs no
//! silencing; but scripts run `echo will cite | parallel --citation` to
//! silence GNU parallel's, and the file they leave is the one GNU
//! parallel reads, should it be run too. `--will-cite` is accepted and
//! changes nothing.

use std::io::{BufRead, Write};

use super::profile;

/// The text GNU parallel prints, line by line.
const BIBTEX: &[&str] = &[
    "Academic tradition requires you to cite works you base your article on.",
    "If you use programs that use GNU Parallel to process data for an article in a",
    "scientific publication, please cite:",
    "",
    "@software{tange_2022_7347980,",
    "      author       = {Tange, Ole},",
    "      title        = {GNU Parallel 20221122 ('Херсо́н')},",
    "      month        = Nov,",
    "      year         = 2022,",
    "      note         = {{GNU Parallel is a general parallelizer to run",
    "                       multiple serial command line programs in parallel",
    "                       without changing them.}},",
    "      publisher    = {Zenodo},",
    "      doi          = {10.5281/zenodo.7347980},",
    "      url          = {https://doi.org/10.5281/zenodo.7347980}",
    "}",
    "",
    "(Feel free to use \\nocite{tange_2022_7347980})",
    "",
    "This helps funding further development; AND IT WON'T COST YOU A CENT.",
    "If you pay 10000 EUR you should feel free to use GNU Parallel without citing.",
    "",
    "More about funding GNU Parallel and the citation notice:",
    "https://lists.gnu.org/archive/html/parallel/2013-11/msg00006.html",
    "https://www.gnu.org/software/parallel/parallel_design.html#citation-notice",
    "https://git.savannah.gnu.org/cgit/parallel.git/tree/doc/citation-notice-faq.txt",
    "",
    "If you send a copy of your published article to tange@gnu.org, it will be",
    "mentioned in the release notes of next version of GNU Parallel.",
    "",
];

const THANKS: &[&str] = &[
    "",
    "Thank you for your support: You are the reason why there is funding to",
    "continue maintaining GNU Parallel. On behalf of future versions of",
    "GNU Parallel, which would not exist without your support:",
    "",
    "  THANK YOU SO MUCH",
    "",
    "It is really appreciated. The citation notice is now silenced.",
    "",
];

const CANNOT_SAVE: &[&str] = &[
    "",
    "Thank you for your support. It is much appreciated. The citation",
    "cannot permanently be silenced. Use '--will-cite' instead.",
    "",
    "If you use '--will-cite' in scripts to be run by others you are making",
    "it harder for others to see the citation notice.  The development of",
    "GNU Parallel is indirectly financed through citations, so if users",
    "do not know they should cite then you are making it harder to finance",
    "development. However, if you pay 10000 EUR, you should feel free to",
    "use '--will-cite' in scripts.",
    "",
];

fn status(lines: &[&str]) {
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// Whether a `will-cite` file exists in a configuration directory.
pub(crate) fn will_cite_recorded() -> bool {
    profile::config_dirs().iter().any(|d| d.join("will-cite").exists())
}

/// Runs `--citation`; `other_arguments` if anything else was on the
/// command line (which it ignores, and says so). Returns the exit status:
/// 0, or 255 if standard input ended before `will cite` was typed.
pub(crate) fn run(other_arguments: bool) -> i32 {
    if other_arguments {
        warning!("--citation ignores all other options and arguments.");
        status(&[""]);
    }
    status(BIBTEX);
    let mut stdin = std::io::stdin().lock();
    while !will_cite_recorded() {
        {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\nType: 'will cite' and press enter.\n> ").and_then(|()| out.flush());
        }
        let mut line = String::new();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => return 255,
            Ok(_) => {}
        }
        if !line.to_lowercase().contains("will cite") {
            continue;
        }
        let dir = profile::config_dir();
        let _ = std::fs::create_dir(&dir);
        if std::fs::File::create(dir.join("will-cite")).is_ok() {
            status(THANKS);
        } else {
            status(CANNOT_SAVE);
            break;
        }
    }
    0
}
