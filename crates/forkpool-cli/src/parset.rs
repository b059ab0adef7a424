//! `--_parset`: the shell code `parset` evaluates to put each job's output
//! in a shell variable, as GNU parallel writes it.
//!
//! `parset` (a shell function from `env_parallel.bash` and friends) runs
//! `parallel -k --_parset var,NAMES... COMMAND` or `--_parset
//! assoc,NAME`, and `eval`s what it prints:
//! - one name, `var,a`: an array, `a=(OUT1` newline `OUT2` newline `)`;
//! - several names, `var,a,b,c` (or `"a b c"`): `a=OUT1`, `b=OUT2`... one
//!   a line; more jobs than names is an error;
//! - `assoc,a`: `a=([ARGS1]=OUT1` newline ... `)`, keyed by each job's
//!   arguments.
//!
//! Each output is shell-quoted whole, less its last newline, tags
//! included. At exit the code ends with `return STATUS`, so that
//! `parset` returns the status GNU parallel would have exited with; that
//! holds for errors too, found before or during the run.

use std::io::{self, Write};
use std::sync::Mutex;

use crate::config::UsageError;
use crate::replace::push_quoted;

#[derive(Debug)]
enum Kind {
    /// One array.
    Array,
    /// Named variables, one per job.
    Vars(std::collections::VecDeque<String>),
    /// One associative array, keyed by the jobs' arguments.
    Assoc,
}

#[derive(Debug)]
struct State {
    kind: Kind,
    /// Printed before `return STATUS` at exit.
    end: &'static str,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn state() -> std::sync::MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The error of a `var` list that ran out of names.
#[derive(Debug)]
struct TooFew;

impl std::fmt::Display for TooFew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Too few named destination variables")
    }
}

impl std::error::Error for TooFew {}

/// Whether `e` is a `var` list running out of names (the run must stop).
pub(crate) fn is_too_few(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TooFew>())
}

/// Whether parset code is being generated.
pub(crate) fn active() -> bool {
    state().is_some()
}

/// Starts generating code for `spec` (`var,NAMES` or `assoc,NAME`):
/// checks the names and prints the start of an array.
pub(crate) fn start(spec: &str) -> Result<(), UsageError> {
    crate::program::rename("parset");
    let mut parts: Vec<&str> = spec.split([' ', ',']).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    let (what, names) = parts.split_first().map_or(("", &[][..]), |(w, n)| (*w, n));
    let illegal: Vec<&str> = names.iter().copied().filter(|n| !is_name(n)).collect();
    if !illegal.is_empty() || names.is_empty() {
        let shown = if illegal.is_empty() {
            "''".to_owned()
        } else {
            illegal.join(" ")
        };
        // Set up anyway: the code must still end with `return 255`.
        *state() = Some(State {
            kind: Kind::Array,
            end: "",
        });
        return Err(UsageError(format!(
            "{shown} is an invalid variable name.\n\
             Variable names must be letter followed by letters or digits.\n\
             Usage:\n  parset varname GNU Parallel options and command"
        )));
    }
    let (kind, end) = match (what, names.len()) {
        ("assoc", _) => {
            print(format!("{}=(", names[0]).as_bytes());
            (Kind::Assoc, ")\n")
        }
        ("var", 1) => {
            print(format!("{}=(", names[0]).as_bytes());
            (Kind::Array, ")\n")
        }
        ("var", _) => (Kind::Vars(names.iter().map(|n| (*n).to_owned()).collect()), ""),
        _ => {
            return Err(UsageError(format!(
                "unknown --_parset '{spec}': use var,NAMES or assoc,NAME"
            )));
        }
    };
    *state() = Some(State { kind, end });
    Ok(())
}

/// `NAME` or `NAME[N]`, NAME a letter or `_` then letters, digits, `_`.
fn is_name(name: &str) -> bool {
    let (base, index) = match name.strip_suffix(']').and_then(|n| n.split_once('[')) {
        Some((base, index)) => (base, Some(index)),
        None => (name, None),
    };
    let mut chars = base.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && index.is_none_or(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes one job's assignment: `output` is its whole stdout, `args` its
/// arguments, `tag` what prefixes each line (`--tag`).
pub(crate) fn write_job(args: &[Vec<u8>], tag: Option<&[u8]>, output: &[u8]) -> io::Result<()> {
    let mut guard = state();
    let Some(state) = guard.as_mut() else {
        return Ok(());
    };
    let mut line = Vec::with_capacity(output.len() + 64);
    match &mut state.kind {
        Kind::Array => {}
        Kind::Assoc => {
            line.push(b'[');
            push_quoted(&mut line, &args.join(&b' '));
            line.extend_from_slice(b"]=");
        }
        Kind::Vars(names) => {
            let Some(name) = names.pop_front() else {
                return Err(io::Error::other(TooFew));
            };
            line.extend_from_slice(name.as_bytes());
            line.push(b'=');
        }
    }
    let mut value = Vec::with_capacity(output.len());
    let mut at_line_start = true;
    for piece in output.split_inclusive(|&b| b == b'\n' || b == b'\r') {
        if at_line_start && let Some(tag) = tag {
            value.extend_from_slice(tag);
            value.push(b'\t');
        }
        value.extend_from_slice(piece);
        at_line_start = true;
    }
    if value.last() == Some(&b'\n') {
        value.pop();
    }
    push_quoted(&mut line, &value);
    line.push(b'\n');
    print(&line);
    Ok(())
}

/// Ends the code with `return STATUS` if parset code is being generated,
/// or was asked for (`requested`) but the command line did not parse;
/// returns `status`.
pub(crate) fn finish(status: i32, requested: bool) -> i32 {
    let end = match state().take() {
        Some(state) => Some(state.end),
        None => requested.then_some(""),
    };
    if let Some(end) = end {
        print(format!("{end}\nreturn {status}").as_bytes());
    }
    status
}

/// Whether the command line asks for parset code (`--_parset`), looked
/// for before it is parsed.
pub(crate) fn requested(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .any(|a| a == "--_parset" || a.as_encoded_bytes().starts_with(b"--_parset="))
}

fn print(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shell_variable_names() {
        for good in ["a", "_v2ar", "arrayentry[2]", "A_b"] {
            assert!(is_name(good), "{good}");
        }
        for bad in ["1a", "a-b", "", "a[x]", "a[]", "a b"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
