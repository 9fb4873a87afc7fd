#!/usr/bin/env bash
# Starts the Parley stack on loopback: the launcher behind `make run`.
#
#   tools/run-stack.sh [-p PORT_BASE] [-d RUN_DIR] [-b] [-q]
#   tools/run-stack.sh -d RUN_DIR -s          stop a stack started with -b
#
#   -p PORT_BASE  ports are PORT_BASE plus fixed offsets (default 8000,
#                 so HAProxy listens on 8080); see "Every port" below
#   -d RUN_DIR    certificates, configuration, data, logs and pids
#                 (default ./run); data is kept across runs
#   -b            start in the background and return once every daemon
#                 answers (tests use this); stop with -s
#   -q            print only the summary
#
# In the foreground it prints where everything listens and stops every
# daemon it started on Ctrl-C or SIGTERM.  A second launcher on the same
# run directory says so and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
bin=$top/build/bin

base=8000 run=$top/run background=0 stop=0 quiet=0
while getopts "p:d:bsqh" opt; do
	case "$opt" in
	p) base=$OPTARG ;;
	d) run=$OPTARG ;;
	b) background=1 ;;
	s) stop=1 ;;
	q) quiet=1 ;;
	*) sed -n '2,17p' "$0"; exit 2 ;;
	esac
done
mkdir -p "$run"
run=$(cd "$run" && pwd)

say() { [ "$quiet" = 1 ] || echo "parley: $*"; }

# Every port the stack uses, from the base.
p_http=$((base + 80))
p_backend=$((base + 101))
p_edge1=$((base + 201))
p_edge2=$((base + 202))
p_spoa=$((base + 301))
p_spoa_stats=$((base + 302))
p_health=$((base + 401))
p_health_tls=$((base + 402))
p_agentcheck=$((base + 403))

pidfile=$run/launcher.pid

