#!/usr/bin/env bash
# make soak: load and soak runs at the sizes the acceptance lists name.
# Each entry is a script that runs by itself and exits non-zero on failure.
set -u
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
export PARLEY_SOAK=1
soaks=(bench/idle-memory.sh bench/webapi-boot.sh bench/rtm-vanish.sh
	bench/ws-soak.sh
	mk/soak-faults.sh mk/soak-fuzz.sh)
pass=0 fail=0
for s in "${soaks[@]}"; do
	[ -f "$s" ] || continue
	echo "== $s"
	if bash "$s"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "soak: $pass passed, $fail failed"
[ "$fail" = 0 ]
