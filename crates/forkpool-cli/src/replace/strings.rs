//! The replacement strings forkpool computes itself, without perl.
//!
//! Every replacement string is, as in GNU parallel, a perl expression run
//! with `$_` set to the argument (`{.}` is `s:\.[^/.]*$::`). The built-in
//! ones are recognised by their exact perl code and computed here, with
//! the same result byte for byte; anything else goes to the perl
//! co-process (`perl.rs`). A few of them use `.` in their regular
//! expression, which in Perl does not match a newline: for a value that
//! holds one, [`Native::exact_for`] says no and perl computes it.

use std::borrow::Cow;

/// A replacement string computed natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Native {
    /// `{}`: the value.
    Value,
    /// `{.}`, `{..}`, `{...}`: without the last 1, 2 or 3 extensions.
    NoExt(u8),
    /// `{/}`: the basename.
    Base,
    /// `{/.}`, `{/..}`, `{/...}`: the basename without extensions.
    BaseNoExt(u8),
    /// `{//}`: the dirname, as `File::Basename::dirname`.
    Dir,
    /// `{+/}`: what `{/}` removes (the directory, without the slash).
    PlusDir,
    /// `{+.}`, `{+..}`, `{+...}`: what `{.}` and friends remove.
    PlusExt(u8),
    /// `{#}`: the job's sequence number.
    Seq,
    /// `{%}`: the job's slot.
    Slot,
    /// `{##}`: the number of jobs.
    Total,
    /// `{0%}`: the slot, zero-padded to the width of the most slots.
    PaddedSlot,
    /// `{0#}`: the sequence number, zero-padded to the width of the total.
    PaddedSeq,
    /// `{slot}`, `{host}`...: `${NAME}`, unquoted, for the shell to expand.
    Env(&'static str),
}

/// What a native string needs besides the value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JobFacts {
    pub(crate) seq: u64,
    pub(crate) slot: usize,
    /// The number of jobs, when known.
    pub(crate) total: Option<u64>,
    /// `-j`: the number of slots.
    pub(crate) slots: usize,
}

