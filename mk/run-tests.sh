#!/usr/bin/env bash
# make test: unit tests, each fuzz target briefly, then integration tests.
# Ends with one line "tests: N passed, N failed" over every phase.
set -u
units=$1 fuzzers=$2 seconds=$3
cd "$(dirname "$0")/.."
rc=0
bash mk/run-unit.sh $units || rc=1
bash mk/run-fuzz.sh smoke "$seconds" $fuzzers || rc=1
bash mk/run-integration.sh || rc=1
p=0 f=0
for phase in unit fuzz integration; do
	read -r a b < "build/results/$phase" || { a=0; b=1; }
	p=$((p + a)) f=$((f + b))
done
echo "tests: $p passed, $f failed"
exit $rc
