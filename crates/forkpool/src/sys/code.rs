//! Function addresses that survive `exec`.
//!
//! A task crosses into a worker as the address of a monomorphized entry
//! function. Absolute addresses differ between processes (ASLR), but the
//! distance between two functions of the same executable does not, so the
//! client sends `entry - anchor` and the worker adds its own `anchor` back.
//! Workers run the client's own executable (a fork of a re-exec of
//! `/proc/self/exe`), so the same offset names the same machine code.
//!
//! The offset arrives over a private socket from the process that computed
//! it, but we still check that it lands inside an executable mapping of our
//! own binary before jumping, so that a corrupt message is an error rather
//! than a jump into data.

use std::io;
use std::sync::OnceLock;

/// The signature every task entry point has; see `crate::call`.
///
/// Both by reference: called through a pointer once per item, a struct
/// passed by value is copied into place by the caller and back out by the
/// callee, and those copies (wide loads of what narrow stores just wrote)
/// stalled a `map` of small items measurably.
pub(crate) type EntryFn = for<'a, 'b, 'c, 'd> fn(
    &'c mut crate::ipc::codec::Input<'a>,
    &'d mut crate::ipc::codec::Sink<'b>,
) -> Result<(), crate::call::CallError>;

/// The signature of a stream's entry point (see `crate::stream::entry`):
/// it decodes the argument and returns the running generator.
pub(crate) type StreamEntryFn = for<'a> fn(
    crate::ipc::codec::Input<'a>,
) -> Result<Box<dyn crate::stream::entry::Generator>, crate::call::CallError>;

/// A function address expressed relative to [`anchor`].
pub(crate) type CodeOffset = i64;

/// The fixed point offsets are measured from. Never inlined, so it has an
/// address of its own.
#[inline(never)]
fn anchor() {
    std::hint::black_box(());
}

fn anchor_addr() -> usize {
    anchor as fn() as usize
}

/// The offset of a task entry point.
pub(crate) fn entry_offset(f: EntryFn) -> CodeOffset {
    (f as usize).wrapping_sub(anchor_addr()) as CodeOffset
}

/// The offset of a stream's entry point.
pub(crate) fn stream_entry_offset(f: StreamEntryFn) -> CodeOffset {
    (f as usize).wrapping_sub(anchor_addr()) as CodeOffset
}

/// The offset of a plain `fn()` hook (preload, worker init).
pub(crate) fn hook_offset(f: fn()) -> CodeOffset {
    (f as usize).wrapping_sub(anchor_addr()) as CodeOffset
}

/// Turns an offset back into an address, checking that it lies in an
/// executable mapping of this binary.
fn resolve(offset: CodeOffset) -> io::Result<usize> {
    let addr = anchor_addr().wrapping_add(offset as usize);
    match executable_ranges() {
        Some(ranges) if !ranges.iter().any(|r| r.contains(&addr)) => Err(io::Error::other(format!(
            "function offset {offset:#x} does not point into this executable's code"
        ))),
        // Without /proc we cannot check; the offset still came from our own
        // supervisor over a private socket.
        _ => Ok(addr),
    }
}

/// Resolves a task entry point sent by the supervisor.
pub(crate) fn entry_at(offset: CodeOffset) -> io::Result<EntryFn> {
    let addr = resolve(offset)?;
    // SAFETY: `addr` is `anchor + offset` where the offset was computed by
    // `entry_offset` from an `EntryFn` in a process running this same
    // executable image (the supervisor that forked or exec'd us), and it lies
    // inside an executable mapping of this binary (checked by `resolve`).
    // Function pointers and `usize` have the same size and representation.
    Ok(unsafe { std::mem::transmute::<usize, EntryFn>(addr) })
}

/// Resolves a stream's entry point sent by the supervisor.
pub(crate) fn stream_entry_at(offset: CodeOffset) -> io::Result<StreamEntryFn> {
    let addr = resolve(offset)?;
    // SAFETY: as in `entry_at`: the offset was computed by
    // `stream_entry_offset` from a `StreamEntryFn` in a process running this
    // same executable image, and the address lies inside its code. The
    // supervisor sends it only in a `STREAM` frame, never in a `RUN` frame,
    // so it is called with the signature it was made for.
    Ok(unsafe { std::mem::transmute::<usize, StreamEntryFn>(addr) })
}

/// Resolves a `fn()` hook (preload, worker init) sent by the supervisor.
pub(crate) fn hook_at(offset: CodeOffset) -> io::Result<fn()> {
    let addr = resolve(offset)?;
    // SAFETY: as in `entry_at`: the offset was computed by `hook_offset` from
    // a `fn()` of this same executable image, and the address is inside its
    // code.
    Ok(unsafe { std::mem::transmute::<usize, fn()>(addr) })
}

