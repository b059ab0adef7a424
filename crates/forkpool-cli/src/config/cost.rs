//! What bounds the number of job slots, as the configuration works it
//! out for `limits::slots`: what one running job costs in file handles
//! and processes (GNU parallel's own counted too), and the most jobs the
//! `:::` lists on the command line can make.

use crate::flags::Source;
use crate::output::Mode;

/// What GNU parallel has open for its input: its input files (not
/// standard input, open already) and its `:::` lists.
pub(crate) fn gnu_counted_sources(sources: &[Source]) -> (usize, usize) {
    let files = sources
        .iter()
        .filter(|s| matches!(&s.arg, crate::flags::SourceArg::File(f) if f.as_os_str() != "-"))
        .count();
    let lists = sources
        .iter()
        .filter(|s| matches!(s.arg, crate::flags::SourceArg::Values(_)))
        .count();
    (files, lists)
}

/// What one running job costs in file handles and processes.
pub(super) fn per_job_cost(mode: Mode, results: bool, pipe: bool, sources: &[Source]) -> crate::limits::system::Cost {
    // A pidfd, and a pipe per captured stream; result files are open too.
    let mut fds = if mode == Mode::Ungroup { 1 } else { 3 };
    if results {
        fds += 2;
    }
    // `--pipe`: its block (a memfd, a pipe or a file) on its stdin.
    if pipe {
        fds += 1;
    }
    let (files, lists) = gnu_counted_sources(sources);
    crate::limits::system::Cost {
        fds,
        processes: 1,
        gnu_own_fds: crate::limits::system::gnu_own_fds(files, lists),
    }
}

/// The most jobs `sources` can make, if they are all `:::` lists (none read
/// from a file or standard input): the number of combinations of their
/// values (linking, `-N`, `-X` and filters only make fewer). At least one,
/// as a run without arguments may still run its command once.
pub(super) fn jobs_at_most(sources: &[Source]) -> Option<usize> {
    if sources.is_empty() {
        return None;
    }
    sources
        .iter()
        .try_fold(1usize, |product, source| match &source.arg {
            crate::flags::SourceArg::Values(values) => Some(product.saturating_mul(values.len())),
            crate::flags::SourceArg::File(_) => None,
        })
        .map(|n| n.max(1))
}
