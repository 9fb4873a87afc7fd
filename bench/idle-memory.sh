#!/usr/bin/env bash
# Memory per idle WebSocket connection (issue acceptance: at most 1 KiB of
# user-space memory each).  Starts parley-wstest, reads its /stats, has
# parley-load open N idle WebSockets (each answering one echo first, so
# every connection has really been used), reads /stats again and prints
# the heap and RSS growth divided by N.
#
#   bench/idle-memory.sh [N]      N defaults to 10000 (1000 with QUICK=1)
#
# Exits non-zero when a connection fails or the heap per connection is
# over 1024 bytes.
set -u
cd "$(dirname "$0")/.."
n=${1:-10000}
[ -n "${QUICK:-}" ] && [ $# = 0 ] && n=1000
bin=build/bin
ulimit -n 20000 2>/dev/null || true
tmp=$(mktemp -d)
srv_pid= load_pid=
cleanup() {
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/parley-wstest" >"$tmp/srv.out" 2>"$tmp/srv.err" &
srv_pid=$!
for _ in $(seq 100); do
	grep -q '^listening on' "$tmp/srv.out" && break
	sleep 0.1
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/srv.out")
[ -n "$port" ] || { echo "idle-memory: server did not start"; exit 1; }

stat() { curl -s --max-time 10 "http://127.0.0.1:$port/stats"; }
field() { sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p"; }

before=$(stat)
"$bin/parley-load" idle -u "ws://127.0.0.1:$port/" -c "$n" --check \
    -S 127.0.0.1-127.0.0.8 >"$tmp/load.out" 2>"$tmp/load.err" &
load_pid=$!
for _ in $(seq 600); do
	grep -q '^ready:' "$tmp/load.out" && break
	kill -0 "$load_pid" 2>/dev/null || break
	sleep 0.2
done
ready=$(grep '^ready:' "$tmp/load.out")
if [ -z "$ready" ]; then
	echo "idle-memory: parley-load did not get ready"
	cat "$tmp/load.out" "$tmp/load.err"
	exit 1
fi
sleep 1
after=$(stat)
kill "$load_pid"
wait "$load_pid" 2>/dev/null
load_pid=

hb=$(echo "$before" | field heap) ha=$(echo "$after" | field heap)
rb=$(echo "$before" | field rss) ra=$(echo "$after" | field rss)
ws=$(echo "$after" | field ws)
echo "idle-memory: $ready"
echo "idle-memory: server sees $ws WebSocket connections"
awk -v n="$n" -v hb="$hb" -v ha="$ha" -v rb="$rb" -v ra="$ra" 'BEGIN {
	printf "idle-memory: connections=%d heap_before=%d heap_after=%d" \
	    " heap_per_conn=%.0f bytes\n", n, hb, ha, (ha - hb) / n
	printf "idle-memory: rss_before=%d rss_after=%d rss_per_conn=%.0f" \
	    " bytes\n", rb, ra, (ra - rb) / n
}' | tee "$tmp/result"
mkdir -p bench/results
cp "$tmp/result" bench/results/idle-memory.txt 2>/dev/null || true

echo "$ready" | grep -q "open=$n failed=0 answered=$n" || {
	echo "idle-memory: FAILED: not every connection opened and answered"
	exit 1
}
[ "$ws" = "$n" ] || { echo "idle-memory: FAILED: server count $ws"; exit 1; }
per=$(( (ha - hb) / n ))
if [ "$per" -gt 1024 ]; then
	echo "idle-memory: FAILED: $per bytes of heap per idle connection"
	exit 1
fi
echo "idle-memory: ok ($per bytes of heap per idle connection, goal 1024)"
