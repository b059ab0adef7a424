//! `--max-line-length-allowed` and `--show-limits`: the longest command
//! line, found as GNU parallel finds it.
//!
//! GNU parallel probes: it runs `echo` with one ever longer argument
//! (324 bytes, then ×16 until it fails, then a binary search that stops
//! within 1%), in an environment of a handful of variables. What decides
//! the answer is the kernel: one argument may hold at most
//! `MAX_ARG_STRLEN` bytes (32 pages, NUL included), and all of them
//! together a quarter of the stack limit (never less than 32 pages). We
//! run the same search against those limits instead of starting fifteen
//! processes, so the answer is GNU's (130329 with 4 KiB pages) at no
//! cost. `$PARALLEL_ENV`, which every command carries in front of it,
//! counts against the length as in GNU parallel.

/// Bytes GNU parallel keeps for its own wrapping of each command.
const WRAPPING: usize = 3_000;

/// The kernel's limits on `exec`'s arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExecLimits {
    /// The longest one argument may be, its NUL included.
    per_argument: usize,
    /// The most all arguments and the environment may take together.
    total: usize,
}

impl ExecLimits {
    fn of_this_system() -> ExecLimits {
        let page = rustix::param::page_size();
        let stack = rustix::process::getrlimit(rustix::process::Resource::Stack)
            .current
            .map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
        // fs/exec.c: 3/4 of the default 8 MiB stack at most, a quarter of
        // the limit, never less than 32 pages.
        let total = (8 << 20) / 4 * 3;
        let total = total.min(stack / 4).max(32 * page);
        ExecLimits {
            per_argument: 32 * page,
            total,
        }
    }
}

/// The path of `echo` GNU parallel probes with, and the variables its
/// probe keeps: what a probing command line carries besides the argument.
fn probe_overhead() -> (usize, usize) {
    let echo = crate::shell::which(std::ffi::OsStr::new("echo")).map_or(13, |p| p.as_os_str().len());
    let kept = [
        "PATH",
        "SSH_AUTH_SOCK",
        "SSH_AGENT_PID",
        "KRB5CCNAME",
        "LC_CTYPE",
        "HOME",
        "LOGNAME",
        "SSHPASS",
    ];
    let env: usize = kept
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|v| name.len() + 2 + v.len()))
        .sum();
    (echo, env)
}

/// Whether a probe of length `len` would run: an `echo` whose one
/// argument holds `len - 1 - echo` bytes.
fn acceptable(len: usize, limits: ExecLimits, echo: usize, env: usize) -> bool {
    let argument = len.saturating_sub(1 + echo);
    argument < limits.per_argument && echo + 1 + argument + 1 + env < limits.total
}

/// GNU parallel's search: from 324, ×16 while acceptable, then halve the
/// interval until its ends are within 1% (or 1) of each other.
fn find_max(acceptable: impl Fn(usize) -> bool) -> usize {
    const UPPER: usize = 100_000_000;
    let mut len = 324;
    loop {
        if len > UPPER {
            return len;
        }
        len *= 16;
        if !acceptable(len) {
            break;
        }
    }
    let (mut lower, mut upper) = (len / 16, len);
    while !(lower == upper || lower + 1 == upper || lower as f64 / upper as f64 > 0.99) {
        let middle = (upper - lower) / 2 + lower;
        if acceptable(middle) {
            lower = middle;
        } else {
            upper = middle;
        }
    }
    lower
}

/// The longest command line: `--max-line-length-allowed`.
pub(crate) fn real_max_length() -> usize {
    let limits = ExecLimits::of_this_system();
    let (echo, env) = probe_overhead();
    let prefix = super::parallel_env::length();
    find_max(|len| acceptable(len + prefix, limits, echo, env))
}

/// `--show-limits`: printed before the run, which then goes on.
pub(crate) fn show() {
    use std::io::Write as _;
    let max = real_max_length();
    let usable = max.saturating_sub(WRAPPING) / 2;
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "Maximal size of command: {max}\n\
         Maximal usable size of command: {usable}\n\
         \n\
         Execution will continue now, and it will try to read its input\n\
         and run commands; if this is not what you wanted to happen, please\n\
         press CTRL-D or CTRL-C\n"
    )
    .and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_4K: ExecLimits = ExecLimits {
        per_argument: 131_072,
        total: 2 << 20,
    };

    #[test]
    fn the_search_lands_where_gnu_parallels_does() {
        // GNU parallel 20221122 prints 130329 on Linux with 4 KiB pages,
        // whatever the path of echo and the environment.
        for (echo, env) in [(9, 0), (13, 200), (40, 5000)] {
            assert_eq!(find_max(|len| acceptable(len, LINUX_4K, echo, env)), 130_329);
        }
        // And the usable size it derives from it, which the -X filling
        // uses (jobs::MAX_LINE).
        assert_eq!((130_329 - WRAPPING) / 2, crate::jobs::MAX_LINE);
    }

    #[test]
    fn a_big_prefix_or_a_small_stack_shortens_the_line() {
        let small = find_max(|len| acceptable(len + 60_000, LINUX_4K, 13, 0));
        assert!((70_000..71_100).contains(&small), "{small}");
        // 64 KiB pages allow 2 MiB arguments, up to the total.
        let big = ExecLimits {
            per_argument: 32 << 16,
            total: 2 << 20,
        };
        let found = find_max(|len| acceptable(len, big, 13, 0));
        assert!(found > 2_000_000 && found < 2 << 20, "{found}");
    }

    #[test]
    fn this_systems_limits_are_the_kernels() {
        let limits = ExecLimits::of_this_system();
        assert_eq!(limits.per_argument, 32 * rustix::param::page_size());
        assert!(limits.total >= limits.per_argument);
    }
}
