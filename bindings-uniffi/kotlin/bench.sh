#!/usr/bin/env bash
# The Kotlin binding beside Eclipse Paho's Java client, in one JVM:
# msg/s, the JVM's CPU time per message and mosquitto's busy share at
# QoS 0/1/2 (src/test/kotlin/io/midge/mqtt/bench/Throughput.kt), then
# QoS 1 latency one message at a time, p50 and p99 (Latency.kt).
#   bindings-uniffi/kotlin/bench.sh [count] [rounds] [qos list] [latency messages]
#   (default 20000 3 0,1,2 2000; 0 latency messages skips it)
# With `idle` first: idle connections instead, each library in a child JVM
# of its own (RSS and Java heap per connection, time to connect them all,
# idle CPU, threads; src/test/kotlin/io/midge/mqtt/bench/Idle.kt).
#   bindings-uniffi/kotlin/bench.sh idle [connections] [idle seconds]   (default 1000 30)
# Builds the release library and the launcher, compiles the test sources
# (Paho comes from Maven Central) and runs the bench in a JVM of its own.
# Run scripts/setup.sh and scripts/setup-uniffi.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q --locked -p midge-system-tests --bin midge-testkit
bindings-uniffi/generate.sh release >/dev/null
cd bindings-uniffi/kotlin
classpath="$root/target/kotlin-bench.classpath"
mvn -B -q -Dstyle.color=never -Dmidge.skipGenerate=true -Dmidge.profile=release test-compile \
    dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$classpath"
main=io.midge.mqtt.bench.ThroughputKt
if [ "${1:-}" = idle ]; then
    main=io.midge.mqtt.bench.IdleKt
    shift
fi
MIDGE_TESTKIT="$root/target/debug/midge-testkit" exec java -Djna.library.path="$root/target/release" \
    -cp "target/test-classes:target/classes:$(cat "$classpath")" "$main" "$@"
