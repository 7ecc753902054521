#!/usr/bin/env bash
# Build the npm package midge-mqtt into bindings-wasm/npm/pkg:
# release wasm (profile wasm-release), wasm-opt -Oz, wasm-bindgen --target web.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -p midge-wasm --profile wasm-release --target wasm32-unknown-unknown
wasm=target/wasm32-unknown-unknown/wasm-release/midge_wasm.wasm
out=bindings-wasm/npm/pkg
rm -rf "$out"
mkdir -p "$out"
# wasm-opt runs BEFORE wasm-bindgen: binaryen 108 (Debian's) mis-numbers
# tables when it rewrites a module that has two (wasm-bindgen adds an
# externref table), and the browser then rejects the module. It also needs
# the features of current rustc output spelled out.
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$out/midge_wasm.opt.wasm" "$wasm"
wasm-bindgen --target web --out-dir "$out" --out-name midge_wasm "$out/midge_wasm.opt.wasm"
rm -f "$out/midge_wasm.opt.wasm" "$out/.gitignore" "$out/package.json"
printf 'built %s: wasm %s bytes, glue %s bytes\n' "$out" \
    "$(stat -c %s "$out/midge_wasm_bg.wasm")" "$(stat -c %s "$out/midge_wasm.js")"
