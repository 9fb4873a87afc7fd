#!/usr/bin/env bash
# Runs the process and client tests under tests/integration with Node's
# test runner.  Writes "passed failed" to build/results/integration.
set -u
cd "$(dirname "$0")/.."
mkdir -p build/results build/logs
shopt -s nullglob
files=(tests/integration/*.test.mjs)
if [ ${#files[@]} = 0 ]; then
	echo "0 0" > build/results/integration
	echo "integration: no tests"
	exit 0
fi
node --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination=build/logs/integration.tap \
    "${files[@]}"
rc=$?
pass=$(grep -c '^ok ' build/logs/integration.tap || true)
fail=$(grep -c '^not ok ' build/logs/integration.tap || true)
echo "$pass $fail" > build/results/integration
echo "integration: $pass passed, $fail failed"
exit $rc
