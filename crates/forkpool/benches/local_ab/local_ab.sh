#!/usr/bin/env bash
# Does this branch slow the local pool? An A/B of the local pool's submit
# and map throughput, built from BASE (default: main) and from the working
# tree, both in release with default features, run alternately ROUNDS
# times (default 8) so that other load on the machine slows both alike.
# Wall time per task and per item (medians, and the median and middle
# half of the per-round ratios), and, with `perf`, the CPU time of each
# whole run (every process: client, supervisor, workers), which other
# load disturbs less. `benches/all.sh --only control` runs it against
# 1aeb874 (before Pool::stats and per-task options) for BENCHMARKS.md.
#
#   bash crates/forkpool/benches/local_ab/local_ab.sh [BASE] [ROUNDS]
#
# BUILD_NICE=19 builds at that priority; MEASURE_LOCK=FILE holds FILE
# (flock) while the rounds run, at priority MEASURE_NICE (default -10).
set -euo pipefail
base=${1:-main}
rounds=${2:-8}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/forkpool-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
# One target directory: the dependencies are built once; the base's tree
# stays at a fixed path under it, so a second run reuses its build.
target=${CARGO_TARGET_DIR:-$root/target}
base_tree=$target/local-ab/$(git -C "$root" rev-parse --short "$base^{commit}")
if [ ! -d "$base_tree/crates" ]; then
    mkdir -p "$base_tree"
    git -C "$root" archive "$base" | tar -x -C "$base_tree"
fi
example=crates/forkpool/examples/ab_local.rs
cp "$root/crates/forkpool/benches/local_ab/ab_local.rs" "$base_tree/$example"
cp "$root/crates/forkpool/benches/local_ab/ab_local.rs" "$root/$example"
trap 'rm -rf "$work"; rm -f "$root/$example"' EXIT
# Both trees build into one target directory (the dependencies once); the
# example's uplifted copy is removed first, so that each side's build
# leaves its own binary there (a fresh unit is linked again), never the
# other side's.
build_in() {
    rm -f "$target/release/examples/ab_local"
    (cd "$1" && CARGO_TARGET_DIR=$target nice -n "${BUILD_NICE:-0}" cargo build -q --release -p forkpool --example ab_local)
    [ -x "$target/release/examples/ab_local" ] || { echo "local_ab.sh: no ab_local built in $1" >&2; exit 1; }
    cp "$target/release/examples/ab_local" "$2"
}
build_in "$base_tree" "$work/before"
build_in "$root" "$work/after"
cmp -s "$work/before" "$work/after" && echo "local_ab.sh: warning: both builds are the same binary" >&2
# Runs one build; prints `submit_ns map_ns cpu_ms` (cpu_ms 0 without perf).
run() {
    if command -v perf >/dev/null && perf stat -x, -e task-clock -o "$work/perf" true 2>/dev/null; then
        local out
        out=$(perf stat -x, -e task-clock -o "$work/perf" "$1")
        echo "$out $(awk -F, '/task-clock/ { print $1 }' "$work/perf")"
    else
        echo "$("$1") 0"
    fi
}
all_rounds() {
    echo "round before(submit_ns map_ns cpu_ms) after(submit_ns map_ns cpu_ms)" >&2
    for i in $(seq "$rounds"); do
        echo "$i $(run "$work/before") $(run "$work/after")"
    done | tee "$work/rounds" >&2
}
if [ -n "${MEASURE_LOCK:-}" ]; then
    export -f run all_rounds
    export work rounds
    flock "$MEASURE_LOCK" nice -n "${MEASURE_NICE:--10}" bash -c all_rounds
else
    all_rounds
fi
# Medians of each side, and the median of the per-round ratios (rounds
# alternate, so a round's two runs met about the same load), with the
# middle half of those ratios: the spread a noisy machine leaves.
awk 'function sort(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } }
     function med(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
     function q(a, n, f) { sort(a, n); return a[int((n - 1) * f + 1.5)] }
     function spread(r, n) { return sprintf("per-round ratio median %.3f, middle half %.3f-%.3f, %d rounds", med(r, n), q(r, n, 0.25), q(r, n, 0.75), n) }
     { n++; BS[n]=$2; BM[n]=$3; BC[n]=$4; AS[n]=$5; AM[n]=$6; AC[n]=$7
       QS[n] = $5 / $2; QM[n] = $6 / $3; if ($4 > 0) QC[n] = $7 / $4 }
     END { s0 = med(BS, n); s1 = med(AS, n); m0 = med(BM, n); m1 = med(AM, n); c0 = med(BC, n); c1 = med(AC, n)
           printf "submit 20,000 then join all: %.0f ns/task before, %.0f after (%.3fx; %s)\n", s0, s1, s1 / s0, spread(QS, n)
           printf "map of 1,000,000 trivial items: %.1f ns/item before, %.1f after (%.3fx; %s)\n", m0, m1, m1 / m0, spread(QM, n)
           if (c0 > 0) printf "CPU time of a whole run: %.0f ms before, %.0f after (%.3fx; %s)\n", c0, c1, c1 / c0, spread(QC, n) }' "$work/rounds"
