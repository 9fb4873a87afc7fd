#!/usr/bin/env bash
# Runs each cmocka unit test binary given; prints one line per binary and a
# total.  Writes "passed failed" to build/results/unit.
set -u
mkdir -p build/results build/logs
pass=0 fail=0
for t in "$@"; do
	name=$(basename "$t")
	if "$t" >"build/logs/$name.log" 2>&1; then
		n=$(grep -c '^\[       OK \]' "build/logs/$name.log" || true)
		echo "unit: $name ok ($n cases)"
		pass=$((pass + 1))
	else
		echo "unit: $name FAILED"
		sed 's/^/    /' "build/logs/$name.log" | tail -40
		fail=$((fail + 1))
	fi
done
echo "$pass $fail" > build/results/unit
echo "unit: $pass passed, $fail failed"
[ "$fail" = 0 ]
