#!/usr/bin/env bash
# make bench: every benchmark scenario, each printing its own table.
# QUICK=1 runs a short subset.  Results go to bench/results/.
set -u
cd "$(dirname "$0")/.."
bash mk/deps.sh bench || exit 1
mkdir -p bench/results
ulimit -n 20000 2>/dev/null || true
export QUICK=${QUICK:-}

# One script per scenario, run in this order when present.
scenarios=(store.sh spoa.sh health.sh idle-memory.sh tokens.sh rtm.sh fanout.sh
	edge.sh posts.sh)
rc=0
for s in "${scenarios[@]}"; do
	[ -f "bench/$s" ] || continue
	echo "== bench/$s"
	bash "bench/$s" || { echo "bench: $s failed"; rc=1; }
done
exit $rc
