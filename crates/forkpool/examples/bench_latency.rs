//! One task at a time (`submit` then `join`) against its floor, a
//! socketpair round trip between two processes, measured side by side in
//! one run, and what an idle pool costs. Prints a Markdown table (what
//! `BENCHMARKS.md` records).
//!
//! ```text
//! cargo run --release --example bench_latency
//! ```
//!
//! - The floor: one byte there and back over a `socketpair` to a forked
//!   echo process, the cheapest cross-process call.
//! - The pool: `submit(identity, i).join()` on a pool of 2 workers.
//!   A pool lends an idle worker for this (the direct path, see
//!   `src/supervisor/README.md`): `submit` writes to the worker and `join`
//!   reads its result, two parties as in the floor.
//! - The four-hop design's floor (what a task took before the direct
//!   path): the same four hops with no pool in them. A
//!   thread hands a token to a relay thread (a mutex-guarded inbox and
//!   `Poller::notify`, as `submit` does), which is parked in `epoll` (as
//!   the supervisor is) and writes a byte to the echo process over a
//!   socketpair; the echo comes back through the same `epoll`, and the
//!   relay wakes the first thread through a `Condvar` (as a task's slot
//!   does). What one task at a time would cost if the pool did nothing
//!   but move it.
//! - Three hops: the same, but the first thread writes the byte to the
//!   echo process itself (as if `submit` handed the task straight to an
//!   idle worker), and only the reply goes through the `epoll` thread.
//!   What cutting one of the pool's hops, and not the other, would give.
//! - Neither is pinned (the scheduler places them, as it would in use).
//!   Rounds of each are taken in turn, so that a machine busy with
//!   something else slows both alike; medians of the rounds.
//! - Idle: the CPU time the pool's process and its workers use while the
//!   pool waits for work, which must stay at nothing (no thread spins
//!   while the pool is idle).

#[path = "../benches/support/floor.rs"]
mod floor;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use forkpool::Pool;
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

const ROUNDS: usize = 101;
const PER_ROUND: u32 = 200;

fn identity(x: u64) -> u64 {
    x
}

/// A child process that echoes each byte back over a socketpair.
struct Echo {
    socket: OwnedFd,
    pid: libc::pid_t,
}

impl Echo {
    fn start() -> Echo {
        let (mine, theirs) = socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
        // SAFETY: the child only calls read, write and _exit
        // (async-signal-safe) on memory that already exists.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            drop(mine);
            let mut byte = [0u8; 1];
            while rustix::io::read(&theirs, &mut byte) == Ok(1) {
                if rustix::io::write(&theirs, &byte).is_err() {
                    break;
                }
            }
            // SAFETY: leaves without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        drop(theirs);
        Echo { socket: mine, pid }
    }

