#!/usr/bin/env bash
# The store's durable write rate and commit latency at several numbers
# of concurrent writers, next to the raw LMDB ceiling at the same batch
# sizes (bench/store-bench.c).  QUICK=1: shorter and fewer levels.
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-store-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
if [ -n "${QUICK:-}" ]; then
	secs=1 levels="1 16 64"
else
	secs=3 levels="1 4 16 64 256"
fi
mkdir -p bench/results
build/bin/store-bench "$dir" "$secs" $levels | tee bench/results/store.txt
