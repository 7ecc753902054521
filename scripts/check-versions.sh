#!/usr/bin/env bash
# One version for every package: the Cargo workspace, the Python wheel
# (pyproject.toml and midge.__version__), the npm package and the Kotlin
# artifact (a -SNAPSHOT suffix allowed between releases). Fails naming the
# package that differs. See CHANGELOG.md for the versioning policy.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
declare -A found=(
    [bindings-python/pyproject.toml]=$(sed -n 's/^version = "\(.*\)"/\1/p' bindings-python/pyproject.toml | head -1)
    [midge.__version__]=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bindings-python/python/midge/__init__.py)
    [bindings-wasm/npm/package.json]=$(sed -n 's/^  "version": "\(.*\)",/\1/p' bindings-wasm/npm/package.json)
    [bindings-uniffi/kotlin/pom.xml]=$(grep -m1 -A0 '<version>' bindings-uniffi/kotlin/pom.xml | sed 's/.*<version>\(.*\)<\/version>.*/\1/; s/-SNAPSHOT$//')
)
status=0
for where in "${!found[@]}"; do
    if [ "${found[$where]}" != "$cargo" ]; then
        echo "version mismatch: $where has '${found[$where]}', the Cargo workspace has '$cargo'" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "every package is version $cargo"
exit "$status"
