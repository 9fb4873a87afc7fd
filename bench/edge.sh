#!/usr/bin/env bash
# The edge cache on synthetic teams: autocomplete queries/s and latency
# at 20,000 queries/s on a 100,000-user team, slim and full boot bytes at
# 1,000 to 100,000 users, slim boots/s, memory per cached user.
# QUICK=1: a 20,000-user team and boots up to 10,000 users.
set -eu
cd "$(dirname "$0")/.."
make -s build/bench/edge-bench SANITIZE= OPT=-O2 >/dev/null
mkdir -p bench/results
args=()
[ -n "${QUICK:-}" ] && args=(-q)
build/bench/edge-bench "${args[@]}" | tee bench/results/edge.txt
