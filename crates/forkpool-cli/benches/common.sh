# Set-up shared by the benchmark scripts here (sourced, not run): a scratch
# directory, the tools they need, a release build of `forkpool`, and GNU
# parallel if it is installed.
#
# Sets: root (the workspace), work (removed on exit), forkpool (the binary),
# parallel (GNU parallel's path, or empty), and $work/home, a HOME in which
# GNU parallel's citation notice is already answered.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return
    echo "installing $package (for $tool)" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "$package" >/dev/null
}
need hyperfine hyperfine
need python3 python3
[ -x /usr/bin/time ] || need /usr/bin/time time

echo "building forkpool (release)" >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p forkpool-cli
source "$root/benches/target_dir.sh"
forkpool=$(target_dir "$root")/release/forkpool
parallel=$(command -v parallel || true)
if [ -n "$parallel" ] && ! "$parallel" --version 2>/dev/null | grep -q 'GNU parallel'; then
    parallel=""  # moreutils' parallel has another interface
fi
# GNU parallel asks to be cited once per user; answer for it here.
if [ -n "$parallel" ]; then
    mkdir -p "$work/home/.parallel" && touch "$work/home/.parallel/will-cite"
fi

# `check_count N COMMAND`: COMMAND (a shell line whose jobs print counts,
# e.g. `wc -l`) must count N in all, or its time means nothing.
check_count() {
    local got
    got=$(sh -c "$2" | awk '{ s += $1 } END { print s }')
    if [ "$got" != "$1" ]; then
        echo "wrong result from: $2 (got $got, not $1)" >&2
        exit 1
    fi
}

# `interleaved OUT.json RUNS -n NAME COMMAND...`: every command once per
# round, the rounds repeated, each run's seconds written to OUT.json as
# hyperfine writes them ({"results": [{"command", "times"}]}). On a busy
# machine, load that comes and goes falls on every command alike
# (hyperfine runs each command's runs back to back, and a burst of load
# lands on one of them).
interleaved() {
    python3 - "$@" <<'PY'
import json, subprocess, sys, time
out, runs, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cmds = [(args[i + 1], args[i + 2]) for i in range(0, len(args), 3)]  # -n NAME COMMAND

def timed(cmd):
    start = time.perf_counter()
    subprocess.run(["sh", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start

for _, cmd in cmds:  # warm-up
    timed(cmd)
times = {name: [] for name, _ in cmds}
for round in range(runs):
    for name, cmd in cmds:
        times[name].append(timed(cmd))
    print(f"round {round + 1}/{runs}", file=sys.stderr)
with open(out, "w") as f:
    json.dump({"results": [{"command": name, "times": times[name]} for name, _ in cmds]}, f)
PY
}