/// GNU parallel's perl code for each string computed here.
const CODES: &[(&str, Native)] = &[
    ("", Native::Value),
    (r"s:\.[^/.]*$::", Native::NoExt(1)),
    (r"s:\.[^/.]*\.[^/.]*$::", Native::NoExt(2)),
    (r"s:\.[^/.]*\.[^/.]*\.[^/.]*$::", Native::NoExt(3)),
    (r"s:.*/::", Native::Base),
    (r"s:.*/::; s:\.[^/.]*$::;", Native::BaseNoExt(1)),
    (r"s:.*/::; s:\.[^/.]*\.[^/.]*$::", Native::BaseNoExt(2)),
    (r"s:.*/::; s:\.[^/.]*\.[^/.]*\.[^/.]*$::", Native::BaseNoExt(3)),
    (
        r#"$Global::use{"File::Basename"} ||= eval "use File::Basename; 1;"; $_ = dirname($_);"#,
        Native::Dir,
    ),
    (r"s:/[^/]*$:: || s:.*$::", Native::PlusDir),
    (r"s:.*\.:: || s:.*$::", Native::PlusExt(1)),
    (r"s:.*\.([^/.]*\.[^/.]*)$:$1: || s:.*$::", Native::PlusExt(2)),
    (r"s:.*\.([^/.]*\.[^/.]*\.[^/.]*)$:$1: || s:.*$::", Native::PlusExt(3)),
    (r"$_=$job->seq()", Native::Seq),
    (r"$_=$job->slot()", Native::Slot),
    (r"$_=total_jobs()", Native::Total),
    (
        r#"$f=1+int((log($Global::max_jobs_running||1)/log(10)));$_=sprintf("%0${f}d",slot())"#,
        Native::PaddedSlot,
    ),
    (
        r#"$f=1+int((log(total_jobs())/log(10)));$_=sprintf("%0${f}d",seq())"#,
        Native::PaddedSeq,
    ),
    (r#"$_="\${PARALLEL_JOBSLOT}";uq()"#, Native::Env("PARALLEL_JOBSLOT")),
    (r#"$_="\${PARALLEL_SSHHOST}";uq()"#, Native::Env("PARALLEL_SSHHOST")),
    (r#"$_="\${PARALLEL_SSHLOGIN}";uq()"#, Native::Env("PARALLEL_SSHLOGIN")),
    (
        r#"$_="\${PARALLEL_HOSTGROUPS}";uq()"#,
        Native::Env("PARALLEL_HOSTGROUPS"),
    ),
    (
        r#"$_="\${PARALLEL_ARGHOSTGROUPS}";uq()"#,
        Native::Env("PARALLEL_ARGHOSTGROUPS"),
    ),
];

impl Native {
    /// The native equivalent of this perl code, if there is one. Blanks
    /// around the code do not change what it does.
    pub(crate) fn of(code: &[u8]) -> Option<Native> {
        let code = code.trim_ascii();
        CODES.iter().find(|(c, _)| c.as_bytes() == code).map(|&(_, n)| n)
    }

    /// Whether the code needs the number of jobs (all input read first).
    pub(crate) fn needs_total(self) -> bool {
        matches!(self, Native::Total | Native::PaddedSeq)
    }

    /// Whether the result goes in unquoted (`uq()` in the perl code).
    pub(crate) fn unquoted(self) -> bool {
        matches!(self, Native::Env(_))
    }

    /// Whether the result here is perl's for this value. Perl's `.` does
    /// not match a newline, so strings whose code uses `.*` differ on
    /// values with newlines; perl computes those.
    pub(crate) fn exact_for(self, value: &[u8]) -> bool {
        match self {
            Native::Base | Native::BaseNoExt(_) | Native::PlusExt(_) => !value.contains(&b'\n'),
            // `s:/[^/]*$::` needs no `.`; its fallback `s:.*$::` does.
            Native::PlusDir => value.contains(&b'/') || !value.contains(&b'\n'),
            _ => true,
        }
    }

    /// The result for `value`.
    pub(crate) fn apply<'a>(self, value: &'a [u8], job: &JobFacts) -> Cow<'a, [u8]> {
        match self {
            Native::Value => Cow::Borrowed(value),
            Native::NoExt(n) => Cow::Borrowed(no_ext(value, n)),
            Native::Base => Cow::Borrowed(base(value)),
            Native::BaseNoExt(n) => Cow::Borrowed(no_ext(base(value), n)),
            Native::Dir => dir(value),
            Native::PlusDir => Cow::Borrowed(match value.iter().rposition(|&b| b == b'/') {
                Some(i) => &value[..i],
                None => b"",
            }),
            Native::PlusExt(n) => Cow::Borrowed(plus_ext(value, n)),
            Native::Seq => Cow::Owned(job.seq.to_string().into_bytes()),
            Native::Slot => Cow::Owned(job.slot.to_string().into_bytes()),
            Native::Total => Cow::Owned(job.total.map(|t| t.to_string()).unwrap_or_default().into_bytes()),
            Native::PaddedSlot => Cow::Owned(padded(job.slot as u64, job.slots.max(1) as f64)),
            Native::PaddedSeq => Cow::Owned(padded(job.seq, job.total.unwrap_or(0) as f64)),
            Native::Env(name) => Cow::Owned(format!("${{{name}}}").into_bytes()),
        }
    }
}

/// `sprintf("%0${f}d", n)` with `$f = 1 + int(log(of) / log(10))`, as
/// GNU parallel computes it (in floating point: `log(1000)/log(10)` is a
/// hair under 3, so 1000 gets width 3, as there).
fn padded(n: u64, of: f64) -> Vec<u8> {
    let width = 1 + WIDTH_STEPS.iter().filter(|&&step| of >= step).count();
    format!("{n:0width$}").into_bytes()
}

/// Where `1 + int(log(of) / log(10))` steps up, computed with glibc's
/// `log` (correctly rounded, so the steps are exact): the `k`th entry is
/// the least `of` whose width is `k + 1`. Most are a hair off `10^k`, to
/// one side or the other (1000 is below its step: width 3). A table
/// rather than `f64::ln`, so that the binary needs no `libm` (one shared
/// library less to load at every start); the tests hold it against `ln`.
const WIDTH_STEPS: [f64; 19] = [
    10.0,
    100.0,
    1000.0000000000002,
    10000.0,
    99999.99999999994,
    1000000.0000000005,
    9999999.999999989,
    100000000.0,
    1000000000.0000011,
    9999999999.999987,
    99999999999.99998,
    1000000000000.0009,
    10000000000000.02,
    99999999999999.78,
    1000000000000002.4,
    1e16,
    9.999999999999976e16,
    1.0000000000000022e18,
    9.999999999999998e18,
];

/// Position of the `n`th last dot after the last slash, if there are as
/// many: what `s:\.[^/.]*(\.[^/.]*){n-1}$::` cuts at.
fn nth_last_dot(v: &[u8], n: u8) -> Option<usize> {
    let after_slash = v.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    v[after_slash..]
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'.')
        .nth(usize::from(n.max(1)) - 1)
        .map(|(i, _)| after_slash + i)
}

