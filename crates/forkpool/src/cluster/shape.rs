//! The serialized shape of a remote function's argument and result types,
//! for the type hash that makes a node refuse a task of another version.
//!
//! A type's *shape* is what its `Deserialize` impl asks of the data:
//! containers and their serde names, field names in order, variant names
//! and indices, and the primitive kinds. It is recorded by running the
//! impl against a tracing deserializer (`serde-reflection`), which needs
//! no sample values, so the user's types need nothing beyond
//! `#[derive(Deserialize)]`. The shape is written out in a canonical text
//! form and hashed with FNV-1a (fixed, unlike `std`'s seeded hasher), so
//! that two builds agree exactly when their types read the same bytes the
//! same way:
//!
//! - a field added, removed, renamed, retyped or moved, a variant added,
//!   removed or renamed, `u32` becoming `u64`: another hash;
//! - a type moved to another module, renamed in Rust but not for serde
//!   (`#[serde(rename)]`), rebuilt by another compiler: the same hash.
//!
//! Some `Deserialize` impls cannot be traced: those that ask for
//! `deserialize_any` (untagged and internally tagged enums, `#[serde(flatten)]`,
//! self-describing values like `serde_json::Value`), and those that
//! reject the placeholder values the tracer offers (a custom impl that
//! validates). For those the hash falls back to the types' Rust names
//! (`std::any::type_name`), which tells `Job` from `JobV2` but not a
//! struct that changed inside: [`Shape::Named`] says which was used, and
//! the cluster's docs say what to do then (rename the function).
//!
//! Postcard, the cluster's wire format, is not self-describing either, so
//! every type the cluster can carry is one whose impl does not need
//! `deserialize_any`: in practice the fallback concerns custom impls.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_reflection::{ContainerFormat, Format, Named, Registry, Tracer, TracerConfig, VariantFormat};

/// How a type's part of the type hash was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The canonical text of the traced shape.
    Traced(String),
    /// The shape could not be traced (why); the Rust type name stands in.
    Named { type_name: &'static str, why: String },
}

impl Shape {
    /// The shape of `T`.
    pub(crate) fn of<T: DeserializeOwned>() -> Shape {
        match trace::<T>() {
            Ok(text) => Shape::Traced(text),
            Err(why) => Shape::Named {
                type_name: std::any::type_name::<T>(),
                why,
            },
        }
    }

    /// The text the hash covers: the shape, or the type name, tagged so
    /// that the two kinds never collide.
    fn hashed(&self) -> String {
        match self {
            Shape::Traced(text) => format!("shape {text}"),
            Shape::Named { type_name, .. } => format!("name {type_name}"),
        }
    }
}

/// The type hash of a function whose argument and result have these
/// shapes.
pub(crate) fn type_hash(arg: &Shape, output: &Shape) -> u64 {
    fnv1a(&[
        b"forkpool-remote-2",
        arg.hashed().as_bytes(),
        b"->",
        output.hashed().as_bytes(),
    ])
}

/// FNV-1a over `parts`, each followed by a separator byte.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        h ^= 0xff;
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// Traces `T`'s `Deserialize` impl; the canonical text of its shape.
fn trace<T: DeserializeOwned>() -> Result<String, String> {
    // Not human-readable, as postcard is: impls that read another form
    // for text formats (e.g. `std::net::IpAddr`) are traced as the
    // cluster's bytes will be read.
    let mut tracer = Tracer::new(TracerConfig::default().is_human_readable(false));
    // A panic in a user's impl (or in the tracer) is a type that cannot be
    // traced, not a crash of the program at registration.
    let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracer
            .trace_simple_type::<T>()
            .map(|(format, _)| format)
            .map_err(|e| e.to_string())
    }))
    .map_err(|_| "its Deserialize impl panicked while being traced".to_owned())??;
    let registry = tracer.registry().map_err(|e| e.to_string())?;
    let mut out = String::new();
    write_format(&traced, &mut out)?;
    write_registry(&registry, &mut out)?;
    Ok(out)
}

