//! `preload` data is loaded once, in the zygote, and shared by every
//! worker copy-on-write: N workers reading a 200 MiB buffer do not cost
//! N × 200 MiB.

use std::sync::OnceLock;

use forkpool::Pool;

const SIZE: usize = 200 << 20;
const WORKERS: usize = 4;

static TABLE: OnceLock<Vec<u8>> = OnceLock::new();

fn load_table() {
    // Non-zero, so every page is really written (and resident).
    TABLE.set(vec![7u8; SIZE]).unwrap();
}

/// Reads one byte of every page: every page of the table is touched.
fn read_every_page(_: u32) -> (u32, u64) {
    let table = TABLE.get().expect("preloaded");
    let sum = table.iter().step_by(4096).map(|&b| u64::from(b)).sum();
    (std::process::id(), sum)
}

/// A field of `/proc/<pid>/smaps_rollup`, in KiB.
fn rollup_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for {pid}"))
}

#[test]
fn preloaded_memory_is_shared_by_all_workers() {
    let pool = Pool::builder().workers(WORKERS).preload(load_table).build().unwrap();
    let reads: Vec<(u32, u64)> = pool
        .map(read_every_page, 0..(4 * WORKERS as u32))
        .map(Result::unwrap)
        .collect();
    let pages = (SIZE / 4096) as u64;
    assert!(reads.iter().all(|&(_, sum)| sum == 7 * pages));

    let table_kib = (SIZE / 1024) as u64;
    let mut processes = pool.worker_pids();
    assert_eq!(processes.len(), WORKERS);
    processes.push(pool.zygote_pid().unwrap());
    let mut total_pss = 0;
    for &pid in &processes {
        let rss = rollup_kib(pid, "Rss:");
        // Each process really maps the whole table...
        assert!(rss >= table_kib, "process {pid} has only {rss} KiB resident");
        total_pss += rollup_kib(pid, "Pss:");
    }
    // ...but together they pay for it about once, not once each.
    let copied = table_kib * processes.len() as u64;
    eprintln!(
        "{} processes map a {table_kib} KiB table: total PSS {total_pss} KiB (private copies would be {copied} KiB)",
        processes.len()
    );
    assert!(
        total_pss < table_kib * 3 / 2,
        "total PSS {total_pss} KiB for a {table_kib} KiB table: it is not shared"
    );
}