/// Without the last `n` extensions.
fn no_ext(v: &[u8], n: u8) -> &[u8] {
    match nth_last_dot(v, n) {
        Some(i) => &v[..i],
        None => v,
    }
}

/// `{+.}` and friends: the extensions `{.}` would remove, or nothing.
fn plus_ext(v: &[u8], n: u8) -> &[u8] {
    if n == 1 {
        // `s:.*\.::`: everything after the last dot, slash or not.
        return match v.iter().rposition(|&b| b == b'.') {
            Some(i) => &v[i + 1..],
            None => b"",
        };
    }
    match nth_last_dot(v, n) {
        Some(i) => &v[i + 1..],
        None => b"",
    }
}

/// Everything after the last `/` (on a value without newlines).
fn base(v: &[u8]) -> &[u8] {
    match v.iter().rposition(|&b| b == b'/') {
        Some(i) => &v[i + 1..],
        None => v,
    }
}

/// `File::Basename::dirname`.
fn dir(v: &[u8]) -> Cow<'_, [u8]> {
    let trimmed = trim_slashes(v);
    if trimmed.is_empty() {
        return Cow::Borrowed(if v.is_empty() { b"." } else { b"/" });
    }
    match trimmed.iter().rposition(|&b| b == b'/') {
        None => Cow::Borrowed(b"."),
        Some(i) => {
            let parent = trim_slashes(&trimmed[..i]);
            Cow::Borrowed(if parent.is_empty() { b"/" } else { parent })
        }
    }
}

fn trim_slashes(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    &v[..end]
}

/// `--trim`: which ends of a value lose their blanks before it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Trim {
    /// `n`: none.
    #[default]
    None,
    /// `l`: the left end.
    Left,
    /// `r`: the right end.
    Right,
    /// `lr` or `rl`: both.
    Both,
}

impl Trim {
    /// Parses GNU parallel's names: `n`, `l`, `r`, `lr`, `rl`.
    pub(crate) fn parse(text: &str) -> Option<Trim> {
        match text {
            "n" => Some(Trim::None),
            "l" => Some(Trim::Left),
            "r" => Some(Trim::Right),
            "lr" | "rl" => Some(Trim::Both),
            _ => None,
        }
    }

    /// The name perl's side uses.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Trim::None => "n",
            Trim::Left => "l",
            Trim::Right => "r",
            Trim::Both => "lr",
        }
    }

    /// Removes what Perl's `\s` matches from the chosen ends.
    pub(crate) fn apply(self, v: &[u8]) -> &[u8] {
        let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c);
        let start = match self {
            Trim::Left | Trim::Both => v.iter().position(|b| !blank(b)).unwrap_or(v.len()),
            _ => 0,
        };
        let end = match self {
            Trim::Right | Trim::Both => v.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1),
            _ => v.len(),
        };
        &v[start..end.max(start)]
    }
}

/// Whether `value` can go into a shell command without quotes.
fn is_plain(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/'))
}

/// Appends `value` shell-quoted the way GNU parallel quotes: as is when it
/// only has `[-_.+a-zA-Z0-9/]`, `''` when empty, otherwise in single quotes
/// with each `'` written as `'"'"'`.
pub(crate) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
    if is_plain(value) {
        out.extend_from_slice(value);
        return;
    }
    if value.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    let start = out.len();
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\"'\"'");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    // Drop the empty '' GNU parallel also drops at either end.
    if out[start..].starts_with(b"''") {
        out.drain(start..start + 2);
    }
    if out[start..].ends_with(b"''") && out.len() - start >= 2 {
        out.truncate(out.len() - 2);
    }
}

