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
# figures and asserts nothing.
set -u
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/build/bin
dur=10
[ -n "${QUICK:-}" ] && dur=3
base=${SPOA_BENCH_PORT:-22200}
p_http=$base p_stub=$((base + 1)) p_agent=$((base + 2))
p_stats=$((base + 3)) p_null=$((base + 4))

for b in parley-spoa parley-null-agent parley-spoa-load; do
	[ -x "$bin/$b" ] || { echo "spoa.sh: build first: $bin/$b"; exit 1; }
done
command -v wrk >/dev/null || { echo "spoa.sh: wrk is missing"; exit 1; }

tmp=$(mktemp -d /tmp/parley-spoa-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
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

# run_wrk NAME CONFIG AGENT_PORT
run_wrk() {
	local name=$1 cfg=$2 aport=$3 hp out
	PARLEY_HTTP_BIND=127.0.0.1:$p_http \
	PARLEY_SPOE_CONF=$root/haproxy-config/parley-spoe.conf \
	PARLEY_SPOA_ADDR=127.0.0.1:$aport \
	PARLEY_EDGE1_ADDR=127.0.0.1:$p_stub \
	PARLEY_EDGE2_ADDR=127.0.0.1:$p_stub \
	PARLEY_BACKEND_ADDR=127.0.0.1:$p_stub \
	PARLEY_HAPROXY_SOCK=$tmp/haproxy.sock \
	    haproxy -q -db -f "$cfg" & hp=$!
	sleep 1.5
	out=$(wrk -t1 -c32 -d"${dur}s" \
	    -H "Authorization: Bearer $token" \
	    -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64)" \
	    "http://127.0.0.1:$p_http/api/conversations.history")
	kill "$hp"
	wait "$hp" 2>/dev/null
	rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
	lat=$(echo "$out" | awk '/Latency/ { print $2 }')
	non2xx=$(echo "$out" | awk '/Non-2xx/ { print $4 }')
	printf '%-28s %12s req/s   latency avg %-8s non-2xx %s\n' \
	    "$name" "$rps" "$lat" "${non2xx:-0}"
	eval "rps_$4=\${rps%.*}"
}

echo "-- HAProxy 2.6 + wrk (1 thread, 32 connections, ${dur}s each)"
run_wrk "HAProxy alone" "$tmp/nofilter.cfg" "$p_agent" alone
run_wrk "HAProxy + null agent" haproxy-config/haproxy.cfg "$p_null" null
run_wrk "HAProxy + parley-spoa" haproxy-config/haproxy.cfg "$p_agent" spoa
acks=$(curl -s "http://127.0.0.1:$p_stats/metrics" |
    awk '/^parley_spoa_ack_total/ { print $2 }')
echo "parley-spoa answered ${acks:-0} NOTIFYs during its run"
if [ "${rps_null:-0}" -gt 0 ]; then
	echo "parley-spoa / null agent: $((100 * rps_spoa / rps_null))% (goal 90%)"
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
	if [ "$ticks" -gt 0 ]; then
		# /proc counts in 1/100 s; the agent also ran the warm-up.
		echo "             $((acks * 100 / ticks)) ACKs per CPU-second" \
		    "of the agent (goal for parley-spoa: 150000)"
	fi
done
