#!/usr/bin/env bash
# Builds the Python package (a debug build, installed editable into .venv/)
# and runs its pytest suite against mosquitto brokers the tests start
# themselves, and its core round trip against HiveMQ CE (one per session).
# Run scripts/setup-python.sh and, for HiveMQ, scripts/setup-system-tests.sh
# first (scripts/setup.sh runs both; each is cheap to repeat).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
export VIRTUAL_ENV="$PWD/.venv"
export CARGO_TERM_COLOR=never

if [ ! -x .venv/bin/maturin ]; then
    echo "no .venv/bin/maturin: run scripts/setup-python.sh first" >&2
    exit 1
fi

printf '\n==> maturin develop (debug build of bindings-python)\n'
started=$SECONDS
maturin develop -q -m bindings-python/Cargo.toml
printf 'built in %s s\n' "$((SECONDS - started))"

printf '\n==> the shared broker launcher (midge-testkit)\n'
cargo build -q --locked -p midge-system-tests --bin midge-testkit

printf '\n==> pytest bindings-python/tests\n'
started=$SECONDS
cd bindings-python
python -m pytest -q -p no:cacheprovider --timeout 120 tests "$@"
printf 'pytest took %s s\n' "$((SECONDS - started))"
