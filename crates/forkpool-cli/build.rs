//! Links the `forkpool` binary for a quick start: a fixed-position
//! executable with the C library inside it (fully static) where the static
//! C library is installed, else a fixed-position executable with libgcc's
//! unwinder inside it.
//!
//! Start-up is most of what one short job costs (issue 8: one job within
//! 1.2x of `xargs`), and most of a start-up is the dynamic loader's:
//! - As a position-independent executable the binary carries ~15,000
//!   relative relocations (clap's, regex's and our tables of `&'static
//!   str`, vtables...), which the loader applies at every start: it reads
//!   the relocation table and writes into some 70 pages of `.data.rel.ro`,
//!   each a copy-on-write page fault. Linked at a fixed address (`-no-pie`)
//!   those pointers are final in the file: about 60 page faults and 0.2 ms
//!   less per run. `-z pack-relative-relocs` only shrinks the table, not
//!   the writes (measured: no gain for a run).
//! - Even then, the loader maps `libc.so.6`, relocates it, resolves its
//!   IFUNCs and looks up each of the ~160 C functions the binary calls, by
//!   name, in its hash table: about 0.2 ms of a 1.9 ms run of `forkpool
//!   true ::: 1` (a static `hello` starts in 0.37 ms against 0.65 ms for
//!   the dynamic one). Linked statically (`-static`), the executable has
//!   no interpreter and no dynamic relocation at all.
//!
//! Why not `-C target-feature=+crt-static`, rustc's own way: it is a flag
//! for the whole build, and cargo gives it to proc-macros too, which then
//! cannot be built without `--target` (which moves `target/release/`).
//! A build script can add link arguments to this package's binaries only,
//! so it does what `crt-static` does at the link: `-static`, and each C
//! library rustc asks for (`-lc`, `-lm`, `-lgcc_s`, ...) found as its
//! archive first, through a directory of links to the archives searched
//! before the system's (`-lgcc_s` is `libgcc_eh.a`, the unwinder `gcc
//! -static` uses). Tests and the library are untouched.
//!
//! What static glibc costs: nothing this binary uses needs `dlopen` (no
//! user or host name lookups: `--user` is the library's, with numeric
//! ids; `forkpool node` connects to the addresses it is given). The
//! image is at a fixed address, as for non-PIE programs generally (the
//! stack, heap and every mapping we make are still randomised). If a C
//! archive is missing (a system with only the shared C library), the
//! binary is linked dynamically, as before, and starts ~0.2 ms slower.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The C libraries rustc links for std and the `libc` crate, and the
/// archive that stands for each in a static link.
const ARCHIVES: &[(&str, &str)] = &[
    ("c", "libc.a"),
    ("m", "libm.a"),
    ("rt", "librt.a"),
    ("pthread", "libpthread.a"),
    ("dl", "libdl.a"),
    ("util", "libutil.a"),
    ("gcc_s", "libgcc_eh.a"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // Dynamically linked glibc targets only: a `crt-static` build is
    // static already, and musl targets bring their own unwinder.
    let glibc = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let static_build = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    if !glibc || static_build {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let out = PathBuf::from(var("OUT_DIR"));
    match link_archives(&out.join("static-libs"), &var("CC")) {
        Some(dir) => {
            println!("cargo:rustc-link-arg-bins=-static");
            println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
        }
        None => {
            // The unwinder (what panics and backtraces use) from
            // `libgcc_eh.a`, linked in whole, rather than from
            // `libgcc_s.so.1`: one shared library less to find, map and
            // relocate at every start, and no `libgcc_s` constructor
            // probing the CPU (about 0.05 ms a run). Once every symbol is
            // defined in the binary, `--as-needed` drops `libgcc_s`.
            println!("cargo:rustc-link-arg-bins=-Wl,--push-state,--whole-archive,-lgcc_eh,--pop-state");
        }
    }
}

/// Makes `dir` hold `lib<name>.a` for each of [`ARCHIVES`], a link to the
/// archive the C compiler finds; `None` if it finds any of them missing.
fn link_archives(dir: &Path, cc: &str) -> Option<PathBuf> {
    let cc = if cc.is_empty() { "cc" } else { cc };
    std::fs::create_dir_all(dir).ok()?;
    for (name, archive) in ARCHIVES {
        let found = Command::new(cc)
            .arg(format!("-print-file-name={archive}"))
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8(found.stdout).ok()?.trim());
        // Not found, the compiler prints the bare name back.
        if !path.is_absolute() || !path.is_file() {
            return None;
        }
        let link = dir.join(format!("lib{name}.a"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).ok()?;
    }
    Some(dir.to_path_buf())
}
