//! `SharedBytes` and `SharedSlice`: big data into workers and back without
//! copies, anywhere in a value, any number of them; plain bytes to other
//! serializers; large ordinary payloads through memfds; nothing left
//! behind.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

use forkpool::{Pool, SharedBytes, SharedBytesMut, SharedSlice, SharedSliceMut, TaskError};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

fn pool(workers: usize) -> Pool {
    Pool::builder().workers(workers).build().unwrap()
}

#[test]
fn the_issues_example_works() {
    let pool = pool(2);
    let mut buf = SharedBytesMut::zeroed(256 << 20).unwrap();
    buf[..5].copy_from_slice(b"hello");
    let data: SharedBytes = buf.freeze();
    let zeros = pool.submit(|d: SharedBytes| d.iter().filter(|&&b| b == 0).count(), data.clone());
    let xs = SharedSlice::<f64>::copy_from(&[1.0, 2.5, 4.0]).unwrap();
    let sum = pool.submit(|v: SharedSlice<f64>| v.iter().sum::<f64>(), xs).join();
    let made = pool
        .submit(|n: usize| SharedBytes::copy_from(&vec![7u8; n]).unwrap(), 1 << 20)
        .join()
        .unwrap();
    assert_eq!(zeros.join(), Ok((256 << 20) - 5));
    assert_eq!(sum, Ok(7.5));
    assert_eq!(made.len(), 1 << 20);
    assert!(made.iter().all(|&b| b == 7));
    assert_eq!(&data[..5], b"hello");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Scene {
    name: String,
    pixels: SharedSlice<u32>,
    mask: Option<SharedBytes>,
    layers: Vec<SharedBytes>,
}

#[test]
fn buffers_cross_anywhere_in_a_value_and_come_back() {
    let pool = pool(1);
    let mut pixels = SharedSliceMut::<u32>::zeroed(1000).unwrap();
    pixels.iter_mut().enumerate().for_each(|(i, p)| *p = i as u32);
    let scene = Scene {
        name: "one".into(),
        pixels: pixels.freeze(),
        mask: Some(SharedBytes::copy_from(&[1, 0, 1]).unwrap()),
        layers: vec![
            SharedBytes::copy_from(b"a").unwrap(),
            SharedBytes::copy_from(b"").unwrap(),
            SharedBytes::copy_from(&[9; 70_000]).unwrap(),
        ],
    };
    // Inspected in the worker...
    let summary = pool.submit(
        |s: Scene| {
            (
                s.pixels.iter().map(|&p| u64::from(p)).sum::<u64>(),
                s.mask.map(|m| m.len()),
                s.layers.iter().map(|l| l.len()).collect::<Vec<_>>(),
            )
        },
        scene.clone(),
    );
    assert_eq!(summary.join(), Ok((499_500, Some(3), vec![1, 0, 70_000])));
    // ...and handed back whole, in a result.
    let back = pool.submit(|s: Scene| s, scene.clone()).join().unwrap();
    assert_eq!(back, scene);
    let empty = pool.submit(|n: usize| SharedBytesMut::zeroed(n).unwrap().freeze(), 0);
    assert_eq!(empty.join().map(|b| b.len()), Ok(0));
    let none = pool.submit(|_: ()| Option::<SharedBytes>::None, ()).join();
    assert_eq!(none, Ok(None));
}

#[test]
fn more_buffers_than_one_message_carries_cross_both_ways() {
    let pool = pool(1);
    // 600 distinct buffers (one SCM_RIGHTS message carries 253).
    let many: Vec<SharedBytes> = (0..600)
        .map(|i| SharedBytes::copy_from(&vec![i as u8; i]).unwrap())
        .collect();
    let lens = pool.submit(
        |v: Vec<SharedBytes>| v.iter().map(|b| b.len()).collect::<Vec<_>>(),
        many.clone(),
    );
    assert_eq!(lens.join(), Ok((0..600).collect::<Vec<_>>()));
    let made = pool
        .submit(
            |n: usize| {
                (0..n)
                    .map(|i| SharedBytes::copy_from(&[i as u8; 3]).unwrap())
                    .collect::<Vec<_>>()
            },
            400,
        )
        .join()
        .unwrap();
    assert_eq!(made.len(), 400);
    assert!(made.iter().enumerate().all(|(i, b)| b[..] == [i as u8; 3]));
    // The same buffer many times is one descriptor, and arrives equal.
    let same = vec![many[5].clone(); 1000];
    assert_eq!(
        pool.submit(|v: Vec<SharedBytes>| v.iter().map(|b| b.len()).sum::<usize>(), same)
            .join(),
        Ok(5000)
    );
}

#[test]
fn buffers_work_as_map_inputs_and_outputs() {
    let pool = pool(2);
    let inputs: Vec<SharedBytes> = (0..300)
        .map(|i| SharedBytes::copy_from(&vec![1u8; i]).unwrap())
        .collect();
    let sums: Vec<usize> = pool
        .map(|b: SharedBytes| b.iter().map(|&x| x as usize).sum(), inputs)
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums, (0..300).collect::<Vec<_>>());
    let outputs: Vec<SharedBytes> = pool
        .map(|n: usize| SharedBytes::copy_from(&vec![2u8; n]).unwrap(), 0..300usize)
        .map(Result::unwrap)
        .collect();
    assert!(
        outputs
            .iter()
            .enumerate()
            .all(|(i, b)| b.len() == i && b.iter().all(|&x| x == 2))
    );
}

