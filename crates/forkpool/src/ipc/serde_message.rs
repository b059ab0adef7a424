//! The user's own message when a `Serialize` or `Deserialize` impl fails.
//!
//! `postcard` keeps no payload in its errors: an impl that fails with
//! `Error::custom("the reason")` comes back as "Serde Deserialization
//! Error", the reason gone. Carrying a message on every call would cost the
//! hot path, so nothing changes while coding succeeds. When it fails with a
//! custom error, the same value (or the same bytes) is coded once more,
//! through a (de)serializer whose error type keeps messages:
//! - encoding: [`Discard`], a serializer that writes nothing (a custom
//!   error comes from the value's own impl, whatever the format);
//! - decoding: [`Keep`] wrapped around `postcard`'s own deserializer, so
//!   that the bytes are read the same way and the impl fails at the same
//!   place; every value nested inside is handed a wrapped deserializer too.
//!
//! The first custom message raised is kept aside ([`FIRST`]), so that it
//! survives being passed back through `postcard`'s own layers, which would
//! drop it again.
//!
//! The second run is a retelling: an impl that fails only once (it depends
//! on a counter, on the clock) may succeed the second time, and then the
//! generic message stands.
//!
//! The retelling also follows which type is being coded ([`WITHIN`]), so
//! that a value `postcard` cannot code at all is named: a type that needs
//! `deserialize_any` (`serde_json::Value`, untagged enums), whose bytes
//! would have to say what kind of value they are, or a sequence or map of
//! unknown length (`#[serde(flatten)]`), whose length `postcard` writes
//! first.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde::ser::{self, Serialize};

use crate::shm::wire;

