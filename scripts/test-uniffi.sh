#!/usr/bin/env bash
# Builds and tests the Kotlin/Swift bindings (bindings-uniffi/):
#   1. rustfmt, clippy and the Rust tests of midge-uniffi
#   2. builds libmidge_uniffi.so and generates the Kotlin and Swift sources
#   3. `mvn install` of bindings-uniffi/kotlin: compiles the generated and
#      hand-written Kotlin and runs the JUnit tests against mosquitto (and
#      the core round trip against HiveMQ CE: needs
#      scripts/setup-system-tests.sh, which scripts/setup.sh runs)
#   4. `mvn test` of examples/chat (two chat users against one broker)
#   5. `cargo check` of the binding for aarch64-linux-android and aarch64-apple-ios
#   6. packs an Android AAR with bindings-uniffi/build-aar.sh --package-only
#      (host libraries standing in for the three ABIs: no NDK here, so this
#      checks the packaging only) and checks it with aar-check/check_aar.py
#   7. reports what was generated but not compiled (Swift: no compiler here)
# Run scripts/setup.sh and scripts/setup-uniffi.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

started=$(date +%s)
summary=()
step() { printf '\n==> %s\n' "$*"; }
note() { summary+=("$*"); echo "$*"; }

step "midge-uniffi: rustfmt, clippy, cargo test"
cargo fmt -p midge-uniffi --check
cargo clippy -q -p midge-uniffi --all-targets --no-deps -- -D warnings
cargo test -q -p midge-uniffi 2>&1 | grep -E "^test result|FAILED|panicked" | sed 's/^/  /'
note "rust: fmt + clippy clean, cargo test -p midge-uniffi passed"

step "the shared broker launcher and fault proxy (midge-testkit)"
cargo build -q --locked -p midge-system-tests --bin midge-testkit

step "build libmidge_uniffi.so and generate Kotlin + Swift"
bindings-uniffi/generate.sh debug

# Maven: batch mode without colours; the full log is kept and shown on failure,
# otherwise only surefire's "Tests run:" lines are printed.
mvn_run() {
    local dir="$1" log="$2"
    shift 2
    if ! (cd "$dir" && mvn -B -Dstyle.color=never -Dmidge.skipGenerate=true "$@") >"$log" 2>&1; then
        grep -E "Tests run:|FAIL|ERROR" "$log" | head -60 || true
        echo "mvn failed in $dir; full log: $log" >&2
        exit 1
    fi
    grep -E "Tests run:" "$log" | sed 's/^\[INFO\] /  /'
}

logs="$root/target/uniffi-logs"
mkdir -p "$logs"

step "Kotlin: mvn install in bindings-uniffi/kotlin (JUnit, real mosquitto)"
mvn_run bindings-uniffi/kotlin "$logs/kotlin.log" install
note "kotlin: $(grep -E '^\[INFO\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$logs/kotlin.log" | tail -1 | sed 's/^\[INFO\] //')"

step "examples/chat: mvn test (two users, one broker)"
mvn_run examples/chat "$logs/chat.log" test
note "chat: $(grep -E '^\[INFO\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$logs/chat.log" | tail -1 | sed 's/^\[INFO\] //')"

step "cargo check for the mobile targets"
# Checking needs no linker, but ring's build script compiles its C code. There
# is no NDK or Xcode here, so Debian's clang compiles it for the target
# without a C library (ring supports that with RING_CORE_NOSTDLIBINC); the
# objects only serve the check. Real builds use the NDK / Xcode toolchains.
stub="$root/target/midge-mobile-check"
mkdir -p "$stub/include" "$stub/iPhoneOS.sdk"
printf '%s\n' '/* check-only stand-in for the iOS SDK header */' \
    '#define TARGET_OS_MAC 1' '#define TARGET_OS_OSX 0' '#define TARGET_OS_IPHONE 1' '#define TARGET_OS_IOS 1' \
    >"$stub/include/TargetConditionals.h"
no_libc="-ffreestanding -nostdlibinc -DRING_CORE_NOSTDLIBINC=1"
CC_aarch64_linux_android=clang AR_aarch64_linux_android=llvm-ar \
    CFLAGS_aarch64_linux_android="--target=aarch64-linux-android21 $no_libc" \
    cargo check -q -p midge-uniffi --no-default-features --target aarch64-linux-android
note "cargo check --target aarch64-linux-android: ok"
SDKROOT="$stub/iPhoneOS.sdk" CC_aarch64_apple_ios=clang AR_aarch64_apple_ios=llvm-ar \
    CFLAGS_aarch64_apple_ios="--target=arm64-apple-ios13.0 $no_libc -isystem $stub/include" \
    cargo check -q -p midge-uniffi --no-default-features --target aarch64-apple-ios
note "cargo check --target aarch64-apple-ios: ok"

step "Android AAR: packaging (host stand-ins for the .so files; no NDK here)"
# zig has no Android libc, so nothing here links an Android library: the
# host's debug library (debug info stripped) stands in for each ABI. The AAR
# takes its classes.jar from the jar `mvn install` built above.
aar_dir="$root/target/aar-check"
rm -rf "$aar_dir"
mkdir -p "$aar_dir/natives/arm64-v8a" "$aar_dir/natives/armeabi-v7a" "$aar_dir/natives/x86_64"
objcopy --strip-debug target/debug/libmidge_uniffi.so "$aar_dir/natives/arm64-v8a/libmidge_uniffi.so"
cp "$aar_dir/natives/arm64-v8a/libmidge_uniffi.so" "$aar_dir/natives/armeabi-v7a/"
cp "$aar_dir/natives/arm64-v8a/libmidge_uniffi.so" "$aar_dir/natives/x86_64/"
rc=0
env -u ANDROID_NDK_HOME -u ANDROID_NDK_ROOT bindings-uniffi/build-aar.sh >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || { echo "build-aar.sh without an NDK exited $rc, not 2" >&2; exit 1; }
bindings-uniffi/build-aar.sh --package-only "$aar_dir/natives" \
    --jar bindings-uniffi/kotlin/target/midge-kotlin-0.1.0-SNAPSHOT.jar \
    --out "$aar_dir/midge-kotlin.aar" >"$logs/aar.log" 2>&1 || { cat "$logs/aar.log" >&2; exit 1; }
python3 bindings-uniffi/aar-check/check_aar.py "$aar_dir/midge-kotlin.aar"
note "android aar: packaging checked (manifest, classes.jar, jni/<abi>/, R.txt; host stand-in libraries), build-aar.sh without an NDK exits 2"

step "Swift"
swift_dir=bindings-uniffi/swift
for f in Package.swift Sources/Midge/Midge.swift Sources/Midge/Midge+AsyncStream.swift \
    Headers/MidgeFFI.h Headers/module.modulemap build-xcframework.sh; do
    [ -s "$swift_dir/$f" ] || { echo "missing $swift_dir/$f" >&2; exit 1; }
done
if command -v swift >/dev/null 2>&1 && [ -d "$swift_dir/MidgeFFI.xcframework" ]; then
    (cd "$swift_dir" && swift build)
    note "swift: swift build passed"
else
    note "swift: sources generated ($(wc -l <"$swift_dir/Sources/Midge/Midge.swift") lines), NOT compiled (no Swift compiler on this machine)"
fi

printf '\n==> summary (%ss)\n' "$(($(date +%s) - started))"
printf '  %s\n' "${summary[@]}"
