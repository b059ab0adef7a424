//! What a worker reports about a task that panicked: the message, where
//! it panicked, and (when `RUST_BACKTRACE` asks for one) the backtrace.
//!
//! The report is the body of a `Panicked` result record, encoded with
//! `postcard`. A body that does not decode is taken as a bare message, so
//! that nothing a worker sends can turn a panic into a protocol error.

use serde::{Deserialize, Serialize};

use crate::error::TaskError;

/// The longest location kept (a path, a line and a column).
pub(crate) const MAX_LOCATION: usize = 1024;

/// See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PanicReport {
    pub(crate) message: String,
    /// `file:line:column`, when the panic went through the panic hook.
    pub(crate) location: Option<String>,
    /// The worker's backtrace, when backtraces are enabled.
    pub(crate) backtrace: Option<String>,
}

impl PanicReport {
    /// Appends the encoded report to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        match postcard::to_allocvec(self) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            // Strings always encode; keep at least the message.
            Err(_) => out.extend_from_slice(self.message.as_bytes()),
        }
    }

    /// Decodes a record body, leniently.
    pub(crate) fn decode(bytes: &[u8]) -> PanicReport {
        match postcard::from_bytes::<PanicReport>(bytes) {
            Ok(report) => report,
            Err(_) => PanicReport {
                message: String::from_utf8_lossy(bytes).into_owned(),
                ..PanicReport::default()
            },
        }
    }

    /// The error a task that panicked ends with.
    pub(crate) fn into_error(self) -> TaskError {
        TaskError::Panicked {
            message: self.message,
            location: self.location,
            backtrace: self.backtrace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_garbage_is_a_message() {
        let report = PanicReport {
            message: "boom".into(),
            location: Some("src/lib.rs:3:9".into()),
            backtrace: Some("   0: main\n".into()),
        };
        let mut out = vec![7];
        report.encode_into(&mut out);
        assert_eq!(PanicReport::decode(&out[1..]), report);
        let bare = PanicReport::decode(b"\xff\xffplain");
        assert!(bare.message.ends_with("plain") && bare.location.is_none());
    }
}
