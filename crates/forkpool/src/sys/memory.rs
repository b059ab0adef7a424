//! Where a worker learns how much memory it holds, for `memory_limit`.
//!
//! The limit is `RLIMIT_DATA` set to the worker's data segment at start
//! plus the limit, so the worker must read its data segment size
//! (`VmData`). Linux shows it only in `/proc/self/status`; a worker that
//! cannot read it cannot enforce any limit, its pool's or a task's. The
//! source sits behind [`DataSegment`] so that the unreadable case can be
//! exercised in tests.

use std::io;
use std::os::fd::AsFd;

/// A source of the process's data segment size.
pub(crate) trait DataSegment {
    /// The data segment's size in bytes, now.
    fn bytes(&mut self) -> io::Result<u64>;
}

/// `/proc/self/status`, opened once (before a sandbox may deny `/proc`)
/// and read again from its start each time.
#[derive(Debug)]
pub(crate) struct ProcStatus(std::fs::File);

impl ProcStatus {
    pub(crate) fn open() -> io::Result<ProcStatus> {
        std::fs::File::open("/proc/self/status")
            .map(ProcStatus)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open /proc/self/status: {e}")))
    }
}

impl DataSegment for ProcStatus {
    fn bytes(&mut self) -> io::Result<u64> {
        let mut text = Vec::with_capacity(2048);
        let mut buf = [0u8; 4096];
        loop {
            let n = rustix::io::pread(self.0.as_fd(), &mut buf, text.len() as u64).map_err(|e| {
                io::Error::new(io::Error::from(e).kind(), format!("cannot read /proc/self/status: {e}"))
            })?;
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        vm_data_bytes(&String::from_utf8_lossy(&text))
    }
}

/// `VmData` of a `/proc/PID/status` text, in bytes.
pub(crate) fn vm_data_bytes(status: &str) -> io::Result<u64> {
    status
        .lines()
        .find_map(|line| {
            let kb = line.strip_prefix("VmData:")?.trim().strip_suffix("kB")?.trim();
            kb.parse::<u64>().ok()
        })
        .map(|kb| kb.saturating_mul(1024))
        .ok_or_else(|| io::Error::other("/proc/self/status shows no VmData"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_data_is_read_in_bytes() {
        let text = "Name:\tx\nVmPeak:\t  100 kB\nVmData:\t    2048 kB\nVmStk:\t 132 kB\n";
        assert_eq!(vm_data_bytes(text).unwrap(), 2048 * 1024);
        assert!(vm_data_bytes("Name:\tx\nVmRSS:\t 1 kB\n").is_err());
        assert!(vm_data_bytes("VmData:\t lots kB\n").is_err());
    }

    #[test]
    fn this_process_shows_its_data_segment() {
        let mut source = ProcStatus::open().unwrap();
        assert!(source.bytes().unwrap() > 0);
        // Read again from the start, not from where the last read ended.
        assert!(source.bytes().unwrap() > 0);
    }
}
