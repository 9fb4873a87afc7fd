#!/usr/bin/env bash
# Token mint/verify rates (bench/token_bench.c) against a per-call HMAC.
set -eu
cd "$(dirname "$0")/.."
make -s build/lib/libparley-common.a
out=build/bench/token_bench
mkdir -p build/bench bench/results
cc -std=c11 -O2 -D_GNU_SOURCE -I. -Icommon -o "$out" bench/token_bench.c \
	build/lib/libparley-common.a -lssl -lcrypto -linih -ljansson \
	-lmsgpackc -lev -lm
n=2000000
[ -n "${QUICK:-}" ] && n=200000
"$out" "$n" | tee bench/results/tokens.txt
