#!/usr/bin/env bash
# Builds the Python release artifacts as PyPI takes them and checks them:
#   - abi3 wheels for manylinux2014 (glibc 2.17+) x86_64 and aarch64,
#     cross-compiled with zig (ziglang from PyPI), so the wheel does not take
#     this machine's newer glibc as its floor;
#   - auditwheel must find each consistent with manylinux_2_17;
#   - the sdist must build (pip, from the file, debug profile to save time);
#   - the x86_64 wheel, installed from the file into a clean venv, runs a
#     round trip against a mosquitto it starts.
# Output: target/wheels/. Needs scripts/setup-python.sh first.
# MIDGE_ARTIFACT_PROFILE=dev builds the wheels unoptimized (the test run uses
# it: the checks are the same, the build is faster); releases use the
# default, release.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.venv/bin:$PATH"

profile="${MIDGE_ARTIFACT_PROFILE:-release}"
out=target/wheels
rm -rf "$out"
mkdir -p "$out"
rustup target add x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu >/dev/null 2>&1 || true

for target in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu; do
    printf '\n--- wheel for %s (manylinux2014, zig, %s profile)\n' "$target" "$profile"
    # (No debug info in a dev build: it only makes the wheel large.)
    CARGO_PROFILE_DEV_DEBUG=0 maturin build --profile "$profile" --locked --zig --compatibility manylinux2014 --target "$target" \
        -m bindings-python/Cargo.toml -o "$out" 2>&1 | grep -E 'Built wheel|error|warning: ' || true
done
maturin sdist -m bindings-python/Cargo.toml -o "$out" 2>&1 | grep -E 'Built source|error' || true

fail() { echo "FAIL: $*" >&2; exit 1; }
for arch in x86_64 aarch64; do
    wheel=$(ls "$out"/midge_mqtt-*-cp39-abi3-manylinux_2_17_"$arch".manylinux2014_"$arch".whl 2>/dev/null) \
        || fail "no manylinux2014 $arch wheel in $out"
    shown=$(auditwheel show "$wheel")
    grep -q "consistent with the following platform tag:" <<<"$shown" || fail "auditwheel: $shown"
    tag=$(tr '\n' ' ' <<<"$shown" | grep -Eo '"manylinux_2_[0-9]+_[a-z0-9_]+"' | head -1 | tr -d '"')
    [ "$tag" = "manylinux_2_17_$arch" ] || fail "auditwheel says $tag for $wheel, want manylinux_2_17_$arch"
    printf 'ok: %s (%s bytes): auditwheel: %s\n' "$(basename "$wheel")" "$(stat -c %s "$wheel")" "$tag"
done

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv/clean"
"$venv/clean/bin/pip" install -q --no-index "$out"/midge_mqtt-*manylinux2014_x86_64.whl
# From outside the source tree, so only the installed wheel can be imported.
(cd "$venv" && "$venv/clean/bin/python" "$OLDPWD/bindings-python/tests/wheel_roundtrip.py")

sdist=$(ls "$out"/midge_mqtt-*.tar.gz) || fail "no sdist in $out"
python3 -m venv "$venv/from-sdist"
"$venv/from-sdist/bin/pip" install -q "maturin==1.9.6"
# The dev profile: this checks that the sdist is complete and builds, not its speed.
MATURIN_PEP517_ARGS="--profile dev" CARGO_TARGET_DIR="$PWD/target" \
    "$venv/from-sdist/bin/pip" install -q --no-build-isolation "$sdist"
(cd "$venv" && "$venv/from-sdist/bin/python" "$OLDPWD/bindings-python/tests/wheel_roundtrip.py")
echo "ok: the sdist $(basename "$sdist") builds and its install runs the round trip"
