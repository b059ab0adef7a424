//! Any program built with forkpool serves as a node when started with
//! [`NODE_ENV`] set: how `forkpool node PROGRAM` starts one, with no
//! `--node` flag of the program's own.
//!
//! The check runs in the constructor that also turns re-executed copies
//! into zygotes and workers (`sys/hook.rs`), before `main`: the program's
//! own `main` never runs in a node started this way.

use std::ffi::OsString;
use std::io::Write as _;

use super::Node;
use crate::error::{Error, ErrorKind};
use crate::sys;

/// The variable that makes a forkpool program a node: the broker's URL
/// (`redis://user:password@host:port/db`, or `rediss://` with the `tls`
/// feature).
///
/// When a program built with forkpool starts with it set, it runs
/// [`Node::builder`]`(url).run()` instead of its `main`, serving its
/// `#[forkpool::remote]` functions until SIGTERM or SIGINT, and exits
/// with status 0 (or 1, after printing why, if the node failed). The
/// variables are removed from the environment first, so the node's
/// workers do not see the password. The `forkpool node` command sets them.
pub const NODE_ENV: &str = "FORKPOOL_NODE";
/// With [`NODE_ENV`]: the node's worker count (default: the available
/// parallelism).
pub const NODE_WORKERS_ENV: &str = "FORKPOOL_NODE_WORKERS";
/// With [`NODE_ENV`]: a file holding the CA certificate (PEM) to trust for
/// `rediss://` instead of the system's roots (needs the `tls` feature).
pub const NODE_CA_FILE_ENV: &str = "FORKPOOL_NODE_CA_FILE";

/// Bytes every program built with forkpool's `cluster` feature carries, so
/// that `forkpool node PROGRAM` can tell, without running it, that the
/// program will serve as a node rather than run its `main` with the
/// broker's password in its environment.
pub const NODE_MARKER: &[u8] = b"forkpool-cluster-node-v1:FORKPOOL_NODE";

/// The marker, kept in the binary: the hook below reads it.
#[used]
static MARKER: [u8; NODE_MARKER.len()] = {
    let mut bytes = [0u8; NODE_MARKER.len()];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = NODE_MARKER[i];
        i += 1;
    }
    bytes
};

/// Runs a node and exits when [`NODE_ENV`] is set; returns at once
/// otherwise.
pub(crate) fn divert_if_asked() {
    std::hint::black_box(&MARKER);
    let Some(url) = sys::env::take_var(NODE_ENV) else {
        return;
    };
    let workers = sys::env::take_var(NODE_WORKERS_ENV);
    let ca_file = sys::env::take_var(NODE_CA_FILE_ENV);
    // As Rust's runtime does before `main`, which has not run: a broken
    // connection is an error to handle, not a signal that kills the node.
    let _ = sys::abort::ignore_sigpipe();
    let code = match builder(url, workers, ca_file).and_then(super::NodeBuilder::run) {
        Ok(()) => 0,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "forkpool node: {error}");
            1
        }
    };
    std::process::exit(code)
}

fn builder(url: OsString, workers: Option<OsString>, ca_file: Option<OsString>) -> Result<super::NodeBuilder, Error> {
    let invalid = |message: String| Error::new(ErrorKind::InvalidConfig, message);
    let url = url
        .into_string()
        .map_err(|_| invalid(format!("{NODE_ENV} is not valid UTF-8")))?;
    let mut node = Node::builder(url);
    if let Some(workers) = workers {
        let count = workers
            .to_str()
            .and_then(|w| w.trim().parse::<usize>().ok())
            .filter(|&w| w > 0)
            .ok_or_else(|| invalid(format!("{NODE_WORKERS_ENV} must be a positive number, not {workers:?}")))?;
        node = node.workers(count);
    }
    if let Some(path) = ca_file {
        node = with_ca_file(node, path)?;
    }
    Ok(node)
}

#[cfg(feature = "tls")]
fn with_ca_file(node: super::NodeBuilder, path: OsString) -> Result<super::NodeBuilder, Error> {
    let pem = std::fs::read(&path).map_err(|e| Error::io(format!("cannot read {NODE_CA_FILE_ENV} {path:?}"), e))?;
    Ok(node.tls_root_cert(pem))
}

#[cfg(not(feature = "tls"))]
fn with_ca_file(_: super::NodeBuilder, _: OsString) -> Result<super::NodeBuilder, Error> {
    Err(Error::new(
        ErrorKind::InvalidConfig,
        format!("{NODE_CA_FILE_ENV} is set, but this program was built without forkpool's `tls` feature"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_must_be_a_positive_number() {
        for bad in ["0", "-1", "eight", ""] {
            let error = builder("redis://h".into(), Some(bad.into()), None).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{bad}");
            assert!(error.to_string().contains(NODE_WORKERS_ENV), "{error}");
        }
        assert!(builder("redis://h".into(), Some(" 8 ".into()), None).is_ok());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn a_ca_file_needs_the_tls_feature() {
        let error = builder("rediss://h".into(), None, Some("/ca.pem".into())).unwrap_err();
        assert!(error.to_string().contains("`tls` feature"), "{error}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_missing_ca_file_is_an_error() {
        let error = builder("rediss://h".into(), None, Some("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(error.to_string().contains(NODE_CA_FILE_ENV), "{error}");
    }
}
