#!/usr/bin/env bash
# Builds the Kotlin/JVM artifact as Maven users get it: one jar carrying the
# native library for linux-x86-64 and linux-aarch64 (cross-compiled with
# cargo-zigbuild against glibc 2.17), loaded by JNA from the jar with no
# jna.library.path. Then installs it into the local Maven repository and
# checks it the way a user would meet it:
#   - the jar holds both libraries, each an ELF of the right machine that
#     needs no glibc symbol newer than 2.17;
#   - jar-check/, a project that depends on the installed artifact only,
#     compiles the chat example and two users chat through a mosquitto, with
#     JNA reporting that it loaded the library from the jar.
# Needs scripts/setup-uniffi.sh and scripts/setup-python.sh (zig and
# cargo-zigbuild) first. MIDGE_ARTIFACT_PROFILE=dev builds the libraries
# unoptimized (the test run uses it: same checks, faster build); releases use
# the default, release.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.venv/bin:$PATH"

fail() { echo "FAIL: $*" >&2; exit 1; }
profile="${MIDGE_ARTIFACT_PROFILE:-release}"
out_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
natives="$root/target/jna-natives"
rm -rf "$natives"

# Rust target -> JNA's resource prefix and the ELF machine readelf names.
for pair in "x86_64-unknown-linux-gnu linux-x86-64 X86-64" "aarch64-unknown-linux-gnu linux-aarch64 AArch64"; do
    read -r target prefix machine <<<"$pair"
    rustup target add "$target" >/dev/null 2>&1 || true
    printf -- '--- libmidge_uniffi.so for %s (glibc 2.17, zig, %s profile)\n' "$target" "$profile"
    # No debug info in a dev build: it would make the jar 50 MB.
    CARGO_PROFILE_DEV_DEBUG=0 cargo zigbuild -q --locked --profile "$profile" -p midge-uniffi --lib --target "$target.2.17"
    lib="$root/target/$target/$out_dir/libmidge_uniffi.so"
    readelf -h "$lib" | grep -q "Machine:.*$machine" || fail "$lib is not an $machine ELF"
    newest=$(objdump -T "$lib" | grep -Eo 'GLIBC_[0-9]+\.[0-9]+' | sort -t. -k2 -n | tail -1)
    [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -t. -k2 -n | tail -1)" = GLIBC_2.17 ] \
        || fail "$lib needs $newest, newer than glibc 2.17"
    mkdir -p "$natives/$prefix"
    cp "$lib" "$natives/$prefix/"
    echo "ok: $prefix/libmidge_uniffi.so ($(stat -c %s "$lib") bytes, $machine, needs at most $newest)"
done

bindings-uniffi/generate.sh debug >/dev/null
mvn_quiet() { (cd "$1" && shift && mvn -B -q -Dstyle.color=never "$@"); }
mvn_quiet bindings-uniffi/kotlin -Dmidge.skipGenerate=true -DskipTests install
jar="$HOME/.m2/repository/io/midge/midge-kotlin/0.1.0-SNAPSHOT/midge-kotlin-0.1.0-SNAPSHOT.jar"
for entry in linux-x86-64/libmidge_uniffi.so linux-aarch64/libmidge_uniffi.so; do
    unzip -l "$jar" "$entry" >/dev/null || fail "$jar has no $entry"
done
echo "ok: installed $(basename "$jar") ($(stat -c %s "$jar") bytes) with linux-x86-64 and linux-aarch64 libraries"

check="$here/jar-check"
mvn_quiet "$check" compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
python3 "$check/run_chat.py" "$check/target/classpath.txt" "$check/target/classes"
