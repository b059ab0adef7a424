//! The functions `#[forkpool::remote]` registered in this program.
//!
//! The attribute adds a [`Registration`] to a link-time list (a `linkme`
//! distributed slice): the name, where the function is, and a `describe`
//! function monomorphized for it. Describing gives what the cluster needs:
//! the function's type identity (how `Cluster::submit(f, ..)` finds the
//! name of `f`), a hash of its argument and result types, and the code
//! offset of its pool entry point, which only this executable's own
//! workers ever see: a message names a function, never an address.
//!
//! # The type hash
//!
//! A hash of the *serialized shape* of the argument and result types (see
//! `shape.rs`): a struct that gained, lost, renamed, retyped or reordered
//! a field, or an enum whose variants changed, hashes differently, while a
//! type that only moved or was rebuilt hashes the same. The shape is
//! traced once per process, when the registry is first described. A type
//! whose `Deserialize` impl cannot be traced (it needs `deserialize_any`,
//! or validates what it reads) falls back to a hash of its Rust name.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::shape::{Shape, type_hash};
use crate::call;
use crate::error::{Error, ErrorKind};
use crate::sys::code::CodeOffset;

pub use crate::sys::remote_slice::REMOTE_FNS;

/// One `#[forkpool::remote]` function, as the attribute registers it.
/// Not a public API: only the attribute's expansion names it.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registration {
    /// The stable name: `module::path::fn_name` or the attribute's `name`.
    pub name: &'static str,
    /// Where the attribute is, for error messages.
    pub file: &'static str,
    /// The line of the attribute.
    pub line: u32,
    /// Describes the function (see [`describe`]).
    pub describe: fn() -> Descriptor,
}

/// What [`describe`] tells about a function. Not a public API.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Descriptor {
    fn_type: TypeId,
    type_hash: u64,
    entry: CodeOffset,
    arg: &'static str,
    output: &'static str,
    /// Why a type's shape could not be traced, when one could not.
    untraced: Option<String>,
}

/// Describes the remote function `f`; called through the registration the
/// attribute generates. The bounds are checked where the attribute is, so
/// a function whose types do not serialize fails to compile there.
#[doc(hidden)]
pub fn describe<F, A, R>(f: F) -> Descriptor
where
    F: Fn(A) -> R + Copy + Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let _ = f;
    let arg_shape = Shape::of::<A>();
    let output_shape = Shape::of::<R>();
    let untraced = [&arg_shape, &output_shape].into_iter().find_map(|s| match s {
        Shape::Named { type_name, why } => Some(format!("`{type_name}`: {why}")),
        Shape::Traced(_) => None,
    });
    Descriptor {
        fn_type: TypeId::of::<F>(),
        type_hash: type_hash(&arg_shape, &output_shape),
        entry: call::entry_offset::<F, A, R>(),
        arg: std::any::type_name::<A>(),
        output: std::any::type_name::<R>(),
        untraced,
    }
}

/// A registered function, described.
#[derive(Debug, Clone)]
pub(crate) struct RemoteFn {
    pub(crate) name: &'static str,
    pub(crate) type_hash: u64,
    pub(crate) entry: CodeOffset,
    pub(crate) fn_type: TypeId,
    /// `ArgType -> ResultType`, for messages.
    pub(crate) signature: String,
    /// `file:line` of the attribute.
    pub(crate) location: String,
    /// Why its type hash covers only a type's name (see the module docs).
    pub(crate) untraced: Option<String>,
}

/// Every registered function of this program.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Sorted by name and type hash.
    fns: Vec<RemoteFn>,
    by_type: HashMap<TypeId, usize>,
    /// Two functions registered under one name with the same types.
    conflicts: Vec<String>,
}

