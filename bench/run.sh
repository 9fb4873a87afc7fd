#!/usr/bin/env bash
# make bench: every benchmark scenario, each starting what it measures
# and its comparators on loopback and printing its own table, then the
# charts.  QUICK=1 runs a short subset (fan-out at 1,000 subscribers,
# idle memory, durable posts, the SPOE agent) in about a minute.
# Results (JSON, text, PNG) go to bench/results/, or bench/results/quick/
# with QUICK=1; the whole output also to bench.log there.
#
#   BENCH_ONLY="fanout.sh posts.sh" make bench   runs only those
set -u
cd "$(dirname "$0")/.."
bash mk/deps.sh bench || exit 1
export QUICK=${QUICK:-}
resdir=bench/results
[ -n "$QUICK" ] && resdir=bench/results/quick
mkdir -p "$resdir"
ulimit -n 20000 2>/dev/null || true

# One script per scenario, run in this order when present.
if [ -n "${BENCH_ONLY:-}" ]; then
	read -ra scenarios <<<"$BENCH_ONLY"
elif [ -n "$QUICK" ]; then
	scenarios=(fanout.sh idle-memory.sh posts.sh spoa.sh)
else
	scenarios=(store.sh spoa.sh health.sh idle-memory.sh tokens.sh
	    rtm.sh fanout.sh edge.sh posts.sh)
fi
start=$(date +%s)
rc=0
{
	echo "bench: $(date -u +%FT%TZ), load average" \
	    "$(cut -d' ' -f1-3 /proc/loadavg), scenarios: ${scenarios[*]}"
	for s in "${scenarios[@]}"; do
		[ -f "bench/$s" ] || continue
		t0=$(date +%s)
		echo "== bench/$s"
		bash "bench/$s" || { echo "bench: $s failed"; rc=1; }
		echo "== bench/$s: $(($(date +%s) - t0)) s"
	done
	node bench/report.mjs charts
	echo "bench: done in $(($(date +%s) - start)) s; to put the tables" \
	    "into docs/performance.md: node bench/report.mjs doc"
	exit $rc
} 2>&1 | tee "$resdir/bench.log"
exit "${PIPESTATUS[0]}"
