#!/usr/bin/env bash
# The store's durable write rate and commit latency at several numbers
# of concurrent writers, next to the raw LMDB ceiling at the same batch
# sizes (bench/store-bench.c).  Store and ceiling phases alternate for
# ROUNDS rounds per level and the medians are printed, since the disk's
# fsync time moves with whatever else the machine does.
# QUICK=1: shorter and fewer rounds.
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-store-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
if [ -n "${QUICK:-}" ]; then
	secs=1 rounds=1 levels="1 16 64"
else
	secs=2 rounds=5 levels="1 4 16 64 256"
fi
mkdir -p bench/results
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" \
    > bench/results/store.txt
build/bin/store-bench "$dir" "$secs" "$rounds" $levels |
    tee -a bench/results/store.txt
