#!/usr/bin/env bash
# make soak: 10,000 RTM connections whose clients vanished without closing
# are found and closed by the backend's heartbeat (10 s here) within it;
# the clients are spread over processes (bench/rtm-vanish.mjs).
set -u
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
exec node bench/rtm-vanish.mjs "${1:-10000}" "${2:-10}"
