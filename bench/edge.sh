#!/usr/bin/env bash
# The edge cache on synthetic teams: autocomplete queries/s and latency
# at 20,000 queries/s on a 100,000-user team, slim and full boot bytes at
# 1,000 to 100,000 users, slim boots/s, memory per cached user.
# QUICK=1: a 20,000-user team and boots up to 10,000 users.
#
# Writes bench/results/edge.txt and edge.json (bench/results/quick/
# with QUICK=1).
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
make -s build/bench/edge-bench SANITIZE= OPT=-O2 >/dev/null
resdir=bench/results args=()
[ -n "${QUICK:-}" ] && args=(-q) resdir=bench/results/quick
mkdir -p "$resdir"
machine=$(bench_machine)
build/bench/edge-bench "${args[@]}" | tee "$resdir/edge.txt"
node bench/report.mjs edge-json "$machine" <"$resdir/edge.txt"
