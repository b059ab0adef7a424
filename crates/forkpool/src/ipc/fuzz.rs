//! Entry points for fuzzing what crosses a process boundary: the frames
//! on a worker's socket and the zygote's control messages.
//!
//! Both sides treat these bytes as untrusted (a compromised worker writes
//! what it likes). The `cargo fuzz` targets under `crates/forkpool/fuzz/`
//! call these functions with the fuzzer's bytes (the `fuzzing` feature
//! makes them public); the property tests below call them with random and
//! mutated streams on every `cargo test`. Whatever the bytes, each call
//! returns: no panic, no hang, no unbounded allocation.

use super::codec;
use super::control::{FromZygote, ToZygote};
use super::frame::FrameReader;
use super::panic::PanicReport;
use super::protocol::{self, FromWorker, Items, Records, Tag, ToWorker};

/// The largest frame body the fuzzed reader accepts.
const MAX_BODY: usize = 1 << 20;

/// Feeds `data` to a frame reader in pieces (the first byte sets their
/// size, so that frames arrive cut anywhere), and takes every frame apart
/// as the supervisor and a worker would: frames, items, records, panic
/// reports and values.
pub fn frames(data: &[u8]) {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let mut reader = FrameReader::new(MAX_BODY);
    for chunk in data.chunks(usize::from(piece).max(1)) {
        reader.push(chunk);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    if frame.kind & !super::frame::ATTACHED < 10 {
                        to_worker(protocol::parse_to_worker(frame));
                    } else {
                        from_worker(protocol::parse_from_worker(frame));
                    }
                }
                Ok(None) => break,
                // A reader that failed is dropped with its worker.
                Err(_) => return,
            }
        }
    }
    let _ = reader.finish();
}

fn to_worker(parsed: Result<ToWorker<'_>, super::frame::FrameError>) {
    if let Ok(ToWorker::Run(run)) = parsed {
        for item in Items::new(run.items, run.count) {
            let Ok(item) = item else { break };
            let _ = codec::decode::<(u64, String, Vec<u32>)>(&item, Vec::new(), MAX_BODY);
        }
    }
}

fn from_worker(parsed: Result<FromWorker<'_>, super::frame::FrameError>) {
    if let Ok(FromWorker::Results(results)) = parsed {
        for record in Records::new(results.records) {
            let Ok(record) = record else { break };
            match record.tag {
                Tag::Ok => {
                    let _ = codec::decode::<Option<(String, Vec<u8>)>>(&record.item, Vec::new(), MAX_BODY);
                }
                Tag::Panicked => {
                    let _ = PanicReport::decode(record.item.inline).into_error();
                }
                Tag::Codec | Tag::Cancelled => {}
            }
        }
    }
}

/// Decodes `data` as a message of the zygote's control channel, either
/// way, as the zygote and the supervisor do on receipt.
pub fn control(data: &[u8]) {
    if data.len() > super::control::MAX_MESSAGE {
        // Longer datagrams are cut by the receive buffer.
        return;
    }
    let _ = postcard::from_bytes::<ToZygote>(data);
    let _ = postcard::from_bytes::<FromZygote>(data);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ipc::outbox::Outbox;
    use crate::ipc::protocol::ResultsWriter;
    use crate::shm::lanes::{Lanes, Release};

    /// A valid stream of every frame kind a socket carries.
    fn valid_stream() -> Vec<u8> {
        let lanes = Lanes::new(Release::Unreferenced);
        let mut out = Outbox::default();
        protocol::write_ready(out.buf(), 4242).unwrap();
        protocol::write_limits(out.buf(), Some(1 << 20)).unwrap();
        let mut w = ResultsWriter::begin(out.buf(), 7, 0);
        for v in [Some(("a".to_string(), vec![1u8, 2])), None] {
            w.record(out.buf(), Tag::Ok, |o, fds| {
                codec::encode(
                    &v,
                    codec::Sink {
                        out: o,
                        fds,
                        limit: 1 << 20,
                        lanes: &lanes,
                    },
                )
                .map(drop)
            })
            .unwrap();
        }
        w.inline_record(out.buf(), Tag::Panicked, b"boom");
        w.finish(&mut out, 5).unwrap();
        let mut items = Vec::new();
        let mut fds = Vec::new();
        let sink = codec::Sink {
            out: &mut items,
            fds: &mut fds,
            limit: 1 << 20,
            lanes: &lanes,
        };
        codec::encode(&(1u64, "x".to_string(), vec![3u32]), sink).unwrap();
        protocol::write_run(&mut out, 9, 1234, 1, &items, &[]).unwrap();
        out.buf().clone()
    }

    /// Valid control messages, encoded.
    fn valid_messages() -> Vec<Vec<u8>> {
        vec![
            postcard::to_allocvec(&ToZygote::Spawn { worker: 3 }).unwrap(),
            postcard::to_allocvec(&ToZygote::Kill { worker: 3 }).unwrap(),
            postcard::to_allocvec(&ToZygote::Terminate { worker: 3 }).unwrap(),
            postcard::to_allocvec(&FromZygote::Spawned { worker: 1, pid: 77 }).unwrap(),
            postcard::to_allocvec(&FromZygote::PreloadFailed { message: "no".into() }).unwrap(),
        ]
    }

    #[test]
    fn valid_input_is_taken_apart_whole() {
        let stream = valid_stream();
        let mut reader = FrameReader::new(MAX_BODY);
        reader.push(&stream);
        let mut kinds = Vec::new();
        while let Some(frame) = reader.next_frame().unwrap() {
            kinds.push(frame.kind & !crate::ipc::frame::ATTACHED);
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        for piece in [0u8, 1, 7, 255] {
            let mut data = vec![piece];
            data.extend_from_slice(&stream);
            frames(&data);
        }
        for message in valid_messages() {
            control(&message);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_are_frames_that_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            frames(&data);
            control(&data);
        }

        #[test]
        fn mutated_streams_fail_cleanly(
            piece in any::<u8>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut stream = valid_stream();
            for (at, byte) in flips {
                let i = at.index(stream.len());
                stream[i] = byte;
            }
            stream.truncate(cut.index(stream.len() + 1));
            let mut data = vec![piece];
            data.extend_from_slice(&stream);
            frames(&data);
        }

        #[test]
        fn mutated_control_messages_fail_cleanly(
            which in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            extra in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let messages = valid_messages();
            let mut message = messages[which.index(messages.len())].clone();
            for (at, byte) in flips {
                let i = at.index(message.len());
                message[i] = byte;
            }
            message.extend_from_slice(&extra);
            control(&message);
        }
    }
}
