//! scratch: primitives of the data path on this VM (not committed)
#[path = "../benches/support/floor.rs"]
mod floor;
use std::hint::black_box;
use std::time::{Duration, Instant};
use memmap2::{MmapOptions, Advice, MmapMut};
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;

const SIZE: usize = 256 << 20;

fn lane() -> (std::fs::File, MmapMut) {
    let fd = rustix::fs::memfd_create(c"x", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&fd, SIZE as u64).unwrap();
    let wm = unsafe { MmapOptions::new().len(SIZE).map_mut(&fd).unwrap() };
    wm.advise(Advice::PopulateWrite).unwrap();
    (fd.into(), wm)
}

fn populated_copy(src: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = Vec::with_capacity(src.len());
    let p = v.as_mut_ptr() as usize; let a = (p + 4095) & !4095;
    unsafe { libc::madvise(a as *mut _, src.len() - (a - p), 23 /* MADV_POPULATE_WRITE */); }
    v.extend_from_slice(src); v
}

fn main() {
    let src = vec![7u8; SIZE];
    let mut res: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut rec = |k: &'static str, d: Duration| res.entry(k).or_default().push(d.as_secs_f64() * 1e3);
    let (fa, mut la) = lane();
    let (fb, mut lb) = lane();
    let ra = unsafe { MmapOptions::new().len(SIZE).populate().map(&fa).unwrap() };
    let rb = unsafe { MmapOptions::new().len(SIZE).populate().map(&fb).unwrap() };
    for _round in 0..9 {
        rec("a pipe round trip fresh (2 fills)", floor::pipe_transfer(SIZE, true));
        // simulated pool round trip: cached mappings, populate copy
        let s = Instant::now();
        la.copy_from_slice(&src);
        let w = populated_copy(&ra);
        lb.copy_from_slice(&w);
        drop(w);
        let c = black_box(populated_copy(&rb));
        rec("b sim pool RT: lanes cached, populate copies", s.elapsed());
        drop(c);
        let s = Instant::now();
        la.copy_from_slice(&src);
        let w = ra.to_vec();
        lb.copy_from_slice(&w);
        drop(w);
        let c = black_box(rb.to_vec());
        rec("c sim pool RT: lanes cached, to_vec", s.elapsed());
        drop(c);
        let s = Instant::now();
        la.copy_from_slice(&src);
        let mut w = vec![0u8; SIZE]; fa.read_exact_at(&mut w, 0).unwrap();
        lb.copy_from_slice(&w);
        drop(w);
        let mut c = vec![0u8; SIZE]; fb.read_exact_at(&mut c, 0).unwrap(); black_box(&c);
        rec("d sim pool RT: lanes, pread into fresh", s.elapsed());
        drop(c);
        let s = Instant::now(); let v = black_box(src.to_vec()); rec("e to_vec fresh", s.elapsed()); drop(v);
        let s = Instant::now(); let v = black_box(populated_copy(&src)); rec("f populate + copy fresh", s.elapsed()); drop(v);
        let s = Instant::now(); let mut v = vec![0u8; SIZE]; fa.read_exact_at(&mut v, 0).unwrap(); black_box(&v); rec("g pread into fresh", s.elapsed()); drop(v);
        let s = Instant::now(); la.copy_from_slice(black_box(&src)); rec("h memcpy into warm lane", s.elapsed());
        let s = Instant::now(); let m = unsafe { MmapOptions::new().len(SIZE).populate().map(&fa).unwrap() }; black_box(&m); drop(m); rec("i map populate + unmap", s.elapsed());
        let s = Instant::now(); let mut v = vec![0u8; 1<<20]; let mut x = 0; for i in 0..256 { la[i<<20..(i+1)<<20].copy_from_slice(black_box(&v)); v[0]=i as u8; x^= la[i<<20]; } black_box(x); rec("j 1MiB chunks memcpy into lane (staging sim)", s.elapsed());
        let s = Instant::now(); unsafe { libc::mprotect(la.as_mut_ptr() as *mut _, SIZE, libc::PROT_READ); libc::mprotect(la.as_mut_ptr() as *mut _, SIZE, libc::PROT_READ|libc::PROT_WRITE); } rec("k mprotect RO + RW 256M", s.elapsed());
    }
    for (k, mut v) in res { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); eprintln!("{k:50} median {:>7.1} ms  min {:>7.1}  max {:>7.1}", v[v.len()/2], v[0], v[v.len()-1]); }
}
