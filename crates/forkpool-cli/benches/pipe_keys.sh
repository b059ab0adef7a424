#!/usr/bin/env bash
# `forkpool --pipe` with `--group-by`, `--shard` and `--bin` against GNU
# parallel, with `cat FILE | wc -l` as the floor, all in one session whose
# rounds run every command once each, so that every ratio compares figures
# of the same run.
#
#   bash crates/forkpool-cli/benches/pipe_keys.sh        # ~2 min on 2 cores
#   RUNS=5 LINES=3000000 bash crates/forkpool-cli/benches/pipe_keys.sh
#
# The input is LINES lines `KEY<tab>N` (KEY = N/7: runs of seven), about
# 43 MB for the default 3,000,000, read from the page cache; every command
# runs -j2 and `wc -l` per job. Keys are a column (computed by forkpool
# itself) or a perl expression (forkpool's perl co-process; GNU's sharders
# and filter are perl too).
set -euo pipefail

RUNS=${RUNS:-3}
LINES=${LINES:-3000000}

source "$(dirname "$0")/common.sh"
if [ -n "$parallel" ]; then
    parallel="env HOME=$work/home $parallel"
fi

file=$work/keyed.tsv
perl -e 'for $i (1..$ARGV[0]) { print int($i / 7), "\t", $i, "\n" }' "$LINES" >"$file"
cat "$file" >/dev/null # into the page cache
size=$(stat -c %s "$file")

cases=(
    "--group-by 1" "--group-by 1"
    "--group-by, perl key" "--group-by '1 \$_ = int(\$_ / 10)'"
    "--shard 1" "--colsep '\t' --shard 1"
    "--shard, perl key" "--colsep '\t' --shard '1 \$_ %= 10'"
    "--bin 2" "--colsep '\t' --bin 2"
)
cmds=(-n "cat FILE | wc -l (floor)" "cat $file | wc -l")
for ((i = 0; i < ${#cases[@]}; i += 2)); do
    cmds+=(-n "forkpool ${cases[i]}" "$forkpool -j2 --pipe ${cases[i + 1]} wc -l <$file")
    if [ -n "$parallel" ]; then
        cmds+=(-n "GNU ${cases[i]}" "$parallel -j2 --pipe ${cases[i + 1]} wc -l <$file")
    fi
done
# Every command must count every line, or its time means nothing.
for ((i = 1; i < ${#cmds[@]}; i += 3)); do
    check_count "$LINES" "${cmds[i + 1]}"
done

interleaved "$work/keys.json" "$RUNS" "${cmds[@]}"

python3 - "$work/keys.json" "$size" "$LINES" <<'EOF'
import json, statistics, sys
path, size, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    times = {r["command"]: r["times"] for r in json.load(f)["results"]}
runs = len(next(iter(times.values())))

med = {name: statistics.median(t) for name, t in times.items()}
print(f"\n### {size / 1e6:.0f} MB ({lines} lines `KEY<tab>N`), -j2, `wc -l` per job ({runs} interleaved rounds)\n")
print("| keys | forkpool (median) | GNU parallel (median) | GNU / forkpool |")
print("| --- | --- | --- | --- |")
print(f"| floor: `cat FILE \\| wc -l` | {med['cat FILE | wc -l (floor)'] * 1e3:.0f} ms | | |")
for name in med:
    if not name.startswith("forkpool "):
        continue
    case = name[len("forkpool "):]
    gnu = med.get("GNU " + case)
    shown = f"{gnu * 1e3:.0f} ms" if gnu else "n/a"
    ratio = f"{gnu / med[name]:.2f}x" if gnu else "n/a"
    print(f"| `{case}` | {med[name] * 1e3:.0f} ms | {shown} | {ratio} |")
EOF
