#!/usr/bin/env bash
# The store's durable write rate and commit latency at several numbers
# of concurrent writers, next to the raw LMDB ceiling at the same batch
# sizes (bench/store-bench.c).  Store and ceiling phases alternate for
# ROUNDS rounds per level and the medians are printed, since the disk's
# fsync time moves with whatever else the machine does.
# QUICK=1: shorter and fewer rounds.
#
# Writes bench/results/store.txt and store.json (bench/results/quick/
# with QUICK=1).
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
if [ -n "${QUICK:-}" ]; then
	secs=1 rounds=1 levels="1 16 64" resdir=bench/results/quick
else
	secs=2 rounds=5 levels="1 4 16 64 256" resdir=bench/results
fi
mkdir -p "$resdir" "$bench_tmp/store"
machine=$(bench_machine)
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" \
    >"$resdir/store.txt"
build/bin/store-bench "$bench_tmp/store" "$secs" "$rounds" $levels |
    tee -a "$resdir/store.txt"
node bench/report.mjs store-json "$machine" <"$resdir/store.txt"
