#!/usr/bin/env bash
# Sets up what the demo needs (mosquitto and Rust: scripts/setup-core.sh, not
# the bindings' toolchains), starts a local mosquitto on a free loopback port,
# and runs the round-trip demo against it: connect, subscribe, publish at QoS
# 0/1/2, receive all three back. The broker is stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

./scripts/setup-core.sh

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
trap 'kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; rm -rf "$dir"' EXIT
printf 'listener %s 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n' "$port" > "$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" 2> "$dir/broker.log" &
broker=$!
# Wait until mosquitto reports it is running (its listener is then open).
for _ in $(seq 1 100); do
    grep -q running "$dir/broker.log" 2>/dev/null && break
    kill -0 "$broker" 2>/dev/null || { cat "$dir/broker.log"; exit 1; }
    sleep 0.1
done
echo "mosquitto listening on 127.0.0.1:$port"
cargo run --quiet --locked -p midge-example-roundtrip -- "mqtt://127.0.0.1:$port"
