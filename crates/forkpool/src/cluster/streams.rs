//! Reading Redis replies about streams: `XREAD`/`XREADGROUP` (a list of
//! streams, each a list of entries), `XCLAIM` (a list of entries) and
//! `XPENDING` (a list of `[id, consumer, idle, deliveries]`). Accepts both
//! RESP2 arrays and RESP3 maps; anything else reads as nothing, never a
//! panic.

use redis::Value;

/// One stream entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    /// `None` for an entry that was deleted while pending.
    pub(crate) fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Entry {
    /// The value of field `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Takes the value of field `name` out.
    pub(crate) fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        let fields = self.fields.as_mut()?;
        let at = fields.iter().position(|(k, _)| k == name.as_bytes())?;
        Some(std::mem::take(&mut fields[at].1))
    }
}

/// A string-ish reply.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => Vec::new(),
    }
}

/// An entry: `[id, [field, value, ...]]` (or `[id, nil]`).
fn entry(v: Value) -> Option<Entry> {
    let mut parts = list(v).into_iter();
    let id = text(&parts.next()?)?;
    let fields = match parts.next() {
        Some(Value::Array(flat)) => {
            let mut fields = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                fields.push((bytes(k)?, bytes(v)?));
            }
            Some(fields)
        }
        Some(Value::Map(pairs)) => Some(
            pairs
                .into_iter()
                .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
                .collect(),
        ),
        _ => None,
    };
    Some(Entry { id, fields })
}

/// A list of entries (`XRANGE`, `XCLAIM`).
pub(crate) fn entries(v: Value) -> Vec<Entry> {
    list(v).into_iter().filter_map(entry).collect()
}

/// An `XREAD`/`XREADGROUP` reply: entries per stream key. Nil (nothing
/// arrived before the block timed out) is empty.
pub(crate) fn read_reply(v: Value) -> Vec<(String, Vec<Entry>)> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(pairs) => pairs,
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| {
                let mut kv = list(s).into_iter();
                Some((kv.next()?, kv.next()?))
            })
            .collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((text(&k)?, entries(v))))
        .collect()
}

/// One line of an extended `XPENDING` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) id: String,
    pub(crate) consumer: String,
}

/// An extended `XPENDING` reply.
pub(crate) fn pending_reply(v: Value) -> Vec<Pending> {
    list(v)
        .into_iter()
        .filter_map(|line| {
            let mut parts = list(line).into_iter();
            Some(Pending {
                id: text(&parts.next()?)?,
                consumer: text(&parts.next()?)?,
            })
        })
        .collect()
}

/// A list of strings (`ZRANGE`, `XCLAIM ... JUSTID`).
pub(crate) fn strings(v: Value) -> Vec<String> {
    list(v).iter().filter_map(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_xread_replies_in_both_protocols() {
        let e = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("t"), bulk("7"), bulk("h"), bulk("x")]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("k"), Value::Array(vec![e.clone()])])]);
        let resp3 = Value::Map(vec![(bulk("k"), Value::Array(vec![e]))]);
        for reply in [resp2, resp3] {
            let got = read_reply(reply);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, "k");
            let entry = &got[0].1[0];
            assert_eq!(entry.id, "1-0");
            assert_eq!(entry.field("t"), Some(b"7".as_slice()));
            assert_eq!(entry.field("h"), Some(b"x".as_slice()));
            assert_eq!(entry.field("p"), None);
        }
        assert!(read_reply(Value::Nil).is_empty());
    }

    #[test]
    fn deleted_and_malformed_entries_do_not_panic() {
        let deleted = Value::Array(vec![bulk("2-0"), Value::Nil]);
        let got = entries(Value::Array(vec![deleted, Value::Int(3), Value::Array(vec![])]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].fields, None);
        assert_eq!(got[0].field("t"), None);
        let pending = pending_reply(Value::Array(vec![Value::Array(vec![
            bulk("3-0"),
            bulk("node"),
            Value::Int(5),
            Value::Int(1),
        ])]));
        assert_eq!(pending[0].consumer, "node");
        assert!(pending_reply(Value::Okay).is_empty());
    }
}
