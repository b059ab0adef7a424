#!/usr/bin/env bash
# Start-up of the `forkpool` command: one job against `xargs` and GNU
# parallel running the same job, side by side in one run (issue 8's goal:
# within 1.2x of `echo 1 | xargs true`), and what reading option files costs.
#
#   bash crates/forkpool-cli/benches/startup.sh           # ~20 s after the build
#   ROUNDS=40 bash crates/forkpool-cli/benches/startup.sh
#   BASELINE=/path/to/older/forkpool bash crates/forkpool-cli/benches/startup.sh  # adds its row
#
# No shell in between (hyperfine -N): each figure is the program alone.
# The baseline is the issue's `echo 1 | xargs true` without the shell and
# `echo`: `xargs -a ONE true`, where the file ONE holds the line `1`. Both
# then run `true 1`, as forkpool does. `true` with one argument is not
# `true` alone: coreutils' `true` looks for `--help`/`--version` then and
# sets up the locale first, about 0.2 ms here. A second row runs `xargs
# true` with the empty stdin hyperfine gives it, i.e. `true` with no
# argument: a stricter reference, shown beside the goal's baseline. HOME is
# an empty directory, so no option file exists (the usual case); one row
# reads a profile (-J).
# Medians, not means: on a shared machine the mean follows the outliers.
set -euo pipefail

RUNS=${RUNS:-40}      # runs per command per round
GNU_RUNS=${GNU_RUNS:-4}  # GNU parallel's runs per round (each takes ~0.1 s)
ROUNDS=${ROUNDS:-15}  # rounds, each command in turn: a busy spell hits all alike
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }
gnu=$(command -v parallel || true)
[ -n "$gnu" ] || echo "GNU parallel is not installed: its row is left out (apt-get install parallel)" >&2
echo "building forkpool (release)" >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p forkpool-cli
source "$root/benches/target_dir.sh"
forkpool=$(target_dir "$root")/release/forkpool
# The same binary as `cargo install` leaves it: a copy. The kernel keeps a
# file that was written in large pieces (as `cp` and `cargo install` write
# it) in large page-cache folios, and maps more of it per page fault than
# of the file the linker (LLD) wrote through a mapping, page by page: the copy
# starts ~0.2 ms faster here. Both rows are shown; neither is the other.
cp "$forkpool" "$work/forkpool-installed"

mkdir -p "$work/home"
echo 1 >"$work/one"
printf -- '-j2\n--tagstring {}\n' >"$work/profile"
export HOME=$work/home
unset PARALLEL PARALLEL_HOME XDG_CONFIG_HOME XDG_CONFIG_DIRS

commands=(
    -n "/bin/true 1 (floor: one exec)" "/bin/true 1"
    -n "xargs -a ONE true (runs true 1)" "xargs -a $work/one true"
    -n "xargs true (runs true alone)" "xargs true"
    -n "forkpool true ::: 1" "$forkpool true ::: 1"
    -n "forkpool true ::: 1 (installed copy)" "$work/forkpool-installed true ::: 1"
    -n "forkpool --dry-run true ::: 1" "$forkpool --dry-run true ::: 1"
    -n "forkpool --plain --dry-run true ::: 1" "$forkpool --plain --dry-run true ::: 1"
    -n "forkpool -j2 --tagstring {} --dry-run true ::: 1" "$forkpool -j2 --tagstring {} --dry-run true ::: 1"
    -n "forkpool -J PROFILE --dry-run true ::: 1" "$forkpool -J $work/profile --dry-run true ::: 1"
)
if [ -n "${BASELINE:-}" ]; then
    commands+=(-n "baseline: forkpool true ::: 1" "$BASELINE true ::: 1")
fi
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    hyperfine --style none -N --warmup 5 --runs "$RUNS" \
        --export-json "$work/round$round.json" "${commands[@]}" >/dev/null
    if [ -n "$gnu" ]; then
        hyperfine --style none -N --warmup 1 --runs "$GNU_RUNS" \
            --export-json "$work/gnu$round.json" -n "GNU parallel true ::: 1" "$gnu true ::: 1" >/dev/null
    fi
done

