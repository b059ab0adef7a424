//! scratch microbench (not committed)
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;
use crate::ipc::codec::{Input, Sink};
use crate::ipc::frame::FrameFds;
use crate::ipc::outbox::Outbox;
use crate::ipc::protocol::{Items, ResultsWriter, Tag};
use crate::slot::{Outcome, Part};
use crate::sys::code;

const CHUNK: u64 = 16384;
fn reps() -> u64 { std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(64) }

fn best(mut f: impl FnMut()) -> f64 {
    (0..9).map(|_| { let s = Instant::now(); for _ in 0..reps() { f(); } s.elapsed().as_secs_f64() * 1e9 / (CHUNK * reps()) as f64 }).fold(f64::MAX, f64::min)
}

#[test]
#[ignore]
fn hot_probe() {
    fn off<F: Fn(u64) -> u64 + Copy + 'static>(_: F) -> code::CodeOffset { crate::call::entry_offset::<F, u64, u64>() }
    let entry = code::entry_at(off(|x: u64| x + 1)).unwrap();
    let mut data = Vec::with_capacity(1 << 20);
    let mut fds = Vec::new();
    let base = 1u64 << 20;
    let enc = best(|| {
        data.clear();
        for i in base..base + CHUNK { crate::pool::encode_item(&mut data, &mut fds, 1 << 30, &i).unwrap(); }
    });
    let mut out = Outbox::with_capacity(1 << 20);
    let work = best(|| {
        out.buf().clear();
        let mut run_fds = FrameFds::none();
        let mut writer = ResultsWriter::begin(out.buf(), 1, 0);
        for item in Items::new(&data, CHUNK as u32) {
            let item = item.unwrap();
            let fds = run_fds.take(item.fds());
            let limit = 1 << 30;
            let buf = out.buf();
            let input = Input { item, fds, limit };
            let ran = catch_unwind(AssertUnwindSafe(|| writer.record(buf, Tag::Ok, |o, f| entry(input, Sink { out: o, fds: f, limit }))));
            assert!(matches!(ran, Ok(Ok(()))));
        }
        let w = std::mem::replace(&mut writer, ResultsWriter::begin(&mut Vec::new(), 0, 0));
        w.finish(&mut out, 0).unwrap();
    });
    let records = out.buf()[33..].to_vec();
    let mut results: VecDeque<Result<u64, crate::TaskError>> = VecDeque::with_capacity(CHUNK as usize);
    let mut copies: Vec<Vec<u8>> = (0..reps() * 9 + 1).map(|_| records.clone()).collect();
    let dec = best(|| {
        results.clear();
        let slot = crate::slot::Slot::new(CHUNK as u32);
        assert!(slot.begin_dispatch());
        slot.add(Part::Records { first: 0, count: CHUNK as u32, bytes: copies.pop().unwrap(), fds: FrameFds::none(), limit: 1 << 30, elapsed_ns: 0 });
        let o: Outcome = slot.take().unwrap();
        o.decode_into(&mut results);
    });
    assert_eq!(results.len(), CHUNK as usize);
    eprintln!("NEW ns/item: encode {enc:.2}  worker {work:.2}  decode {dec:.2}  total {:.2}", enc + work + dec);
}
