#!/usr/bin/env bash
# forkpool on many machines against GNU parallel with the same -S, in one
# run: 1,000 jobs of `echo {}` over 4 loopback "hosts" (aliases of one
# sshd started here), the cost of a fresh ssh login and of one through a
# ControlMaster, and forkpool's per-job overhead over a shared connection.
#
#   sudo bash crates/forkpool-cli/benches/remote.sh         # ~8 min on 2 busy cores (464 s at load 10, 2026-11-30)
#   JOBS=200 RUNS=1 sudo bash crates/forkpool-cli/benches/remote.sh   # a quick look
#   GNU=0 sudo bash crates/forkpool-cli/benches/remote.sh   # without GNU parallel's rows
#
# The time goes to the runs that cost a minute or more each: GNU parallel's
# two (-S and -M, ~0.1 s per job) and forkpool --no-controlmaster (a login
# per job). They run LONG_RUNS rounds (default 1, no warm-up); forkpool's
# runs over shared connections, a few seconds each, run RUNS rounds (default
# 2, after a warm-up). Fewer rounds, never fewer jobs: every row is the
# full JOBS. LONG_RUNS=3 RUNS=5 for tighter figures (~3x longer).
#
# GNU parallel with -S leaves processes behind (its reserve_process dummies,
# `sleep 10101`, and with -M its masters): each GNU run goes in a session of
# its own (setsid), every process of which is killed when the run ends, and
# on interrupt; the script fails if any survives.
#
# Needs root (to run sshd on a free loopback port and create the user
# forkpool-test), openssh-server, rsync, hyperfine, python3 and GNU
# parallel. Prints a Markdown report; nothing is left behind.
set -euo pipefail

JOBS=${JOBS:-1000}
RUNS=${RUNS:-2}
# (GNU_RUNS: this setting's earlier name.)
LONG_RUNS=${LONG_RUNS:-${GNU_RUNS:-1}}
GNU=${GNU:-1}
USER_NAME=forkpool-test

