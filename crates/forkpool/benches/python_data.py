"""Python's ProcessPoolExecutor moving bytes to a worker and back, by size,
for the data-path figure in BENCHMARKS.md (beside forkpool's numbers from
examples/bench_data.rs).

    python3 crates/forkpool/benches/python_data.py [OUT.csv]

Sizes 1 KiB to 256 MiB by powers of 4 (to 1 GiB with FORKPOOL_BENCH_1G=1);
each figure is the median of a few round trips of `identity(payload)`.
"""
import multiprocessing as mp
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

KIB = 1 << 10
MIB = 1 << 20


def identity(x):
    return x


def runs(size):
    if size <= MIB:
        return 21
    if size <= 16 * MIB:
        return 9
    if size <= 256 * MIB:
        return 5
    return 3


def sizes():
    top = 1024 * MIB if os.environ.get("FORKPOOL_BENCH_1G") else 256 * MIB
    size, out = KIB, []
    while size <= top:
        out.append(size)
        size *= 4
    if 256 * MIB not in out:
        out.append(256 * MIB)
    return sorted(out)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else None
    rows = []
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as ex:
        ex.submit(identity, b"x").result()
        for size in sizes():
            payload = b"\x07" * size
            times = []
            for _ in range(runs(size)):
                start = time.perf_counter()
                back = ex.submit(identity, payload).result()
                times.append(time.perf_counter() - start)
                assert len(back) == size
                del back
            rows.append((size, statistics.median(times)))
            print(f"{size:>11} bytes: {rows[-1][1] * 1e3:9.3f} ms", file=sys.stderr)
    text = "bytes,python_s\n" + "".join(f"{s},{t}\n" for s, t in rows)
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