impl Registry {
    fn build(registrations: &[Registration]) -> Registry {
        let mut fns: Vec<RemoteFn> = registrations
            .iter()
            .map(|registration| {
                let d = (registration.describe)();
                RemoteFn {
                    name: registration.name,
                    type_hash: d.type_hash,
                    entry: d.entry,
                    fn_type: d.fn_type,
                    signature: format!("{} -> {}", d.arg, d.output),
                    location: format!("{}:{}", registration.file, registration.line),
                    untraced: d.untraced,
                }
            })
            .collect();
        fns.sort_by(|a, b| (a.name, a.type_hash, &a.location).cmp(&(b.name, b.type_hash, &b.location)));
        let conflicts = fns
            .windows(2)
            .filter(|w| (w[0].name, w[0].type_hash) == (w[1].name, w[1].type_hash))
            .map(|w| {
                format!(
                    "`{}` ({}) is registered twice with the same types, at {} and at {}",
                    w[0].name, w[0].signature, w[0].location, w[1].location
                )
            })
            .collect();
        let by_type = fns.iter().enumerate().map(|(i, f)| (f.fn_type, i)).collect();
        Registry {
            fns,
            by_type,
            conflicts,
        }
    }

    /// The function whose fn-item type is `fn_type`.
    pub(crate) fn by_type(&self, fn_type: TypeId) -> Option<&RemoteFn> {
        self.fns.get(*self.by_type.get(&fn_type)?)
    }

    /// Every function, sorted by name and type hash.
    pub(crate) fn fns(&self) -> &[RemoteFn] {
        &self.fns
    }

    /// Fails when two registrations collide (one name, the same types).
    pub(crate) fn check(&self) -> Result<(), Error> {
        match self.conflicts.first() {
            None => Ok(()),
            Some(conflict) => Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("#[forkpool::remote]: {conflict}; give one of them another `name = \"...\"`"),
            )),
        }
    }
}

/// This program's registry, described once.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::build(&REMOTE_FNS))
}

// The registrations below are linkme elements, which the compiler counts
// as unsafe code (link sections) when the slice is declared in this crate.
#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    #[crate::remote(crate = crate)]
    fn double(x: u32) -> u64 {
        u64::from(x) * 2
    }

    #[crate::remote(crate = crate, name = "tests.versioned")]
    fn versioned_a(x: u32) -> u32 {
        x
    }

    #[crate::remote(crate = crate, name = "tests.versioned")]
    fn versioned_b(x: String) -> u32 {
        x.len() as u32
    }

    fn type_id_of<F: 'static>(_: F) -> TypeId {
        TypeId::of::<F>()
    }

    #[test]
    fn the_attribute_registers_a_stable_name_and_the_types() {
        let r = registry();
        r.check().unwrap();
        let f = r.by_type(type_id_of(double)).expect("double is registered");
        assert_eq!(f.name, "forkpool::cluster::registry::tests::double");
        assert_eq!(f.type_hash, type_hash(&Shape::of::<u32>(), &Shape::of::<u64>()));
        assert_eq!(f.untraced, None);
        assert_eq!(f.signature, "u32 -> u64");
        assert!(f.location.contains("registry.rs:"), "{}", f.location);
        // The function is still an ordinary function.
        assert_eq!(double(21), 42);
    }

    #[test]
    fn one_name_may_have_versions_with_other_types() {
        let r = registry();
        let a = r.by_type(type_id_of(versioned_a)).unwrap();
        let b = r.by_type(type_id_of(versioned_b)).unwrap();
        assert_eq!(a.name, b.name);
        assert_ne!(a.type_hash, b.type_hash);
        assert_eq!(versioned_a(3) + versioned_b("ab".into()), 5);
    }

    #[test]
    fn unregistered_functions_are_not_found() {
        fn plain(x: u32) -> u32 {
            x
        }
        assert!(registry().by_type(type_id_of(plain)).is_none());
    }

    #[test]
    fn a_duplicate_registration_is_reported() {
        fn describe_double() -> Descriptor {
            describe(double)
        }
        let regs = [
            Registration {
                name: "dup",
                file: "a.rs",
                line: 1,
                describe: describe_double,
            },
            Registration {
                name: "dup",
                file: "b.rs",
                line: 2,
                describe: describe_double,
            },
        ];
        let r = Registry::build(&regs);
        let e = r.check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.to_string().contains("a.rs:1") && e.to_string().contains("b.rs:2"),
            "{e}"
        );
    }
}