/// The length [`push_quoted`] gives `value`.
pub(crate) fn quoted_len(value: &[u8]) -> usize {
    if is_plain(value) {
        value.len()
    } else if value.is_empty() {
        2
    } else {
        // The `''` that a leading or trailing `'` leaves is dropped.
        let ends = usize::from(value.first() == Some(&b'\'')) + usize::from(value.last() == Some(&b'\''));
        value.len() + 2 + 4 * value.iter().filter(|&&b| b == b'\'').count() - 2 * ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GNU parallel's width, computed as Perl does, with `log`.
    fn width_by_log(of: f64) -> usize {
        let ratio = of.ln() / 10f64.ln();
        if ratio.is_finite() {
            (1 + ratio.trunc() as i64).max(0) as usize
        } else {
            1
        }
    }

    #[test]
    fn padding_widths_step_where_log_says() {
        let mut values: Vec<f64> = (0..=2000).map(f64::from).collect();
        for k in 1..=19 {
            let power = 10f64.powi(k);
            for delta in -3i32..=3 {
                values.push((power + f64::from(delta)).max(0.0));
            }
            // Either side of the step, a few representable values apart.
            let step = WIDTH_STEPS[k as usize - 1];
            let mut below = step;
            let mut above = step;
            for _ in 0..4 {
                below = f64::from_bits(below.to_bits() - 1);
                above = f64::from_bits(above.to_bits() + 1);
                values.extend([below, above]);
            }
            values.push(step);
        }
        values.extend([u64::MAX as f64, 123_456_789.0, 98_765.0]);
        for of in values {
            assert_eq!(padded(7, of).len(), width_by_log(of), "width for {of:?}");
        }
        assert_eq!(padded(7, 1000.0), b"007", "1000 is a hair under 3 digits");
        assert_eq!(padded(7, 1001.0), b"0007");
    }

    fn quoted(value: &[u8]) -> String {
        let mut out = Vec::new();
        push_quoted(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoting_matches_gnu_parallel() {
        let q = |s: &str| quoted(s.as_bytes());
        assert_eq!(q("A_Z-0.9+/"), "A_Z-0.9+/");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("c'd"), "'c'\"'\"'d'");
        assert_eq!(q("'a"), "\"'\"'a'");
        assert_eq!(q("a'"), "'a'\"'\"");
        assert_eq!(q(""), "''");
        assert_eq!(q("*"), "'*'");
        assert_eq!(q("a=b"), "'a=b'");
        assert_eq!(q("-x"), "-x");
        for v in ["a b", "c'd", "", "x", "''"] {
            assert_eq!(
                quoted_len(v.as_bytes()),
                quoted(v.as_bytes()).len().max(quoted_len(v.as_bytes()))
            );
        }
    }

    fn native(n: Native, v: &str) -> String {
        let facts = JobFacts {
            seq: 7,
            slot: 2,
            total: Some(1000),
            slots: 16,
        };
        String::from_utf8(n.apply(v.as_bytes(), &facts).into_owned()).unwrap()
    }

    #[test]
    fn the_builtin_strings() {
        assert_eq!(native(Native::NoExt(1), "/a/b.c/d.tar.gz"), "/a/b.c/d.tar");
        assert_eq!(native(Native::NoExt(1), "sub.dir/bar"), "sub.dir/bar");
        assert_eq!(native(Native::NoExt(2), "/a/b.c/d.tar.gz"), "/a/b.c/d");
        assert_eq!(native(Native::NoExt(3), "a.b.c"), "a.b.c");
        assert_eq!(native(Native::Base, "/a/b.c/d.tar.gz"), "d.tar.gz");
        assert_eq!(native(Native::Dir, "/a/b.c/d.tar.gz"), "/a/b.c");
        assert_eq!(native(Native::Dir, "x.y"), ".");
        assert_eq!(native(Native::Dir, "/root"), "/");
        assert_eq!(native(Native::Dir, "a/b/"), "a");
        assert_eq!(native(Native::BaseNoExt(1), "/a/b.c/d.tar.gz"), "d.tar");
        assert_eq!(native(Native::PlusDir, "dir/sub/file.ex1"), "dir/sub");
        assert_eq!(native(Native::PlusDir, "file"), "");
        assert_eq!(native(Native::PlusExt(1), "a/b.c/d"), "c/d");
        assert_eq!(native(Native::PlusExt(2), "d.e1.e2.e3"), "e2.e3");
        assert_eq!(native(Native::PlusExt(3), "a.b"), "");
        assert_eq!(native(Native::PaddedSlot, ""), "02");
        assert_eq!(
            native(Native::PaddedSeq, ""),
            "007",
            "log(1000)/log(10) < 3, as in perl"
        );
        assert_eq!(native(Native::Env("PARALLEL_JOBSLOT"), "x"), "${PARALLEL_JOBSLOT}");
    }

    #[test]
    fn codes_are_recognised_exactly() {
        assert_eq!(Native::of(b" s:.*/:: "), Some(Native::Base));
        assert_eq!(Native::of(b"s:.*/::x"), None);
        assert!(!Native::Base.exact_for(b"a/b\nc"));
        assert!(Native::NoExt(1).exact_for(b"a/b\nc"));
    }

    #[test]
    fn trim() {
        assert_eq!(Trim::Both.apply(b" \ta \r\n"), b"a");
        assert_eq!(Trim::Left.apply(b" a "), b"a ");
        assert_eq!(Trim::Right.apply(b" a "), b" a");
        assert_eq!(Trim::None.apply(b" a "), b" a ");
        assert_eq!(Trim::Both.apply(b"   "), b"");
        assert_eq!(Trim::parse("rl"), Some(Trim::Both));
        assert_eq!(Trim::parse("x"), None);
    }
}
