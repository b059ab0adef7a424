//! CPU time per item of `map` over trivial items: every process of the
//! pool counted (the client and its supervisor thread, the zygote and the
//! workers, reaped by the time the pool has shut down). Built against two
//! versions of the crate by `benches/map_ab.sh`; CPU time is less
//! disturbed than wall time by other work on a busy machine.
//!
//! Prints `cpu_ns_per_item CLIENT_AND_WORKERS client CLIENT wall_ns_per_item WALL`.

use std::time::Instant;

/// User + system seconds of `who`.
fn cpu(who: libc::c_int) -> f64 {
    // SAFETY: `rusage` is plain data, filled by `getrusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid `rusage` to write to.
    assert_eq!(unsafe { libc::getrusage(who, &mut ru) }, 0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

fn main() {
    let rounds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let n: u64 = 1_000_000;
    let all = || cpu(libc::RUSAGE_SELF) + cpu(libc::RUSAGE_CHILDREN);
    let (all0, self0) = (all(), cpu(libc::RUSAGE_SELF));
    let start = Instant::now();
    let pool = forkpool::Pool::builder().workers(2).build().unwrap();
    for _ in 0..rounds {
        let ok = pool.map(|x: u64| x + 1, 0..n).filter(Result::is_ok).count() as u64;
        assert_eq!(ok, n);
    }
    pool.shutdown();
    let per = |secs: f64| secs * 1e9 / (rounds * n) as f64;
    println!(
        "cpu_ns_per_item {:.1} client {:.1} wall_ns_per_item {:.1}",
        per(all() - all0),
        per(cpu(libc::RUSAGE_SELF) - self0),
        per(start.elapsed().as_secs_f64())
    );
}
