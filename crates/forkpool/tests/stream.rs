//! Streaming tasks: `Pool::stream`.

mod common;

use forkpool::{Pool, TaskError};

#[test]
fn a_stream_yields_its_items_in_order() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let got: Vec<u64> = pool
        .stream(|n: u64| (0..n).map(|i| i * i), 100_000)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 100_000);
    assert!(got.iter().enumerate().all(|(i, &x)| x == (i as u64) * (i as u64)));
    let _ = TaskError::Cancelled;
}
