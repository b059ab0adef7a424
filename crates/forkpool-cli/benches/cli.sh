#!/usr/bin/env bash
# The `forkpool` command against `xargs -P`, GNU parallel and a shell loop,
# side by side in one run, so every ratio compares figures measured on the
# same machine at the same moment.
#
#   bash crates/forkpool-cli/benches/cli.sh            # the usual run (~5 min on 2 cores)
#   JOBS=5000 RUNS=20 bash crates/forkpool-cli/benches/cli.sh
#   MILLION=1 bash crates/forkpool-cli/benches/cli.sh  # also run 1,000,000 real jobs (~10 more min)
#   BASELINE=/path/to/older/forkpool bash crates/forkpool-cli/benches/cli.sh
#                                                      # also an older build, in the same run
#
# Installs hyperfine (and GNU time) with apt if they are missing. GNU
# parallel is compared where it is installed; nothing installs it for you.
set -euo pipefail

JOBS=${JOBS:-2000}
# The own-CPU figures: the kernel reports a process's CPU time in 10 ms
# ticks, so 2,000 jobs of ~0.1 ms each would be read to within 5%; 10,000
# read it to within 1%. (GNU parallel, 20x slower, keeps JOBS.)
CPU_JOBS=${CPU_JOBS:-10000}
RUNS=${RUNS:-10}
MILLION=${MILLION:-0}
BASELINE=${BASELINE:-}

source "$(dirname "$0")/common.sh"

seq "$JOBS" >"$work/input"
seq "$CPU_JOBS" >"$work/cpu_input"

# --- per-job overhead -------------------------------------------------------
# `true` measures pure overhead; `echo {}` adds a replacement and output.
per_job() {
    local name=$1 fp=$2 xa=$3 gp=$4 loop=$5
    local in="<$work/input"
    local cmds=(
        -n "shell loop (serial floor)" "$loop $in"
        -n "xargs -P2 -n1" "$xa $in"
        -n "forkpool -j2" "$fp $in"
    )
    [ -n "$BASELINE" ] && cmds+=(-n "baseline forkpool -j2" "${fp/#$forkpool/$BASELINE} $in")
    [ -n "$parallel" ] && cmds+=(-n "GNU parallel -j2" "$gp $in")
    hyperfine --style basic --warmup 1 --runs "$RUNS" \
        --export-json "$work/$name.json" "${cmds[@]}" >&2
}
per_job true \
    "$forkpool -j2 true" \
    "xargs -P2 -n1 true" \
    "HOME=$work/home $parallel -j2 true" \
    "while read -r i; do /bin/true; done"
per_job echo \
    "$forkpool -j2 echo {}" \
    "xargs -P2 -n1 echo" \
    "HOME=$work/home $parallel -j2 echo {}" \
    "while read -r i; do /bin/echo \"\$i\"; done"

# --- the tool's own CPU per job ---------------------------------------------
# Wall time includes the jobs themselves (the same work for every tool).
# What each tool adds is its own CPU time, read from /proc/PID/stat while
# it is a zombie (after it exits, before it is reaped): user + system time
# of the tool alone, its children excluded.
own_cpu() {
    local input=$1
    shift
    python3 - "$input" "$@" <<'PY'
import os, sys
input_path, argv = sys.argv[1], sys.argv[2:]
env = dict(os.environ)
with open(input_path, "rb") as stdin, open(os.devnull, "wb") as null:
    pid = os.fork()
    if pid == 0:
        os.dup2(stdin.fileno(), 0)
        os.dup2(null.fileno(), 1)
        os.execvpe(argv[0], argv, env)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    os.waitpid(pid, 0)
ticks = os.sysconf("SC_CLK_TCK")
with open(input_path, "rb") as f:
    jobs = sum(1 for _ in f)
# Seconds per job.
print((int(fields[11]) + int(fields[12])) / ticks / jobs)
PY
}
cpu_rows=()
for i in 1 2 3; do
    cpu_rows+=("xargs -P2 -n1|$(own_cpu "$work/cpu_input" xargs -P2 -n1 true)")
    cpu_rows+=("forkpool -j2|$(own_cpu "$work/cpu_input" "$forkpool" -j2 true)")
    [ -n "$BASELINE" ] && cpu_rows+=("baseline forkpool -j2|$(own_cpu "$work/cpu_input" "$BASELINE" -j2 true)")
    [ -n "$parallel" ] && cpu_rows+=("GNU parallel -j2|$(HOME=$work/home own_cpu "$work/input" "$parallel" -j2 true)")
