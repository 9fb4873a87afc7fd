#!/usr/bin/env bash
# bench/spoa.sh: what the SPOE agent costs.
#
#  1. wrk through HAProxy 2.6 with haproxy-config/haproxy.cfg: without
#     the SPOE filter, with parley-null-agent (a fixed ACK), and with
#     parley-spoa; every backend is a HAProxy that answers 200 itself.
#  2. parley-spoa-load against each agent directly (frame level): ACKs a
#     second, ACK latency, and ACKs per CPU-second of the agent (its
#     user+system time from /proc), which holds on a shared machine.
#
# Agents run with one thread.  QUICK=1 shortens every run.  Prints the
# figures, and writes them to bench/results/spoa.json
# (bench/results/quick/ with QUICK=1).
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
root=$PWD
bin=$root/build/bin
dur=5 resdir=bench/results
[ -n "${QUICK:-}" ] && dur=3 resdir=bench/results/quick
p_http=$(bench_free_port) p_stub=$(bench_free_port)
p_agent=$(bench_free_port) p_stats=$(bench_free_port)
p_null=$(bench_free_port)
machine=$(bench_machine)
rows=()

for b in parley-spoa parley-null-agent parley-spoa-load; do
	[ -x "$bin/$b" ] || { echo "spoa.sh: build first: $bin/$b"; exit 1; }
done
command -v wrk >/dev/null || { echo "spoa.sh: wrk is missing"; exit 1; }

tmp=$bench_tmp
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	bench_cleanup
}
trap cleanup EXIT

hex=$(openssl rand -hex 32)
echo "k1 $hex" > "$tmp/keys"
chmod 600 "$tmp/keys"
cat > "$tmp/parley.conf" <<EOF
[spoa]
listen = 127.0.0.1:$p_agent
stats_listen = 127.0.0.1:$p_stats
threads = 1
team_rate = 1000000
team_burst = 1000000
global_rate = 10000000
global_burst = 10000000
[tokens]
keys = keys
EOF

# A user token in the format of common/token.h.
body="xoxp.k1.T100.U100.bench1.0"
mac=$(printf '%s' "$body" | openssl dgst -sha256 -mac HMAC \
    -macopt "hexkey:$hex" -binary | base64 | tr '+/' '-_' | tr -d '=\n')
token="$body.$mac"

# The stand-in backend: HAProxy answering every request itself.
cat > "$tmp/stub.cfg" <<EOF
global
    maxconn 4000
defaults
    mode http
    timeout client 30s
    timeout connect 5s
    timeout server 30s
frontend stub
    bind 127.0.0.1:$p_stub
    http-request return status 200 content-type application/json string '{"ok":true}'
EOF
haproxy -q -f "$tmp/stub.cfg" -db & pids+=($!)

"$bin/parley-spoa" -c "$tmp/parley.conf" 2>"$tmp/agent.log" &
agent_pid=$!
pids+=($agent_pid)
"$bin/parley-null-agent" "127.0.0.1:$p_null" & null_pid=$!
pids+=($null_pid)
sleep 1
kill -0 "$agent_pid" 2>/dev/null || { echo "spoa.sh: parley-spoa did not start:"; cat "$tmp/agent.log"; exit 1; }

# Without the filter: the same file with the "filter spoe" line removed.
grep -v '^ *filter spoe' haproxy-config/haproxy.cfg > "$tmp/nofilter.cfg"

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run_wrk TARGET CONFIG AGENT_PORT AGENT_PID: one wrk run through a new
# HAProxy; appends "requests/s latency non-2xx cpu-ticks" to
# $tmp/wrk.TARGET, the CPU being HAProxy's and the agent's during it.
run_wrk() {
	local t=$1 cfg=$2 aport=$3 apid=$4 hp out c0 c1
	PARLEY_HTTP_BIND=127.0.0.1:$p_http \
	PARLEY_SPOE_CONF=$root/haproxy-config/parley-spoe.conf \
	PARLEY_SPOA_ADDR=127.0.0.1:$aport \
	PARLEY_EDGE1_ADDR=127.0.0.1:$p_stub \
	PARLEY_EDGE2_ADDR=127.0.0.1:$p_stub \
	PARLEY_BACKEND_ADDR=127.0.0.1:$p_stub \
	PARLEY_HAPROXY_SOCK=$tmp/haproxy.sock \
	    haproxy -q -db -f "$cfg" & hp=$!
	sleep 1.5
	c0=$(( $(cpu "$hp") + $( [ -n "$apid" ] && cpu "$apid" || echo 0) ))
	out=$(wrk -t1 -c32 -d"${dur}s" \
	    -H "Authorization: Bearer $token" \
	    -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64)" \
	    "http://127.0.0.1:$p_http/api/conversations.history")
	c1=$(( $(cpu "$hp") + $( [ -n "$apid" ] && cpu "$apid" || echo 0) ))
	kill "$hp"
	wait "$hp" 2>/dev/null
	echo "$out" | awk -v cpu=$((c1 - c0)) '/Requests\/sec/ { r = $2 }
	    /Latency/ { l = $2 } /Non-2xx/ { n = $4 }
	    END { print r + 0, l, n + 0, cpu }' >>"$tmp/wrk.$t"
}

