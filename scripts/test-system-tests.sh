#!/usr/bin/env bash
# Runs the system tests (tests/, crate midge-system-tests): fault injection
# (proxy cuts, black holes, mosquitto kill -9, client kill -9), the interop
# matrix against mosquitto, aedes, amqtt, RabbitMQ, moquette, HiveMQ CE and
# ActiveMQ (written to tests/INTEROP.md) and credential redaction. Prints cargo's summary lines,
# the fault figures and the matrix. Run scripts/setup-system-tests.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
# Kept after the run (the last one only): a failure's evidence, such as a
# broker's log tail, is in it.
mkdir -p target
log=target/system-tests.log

started=$SECONDS
status=0
# One test binary at a time (cargo's default); the fault tests print with --nocapture.
cargo test -p midge-system-tests -- --nocapture >"$log" 2>&1 || status=$?
printf '\n==> summary\n'
grep -E '^(test result|     Running|error)' "$log" || true
printf '\n==> fault figures\n'
grep -E '^fault report' "$log" || true
printf '\n==> interop matrix (tests/INTEROP.md)\n'
sed -n '/^interop matrix:/,/^$/p' "$log" | tail -n +2
if [ "$status" -ne 0 ]; then
    printf '\n==> failures\n'
    grep -E 'panicked|FAILED|unexpected failures' -A4 "$log" | head -80 || true
    # The interop test prints what a failing broker itself said.
    grep -E '^interop .* broker log tail' -A30 "$log" | head -120 || true
    printf 'whole log: %s\n' "$log"
fi
printf 'system tests took %s s (exit %s)\n' "$((SECONDS - started))" "$status"
exit "$status"
