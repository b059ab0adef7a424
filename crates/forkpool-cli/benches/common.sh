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
forkpool=$root/target/release/forkpool
parallel=$(command -v parallel || true)
if [ -n "$parallel" ] && ! "$parallel" --version 2>/dev/null | grep -q 'GNU parallel'; then
    parallel=""  # moreutils' parallel has another interface
fi
# GNU parallel asks to be cited once per user; answer for it here.
if [ -n "$parallel" ]; then
    mkdir -p "$work/home/.parallel" && touch "$work/home/.parallel/will-cite"
fi
