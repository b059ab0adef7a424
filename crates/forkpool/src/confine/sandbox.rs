//! The sandbox: Landlock rules every worker applies to itself.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus,
};
use serde::{Deserialize, Serialize};

use crate::sys;

/// The newest Landlock ABI this crate was tested with. Rules are built for
/// the lower of it and the kernel's, so that a newer kernel never changes
/// what a sandbox means without a new release.
const TESTED_ABI: u32 = 7;
/// Denying every kind of write, truncation included (Linux 6.2).
const FILESYSTEM_ABI: u32 = 3;
/// TCP `bind` and `connect` rules (Linux 6.7).
const NETWORK_ABI: u32 = 4;

/// What the workers' tasks may touch, enforced with Landlock in every
/// worker; see [`PoolBuilder::sandbox`](crate::PoolBuilder::sandbox).
///
/// A sandbox is an allow-list for the filesystem: a worker may read (and
/// execute) only beneath the [`read_only`](Sandbox::read_only) and
/// [`read_write`](Sandbox::read_write) paths, and write, create, remove,
/// rename or truncate only beneath the `read_write` ones; everything else is
/// denied with `EACCES` (`/dev/null` stays writable, as a courtesy to
/// `Stdio::null()`). [`no_network`](Sandbox::no_network) also denies TCP
/// `connect` and `bind`. Descriptors a worker already holds (its socket to
/// the pool, its standard streams, what `preload` opened) keep working.
///
/// `Sandbox::new()` alone therefore denies every file. To restrict only
/// the network, allow the whole filesystem:
///
/// ```
/// use forkpool::{Pool, Sandbox};
///
/// let offline = Sandbox::new().read_write("/").no_network();
/// let pool = Pool::builder().workers(1).sandbox(offline).build()?;
/// let connect = pool.submit(
///     |_: ()| std::net::TcpStream::connect("127.0.0.1:9").map_err(|e| e.raw_os_error()).err(),
///     (),
/// );
/// assert_eq!(connect.join(), Ok(Some(Some(libc::EACCES))));
/// # Ok::<(), forkpool::Error>(())
/// ```
///
/// Landlock is in Linux 5.13 and later; what it can enforce grew since
/// (see [`unenforceable`](Sandbox::unenforceable)). By default `build()`
/// fails on a kernel that cannot enforce the whole sandbox; with
/// [`best_effort`](Sandbox::best_effort) it applies what it can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a sandbox does nothing until it is given to `PoolBuilder::sandbox`"]
pub struct Sandbox {
    read_only: Vec<PathBuf>,
    read_write: Vec<PathBuf>,
    no_network: bool,
    best_effort: bool,
}

impl Sandbox {
    /// A sandbox that allows no file at all and leaves the network open.
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// Allows reading files, listing directories and executing programs
    /// beneath `path` (a directory, or a single file). A relative path is
    /// taken from the current directory when the pool is built.
    pub fn read_only(mut self, path: impl Into<PathBuf>) -> Sandbox {
        self.read_only.push(path.into());
        self
    }

    /// Allows everything beneath `path`: what [`read_only`](Sandbox::read_only)
    /// allows, and writing, creating, removing, renaming and truncating.
    pub fn read_write(mut self, path: impl Into<PathBuf>) -> Sandbox {
        self.read_write.push(path.into());
        self
    }

    /// Denies TCP `connect` and `bind` (`EACCES`), to any address, loopback
    /// included. Landlock does not cover UDP, or Unix sockets reached by a
    /// path or an abstract name; raw sockets need a capability a worker that
    /// [`run_as`](crate::PoolBuilder::run_as) another user no longer has.
    /// Needs Linux 6.7 (Landlock ABI 4).
    pub fn no_network(mut self) -> Sandbox {
        self.no_network = true;
        self
    }

    /// Applies what the running kernel can enforce and silently drops the
    /// rest, instead of failing `build()`. Call
    /// [`unenforceable`](Sandbox::unenforceable) to see (or log) what is
    /// dropped on this kernel.
    pub fn best_effort(mut self) -> Sandbox {
        self.best_effort = true;
        self
    }

    /// What of this sandbox the running kernel cannot enforce, one line
    /// each; empty when it enforces all of it. Without
    /// [`best_effort`](Sandbox::best_effort), `build()` fails with these
    /// lines; with it, they are what the workers go without.
    ///
    /// ```
    /// let sandbox = forkpool::Sandbox::new().read_only("/").no_network().best_effort();
    /// for missing in sandbox.unenforceable() {
    ///     eprintln!("sandbox not enforced on this kernel: {missing}");
    /// }
    /// ```
    pub fn unenforceable(&self) -> Vec<String> {
        self.unenforceable_at(sys::landlock::abi_version())
    }

    fn unenforceable_at(&self, abi: u32) -> Vec<String> {
        let mut missing = Vec::new();
        if abi == 0 {
            missing.push("filesystem rules: this kernel has no Landlock (Linux 5.13 or later, enabled at boot)".into());
        } else if abi < FILESYSTEM_ABI {
            missing.push(format!(
                "denying truncation outside the read_write paths: this kernel has Landlock ABI {abi}, \
                 truncation needs ABI {FILESYSTEM_ABI} (Linux 6.2)"
            ));
        }
        if self.no_network && abi < NETWORK_ABI {
            missing.push(format!(
                "no_network: this kernel has Landlock ABI {abi}, network rules need ABI {NETWORK_ABI} (Linux 6.7)"
            ));
        }
        missing
    }

