//! scratch: map / submit-all hot path, for perf stat.
use std::time::Instant;
use forkpool::Pool;
fn identity(x: u64) -> u64 { x }
fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "map".into());
    let runs: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        if what == "map" {
            let n: u64 = std::env::var("N").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
            let ok = pool.map(|x: u64| x + 1, 0..n).filter(Result::is_ok).count() as u64;
            assert_eq!(ok, n);
        } else {
            let tasks: Vec<_> = (0..20_000).map(|i| pool.submit(identity, i)).collect();
            for t in tasks { t.join().unwrap(); }
        }
        times.push(start.elapsed());
    }
    times.sort();
    let n = if what == "map" { 1_000_000.0 } else { 20_000.0 };
    println!("{what}: median {:?} -> {:.0} items/s (min {:?})", times[runs/2], n / times[runs/2].as_secs_f64(), times[0]);
    pool.shutdown();
}
