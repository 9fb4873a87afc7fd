#!/usr/bin/env bash
# Fan-out: deliveries/s of 100-byte messages to 100, 1,000 and 10,000
# subscribers, and delivery latency at a fixed rate, for Parley's
# WebSocket path and the comparators, all started here on loopback and
# measured by the same parley-load in the same run:
#
#   parley-wstest   common/ws broadcast (one shared frame, writev per
#                   connection per loop pass); not durable
#   parley-backend  RTM fan-out of messages sent over RTM by one
#                   publisher connection: durable (each is committed to
#                   LMDB before its event goes out), and each recipient
#                   gets the message event's JSON (about 250 bytes
#                   around the 100-byte text)
#   parley-edge     the same messages, sent over RTM by one publisher
#                   connection to the backend (durable as above), the
#                   subscribers connected over RTM to a parley-edge
#                   linked to that backend's stream (TLS): each event
#                   goes backend -> edge -> every subscriber
#   redis           Redis pub/sub, Debian's redis-server; not durable
#   ws              bench/ws-broadcast.mjs on the npm `ws` package,
#                   frame serialised once, compression off; not durable
#
# Flat out: the publisher keeps at most 200 messages per subscriber (and
# at least 500,000 deliveries) outstanding; the median of REPEAT runs is
# reported.  Fixed rate: 100,000
# deliveries/s in all (1,000 messages/s to 100 subscribers, 100/s to
# 1,000, 10/s to 10,000), latency p50/p99 printed.
#
#   bench/fanout.sh            (QUICK=1: 1,000 subscribers, one run each)
#
# FANOUT_PERF=TARGET records a profile (perf record -g) of that target's
# server during its first flat-out run at each size (FANOUT_PERF_OPTS,
# "-g -F 1999" by default, e.g. "--call-graph dwarf -F 499" for a build
# without frame pointers), and writes the top
# of `perf report --no-children` to $resdir/profile-TARGET-N.txt.
#
# Writes bench/results/fanout.json and bench/results/fanout.png
# (bench/results/quick/ with QUICK=1).
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null || true

if [ -n "${QUICK:-}" ]; then
	sizes=${FANOUT_SIZES:-1000} repeat=${FANOUT_REPEAT:-1} secs=2
else
	sizes=${FANOUT_SIZES:-"100 1000 10000"} repeat=${FANOUT_REPEAT:-3}
	secs=3
fi
targets=${FANOUT_TARGETS:-"parley-backend parley-edge parley-wstest redis ws"}
load=build/bin/parley-load
src=127.0.0.1-127.0.0.16
resdir=bench/results${QUICK:+/quick}
runs="$bench_tmp/runs.jsonl"
: >"$runs"

bench_wait_quiet 3 "${QUICK:+5}"
machine=$(bench_machine)

# Start every comparator once; each serves every size.
declare -A url pid extra
for t in $targets; do
	case "$t" in
	parley-backend)
		# A team with one member and a channel; every subscriber is a
		# connection of that member, opened with one rtm.connect ticket.
		d="$bench_tmp/backend"
		mkdir -p "$d"
		printf 'k1 %s\n' "$(openssl rand -hex 32)" >"$d/keys"
		chmod 600 "$d/keys"
		ctl() { build/bin/parleyctl -d "$d/data" -k "$d/keys" "$@"; }
		ctl init >/dev/null && ctl team create bench bench >/dev/null &&
		    ctl user create bench pub Publisher >/dev/null || exit 1
		chan=$(ctl channel create bench general pub) || exit 1
		token=$(ctl token bench pub) || exit 1
		bp=$(bench_free_port)
		cat >"$d/parley.conf" <<-EOF
		[backend]
		listen = 127.0.0.1:$bp
		data_dir = data
		rate_tier1 = 0
		rate_post = 0
		rtm_ticket_ttl = 10m
		rtm_out_cap = 4M
		rtm_max_conns = 20000
		[tokens]
		keys = keys
		EOF
		BENCH_PORT=$bp bench_start backend build/bin/parley-backend \
		    -c "$d/parley.conf" || exit 1
		u=$(curl -s --max-time 5 -H "Authorization: Bearer $token" \
		    -X POST "http://127.0.0.1:$bp/api/rtm.connect" |
		    sed -n 's/.*"url":"\([^"]*\)".*/\1/p' | sed 's|\\/|/|g')
		[ -n "$u" ] || { echo "fanout: rtm.connect failed"; exit 1; }
		url[$t]=$u
		extra[$t]="--rtm --channel $chan"
		;;
	parley-edge)
		# A second backend, with its stream listener, and an edge; the
		# subscribers hold one edge ticket, the publisher a backend one.
		bench_edge_backend "rate_tier1 = 0
