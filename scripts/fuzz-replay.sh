#!/usr/bin/env bash
# Builds the cargo-fuzz targets with the stable toolchain and replays every
# input of their corpora once (`-runs=0`): each finding of past fuzzing runs
# stays a regression test. Coverage-guided fuzzing itself needs nightly:
#   cd core && cargo +nightly fuzz run client -- -max_total_time=300
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$PWD/target/fuzz"
cargo build --quiet --locked --manifest-path core/fuzz/Cargo.toml --target-dir "$target_dir" --bins
for name in decode client; do
    corpus="core/fuzz/corpus/$name"
    count=$(find "$corpus" -type f | wc -l)
    "$target_dir/debug/$name" "$corpus" -runs=0 > "$target_dir/$name.log" 2>&1 || {
        cat "$target_dir/$name.log"; exit 1; }
    echo "fuzz target $name: replayed $count corpus inputs, no failure"
done
