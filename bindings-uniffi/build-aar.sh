#!/usr/bin/env bash
# Builds the Android library of midge: an AAR holding
#
#   AndroidManifest.xml              package io.midge.mqtt, minSdk (24), INTERNET
#   classes.jar                      the Kotlin of bindings-uniffi/kotlin (the UniFFI-
#                                    generated io/midge/mqtt/midge_uniffi.kt + Flows.kt),
#                                    without the jar's linux-*/ JNA native folders
#   jni/arm64-v8a/libmidge_uniffi.so     aarch64-linux-android
#   jni/armeabi-v7a/libmidge_uniffi.so   armv7-linux-androideabi
#   jni/x86_64/libmidge_uniffi.so        x86_64-linux-android
#   R.txt                            empty (no resources)
#   proguard.txt                     consumer R8 rules: keep what JNA reaches by reflection
#
# Usage:
#   ANDROID_NDK_HOME=/path/to/ndk bindings-uniffi/build-aar.sh [--jar JAR] [--out AAR]
#       builds libmidge_uniffi.so for the three ABIs (release; the NDK's clang
#       for API $MIDGE_ANDROID_API, default 24, is the linker and the C
#       compiler of ring), compiles the Kotlin with `mvn package` (or takes
#       JAR, a midge-kotlin jar built already) and packs the AAR.
#       ANDROID_NDK_ROOT works too; the NDK must be r25 or newer.
#   bindings-uniffi/build-aar.sh --package-only DIR [--jar JAR] [--out AAR]
#       no NDK needed: packs DIR/<abi>/libmidge_uniffi.so (the ABIs above that
#       DIR has) as they are. scripts/test-uniffi.sh runs this with host
#       libraries standing in for the Android ones: it checks the packaging,
#       not the libraries (such an AAR does not load on a device).
# Without an NDK and without --package-only it exits with status 2.
# The machines this repository is built on have no NDK: the NDK path has only
# run there against a stub NDK and a stub cargo (toolchain variables, ELF
# machine checks, packing), never built a real Android library.
# The AAR goes to target/android/midge-kotlin-<version>.aar unless --out says.
# MIDGE_ARTIFACT_PROFILE=dev builds unoptimized libraries (default: release).
#
# Using it in an app (a file AAR brings no dependencies, so name them):
#
#   // app/build.gradle.kts
#   dependencies {
#       implementation(files("libs/midge-kotlin-0.1.0-SNAPSHOT.aar"))
#       implementation("net.java.dev.jna:jna:5.17.0@aar")   // JNA's AAR: its own jni/<abi>/libjnidispatch.so
#       implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
#   }
#
# Not the plain jna jar: it has no Android natives. classes.jar is Java 17
# bytecode from Kotlin 2.2 (Android Gradle Plugin 8+, Kotlin 2.1+ in the app).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"

usage() {
    sed -n '/^# Usage:/,/^# MIDGE_ARTIFACT_PROFILE/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
fail() { echo "build-aar.sh: FAIL: $*" >&2; exit 1; }

package_only=""
jar=""
version=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$here/kotlin/pom.xml" | head -1)
aar="$root/target/android/midge-kotlin-$version.aar"
while [ $# -gt 0 ]; do
    case "$1" in
        --package-only) [ $# -ge 2 ] || usage; package_only="$2"; shift 2 ;;
        --jar) [ $# -ge 2 ] || usage; jar="$2"; shift 2 ;;
        --out) [ $# -ge 2 ] || usage; aar="$2"; shift 2 ;;
        -h | --help) usage ;;
        *) echo "build-aar.sh: unknown argument: $1" >&2; usage ;;
    esac
done

# Android ABI, Rust target, the NDK clang's target prefix, the ELF machine readelf names.
abis=(
    "arm64-v8a aarch64-linux-android aarch64-linux-android AArch64"
    "armeabi-v7a armv7-linux-androideabi armv7a-linux-androideabi ARM"
    "x86_64 x86_64-linux-android x86_64-linux-android X86-64"
)
api="${MIDGE_ANDROID_API:-24}"
[[ "$api" =~ ^[0-9]+$ ]] || fail "MIDGE_ANDROID_API=$api is not a number"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

if [ -n "$package_only" ]; then
    natives="$(cd "$package_only" 2>/dev/null && pwd)" || fail "--package-only: no directory $package_only"
    built=no
else
    ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
    if [ -z "$ndk" ]; then
        cat >&2 <<EOF
build-aar.sh: no Android NDK: set ANDROID_NDK_HOME (or ANDROID_NDK_ROOT) to an NDK r25 or newer.
  It builds libmidge_uniffi.so for arm64-v8a, armeabi-v7a and x86_64 with the
  NDK's clang (API $api) and needs the Rust targets:
    rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
  Without an NDK, '$0 --package-only DIR' packs DIR/<abi>/libmidge_uniffi.so built elsewhere.
