//! The `#[forkpool::remote]` attribute. Use it through the `forkpool`
//! crate, which re-exports it; see `forkpool::cluster` for what it is for.
//!
//! The attribute leaves the function as it is (still an ordinary `fn`,
//! callable and usable with a local pool) and adds a registration to a
//! link-time list (a `linkme` distributed slice owned by `forkpool`): the
//! function's stable name, and a function that describes it (its type
//! identity, a hash of its argument and result types, and the code address
//! a local worker jumps to). A node serves what that list holds; a client
//! finds a function's name and type hash there.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, FnArg, ItemFn, LitStr, Path, Token};

/// Registers a function so that the machines of a `forkpool` cluster can
/// run it by name.
///
/// ```ignore
/// #[forkpool::remote]
/// fn resize(job: ImageJob) -> Vec<u8> { /* ... */ }
///
/// #[forkpool::remote(name = "images.resize.v2")]   // a name of your own
/// fn resize_v2(job: ImageJobV2) -> Vec<u8> { /* ... */ }
/// ```
///
/// The function must be a plain, non-generic, non-async `fn` with exactly
/// one argument (a tuple or a struct carries several) whose argument and
/// result types implement `serde::Serialize + DeserializeOwned`. Its name
/// is `module_path::fn_name` unless `name = "..."` gives one (letters,
/// digits and `_ : . - /`). `crate = path` names the `forkpool` crate when
/// it was renamed.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as Args);
    let func = syn::parse_macro_input!(item as ItemFn);
    match expand(args, func) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated(input)?;
        for pair in pairs {
            if pair.path.is_ident("name") {
                match &pair.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s), ..
                    }) => args.name = Some(s.clone()),
                    other => return Err(Error::new(other.span(), "`name` takes a string literal")),
                }
            } else if pair.path.is_ident("crate") {
                match &pair.value {
                    syn::Expr::Path(p) => args.krate = Some(p.path.clone()),
                    other => {
                        return Err(Error::new(
                            other.span(),
                            "`crate` takes a path, e.g. `crate = ::forkpool`",
                        ));
                    }
                }
            } else {
                return Err(Error::new(
                    pair.path.span(),
                    "unknown argument; #[forkpool::remote] takes `name = \"...\"` and `crate = path`",
                ));
            }
        }
        Ok(args)
    }
}

/// Characters a task name may hold: it becomes part of Redis key names,
/// where braces would change a Redis Cluster hash tag and spaces are a
/// nuisance to operators.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-' | '/'))
}

fn expand(args: Args, func: ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let sig = &func.sig;
    let refuse = |span: Span, what: &str| {
        Err(Error::new(
            span,
            format!("#[forkpool::remote] {what}: it must be a plain `fn` with one argument"),
        ))
    };
    if let Some(asyncness) = &sig.asyncness {
        return refuse(asyncness.span(), "cannot register an `async fn`");
    }
    if !sig.generics.params.is_empty() {
        return refuse(sig.generics.span(), "cannot register a generic function");
    }
    if let Some(abi) = &sig.abi {
        return refuse(abi.span(), "cannot register a function with an explicit ABI");
    }
    if let Some(variadic) = &sig.variadic {
        return refuse(variadic.span(), "cannot register a variadic function");
    }
    if sig.inputs.len() != 1 {
        return Err(Error::new(
            sig.inputs.span(),
            "#[forkpool::remote] functions take exactly one argument: pass several values as a \
             tuple or a struct, and none as `_: ()`",
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        return refuse(receiver.span(), "cannot register a method");
    }
    let ident = &sig.ident;
    let name = match &args.name {
        Some(lit) => {
            if !valid_name(&lit.value()) {
                return Err(Error::new(
                    lit.span(),
                    "a remote function's name is 1 to 200 letters, digits and `_ : . - /`",
                ));
            }
            quote!(#lit)
        }
        None => {
            let plain = ident.to_string();
            let plain = plain.strip_prefix("r#").unwrap_or(&plain);
            quote!(::core::concat!(::core::module_path!(), "::", #plain))
        }
    };
    let krate = args.krate.map_or_else(|| quote!(::forkpool), |p| quote!(#p));
    // The describe call carries the function's span, so that a type that
    // is not serializable is reported at the function.
    let describe = quote_spanned!(ident.span()=> #krate::__private::describe(#ident));
    Ok(quote! {
        #func

        #[doc(hidden)]
        const _: () = {
            #[#krate::__private::linkme::distributed_slice(#krate::__private::REMOTE_FNS)]
            #[linkme(crate = #krate::__private::linkme)]
            static REGISTRATION: #krate::__private::Registration = #krate::__private::Registration {
                name: #name,
                file: ::core::file!(),
                line: ::core::line!(),
                describe: describe,
            };

            fn describe() -> #krate::__private::Descriptor {
                #describe
            }
        };
    })
}
