"""Python's ProcessPoolExecutor on the same workloads as examples/bench.rs,
for the comparison in BENCHMARKS.md.

    python3 crates/forkpool/benches/python_pool.py
"""
import multiprocessing as mp
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor


def identity(x):
    return x


def inc(x):
    return x + 1


def median_of(runs, f):
    return statistics.median(f() for _ in range(runs))


def one_at_a_time(ex, n=2000):
    start = time.perf_counter()
    for i in range(n):
        ex.submit(identity, i).result()
    return (time.perf_counter() - start) / n


def submit_all(ex, n=20_000):
    start = time.perf_counter()
    futures = [ex.submit(identity, i) for i in range(n)]
    for f in futures:
        f.result()
    return n / (time.perf_counter() - start)


def map_chunked(ex, n=1_000_000):
    start = time.perf_counter()
    count = sum(1 for _ in ex.map(inc, range(n), chunksize=1000))
    assert count == n
    return n / (time.perf_counter() - start)


def first_result(method):
    ctx = mp.get_context(method)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=ctx) as ex:
        ex.submit(identity, 7).result()
        took = time.perf_counter() - start
    return took


def main():
    workers = os.cpu_count()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
        ex.submit(identity, 0).result()
        latency = median_of(5, lambda: one_at_a_time(ex))
        rate = median_of(3, lambda: submit_all(ex))
        mapped = median_of(3, lambda: map_chunked(ex))
    fork_first = median_of(5, lambda: first_result("fork"))
    forkserver_first = median_of(3, lambda: first_result("forkserver"))
    print(f"Python {'.'.join(map(str, __import__('sys').version_info[:3]))} ProcessPoolExecutor, {workers} workers")
    print(f"| submit + join one at a time | {latency * 1e6:.1f} µs ({1 / latency:.0f}/s) |")
    print(f"| submit 20,000 then join all | {rate:.0f} tasks/s |")
    print(f"| map of 1,000,000 (chunksize=1000) | {mapped:.0f} items/s |")
    print(f"| start to first result | fork {fork_first * 1e3:.1f} ms, forkserver {forkserver_first * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
