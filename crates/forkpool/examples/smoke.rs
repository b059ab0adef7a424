use forkpool::{Pool, TaskError};
use std::time::{Duration, Instant};

fn square(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), forkpool::Error> {
    let t = Instant::now();
    let pool = Pool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(1))
        .build()?;
    println!(
        "built in {:?}, pids {:?} zygote {:?}",
        t.elapsed(),
        pool.worker_pids(),
        pool.zygote_pid()
    );
    let task = pool.submit(square, 7);
    println!("square: {:?} after {:?}", task.join(), t.elapsed());
    let t2 = Instant::now();
    let all: Vec<u64> = pool
        .map(|x: u64| x + 1, 0..1_000_000)
        .collect::<Result<_, _>>()
        .unwrap();
    println!("map 1M: {} items in {:?}", all.len(), t2.elapsed());
    match pool
        .submit(|_: ()| unsafe { std::ptr::null_mut::<u8>().write_volatile(1) }, ())
        .join()
    {
        Err(TaskError::Crashed { signal: Some(sig), .. }) => println!("isolated: signal {sig}"),
        other => panic!("{other:?}"),
    }
    println!("panic: {:?}", pool.submit(|_: ()| -> u8 { panic!("boom") }, ()).join());
    println!(
        "exit3: {:?}",
        pool.submit(|_: ()| -> u8 { std::process::exit(3) }, ()).join()
    );
    let t3 = Instant::now();
    println!(
        "hang: {:?} after {:?}",
        pool.submit(
            |_: ()| -> u8 {
                loop {
                    std::thread::park()
                }
            },
            ()
        )
        .join(),
        t3.elapsed()
    );
    println!("after: {:?}", pool.submit(square, 9).join());
    let t4 = Instant::now();
    let tasks: Vec<_> = (0..20_000u64).map(|i| pool.submit(square, i)).collect();
    let n = tasks.into_iter().map(|t| t.join().unwrap()).count();
    println!("submit-all {n} in {:?}", t4.elapsed());
    pool.shutdown();
    Ok(())
}
