#!/usr/bin/env bash
# Build the npm package midge-mqtt into bindings-wasm/npm/pkg:
# release wasm (profile wasm-release), wasm-opt -Oz, wasm-bindgen --target web.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# With a nightly toolchain that has rust-src (scripts/setup-wasm.sh adds it
# when nightly is installed), std is rebuilt for the package: panics abort
# at once (no panic message formatting), no panic locations, and derived
# Debug prints nothing. That is 14 KB (gzip) less than stable. Errors stay
# typed (code, reason code, message); only core-internal messages lose the
# reason code's name. MIDGE_WASM_STABLE=1 builds with stable only; a failed
# nightly build falls back to it.
wasm=
if [ "${MIDGE_WASM_STABLE:-0}" != 1 ] &&
    rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    if RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
        cargo +nightly build --locked -p midge-wasm --profile wasm-release --target wasm32-unknown-unknown \
        --target-dir target/wasm-nightly -Zbuild-std=std,panic_abort; then
        wasm=target/wasm-nightly/wasm32-unknown-unknown/wasm-release/midge_wasm.wasm
        echo "build.sh: nightly build-std (immediate-abort panics)"
    else
        echo "build.sh: the nightly build failed; building with stable" >&2
    fi
fi
if [ -z "$wasm" ]; then
    cargo build -p midge-wasm --profile wasm-release --target wasm32-unknown-unknown
    wasm=target/wasm32-unknown-unknown/wasm-release/midge_wasm.wasm
    echo "build.sh: stable build"
fi
out=bindings-wasm/npm/pkg
rm -rf "$out"
mkdir -p "$out"
# wasm-opt runs BEFORE wasm-bindgen: binaryen 108 (Debian's) mis-numbers
# tables when it rewrites a module that has two (wasm-bindgen adds an
# externref table), and the browser then rejects the module. It also needs
# the features of current rustc output spelled out.
# --low-memory-unused lets it fold constant addresses into load and store
# offsets (0.4 KB gzip): the first kilobyte of memory is never used, since
# rustc puts the 1 MiB stack first (it grows down from 1 MiB, data and heap
# lie above), so only a stack overflow would reach it.
# After a first -Oz, --flatten --rereloop rebuilds each function's control
# flow from scratch and the second -Oz (with --precompute-propagate, which
# folds the constants flattening exposes) shrinks the result further: 0.3 KB
# gzip over -Oz alone, for a second more of wasm-opt.
wasm-opt -Oz --flatten --rereloop -Oz --precompute-propagate -Oz --low-memory-unused --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$out/midge_wasm.opt.wasm" "$wasm"
wasm-bindgen --target web --remove-producers-section --out-dir "$out" --out-name midge_wasm "$out/midge_wasm.opt.wasm"
rm -f "$out/midge_wasm.opt.wasm" "$out/.gitignore" "$out/package.json"
# The glue ships without the doc comments wasm-bindgen copies from the Rust
# docs (the types keep them, in midge_wasm.d.ts): they were a quarter of it.
node -e '
const fs = require("fs");
const f = process.argv[1];
fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace(/^\s*\/\*\*[\s\S]*?\*\/\n/gm, ""));
' "$out/midge_wasm.js"
printf 'built %s: wasm %s bytes, glue %s bytes\n' "$out" \
    "$(stat -c %s "$out/midge_wasm_bg.wasm")" "$(stat -c %s "$out/midge_wasm.js")"
