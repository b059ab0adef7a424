//! Running a typed function in another process.
//!
//! `Pool::submit(f, arg)` cannot send `f` itself: closures are not data.
//! It sends the address (see `sys::code`) of `entry::<F, A, R>`, a function
//! monomorphized for exactly this closure type, argument and result. In the
//! worker, `entry` decodes the argument, conjures the closure (it has no
//! data: `F` is zero-sized, which `submit` checks at compile time), calls it
//! and encodes the result.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sys::code::{self, CodeOffset, EntryFn};

/// Why a task's data could not cross the process boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The argument did not decode as `A`.
    Decode(String),
    /// The result did not encode.
    Encode(String),
}

impl CallError {
    pub(crate) fn message(&self) -> String {
        match self {
            CallError::Decode(m) => format!("cannot decode the argument: {m}"),
            CallError::Encode(m) => format!("cannot encode the result: {m}"),
        }
    }
}

/// The compile-time check behind "a capturing closure is a compile error".
///
/// Evaluated when `submit`/`map` is instantiated for `F`, so the message
/// appears at build time with the caller's instantiation in its notes.
pub(crate) struct AssertNoCaptures<F>(std::marker::PhantomData<F>);

impl<F> AssertNoCaptures<F> {
    pub(crate) const OK: () = assert!(
        std::mem::size_of::<F>() == 0,
        "forkpool: a task function must not capture variables. It runs in another process, \
         which receives only its argument: pass the captured values through the argument \
         instead, e.g. `pool.submit(|(x, y)| x + y, (x, y))`."
    );
}

/// The entry point for tasks of closure type `F`.
fn entry<F, A, R>(input: &[u8], out: &mut Vec<u8>) -> Result<(), CallError>
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    let arg: A = postcard::from_bytes(input).map_err(|e| CallError::Decode(e.to_string()))?;
    let f: F = code::conjure::<F, A, R>();
    let result = f(arg);
    postcard::serialize_with_flavor(&result, AppendTo(out)).map_err(|e| CallError::Encode(e.to_string()))
}

/// The offset of `entry::<F, A, R>`, to put in a `RUN` frame.
pub(crate) fn entry_offset<F, A, R>() -> CodeOffset
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    #[allow(clippy::let_unit_value)]
    let () = AssertNoCaptures::<F>::OK;
    code::entry_offset(entry::<F, A, R> as EntryFn)
}

/// Encodes `value` onto the end of `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CallError> {
    postcard::serialize_with_flavor(value, AppendTo(out)).map_err(|e| CallError::Encode(e.to_string()))
}

/// A postcard flavor that appends to an existing buffer (postcard's own
/// `to_extend` takes the buffer by value, which would lose it on error).
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F, A, R>(_f: F, arg: &A) -> Result<Vec<u8>, CallError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize,
    {
        let mut input = Vec::new();
        encode_into(arg, &mut input).unwrap();
        let f = code::entry_at(entry_offset::<F, A, R>()).unwrap();
        let mut out = vec![9];
        f(&input, &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_entry_runs_the_closure_it_was_made_for() {
        let out = run(|x: u32| x * 3, &14u32).unwrap();
        assert_eq!(out[0], 9, "appends, keeping what was there");
        assert_eq!(postcard::from_bytes::<u32>(&out[1..]).unwrap(), 42);
        let out = run(|s: String| s.to_uppercase(), &"abc".to_string()).unwrap();
        assert_eq!(postcard::from_bytes::<String>(&out[1..]).unwrap(), "ABC");
    }

    #[test]
    fn a_bad_argument_is_a_decode_error() {
        let g = |s: String| s.len();
        fn entry_of<F: Fn(String) -> usize + Copy + 'static>(_: F) -> EntryFn {
            code::entry_at(entry_offset::<F, String, usize>()).unwrap()
        }
        let mut out = Vec::new();
        let err = entry_of(g)(&[0xff, 0xff], &mut out).unwrap_err();
        assert!(matches!(err, CallError::Decode(_)), "{err:?}");
    }
}
