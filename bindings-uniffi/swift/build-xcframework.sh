#!/usr/bin/env bash
# Build MidgeFFI.xcframework for Package.swift: the Rust library for iOS
# devices, the iOS simulator and macOS, plus the generated header and module
# map. Needs macOS with Xcode and the rustup targets below; it cannot run on
# Linux (no Xcode / Swift compiler there).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
targets=(aarch64-apple-ios aarch64-apple-ios-sim aarch64-apple-darwin)
for t in "${targets[@]}"; do
    rustup target add "$t"
    cargo build --release -p midge-uniffi --no-default-features --target "$t"
done
# Generate the Swift sources and headers from the host build.
bindings-uniffi/generate.sh release
rm -rf "$here/MidgeFFI.xcframework"
args=()
for t in "${targets[@]}"; do
    args+=(-library "target/$t/release/libmidge_uniffi.a" -headers "$here/Headers")
done
xcodebuild -create-xcframework "${args[@]}" -output "$here/MidgeFFI.xcframework"
echo "built $here/MidgeFFI.xcframework; now: cd $here && swift build"
