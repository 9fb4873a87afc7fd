#!/usr/bin/env bash
# make soak: every libFuzzer target for SOAK_FUZZ_RUNS executions (10
# million by default), from its seeds and the corpus earlier runs grew,
# then a summary of executions per target (build/results/fuzz-long.txt).
# FUZZ_TOTAL_SECONDS, when set, bounds the whole run (mk/run-fuzz.sh).
set -u
cd "$(dirname "$0")/.."
exec bash mk/run-fuzz.sh long "${SOAK_FUZZ_RUNS:-10000000}" \
    build/fuzz/bin/fuzz_*