root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
sshd_pid=""
master=""
# The sessions GNU parallel's runs were started in (see gnu_sessions_end).
sessions=$work/gnu-sessions
: >"$sessions"
# Every process of every GNU parallel session, killed.
gnu_sessions_end() {
    local sid
    while read -r sid; do
        [ -n "$sid" ] || continue
        kill -KILL -- "-$sid" 2>/dev/null || true
        pkill -KILL -s "$sid" 2>/dev/null || true
    done <"$sessions"
}
cleanup() {
    trap - EXIT INT TERM
    [ -f "$sessions" ] && gnu_sessions_end
    [ -n "$master" ] && kill "$master" 2>/dev/null || true
    [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

[ "$(id -u)" -eq 0 ] || { echo "run as root (sshd and a test user)" >&2; exit 1; }
for tool in /usr/sbin/sshd hyperfine python3 parallel; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

echo "building forkpool (release)" >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p forkpool-cli
source "$root/benches/target_dir.sh"
forkpool=$(target_dir "$root")/release/forkpool

# --- the server -------------------------------------------------------------
id -u "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/sh "$USER_NAME"
usermod -p '*' -s /bin/sh "$USER_NAME"
mkdir -p /run/sshd
chmod 755 "$work"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
chmod 644 "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $work/host_key
PidFile none
AuthorizedKeysFile $work/authorized_keys
AllowUsers $USER_NAME
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200
LogLevel ERROR
EOF
/usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" &
sshd_pid=$!
cat >"$work/ssh_config" <<EOF
Host h1 h2 h3 h4
  HostName 127.0.0.1
  Port $port
  User $USER_NAME
  IdentityFile $work/user_key
  IdentitiesOnly yes
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  BatchMode yes
  LogLevel ERROR
EOF
ssh=(ssh -F "$work/ssh_config")
for _ in $(seq 100); do "${ssh[@]}" h1 true 2>/dev/null && break; sleep 0.1; done
export PARALLEL_SSH="ssh -F $work/ssh_config"
mkdir -p "$work/home/.parallel" && touch "$work/home/.parallel/will-cite"
seq "$JOBS" >"$work/input"
load() { cut -d' ' -f1-3 /proc/loadavg; }

# --- one login: fresh, and through a master ---------------------------------
mkdir -m 700 "$work/cm"
"${ssh[@]}" -M -N -o ControlPersist=no -S "$work/cm/s" h1 </dev/null &
master=$!
for _ in $(seq 200); do [ -S "$work/cm/s" ] && break; sleep 0.05; done
echo "load before: $(load)" >&2
hyperfine --style basic -N --warmup 2 --runs $((RUNS * 5)) --export-json "$work/login.json" \
    -n "fresh ssh login (ssh h1 true)" "ssh -F $work/ssh_config h1 true" \
    -n "through a ControlMaster (ssh -S SOCKET h1 true)" "ssh -F $work/ssh_config -S $work/cm/s h1 true" >&2
kill "$master"; wait "$master" 2>/dev/null || true
master=""

# --- forkpool's per-job overhead over a shared connection --------------------
# One host, one slot: jobs run one after another, so the difference between
# 2N and N jobs is N jobs' full cost (ssh session + remote wrapper + job).
n=$((JOBS / 10)); [ "$n" -ge 10 ] || n=10
seq "$n" >"$work/n1"; seq $((2 * n)) >"$work/n2"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$work/perjob.json" \
    -n "N" "$forkpool -j1 -S 1/h1 true <$work/n1" \
    -n "2N" "$forkpool -j1 -S 1/h1 true <$work/n2" >&2

# --- 1,000 jobs over 4 hosts ---------------------------------------------------
hosts="h1,h2,h3,h4"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$work/fp.json" \
    -n "forkpool -S $hosts" "$forkpool -S $hosts echo {} <$work/input >/dev/null" \
    -n "forkpool -M -S $hosts" "$forkpool -M -S $hosts echo {} <$work/input >/dev/null" >&2
hyperfine --style basic --runs "$LONG_RUNS" --export-json "$work/fp_login.json" \
    -n "forkpool --no-controlmaster -S $hosts" "$forkpool --no-controlmaster -S $hosts echo {} <$work/input >/dev/null" >&2
if [ "$GNU" = 1 ]; then
    # One GNU parallel run in a session of its own, recorded, and all of
    # that session killed when it ends (its `sleep 10101` dummies outlive
    # it otherwise).
    cat >"$work/gnu" <<WRAPPER
#!/bin/sh
setsid sh -c 'echo \$\$ >"\$0"; echo \$\$ >>"$sessions"; exec parallel "\$@"' "$work/gnu-sid" "\$@"
rc=\$?
sid=\$(cat "$work/gnu-sid")
kill -KILL -- "-\$sid" 2>/dev/null
pkill -KILL -s "\$sid" 2>/dev/null
exit \$rc
WRAPPER
    chmod +x "$work/gnu"
    echo "sleep 10101 before GNU parallel: $(pgrep -fc 'sleep 10101' || true)" >&2
    hyperfine --style basic --runs "$LONG_RUNS" --export-json "$work/gnu.json" \
        -n "GNU parallel -S $hosts" "HOME=$work/home $work/gnu -S $hosts echo {} <$work/input >/dev/null" \
        -n "GNU parallel -M -S $hosts" "HOME=$work/home $work/gnu -M -S $hosts echo {} <$work/input >/dev/null" >&2
    echo "sleep 10101 after GNU parallel: $(pgrep -fc 'sleep 10101' || true)" >&2
    # (Killed processes take a moment to be gone.)
    survivors() {
        local sid
        while read -r sid; do
            pgrep -s "$sid" || true
        done <"$sessions"
    }
    for _ in $(seq 100); do [ -z "$(survivors)" ] && break; sleep 0.1; done
    if [ -n "$(survivors)" ]; then
        echo "GNU parallel's processes survived their session's end:" >&2
        ps -o pid,sid,stat,args -p "$(survivors | paste -sd,)" >&2
        exit 1
    fi
else
    echo '{"results": []}' >"$work/gnu.json"
fi
echo "load after: $(load)" >&2

python3 - "$work" "$JOBS" "$n" "$(nproc)" "$(load)" <<'EOF'
import json, sys
work, jobs, n, cpus, load = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def means(name):
    with open(f"{work}/{name}.json") as f:
        return {r["command"]: (r["mean"], r["stddev"] or 0.0) for r in json.load(f)["results"]}
login, perjob, fp, gnu = means("login"), means("perjob"), means("fp"), means("gnu")
fp.update(means("fp_login"))
print(f"\n### Remote: {jobs} jobs of `echo {{}}` over 4 loopback hosts ({cpus} CPUs, load {load})\n")
print("| | mean | per job |")
print("| --- | --- | --- |")
for name, (mean, sd) in login.items():
    print(f"| {name} | {mean*1000:.1f} ms ± {sd*1000:.1f} | |")
slope = (perjob["2N"][0] - perjob["N"][0]) / n
floor = login.get("through a ControlMaster (ssh -S SOCKET h1 true)", (None, 0))[0]
against = f" ({slope/floor:.2f}x the ControlMaster session above)" if floor else ""
print(f"| forkpool per-job overhead, one host, one slot, shared connection ({n} more jobs) | | **{slope*1000:.1f} ms**{against} |")
print()
print("| command | total | per job | GNU parallel -S / this | GNU parallel -M / this |")
print("| --- | --- | --- | --- | --- |")
g = gnu.get("GNU parallel -S h1,h2,h3,h4", (None, 0))[0]
gm = gnu.get("GNU parallel -M -S h1,h2,h3,h4", (None, 0))[0]
ratio = lambda base, mean: f"{base/mean:.1f}x" if base else "n/a"
for name, (mean, sd) in list(fp.items()) + list(gnu.items()):
    print(f"| `{name}` | {mean:.2f} s ± {sd:.2f} | {mean/jobs*1000:.1f} ms | {ratio(g, mean)} | {ratio(gm, mean)} |")
EOF