done

# --- start-up: one job ------------------------------------------------------
# No shell in between (-N): each figure is the program alone. Every row runs
# `true x`: `true` with an argument sets up its locale, `true` alone does not
# (startup.sh says more).
echo x >"$work/one"
startup=(-n "/bin/true x (floor: one exec)" "/bin/true x" -n "xargs -a ONE true" "xargs -a $work/one true"
    -n "forkpool true ::: x" "$forkpool true ::: x")
[ -n "$BASELINE" ] && startup+=(-n "baseline forkpool true ::: x" "$BASELINE true ::: x")
[ -n "$parallel" ] && startup+=(-n "GNU parallel true ::: x" "env HOME=$work/home $parallel true ::: x")
hyperfine --style basic -N --warmup 3 --runs $((RUNS * 5)) --export-json "$work/startup.json" \
    "${startup[@]}" >&2

# --- memory: flat in the number of jobs -------------------------------------
peak_kib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
mem_rows=()
for n in 1000 10000 100000; do
    mem_rows+=("real jobs|$n|$(seq "$n" | peak_kib "$forkpool" -j2 true)")
done
if [ "$MILLION" = 1 ]; then
    mem_rows+=("real jobs|1000000|$(seq 1000000 | peak_kib "$forkpool" -j2 true)")
fi
mem_rows+=("--dry-run (every job built and printed)|1000000|$(seq 1000000 | peak_kib "$forkpool" --dry-run echo {})")

# --- report -----------------------------------------------------------------
python3 - "$work" "$JOBS" "$CPU_JOBS" "${#cpu_rows[@]}" "${cpu_rows[@]}" "${mem_rows[@]}" <<'EOF'
import json, sys
work, jobs, cpu_jobs, ncpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cpu, mem = sys.argv[5:5 + ncpu], sys.argv[5 + ncpu:]

def means(name):
    with open(f"{work}/{name}.json") as f:
        return {r["command"]: (r["mean"], r["stddev"] or 0.0) for r in json.load(f)["results"]}

print(f"\n### {jobs} jobs, -j2 (hyperfine means)\n")
print("| command | tool | total | per job | vs xargs | GNU parallel / this |")
print("| --- | --- | --- | --- | --- | --- |")
for name in ["true", "echo"]:
    m = means(name)
    xargs = m["xargs -P2 -n1"][0]
    gp = m.get("GNU parallel -j2", (None,))[0]
    for tool, (mean, sd) in m.items():
        vs = f"{mean / xargs:.2f}x"
        par = f"{gp / mean:.1f}x" if gp else "not installed"
        print(f"| `{'true' if name == 'true' else 'echo {}'}` | {tool} | {mean * 1e3:.0f} ± {sd * 1e3:.0f} ms "
              f"| {mean / jobs * 1e3:.3f} ms | {vs} | {par} |")

print(f"\n### The tool's own CPU time per job (`true`, {cpu_jobs} jobs, GNU parallel {jobs}; best of 3)\n")
best = {}
for row in cpu:
    tool, secs = row.split("|")
    best[tool] = min(best.get(tool, float("inf")), float(secs))
print("| tool | own CPU per job | vs xargs | GNU parallel / this |")
print("| --- | --- | --- | --- |")
for tool, secs in best.items():
    gp = best.get("GNU parallel -j2")
    par = f"{gp / secs:.1f}x" if gp and secs else "n/a"
    print(f"| {tool} | {secs * 1e6:.0f} µs | {secs / best['xargs -P2 -n1']:.2f}x | {par} |")

print("\n### Start-up: one job\n")
print("| command | time |")
print("| --- | --- |")
for tool, (mean, sd) in means("startup").items():
    print(f"| `{tool}` | {mean * 1e3:.2f} ± {sd * 1e3:.2f} ms |")

print("\n### Peak memory of `forkpool` (GNU time, max RSS)\n")
print("| run | inputs from stdin | peak RSS |")
print("| --- | --- | --- |")
for row in mem:
    kind, n, kib = row.split("|")
    print(f"| {kind} | {int(n):,} | {int(kib) / 1024:.1f} MiB |")
EOF
