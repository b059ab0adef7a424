//! Codec errors say why: the user's own serde message, and an argument over
//! `max_message_size` refused before it is encoded whole.

use std::sync::atomic::{AtomicU64, Ordering};

use forkpool::{Pool, TaskError};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes as a `u32`; refuses to serialize 13, and to deserialize 7.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Picky(u32);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 13 {
            return Err(serde::ser::Error::custom("13 is unlucky"));
        }
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
        let n = u32::deserialize(d)?;
        if n == 7 {
            return Err(serde::de::Error::custom(format!("{n} is too holy")));
        }
        Ok(Picky(n))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    lines: Vec<(String, Picky)>,
}

fn codec_message<T: std::fmt::Debug>(result: Result<T, TaskError>) -> String {
    match result {
        Err(TaskError::Codec { message }) => message,
        other => panic!("expected a codec error, got {other:?}"),
    }
}

#[test]
fn serde_messages_reach_the_caller_from_every_side() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let order = |n| Order {
        id: 1,
        lines: vec![("a".into(), Picky(1)), ("b".into(), Picky(n))],
    };

    // The argument does not encode, in the caller.
    let message = codec_message(pool.submit(|o: Order| o.id, order(13)).join());
    assert!(message.contains("13 is unlucky"), "{message}");

    // The argument does not decode, in the worker: 7 encodes, but does not
    // decode.
    let message = codec_message(pool.submit(|o: Order| o.id, order(7)).join());
    assert!(message.contains("7 is too holy"), "{message}");

    // The result does not encode, in the worker.
    let message = codec_message(pool.submit(|n: u32| vec![Picky(1), Picky(n)], 13).join());
    assert!(message.contains("13 is unlucky"), "{message}");

    // The result does not decode, in the caller.
    let message = codec_message(pool.submit(|n: u32| -> Picky { Picky(n) }, 7).join());
    assert!(message.contains("7 is too holy"), "{message}");

    // In `map` too.
    let results: Vec<_> = pool.map(|n: u32| Picky(n), [1, 7, 2]).collect();
    assert_eq!(results[0], Ok(Picky(1)));
    assert!(codec_message(results[1].clone()).contains("7 is too holy"));
    assert_eq!(results[2], Ok(Picky(2)));
}

static ENCODED: AtomicU64 = AtomicU64::new(0);

/// A long sequence that counts the elements it hands to the serializer.
struct Counted(u64);

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0 as usize))?;
        for _ in 0..self.0 {
            ENCODED.fetch_add(1, Ordering::Relaxed);
            seq.serialize_element(&0xABu8)?;
        }
        seq.end()
    }
}

#[test]
fn an_argument_over_the_limit_is_refused_before_it_is_encoded_whole() {
    let limit = 64 << 10;
    let pool = Pool::builder().workers(1).max_message_size(limit).build().unwrap();
    // 64 MiB of elements against a 64 KiB limit.
    let task = pool.submit(|v: CountedVec| v.0.0, CountedVec(Counted(64 << 20)));
    let message = codec_message(task.join());
    assert!(message.contains("message size limit"), "{message}");
    let encoded = ENCODED.load(Ordering::Relaxed);
    assert!(
        encoded <= 2 * limit as u64,
        "{encoded} elements were encoded for a limit of {limit} bytes"
    );
}

/// Sent as a `Vec<u8>`.
struct CountedVec(Counted);

impl Serialize for CountedVec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CountedVec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CountedVec, D::Error> {
        let v = Vec::<u8>::deserialize(d)?;
        Ok(CountedVec(Counted(v.len() as u64)))
    }
}

/// Decodes only from a self-describing format: postcard cannot.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u64),
    Text(String),
}

#[test]
fn a_type_postcard_cannot_decode_is_named_with_the_reason_and_the_pool_goes_on() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let needs_any = |message: &str, name: &str| {
        assert!(
            message.contains(&format!(
                "postcard cannot decode `{name}`: it needs a self-describing format (deserialize_any)"
            )),
            "{message}"
        );
    };

    // An argument, decoded in the worker.
    let value = serde_json::json!({"id": 1, "tags": ["a", "b"]});
    let message = codec_message(pool.submit(|v: serde_json::Value| v.is_object(), value).join());
    assert!(message.contains("argument"), "{message}");
    needs_any(&message, "serde_json::value::Value");

    // A result, decoded in the caller; the innermost type is named.
    let message = codec_message(pool.submit(|n: u64| (n, vec![Loose::Number(n)]), 3).join());
    needs_any(&message, "codec_errors::Loose");

    // Items of `map`, each failing alone; the worker is the same.
    let pid = pool.worker_pids()[0];
    let results: Vec<_> = pool.map(|n: u64| Loose::Number(n), [1, 2]).collect();
    assert_eq!(results.len(), 2);
    for result in results {
        needs_any(&codec_message(result), "codec_errors::Loose");
    }
    assert_eq!(pool.submit(|n: u64| n + 1, 1).join(), Ok(2));
    assert_eq!(pool.worker_pids(), vec![pid]);
}
