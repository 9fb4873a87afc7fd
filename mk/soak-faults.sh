#!/usr/bin/env bash
# make soak: the fault tests at soak size (PARLEY_SOAK=1): 200 SIGKILLs
# of the backend under steady writes (PARLEY_KILL_ROUNDS to change it),
# the power-loss model, and the front faults.
set -u
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
export PARLEY_SOAK=1
exec node --test --test-concurrency=1 \
    tests/integration/faults-kill.test.mjs \
    tests/integration/faults-powerloss.test.mjs \
    tests/integration/faults-front.test.mjs
