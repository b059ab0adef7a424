//! Running a typed generator in another process.
//!
//! As `call.rs` does for `submit`, `Pool::stream(f, arg)` sends the
//! address of `entry::<F, A, I>`, monomorphized for the closure, its
//! argument and its iterator. In the worker, `entry` decodes the argument,
//! conjures the closure (it has no data), calls it, and hands back the
//! iterator as a [`Generator`]: from then on the worker's stream loop
//! (`worker/stream.rs`), which knows nothing of the types, asks it for one
//! encoded item at a time.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::call::{AssertNoCaptures, CallError};
use crate::ipc::codec::{self, Input, Sink};
use crate::sys::code::{self, CodeOffset, StreamEntryFn};

/// A stream's iterator, running in the worker.
pub(crate) trait Generator {
    /// Runs the iterator to its next item and appends that item, encoded
    /// (see `ipc::codec`), to `sink`. `None` once the iterator is done.
    fn next_into(&mut self, sink: Sink<'_>) -> Option<Result<u64, CallError>>;
}

struct Running<It>(It);

impl<It> Generator for Running<It>
where
    It: Iterator,
    It::Item: Serialize,
{
    #[inline]
    fn next_into(&mut self, sink: Sink<'_>) -> Option<Result<u64, CallError>> {
        // The item is made outside the encoder's scope (task code never
        // runs inside it), then encoded.
        let item = self.0.next()?;
        Some(codec::encode(&item, sink))
    }
}

/// The entry point for streams of closure type `F`.
fn entry<F, A, I>(input: Input<'_>) -> Result<Box<dyn Generator>, CallError>
where
    F: Fn(A) -> I + Copy + 'static,
    A: DeserializeOwned,
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: Serialize,
{
    let arg: A = codec::decode(&input.item, input.fds, input.limit)?;
    let f: F = code::conjure::<F, A, I>();
    Ok(Box::new(Running(f(arg).into_iter())))
}

/// The offset of `entry::<F, A, I>`, to put in a `STREAM` frame.
pub(crate) fn entry_offset<F, A, I>() -> CodeOffset
where
    F: Fn(A) -> I + Copy + 'static,
    A: DeserializeOwned,
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: Serialize,
{
    #[allow(clippy::let_unit_value)]
    let () = AssertNoCaptures::<F>::OK;
    code::stream_entry_offset(entry::<F, A, I> as StreamEntryFn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::Items;

    fn generator<F, A, I>(_f: F, arg: &A) -> Box<dyn Generator>
    where
        F: Fn(A) -> I + Copy + 'static,
        A: Serialize + DeserializeOwned,
        I: IntoIterator,
        I::IntoIter: 'static,
        I::Item: Serialize,
    {
        let mut bytes = Vec::new();
        let mut fds = Vec::new();
        let sink = Sink {
            out: &mut bytes,
            fds: &mut fds,
            limit: 1 << 20,
            lanes: &crate::shm::lanes::Lanes::unkept(),
        };
        codec::encode(arg, sink).unwrap();
        let item = Items::new(&bytes, 1).next().unwrap().unwrap();
        let entry = code::stream_entry_at(entry_offset::<F, A, I>()).unwrap();
        let input = Input {
            item,
            fds: Vec::new(),
            limit: 1 << 20,
        };
        entry(input).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn next_u64(g: &mut dyn Generator) -> Option<u64> {
        let mut out = Vec::new();
        let mut fds = Vec::new();
        let sink = Sink {
            out: &mut out,
            fds: &mut fds,
            limit: 1 << 20,
            lanes: &crate::shm::lanes::Lanes::unkept(),
        };
        g.next_into(sink)?.unwrap();
        let item = Items::new(&out, 1).next().unwrap().unwrap();
        Some(codec::decode(&item, Vec::new(), 1 << 20).unwrap())
    }

    #[test]
    fn the_entry_runs_the_generator_it_was_made_for() {
        let mut g = generator(|n: u64| (0..n).map(|i| i * i), &4);
        let got: Vec<u64> = std::iter::from_fn(|| next_u64(&mut *g)).collect();
        assert_eq!(got, [0, 1, 4, 9]);
    }
}
