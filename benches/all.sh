#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: builds and runs every benchmark the file
# reports, and rewrites each generated block in place (between
# `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`), keeping the
# hand-written analysis around the blocks. The top of the file is stamped
# with the date, the machine (CPU, cores, kernel, rustc) and the load
# average at the start.
#
#   bash benches/all.sh                    # everything (~20 min on 2 cores)
#   bash benches/all.sh --quick            # fewer rounds everywhere (~5 min)
#   bash benches/all.sh --only control,cli # just these sections
#   bash benches/all.sh --list             # the sections and what they run
#   bash benches/all.sh --lock FILE        # hold FILE (flock) while measuring
#   bash benches/all.sh --no-write         # print, leave BENCHMARKS.md alone
#
# Builds run first, at the lowest priority and without the lock, so that
# the lock is held only while measuring. A section whose tool is missing
# (python3, redis-server, hyperfine, GNU parallel, sshd, root for the remote
# section) is skipped with a note on stderr; its block keeps its last
# figures. Every section's output is also kept in target/bench-all/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench-all
mkdir -p "$out"

all_sections=(bench latency control privilege data stream python cluster cli startup replace pipe remote)
# Run only when named: criterion's profile is a build of its own (minutes),
# and `bench` measures the same scenarios.
extra_sections=(criterion)
declare -A describe=(
    [bench]="examples/bench.rs: submit/join latency, submit-all, map, start-up, task output modes"
    [latency]="examples/bench_latency.rs: one task at a time against a socketpair round trip"
    [control]="examples/bench_control.rs (abort, per-task options) and the A/B of plain submit-all/map before stats/options (CONTROL_BASE) and now"
    [privilege]="examples/bench_privilege.rs: confined workers against unconfined (run_as when root)"
    [data]="examples/bench_data.rs + benches/python_data.py + the SVG (plot_data.py, needs matplotlib)"
    [stream]="examples/bench_stream.rs: a stream against a raw pipe and map"
    [criterion]="cargo bench -p forkpool (criterion; short measurement times)"
    [python]="benches/python_pool.py: Python's ProcessPoolExecutor on bench's workloads (needs python3)"
    [cluster]="examples/cluster_bench.rs (starts its own redis-server on a free loopback port)"
    [cli]="crates/forkpool-cli/benches/cli.sh: against xargs -P, GNU parallel, a shell loop (hyperfine)"
    [startup]="crates/forkpool-cli/benches/startup.sh: one job against xargs and GNU parallel (hyperfine)"
    [replace]="crates/forkpool-cli/benches/replace.sh: {= perl =} replacement strings"
    [pipe]="crates/forkpool-cli/benches/pipe.sh: --pipe/--pipepart against GNU parallel and wc"
    [remote]="crates/forkpool-cli/benches/remote.sh: -S over a loopback sshd it starts (root only)"
)

quick=0
write=1
lock=""
only=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --no-write) write=0 ;;
        --lock) lock=${2:?--lock needs a file}; shift ;;
        --only) only=${2:?--only needs sections}; shift ;;
        --list)
            for s in "${all_sections[@]}"; do printf '%-10s %s\n' "$s" "${describe[$s]}"; done
            for s in "${extra_sections[@]}"; do printf '%-10s %s (only with --only)\n' "$s" "${describe[$s]}"; done
            exit 0 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
sections=("${all_sections[@]}")
if [ -n "$only" ]; then
    IFS=, read -r -a sections <<<"$only"
    for s in "${sections[@]}"; do
        [ -n "${describe[$s]:-}" ] || { echo "all.sh: no section '$s' (see --list)" >&2; exit 2; }
    done
fi

