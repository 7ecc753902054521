#!/usr/bin/env bash
# Sets everything up, then runs every check and test of the repository.
# This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

./scripts/setup.sh

summary=()
step() {
    local name="$1"; shift
    printf '\n==> %s\n' "$name"
    local started=$SECONDS
    "$@"
    summary+=("ok   $name ($((SECONDS - started)) s)")
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy (all targets, -D warnings)" cargo clippy --workspace --all-targets --locked -- -D warnings
# The system tests run in their own step below (they print the fault figures
# and the interop matrix).
step "cargo test (workspace)" bash -c 'cargo test --workspace --exclude midge-system-tests --locked 2>&1 | tee target/test.log; test ${PIPESTATUS[0]} -eq 0'
step "midge-core builds for wasm32-unknown-unknown" cargo build -p midge-core --target wasm32-unknown-unknown --locked
step "midge-core has no async runtime, socket or clock dependency" ./scripts/check-core-deps.sh
step "one version for every package" ./scripts/check-versions.sh
step "the release workflow's shape (.github/workflows/release.yml)" .venv/bin/python scripts/check-release-workflow.py
step "fuzz targets replay their corpora" ./scripts/fuzz-replay.sh
step "fuzz targets run coverage-guided for ${FUZZ_SECONDS:-30} s each (nightly)" ./scripts/fuzz-bounded.sh
step "docs/features.md matches every binding's options" python3 scripts/check-feature-table.py
step "Python package: pytest against mosquitto" ./scripts/test-python.sh
step "Python wheels: manylinux2014 x86_64 and aarch64 (zig), auditwheel, sdist, round trip from a clean venv" env MIDGE_ARTIFACT_PROFILE=dev ./scripts/build-wheels.sh
step "npm package: wasm tests and Chromium end-to-end tests" ./scripts/test-wasm.sh
step "Kotlin/Swift (UniFFI): JUnit on the JVM, chat example, mobile checks" ./scripts/test-uniffi.sh
step "API reference (docs/api/): rustdoc, pdoc, TypeDoc, Dokka; fails on an undocumented public item" ./scripts/build-api-docs.sh
step "Kotlin jar with linux-x86-64 and linux-aarch64 natives (glibc 2.17, zig), chat from the installed jar" env MIDGE_ARTIFACT_PROFILE=dev ./bindings-uniffi/build-jar.sh
step "system tests: faults, broker and client kills, interop matrix" ./scripts/test-system-tests.sh

printf '\n==> test runner summary\n'
grep -E '^test result:|Running|Doc-tests' target/test.log | sed 's/^ *//' | paste - - | awk -F'\t' '{print $1 "  " $2}' || true
total_passed=$(grep -Eo '[0-9]+ passed' target/test.log | awk '{s+=$1} END {print s+0}')
total_failed=$(grep -Eo '[0-9]+ failed' target/test.log | awk '{s+=$1} END {print s+0}')
printf '\n==> summary\n'
printf '%s\n' "${summary[@]}"
printf 'cargo tests: %s passed, %s failed\n' "$total_passed" "$total_failed"
