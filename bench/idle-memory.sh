#!/usr/bin/env bash
# Memory per idle WebSocket connection (goal: at most 1 KiB of user-space
# memory each), Parley's server beside the `ws` comparator in the same
# run.  For each server: read its /stats, have parley-load open N idle
# WebSockets (each answering one echo first, so every connection has
# really been used), read /stats again and divide the growth by N.
#
#   parley-backend RTM connections of parley-backend, authenticated
#                  (one rtm.connect ticket) and each past its hello;
#                  heap = parley_heap_bytes of /metrics (malloc's bytes
#                  in use), rss from /proc
#   parley-edge    the same on a parley-edge linked to a backend's stream
#                  (the edge's rtm.connect ticket); heap and rss of the
#                  edge process, parley_heap_bytes of its /metrics
#   parley-wstest  common/ http + ws; heap = malloc's bytes in use
#   ws             bench/ws-broadcast.mjs; heap = V8 heap used + external
#                  + array buffers (what the JavaScript side holds)
#
#   bench/idle-memory.sh [N]      N defaults to 10000 (1000 with QUICK=1)
#
# Writes bench/results/idle-memory.txt and .json (bench/results/quick/
# with QUICK=1).  Exits non-zero when a
# connection fails or a Parley server's heap per connection is over 1024
# bytes.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-10000}
[ -n "${QUICK:-}" ] && [ $# = 0 ] && n=1000
targets=${IDLE_TARGETS:-"parley-backend parley-edge parley-wstest ws"}
bin=build/bin
ulimit -n 20000 2>/dev/null || true
rc=0 rows=() lines=()

field() { sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p"; }

for t in $targets; do
	case "$t" in
	parley-backend)
		bench_backend "rtm_max_conns = $((n + 100))
rate_tier1 = 0
rtm_ticket_ttl = 10m
" || exit 1
		;;
	parley-edge)
		bench_edge_backend "rate_tier1 = 0
rtm_ticket_ttl = 10m
" || exit 1
		bench_edge "max_conns = 20000
rtm_ticket_ttl = 10m
rtm_max_conns = $((n + 100))
" || exit 1
		bench_port=$ed_port bench_pid=$ed_pid
		;;
	parley-wstest) bench_start "$t" "$bin/parley-wstest" || exit 1 ;;
	ws) bench_start "$t" node bench/ws-broadcast.mjs 0 || exit 1 ;;
	*) echo "idle-memory: unknown target $t"; exit 1 ;;
	esac
	port=$bench_port srv=$bench_pid
	if [ "$t" = parley-backend ] || [ "$t" = parley-edge ]; then
		# The same fields as the others' /stats, from /metrics.
		stat() {
			local m
			m=$(curl -s --max-time 10 \
			    "http://127.0.0.1:$port/metrics")
			printf '{"heap":%s,"rss":%s,"ws":%s}' \
			    "$(echo "$m" | awk '/^parley_heap_bytes / {
			    print $2 }')" "$(bench_rss_bytes "$srv")" \
			    "$(echo "$m" | awk '$1 == "parley_rtm_connections" ||
			    $1 == "parley_edge_clients" { print $2 }')"
		}
		if [ "$t" = parley-edge ]; then
			url=$(bench_edge_rtm_url)
		else
			url=$(bench_rtm_url)
		fi
		[ -n "$url" ] || { echo "idle-memory: rtm.connect failed"
			exit 1; }
		mode=(rtm-idle -u "$url" -c "$n" -d 600)
	else
		stat() { curl -s --max-time 10 "http://127.0.0.1:$port/stats"; }
		mode=(idle -u "ws://127.0.0.1:$port/" -c "$n" --check
		    -S 127.0.0.1-127.0.0.8)
	fi

	before=$(stat)
	"$bin/parley-load" "${mode[@]}" >"$bench_tmp/load.out" \
	    2>"$bench_tmp/load.err" &
	load_pid=$!
	for _ in $(seq 600); do
		grep -q '^ready:' "$bench_tmp/load.out" && break
		kill -0 "$load_pid" 2>/dev/null || break
		sleep 0.2
	done
	ready=$(grep '^ready:' "$bench_tmp/load.out")
	if [ -z "$ready" ]; then
		echo "idle-memory: $t: parley-load did not get ready"
		cat "$bench_tmp/load.out" "$bench_tmp/load.err"
		kill "$load_pid" 2>/dev/null
		exit 1
	fi
	sleep 1
	after=$(stat)
	kill "$load_pid"
	wait "$load_pid" 2>/dev/null
	bench_stop "$srv"
	[ "$t" = parley-edge ] && bench_stop "$be_pid"

	hb=$(echo "$before" | field heap) ha=$(echo "$after" | field heap)
	rb=$(echo "$before" | field rss) ra=$(echo "$after" | field rss)
	ws=$(echo "$after" | field ws)
	echo "idle-memory: $t: $ready; server sees $ws WebSocket connections"
	line=$(awk -v t="$t" -v n="$n" -v hb="$hb" -v ha="$ha" -v rb="$rb" \
	    -v ra="$ra" 'BEGIN {
		printf "%-15s %8d %14.0f %14.0f", t, n, (ha - hb) / n,
		    (ra - rb) / n }')
	lines+=("$line")
	rows+=("$(awk -v t="$t" -v n="$n" -v hb="$hb" -v ha="$ha" -v rb="$rb" \
	    -v ra="$ra" 'BEGIN {
		printf "{\"target\":\"%s\",\"connections\":%d,", t, n
		printf "\"heap_per_conn\":%.0f,\"rss_per_conn\":%.0f}",
		    (ha - hb) / n, (ra - rb) / n }')")

	if ! echo "$ready" | grep -Eq \
	    "open=$n (failed=0 answered=$n|hello=$n failed=0)" ||
	    [ "$ws" != "$n" ]; then
		echo "idle-memory: FAILED: $t: not every connection opened" \
		    "and answered (server count $ws)"
		rc=1
	fi
	if [ "$t" != ws ]; then
		per=$(( (ha - hb) / n ))
		if [ "$per" -gt 1024 ]; then
			echo "idle-memory: FAILED: $t: $per bytes of heap" \
			    "per idle connection"
			rc=1
		else
			echo "idle-memory: $t: ok ($per bytes of heap per" \
			    "idle connection, goal 1024)"
		fi
	fi
done

out=bench/results
[ -n "${QUICK:-}" ] && out=bench/results/quick
mkdir -p "$out"
{
	echo "Memory per idle WebSocket connection (bytes), one run"
	printf '%-15s %8s %14s %14s\n' target conns heap/conn rss/conn
	printf '%s\n' "${lines[@]}"
} | tee "$out/idle-memory.txt"
(IFS=,; printf '{"scenario":"idle-memory","machine":%s,"rows":[%s]}\n' \
    "$(bench_machine)" "${rows[*]}") >"$out/idle-memory.json"
exit $rc