note() { echo "all.sh: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
# Measuring: under the lock when asked for, at normal priority or better.
measure() {
    if [ -n "$lock" ]; then
        flock "$lock" nice -n "${BENCH_NICE:--10}" "$@"
    else
        "$@"
    fi
}
build() { nice -n 19 cargo build -q --release "$@"; }
wants() { local s; for s in "${sections[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
machine="${cpu:-unknown CPU}, $(nproc) cores, Linux $(uname -r), $(rustc --version)"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$(date +%s)

# --- build everything first (no lock held) ----------------------------------
ex_args=()
wants bench && ex_args+=(--example bench)
wants latency && ex_args+=(--example bench_latency)
wants control && ex_args+=(--example bench_control)
wants privilege && ex_args+=(--example bench_privilege)
wants data && ex_args+=(--example bench_data)
wants stream && ex_args+=(--example bench_stream)
wants cluster && ex_args+=(--example cluster_bench)
if [ ${#ex_args[@]} -gt 0 ]; then
    note "building ${ex_args[*]}"
    build -p forkpool "${ex_args[@]}" || { note "the examples do not build"; exit 1; }
fi
if wants cli || wants startup || wants replace || wants pipe || wants remote; then
    note "building the forkpool command"
    build -p forkpool-cli || { note "the forkpool command does not build"; exit 1; }
fi
if wants criterion; then
    note "building the criterion benches"
    nice -n 19 cargo bench -q -p forkpool --no-run >/dev/null 2>&1 || { note "cargo bench does not build"; exit 1; }
fi
source "$root/benches/target_dir.sh"
ex=$(target_dir "$root")/release/examples

# --- the sections -------------------------------------------------------------
# Each prints Markdown on stdout; returning 3 means "skipped" (its reason
# already said on stderr).

sec_bench() { measure "$ex/bench"; }
sec_latency() { measure "$ex/bench_latency"; }
sec_control() {
    if [ $quick = 1 ]; then measure env FORKPOOL_BENCH_QUICK=1 "$ex/bench_control"; else measure "$ex/bench_control"; fi || return 1
    echo
    if ! git rev-parse -q --verify "${CONTROL_BASE:-1aeb874}^{commit}" >/dev/null; then
        note "control: no commit ${CONTROL_BASE:-1aeb874} in this clone: the A/B is skipped"
        return 0
    fi
    local rounds=21
    [ $quick = 1 ] && rounds=6
    echo "A/B, plain \`submit\` and \`map\` (no options), built at \`${CONTROL_BASE:-1aeb874}\` (before \`Pool::stats\` and per-task options) and at this tree, alternating $rounds rounds, medians (and the per-round ratios' median and middle half: rounds alternate, so a round's two runs met about the same load):"
    echo
    echo '```text'
    BUILD_NICE=19 MEASURE_LOCK="$lock" MEASURE_NICE="${BENCH_NICE:--10}" \
        bash crates/forkpool/benches/local_ab/local_ab.sh "${CONTROL_BASE:-1aeb874}" "$rounds" | tail -n 3
    echo '```'
}
sec_privilege() { measure "$ex/bench_privilege"; }
sec_data() {
    local csv=$out/data
    mkdir -p "$csv"
    measure "$ex/bench_data" --csv "$csv" || return 1
    if have python3; then
        measure python3 crates/forkpool/benches/python_data.py "$csv/python.csv" >&2 || note "data: python_data.py failed"
        if python3 -c "import matplotlib" 2>/dev/null; then
            python3 crates/forkpool/benches/plot_data.py "$csv" crates/forkpool/benches/data_path.svg >&2 \
                || note "data: plot_data.py failed"
        else
            note "data: no matplotlib: the figure is not redrawn"
        fi
    else
        note "data: no python3: no Python comparison, the figure is not redrawn"
    fi
}
sec_stream() { measure "$ex/bench_stream"; }
sec_criterion() {
    local args=(--warm-up-time 1 --measurement-time 3)
    [ $quick = 1 ] && args=(--warm-up-time 0.5 --measurement-time 1)
    echo "| benchmark | time | throughput |"
    echo "| --- | --- | --- |"
    measure nice -n 0 cargo bench -q -p forkpool -- "${args[@]}" 2>/dev/null | awk '
        /time:/ { name = $1; if (name == "time:") name = last; t = $0; sub(/.*time: *\[/, "", t); split(t, p, " "); med = p[3] " " p[4]; rows[++n] = name; times[n] = med; next }
        /thrpt:/ { t = $0; sub(/.*thrpt: *\[/, "", t); split(t, p, " "); thr[n] = p[3] " " p[4]; next }
        NF == 1 { last = $1 }
        END { for (i = 1; i <= n; i++) printf "| %s | %s | %s |\n", rows[i], times[i], thr[i] }'
}
sec_python() {
    have python3 || { note "python: no python3: skipped"; return 3; }
    # Its first line says what ran, the rest are table rows.
    measure python3 crates/forkpool/benches/python_pool.py | awk '
        NR == 1 { print $0 ":"; print ""; print "| workload | Python |"; print "| --- | --- |"; next }
        { print }'
}
sec_cluster() {
    have redis-server || { note "cluster: no redis-server: skipped"; return 3; }
    measure "$ex/cluster_bench"
}
cli_tools() {
    have hyperfine || { note "$1: no hyperfine: skipped"; return 3; }
    have python3 || { note "$1: no python3 (the scripts report through it): skipped"; return 3; }
    [ -x /usr/bin/time ] || { note "$1: no GNU time (/usr/bin/time): skipped"; return 3; }
    have parallel || note "$1: no GNU parallel: compared without it"
}
sec_cli() {
    cli_tools cli || return 3
    if [ $quick = 1 ]; then measure env JOBS=500 RUNS=3 bash crates/forkpool-cli/benches/cli.sh
    else measure env JOBS=1000 RUNS=5 bash crates/forkpool-cli/benches/cli.sh; fi
}
sec_startup() {
    cli_tools startup || return 3
    if [ $quick = 1 ]; then measure env ROUNDS=3 RUNS=10 GNU_RUNS=2 bash crates/forkpool-cli/benches/startup.sh
    else measure env ROUNDS=6 RUNS=20 GNU_RUNS=3 bash crates/forkpool-cli/benches/startup.sh; fi
}
sec_replace() {
    cli_tools replace || return 3
    have perl || { note "replace: no perl: skipped"; return 3; }
    if [ $quick = 1 ]; then measure env JOBS=300 DRY=20000 RUNS=3 bash crates/forkpool-cli/benches/replace.sh
    else measure env JOBS=1000 DRY=50000 RUNS=5 bash crates/forkpool-cli/benches/replace.sh; fi
}
sec_pipe() {
    cli_tools pipe || return 3
    if [ $quick = 1 ]; then measure env RUNS=2 LINES=5000000 bash crates/forkpool-cli/benches/pipe.sh
    else measure env RUNS=4 bash crates/forkpool-cli/benches/pipe.sh; fi
}
sec_remote() {
    cli_tools remote || return 3
    [ "$(id -u)" = 0 ] || { note "remote: needs root (its own sshd and a test user): skipped"; return 3; }
    have sshd || [ -x /usr/sbin/sshd ] || { note "remote: no sshd: skipped"; return 3; }
    have parallel || { note "remote: no GNU parallel: skipped"; return 3; }
    # The default: the issue's 1,000 jobs, in about ten minutes (see its header).
    if [ $quick = 1 ]; then measure env JOBS=40 RUNS=1 LONG_RUNS=1 bash crates/forkpool-cli/benches/remote.sh
    else measure bash crates/forkpool-cli/benches/remote.sh; fi
}

# Replaces the block NAME of BENCHMARKS.md with the file $2.
replace_block() {
    local name=$1 body=$2 file=$root/BENCHMARKS.md
    if ! grep -q "^<!-- generated:$name -->\$" "$file"; then
        note "$name: BENCHMARKS.md has no <!-- generated:$name --> block: output kept in $body only"
        return
    fi
    awk -v name="$name" -v body="$body" '
        $0 == "<!-- generated:" name " -->" { print; while ((getline line < body) > 0) print line; skip = 1; next }
        $0 == "<!-- /generated:" name " -->" { skip = 0 }
        !skip { print }' "$file" >"$file.new" && mv "$file.new" "$file"
}

ran=()
skipped=()
failed=()
interrupted=""
# Stopped half-way (Ctrl-C, or `kill` of this script's pid, which lets the
# running section end first): the blocks finished so far stay written, and
# the stamp says where the run stopped.
trap 'interrupted=$s' INT TERM
for s in "${sections[@]}"; do
    [ -n "$interrupted" ] && break
    note "== $s: ${describe[$s]}"
    start=$(date +%s)
    body=$out/$s.md
    {
        "sec_$s"
    } >"$body.raw"
    rc=$?
    took=$(($(date +%s) - start))
    if [ $rc = 3 ]; then
        skipped+=("$s")
        continue
    fi
    if [ $rc != 0 ]; then
        note "$s FAILED (exit $rc after ${took}s); its block keeps its last figures; output in $body.raw"
        failed+=("$s")
        continue
    fi
    { echo; cat "$body.raw"; echo; echo "<sub>Generated by \`bash benches/all.sh$([ $quick = 1 ] && echo ' --quick')$([ -n "$only" ] && echo " --only $only")\` (this block alone: \`--only $s\`) on $(date -u '+%Y-%m-%d %H:%M UTC') (${took} s${lock:+ with waits for the lock}; load average $(cut -d' ' -f1 /proc/loadavg) at its end), $machine.</sub>"; echo; } >"$body"
    cat "$body"
    [ $write = 1 ] && replace_block "$s" "$body"
    ran+=("$s")
done

{
    echo
    echo "Last regenerated with \`bash benches/all.sh$([ $quick = 1 ] && echo ' --quick')$([ -n "$only" ] && echo " --only $only")\`:"
    echo
    echo "- when: $started, $(( ($(date +%s) - t0) / 60 )) min; commit \`$(git rev-parse --short HEAD)\`$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes)')"
    echo "- machine: $machine"
    echo "- load average at the start: $load_at_start (1, 5, 15 min)"
    echo "- sections run: ${ran[*]:-none}${skipped:+; skipped (a tool missing): ${skipped[*]}}${failed:+; **failed**: ${failed[*]}}${interrupted:+; **interrupted** at $interrupted (the sections after it keep their earlier figures)}"
    echo
} >"$out/machine.md"
cat "$out/machine.md"
# The stamp at the top describes a run of every section; one section's run
# is stamped in its own block.
[ $write = 1 ] && [ -z "$only" ] && replace_block machine "$out/machine.md"
[ ${#failed[@]} = 0 ] && [ -z "$interrupted" ]