/// `len:name`, so that no name can imitate the punctuation around it.
fn write_name(name: &str, out: &mut String) {
    let _ = write!(out, "{}:{name}", name.len());
}

fn write_formats(formats: &[Format], out: &mut String) -> Result<(), String> {
    out.push('(');
    for (i, f) in formats.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_format(f, out)?;
    }
    out.push(')');
    Ok(())
}

fn write_fields(fields: &[Named<Format>], out: &mut String) -> Result<(), String> {
    out.push('{');
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_name(&field.name, out);
        out.push('=');
        write_format(&field.value, out)?;
    }
    out.push('}');
    Ok(())
}

fn write_format(format: &Format, out: &mut String) -> Result<(), String> {
    let word = match format {
        Format::Variable(_) => return Err("part of it could not be traced".into()),
        Format::TypeName(name) => {
            out.push('@');
            write_name(name, out);
            return Ok(());
        }
        Format::Unit => "unit",
        Format::Bool => "bool",
        Format::I8 => "i8",
        Format::I16 => "i16",
        Format::I32 => "i32",
        Format::I64 => "i64",
        Format::I128 => "i128",
        Format::U8 => "u8",
        Format::U16 => "u16",
        Format::U32 => "u32",
        Format::U64 => "u64",
        Format::U128 => "u128",
        Format::F32 => "f32",
        Format::F64 => "f64",
        Format::Char => "char",
        Format::Str => "str",
        Format::Bytes => "bytes",
        Format::Option(inner) => {
            out.push_str("option<");
            write_format(inner, out)?;
            out.push('>');
            return Ok(());
        }
        Format::Seq(inner) => {
            out.push_str("seq<");
            write_format(inner, out)?;
            out.push('>');
            return Ok(());
        }
        Format::Map { key, value } => {
            out.push_str("map<");
            write_format(key, out)?;
            out.push(',');
            write_format(value, out)?;
            out.push('>');
            return Ok(());
        }
        Format::Tuple(formats) => {
            out.push_str("tuple");
            return write_formats(formats, out);
        }
        Format::TupleArray { content, size } => {
            let _ = write!(out, "array{size}<");
            write_format(content, out)?;
            out.push('>');
            return Ok(());
        }
    };
    out.push_str(word);
    Ok(())
}