stack_stop() {
	local f pid
	for f in "$run"/pids/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		local alive=0
		for f in "$run"/pids/*.pid; do
			[ -f "$f" ] || continue
			kill -0 "$(cat "$f")" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for f in "$run"/pids/*.pid; do
		[ -f "$f" ] || continue
		kill -KILL "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
	rm -f "$pidfile"
}

if [ "$stop" = 1 ]; then
	stack_stop
	exit 0
fi

# stack_running: true while the launcher or any daemon it started lives.
stack_running() {
	local f
	for f in "$pidfile" "$run"/pids/*.pid; do
		[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
	done
	return 1
}

if stack_running; then
	echo "parley: a stack is already running from $run; stop it first" \
	    "(Ctrl-C in its terminal, or tools/run-stack.sh -d $run -s)" >&2
	exit 1
fi
echo $$ > "$pidfile"
mkdir -p "$run/pids" "$run/logs" "$run/data"

# Certificates: a local CA, the TLS front, the stream between edges and
# shards (both sides present one) and the health daemon's HTTPS.
if [ ! -f "$run/certs/ca.pem" ]; then
	say "making a local CA and certificates in $run/certs"
	bash tests/certs.sh "$run/certs" >/dev/null
	cat "$run/certs/server.pem" "$run/certs/server.key" \
	    > "$run/certs/front.pem"
	chmod 600 "$run/certs/front.pem"
fi

# The store, with the demo team the first time.
data=$run/data/shard1
if [ ! -f "$data/data.mdb" ]; then
	say "creating $data with the demo team"
	"$bin/parleyctl" -d "$data" init >/dev/null
	"$bin/parleyctl" -d "$data" seed-demo >/dev/null
fi
keys=$data/tokens.key

cat > "$run/parley.conf" <<EOF
# Written by tools/run-stack.sh; edits are lost on the next run.
[tokens]
keys = $keys

[backend]
listen = 127.0.0.1:$p_backend
data_dir = $data
admin_socket = $run/backend1.sock
rtm_url = ws://127.0.0.1:$p_http/rtm
web_root = $top/web

[spoa]
listen = 127.0.0.1:$p_spoa
stats_listen = 127.0.0.1:$p_spoa_stats

[health]
listen = 127.0.0.1:$p_health
listen_tls = 127.0.0.1:$p_health_tls
tls_cert = $run/certs/server.pem
tls_key = $run/certs/server.key
agent_check_listen = 127.0.0.1:$p_agentcheck
shards = 127.0.0.1:$p_backend
agent = 127.0.0.1:$p_spoa
store_path = $data
drain_file = $run/drain
interval = 1s
haproxy_stats = $run/haproxy.sock
haproxy_backends = be_full
EOF

started=()

# start NAME COMMAND...: runs a daemon with its log in $run/logs.
start() {
	local name=$1
	shift
	"$@" >>"$run/logs/$name.log" 2>&1 &
	echo $! > "$run/pids/$name.pid"
	started+=("$name")
}

# wait_http NAME URL: waits up to 10 s for URL to answer.
wait_http() {
	local i
	for i in $(seq 100); do
		if curl -s -o /dev/null --max-time 1 "$2"; then
			return 0
		fi
		if ! kill -0 "$(cat "$run/pids/$1.pid")" 2>/dev/null; then
			echo "parley: $1 exited; its log:" >&2
			tail -20 "$run/logs/$1.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "parley: $1 does not answer at $2" >&2
	return 1
}

# Whatever ends the launcher before the stack is handed over (a daemon
# that does not start, a bad haproxy.cfg) stops what it started; so do
# Ctrl-C and SIGTERM in the foreground.
cleanup() {
	trap - INT TERM EXIT
	say "stopping"
	stack_stop
}
on_signal() {
	cleanup
	exit 0
}
trap on_signal INT TERM
trap cleanup EXIT

conf=$run/parley.conf
start backend1 "$bin/parley-backend" -c "$conf"
wait_http backend1 "http://127.0.0.1:$p_backend/healthz"
start spoa "$bin/parley-spoa" -c "$conf"
wait_http spoa "http://127.0.0.1:$p_spoa_stats/metrics"
if [ -x "$bin/parley-health" ]; then
	start health "$bin/parley-health" -c "$conf"
	wait_http health "http://127.0.0.1:$p_health/healthz"
fi

# HAProxy in front, from haproxy-config/ as an operator adopts it.
export PARLEY_HTTP_BIND=127.0.0.1:$p_http
export PARLEY_SPOE_CONF=$top/haproxy-config/parley-spoe.conf
export PARLEY_SPOA_ADDR=127.0.0.1:$p_spoa
export PARLEY_EDGE1_ADDR=127.0.0.1:$p_edge1
export PARLEY_EDGE2_ADDR=127.0.0.1:$p_edge2
export PARLEY_BACKEND_ADDR=127.0.0.1:$p_backend
export PARLEY_HAPROXY_SOCK=$run/haproxy.sock
if ! haproxy -c -q -f haproxy-config/haproxy.cfg >"$run/logs/haproxy.log" 2>&1
then
	echo "parley: haproxy-config/haproxy.cfg does not check:" >&2
	cat "$run/logs/haproxy.log" >&2
	exit 1
fi
start haproxy haproxy -db -f haproxy-config/haproxy.cfg
wait_http haproxy "http://127.0.0.1:$p_http/api/api.test"

cat <<EOF
parley: the stack is up (run directory $run)
  open             http://127.0.0.1:$p_http/  (HAProxy)
  Web API          http://127.0.0.1:$p_http/api/  (shard1 directly: http://127.0.0.1:$p_backend/api/)
  SPOE agent       127.0.0.1:$p_spoa (metrics http://127.0.0.1:$p_spoa_stats/metrics)
EOF
if [ -x "$bin/parley-health" ]; then
	cat <<EOF
  health           http://127.0.0.1:$p_health/health  https://127.0.0.1:$p_health_tls/health
  agent-check      127.0.0.1:$p_agentcheck
EOF
fi
if [ -f "$data/demo-credentials.txt" ]; then
	echo "  demo sign-ins (team parley-demo):"
	sed 's/^/    /' "$data/demo-credentials.txt"
fi
echo "  logs in $run/logs"

if [ "$background" = 1 ]; then
	trap - INT TERM EXIT
	exit 0
fi
echo "parley: press Ctrl-C to stop"
while :; do
	for name in "${started[@]}"; do
		if ! kill -0 "$(cat "$run/pids/$name.pid")" 2>/dev/null; then
			echo "parley: $name exited; its log ends:" >&2
			tail -5 "$run/logs/$name.log" >&2
			exit 1
		fi
	done
	sleep 1
done
