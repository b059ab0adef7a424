//! Changing this process's environment, which is only sound single-threaded.

use std::ffi::{OsStr, OsString};

/// Reads `name` and removes it from the environment, so that processes this
/// one starts do not inherit it.
///
/// Removing is skipped (the value is still returned) when the process has
/// more than one thread, where changing the environment could race with a
/// reader in another thread.
pub(crate) fn take_var(name: &str) -> Option<OsString> {
    let value = std::env::var_os(name)?;
    if super::threads::is_single_threaded() {
        // SAFETY: the process has a single thread (checked just above), so no
        // other thread can be reading the environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
    Some(value)
}

/// Sets `name` to `value`, when the process is single-threaded. Returns
/// whether it did.
pub(crate) fn set_var(name: &str, value: &OsStr) -> bool {
    if !super::threads::is_single_threaded() {
        return false;
    }
    // SAFETY: single-threaded (checked just above): no concurrent reader.
    unsafe { std::env::set_var(name, value) };
    true
}
