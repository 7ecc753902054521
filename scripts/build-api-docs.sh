#!/usr/bin/env bash
# Builds the API references of every binding from the code's own docs into
# docs/api/ (git-ignored; docs/api/README.md says what is where), and fails
# on an undocumented public item:
#   rust/    cargo doc --no-deps of midge-core and midge-native, with
#            -D missing_docs -D rustdoc::broken_intra_doc_links
#   python/  pdoc over the installed `midge` package; scripts/check-python-docs.py
#            fails on a name of midge.__all__ (or a public member of one of its
#            classes) without a docstring
#   npm/     TypeDoc over bindings-wasm/npm/index.d.ts (bindings-wasm/typedoc.json:
#            validation.notDocumented, warnings are errors)
#   kotlin/  Dokka over Flows.kt and the UniFFI-generated sources (reportUndocumented);
#            scripts/check-kotlin-docs.py fails on an undocumented declaration
#            other than UniFFI's generated boilerplate
# Needs what scripts/setup.sh installs, the `midge` package in .venv (the
# Python suite's `maturin develop`), bindings-wasm/e2e/node_modules (npm ci)
# and the generated Kotlin sources (bindings-uniffi/generate.sh, run here when
# they are missing). Usage: scripts/build-api-docs.sh [rust|python|npm|kotlin ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=docs/api
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust python npm kotlin)

rust() {
    RUSTDOCFLAGS="-D missing_docs -D rustdoc::broken_intra_doc_links" \
        cargo doc --no-deps --locked -q -p midge-core -p midge-native
    rm -rf "$out/rust" && mkdir -p "$out/rust"
    cp -r target/doc/. "$out/rust/"
    echo "rust: midge_core and midge_native documented (-D missing_docs) -> $out/rust/midge_core/index.html"
}

python() {
    .venv/bin/python scripts/check-python-docs.py
    rm -rf "$out/python"
    .venv/bin/python -m pdoc --docformat restructuredtext -o "$out/python" midge
    echo "python: pdoc -> $out/python/midge.html"
}

npm() {
    local typedoc=bindings-wasm/e2e/node_modules/.bin/typedoc
    [ -x "$typedoc" ] || (cd bindings-wasm/e2e && command npm ci --no-audit --no-fund --loglevel=error)
    rm -rf "$out/npm"
    "$typedoc" --options bindings-wasm/typedoc.json --out "$out/npm" --logLevel Warn
    echo "npm: TypeDoc, every export documented -> $out/npm/index.html"
}

kotlin() {
    local generated=bindings-uniffi/kotlin/target/generated-sources/uniffi
    [ -n "$(find "$generated" -name '*.kt' 2>/dev/null)" ] || bindings-uniffi/generate.sh debug
    rm -rf "$out/kotlin"
    local log=target/dokka.log
    mkdir -p target
    if ! (cd bindings-uniffi/kotlin && mvn -B -o dokka:dokka -Dmidge.dokka.outputDir="$PWD/../../$out/kotlin") > "$log" 2>&1 \
        && ! (cd bindings-uniffi/kotlin && mvn -B dokka:dokka -Dmidge.dokka.outputDir="$PWD/../../$out/kotlin") > "$log" 2>&1; then
        tail -40 "$log" >&2
        echo "dokka failed; the whole log is $log" >&2
        return 1
    fi
    .venv/bin/python scripts/check-kotlin-docs.py "$log"
    echo "kotlin: Dokka -> $out/kotlin/index.html"
}

for part in "${parts[@]}"; do
    case "$part" in
        rust|python|npm|kotlin) "$part" ;;
        *) echo "unknown part: $part (rust, python, npm, kotlin)" >&2; exit 2 ;;
    esac
done
