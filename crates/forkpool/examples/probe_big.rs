//! scratch: 256 MiB ByteBuf round trip against the pipe floor, alternating.
#[path = "../benches/support/floor.rs"]
mod floor;
use forkpool::Pool;
use serde_bytes::ByteBuf;
use std::time::{Duration, Instant};
fn main() {
    let size: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(256) << 20;
    let rounds: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(7);
    let pool = Pool::builder().workers(1).build().unwrap();
    let (mut p, mut s) = (Vec::new(), Vec::new());
    for r in 0..rounds + 1 {
        let pipe = if std::env::var_os("NOPIPE").is_some() {
            Duration::from_secs(1)
        } else {
            floor::pipe_transfer(size, true)
        };
        let arg = ByteBuf::from(vec![7u8; size]);
        let start = Instant::now();
        let back = pool.submit(|b: ByteBuf| b, arg).join().unwrap();
        let serde = start.elapsed();
        assert_eq!(back.len(), size);
        drop(back);
        eprintln!(
            "round {r}: pipe {pipe:.1?} bytebuf {serde:.1?} ratio {:.2}",
            pipe.as_secs_f64() / serde.as_secs_f64()
        );
        if r > 0 {
            p.push(pipe);
            s.push(serde);
        }
    }
    let med = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (p, s) = (med(p), med(s));
    println!(
        "median pipe {p:.1?} bytebuf {s:.1?} ratio {:.2}",
        p.as_secs_f64() / s.as_secs_f64()
    );
    pool.shutdown();
}