thread_local! {
    /// The first custom message raised during a retelling.
    static FIRST: RefCell<Option<String>> = const { RefCell::new(None) };
    /// During a retelling: the types being coded, outermost first.
    static WITHIN: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    /// During a retelling: the innermost type being coded when the first
    /// thing `postcard` cannot do was asked for.
    static UNSUPPORTED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Runs `f` with `T` as the innermost type being coded.
fn within<T: ?Sized, R>(f: impl FnOnce() -> R) -> R {
    WITHIN.with(|w| w.borrow_mut().push(std::any::type_name::<T>()));
    let result = f();
    WITHIN.with(|w| w.borrow_mut().pop());
    result
}

/// Notes the innermost type being coded as one `postcard` cannot code.
fn unsupported() {
    if UNSUPPORTED.get().is_none() {
        UNSUPPORTED.set(WITHIN.with(|w| w.borrow().last().copied()));
    }
}

/// Why `postcard` cannot decode a type that asks for `deserialize_any`.
fn needs_any(name: &str) -> String {
    format!(
        "postcard cannot decode `{name}`: it needs a self-describing format (deserialize_any), \
         and postcard's bytes do not say what kind of value comes next. `serde_json::Value`, \
         `#[serde(untagged)]` and internally tagged enums, and `#[serde(flatten)]` ask for one; \
         send such a value as text in its own format (e.g. `serde_json::to_string`) and parse it \
         on the other side, or use types postcard can decode (externally tagged enums, plain \
         structs)"
    )
}

/// Why `postcard` cannot encode a type that does not know its length.
fn unknown_length(name: &str) -> String {
    format!(
        "postcard cannot encode `{name}`: it is a sequence or map that does not know its length \
         before it is written (as `#[serde(flatten)]` and `Serializer::collect_seq` of an \
         iterator of unknown length make), and postcard writes the length first; collect it \
         into a `Vec` or a map, or drop `#[serde(flatten)]`"
    )
}

/// Why encoding `value` failed with `error`: the impl's own message when
/// it raised a custom error, postcard's otherwise.
#[cold]
pub(crate) fn of_encoding<T: Serialize + ?Sized>(value: &T, error: &postcard::Error) -> String {
    let unknown = *error == postcard::Error::SerializeSeqLengthUnknown;
    if *error != postcard::Error::SerdeSerCustom && !unknown {
        return error.to_string();
    }
    // Shared buffers go into a table of their own, then are dropped.
    let mut fds = Vec::new();
    let (message, culprit) = retell(error, || {
        within::<T, _>(|| wire::encoding(&mut fds, || value.serialize(Discard)).map(drop))
    });
    match culprit {
        Some(name) if unknown => unknown_length(name),
        _ => message,
    }
}

/// Why decoding `bytes` as a `T` failed with `error`: the impl's own message
/// when it raised a custom error, postcard's otherwise. Runs with the
/// shared buffers the failed decoding had already taken (see
/// `wire::decoding_again`).
#[cold]
pub(crate) fn of_decoding<T: de::DeserializeOwned>(bytes: &[u8], error: &postcard::Error) -> String {
    let any = *error == postcard::Error::WontImplement;
    if *error != postcard::Error::SerdeDeCustom && !any {
        return error.to_string();
    }
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let (message, culprit) = retell(error, || {
        within::<T, _>(|| wire::decoding_again(|| T::deserialize(Keep(&mut deserializer))).map(drop))
    });
    match culprit {
        Some(name) if any => needs_any(name),
        _ => message,
    }
}

/// Runs `again` and returns the first custom message it raised, or
/// `error`'s text; and the type that asked for something `postcard`
/// cannot do, if one did.
fn retell(error: &postcard::Error, again: impl FnOnce() -> Result<(), Message>) -> (String, Option<&'static str>) {
    FIRST.with(|f| f.borrow_mut().take());
    WITHIN.with(|w| w.borrow_mut().clear());
    UNSUPPORTED.set(None);
    let outcome = again();
    let first = FIRST.with(|f| f.borrow_mut().take());
    let culprit = UNSUPPORTED.take();
    let message = match (first, outcome) {
        (Some(message), _) => message,
        (None, Err(Message(message))) if !message.is_empty() => message,
        _ => error.to_string(),
    };
    (message, culprit)
}

/// An error that keeps its message.
#[derive(Debug)]
pub(crate) struct Message(String);

impl Message {
    fn raised(message: String) -> Message {
        FIRST.with(|f| {
            f.borrow_mut().get_or_insert_with(|| message.clone());
        });
        Message(message)
    }

    /// An error of another layer, as ours.
    fn from_inner(error: impl fmt::Display) -> Message {
        Message(error.to_string())
    }

    /// Ours, as an error of another layer (the message is kept in [`FIRST`]).
    fn into_inner<E: de::Error>(self) -> E {
        E::custom(self.0)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl ser::Error for Message {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Message::raised(message.to_string())
    }
}

impl de::Error for Message {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Message::raised(message.to_string())
    }
}

// ------------------------------------------------------------- encoding --

/// A serializer that writes nothing and keeps custom messages.
#[derive(Clone, Copy)]
struct Discard;

macro_rules! discard_scalars {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<(), Message> { Ok(()) })*
    };
}

impl ser::Serializer for Discard {
    type Ok = ();
    type Error = Message;
    type SerializeSeq = Discard;
    type SerializeTuple = Discard;
    type SerializeTupleStruct = Discard;
    type SerializeTupleVariant = Discard;
    type SerializeMap = Discard;
    type SerializeStruct = Discard;
    type SerializeStructVariant = Discard;

    discard_scalars!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_none(self) -> Result<(), Message> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Message> {
        within::<T, _>(|| value.serialize(self))
    }