python3 - "$work" "$ROUNDS" <<'EOF'
import json, statistics, sys
rows = {}
cpu = {}
for n in range(1, int(sys.argv[2]) + 1):
    for name in (f"round{n}", f"gnu{n}"):
        try:
            results = json.load(open(f"{sys.argv[1]}/{name}.json"))["results"]
        except FileNotFoundError:
            continue
        for r in results:
            rows.setdefault(r["command"], []).extend(r["times"])
            # user + system of the program and every process it waited for
            # (its guardian, its job): what the start-up costs the machine,
            # which a busy machine does not inflate as it does wall time.
            cpu.setdefault(r["command"], []).append(r["user"] + r["system"])
rows = {k: sorted(v) for k, v in rows.items()}
med = {k: statistics.median(v) for k, v in rows.items()}
low = {k: v[0] for k, v in rows.items()}
base = "xargs -a ONE true (runs true 1)"
bare = "xargs true (runs true alone)"
fp = "forkpool true ::: 1"
n = len(rows[base])
gnu = "GNU parallel true ::: 1"
print(f"\n### Start-up: one job (hyperfine -N, {n} runs each, in {sys.argv[2]} interleaved rounds"
      + (f"; GNU parallel {len(rows[gnu])} runs" if gnu in rows else "") + ")\n")
used = {k: statistics.median(v) for k, v in cpu.items()}
print("| command | median | p10 | fastest | CPU (user+sys) | vs xargs (median) | vs xargs (fastest) "
      "| vs xargs (CPU) | GNU parallel / this (median) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for name, times in rows.items():
    versus_gnu = f"{med[gnu] / med[name]:.1f}x" if gnu in rows else "-"
    print(f"| `{name}` | {med[name] * 1e3:.2f} ms | {times[len(times) // 10] * 1e3:.2f} ms "
          f"| {low[name] * 1e3:.2f} ms | {used[name] * 1e3:.2f} ms | {med[name] / med[base]:.2f}x "
          f"| {low[name] / low[base]:.2f}x | {used[name] / used[base]:.2f}x | {versus_gnu} |")
print("\n\"vs xargs\" is against the goal's baseline, `xargs -a ONE true` (`true 1`, as in `echo 1 | xargs true`).")
installed = "forkpool true ::: 1 (installed copy)"
for label, against, goal in (("`xargs -a ONE true` (the goal's baseline, `true 1`)", base, "goal: 1.2x"),
                             ("`xargs true` (`true` with no argument)", bare, "a stricter reference, not the goal")):
    for ours, how in ((fp, "as linked"), (installed, "installed")):
        print(f"\n`{fp}` ({how}) / {label}: **{med[ours] / med[against]:.2f}x** by median, "
              f"**{low[ours] / low[against]:.2f}x** fastest against fastest, "
              f"**{used[ours] / used[against]:.2f}x** in CPU time ({goal}).")
print("On a busy machine the fastest runs are the ones no other process delayed.")
if gnu in rows:
    print(f"GNU parallel / `forkpool true ::: 1`: **{med[gnu] / med[fp]:.0f}x** by median, "
          f"**{low[gnu] / low[fp]:.0f}x** fastest against fastest.")
plain = med["forkpool --plain --dry-run true ::: 1"]
look = med["forkpool --dry-run true ::: 1"]
print(f"Looking for option files that do not exist: {(look - plain) * 1e6:+.0f} µs by median, "
      f"{(low['forkpool --dry-run true ::: 1'] - low['forkpool --plain --dry-run true ::: 1']) * 1e6:+.0f} µs fastest "
      f"(`--plain` skips the look)")
# The profile holds `-j2 --tagstring {}`: what those options cost typed is
# not the file's cost.
typed = "forkpool -j2 --tagstring {} --dry-run true ::: 1"
profile = "forkpool -J PROFILE --dry-run true ::: 1"
print(f"The profile's two options, typed: {(med[typed] - look) * 1e6:+.0f} µs by median, "
      f"{(low[typed] - low['forkpool --dry-run true ::: 1']) * 1e6:+.0f} µs fastest")
print(f"Reading them from a profile instead (-J: find, read, merge): {(med[profile] - med[typed]) * 1e6:+.0f} µs by median, "
      f"{(low[profile] - low[typed]) * 1e6:+.0f} µs fastest")
EOF