# The three set-ups alternate, round after round, so that each sees the
# same machine; medians are reported.
rounds=3
[ -n "${QUICK:-}" ] && rounds=1
echo "-- HAProxy 2.6 + wrk (1 thread, 32 connections, ${dur}s each," \
    "$rounds rounds, medians)"
for _ in $(seq "$rounds"); do
	run_wrk alone "$tmp/nofilter.cfg" "$p_agent" ""
	run_wrk null haproxy-config/haproxy.cfg "$p_null" "$null_pid"
	run_wrk spoa haproxy-config/haproxy.cfg "$p_agent" "$agent_pid"
done
for t in alone null spoa; do
	case $t in
	alone) name="HAProxy alone" ;;
	null) name="HAProxy + null agent" ;;
	spoa) name="HAProxy + parley-spoa" ;;
	esac
	med=$(cut -d' ' -f1 "$tmp/wrk.$t" | bench_median)
	line=$(awk -v m="$med" '$1 == m || !f { l = $0; f = ($1 == m) }
	    END { print l }' "$tmp/wrk.$t")
	set -- $line
	# Requests per CPU-second of HAProxy and the agent together (the
	# /proc ticks are 1/100 s): what holds on a busy machine.
	per_cpu=$(awk -v r="$1" -v d="$dur" -v c="$4" 'BEGIN {
	    printf "%.0f", (c > 0 ? r * d * 100 / c : 0) }')
	printf '%-24s %10s req/s  latency avg %-8s non-2xx %s  %s req per CPU-s  (runs: %s)\n' \
	    "$name" "$med" "$2" "$3" "$per_cpu" \
	    "$(cut -d' ' -f1 "$tmp/wrk.$t" | tr '\n' ' ' | sed 's/ $//')"
	eval "rps_$t=\${med%.*} cpu_$t=$per_cpu"
	rows+=("$(printf '{"part":"haproxy","target":"%s","requests_per_s":%s,"latency_avg":"%s","non_2xx":%s,"requests_per_cpu_s":%s,"runs":[%s]}' \
	    "$t" "$med" "$2" "$3" "$per_cpu" \
	    "$(cut -d' ' -f1 "$tmp/wrk.$t" | paste -sd,)")")
done
acks=$(curl -s "http://127.0.0.1:$p_stats/metrics" |
    awk '/^parley_spoa_ack_total/ { print $2 }')
echo "parley-spoa answered ${acks:-0} NOTIFYs during its runs"
if [ "${rps_null:-0}" -gt 0 ]; then
	echo "parley-spoa / null agent: $((100 * rps_spoa / rps_null))%" \
	    "of requests/s, $((100 * cpu_spoa / (cpu_null > 0 ? cpu_null : 1)))%" \
	    "of requests per CPU-second (goal 90%)"
fi

echo "-- frame level: parley-spoa-load (4 connections, 32 in flight each)"
for a in "parley-spoa $agent_pid $p_agent" \
    "null-agent $null_pid $p_null"; do
	set -- $a
	c0=$(cpu "$2")
	line=$("$bin/parley-spoa-load" -a "127.0.0.1:$3" -c 4 -w 32 \
	    -d "$dur" -k "$tmp/keys")
	c1=$(cpu "$2")
	acks=$(echo "$line" | awk '{ for (i = 1; i < NF; i++)
	    if ($i == "acks") print $(i + 1) }')
	ticks=$((c1 - c0))
	printf '%-12s %s\n' "$1" "$line"
	per_cpu=0
	if [ "$ticks" -gt 0 ]; then
		# /proc counts in 1/100 s; the agent also ran the warm-up.
		per_cpu=$((acks * 100 / ticks))
		echo "             $per_cpu ACKs per CPU-second" \
		    "of the agent (goal for parley-spoa: 150000)"
	fi
	rows+=("$(echo "$line" | awk -v t="$1" -v pc="$per_cpu" '{
		for (i = 1; i < NF; i++) v[$i] = $(i + 1)
		sub(/us$/, "", v["p50"]); sub(/us$/, "", v["p99"])
		printf "{\"part\":\"frames\",\"target\":\"%s\",", t
		printf "\"acks_per_s\":%s,\"p50_us\":%s,\"p99_us\":%s,",
		    v["decisions/s"], v["p50"], v["p99"]
		printf "\"acks_per_cpu_s\":%s}", pc }')")
done

mkdir -p "$resdir"
ratio=0
[ "${rps_null:-0}" -gt 0 ] && ratio=$(awk -v a="${rps_spoa:-0}" \
    -v b="$rps_null" 'BEGIN { printf "%.3f", a / b }')
cratio=0
[ "${cpu_null:-0}" -gt 0 ] && cratio=$(awk -v a="${cpu_spoa:-0}" \
    -v b="$cpu_null" 'BEGIN { printf "%.3f", a / b }')
(IFS=,; printf '{"scenario":"spoa","machine":%s,"spoa_vs_null":%s,"spoa_vs_null_per_cpu":%s,"rows":[%s]}\n' \
    "$machine" "$ratio" "$cratio" "${rows[*]}") >"$resdir/spoa.json"