#[test]
fn other_serializers_see_plain_bytes() {
    let data = SharedBytes::copy_from(b"abc").unwrap();
    let json = serde_json::to_string(&data).unwrap();
    assert_eq!(json, "[97,98,99]");
    let back: SharedBytes = serde_json::from_str(&json).unwrap();
    assert_eq!(&back[..], b"abc");
    // postcard outside a task's frame (as a cluster would use it): the
    // bytes themselves, so the value means the same on another machine.
    let encoded = postcard::to_allocvec(&data).unwrap();
    assert_eq!(encoded, [3, b'a', b'b', b'c']);
    let back: SharedBytes = postcard::from_bytes(&encoded).unwrap();
    assert_eq!(back, data);
    let xs = SharedSlice::<u16>::copy_from(&[1, 2]).unwrap();
    let back: SharedSlice<u16> = postcard::from_bytes(&postcard::to_allocvec(&xs).unwrap()).unwrap();
    assert_eq!(&back[..], &[1, 2]);
    // Bytes that are not a whole number of values are refused.
    assert!(postcard::from_bytes::<SharedSlice<u16>>(&[3, 1, 2, 3]).is_err());
    // And a value made from plain bytes travels to a worker like any other.
    let pool = pool(1);
    assert_eq!(
        pool.submit(|b: SharedBytes| b.to_vec(), back.into_bytes()).join(),
        Ok(vec![1, 0, 2, 0])
    );
}

/// A type whose `Serialize` and `Deserialize` disagree: it writes what a
/// shared buffer's reference looks like inside a frame, without a buffer.
#[derive(Debug)]
struct Impostor;

impl Serialize for Impostor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (3u32, 10u64).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Impostor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Impostor, D::Error> {
        SharedBytes::deserialize(d).map(|_| Impostor)
    }
}

