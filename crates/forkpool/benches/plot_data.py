"""Draws the data-path figure of BENCHMARKS.md: payload size against round
trip time, log-log, for SharedBytes, the serde path (ByteBuf), the raw pipe
floor and Python's ProcessPoolExecutor, from the CSV files that
examples/bench_data.rs and benches/python_data.py wrote.

    python3 crates/forkpool/benches/plot_data.py DIR OUT.svg
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path, column):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [int(r["bytes"]) for r in rows], [float(r[column]) for r in rows]


def main():
    directory, out = sys.argv[1], sys.argv[2]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    series = [
        ("rust.csv", "shared_s", "forkpool SharedBytes", "o-"),
        ("rust.csv", "serde_s", "forkpool serde (ByteBuf)", "s-"),
        ("rust.csv", "pipe_s", "raw pipe, both ways (floor)", "k--"),
        ("python.csv", "python_s", "Python ProcessPoolExecutor (bytes)", "^-"),
    ]
    for name, column, label, style in series:
        try:
            x, y = read(f"{directory}/{name}", column)
        except FileNotFoundError:
            continue
        ax.loglog(x, [t * 1e3 for t in y], style, label=label, markersize=4)
    ticks = [1 << k for k in range(10, 31, 2)]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t >> 10} KiB" if t < 1 << 20 else f"{t >> 20} MiB" if t < 1 << 30 else "1 GiB" for t in ticks],
                       rotation=30)
    ax.set_xlabel("payload size")
    ax.set_ylabel("to a worker and back (ms, median)")
    ax.set_title("Moving a payload to a worker and back")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
