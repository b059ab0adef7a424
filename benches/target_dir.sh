# `target_dir ROOT`: where cargo puts the workspace ROOT's builds, as cargo
# itself says (`CARGO_TARGET_DIR`, `build.target-dir` in a config, or
# ROOT/target). Sourced by the benchmark scripts, which run the release
# binaries they build.
target_dir() {
    cargo metadata --format-version 1 --no-deps --manifest-path "$1/Cargo.toml" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
