#!/usr/bin/env bash
# `map`'s CPU cost per trivial item: this tree against another commit
# (default ecaa6d3, the last one before the shared-memory data path), both
# built the same way, run in turns. Prints each run and the medians.
#
#   bash crates/forkpool/benches/map_ab.sh [COMMIT] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
base=${1:-ecaa6d3}
runs=${2:-10}
out=target/map-ab
rm -rf "$out/base-src"
mkdir -p "$out/base-src"
git archive "$base" Cargo.toml Cargo.lock crates | tar -x -C "$out/base-src"
for side in base this; do
    src=$PWD/crates/forkpool
    [ "$side" = base ] && src=$PWD/$out/base-src/crates/forkpool
    mkdir -p "$out/$side/src"
    cp crates/forkpool/benches/support/map_cpu.rs "$out/$side/src/main.rs"
    cat > "$out/$side/Cargo.toml" <<TOML
[package]
name = "map-cpu-$side"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
forkpool = { path = "$src" }
libc = "0.2"

[workspace]
TOML
    CARGO_TARGET_DIR=$PWD/$out/target cargo build -q --release --manifest-path "$out/$side/Cargo.toml"
done
for i in $(seq "$runs"); do
    for side in base this; do
        echo "$side $("$out/target/release/map-cpu-$side" 3)"
    done
done | tee "$out/runs.txt"
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
b=$(awk '$1 == "base" {print $3}' "$out/runs.txt" | median)
t=$(awk '$1 == "this" {print $3}' "$out/runs.txt" | median)
echo "median CPU per item: $base $b ns, this tree $t ns, ratio $(awk -v t="$t" -v b="$b" 'BEGIN {printf "%.3f", t / b}')"
