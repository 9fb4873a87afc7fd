#!/usr/bin/env bash
# mk/run-fuzz.sh smoke SECONDS target...   each target for SECONDS
# mk/run-fuzz.sh long RUNS target...       each target for RUNS executions
# A target's seed corpus is tests/fuzz/corpus/<name>; findings go to
# build/fuzz/findings/<name>.  Writes "passed failed" to
# build/results/fuzz.
set -u
mode=$1 amount=$2
shift 2
mkdir -p build/results build/logs
pass=0 fail=0
for t in "$@"; do
	name=$(basename "$t")
	seeds=tests/fuzz/corpus/$name
	work=build/fuzz/corpus/$name
	mkdir -p "$work" "build/fuzz/findings/$name"
	if [ "$mode" = smoke ]; then
		limit="-max_total_time=$amount"
	else
		limit="-runs=$amount"
	fi
	dirs=("$work")
	[ -d "$seeds" ] && dirs+=("$seeds")
	log=build/logs/$name.fuzz.log
	if "$t" $limit -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="build/fuzz/findings/$name/" \
	    "${dirs[@]}" >"$log" 2>&1; then
		execs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1)
		echo "fuzz: $name ok (${execs:-done})"
		pass=$((pass + 1))
	else
		echo "fuzz: $name FAILED (see $log)"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -10 |
		    sed 's/^/    /'
		fail=$((fail + 1))
	fi
done
echo "$pass $fail" > build/results/fuzz
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