    fn serialize_unit(self) -> Result<(), Message> {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Message> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Message> {
        within::<T, _>(|| value.serialize(self))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Message> {
        within::<T, _>(|| value.serialize(self))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Discard, Message> {
        if len.is_none() {
            unsupported();
        }
        Ok(self)
    }

    fn serialize_tuple(self, _: usize) -> Result<Discard, Message> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Discard, Message> {
        Ok(self)
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Discard, Message> {
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Discard, Message> {
        if len.is_none() {
            unsupported();
        }
        Ok(self)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Discard, Message> {
        Ok(self)
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Discard, Message> {
        Ok(self)
    }

    fn is_human_readable(&self) -> bool {
        // As postcard.
        false
    }
}

macro_rules! discard_compound {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$trait for Discard {
            type Ok = ();
            type Error = Message;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Message> {
                within::<T, _>(|| value.serialize(Discard))
            }

            fn end(self) -> Result<(), Message> {
                Ok(())
            }
        })*
    };
}

discard_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Discard {
    type Ok = ();
    type Error = Message;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Message> {
        within::<T, _>(|| key.serialize(Discard))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Message> {
        within::<T, _>(|| value.serialize(Discard))
    }

    fn end(self) -> Result<(), Message> {
        Ok(())
    }
}

macro_rules! discard_fields {
    ($($trait:ident),* $(,)?) => {
        $(impl ser::$trait for Discard {
            type Ok = ();
            type Error = Message;

            fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Message> {
                within::<T, _>(|| value.serialize(Discard))
            }

            fn end(self) -> Result<(), Message> {
                Ok(())
            }
        })*
    };
}

discard_fields!(SerializeStruct, SerializeStructVariant);

// ------------------------------------------------------------- decoding --

/// A deserializer (or visitor, access, seed: whatever it wraps) whose
/// errors keep their messages, around another one.
struct Keep<T>(T);

macro_rules! keep_methods {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Message> {
            self.0.$method(Keep(visitor)).map_err(Message::from_inner)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Keep<D> {
    type Error = Message;

    keep_methods!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
    );

    // What postcard refuses (`WontImplement`): the type asking is noted.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Message> {
        unsupported();
        self.0.deserialize_any(Keep(visitor)).map_err(Message::from_inner)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Message> {
        unsupported();
        self.0
            .deserialize_identifier(Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Message> {
        unsupported();
        self.0
            .deserialize_ignored_any(Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Message> {
        self.0
            .deserialize_unit_struct(name, Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Message> {
        self.0
            .deserialize_newtype_struct(name, Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Message> {
        self.0
            .deserialize_tuple(len, Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Message> {
        self.0
            .deserialize_tuple_struct(name, len, Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Message> {
        self.0
            .deserialize_struct(name, fields, Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Message> {
        self.0
            .deserialize_enum(name, variants, Keep(visitor))
            .map_err(Message::from_inner)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! keep_visits {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method::<Message>(v).map_err(Message::into_inner)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Keep<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    keep_visits!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none::<Message>().map_err(Message::into_inner)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit::<Message>().map_err(Message::into_inner)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Keep(d)).map_err(Message::into_inner)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Keep(d)).map_err(Message::into_inner)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Keep(seq)).map_err(Message::into_inner)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(Keep(map)).map_err(Message::into_inner)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(Keep(data)).map_err(Message::into_inner)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Keep<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        within::<S::Value, _>(|| self.0.deserialize(Keep(d))).map_err(Message::into_inner)
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Keep<A> {
    type Error = Message;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Message> {
        self.0.next_element_seed(Keep(seed)).map_err(Message::from_inner)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Keep<A> {
    type Error = Message;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Message> {
        self.0.next_key_seed(Keep(seed)).map_err(Message::from_inner)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Message> {
        self.0.next_value_seed(Keep(seed)).map_err(Message::from_inner)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Keep<A> {
    type Error = Message;
    type Variant = Keep<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Keep<A::Variant>), Message> {
        self.0
            .variant_seed(Keep(seed))
            .map(|(value, variant)| (value, Keep(variant)))
            .map_err(Message::from_inner)
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Keep<A> {
    type Error = Message;

    fn unit_variant(self) -> Result<(), Message> {
        self.0.unit_variant().map_err(Message::from_inner)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Message> {
        self.0.newtype_variant_seed(Keep(seed)).map_err(Message::from_inner)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Message> {
        self.0.tuple_variant(len, Keep(visitor)).map_err(Message::from_inner)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Message> {
        self.0
            .struct_variant(fields, Keep(visitor))
            .map_err(Message::from_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize, Serializer};

    use super::*;

    /// Serializes as a `u32`; refuses to serialize 13, and to deserialize 7.
    #[derive(Debug, PartialEq)]
    struct Picky(u32);

    impl Serialize for Picky {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 == 13 {
                return Err(ser::Error::custom("13 is unlucky"));
            }
            s.serialize_u32(self.0)
        }
    }

    impl<'de> Deserialize<'de> for Picky {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
            let n = u32::deserialize(d)?;
            if n == 7 {
                return Err(de::Error::custom(format!("{n} is too holy")));
            }
            Ok(Picky(n))
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Deep {
            inner: Vec<Option<(u8, Picky)>>,
            map: BTreeMap<String, Picky>,
        },
    }

    #[test]
    fn custom_messages_are_found_at_any_depth_both_ways() {
        let value = (1u8, Picky(13));
        let error = postcard::to_allocvec(&value).unwrap_err();
        assert_eq!(of_encoding(&value, &error), "13 is unlucky");

        let deep = vec![
            Shape::Unit,
            Shape::Deep {
                inner: vec![None, Some((1, Picky(2))), Some((3, Picky(13)))],
                map: BTreeMap::new(),
            },
        ];
        let error = postcard::to_allocvec(&deep).unwrap_err();
        assert_eq!(of_encoding(&deep, &error), "13 is unlucky");

        let bytes = postcard::to_allocvec(&(1u8, 7u32)).unwrap();
        let error = postcard::from_bytes::<(u8, Picky)>(&bytes).unwrap_err();
        assert_eq!(of_decoding::<(u8, Picky)>(&bytes, &error), "7 is too holy");

        let mut map = BTreeMap::new();
        map.insert("a".to_string(), Picky(1));
        map.insert("b".to_string(), Picky(6));
        let fine = vec![
            Shape::Unit,
            Shape::Deep {
                inner: vec![None, Some((1, Picky(2)))],
                map,
            },
        ];
        let mut bytes = postcard::to_allocvec(&fine).unwrap();
        // The last value in the encoding is map["b"] = 6: make it 7.
        *bytes.last_mut().unwrap() = 7;
        let error = postcard::from_bytes::<Vec<Shape>>(&bytes).unwrap_err();
        assert_eq!(of_decoding::<Vec<Shape>>(&bytes, &error), "7 is too holy");
        // Untouched, it decodes the same through the wrapper.
        let bytes = postcard::to_allocvec(&fine).unwrap();
        let mut d = postcard::Deserializer::from_bytes(&bytes);
        assert_eq!(Vec::<Shape>::deserialize(Keep(&mut d)).unwrap(), fine);
    }

    #[test]
    fn other_errors_keep_postcards_message() {
        let error = postcard::from_bytes::<(u8, Picky)>(&[1]).unwrap_err();
        assert_eq!(of_decoding::<(u8, Picky)>(&[1], &error), error.to_string());
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Number(u32),
        Text(String),
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Holder {
        id: u8,
        extra: Vec<serde_json::Value>,
    }

    fn decoding_message<T: de::DeserializeOwned + fmt::Debug>(bytes: &[u8]) -> String {
        let error = postcard::from_bytes::<T>(bytes).unwrap_err();
        of_decoding::<T>(bytes, &error)
    }

    #[test]
    fn a_type_that_needs_deserialize_any_is_named_with_the_reason() {
        let bytes = postcard::to_allocvec(&serde_json::json!({"a": [1, 2]})).unwrap();
        let message = decoding_message::<serde_json::Value>(&bytes);
        assert!(
            message.starts_with(
                "postcard cannot decode `serde_json::value::Value`: it needs a self-describing format (deserialize_any)"
            ),
            "{message}"
        );
        // The innermost type that asked, not the value around it.
        let bytes = postcard::to_allocvec(&Holder {
            id: 1,
            extra: vec![serde_json::json!(null)],
        })
        .unwrap();
        let message = decoding_message::<Holder>(&bytes);
        assert!(
            message.contains("cannot decode `serde_json::value::Value`"),
            "{message}"
        );
        let bytes = postcard::to_allocvec(&(1u8, Loose::Number(3))).unwrap();
        let message = decoding_message::<(u8, Loose)>(&bytes);
        assert!(
            message.contains("Loose`: it needs a self-describing format"),
            "{message}"
        );
        assert!(message.contains("untagged"), "{message}");
    }

    #[derive(Serialize)]
    struct Flat {
        id: u8,
        #[serde(flatten)]
        rest: BTreeMap<String, u8>,
    }

    #[test]
    fn a_map_of_unknown_length_is_named_with_the_reason() {
        let value = vec![Flat {
            id: 1,
            rest: BTreeMap::new(),
        }];
        let error = postcard::to_allocvec(&value).unwrap_err();
        let message = of_encoding(&value, &error);
        assert!(message.contains("postcard cannot encode `"), "{message}");
        assert!(message.contains("Flat`: it is a sequence or map"), "{message}");
    }
}
