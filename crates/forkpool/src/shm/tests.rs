//! Shared buffers through a real pool, with the descriptors a confused or
//! hostile peer could send instead of sealed memfds. (Inside the crate,
//! because only here can a test forge such a buffer.)

use std::os::fd::OwnedFd;
use std::sync::Arc;

use super::{Segment, SharedBytes};
use crate::sys::memfd::{self, Draft};
use crate::{Pool, TaskError};

/// A `SharedBytes` around `fd`, announced as `len` bytes, unchecked.
fn forged(fd: OwnedFd, len: usize) -> SharedBytes {
    SharedBytes::from_segment(Arc::new(Segment::bogus(fd, len)))
}

fn pipe_end() -> OwnedFd {
    rustix::pipe::pipe().unwrap().0
}

fn unsealed_memfd(len: usize) -> OwnedFd {
    let fd = memfd::create(c"forkpool-test").unwrap();
    rustix::fs::ftruncate(&fd, len as u64).unwrap();
    fd
}

fn size_sealed_memfd(len: usize) -> OwnedFd {
    let fd = unsealed_memfd(len);
    rustix::fs::fcntl_add_seals(&fd, rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW).unwrap();
    fd
}

fn sealed_memfd(len: usize) -> OwnedFd {
    let (sealed, _view) = Draft::zeroed(c"forkpool-test", len).unwrap().freeze();
    rustix::io::dup(sealed.fd()).unwrap()
}

/// Every bad descriptor, with the words its error must contain.
fn bad_buffers() -> Vec<(SharedBytes, &'static str)> {
    vec![
        (forged(pipe_end(), 0), "not a memfd"),
        (
            forged(std::fs::File::open("/proc/self/exe").unwrap().into(), 10),
            "not a memfd",
        ),
        (forged(unsealed_memfd(64), 64), "not sealed"),
        (forged(size_sealed_memfd(64), 64), "F_SEAL_WRITE"),
        (
            forged(sealed_memfd(64), 100),
            "holds 64 bytes but the message announced 100",
        ),
    ]
}

fn codec_message<T: std::fmt::Debug>(result: Result<T, TaskError>) -> String {
    match result {
        Err(TaskError::Codec { message }) => message,
        other => panic!("expected a codec error, got {other:?}"),
    }
}

#[test]
fn bad_descriptors_in_an_argument_fail_that_task_alone() {
    let pool = Pool::builder().workers(1).build().unwrap();
    for (bad, words) in bad_buffers() {
        let good = SharedBytes::copy_from(b"fine").unwrap();
        let task = pool.submit(|(a, b): (SharedBytes, SharedBytes)| a.len() + b.len(), (good, bad));
        let message = codec_message(task.join());
        assert!(message.contains("cannot decode the argument"), "{message}");
        assert!(message.contains(words), "{message} should say {words:?}");
        // The same worker goes on.
        let ok = pool.submit(|b: SharedBytes| b.len(), SharedBytes::copy_from(b"abc").unwrap());
        assert_eq!(ok.join(), Ok(3));
    }
}

#[test]
fn bad_descriptors_in_a_result_fail_that_task_alone() {
    let pool = Pool::builder().workers(1).build().unwrap();
    type Maker = fn() -> SharedBytes;
    let makers: [(Maker, &str); 4] = [
        (|| forged(pipe_end(), 0), "not a memfd"),
        (|| forged(unsealed_memfd(64), 64), "not sealed"),
        (|| forged(size_sealed_memfd(64), 64), "F_SEAL_WRITE"),
        (|| forged(sealed_memfd(64), 65), "holds 64 bytes"),
    ];
    for (index, (_, words)) in makers.iter().enumerate() {
        let task = pool.submit(
            |index: usize| {
                let makers: [Maker; 4] = [
                    || forged(pipe_end(), 0),
                    || forged(unsealed_memfd(64), 64),
                    || forged(size_sealed_memfd(64), 64),
                    || forged(sealed_memfd(64), 65),
                ];
                Some(makers[index]())
            },
            index,
        );
        let message = codec_message(task.join());
        assert!(message.contains("cannot decode the result"), "{message}");
        assert!(message.contains(words), "{message} should say {words:?}");
    }
    assert_eq!(pool.submit(|x: u8| x, 9).join(), Ok(9));
}

#[test]
fn a_bad_buffer_in_a_map_fails_its_item_only() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let inputs: Vec<SharedBytes> = (0..20)
        .map(|i| {
            if i == 7 {
                forged(pipe_end(), 3)
            } else {
                SharedBytes::copy_from(&vec![1u8; i]).unwrap()
            }
        })
        .collect();
    let results: Vec<_> = pool.map(|b: SharedBytes| b.len(), inputs).collect();
    for (i, result) in results.into_iter().enumerate() {
        if i == 7 {
            assert!(codec_message(result).contains("not a memfd"));
        } else {
            assert_eq!(result, Ok(i));
        }
    }
}

#[test]
fn an_out_of_line_body_that_is_not_a_sealed_memfd_of_its_size_is_refused() {
    use crate::ipc::codec;
    use crate::ipc::protocol::Item;
    let item = |size| {
        Item::out_of_line_body(
            crate::ipc::protocol::OutOfLine {
                len: size,
                board: false,
            },
            0,
        )
    };
    let cases: Vec<(Option<OwnedFd>, u64, &str)> = vec![
        (None, 10, "missing"),
        (Some(pipe_end()), 10, "not a memfd"),
        (Some(unsealed_memfd(10)), 10, "not sealed"),
        (Some(sealed_memfd(10)), 11, "holds 10 bytes"),
        (Some(sealed_memfd(10)), 1 << 40, "over the pool's message size limit"),
    ];
    for (fd, size, words) in cases {
        let err = codec::decode::<Vec<u8>>(&item(size), vec![fd], 1 << 30).unwrap_err();
        assert!(err.message().contains(words), "{err:?} should say {words:?}");
    }
}

#[test]
fn a_bad_buffer_in_a_stream_item_ends_the_stream_after_the_items_before_it() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let worker = pool.worker_pids();
    let items: Vec<_> = pool
        .stream(
            |n: u8| {
                (0..n).map(|i| match i {
                    2 => forged(pipe_end(), 0),
                    _ => SharedBytes::copy_from(&[i; 3]).unwrap(),
                })
            },
            5,
        )
        .collect();
    assert_eq!(items.len(), 3, "two items, the error, then the end: {items:?}");
    let mut items = items.into_iter();
    assert_eq!(items.next().unwrap().unwrap()[..], [0; 3]);
    assert_eq!(items.next().unwrap().unwrap()[..], [1; 3]);
    let message = codec_message(items.next().unwrap());
    assert!(message.contains("cannot decode a stream item"), "{message}");
    assert!(message.contains("not a memfd"), "{message}");
    // The pool goes on, on the same worker.
    assert_eq!(pool.submit(|x: u8| x + 1, 1).join(), Ok(2));
    assert_eq!(pool.worker_pids(), worker);
}
