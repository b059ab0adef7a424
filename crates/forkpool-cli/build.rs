//! Links the `forkpool` binary for a quick start: as a fixed-position
//! executable (`-no-pie`), with libgcc's unwinder inside it.
//!
//! Start-up is most of what one short job costs (issue 8: one job within
//! 1.2x of `xargs`). As a position-independent executable the binary
//! carries ~15,000 relative relocations (clap's, regex's and our tables of
//! `&'static str`, vtables...), which the dynamic loader applies at every
//! start: it reads the relocation table and writes into some 70 pages of
//! `.data.rel.ro`, each a copy-on-write page fault. Linked at a fixed
//! address those pointers are final in the file: about 60 page faults and
//! 0.2 ms less per run. `-z pack-relative-relocs` only shrinks the table,
//! not the writes (measured: no gain for a run).
//!
//! The cost: the executable's own image is not at a random address (the
//! stack, heap, shared libraries and every mapping we make still are), as
//! for non-PIE programs generally. The library crate and its users are
//! untouched; this applies to this package's binaries only.
//!
//! The unwinder (what panics and backtraces use) comes from `libgcc_eh.a`,
//! linked in whole, rather than from `libgcc_s.so.1`: one shared library
//! less to find, map and relocate at every start, and no `libgcc_s`
//! constructor probing the CPU (about 0.05 ms a run). It is the same code
//! `gcc -static-libgcc` and Rust's static builds use; unwinding, `catch_unwind`
//! and backtraces work as before. Once every symbol is defined in the
//! binary, `--as-needed` drops `libgcc_s` from the dependencies.

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // Dynamically linked glibc targets only: a static build (`crt-static`)
    // is linked without `ld.so` and with libgcc's unwinder already, and
    // musl targets bring their own unwinder.
    let glibc = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let static_build = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    if glibc && !static_build {
        println!("cargo:rustc-link-arg-bins=-no-pie");
        println!("cargo:rustc-link-arg-bins=-Wl,--push-state,--whole-archive,-lgcc_eh,--pop-state");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
