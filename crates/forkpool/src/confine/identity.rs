//! `run_as`: a worker becomes another user, for good.

use rustix::process::{Gid, Uid};
use rustix::thread::CapabilitySet;
use serde::{Deserialize, Serialize};

use crate::sys;

/// The user and group a worker runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// What the pool needs: changing a worker's ids to any others, then
/// signalling it (timeouts, shutdown) although it runs as another user.
const NEEDED: CapabilitySet = CapabilitySet::SETUID
    .union(CapabilitySet::SETGID)
    .union(CapabilitySet::KILL);

impl RunAs {
    /// Checked in the client by `build()`: the zygote and exec-started
    /// workers have the client's credentials, so what the client cannot do
    /// no worker can.
    pub(crate) fn check_client(&self) -> Result<(), String> {
        let effective = rustix::thread::capabilities(None)
            .map(|sets| sets.effective)
            .unwrap_or(CapabilitySet::empty());
        if effective.contains(NEEDED) {
            return Ok(());
        }
        let (_, euid, _) = sys::creds::user_ids().unwrap_or((u32::MAX, u32::MAX, u32::MAX));
        Err(format!(
            "run_as({}, {}) needs root (CAP_SETUID and CAP_SETGID to change the workers' ids, CAP_KILL to \
             stop them once they run as another user), and this process (effective uid {euid}) is missing \
             {:?}",
            self.uid,
            self.gid,
            NEEDED.difference(effective)
        ))
    }

    /// Drops to `uid`/`gid` in real, effective and saved ids, with no
    /// supplementary groups, then checks that every part took.
    ///
    /// The order matters: supplementary groups and the group id can only be
    /// changed while the process is still privileged, so they go first and
    /// the user id last. The calls are per thread (raw system calls, not
    /// glibc's process-wide broadcast); the caller makes sure the process
    /// has one thread.
    pub(crate) fn drop_privileges(&self) -> Result<(), String> {
        let uid = Uid::from_raw(self.uid);
        let gid = Gid::from_raw(self.gid);
        rustix::thread::set_thread_groups(&[])
            .map_err(|e| format!("cannot clear the supplementary groups (setgroups): {e}"))?;
        rustix::thread::set_thread_res_gid(gid, gid, gid)
            .map_err(|e| format!("cannot change the group id to {} (setresgid): {e}", self.gid))?;
        rustix::thread::set_thread_res_uid(uid, uid, uid)
            .map_err(|e| format!("cannot change the user id to {} (setresuid): {e}", self.uid))?;
        self.verify()
    }

    /// Checks, after the drop, what the task will see.
    fn verify(&self) -> Result<(), String> {
        let users = sys::creds::user_ids().map_err(|e| format!("cannot read the user ids back: {e}"))?;
        let groups = sys::creds::group_ids().map_err(|e| format!("cannot read the group ids back: {e}"))?;
        let want_users = (self.uid, self.uid, self.uid);
        let want_groups = (self.gid, self.gid, self.gid);
        if users != want_users || groups != want_groups {
            return Err(format!(
                "the ids did not all change: (real, effective, saved) user ids are {users:?} and group ids \
                 {groups:?}, not {want_users:?} and {want_groups:?}"
            ));
        }
        let supplementary =
            rustix::process::getgroups().map_err(|e| format!("cannot read the supplementary groups back: {e}"))?;
        if !supplementary.is_empty() {
            return Err(format!(
                "{} supplementary groups are left after setgroups",
                supplementary.len()
            ));
        }
        if self.uid != 0 {
            // A non-root uid normally loses every capability with the
            // change; securebits (SECBIT_KEEP_CAPS, NO_SETUID_FIXUP) set by
            // the client could keep them, and with them a way back to root.
            let sets =
                rustix::thread::capabilities(None).map_err(|e| format!("cannot read the capabilities back: {e}"))?;
            if !sets.effective.is_empty() || !sets.permitted.is_empty() {
                return Err(format!(
                    "capabilities survived the change to uid {} (securebits?): effective {:?}, permitted {:?}",
                    self.uid, sets.effective, sets.permitted
                ));
            }
        }
        Ok(())
    }
}
