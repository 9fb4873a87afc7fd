#!/usr/bin/env bash
# parley-health under load: requests/s and p99 of the check under wrk,
# next to HAProxy's own monitor-uri in the same run (both on one thread),
# and a Route 53 checker's latency over HTTP and HTTPS with and without
# 200 slow-loris connections.  QUICK=1 runs shorter.
set -eu
cd "$(dirname "$0")/.."
make -s build/bin/parley-health
mkdir -p bench/results
out=bench/results/health.txt

dur=10s n=500
if [ -n "${QUICK:-}" ]; then dur=3s n=100; fi
hport=24801 mport=24802 tport=24803
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

bash tests/certs.sh "$dir/certs" >/dev/null
cat > "$dir/parley.conf" <<CONF
[health]
listen = 127.0.0.1:$hport
listen_tls = 127.0.0.1:$tport
tls_cert = certs/server.pem
tls_key = certs/server.key
store_path = $dir
idle_timeout = 60s
header_timeout = 5s
CONF
cat > "$dir/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
frontend monitor
  bind 127.0.0.1:$mport
  monitor-uri /health
CONF

build/bin/parley-health -c "$dir/parley.conf" 2>"$dir/health.log" &
pids+=($!)
/usr/sbin/haproxy -db -f "$dir/haproxy.cfg" 2>"$dir/haproxy.log" &
pids+=($!)
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$hport/health" &&
	    curl -sf -o /dev/null "http://127.0.0.1:$mport/health" && break
	sleep 0.1
done

# wrk: one thread, 50 keep-alive connections; prints "req/s p99".
run_wrk() {
	wrk -t1 -c50 -d"$dur" --latency "$1" | awk '
		/Requests\/sec/ { rps = $2 }
		/^ +99%/ { p99 = $2 }
		END { printf "%s %s\n", rps, p99 }'
}

{
	echo "health check under wrk (-t1 -c50 -d$dur, keep-alive), one server thread each"
	printf '%-34s %12s %10s\n' "server" "requests/s" "p99"
	read -r rps p99 < <(run_wrk "http://127.0.0.1:$hport/health")
	printf '%-34s %12s %10s\n' "parley-health GET /health" "$rps" "$p99"
	read -r rps p99 < <(run_wrk "http://127.0.0.1:$mport/health")
	printf '%-34s %12s %10s\n' "haproxy 2.6 monitor-uri" "$rps" "$p99"
	echo
	echo "Route 53 checker latency, new connection per check, $n checks"
	node bench/health-checker.mjs "$hport" "$tport" "$n" 200
} | tee "$out"
