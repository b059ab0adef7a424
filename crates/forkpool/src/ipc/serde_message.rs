//! The user's own message when a `Serialize` or `Deserialize` impl fails.
//!
//! `postcard` keeps no payload in its errors: an impl that fails with
//! `Error::custom("the reason")` comes back as "Serde Deserialization
//! Error", the reason gone. Carrying a message on every call would cost the
//! hot path, so nothing changes while coding succeeds. When it fails with a
//! custom error, the same value (or the same bytes) is coded once more
//! through `erased-serde`, whose error type keeps the message, over
//! `postcard`'s own serializer or deserializer: the same format, so the impl
//! fails at the same place and says why.
//!
//! The second run is a retelling: an impl that fails only once (it depends
//! on a counter, on the clock) may succeed the second time, and then the
//! generic message stands.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::shm::wire;

/// Why encoding `value` failed with `error`: the impl's own message when
/// it raised a custom error, postcard's otherwise.
#[cold]
pub(crate) fn of_encoding<T: Serialize + ?Sized>(value: &T, error: &postcard::Error) -> String {
    if *error != postcard::Error::SerdeSerCustom {
        return error.to_string();
    }
    let mut serializer = postcard::Serializer { output: Discard };
    let mut erased = <dyn erased_serde::Serializer>::erase(&mut serializer);
    let erased: &mut dyn erased_serde::Serializer = &mut erased;
    // Shared buffers go into a table of their own, then are dropped.
    let mut fds = Vec::new();
    match wire::encoding(&mut fds, || erased_serde::Serialize::erased_serialize(value, erased)) {
        Err(e) => e.to_string(),
        Ok(()) => error.to_string(),
    }
}

/// Why decoding `bytes` as a `T` failed with `error`: the impl's own message
/// when it raised a custom error, postcard's otherwise. Runs with the
/// shared buffers the failed decoding had already taken (see
/// `wire::decoding_again`).
#[cold]
pub(crate) fn of_decoding<T: DeserializeOwned>(bytes: &[u8], error: &postcard::Error) -> String {
    if *error != postcard::Error::SerdeDeCustom {
        return error.to_string();
    }
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let mut erased = <dyn erased_serde::Deserializer>::erase(&mut deserializer);
    match wire::decoding_again(|| erased_serde::deserialize::<T>(&mut erased)) {
        Err(e) => e.to_string(),
        Ok(_) => error.to_string(),
    }
}

/// A `postcard` flavor that keeps nothing.
struct Discard;

impl postcard::ser_flavors::Flavor for Discard {
    type Output = ();

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        Ok(())
    }

    fn try_extend(&mut self, _: &[u8]) -> postcard::Result<()> {
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::*;

    /// Serializes as a `u32`; refuses to serialize 13, and to deserialize 7.
    #[derive(Debug)]
    struct Picky(u32);

    impl Serialize for Picky {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 == 13 {
                return Err(serde::ser::Error::custom("13 is unlucky"));
            }
            s.serialize_u32(self.0)
        }
    }

    impl<'de> Deserialize<'de> for Picky {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
            let n = u32::deserialize(d)?;
            if n == 7 {
                return Err(serde::de::Error::custom(format!("{n} is too holy")));
            }
            Ok(Picky(n))
        }
    }

    #[test]
    fn custom_messages_are_found_both_ways() {
        let value = (1u8, Picky(13));
        let error = postcard::to_allocvec(&value).unwrap_err();
        assert_eq!(of_encoding(&value, &error), "13 is unlucky");

        let bytes = postcard::to_allocvec(&(1u8, 7u32)).unwrap();
        let error = postcard::from_bytes::<(u8, Picky)>(&bytes).unwrap_err();
        assert_eq!(of_decoding::<(u8, Picky)>(&bytes, &error), "7 is too holy");
    }

    #[test]
    fn other_errors_keep_postcards_message() {
        let error = postcard::from_bytes::<(u8, Picky)>(&[1]).unwrap_err();
        assert_eq!(of_decoding::<(u8, Picky)>(&[1], &error), error.to_string());
    }
}
