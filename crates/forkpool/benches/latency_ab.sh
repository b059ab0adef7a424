#!/usr/bin/env bash
# One task at a time, submit-all and `map`: this tree against another commit
# (default `main`), both built the same way, run in turns: each run prints
# `examples/bench_latency.rs`'s table (each figure beside its socketpair
# floor, measured in that same run) and `examples/bench.rs`'s. Hold the
# benchmark lock while it runs, e.g.
#
#   nice -n 19 bash crates/forkpool/benches/latency_ab.sh build [COMMIT]
#   flock /work/wt/bench.lock nice -n -10 bash crates/forkpool/benches/latency_ab.sh run [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=target/latency-ab
case "${1:-}" in
build)
    base=${2:-main}
    rm -rf "$out/base-src" "$out/base" "$out/this"
    mkdir -p "$out/base-src" "$out/base" "$out/this"
    git archive "$base" Cargo.toml Cargo.lock crates | tar -x -C "$out/base-src"
    git rev-parse --short "$base" > "$out/base/commit"
    # A target directory of its own: one shared with this tree would keep
    # whichever side's examples were linked last.
    (cd "$out/base-src" && CARGO_TARGET_DIR=$PWD/../target cargo build -q --release -p forkpool --example bench_latency --example bench)
    cp "$out/target/release/examples/bench_latency" "$out/target/release/examples/bench" "$out/base/"
    cargo build -q --release -p forkpool --example bench_latency --example bench
    cp target/release/examples/bench_latency target/release/examples/bench "$out/this/"
    git rev-parse --short HEAD > "$out/this/commit"
    if cmp -s "$out/base/bench_latency" "$out/this/bench_latency"; then
        echo "the two sides built the same program" >&2
        exit 1
    fi
    ;;
run)
    runs=${2:-3}
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg); base $(cat "$out/base/commit"), this $(cat "$out/this/commit")"
    for i in $(seq "$runs"); do
        for side in base this; do
            echo "== run $i: $side ($(cat "$out/$side/commit"))"
            "$out/$side/bench_latency" | grep '^|' | grep -v -e '---' -e '^| measurement'
            "$out/$side/bench" 2>/dev/null | grep '^|' | grep -v -e '---' -e '^| measurement' -e '^| per task'
        done
    done
    ;;
*)
    echo "usage: $0 build [COMMIT] | run [RUNS]" >&2
    exit 2
    ;;
esac