/// Produces the value of a zero-sized closure or fn-item type `F`.
///
/// `F` carries no data (its size is 0, checked at compile time), so every
/// value of it is the same value: the one the caller passed to `submit` in
/// the client process. This is how the worker gets "the closure" without it
/// ever being sent.
pub(crate) fn conjure<F, A, R>() -> F
where
    F: Fn(A) -> R + Copy + 'static,
{
    #[allow(clippy::let_unit_value)]
    let () = crate::call::AssertNoCaptures::<F>::OK;
    // SAFETY: `F` is zero-sized (asserted at compile time above), so it has
    // no bytes and `zeroed` writes nothing. On stable Rust only closures and
    // fn items are zero-sized `Fn` types; `F: Copy` means duplicating a
    // value is allowed, and `F` is inhabited because the client held a
    // value of it when it called `submit` (the only way an entry for `F` is
    // created) and this process runs the same binary. A closure may capture
    // zero-sized values; they are recreated here as well, which the crate
    // docs warn about (a zero-sized token whose existence means something
    // should not be captured by a task).
    unsafe { std::mem::zeroed::<F>() }
}

/// Reads this executable's code map now, while `/proc/self/maps` can be
/// opened: a worker does so before its sandbox would deny it.
pub(crate) fn prepare() {
    let _ = executable_ranges();
}

/// The address ranges of this executable's code, from `/proc/self/maps`:
/// every executable mapping backed by the same file as the anchor.
fn executable_ranges() -> Option<&'static [std::ops::Range<usize>]> {
    static RANGES: OnceLock<Option<Vec<std::ops::Range<usize>>>> = OnceLock::new();
    RANGES
        .get_or_init(|| {
            let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
            parse_executable_ranges(&maps, anchor_addr())
        })
        .as_deref()
}

fn parse_executable_ranges(maps: &str, anchor: usize) -> Option<Vec<std::ops::Range<usize>>> {
    struct Mapping<'a> {
        range: std::ops::Range<usize>,
        exec: bool,
        path: &'a str,
    }
    let mappings: Vec<Mapping<'_>> = maps
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (lo, hi) = fields.next()?.split_once('-')?;
            let perms = fields.next()?;
            let path = fields.nth(3).unwrap_or("");
            Some(Mapping {
                range: usize::from_str_radix(lo, 16).ok()?..usize::from_str_radix(hi, 16).ok()?,
                exec: perms.as_bytes().get(2) == Some(&b'x'),
                path,
            })
        })
        .collect();
    let home = mappings.iter().find(|m| m.range.contains(&anchor))?;
    let ranges: Vec<_> = mappings
        .iter()
        .filter(|m| m.exec && m.path == home.path)
        .map(|m| m.range.clone())
        .collect();
    (!ranges.is_empty()).then_some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ipc::codec::{Input, Sink};

    fn sample_entry(_: &mut Input<'_>, out: &mut Sink<'_>) -> Result<(), crate::call::CallError> {
        out.out.push(42);
        Ok(())
    }

    #[test]
    fn an_offset_round_trips_to_the_same_function() {
        let off = entry_offset(sample_entry);
        let f = entry_at(off).unwrap();
        let mut out = Vec::new();
        let item = crate::ipc::protocol::Item::inline(&[], 0);
        let mut input = Input {
            item,
            fds: Vec::new(),
            limit: 0,
        };
        f(
            &mut input,
            &mut Sink {
                out: &mut out,
                fds: &mut Vec::new(),
                limit: 0,
                lanes: &crate::shm::lanes::Lanes::unkept(),
            },
        )
        .unwrap();
        assert_eq!(out, [42]);
    }

    #[test]
    fn an_offset_outside_the_executable_is_refused() {
        // Far beyond any mapping of a normal process.
        assert!(entry_at(i64::MAX / 2).is_err());
        assert!(hook_at(-(1 << 46)).is_err());
    }

    #[test]
    fn maps_parsing_keeps_only_executable_segments_of_the_anchor_file() {
        let maps = "\
1000-2000 r--p 00000000 08:01 12 /bin/app
2000-3000 r-xp 00001000 08:01 12 /bin/app
3000-4000 rw-p 00002000 08:01 12 /bin/app
5000-6000 r-xp 00000000 08:01 99 /lib/libc.so
7000-8000 rw-p 00000000 00:00 0 [heap]";
        let r = parse_executable_ranges(maps, 0x2500).unwrap();
        assert_eq!(r, vec![0x2000..0x3000]);
        assert_eq!(parse_executable_ranges(maps, 0x9000), None);
    }
}
