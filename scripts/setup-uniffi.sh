#!/usr/bin/env bash
# Installs what the Kotlin/Swift bindings (bindings-uniffi/) need on top of
# scripts/setup.sh: a JDK and Maven (Kotlin, JNA, coroutines and JUnit come
# from Maven Central on the first build), mosquitto for the tests, clang and
# llvm-ar to let `cargo check` compile ring's C for the mobile targets, and
# the rustup targets aarch64-linux-android and aarch64-apple-ios.
# Idempotent: every step checks first.
set -euo pipefail

log() { printf '\n==> %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto)
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
command -v llvm-ar >/dev/null 2>&1 || need_apt+=(llvm)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v zip >/dev/null 2>&1 || need_apt+=(zip) # bindings-uniffi/build-aar.sh
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "apt: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "cargo not found: run scripts/setup.sh first" >&2
        exit 1
    fi
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
for target in aarch64-linux-android aarch64-apple-ios; do
    if ! rustup target list --installed | grep -q "^$target\$"; then
        log "rustup: adding the $target target (standard library only; no NDK/Xcode)"
        rustup target add "$target"
    fi
done
log "setup-uniffi done"
