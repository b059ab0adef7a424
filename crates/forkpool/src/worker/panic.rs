//! Panics inside a worker.
//!
//! The panic hook is the only place that learns where a panic happened
//! (`PanicHookInfo::location`) and the only moment a backtrace of the
//! panicking frames can be taken. On the thread running tasks it builds a
//! [`PanicReport`], records it on the status page (which is all that is
//! left if panics abort) and keeps it for the `catch_unwind` that follows.
//!
//! The backtrace is taken in the hook but turned into names only later,
//! once the worker has stamped the item done ([`Caught::resolve`]):
//! resolving reads the program's debug information, which can take longer
//! than a task's timeout, and it is the worker's cost, not the task's.
//! (With `panic = "abort"` nothing runs after the hook, so it resolves
//! there.)

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;

use crate::ipc::panic::{MAX_LOCATION, PanicReport};
use crate::ipc::status::StatusPage;

thread_local! {
    /// The last panic on this thread, for `take_caught`.
    static LAST: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// A panic the worker caught: its report, and its backtrace not yet
/// resolved to names.
#[derive(Debug)]
pub(crate) struct Caught {
    report: PanicReport,
    trace: Option<Backtrace>,
}

impl Caught {
    /// The report, its backtrace (if one was taken) resolved and cut to
    /// the task's frames.
    pub(crate) fn resolve(self) -> PanicReport {
        let mut report = self.report;
        if let Some(trace) = self.trace {
            report.backtrace = Some(short(&trace.to_string()));
        }
        report
    }
}

/// The text of a panic payload (`panic!`'s message).
pub(crate) fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// The panic just caught with `payload`: as the hook saw it, if it did
/// (with the location and backtrace), else the bare message (a panic
/// resumed with `resume_unwind` skips the hook).
pub(crate) fn take_caught(payload: &(dyn Any + Send)) -> Caught {
    let message = message_of(payload);
    match LAST.try_with(|last| last.borrow_mut().take()).ok().flatten() {
        Some(caught) if caught.report.message == message => caught,
        _ => Caught {
            report: PanicReport {
                message,
                ..PanicReport::default()
            },
            trace: None,
        },
    }
}

/// Forgets a report left by a panic the task caught itself.
pub(crate) fn forget_report() {
    let _ = LAST.try_with(|last| last.borrow_mut().take());
}

/// A backtrace cut as Rust cuts the one a panic prints with
/// `RUST_BACKTRACE=1`: from the frame after the panic machinery
/// (`__rust_end_short_backtrace`) down to `forkpool::call::entry`, which
/// calls the task (and, in an optimised build, is where the task's code
/// was inlined), or the first frame of `forkpool::stream::entry` for a
/// stream's generator, leaving out the worker's frames below it. Frames are
/// numbered again from 0. Text it does not recognise is returned whole.
fn short(trace: &str) -> String {
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in trace.lines() {
        let numbered = line
            .trim_start()
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match frames.last_mut() {
            Some(frame) if !numbered => frame.push(line),
            _ => frames.push(vec![line]),
        }
    }
    let names = |frame: &Vec<&str>, what: &str| frame.first().is_some_and(|l| l.contains(what));
    let start = frames
        .iter()
        .position(|f| names(f, "__rust_end_short_backtrace"))
        .map_or(0, |i| i + 1);
    let end = frames[start..]
        .iter()
        .position(|f| names(f, "forkpool::call::entry") || names(f, "forkpool::stream::entry::"))
        .map_or(frames.len(), |i| start + i + 1);
    if (start, end) == (0, frames.len()) {
        return trace.to_owned();
    }
    let mut out = String::new();
    for (number, frame) in frames[start..end].iter().enumerate() {
        for (i, line) in frame.iter().enumerate() {
            if i == 0 {
                let (_, rest) = line.trim_start().split_once(": ").unwrap_or(("", line));
                out.push_str(&format!("{number:>4}: {rest}\n"));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Replaces the panic hook: a panic on the thread running tasks is
/// reported to the client (and recorded on the status page, which matters
/// if panics abort), not printed; panics on other threads the task started
/// are printed as usual.
pub(crate) fn install_hook(status: &'static StatusPage) {
    let task_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != task_thread {
            return previous(info);
        }
        let mut location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        if let Some(text) = &mut location
            && text.len() > MAX_LOCATION
        {
            let mut end = MAX_LOCATION;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        // `capture` honours RUST_LIB_BACKTRACE, then RUST_BACKTRACE, and
        // costs nothing when neither asks for a backtrace. Taking it only
        // walks the stack; names come later (see the module docs).
        let trace = Backtrace::capture();
        let trace = (trace.status() == BacktraceStatus::Captured).then_some(trace);
        let mut caught = Caught {
            report: PanicReport {
                message: message_of(info.payload()),
                location,
                backtrace: None,
            },
            trace,
        };
        if cfg!(panic = "abort") {
            // Nothing runs after this hook but the abort.
            caught = Caught {
                report: caught.resolve(),
                trace: None,
            };
        }
        status.record_panic(&caught.report);
        let _ = LAST.try_with(|last| *last.borrow_mut() = Some(caught));
    }));
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn backtraces_keep_the_tasks_frames_only() {
        let trace = "   0: forkpool::worker::panic::install_hook::{{closure}}
             at ./src/worker/panic.rs:76:21
   1: std::sys::backtrace::__rust_end_short_backtrace::<F, !>
   2: __rustc::rust_begin_unwind
             at /rustc/library/std/src/panicking.rs:689:5
   3: my_app::parse
             at ./src/main.rs:3:5
   4: forkpool::call::entry
   5: forkpool::worker::Worker::run_item
";
        assert_eq!(
            short(trace),
            "   0: __rustc::rust_begin_unwind
             at /rustc/library/std/src/panicking.rs:689:5
   1: my_app::parse
             at ./src/main.rs:3:5
   2: forkpool::call::entry
"
        );
        assert_eq!(short("<unknown>"), "<unknown>");
    }
}
