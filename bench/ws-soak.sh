#!/usr/bin/env bash
# make soak: 5,000 RTM clients through HAProxy over the launcher's two
# edges, in 50 channels of 100 members, each posting one message a
# second for 60 s; every message must reach every member of its channel
# exactly once, and p50/p99 delivery latency is printed
# (bench/ws-soak.mjs; its options change the sizes).
set -u
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
exec node bench/ws-soak.mjs "$@"