/// Every container the type reaches, in name order (the registry is a
/// `BTreeMap`).
fn write_registry(registry: &Registry, out: &mut String) -> Result<(), String> {
    for (name, container) in registry {
        out.push(';');
        write_name(name, out);
        out.push('=');
        match container {
            ContainerFormat::UnitStruct => out.push_str("unit_struct"),
            ContainerFormat::NewTypeStruct(inner) => {
                out.push_str("newtype(");
                write_format(inner, out)?;
                out.push(')');
            }
            ContainerFormat::TupleStruct(formats) => {
                out.push_str("tuple_struct");
                write_formats(formats, out)?;
            }
            ContainerFormat::Struct(fields) => {
                out.push_str("struct");
                write_fields(fields, out)?;
            }
            ContainerFormat::Enum(variants) => {
                out.push_str("enum{");
                for (i, (index, variant)) in variants.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{index}#");
                    write_name(&variant.name, out);
                    match &variant.value {
                        VariantFormat::Variable(_) => return Err("a variant could not be traced".into()),
                        VariantFormat::Unit => {}
                        VariantFormat::NewType(inner) => {
                            out.push('(');
                            write_format(inner, out)?;
                            out.push(')');
                        }
                        VariantFormat::Tuple(formats) => write_formats(formats, out)?,
                        VariantFormat::Struct(fields) => write_fields(fields, out)?,
                    }
                }
                out.push('}');
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(dead_code)] // The types are only traced, never built.
mod tests {
    use serde::Deserialize;

    use super::*;

    mod v1 {
        #[derive(serde::Deserialize)]
        pub(super) struct Job {
            pub(super) _id: u32,
            pub(super) _name: String,
        }
    }

    /// Another module, the same serde name and fields: the same shape.
    mod moved {
        #[derive(serde::Deserialize)]
        pub(super) struct Job {
            pub(super) _id: u32,
            pub(super) _name: String,
        }
    }

    mod added {
        #[derive(serde::Deserialize)]
        pub(super) struct Job {
            pub(super) _id: u32,
            pub(super) _name: String,
            pub(super) _size: u64,
        }
    }

    mod reordered {
        #[derive(serde::Deserialize)]
        pub(super) struct Job {
            pub(super) _name: String,
            pub(super) _id: u32,
        }
    }

    mod retyped {
        #[derive(serde::Deserialize)]
        pub(super) struct Job {
            pub(super) _id: u64,
            pub(super) _name: String,
        }
    }

    #[derive(Deserialize)]
    enum Two {
        _A,
        _B(u8),
    }

    mod three {
        #[derive(serde::Deserialize)]
        #[serde(rename = "Two")]
        pub(super) enum Three {
            _A,
            _B(u8),
            _C { _x: bool },
        }
    }

    #[derive(Deserialize)]
    struct List {
        _next: Option<Box<List>>,
        _value: (u8, [u16; 2]),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Untagged {
        _A(u32),
        _B(String),
    }

    fn hash_of<A: DeserializeOwned>() -> u64 {
        type_hash(&Shape::of::<A>(), &Shape::of::<()>())
    }

    #[test]
    fn a_change_of_shape_changes_the_hash_and_a_move_does_not() {
        let base = hash_of::<v1::Job>();
        assert_eq!(base, hash_of::<moved::Job>(), "the same shape in another module");
        for (what, other) in [
            ("a field added", hash_of::<added::Job>()),
            ("fields reordered", hash_of::<reordered::Job>()),
            ("a field retyped", hash_of::<retyped::Job>()),
        ] {
            assert_ne!(base, other, "{what}");
        }
        assert_ne!(hash_of::<Two>(), hash_of::<three::Three>(), "a variant added");
        // Argument and result are told apart.
        assert_ne!(
            type_hash(&Shape::of::<u32>(), &Shape::of::<u64>()),
            type_hash(&Shape::of::<u64>(), &Shape::of::<u32>())
        );
    }

    #[test]
    fn shapes_are_written_out_in_full_and_recursive_types_end() {
        assert_eq!(
            Shape::of::<v1::Job>(),
            Shape::Traced("@3:Job;3:Job=struct{3:_id=u32,5:_name=str}".into())
        );
        assert_eq!(
            Shape::of::<three::Three>(),
            Shape::Traced("@3:Two;3:Two=enum{0#2:_A,1#2:_B(u8),2#2:_C{2:_x=bool}}".into())
        );
        assert_eq!(
            Shape::of::<List>(),
            Shape::Traced("@4:List;4:List=struct{5:_next=option<@4:List>,6:_value=tuple(u8,array2<u16>)}".into())
        );
        assert_eq!(
            Shape::of::<(Vec<u8>, std::collections::BTreeMap<String, i64>)>(),
            Shape::Traced("tuple(seq<u8>,map<str,i64>)".into())
        );
    }

    #[test]
    fn the_hash_is_fixed_across_builds() {
        // A fixed value: the hash must not change between builds or
        // versions of forkpool, or nodes and clients would not agree.
        assert_eq!(
            type_hash(&Shape::of::<u32>(), &Shape::of::<u64>()),
            fnv1a(&[b"forkpool-remote-2", b"shape u32", b"->", b"shape u64"])
        );
        assert_eq!(type_hash(&Shape::of::<u32>(), &Shape::of::<u64>()), FIXED);
    }

    /// The type hash of `u32 -> u64`, as every version must compute it.
    const FIXED: u64 = 0x5efc_f13e_51b7_94b9;

    #[test]
    fn types_that_cannot_be_traced_fall_back_to_their_names() {
        let shape = Shape::of::<Untagged>();
        match &shape {
            Shape::Named { type_name, why } => {
                assert!(type_name.ends_with("Untagged"), "{type_name}");
                assert!(!why.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(Shape::of::<serde_json::Value>() != Shape::of::<u8>());
    }
}
