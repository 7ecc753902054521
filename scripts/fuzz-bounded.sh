#!/usr/bin/env bash
# Coverage-guided fuzzing for a bounded time: each cargo-fuzz target runs for
# FUZZ_SECONDS (default 30) starting from its committed corpus. New inputs go
# to a scratch directory, so the checkout stays clean; a crash fails the step
# and leaves the input under core/fuzz/artifacts/ (add it to the corpus once
# fixed). Longer runs: FUZZ_SECONDS=300 ./scripts/fuzz-bounded.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds="${FUZZ_SECONDS:-30}"
target_dir="$PWD/target/fuzz-nightly"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd core
cargo +nightly fuzz build --target-dir "$target_dir" >/dev/null 2>&1 || \
    cargo +nightly fuzz build --target-dir "$target_dir"
for name in decode client; do
    mkdir -p "$scratch/$name"
    log="$scratch/$name.log"
    if ! cargo +nightly fuzz run --target-dir "$target_dir" "$name" "$scratch/$name" "fuzz/corpus/$name" \
        -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $name: FAILED (input saved under core/fuzz/artifacts/$name/)"
        exit 1
    fi
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    new=$(find "$scratch/$name" -type f | wc -l)
    echo "fuzz target $name: $runs runs in ${seconds} s, no failure, $new new corpus inputs (not kept)"
done
