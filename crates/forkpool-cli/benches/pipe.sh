#!/usr/bin/env bash
# `forkpool --pipe` and `--pipepart` against GNU parallel and the floors a
# runner cannot beat (`cat FILE | wc -l`, `wc -l FILE`), all in one session
# whose rounds run every command once each, so that every ratio compares
# figures of the same run.
#
#   bash crates/forkpool-cli/benches/pipe.sh          # ~3 min on 2 cores
#   RUNS=20 LINES=30000000 bash crates/forkpool-cli/benches/pipe.sh
#
# The input is `seq 1 $LINES` (250 MB for the default 30,000,000 lines),
# read from the page cache. Installs what it needs (common.sh) with apt if
# they are missing; GNU parallel is compared where it is installed.
set -euo pipefail

RUNS=${RUNS:-10}
LINES=${LINES:-30000000}

source "$(dirname "$0")/common.sh"
if [ -n "$parallel" ]; then
    parallel="env HOME=$work/home $parallel"
fi

file=$work/seq.txt
seq 1 "$LINES" >"$file"
cat "$file" >/dev/null # into the page cache
size=$(stat -c %s "$file")
# The same 10 MB parts as files of their own, for a reference that reads
# files instead of pipes: one `wc -l` each, two at a time.
mkdir -p "$work/parts"
split -b 10M "$file" "$work/parts/part."
ls "$work"/parts/part.* >"$work/parts.list"
cat "$work"/parts/part.* >/dev/null

cmds=(
    -n "cat FILE | wc -l (floor)" "cat $file | wc -l"
    -n "wc -l FILE (one reader)" "wc -l <$file"
    -n "forkpool --pipe < FILE" "$forkpool -j2 --pipe --block 10M wc -l <$file"
    -n "cat FILE | forkpool --pipe" "cat $file | $forkpool -j2 --pipe --block 10M wc -l"
    -n "forkpool --pipepart" "$forkpool -j2 --pipepart -a $file --block 10M wc -l"
    -n "parts as files: xargs -P2 wc -l" "xargs -P2 -n1 -a $work/parts.list wc -l"
)
if [ -n "$parallel" ]; then
    cmds+=(
        -n "GNU parallel --pipe < FILE" "$parallel -j2 --pipe --block 10M wc -l <$file"
        -n "cat FILE | GNU parallel --pipe" "cat $file | $parallel -j2 --pipe --block 10M wc -l"
        -n "GNU parallel --pipepart" "$parallel -j2 --pipepart -a $file --block 10M wc -l"
    )
fi
# Every command must count every line, or its time means nothing.
for ((i = 1; i < ${#cmds[@]}; i += 3)); do
    check_count "$LINES" "${cmds[i + 1]}"
done

interleaved "$work/pipe.json" "$RUNS" "${cmds[@]}"

# forkpool's own peak (GNU time reports the largest of it and its jobs).
rss_stream=$(sh -c "cat $file | /usr/bin/time -f %M $forkpool -j2 --pipe --block 10M wc -l 2>&1 >/dev/null" | tail -1)
rss_file=$(/usr/bin/time -f %M "$forkpool" -j2 --pipe --block 10M wc -l <"$file" 2>&1 >/dev/null | tail -1)
rss_part=$(/usr/bin/time -f %M "$forkpool" -j2 --pipepart -a "$file" --block 10M wc -l 2>&1 >/dev/null | tail -1)

python3 - "$work/pipe.json" "$size" "$LINES" "$rss_stream" "$rss_file" "$rss_part" <<'EOF'
import json, sys, statistics
path, size, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rss_stream, rss_file, rss_part = (int(x) for x in sys.argv[4:7])
with open(path) as f:
    results = {r["command"]: r for r in json.load(f)["results"]}

def median(name):
    return statistics.median(results[name]["times"])

def best(name):
    return min(results[name]["times"])

print(f"\n### {size / 1e6:.0f} MB (`seq 1 {lines}`), -j2, --block 10M ({len(next(iter(results.values()))['times'])} interleaved rounds)\n")
print("| command | median | best | MB/s (median) |")
print("| --- | --- | --- | --- |")
for name in results:
    shown = name.replace("|", "\\|")
    print(f"| {shown} | {median(name) * 1e3:.0f} ms | {best(name) * 1e3:.0f} ms | {size / median(name) / 1e6:.0f} |")

def ratio(a, b):
    if a not in results or b not in results:
        return "n/a"
    return f"{median(a) / median(b):.2f}x (best {best(a) / best(b):.2f}x)"

print("\n| goal | measured (median; best-of-runs in brackets) |")
print("| --- | --- |")
print(f"| `--pipe` >= 5x GNU's throughput, input from the file | GNU / forkpool: {ratio('GNU parallel --pipe < FILE', 'forkpool --pipe < FILE')} |")
print(f"| `--pipe` >= 5x GNU's throughput, input through `cat` | GNU / forkpool: {ratio('cat FILE | GNU parallel --pipe', 'cat FILE | forkpool --pipe')} |")
print(f"| `--pipepart` within 1.5x of one `wc -l FILE` | forkpool / wc: {ratio('forkpool --pipepart', 'wc -l FILE (one reader)')} |")
print(f"| floor: `cat FILE \\| wc -l` | forkpool `cat \\|` / floor: {ratio('cat FILE | forkpool --pipe', 'cat FILE | wc -l (floor)')} |")
print(f"| (GNU `--pipepart` for reference) | GNU / forkpool: {ratio('GNU parallel --pipepart', 'forkpool --pipepart')} |")
print(f"| (the parts read as files, no pipes) | xargs / wc: {ratio('parts as files: xargs -P2 wc -l', 'wc -l FILE (one reader)')} |")

print("\n| run | forkpool's peak RSS |")
print("| --- | --- |")
print(f"| `cat FILE \\| forkpool --pipe --block 10M` | {rss_stream / 1024:.1f} MiB |")
print(f"| `forkpool --pipe --block 10M < FILE` | {rss_file / 1024:.1f} MiB |")
print(f"| `forkpool --pipepart --block 10M` | {rss_part / 1024:.1f} MiB |")
EOF
