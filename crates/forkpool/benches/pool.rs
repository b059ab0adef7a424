//! Criterion benchmarks: the pool's four headline numbers, each next to
//! the floor measured in the same run.
//!
//! ```text
//! cargo bench -p forkpool
//! ```
//!
//! `examples/bench.rs` prints the same comparison as a table of ratios.

#[path = "support/floor.rs"]
mod floor;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use forkpool::Pool;

fn identity(x: u64) -> u64 {
    x
}

fn floors(c: &mut Criterion) {
    let cpus = floor::allowed_cpus();
    let mut group = c.benchmark_group("floor");
    group.measurement_time(Duration::from_secs(3));
    for (name, child_cpu) in [
        ("pipe_round_trip_one_cpu", cpus[0]),
        ("pipe_round_trip_across_cpus", cpus[cpus.len() - 1]),
    ] {
        if name.ends_with("across_cpus") && cpus.len() < 2 {
            continue;
        }
        let echo = floor::Echo::start(Some(child_cpu));
        floor::pin(&cpus[..1]);
        group.bench_function(name, |b| b.iter(|| echo.round_trip()));
        floor::pin(&cpus);
        drop(echo);
    }
    group.bench_function("fork_wait", |b| b.iter(floor::fork_and_wait));
    group.finish();
}

fn pool(c: &mut Criterion) {
    let workers = floor::allowed_cpus().len().max(2);
    let mut group = c.benchmark_group("pool");
    group.measurement_time(Duration::from_secs(5));

    let pool = Pool::builder().workers(workers).build().unwrap();
    group.bench_function("submit_join_one_at_a_time", |b| {
        b.iter(|| pool.submit(identity, 1).join().unwrap())
    });

    group.throughput(Throughput::Elements(20_000));
    group.sample_size(20);
    group.bench_function("submit_20000_then_join_all", |b| {
        b.iter(|| {
            let tasks: Vec<_> = (0..20_000).map(|i| pool.submit(identity, i)).collect();
            tasks.into_iter().map(|t| t.join().unwrap()).sum::<u64>()
        })
    });

    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("map_1000000_trivial", |b| {
        b.iter(|| pool.map(|x: u64| x + 1, 0..1_000_000u64).filter(Result::is_ok).count())
    });
    pool.shutdown();

    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("build_to_first_result", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let pool = Pool::builder().workers(workers).build().unwrap();
                pool.submit(identity, 7).join().unwrap();
                total += start.elapsed();
                pool.shutdown();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, floors, pool);
criterion_main!(benches);
