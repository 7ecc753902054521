#!/usr/bin/env bash
# Build the npm package midge-mqtt and run its tests: wasm-bindgen unit tests
# (Node) and the end-to-end tests in headless Chromium against mosquitto,
# and the core round trip against HiveMQ CE's WebSocket listener. Run
# scripts/setup-wasm.sh and, for HiveMQ, scripts/setup-system-tests.sh first
# (scripts/setup.sh runs both).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
started=$SECONDS

echo "==> build the package (bindings-wasm/build.sh)"
bindings-wasm/build.sh

echo "==> wasm-bindgen tests (Node)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p midge-wasm --lib --target wasm32-unknown-unknown 2>&1 | tee target/wasm-unit.log
unit=$(grep -m1 -E "^test result:" target/wasm-unit.log)

echo "==> the shared broker launcher and fault proxy (midge-testkit)"
cargo build -q --locked -p midge-system-tests --bin midge-testkit

echo "==> browser end-to-end tests (headless Chromium, mosquitto)"
cd bindings-wasm/e2e
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination=../../target/wasm-e2e.tap ./*.test.mjs
cd ../..
e2e=$(grep -E '^# (tests|pass|fail) ' target/wasm-e2e.tap | tr '\n' ' ')

echo
echo "==> summary"
echo "wasm-bindgen tests: $unit"
echo "browser e2e: $e2e"
echo "test-wasm: ok in $((SECONDS - started)) s"
