//! Counting this process's open descriptors, for a caller that bounds how
//! many jobs fit under `ulimit -n` (each job holds a pidfd and its output
//! pipes here while it runs).

use std::io;

/// How many of the descriptors numbered below `end` are open in this
/// process.
///
/// It asks the kernel about every number in one `poll` per 128 numbers
/// (a few microseconds), where listing `/proc/self/fd` costs tens of
/// microseconds even for a dozen descriptors. Counting below a small `end`
/// gives a cheap lower bound of the descriptors still free below the soft
/// limit: `end` less the open ones, since every number from `end` up to the
/// limit may be taken.
///
/// ```
/// use forkpool::command::open_descriptors_below;
///
/// // Standard input, output and error, unless the test runner closed one.
/// let open = open_descriptors_below(3)?;
/// assert!(open <= 3);
/// let file = std::fs::File::open("/dev/null")?;
/// let more = open_descriptors_below(1024)?;
/// drop(file);
/// assert!(more > open_descriptors_below(1024)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn open_descriptors_below(end: usize) -> io::Result<usize> {
    crate::sys::fds::count_open_below(end)
}
