#!/usr/bin/env bash
# mk/run-fuzz.sh smoke SECONDS target...   each target for SECONDS
# mk/run-fuzz.sh long RUNS target...       each target for RUNS executions
# A target's seed corpus is tests/fuzz/corpus/<name>; findings go to
# build/fuzz/findings/<name>.  Writes "passed failed" to
# build/results/fuzz.
#
# In long mode FUZZ_TOTAL_SECONDS, when set, bounds the whole run: each
# target gets an even share of the time left (-max_total_time), so a
# slow target may stop short of RUNS; the summary says how far each got.
# The summary (target, executions, seconds, result) is printed at the
# end and kept in build/results/fuzz-long.txt.
set -u
mode=$1 amount=$2
shift 2
mkdir -p build/results build/logs
pass=0 fail=0
total=${FUZZ_TOTAL_SECONDS:-}
deadline=
[ -n "$total" ] && deadline=$(($(date +%s) + total))
left=$#
summary=build/results/fuzz-$mode.txt
: > "$summary.tmp"
for t in "$@"; do
	name=$(basename "$t")
	seeds=tests/fuzz/corpus/$name
	work=build/fuzz/corpus/$name
	mkdir -p "$work" "build/fuzz/findings/$name"
	if [ "$mode" = smoke ]; then
		limit=("-max_total_time=$amount")
	else
		limit=("-runs=$amount")
		if [ -n "$deadline" ]; then
			share=$(((deadline - $(date +%s)) / left))
			[ "$share" -lt 10 ] && share=10
			limit+=("-max_total_time=$share")
		fi
	fi
	left=$((left - 1))
	dirs=("$work")
	[ -d "$seeds" ] && dirs+=("$seeds")
	log=build/logs/$name.fuzz.$mode.log
	start=$(date +%s)
	if "$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 \
	    -artifact_prefix="build/fuzz/findings/$name/" \
	    "${dirs[@]}" >"$log" 2>&1; then
		result=ok
		pass=$((pass + 1))
	else
		result=FAILED
		fail=$((fail + 1))
	fi
	secs=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -1)
	if [ -z "$execs" ]; then
		execs=$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#')
	fi
	execs=${execs:-0}
	printf '%-28s %12s %6s  %s\n' "$name" "$execs" "$secs" "$result" |
	    tee -a "$summary.tmp" | sed 's/^/fuzz: /'
	if [ "$result" = FAILED ]; then
		echo "    see $log"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -10 |
		    sed 's/^/    /'
	fi
done
{
	printf '%-28s %12s %6s  %s\n' target executions secs result
	cat "$summary.tmp"
} > "$summary"
rm -f "$summary.tmp"
if [ "$mode" = long ]; then
	echo "fuzz: summary ($summary)"
	sed 's/^/    /' "$summary"
fi
echo "$pass $fail" > build/results/fuzz
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
