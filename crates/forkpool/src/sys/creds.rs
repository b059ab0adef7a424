//! Reading a process's user and group ids: real, effective *and* saved.
//!
//! `rustix` changes all three (`rustix::thread::set_thread_res_uid`) but
//! has no `getresuid`; this is the libc call, wrapped.

use std::io;

/// A `(real, effective, saved)` triple of user or group ids.
pub(crate) type Ids = (u32, u32, u32);

/// The calling thread's real, effective and saved user ids.
pub(crate) fn user_ids() -> io::Result<Ids> {
    triple(libc::getresuid)
}

/// The calling thread's real, effective and saved group ids.
pub(crate) fn group_ids() -> io::Result<Ids> {
    triple(libc::getresgid)
}

/// `getresuid` or `getresgid` (`uid_t` and `gid_t` are both `u32`).
fn triple(get: unsafe extern "C" fn(*mut u32, *mut u32, *mut u32) -> libc::c_int) -> io::Result<Ids> {
    let (mut real, mut effective, mut saved) = (0, 0, 0);
    // SAFETY: `get` is getresuid or getresgid, which write one id through
    // each of the three pointers; they point at live `u32` locals.
    let rc = unsafe { get(&mut real, &mut effective, &mut saved) };
    if rc == 0 {
        Ok((real, effective, saved))
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_the_single_id_getters() {
        let (real, effective, _) = user_ids().unwrap();
        assert_eq!(real, rustix::process::getuid().as_raw());
        assert_eq!(effective, rustix::process::geteuid().as_raw());
        let (real, effective, _) = group_ids().unwrap();
        assert_eq!(real, rustix::process::getgid().as_raw());
        assert_eq!(effective, rustix::process::getegid().as_raw());
    }
}
