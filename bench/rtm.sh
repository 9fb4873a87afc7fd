#!/usr/bin/env bash
# RTM benchmarks against a real parley-backend on loopback (docs/rtm.md):
#
#   fan-out      one publisher posts through RTM; every subscriber gets
#                each message event; deliveries/s and the delay from post
#                to receipt (commit included), p50/p99, at 100, 1,000 and
#                10,000 subscribers
#   idle memory  the backend's RSS growth per idle RTM connection
#   sends        durable RTM message sends/s (acked after their commit)
#
#   bench/rtm.sh          QUICK=1 for short runs
#
# The subscribers are connections of one member of the channel, opened
# with the ticket of one rtm.connect; results also go to
# bench/results/rtm.txt.
set -u
cd "$(dirname "$0")/.."
bin=${PARLEY_BIN:-build/bin}
ulimit -n 20000 2>/dev/null || true
secs=5
[ -n "${QUICK:-}" ] && secs=2
tmp=$(mktemp -d)
be_pid= load_pid=
cleanup() {
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	[ -n "$be_pid" ] && kill "$be_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p bench/results
out=bench/results/rtm.txt
: >"$out"
say() { echo "$*" | tee -a "$out"; }

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
printf 'k1 %s\n' "$(openssl rand -hex 32)" >"$tmp/keys"
chmod 600 "$tmp/keys"
ctl() { "$bin/parleyctl" -d "$tmp/data" -k "$tmp/keys" "$@"; }
ctl init >/dev/null || exit 1
team=$(ctl team create bench bench) || exit 1
ctl user create bench pub Publisher >/dev/null || exit 1
chan=$(ctl channel create bench general pub) || exit 1
token=$(ctl token bench pub) || exit 1

cat >"$tmp/parley.conf" <<EOF
[backend]
listen = 127.0.0.1:$port
data_dir = data
rate_tier1 = 0
rate_post = 0
rtm_ticket_ttl = 10m
rtm_out_cap = 4M
[tokens]
keys = keys
EOF

# Starts the backend and sets url to an rtm.connect URL for pub.
start_backend() {
	"$bin/parley-backend" -c "$tmp/parley.conf" >>"$tmp/backend.log" 2>&1 &
	be_pid=$!
	for _ in $(seq 100); do
		curl -s --max-time 1 "http://127.0.0.1:$port/healthz" \
		    >/dev/null && break
		sleep 0.1
	done
	url=$(curl -s --max-time 5 -H "Authorization: Bearer $token" \
	    -X POST "http://127.0.0.1:$port/api/rtm.connect" |
	    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(!r.ok){console.error(r.error);process.exit(1)}console.log(r.url)})') || {
		echo "rtm: rtm.connect failed"; cat "$tmp/backend.log"; exit 1; }
}
stop_backend() {
	kill "$be_pid"; wait "$be_pid" 2>/dev/null; be_pid=
}
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$be_pid/status"; }
pick() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -1; }
# A latency from parley-load's "p50=812us" or "p50=12.5ms", in ms.
ms() { sed -n "s/.* $1=\([0-9.]*\)\(us\|ms\).*/\1 \2/p" |
    awk '{ printf "%.2f", $2 == "us" ? $1 / 1000 : $1 }'; }

rc=0
say "rtm bench on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_backend
n=10000
[ -n "${QUICK:-}" ] && n=2000
before=$(rss)
: >"$tmp/idle.out"
"$bin/parley-load" rtm-idle -u "$url" -c "$n" -d 600 >"$tmp/idle.out" \
    2>"$tmp/idle.err" &
load_pid=$!
for _ in $(seq 600); do
	grep -qs '^ready:' "$tmp/idle.out" && break
	kill -0 "$load_pid" 2>/dev/null || break
	sleep 0.2
done
sleep 1
after=$(rss)
kill "$load_pid"; wait "$load_pid" 2>/dev/null; load_pid=
if grep -q "^ready: open=$n hello=$n" "$tmp/idle.out"; then
	say "rtm idle: $n connections, backend RSS $before -> $after KiB:" \
	    "$(( (after - before) * 1024 / n )) bytes per idle connection"
else
	say "rtm idle: not every connection got its hello"
	cat "$tmp/idle.out" "$tmp/idle.err"
	rc=1
fi

stop_backend
start_backend
say "rtm fan-out: one publisher, N subscribers, ${secs} s each;" \
    "latency from post to receipt, the durable commit included"
say "subscribers  msgs/s  deliveries/s  p50_ms  p99_ms"
for n in 100 1000 10000; do
	case $n in 100) r=1000 ;; 1000) r=400 ;; *) r=100 ;; esac
	"$bin/parley-load" rtm-fanout -u "$url&channel=$chan" -c "$n" \
	    -d "$secs" -r "$r" >"$tmp/fan.out" 2>"$tmp/fan.err"
	line=$(grep '^rtm-fanout: conns' "$tmp/fan.out")
	lat=$(grep '^latency' "$tmp/fan.out")
	hello=$(echo "$line" | pick hello)
	if [ "$hello" != "$n" ]; then
		say "$n: only $hello subscribers got in"
		cat "$tmp/fan.err"
		rc=1
		continue
	fi
	pub=$(grep '^rtm-fanout: published' "$tmp/fan.out" | pick published)
	rate=$(echo "$line" | sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p')
	say "$(printf '%11s  %6.0f  %12s  %6s  %6s' "$n" \
	    "$(echo "$pub $secs" | awk '{print $1 / $2}')" "$rate" \
	    "$(echo "$lat" | ms p50)" "$(echo "$lat" | ms p99)")"
done

sleep 1
"$bin/parley-load" rtm-send -u "$url&channel=$chan" -c 64 -d "$secs" \
    >"$tmp/send.out" 2>"$tmp/send.err"
line=$(grep '^rtm-send: conns' "$tmp/send.out")
lat=$(grep '^latency' "$tmp/send.out")
say "rtm durable sends: 64 connections, one message in flight each:" \
    "$(echo "$line" | sed -n 's/.* rate=\([0-9]*\/s\).*/\1/p') acked," \
    "errors $(echo "$line" | pick errors), ack p50 $(echo "$lat" | ms p50) ms," \
    "p99 $(echo "$lat" | ms p99) ms"
curl -s --max-time 5 "http://127.0.0.1:$port/metrics" |
    grep -E '^parley_store_(commits|writes)_total' | tee -a "$out"
exit $rc
