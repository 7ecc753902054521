#!/usr/bin/env bash
# Installs what bounded fuzzing needs: a nightly toolchain (libFuzzer's
# sanitizer instrumentation is nightly-only) and cargo-fuzz. Idempotent.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup toolchain list | grep -q '^nightly-'; then
    printf '\n==> rustup: installing the nightly toolchain (for cargo-fuzz)\n'
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    printf '\n==> cargo install cargo-fuzz\n'
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
