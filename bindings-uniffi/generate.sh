#!/usr/bin/env bash
# Build the host library of midge-uniffi and generate the Kotlin and Swift
# sources from it (UniFFI library mode).
#
#   bindings-uniffi/generate.sh [debug|release]
#
# Kotlin goes to kotlin/target/generated-sources/uniffi (compiled by Maven),
# Swift to swift/Sources/Midge/Midge.swift, and the C header and module map
# of the FFI layer to swift/Headers (packed into MidgeFFI.xcframework by
# swift/build-xcframework.sh on macOS). Nothing generated is checked in.
set -euo pipefail
profile="${1:-debug}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

cargo_flags=()
[ "$profile" = release ] && cargo_flags+=(--release)
cargo build -q -p midge-uniffi "${cargo_flags[@]}"
case "$(uname -s)" in
    Darwin) lib="$root/target/$profile/libmidge_uniffi.dylib" ;;
    *) lib="$root/target/$profile/libmidge_uniffi.so" ;;
esac
bindgen="$root/target/$profile/uniffi-bindgen"

kotlin_out="$here/kotlin/target/generated-sources/uniffi"
rm -rf "$kotlin_out"
"$bindgen" generate --no-format --library "$lib" --language kotlin --out-dir "$kotlin_out" >/dev/null
# Each callback object the library calls from its own threads (resumed
# coroutines, listener, logger, credentials) keeps those threads attached
# to the JVM: see kotlin/src/main/kotlin/io/midge/mqtt/CallbackThreads.kt.
kotlin_file="$kotlin_out/io/midge/mqtt/midge_uniffi.kt"
sed -i -E 's/^( *)(internal object [^ ]+: (UniffiRustFutureContinuationCallback|UniffiCallbackInterface[A-Za-z0-9]+) \{)$/\1\2\n\1    init { keepCallbackThreadsAttached(this) }/' "$kotlin_file"
if ! grep -q '^internal object uniffiRustFutureContinuationCallbackImpl.*{$' "$kotlin_file" ||
    [ "$(grep -c 'init { keepCallbackThreadsAttached(this) }' "$kotlin_file")" -lt 10 ]; then
    echo "generate.sh: the generated callback objects no longer match the pattern; update it" >&2
    exit 1
fi

swift_tmp="$(mktemp -d)"
trap 'rm -rf "$swift_tmp"' EXIT
"$bindgen" generate --no-format --library "$lib" --language swift --out-dir "$swift_tmp" >/dev/null
mkdir -p "$here/swift/Sources/Midge" "$here/swift/Headers"
cp "$swift_tmp/Midge.swift" "$here/swift/Sources/Midge/Midge.swift"
cp "$swift_tmp/MidgeFFI.h" "$here/swift/Headers/MidgeFFI.h"
# An XCFramework's headers directory needs the module map as module.modulemap.
cp "$swift_tmp/MidgeFFI.modulemap" "$here/swift/Headers/module.modulemap"

echo "generated: $(find "$kotlin_out" -name '*.kt' | wc -l) Kotlin file(s), Swift Midge.swift + Headers/MidgeFFI.h ($profile, $lib)"