rate_post = 0
rtm_ticket_ttl = 10m
rtm_out_cap = 4M
" || exit 1
		bench_edge "max_conns = 20000
rtm_ticket_ttl = 10m
rtm_out_cap = 4M
rtm_max_conns = 20000
" || exit 1
		u=$(bench_edge_rtm_url) pu=$(bench_rtm_url)
		[ -n "$u" ] && [ -n "$pu" ] ||
		    { echo "fanout: rtm.connect failed"; exit 1; }
		url[$t]=$u
		extra[$t]="--rtm --channel $be_chan --pub-url $pu"
		;;
	parley-wstest)
		bench_start wstest build/bin/parley-wstest -p 0 || exit 1
		url[$t]="ws://127.0.0.1:$bench_port/"
		;;
	redis)
		command -v redis-server >/dev/null || {
			echo "fanout: redis-server missing"; exit 1; }
		rp=$(bench_free_port)
		BENCH_PORT=$rp bench_start redis redis-server --port "$rp" \
		    --bind 127.0.0.1 --protected-mode no --save '' \
		    --appendonly no --maxclients 20000 --loglevel warning \
		    || exit 1
		url[$t]="redis://127.0.0.1:$rp/"
		;;
	ws)
		bench_start ws node bench/ws-broadcast.mjs 0 || exit 1
		url[$t]="ws://127.0.0.1:$bench_port/"
		;;
	*)
		echo "fanout: unknown target $t"; exit 1
		;;
	esac
	pid[$t]=$bench_pid
done

# CPU seconds (user + system) a process has used so far.
cpu_secs() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
	    "/proc/$1/stat" 2>/dev/null || echo 0
}

# run TARGET N KIND ARGS...: one parley-load run, its json line kept.
run() {
	local t=$1 n=$2 kind=$3 out c0 c1
	shift 3
	c0=$(cpu_secs "${pid[$t]}")
	perf_pid=
	if [ "$kind" = flat ] && [ "${FANOUT_PERF:-}" = "$t" ] &&
	    [ ! -f "$bench_tmp/perf-$t-$n.data" ]; then
		perf record -q ${FANOUT_PERF_OPTS:--g -F 1999} -o "$bench_tmp/perf-$t-$n.data" \
		    -p "${pid[$t]}" 2>/dev/null &
		perf_pid=$!
	fi
	# shellcheck disable=SC2086
	out=$(timeout 120 "$load" fanout -u "${url[$t]}" -c "$n" -w 2 \
	    -S "$src" ${extra[$t]:-} "$@" 2>"$bench_tmp/load.err")
	c1=$(cpu_secs "${pid[$t]}")
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid"
		mkdir -p "$resdir"
		{
			echo "# self time"
			perf report -i "$bench_tmp/perf-$t-$n.data" \
			    --no-children --percent-limit 0.7 --stdio \
			    -g none --sort dso,symbol 2>/dev/null
			echo "# with callees"
			perf report -i "$bench_tmp/perf-$t-$n.data" \
			    --children --percent-limit 3 --stdio \
			    -g none --sort symbol 2>/dev/null
		} | grep -v '^#  \|^$\|^# *$\|Tip:\|^# [A-Z.]' \
		    >"$resdir/profile-$t-$n.txt"
		echo "fanout: profile in $resdir/profile-$t-$n.txt" >&2
	fi
	j=$(echo "$out" | sed -n 's/^json: //p')
	if [ -z "$j" ]; then
		echo "fanout: $t n=$n $kind: no result" >&2
		tail -3 "$bench_tmp/load.err" >&2
		return
	fi
	printf '{"target":"%s","subscribers":%s,"kind":"%s",' "$t" "$n" \
	    "$kind" >>"$runs"
	printf '"server_cpu_s":%s,"result":%s}\n' "$(awk -v a="$c1" \
	    -v b="$c0" 'BEGIN { printf "%.2f", a - b }')" "$j" >>"$runs"
	echo "$t n=$n $kind: $(echo "$out" | grep '^fanout: conns' |
	    sed 's/^fanout: //')" >&2
	sleep 0.5
}

for n in $sizes; do
	rate=$((100000 / n))
	for r in $(seq "$repeat"); do
		for t in $targets; do
			run "$t" "$n" flat -r 0 -d "$secs" \
			    -W $((n * 200 > 500000 ? n * 200 : 500000))
		done
	done
	for t in $targets; do
		run "$t" "$n" fixed -r "$rate" -d "$secs"
	done
done

node bench/report.mjs fanout "$runs" "$machine"
