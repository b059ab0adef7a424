//! Decoding a large item: its big byte strings land in memory the kernel
//! faulted in beforehand.
//!
//! Decoding a `serde_bytes::ByteBuf` (or a `String`, or any type that
//! takes its bytes as one run) copies the run out of the received body into
//! a new allocation, and a large new allocation has no pages yet: the copy
//! traps into the kernel once per 4 KiB page. On a virtual machine that is
//! most of the cost of receiving (see `sys/prefault.rs`). So an out-of-line
//! item is decoded through [`Bulk`], which hands every byte run of
//! [`BULK_AT`] bytes or more to the value's visitor as an owned buffer whose
//! pages were made in one call (`visit_byte_buf` / `visit_string`), and
//! forwards everything else untouched. It wraps the format's deserializer,
//! and everything that deserializer hands down (sequences, maps, enums,
//! options), so that runs anywhere in the value are found.
//!
//! Small items are decoded without it: they are the many items of a `map`,
//! and their runs are small enough to come from memory the allocator
//! already holds.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use crate::shm::copy;

/// Byte runs at least this long are copied into pre-faulted memory (below
/// it the allocator serves them from memory it holds: no page to make).
pub(crate) const BULK_AT: usize = 1 << 20;

/// A deserializer, sequence, map, enum, variant or seed whose byte runs
/// become pre-faulted owned buffers; see the module docs.
pub(crate) struct Bulk<T>(pub(crate) T);

/// A visitor whose large borrowed runs become owned.
struct Owned<V>(V);

/// `bytes`, copied into new memory whose pages were made first.
fn populated(bytes: &[u8]) -> Vec<u8> {
    copy::to_vec(bytes)
}

macro_rules! forward {
    ($($method:ident)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(Owned(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bulk<D> {
    type Error = D::Error;

    forward! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Owned(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Owned(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Owned(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Owned(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Owned(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Owned(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Owned<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char)
        visit_string(String) visit_byte_buf(Vec<u8>)
    }

    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        if v.len() >= BULK_AT {
            return self.visit_string(big_string(v));
        }
        self.0.visit_str(v)
    }

    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        if v.len() >= BULK_AT {
            return self.visit_string(big_string(v));
        }
        self.0.visit_borrowed_str(v)
    }

    #[inline]
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        if v.len() >= BULK_AT {
            return self.0.visit_byte_buf(populated(v));
        }
        self.0.visit_bytes(v)
    }

    #[inline]
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        if v.len() >= BULK_AT {
            return self.0.visit_byte_buf(populated(v));
        }
        self.0.visit_borrowed_bytes(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Bulk(deserializer))
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Bulk(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Bulk(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Bulk(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Bulk(data))
    }
}

/// `v`, owned, in pre-faulted memory.
fn big_string(v: &str) -> String {
    let bytes = populated(v.as_bytes());
    // The bytes are `v`'s, which is UTF-8; this cannot fail.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Bulk<S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Bulk(deserializer))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Bulk<A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Bulk(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Bulk<A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Bulk(seed))
    }

    #[inline]
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Bulk(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Bulk<A> {
    type Error = A::Error;
    type Variant = Bulk<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Bulk<A::Variant>), A::Error> {
        let (value, variant) = self.0.variant_seed(Bulk(seed))?;
        Ok((value, Bulk(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Bulk<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Bulk(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Owned(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Owned(visitor))
    }
}

/// Decodes a `postcard` item through [`Bulk`].
pub(crate) fn from_bytes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> postcard::Result<T> {
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    T::deserialize(Bulk(&mut deserializer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use serde_bytes::ByteBuf;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Bytes(ByteBuf),
        Pair(String, u8),
        Named { text: String, list: Vec<Option<ByteBuf>> },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Everything {
        small: ByteBuf,
        big: ByteBuf,
        text: String,
        floats: Vec<f64>,
        map: BTreeMap<String, ByteBuf>,
        shapes: Vec<Shape>,
        nested: Option<Box<Everything>>,
        tuple: (u8, i128, char, bool),
    }

    fn sample(depth: u8) -> Everything {
        let big = |b: u8| ByteBuf::from(vec![b; BULK_AT + 3]);
        Everything {
            small: ByteBuf::from(vec![1, 2, 3]),
            big: big(depth),
            text: "é".repeat(BULK_AT),
            floats: vec![1.5; 1000],
            map: [("k".to_string(), big(9)), ("small".to_string(), ByteBuf::from(vec![4]))].into(),
            shapes: vec![
                Shape::Unit,
                Shape::Bytes(big(7)),
                Shape::Pair("x".repeat(BULK_AT), 3),
                Shape::Named {
                    text: "y".into(),
                    list: vec![None, Some(big(8))],
                },
            ],
            nested: (depth > 0).then(|| Box::new(sample(depth - 1))),
            tuple: (1, -5, 'z', true),
        }
    }

    #[test]
    fn every_shape_of_value_decodes_the_same_through_it() {
        let value = sample(1);
        let bytes = postcard::to_allocvec(&value).unwrap();
        assert_eq!(from_bytes::<Everything>(&bytes).unwrap(), value);
        // Errors come through as they are.
        assert!(from_bytes::<Everything>(&bytes[..bytes.len() / 2]).is_err());
        assert!(from_bytes::<Shape>(&[9]).is_err());
    }
}