    pub(crate) fn best_effort_set(&self) -> bool {
        self.best_effort
    }

    /// Checks the sandbox's paths in the client, for `build()`, and
    /// resolves them against the current directory.
    pub(crate) fn resolve(&self) -> Result<SandboxSpec, String> {
        let resolve = |paths: &[PathBuf]| -> Result<Vec<Vec<u8>>, String> {
            paths
                .iter()
                .map(|path| {
                    let absolute =
                        std::path::absolute(path).map_err(|e| format!("sandbox path {}: {e}", path.display()))?;
                    std::fs::metadata(&absolute)
                        .map_err(|e| format!("sandbox path {} cannot be used: {e}", path.display()))?;
                    Ok(absolute.into_os_string().into_vec())
                })
                .collect()
        };
        Ok(SandboxSpec {
            read_only: resolve(&self.read_only)?,
            read_write: resolve(&self.read_write)?,
            no_network: self.no_network,
            best_effort: self.best_effort,
        })
    }
}

/// A [`Sandbox`] as the workers receive it: absolute paths, as bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SandboxSpec {
    read_only: Vec<Vec<u8>>,
    read_write: Vec<Vec<u8>>,
    no_network: bool,
    best_effort: bool,
}

/// A ruleset whose paths are open, ready to be applied.
#[derive(Debug)]
pub(crate) struct Prepared {
    ruleset: RulesetCreated,
    best_effort: bool,
}

impl SandboxSpec {
    /// Builds the ruleset and opens its paths, while the worker still has
    /// the client's ids (so that it can name whatever the client can).
    pub(crate) fn prepare(&self) -> Result<Prepared, String> {
        let kernel = sys::landlock::abi_version();
        let abi = ABI::from(kernel.min(TESTED_ABI) as i32);
        let fail = |e: landlock::RulesetError| format!("cannot build the Landlock ruleset: {e}");
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))
            .map_err(fail)?;
        if self.no_network {
            ruleset = ruleset
                .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
                .map_err(fail)?;
        }
        let mut created = ruleset.create().map_err(fail)?;
        let rules = self
            .read_only
            .iter()
            .map(|p| (p, AccessFs::from_read(abi)))
            .chain(self.read_write.iter().map(|p| (p, AccessFs::from_all(abi))));
        for (path, access) in rules {
            let path = Path::new(OsString::from_vec(path.clone()).as_os_str()).to_owned();
            created = add_path(created, &path, access, abi)?;
        }
        // Writing to /dev/null loses nothing, and `Stdio::null()` opens it
        // for writing; a sandbox that broke it would only get in the way.
        if Path::new("/dev/null").exists() {
            let access = AccessFs::from_file(abi) & !AccessFs::Execute;
            created = add_path(created, Path::new("/dev/null"), access, abi)?;
        }
        Ok(Prepared {
            ruleset: created,
            best_effort: self.best_effort,
        })
    }
}

fn add_path(
    created: RulesetCreated,
    path: &Path,
    access: BitFlags<AccessFs>,
    abi: ABI,
) -> Result<RulesetCreated, String> {
    let fd = PathFd::new(path).map_err(|e| format!("cannot open sandbox path {}: {e}", path.display()))?;
    // Directory-only rights (listing, creating entries) make no sense on a
    // file; Landlock refuses them there.
    let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
    let access = if is_dir {
        access
    } else {
        access & AccessFs::from_file(abi)
    };
    created.add_rule(PathBeneath::new(fd, access)).map_err(|e| {
        format!(
            "cannot add sandbox path {}: {e}",
            path.as_os_str().as_bytes().escape_ascii()
        )
    })
}

impl Prepared {
    /// Restricts this thread (the worker's only one) for good.
    pub(crate) fn enforce(self) -> Result<(), String> {
        let status = self
            .ruleset
            .restrict_self()
            .map_err(|e| format!("cannot apply the Landlock sandbox: {e}"))?;
        if !self.best_effort && status.ruleset != RulesetStatus::FullyEnforced {
            return Err(format!(
                "the Landlock sandbox was only {:?} on this kernel",
                status.ruleset
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_abi_cannot_enforce() {
        let files = Sandbox::new().read_only("/");
        let offline = Sandbox::new().read_only("/").no_network();
        assert_eq!(files.unenforceable_at(0).len(), 1);
        assert_eq!(offline.unenforceable_at(0).len(), 2);
        assert!(files.unenforceable_at(2)[0].contains("truncation"));
        assert!(files.unenforceable_at(3).is_empty());
        assert_eq!(offline.unenforceable_at(3).len(), 1);
        assert!(offline.unenforceable_at(3)[0].contains("no_network"));
        assert!(offline.unenforceable_at(4).is_empty());
    }

    #[test]
    fn paths_are_checked_and_made_absolute() {
        let spec = Sandbox::new().read_only(".").resolve().unwrap();
        assert!(spec.read_only[0].starts_with(b"/"));
        let missing = Sandbox::new().read_write("/no/such/forkpool/path").resolve();
        assert!(missing.unwrap_err().contains("/no/such/forkpool/path"));
    }
}
