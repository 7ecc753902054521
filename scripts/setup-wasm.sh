#!/usr/bin/env bash
# Set up what the browser package (bindings-wasm, npm midge-mqtt) needs.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

missing=()
for pkg in chromium chromium-driver binaryen mosquitto mosquitto-clients; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# Node may come from elsewhere than Debian (e.g. NodeSource, which bundles npm).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# With nightly installed (scripts/setup-fuzz.sh), build.sh rebuilds std for
# a smaller package; that needs the standard library's sources.
if rustup toolchain list | grep -q '^nightly-' &&
    ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
    echo "==> cargo install wasm-bindgen-cli $want (have: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want" --force
fi

for dir in bindings-wasm/e2e bindings-wasm/e2e/vite-app bindings-wasm/bench; do
    echo "==> npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
echo "setup-wasm: ok"
