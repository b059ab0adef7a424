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

pub(crate) use crate::ipc::codec::CallError;
use crate::ipc::codec::{self, Input, Sink};
use crate::sys::code::{self, CodeOffset, EntryFn};

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
fn entry<F, A, R>(input: &mut Input<'_>, out: &mut Sink<'_>) -> Result<(), CallError>
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    let arg: A = codec::decode(&input.item, std::mem::take(&mut input.fds), input.limit)?;
    let f: F = code::conjure::<F, A, R>();
    let result = f(arg);
    codec::encode(&result, out.reborrow()).map(drop)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::Items;

    fn run<F, A, R>(_f: F, arg: &A) -> Result<Vec<u8>, CallError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize,
    {
        let mut input = Vec::new();
        let mut fds = Vec::new();
        codec::encode(
            arg,
            Sink {
                out: &mut input,
                fds: &mut fds,
                limit: 1 << 20,
                lanes: &crate::shm::lanes::Lanes::unkept(),
            },
        )
        .unwrap();
        let item = Items::new(&input, 1).next().unwrap().unwrap();
        let f = code::entry_at(entry_offset::<F, A, R>()).unwrap();
        let mut out = vec![9];
        let mut input = Input {
            item,
            fds: Vec::new(),
            limit: 1 << 20,
        };
        f(
            &mut input,
            &mut Sink {
                out: &mut out,
                fds: &mut fds,
                limit: 1 << 20,
                lanes: &crate::shm::lanes::Lanes::unkept(),
            },
        )?;
        Ok(out)
    }

    fn result<T: DeserializeOwned>(out: &[u8]) -> T {
        let item = Items::new(out, 1).next().unwrap().unwrap();
        codec::decode(&item, Vec::new(), 1 << 20).unwrap()
    }

    #[test]
    fn the_entry_runs_the_closure_it_was_made_for() {
        let out = run(|x: u32| x * 3, &14u32).unwrap();
        assert_eq!(out[0], 9, "appends, keeping what was there");
        assert_eq!(result::<u32>(&out[1..]), 42);
        let out = run(|s: String| s.to_uppercase(), &"abc".to_string()).unwrap();
        assert_eq!(result::<String>(&out[1..]), "ABC");
    }

    #[test]
    fn a_bad_argument_is_a_decode_error() {
        let g = |s: String| s.len();
        fn entry_of<F: Fn(String) -> usize + Copy + 'static>(_: F) -> EntryFn {
            code::entry_at(entry_offset::<F, String, usize>()).unwrap()
        }
        let mut out = Vec::new();
        let mut fds = Vec::new();
        let bytes = [0xff, 0xff];
        let item = crate::ipc::protocol::Item::inline(&bytes, 0);
        let mut input = Input {
            item,
            fds: Vec::new(),
            limit: 1 << 20,
        };
        let err = entry_of(g)(
            &mut input,
            &mut Sink {
                out: &mut out,
                fds: &mut fds,
                limit: 1 << 20,
                lanes: &crate::shm::lanes::Lanes::unkept(),
            },
        )
        .unwrap_err();
        assert!(matches!(err, CallError::Decode(_)), "{err:?}");
    }
}
