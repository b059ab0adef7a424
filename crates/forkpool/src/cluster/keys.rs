//! The names of everything the cluster keeps in Redis, all under `fp:`.
//!
//! ```text
//! fp:{CLIENT}:q:NAME:HASH   stream: one client's tasks for one function
//!                           (consumer group `fp-nodes`); TTL, refreshed
//! fp:{CLIENT}:r             stream: that client's results; TTL, refreshed
//! fp:{CLIENT}:a             stream: that client's aborted task ids, capped;
//!                           TTL, refreshed
//! fp:queues                 sorted set: task streams nodes should read,
//!                           scored by when their lease ends (server ms)
//! fp:offer:NAME             sorted set: `HASH NODE WORKERS` per node that
//!                           serves NAME, scored by when its lease ends
//! ```
//!
//! `{CLIENT}` is a Redis Cluster hash tag: every key of one client lands
//! in one slot, so one node's `XREADGROUP` over a client's streams never
//! crosses slots.

/// The consumer group nodes read task streams with.
pub(crate) const GROUP: &str = "fp-nodes";
/// The consumer name a client's reaper claims stale entries under.
pub(crate) const REAPER: &str = "fp-reaper";
/// The directory of live task streams.
pub(crate) const QUEUES: &str = "fp:queues";

/// A client's result stream.
pub(crate) fn results(client: &str) -> String {
    format!("fp:{{{client}}}:r")
}

/// A client's stream of aborted tasks (`Task::abort`), which nodes running
/// its tasks read.
pub(crate) fn aborts(client: &str) -> String {
    format!("fp:{{{client}}}:a")
}

/// A client's task stream for one function.
pub(crate) fn queue(client: &str, name: &str, type_hash: u64) -> String {
    format!("fp:{{{client}}}:q:{name}:{type_hash:016x}")
}

/// The directory of nodes serving `name`.
pub(crate) fn offers(name: &str) -> String {
    format!("fp:offer:{name}")
}

/// A task stream's key, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueKey<'a> {
    pub(crate) client: &'a str,
    pub(crate) name: &'a str,
    pub(crate) type_hash: u64,
}

impl QueueKey<'_> {
    /// The result stream of the client that owns this task stream.
    pub(crate) fn results(&self) -> String {
        results(self.client)
    }
}

/// Parses `fp:{CLIENT}:q:NAME:HASH`.
pub(crate) fn parse_queue(key: &str) -> Option<QueueKey<'_>> {
    let rest = key.strip_prefix("fp:{")?;
    let (client, rest) = rest.split_once("}:q:")?;
    let (name, hash) = rest.rsplit_once(':')?;
    if client.is_empty() || client.contains(['{', '}']) || name.is_empty() || hash.len() != 16 {
        return None;
    }
    Some(QueueKey {
        client,
        name,
        type_hash: u64::from_str_radix(hash, 16).ok()?,
    })
}

/// An offer's member in `fp:offer:NAME`: `HASH NODE WORKERS`.
pub(crate) fn offer_member(type_hash: u64, node: &str, workers: usize) -> String {
    format!("{type_hash:016x} {node} {workers}")
}

/// A parsed offer member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    pub(crate) type_hash: u64,
    pub(crate) node: String,
    pub(crate) workers: usize,
}

/// Parses `HASH NODE WORKERS`.
pub(crate) fn parse_offer(member: &str) -> Option<Offer> {
    let mut parts = member.split(' ');
    let type_hash = u64::from_str_radix(parts.next()?, 16).ok()?;
    let node = parts.next()?.to_owned();
    let workers = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Offer {
        type_hash,
        node,
        workers,
    })
}

/// A name for this process, unique enough to tell clients and nodes apart
/// in keys and messages: `HOST:PID:RANDOM`, restricted to characters safe
/// in a key and a hash tag.
pub(crate) fn process_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(48)
        .collect();
    let host = if host.is_empty() { "host".to_owned() } else { host };
    // RandomState is seeded from the OS's randomness.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{host}:{}:{:08x}", std::process::id(), hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_round_trip() {
        let key = queue("web1:42:abcd0123", "app::resize", 0xdead_beef);
        assert_eq!(key, "fp:{web1:42:abcd0123}:q:app::resize:00000000deadbeef");
        let parsed = parse_queue(&key).unwrap();
        assert_eq!(parsed.client, "web1:42:abcd0123");
        assert_eq!(parsed.name, "app::resize");
        assert_eq!(parsed.type_hash, 0xdead_beef);
        assert_eq!(parsed.results(), "fp:{web1:42:abcd0123}:r");
        assert!(parse_queue("fp:{x}:r").is_none());
        assert!(parse_queue("fp:{x}:q:name:zz").is_none());
        assert!(parse_queue("other:{x}:q:n:00000000deadbeef").is_none());
    }

    #[test]
    fn offers_round_trip() {
        let m = offer_member(7, "n1:9:ff", 8);
        assert_eq!(
            parse_offer(&m),
            Some(Offer {
                type_hash: 7,
                node: "n1:9:ff".into(),
                workers: 8
            })
        );
        assert_eq!(parse_offer("07 n1"), None);
        assert_eq!(parse_offer("07 n1 2 extra"), None);
    }

    #[test]
    fn process_ids_are_safe_in_keys_and_differ() {
        let a = process_id();
        let b = process_id();
        assert_ne!(a, b);
        assert!(!a.contains(['{', '}', ' ']), "{a}");
        assert_eq!(a.split(':').count(), 3, "{a}");
    }
}
