#!/usr/bin/env bash
# The data-path benchmarks of BENCHMARKS.md, in one run: forkpool's round
# trips by size beside the raw pipe floor (examples/bench_data.rs), Python's
# ProcessPoolExecutor on the same sizes, and the figure drawn from both.
#
#   bash crates/forkpool/benches/data_path.sh        # sizes up to 256 MiB
#   FORKPOOL_BENCH_1G=1 bash crates/forkpool/benches/data_path.sh   # up to 1 GiB (needs ~8 GiB free)
#
# Prints the table for BENCHMARKS.md; writes the CSV files to
# target/bench-data/ and the figure to crates/forkpool/benches/data_path.svg.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=target/bench-data
mkdir -p "$out"
cargo run --release -q -p forkpool --example bench_data -- --csv "$out"
python3 crates/forkpool/benches/python_data.py "$out/python.csv"
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib
python3 crates/forkpool/benches/plot_data.py "$out" crates/forkpool/benches/data_path.svg
echo "figure: crates/forkpool/benches/data_path.svg" >&2
