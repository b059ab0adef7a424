#!/usr/bin/env bash
# What a `{= perl =}` replacement string costs per job, on top of a plain
# template, measured beside it in the same run (and GNU parallel's cost for
# the same, where it is installed).
#
#   bash crates/forkpool-cli/benches/replace.sh          # ~3 min on 2 cores
#   JOBS=5000 RUNS=10 bash crates/forkpool-cli/benches/replace.sh
#
# Three views:
# - `--dry-run` over many jobs: only building command lines, so the
#   difference is the evaluation itself (perl answers a batch of jobs per
#   round trip);
# - real jobs (`echo`, -j2): the difference as a user sees it;
# - an expression that asks for the job's slot: evaluated as each job
#   starts, one round trip per job (the worst case).
set -euo pipefail

JOBS=${JOBS:-2000}
DRY=${DRY:-100000}
RUNS=${RUNS:-10}

root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }

echo "building forkpool (release)" >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p forkpool-cli
source "$root/benches/target_dir.sh"
fp=$(target_dir "$root")/release/forkpool
gp=$(command -v parallel || true)
if [ -n "$gp" ] && ! "$gp" --version 2>/dev/null | grep -q 'GNU parallel'; then gp=""; fi
mkdir -p "$work/home/.parallel" && touch "$work/home/.parallel/will-cite"

seq "$JOBS" >"$work/jobs"
seq "$DRY" >"$work/dry"
perl_expr='{= s/x/y/ =}'

bench() {
    local name=$1
    shift
    hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$work/$name.json" "$@" >&2
}
bench dry \
    -n "plain" "$fp --dry-run echo {} :::: $work/dry" \
    -n "perl" "$fp --dry-run echo '$perl_expr' :::: $work/dry" \
    -n "slot" "$fp --dry-run echo '{= \$_=slot() =}' :::: $work/jobs"
bench real \
    -n "plain" "$fp -j2 echo {} :::: $work/jobs" \
    -n "perl" "$fp -j2 echo '$perl_expr' :::: $work/jobs" \
    -n "perl, input from a pipe" "cat $work/jobs | $fp -j2 echo '$perl_expr'"
if [ -n "$gp" ]; then
    bench gnu \
        -n "plain" "HOME=$work/home $gp -j2 echo {} :::: $work/jobs" \
        -n "perl" "HOME=$work/home $gp -j2 echo '$perl_expr' :::: $work/jobs"
fi

python3 - "$work" "$JOBS" "$DRY" "$([ -n "$gp" ] && echo 1 || echo 0)" <<'EOF'
import json, sys
work, jobs, dry, have_gnu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"

def means(name):
    with open(f"{work}/{name}.json") as f:
        return {r["command"]: (r["mean"], r["stddev"] or 0.0) for r in json.load(f)["results"]}

def us(seconds, n):
    return seconds / n * 1e6

d = means("dry")
print(f"\n### Building command lines only (`--dry-run`, {dry:,} jobs)\n")
print("| template | total | per job | added per job |")
print("| --- | --- | --- | --- |")
print(f"| `echo {{}}` | {d['plain'][0]*1e3:.0f} ± {d['plain'][1]*1e3:.0f} ms | {us(d['plain'][0], dry):.1f} µs | (baseline) |")
print(f"| `echo {{= s/x/y/ =}}` | {d['perl'][0]*1e3:.0f} ± {d['perl'][1]*1e3:.0f} ms | {us(d['perl'][0], dry):.1f} µs "
      f"| **{us(d['perl'][0] - d['plain'][0], dry):.1f} µs** |")
print(f"| `echo {{= $_=slot() =}}` ({jobs:,} jobs, one round trip each) | {d['slot'][0]*1e3:.0f} ± {d['slot'][1]*1e3:.0f} ms "
      f"| {us(d['slot'][0], jobs):.1f} µs | {us(d['slot'][0], jobs) - us(d['plain'][0], dry):.1f} µs |")

r = means("real")
print(f"\n### Real jobs (`echo`, -j2, {jobs:,} jobs)\n")
print("| tool | `echo {}` | `echo {= s/x/y/ =}` | added per job |")
print("| --- | --- | --- | --- |")
print(f"| forkpool | {r['plain'][0]*1e3:.0f} ± {r['plain'][1]*1e3:.0f} ms | {r['perl'][0]*1e3:.0f} ± {r['perl'][1]*1e3:.0f} ms "
      f"| {us(r['perl'][0] - r['plain'][0], jobs):.1f} µs |")
p = r["perl, input from a pipe"]
print(f"| forkpool, input from a pipe | | {p[0]*1e3:.0f} ± {p[1]*1e3:.0f} ms | {us(p[0] - r['plain'][0], jobs):.1f} µs |")
if have_gnu:
    g = means("gnu")
    print(f"| GNU parallel | {g['plain'][0]*1e3:.0f} ± {g['plain'][1]*1e3:.0f} ms | {g['perl'][0]*1e3:.0f} ± {g['perl'][1]*1e3:.0f} ms "
          f"| {us(g['perl'][0] - g['plain'][0], jobs):.1f} µs |")
    print(f"\nGNU parallel / forkpool with `{{= s/x/y/ =}}`: {g['perl'][0] / r['perl'][0]:.1f}x")
EOF
