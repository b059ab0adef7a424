//! Reading a process's user and group ids: real, effective *and* saved.
//!
//! `rustix` changes all three (`rustix::thread::set_thread_res_uid`) but
//! has no `getresuid`; this is the libc call, wrapped.

use std::io;

/// A `(real, effective, saved)` triple of user or group ids.
pub(crate) type Ids = (u32, u32, u32);

/// The calling thread's real, effective and saved user ids.
pub(crate) fn user_ids() -> io::Result<Ids> {
    let (mut real, mut effective, mut saved) = (0, 0, 0);
    // SAFETY: getresuid writes one uid_t through each of the three pointers,
    // which point at live locals of that type.
    let rc = unsafe { libc::getresuid(&mut real, &mut effective, &mut saved) };
    if rc == 0 {
        Ok((real, effective, saved))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's real, effective and saved group ids.
pub(crate) fn group_ids() -> io::Result<Ids> {
    let (mut real, mut effective, mut saved) = (0, 0, 0);
    // SAFETY: getresgid writes one gid_t through each of the three pointers,
    // which point at live locals of that type.
    let rc = unsafe { libc::getresgid(&mut real, &mut effective, &mut saved) };
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