    fn round_trip(&self) {
        let mut byte = [1u8];
        rustix::io::write(&self.socket, &byte).unwrap();
        assert_eq!(rustix::io::read(&self.socket, &mut byte), Ok(1));
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        // SAFETY: kill and waitpid on our own child; no memory is involved.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The pool's four hops with nothing else (see the module docs).
struct Relay {
    /// The first thread writes to the echo process itself (three hops).
    direct: Option<OwnedFd>,
    poller: Arc<polling::Poller>,
    /// Tokens handed in, and tokens back.
    counts: Arc<(Mutex<(u64, u64)>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    _echo: Echo,
}

impl Relay {
    fn start(direct: bool) -> Relay {
        let echo = Echo::start();
        let socket = echo.socket.try_clone().unwrap();
        let direct = direct.then(|| echo.socket.try_clone().unwrap());
        let poller = Arc::new(polling::Poller::new().unwrap());
        // SAFETY: the socket outlives its registration: the relay thread
        // owns it and deletes it from the poller before dropping it.
        unsafe { poller.add(socket.as_raw_fd(), polling::Event::readable(1)).unwrap() };
        let counts = Arc::new((Mutex::new((0u64, 0u64)), Condvar::new()));
        let thread = {
            let (poller, counts) = (poller.clone(), counts.clone());
            let direct_mode = direct.is_some();
            std::thread::spawn(move || {
                let mut events = polling::Events::new();
                let mut sent = 0u64;
                loop {
                    events.clear();
                    poller.wait(&mut events, None).unwrap();
                    let (asked, _) = *counts.0.lock().unwrap();
                    if asked == u64::MAX {
                        break;
                    }
                    if !direct_mode {
                        for _ in sent..asked {
                            rustix::io::write(&socket, &[1u8]).unwrap();
                        }
                        sent = asked;
                    }
                    if events.iter().next().is_some() {
                        let mut byte = [0u8; 64];
                        let n = rustix::io::read(&socket, &mut byte).unwrap() as u64;
                        let (lock, cond) = &*counts;
                        lock.lock().unwrap().1 += n;
                        cond.notify_all();
                        poller.modify(socket.as_fd(), polling::Event::readable(1)).unwrap();
                    }
                }
                poller.delete(socket.as_fd()).unwrap();
            })
        };
        Relay {
            direct,
            poller,
            counts,
            thread: Some(thread),
            _echo: echo,
        }
    }

    fn round_trip(&self) {
        let (lock, cond) = &*self.counts;
        let target = match &self.direct {
            Some(socket) => {
                let mut counts = lock.lock().unwrap();
                counts.0 += 1;
                rustix::io::write(socket, &[1u8]).unwrap();
                counts.0
            }
            None => {
                let target = {
                    let mut counts = lock.lock().unwrap();
                    counts.0 += 1;
                    counts.0
                };
                self.poller.notify().unwrap();
                target
            }
        };
        let mut counts = lock.lock().unwrap();
        while counts.1 < target {
            counts = cond.wait(counts).unwrap();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.counts.0.lock().unwrap().0 = u64::MAX;
        let _ = self.poller.notify();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// CPU time used by this process and by `pids` (in ticks of 10 ms).
fn cpu_time(pids: &[u32]) -> Duration {
    std::iter::once("self".to_string())
        .chain(pids.iter().map(u32::to_string))
        .map(|pid| floor::process_cpu(&pid))
        .sum()
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let echo = Echo::start();
    let relay = Relay::start(false);
    let direct = Relay::start(true);
    let pool = Pool::builder().workers(2).build().unwrap();
    // Warm up all three.
    for i in 0..3000 {
        echo.round_trip();
        relay.round_trip();
        direct.round_trip();
        assert_eq!(pool.submit(identity, i).join(), Ok(i));
    }
    let (mut floor, mut hops, mut three, mut task) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            echo.round_trip();
        }
        floor.push(start.elapsed() / PER_ROUND);
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            relay.round_trip();
        }
        hops.push(start.elapsed() / PER_ROUND);
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            direct.round_trip();
        }
        three.push(start.elapsed() / PER_ROUND);
        let start = Instant::now();
        for i in 0..u64::from(PER_ROUND) {
            assert_eq!(pool.submit(identity, i).join(), Ok(i));
        }
        task.push(start.elapsed() / PER_ROUND);
    }
    let (floor, hops, three, task) = (median(floor), median(hops), median(three), median(task));
    drop((relay, direct));

    // Idle: nothing submitted for a second.
    let pids = pool.worker_pids();
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_time(&pids);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_time(&pids).saturating_sub(before);
    pool.shutdown();

    println!(
        "Load average {} at the start; pool of 2 workers, nothing pinned; medians of {ROUNDS} rounds of {PER_ROUND}, taken in turn.\n",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!("| measurement | result | baseline, same run | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| `submit` + `join`, one task at a time | {task:.1?} | socketpair round trip {floor:.1?} | {:.2}x | within 1.5x |",
        task.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| the same four hops with no pool (thread → `epoll` thread → socketpair echo → `epoll` thread → `Condvar`) | {hops:.1?} | socketpair round trip {floor:.1?} | {:.2}x | |",
        hops.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| three hops (thread → socketpair echo → `epoll` thread → `Condvar`) | {three:.1?} | socketpair round trip {floor:.1?} | {:.2}x | |",
        three.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| `submit` + `join` against the four hops | {task:.1?} | the four hops {hops:.1?} | {:.2}x | |",
        task.as_secs_f64() / hops.as_secs_f64()
    );
    println!("| CPU used by the idle pool (client and workers) over 1 s | {idle:.0?} | | | nothing (10 ms ticks) |");
}