#[test]
fn a_reference_to_a_missing_descriptor_is_a_codec_error() {
    let pool = pool(1);
    let arg = pool.submit(|_: Impostor| 1u8, Impostor).join();
    match arg {
        Err(TaskError::Codec { message }) => {
            assert!(
                message.contains("descriptor of shared buffer 3 is missing"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    let result = pool.submit(|_: ()| Impostor, ()).join();
    match result {
        Err(TaskError::Codec { message }) => assert!(message.contains("missing"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.submit(|x: u8| x + 1, 1).join(), Ok(2));
}

#[test]
fn large_ordinary_payloads_cross_whole() {
    let pool = pool(1);
    let big: Vec<u8> = (0..40 << 20).map(|i: u32| (i % 251) as u8).collect();
    let back = pool.submit(|b: ByteBuf| b, ByteBuf::from(big.clone())).join().unwrap();
    assert!(back.as_slice() == big.as_slice());
    let back = pool.submit(|v: Vec<u8>| v, big[..5 << 20].to_vec()).join().unwrap();
    assert!(back == big[..5 << 20]);
    let floats: Vec<f64> = (0..1 << 20).map(f64::from).collect();
    assert_eq!(
        pool.submit(|v: Vec<f64>| v, floats.clone()).join().as_ref(),
        Ok(&floats)
    );
    // Small and large items mixed in one map, in order.
    let sizes = [10usize, 3 << 20, 0, 300_000, 7];
    let lens: Vec<usize> = pool
        .map(|b: ByteBuf| b.len(), sizes.iter().map(|&n| ByteBuf::from(vec![1u8; n])))
        .map(Result::unwrap)
        .collect();
    assert_eq!(lens, sizes);
}

#[test]
fn payloads_over_the_limit_are_refused_without_being_encoded_whole() {
    let pool = Pool::builder().workers(1).max_message_size(4 << 20).build().unwrap();
    let arg = pool
        .submit(|b: ByteBuf| b.len(), ByteBuf::from(vec![0u8; 5 << 20]))
        .join();
    assert!(
        matches!(arg, Err(TaskError::Codec { ref message }) if message.contains("limit")),
        "{arg:?}"
    );
    let result = pool.submit(|n: usize| vec![1u8; n], 5 << 20).join();
    assert!(
        matches!(result, Err(TaskError::Codec { ref message }) if message.contains("limit")),
        "{result:?}"
    );
    // Shared buffers count as their reference only.
    let shared = SharedBytes::copy_from(&vec![3u8; 16 << 20]).unwrap();
    assert_eq!(pool.submit(|b: SharedBytes| b.len(), shared).join(), Ok(16 << 20));
    assert_eq!(
        pool.submit(|b: ByteBuf| b.len(), ByteBuf::from(vec![0u8; 3 << 20]))
            .join(),
        Ok(3 << 20)
    );
}

/// The names of forkpool's data memfds: shared buffers, and the lanes
/// (with their boards) large items travel in. Status pages are not data.
const DATA_MEMFDS: [&str; 3] = ["forkpool-shared", "forkpool-lane", "forkpool-board"];

/// Whether a descriptor's target or a mapping's path names a data memfd.
fn is_data_memfd(path: &str) -> bool {
    DATA_MEMFDS.iter().any(|name| path.contains(&format!("/memfd:{name}")))
}

/// Inodes of the forkpool data memfds process `pid` holds, open or mapped.
fn forkpool_memfds(pid: &str) -> BTreeSet<u64> {
    memfds_where(pid, is_data_memfd)
}

/// Inodes of the shared buffers process `pid` holds, open or mapped.
fn shared_buffers(pid: &str) -> BTreeSet<u64> {
    memfds_where(pid, |path| path.contains("/memfd:forkpool-shared"))
}

/// Inodes of the memfds process `pid` holds, open or mapped, whose path
/// passes `wanted`.
fn memfds_where(pid: &str, is_data_memfd: impl Fn(&str) -> bool) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in entries.flatten() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            if is_data_memfd(&target.to_string_lossy())
                && let Ok(meta) = std::fs::metadata(entry.path())
            {
                inodes.insert(meta.ino());
            }
        }
    }
    if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        for line in maps.lines().filter(|l| is_data_memfd(l)) {
            if let Some(inode) = line.split_whitespace().nth(4).and_then(|i| i.parse().ok()) {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

fn all_pids() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

#[test]
fn buffers_are_released_when_their_last_holder_drops_them() {
    // In a process of its own: it counts the descriptors of the process.
    common::run_helper_test("released_helper", &[("FORKPOOL_TEST_RELEASED", "1".as_ref())]);
}

#[test]
#[ignore = "run by buffers_are_released_when_their_last_holder_drops_them"]
fn released_helper() {
    if std::env::var_os("FORKPOOL_TEST_RELEASED").is_none() {
        return;
    }
    let pool = pool(1);
    let worker = pool.worker_pids()[0].to_string();
    let zygote = pool.zygote_pid().unwrap().to_string();
    let data = SharedBytes::copy_from(&vec![1u8; 1 << 20]).unwrap();
    let ours = forkpool_memfds("self");
    assert_eq!(ours.len(), 1);
    assert_eq!(pool.submit(|b: SharedBytes| b.len(), data.clone()).join(), Ok(1 << 20));
    let made = pool
        .submit(|n: usize| SharedBytes::copy_from(&vec![2; n]).unwrap(), 1 << 20)
        .join()
        .unwrap();
    let big = pool
        .submit(|n: usize| ByteBuf::from(vec![2; n]), 8 << 20)
        .join()
        .unwrap();
    assert_eq!(big.len(), 8 << 20);
    // A large argument: out of line, in a lane of the client's.
    assert_eq!(
        pool.submit(|b: ByteBuf| b.len(), ByteBuf::from(vec![3; 8 << 20]))
            .join(),
        Ok(8 << 20)
    );
    // The worker let go of every buffer it received and sent (it keeps the
    // lane its large result went in, for a while); the zygote never saw
    // any of it.
    assert!(
        common::wait_for(std::time::Duration::from_secs(5), || shared_buffers(&worker).is_empty()),
        "the worker still holds {:?}",
        shared_buffers(&worker)
    );
    assert!(forkpool_memfds(&zygote).is_empty());
    // The client holds its two buffers, and of the lanes only its own (the
    // worker's went once the result was decoded).
    assert_eq!(shared_buffers("self").len(), 2);
    let lanes: Vec<_> = forkpool_memfds("self")
        .difference(&shared_buffers("self"))
        .copied()
        .collect();
    assert_eq!(lanes.len(), 1, "the client's argument lane alone: {lanes:?}");
    // A pool built while buffers exist: its zygote (and so its workers)
    // starts without them.
    let later = Pool::builder().workers(1).build().unwrap();
    let later_zygote = later.zygote_pid().unwrap().to_string();
    assert!(forkpool_memfds(&later_zygote).is_empty());
    assert!(forkpool_memfds(&later.worker_pids()[0].to_string()).is_empty());
    drop((data, made));
    assert_eq!(shared_buffers("self"), BTreeSet::new());
    // Lanes nobody used for a while are let go, on both sides, even with
    // no further work to wake either up.
    assert!(
        common::wait_for(std::time::Duration::from_secs(30), || forkpool_memfds("self")
            .is_empty()
            && forkpool_memfds(&worker).is_empty()),
        "lanes still held: client {:?}, worker {:?}",
        forkpool_memfds("self"),
        forkpool_memfds(&worker)
    );
}

#[test]
fn a_killed_client_leaves_no_process_and_no_memfd_behind() {
    let shm_before: BTreeSet<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let mut client = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mid_transfer_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FORKPOOL_TEST_MID_TRANSFER", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(client.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.contains("PIDS ")))
        .expect("the client printed its pids");
    let pids: Vec<String> = line[line.find("PIDS ").unwrap() + 5..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // It is now sending large payloads back and forth.
    let inodes: BTreeSet<u64> = pids.iter().flat_map(|p| forkpool_memfds(p)).collect();
    assert!(!inodes.is_empty(), "no memfd seen in the client's processes");
    common::kill(client.id(), libc::SIGKILL);
    client.wait().unwrap();
    let pid_numbers: Vec<u32> = pids.iter().map(|p| p.parse().unwrap()).collect();
    assert!(
        common::wait_for(std::time::Duration::from_secs(5), || pid_numbers
            .iter()
            .all(|&p| common::is_dead(p))),
        "a process of the killed client lives on"
    );
    // Nobody, anywhere, holds any of its memfds: the memory is gone.
    let holders: Vec<String> = all_pids()
        .into_iter()
        .filter(|p| !forkpool_memfds(p).is_disjoint(&inodes))
        .collect();
    assert!(
        holders.is_empty(),
        "processes {holders:?} still hold the client's memfds"
    );
    // And nothing was ever created in /dev/shm (files others made there
    // come and go; none of ours may stay).
    let new_files = || -> Vec<_> {
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| !shm_before.contains(n))
            .collect()
    };
    assert!(
        common::wait_for(std::time::Duration::from_secs(2), || new_files().is_empty()),
        "new files in /dev/shm: {:?}",
        new_files()
    );
}

#[test]
#[ignore = "run by a_killed_client_leaves_no_process_and_no_memfd_behind"]
fn mid_transfer_client() {
    if std::env::var_os("FORKPOOL_TEST_MID_TRANSFER").is_none() {
        return;
    }
    let pool = pool(2);
    let data = SharedBytes::copy_from(&vec![5u8; 64 << 20]).unwrap();
    let mut pids: Vec<u32> = vec![std::process::id()];
    pids.extend(pool.zygote_pid());
    pids.extend(pool.worker_pids());
    let mut announced = false;
    loop {
        let shared = pool.submit(
            |d: SharedBytes| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                d
            },
            data.clone(),
        );
        let big = pool.submit(|b: ByteBuf| b, ByteBuf::from(vec![6u8; 32 << 20]));
        if !announced {
            std::thread::sleep(std::time::Duration::from_millis(20));
            println!("PIDS {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
            announced = true;
        }
        let _ = (shared.join(), big.join());
    }
}

#[test]
fn a_worker_killed_mid_transfer_leaves_nothing_behind() {
    // In a process of its own: it counts the descriptors of the process.
    common::run_helper_test("killed_worker_helper", &[("FORKPOOL_TEST_KILLED_WORKER", "1".as_ref())]);
}

#[test]
#[ignore = "run by a_worker_killed_mid_transfer_leaves_nothing_behind"]
fn killed_worker_helper() {
    if std::env::var_os("FORKPOOL_TEST_KILLED_WORKER").is_none() {
        return;
    }
    let pool = pool(1);
    let worker = pool.worker_pids()[0];
    let data = SharedBytes::copy_from(&vec![1u8; 4 << 20]).unwrap();
    let ours = shared_buffers("self");
    // The worker holds a shared buffer it received and one it made (and a
    // large value it is about to send back) when it is killed.
    let task = pool.submit(
        |(d, n): (SharedBytes, usize)| {
            let made = SharedBytes::copy_from(&vec![2u8; n]).unwrap();
            let big = ByteBuf::from(vec![3u8; n]);
            std::thread::sleep(std::time::Duration::from_secs(60));
            (d, made, big)
        },
        (data.clone(), 16 << 20),
    );
    assert!(
        common::wait_for(std::time::Duration::from_secs(10), || {
            shared_buffers(&worker.to_string()).len() == 2
        }),
        "the worker never held both buffers: {:?}",
        shared_buffers(&worker.to_string())
    );
    let held = forkpool_memfds(&worker.to_string());
    common::kill(worker, libc::SIGKILL);
    assert!(matches!(task.join(), Err(TaskError::Crashed { .. })));
    // Nobody holds what the worker made; the client holds its own buffer.
    let made: BTreeSet<u64> = held.difference(&ours).copied().collect();
    assert!(!made.is_empty());
    let holders: Vec<String> = all_pids()
        .into_iter()
        .filter(|p| !forkpool_memfds(p).is_disjoint(&made))
        .collect();
    assert!(holders.is_empty(), "{holders:?} hold what the dead worker made");
    assert_eq!(shared_buffers("self"), ours);
    // The pool goes on with a new worker, and lets go of everything.
    assert_eq!(pool.submit(|b: SharedBytes| b.len(), data.clone()).join(), Ok(4 << 20));
    drop(data);
    assert!(shared_buffers("self").is_empty());
    drop(pool);
    assert!(
        common::wait_for(std::time::Duration::from_secs(5), || forkpool_memfds("self").is_empty()),
        "still held: {:?}",
        forkpool_memfds("self")
    );
}
