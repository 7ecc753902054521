#!/usr/bin/env bash
# Installs what midge's builds and tests need on a fresh Debian machine: the
# core's toolchain (scripts/setup-core.sh), then what each binding and the
# system tests need. Idempotent: every step checks first, so a second run
# costs seconds.
set -euo pipefail

log() { printf '\n==> %s\n' "$*"; }

here="$(dirname "$0")"
"$here/setup-core.sh"
export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "rustup: adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi
# Each binding installs what its builds and tests need (idempotent too).
here="$(dirname "$0")"
# Nightly first: the fuzz targets need it, and the npm package's smallest
# build (bindings-wasm/build.sh) uses it with the standard library's sources.
"$here/setup-fuzz.sh"
"$here/setup-python.sh"
"$here/setup-wasm.sh"
"$here/setup-uniffi.sh"
"$here/setup-system-tests.sh"
log "setup done"
