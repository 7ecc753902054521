#!/usr/bin/env bash
# Installs what the Python package (bindings-python/) needs to build, test and
# benchmark: apt packages (only the missing ones) and a virtualenv at .venv/
# with pinned tools. Idempotent: a second run costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "apt: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    log "Rust is missing: running scripts/setup.sh"
    ./scripts/setup.sh
fi

# Pinned so that test and benchmark runs are comparable.
PY_TOOLS=(
    "maturin==1.9.6"
    "pytest==8.4.2"
    "pytest-asyncio==1.2.0"
    "pytest-timeout==2.4.0"
    "paho-mqtt==2.2.0"
    "aiomqtt==2.4.0"
    "gmqtt==0.8.0"
    "mypy==1.15.0"
    "pdoc==15.0.4"
    "PyYAML==6.0.2"
    "ziglang==0.13.0"
    "auditwheel==6.4.2"
    # The version maturin 1.9.6 carries inside: both then give cargo the
    # same zig linker path, which cargo hashes into every crate's
    # fingerprint, so the jar's cross builds (build-jar.sh) reuse the
    # crates the wheels' builds compiled (0.20.1: all 120 compiled again,
    # 0.20.0: 77, the rest shared; about 30 s less per target).
    "cargo-zigbuild==0.20.0"
)
if [ ! -x .venv/bin/python ]; then
    log "creating the virtualenv .venv/"
    python3 -m venv .venv
fi
stamp=.venv/.midge-tools
want="$(printf '%s\n' "${PY_TOOLS[@]}")"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "pip: installing ${PY_TOOLS[*]}"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "${PY_TOOLS[@]}"
    printf '%s\n' "$want" > "$stamp"
fi
log "python setup done ($(.venv/bin/python --version))"
