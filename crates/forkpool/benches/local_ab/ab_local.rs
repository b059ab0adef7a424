//! The local pool's throughput, for an A/B of two builds of forkpool
//! (`local_ab.sh` copies this file into both trees as an example): prints
//! one line, `submit_ns map_ns`, the time per task of submitting 20,000
//! tasks then joining them all, and per item of a `map` of 1,000,000
//! trivial items; each the median of 5. `AB_ONLY=submit` or `AB_ONLY=map`
//! runs one of the two (the other prints 0), e.g. under `perf record`.

use std::time::Instant;

use forkpool::Pool;

fn identity(x: u64) -> u64 {
    x
}

fn median_ns(runs: usize, items: u64, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e9 / items as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    let only = std::env::var("AB_ONLY").unwrap_or_default();
    let pool = Pool::builder().workers(2).build().expect("a pool");
    let submit = if only == "map" {
        0.0
    } else {
        median_ns(5, 20_000, || {
            let tasks: Vec<_> = (0..20_000).map(|i| pool.submit(identity, i)).collect();
            for task in tasks {
                task.join().expect("a result");
            }
        })
    };
    let map = if only == "submit" {
        0.0
    } else {
        median_ns(5, 1_000_000, || {
            let ok = pool.map(|x: u64| x + 1, 0..1_000_000u64).filter(Result::is_ok).count();
            assert_eq!(ok, 1_000_000);
        })
    };
    pool.shutdown();
    println!("{submit:.1} {map:.1}");
}
