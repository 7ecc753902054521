#!/usr/bin/env bash
# The core must stay sans-IO: no async runtime, socket, TLS or clock crate may
# appear among its normal dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p midge-core -e normal --prefix none --locked | awk '{print $1}' | sort -u)
echo "midge-core normal dependencies:"; echo "$tree" | sed 's/^/  /'
forbidden='^(tokio|async-std|smol|async-io|mio|futures|futures-.*|socket2|rustls|native-tls|openssl|chrono|time|instant|web-time|getrandom|rand|wasm-bindgen|js-sys|web-sys|libc)$'
if bad=$(echo "$tree" | grep -E "$forbidden"); then
    echo "forbidden dependency in midge-core: $bad" >&2
    exit 1
fi
echo "ok: none of the forbidden crates"