EOF
        exit 2
    fi
    revision=$(sed -n 's/^Pkg\.Revision *= *//p' "$ndk/source.properties" 2>/dev/null | tr -d '\r') || true
    if ! [[ "$revision" =~ ^[0-9]+\. ]] || [ "${revision%%.*}" -lt 25 ]; then
        echo "build-aar.sh: $ndk is not an Android NDK r25 or newer (source.properties: Pkg.Revision=${revision:-none})" >&2
        exit 2
    fi
    case "$(uname -s)" in
        Linux) host=linux-x86_64 ;;
        Darwin) host=darwin-x86_64 ;; # the NDK's macOS toolchain is universal, under this name
        *) host=windows-x86_64 ;;
    esac
    toolchain="$ndk/toolchains/llvm/prebuilt/$host/bin"
    [ -x "$toolchain/clang" ] || { echo "build-aar.sh: no $toolchain/clang in the NDK at $ndk" >&2; exit 2; }
    profile="${MIDGE_ARTIFACT_PROFILE:-release}"
    out_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
    natives="$root/target/android-natives"
    rm -rf "$natives"
    echo "--- NDK $revision ($ndk), API $api, $profile profile"
    for entry in "${abis[@]}"; do
        read -r abi target clang_prefix _ <<<"$entry"
        rustup target add "$target" >/dev/null 2>&1 || true
        clang="$toolchain/$clang_prefix$api-clang"
        [ -x "$clang" ] || fail "no $clang: is API $api in this NDK?"
        t_env="${target//-/_}"
        t_upper="$(echo "$t_env" | tr '[:lower:]' '[:upper:]')"
        printf -- '--- libmidge_uniffi.so for %s (%s)\n' "$abi" "$target"
        # ring compiles C: CC and AR for the target; the clang driver also
        # links. 16 KB pages: required of apps targeting Android 15 on Google Play.
        env "CC_$t_env=$clang" "AR_$t_env=$toolchain/llvm-ar" \
            "CARGO_TARGET_${t_upper}_LINKER=$clang" \
            "CARGO_TARGET_${t_upper}_RUSTFLAGS=-C link-arg=-Wl,-z,max-page-size=16384" \
            cargo build -q --locked --profile "$profile" -p midge-uniffi --lib --no-default-features --target "$target"
        mkdir -p "$natives/$abi"
        cp "$root/target/$target/$out_dir/libmidge_uniffi.so" "$natives/$abi/"
    done
    built=yes
fi

# The native libraries: each known ABI that is there; nothing else.
mkdir -p "$stage/aar"
packed=()
for entry in "${abis[@]}"; do
    read -r abi target _ machine <<<"$entry"
    lib="$natives/$abi/libmidge_uniffi.so"
    if [ ! -f "$lib" ]; then
        [ "$built" = yes ] && fail "$lib was not built"
        echo "note: no $abi/libmidge_uniffi.so in $natives: the AAR has no $abi library"
        continue
    fi
    is=$(readelf -h "$lib" 2>/dev/null | sed -n 's/^ *Machine: *//p') || true
    [ -n "$is" ] || fail "$lib is not an ELF file"
    if [[ "$is" != *"$machine"* ]]; then
        [ "$built" = yes ] && fail "$lib is $is, not $machine"
        echo "note: $abi/libmidge_uniffi.so is $is, not $machine ($target): a stand-in, this AAR will not load on a device"
    fi
    mkdir -p "$stage/aar/jni/$abi"
    cp "$lib" "$stage/aar/jni/$abi/"
    packed+=("$abi")
done
for extra in "$natives"/*; do
    name="$(basename "$extra")"
    case "$name" in
        arm64-v8a | armeabi-v7a | x86_64) ;;
        *) echo "note: $natives/$name is not one of the ABIs packed (arm64-v8a armeabi-v7a x86_64); left out" ;;
    esac
done
[ ${#packed[@]} -gt 0 ] || fail "no <abi>/libmidge_uniffi.so in $natives"

# classes.jar: the compiled Kotlin, without the JNA native folders a jar built
# by build-jar.sh carries (an Android app loads the library from jni/).
if [ -z "$jar" ]; then
    echo "--- Kotlin: mvn package in bindings-uniffi/kotlin (generated sources + Flows.kt)"
    (cd "$here/kotlin" && mvn -B -q -Dstyle.color=never -DskipTests package)
    jar="$here/kotlin/target/midge-kotlin-$version.jar"
fi
[ -f "$jar" ] || fail "no jar $jar"
mkdir -p "$stage/classes"
unzip -q "$jar" -d "$stage/classes"
rm -rf "$stage"/classes/linux-* "$stage"/classes/darwin-* "$stage"/classes/win32-* "$stage"/classes/android-*
[ -f "$stage/classes/io/midge/mqtt/MqttClient.class" ] || fail "$jar has no io/midge/mqtt/MqttClient.class"
(cd "$stage/classes" && zip -q -X -D -r "$stage/aar/classes.jar" .)

cat >"$stage/aar/AndroidManifest.xml" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android"
    package="io.midge.mqtt">

    <uses-sdk android:minSdkVersion="$api" />

    <uses-permission android:name="android.permission.INTERNET" />

</manifest>
EOF
: >"$stage/aar/R.txt"
cat >"$stage/aar/proguard.txt" <<'EOF'
# midge: R8/ProGuard rules applied to the apps that use this AAR.
# The generated bindings reach libmidge_uniffi.so through JNA, which works by
# reflection: Structure subclasses are laid out from their fields (in
# @Structure.FieldOrder), Library methods are bound by name, Callbacks are
# found by their `callback` method. Nothing of that may be renamed or removed.
-dontwarn java.awt.**
-keepattributes RuntimeVisibleAnnotations,AnnotationDefault,InnerClasses,EnclosingMethod,Signature
-keep class com.sun.jna.** { *; }
-keep class * extends com.sun.jna.** { *; }
-keep class * implements com.sun.jna.** { *; }
-keep class io.midge.mqtt.** { *; }
EOF

mkdir -p "$(dirname "$aar")"
aar="$(cd "$(dirname "$aar")" && pwd)/$(basename "$aar")"
rm -f "$aar"
(cd "$stage/aar" && zip -q -X -D -r "$aar" AndroidManifest.xml classes.jar R.txt proguard.txt jni)
echo "AAR: $aar ($(stat -c %s "$aar" 2>/dev/null || wc -c <"$aar") bytes; ABIs: ${packed[*]}; classes from $jar)"
unzip -l "$aar"
