//! Which Landlock ABI the running kernel offers.
//!
//! The `landlock` crate negotiates on its own when a ruleset is applied,
//! but keeps its probe private; the pool asks earlier, in `build()`, so
//! that a sandbox this kernel cannot enforce fails there with a clear
//! error rather than in every worker.

/// `LANDLOCK_CREATE_RULESET_VERSION`: ask for the ABI version.
const CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The kernel's Landlock ABI version: 0 when Landlock is not built in or
/// not enabled at boot (`ENOSYS`, `EOPNOTSUPP`).
pub(crate) fn abi_version() -> u32 {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag,
    // landlock_create_ruleset only returns a number; it reads and writes no
    // memory of ours and creates no descriptor.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_without_failing() {
        // Any kernel: a number, 0 meaning "none". Linux 6.7+ with Landlock
        // enabled says at least 4.
        let abi = super::abi_version();
        assert!(abi < 1000, "{abi}");
    }
}
