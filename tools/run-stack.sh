#!/usr/bin/env bash
# Starts the Parley stack on loopback: the launcher behind `make run`.
#
#   tools/run-stack.sh [-p PORT_BASE] [-d RUN_DIR] [-n SHARDS] [-b] [-q]
#   tools/run-stack.sh -d RUN_DIR -s          stop a stack started with -b
#
#   -p PORT_BASE  ports are PORT_BASE plus fixed offsets (default 8000,
#                 so HAProxy listens on 8080 and 8443); see the README
#   -d RUN_DIR    certificates, configuration, data, logs and pids
#                 (default ./run); certificates and data are kept
#                 across runs
#   -n SHARDS     1 (default) or 2 backend shards; with 2, the demo team
#                 is on s1 and a second demo team (parley-demo-2) on s2
#   -b            start in the background and return once every daemon
#                 answers (tests use this); stop with -s
#   -q            print only the summary
#
# In the foreground it prints where everything listens and stops every
# daemon it started on Ctrl-C, SIGTERM or SIGHUP.  A second launcher on
# the same run directory, or on ports already taken, says so and exits 1
# without touching the running one.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
bin=$top/build/bin

base=8000 run=$top/run background=0 stop=0 quiet=0 nshards=1
while getopts "p:d:n:bsqh" opt; do
	case "$opt" in
	p) base=$OPTARG ;;
	d) run=$OPTARG ;;
	n) nshards=$OPTARG ;;
	b) background=1 ;;
	s) stop=1 ;;
	q) quiet=1 ;;
	*) sed -n '2,21p' "$0"; exit 2 ;;
	esac
done
case "$nshards" in
1|2) ;;
*) echo "parley: -n takes 1 or 2 shards, not '$nshards'" >&2; exit 2 ;;
esac
case "$base" in
''|*[!0-9]*) echo "parley: -p wants a number, not '$base'" >&2; exit 2 ;;
esac
if [ "$base" -lt 1024 ] || [ "$base" -gt 65000 ]; then
	echo "parley: -p $base: the port base must be 1024-65000" >&2
	exit 2
fi
mkdir -p "$run"
run=$(cd "$run" && pwd)

say() { [ "$quiet" = 1 ] || echo "parley: $*"; }

# Every port the stack uses, from the base (the README lists them).
p_http=$((base + 80))
p_stats=$((base + 90))
p_https=$((base + 443))
p_spoa=$((base + 301))
p_spoa_stats=$((base + 302))
p_health=$((base + 401))
p_health_tls=$((base + 402))
p_agentcheck=$((base + 403))
# The shards, by name: shard N has its HTTP port at base+101+10(N-1)
# and its edge stream at the next port (docs/operations.md).
shards=(s1)
[ "$nshards" = 2 ] && shards=(s1 s2)
# The edges: edge N listens at base+200+N.
edges=(edge1 edge2)
shard_http() { echo $((base + 101 + 10 * (${1#s} - 1))); }
shard_stream() { echo $((base + 102 + 10 * (${1#s} - 1))); }
edge_port() { echo $((base + 200 + ${1#edge})); }

pidfile=$run/pids/launcher.pid

# ours PIDFILE: true when the pid in PIDFILE is alive and is the program
# its name says, so that a pid reused by another process after a reboot
# is neither reported as a running stack nor killed.
ours() {
	local f=$1 pid name prog cmd
	[ -f "$f" ] || return 1
	pid=$(cat "$f" 2>/dev/null) || return 1
	case "$pid" in ''|*[!0-9]*) return 1 ;; esac
	name=$(basename "$f" .pid)
	case "$name" in
	launcher) prog=run-stack.sh ;;
	haproxy) prog=haproxy ;;
	shard-*) prog=parley-backend ;;
	edge*) prog=parley-edge ;;
	spoa) prog=parley-spoa ;;
	health) prog=parley-health ;;
	*) return 1 ;;
	esac
	# A process that just exited has no cmdline: quietly not ours.
	cmd=$( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null) ||
	    return 1
	[[ $cmd == *"$prog"* ]]
}

# stack_stop: SIGTERM to every daemon this run directory started, up to
# 10 s for them to finish what is in flight, then SIGKILL.
stack_stop() {
	local f alive
	for f in "$run"/pids/*.pid; do
		[ "$(basename "$f")" = launcher.pid ] && continue
		ours "$f" && kill -TERM "$(cat "$f")" 2>/dev/null || true
	done
	for _ in $(seq 100); do
		alive=0
		for f in "$run"/pids/*.pid; do
			[ "$(basename "$f")" = launcher.pid ] && continue
			ours "$f" && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for f in "$run"/pids/*.pid; do
		[ "$(basename "$f")" = launcher.pid ] && continue
		if ours "$f"; then
			echo "parley: $(basename "$f" .pid) did not stop;" \
			    "killing it" >&2
			kill -KILL "$(cat "$f")" 2>/dev/null || true
		fi
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
	for f in "$run"/pids/*.pid; do
		ours "$f" && return 0
	done
	return 1
}

mkdir -p "$run/pids" "$run/logs" "$run/data"
# Two launchers started at the same moment on one directory: the second
# waits for nothing and says so.  Daemons do not inherit the lock.
exec 9>"$run/pids/.lock"
if ! flock -n 9; then
	echo "parley: another launcher is starting a stack in $run" >&2
	exit 1
fi
if stack_running; then
	echo "parley: a stack is already running from $run; stop it first" \
	    "(Ctrl-C in its terminal, or tools/run-stack.sh -d $run -s)" >&2
	exit 1
fi

# Every port must be free: a stack from another run directory, or any
# other program, on one of them is named instead of failing obscurely.
port_busy() {
	if command -v ss >/dev/null; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}
busy=()
check_port() { # PORT WHAT
	if port_busy "$1"; then
		busy+=("$1 ($2)")
	fi
}
check_port "$p_http" "HAProxy HTTP"
check_port "$p_https" "HAProxy HTTPS"
check_port "$p_stats" "HAProxy stats"
for s in "${shards[@]}"; do
	check_port "$(shard_http "$s")" "shard $s"
	check_port "$(shard_stream "$s")" "shard $s edge stream"
done
if [ -x "$bin/parley-edge" ]; then
	for e in "${edges[@]}"; do
		check_port "$(edge_port "$e")" "$e"
	done
fi
check_port "$p_spoa" "parley-spoa"
check_port "$p_spoa_stats" "parley-spoa metrics"
check_port "$p_health" "parley-health HTTP"
check_port "$p_health_tls" "parley-health HTTPS"
check_port "$p_agentcheck" "parley-health agent-check"
if [ ${#busy[@]} -gt 0 ]; then
	echo "parley: ports already in use on this machine:" >&2
	printf '  %s\n' "${busy[@]}" >&2
	echo "parley: another stack (make run from another directory?) or" \
	    "program holds them; stop it, or move every port with" \
	    "PORT_BASE=9000 (tools/run-stack.sh -p 9000)" >&2
	exit 1
fi
echo $$ > "$pidfile"

# Certificates, made once per run directory with a local CA (kept, so a
# browser told to trust certs/ca.pem once keeps trusting it):
#   front.pem            HAProxy's HTTPS front (chain and key in one file)
#   shard-NAME.pem/.key  each shard's edge-stream server certificate
#   edge-NAME.pem/.key   each edge's client certificate for the stream
#   health.pem/.key      parley-health's HTTPS
# Leaves are renewed when they expire within a week.
certs=$run/certs
cert_ok() { # FILE
	[ -f "$1" ] && openssl x509 -in "$1" -noout -checkend 604800 \
	    >/dev/null 2>&1
}
cert_make() { # NAME SUBJECT EXTENSIONS
	(
		umask 077
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout "$certs/$1.key" -out "$certs/$1.csr" \
		    -subj "$2" 2>/dev/null
		printf '%s\n' "$3" > "$certs/$1.ext"
		openssl x509 -req -in "$certs/$1.csr" -CA "$certs/ca.pem" \
		    -CAkey "$certs/ca.key" -CAcreateserial -days 397 \
		    -out "$certs/$1.pem" -extfile "$certs/$1.ext" 2>/dev/null
		rm -f "$certs/$1.csr" "$certs/$1.ext"
		chmod 644 "$certs/$1.pem"
	)
}
srv_ext() { # SAN
	printf '%s\n' 'basicConstraints=CA:FALSE' \
	    'keyUsage=critical,digitalSignature' \
	    'extendedKeyUsage=serverAuth' "subjectAltName=$1"
}
cli_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
local_san='DNS:localhost,IP:127.0.0.1,IP:::1'
mkdir -p "$certs"
if ! cert_ok "$certs/ca.pem"; then
	say "making a local CA in $certs"
	rm -f "$certs"/*.pem "$certs"/*.key "$certs"/*.srl
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout "$certs/ca.key" -out "$certs/ca.pem" \
		    -days 3650 -subj "/CN=Parley local CA $(hostname)" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		chmod 644 "$certs/ca.pem"
	)
fi
made=0
if ! cert_ok "$certs/front.pem"; then
	cert_make front-leaf "/CN=localhost" "$(srv_ext "$local_san")"
	cat "$certs/front-leaf.pem" "$certs/front-leaf.key" \
	    > "$certs/front.pem.new"
	chmod 600 "$certs/front.pem.new"
	mv "$certs/front.pem.new" "$certs/front.pem"
	rm -f "$certs/front-leaf.pem" "$certs/front-leaf.key"
	made=1
fi
if ! cert_ok "$certs/health.pem"; then
	cert_make health "/CN=localhost" "$(srv_ext "$local_san")"
	made=1
fi
# Edges check every shard's certificate for the name "parley-shard"
# ([edge] stream_tls_server_name); each also names its own shard.
for s in "${shards[@]}"; do
	if ! cert_ok "$certs/shard-$s.pem"; then
		cert_make "shard-$s" "/CN=parley-shard-$s" "$(srv_ext \
		    "DNS:parley-shard,DNS:$s.shard.parley,IP:127.0.0.1")"
		made=1
	fi
done
for e in "${edges[@]}"; do
	if ! cert_ok "$certs/edge-$e.pem"; then
		cert_make "edge-$e" "/CN=parley-$e" "$cli_ext"
		made=1
	fi
done
[ "$made" = 1 ] && say "certificates in $certs (CA: $certs/ca.pem)"

# The stores, with the demo team on the first shard the first time.
# Every daemon checks tokens with the first shard's key file, which the
# other shards are made with too.
keys=$run/data/shard1/tokens.key
for s in "${shards[@]}"; do
	data=$run/data/shard${s#s}
	[ -f "$data/data.mdb" ] && continue
	if [ "$s" = s1 ]; then
		say "creating $data with the demo team"
		"$bin/parleyctl" -d "$data" init >/dev/null
		"$bin/parleyctl" -d "$data" seed-demo >/dev/null
	else
		say "creating $data for shard $s"
		"$bin/parleyctl" -d "$data" -k "$keys" init >/dev/null
	fi
done
creds=$run/data/shard1/demo-credentials.txt
creds2=$run/data/shard2/demo-credentials.txt

# With several shards the team map places the teams (docs/operations.md)
# and parleyctl keeps HAProxy's map beside it; HAProxy reads an empty
# one with a single shard.
[ -f "$run/shards.map" ] || : > "$run/shards.map"
if [ "$nshards" -gt 1 ] && [ ! -f "$run/teams.map" ]; then
	printf '# TEAM_ID SHARD DOMAIN\n' > "$run/teams.map"
fi

have_edge=0
[ -x "$bin/parley-edge" ] && have_edge=1
have_health=0
[ -x "$bin/parley-health" ] && have_health=1

shard_sections() {
	local s
	for s in "${shards[@]}"; do
		printf '[shard %s]\nhttp = 127.0.0.1:%s\nstream = 127.0.0.1:%s\n' \
		    "$s" "$(shard_http "$s")" "$(shard_stream "$s")"
		printf 'admin = %s\n\n' "$run/backend-$s.sock"
	done
	if [ "$nshards" -gt 1 ]; then
		printf '[shards]\nmap = %s\nhaproxy_map = %s\n\n' \
		    "$run/teams.map" "$run/shards.map"
	fi
}

# backend_section NAME: a shard's [backend] section.
backend_section() {
	cat <<EOF
[backend]
listen = 127.0.0.1:$(shard_http "$1")
data_dir = $run/data/shard${1#s}
admin_socket = $run/backend-$1.sock
# A path: each client gets ws:// or wss:// on the front it used.
rtm_url = /rtm
# HAProxy's X-Forwarded-For names the client for sign-in throttles.
trusted_proxies = 127.0.0.1
web_root = $top/web
stream_listen = 127.0.0.1:$(shard_stream "$1")
stream_tls_cert = $certs/shard-$1.pem
stream_tls_key = $certs/shard-$1.key
stream_tls_ca = $certs/ca.pem
shard = $1
EOF
}
health_list() { # shards|edges
	local out="" x
	if [ "$1" = shards ]; then
		for x in "${shards[@]}"; do
			out="$out $x=127.0.0.1:$(shard_http "$x")"
		done
	elif [ "$have_edge" = 1 ]; then
		for x in "${edges[@]}"; do
			out="$out $x=127.0.0.1:$(edge_port "$x")"
		done
	fi
	echo "${out# }"
}

# parley.conf: the first shard's backend, the agent and the health
# daemon.  Written on every start from the ports of this run.
cat > "$run/parley.conf" <<EOF
# Written by tools/run-stack.sh; edits are lost on the next run.
[tokens]
keys = $keys

$(backend_section s1)

$(shard_sections)

[spoa]
listen = 127.0.0.1:$p_spoa
stats_listen = 127.0.0.1:$p_spoa_stats

[health]
listen = 127.0.0.1:$p_health
listen_tls = 127.0.0.1:$p_health_tls
tls_cert = $certs/health.pem
tls_key = $certs/health.key
agent_check_listen = 127.0.0.1:$p_agentcheck
shards = $(health_list shards)
EOF
if [ "$have_edge" = 1 ]; then
	echo "edges = $(health_list edges)" >> "$run/parley.conf"
fi
cat >> "$run/parley.conf" <<EOF
agent = 127.0.0.1:$p_spoa
store_path = $run/data
drain_file = $run/drain
interval = 1s
haproxy_stats = $run/haproxy.sock
EOF

# One file per further shard (shard-s2.conf): its own [backend].
for s in "${shards[@]:1}"; do
	cat > "$run/shard-$s.conf" <<EOF
# Written by tools/run-stack.sh; edits are lost on the next run.
[tokens]
keys = $keys

$(backend_section "$s")

$(shard_sections)
EOF
done

# One file per edge: its own [edge] listener, the shared keys and shards.
for e in "${edges[@]}"; do
	cat > "$run/$e.conf" <<EOF
# Written by tools/run-stack.sh; edits are lost on the next run.
[tokens]
keys = $keys

[edge]
listen = 127.0.0.1:$(edge_port "$e")
# A path: each client gets ws:// or wss:// on the front it used.
rtm_url = /rtm
web_root = $top/web
stream_tls_cert = $certs/edge-$e.pem
stream_tls_key = $certs/edge-$e.key
stream_tls_ca = $certs/ca.pem
stream_tls_server_name = parley-shard
trusted_proxies = 127.0.0.1

$(shard_sections)
EOF
done

started=()

# start NAME COMMAND...: runs a daemon with its log in $run/logs.
start() {
	local name=$1
	shift
	"$@" >>"$run/logs/$name.log" 2>&1 9>&- &
	echo $! > "$run/pids/$name.pid"
	started+=("$name")
}

# wait_http NAME URL [CURL OPTIONS]: waits up to 30 s for URL to answer.
wait_http() {
	local name=$1 url=$2 i
	shift 2
	for i in $(seq 300); do
		if curl -s -o /dev/null --max-time 1 "$@" "$url"; then
			return 0
		fi
		if ! kill -0 "$(cat "$run/pids/$name.pid")" 2>/dev/null; then
			echo "parley: $name exited; its log ends:" >&2
			tail -20 "$run/logs/$name.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "parley: $name does not answer at $url" >&2
	return 1
}

# Whatever ends the launcher before the stack is handed over (a daemon
# that does not start, a bad haproxy.cfg) stops what it started; so do
# Ctrl-C, SIGTERM and SIGHUP in the foreground.
cleanup() {
	trap - INT TERM HUP EXIT
	say "stopping"
	stack_stop
}
on_signal() {
	cleanup
	exit 0
}
trap on_signal INT TERM HUP
trap cleanup EXIT

# seed_demo2: the second demo team, made on s2 and listed in the team
# map: two users with passwords and a channel; sign-ins in $creds2.
seed_demo2() {
	local c2=$run/shard-s2.conf pw1 pw2
	pw1=$(openssl rand -hex 8)
	pw2=$(openssl rand -hex 8)
	"$bin/parleyctl" -c "$conf" team create "Parley Demo 2" \
	    parley-demo-2 s2 >/dev/null 2>&1
	"$bin/parleyctl" -c "$c2" user create parley-demo-2 carol \
	    "Carol Two" "$pw1" >/dev/null
	"$bin/parleyctl" -c "$c2" user create parley-demo-2 dave \
	    "Dave Two" "$pw2" >/dev/null
	"$bin/parleyctl" -c "$c2" channel create parley-demo-2 general \
	    carol >/dev/null
	(
		umask 077
		printf '# team parley-demo-2 on shard s2: user password\n'
		printf 'carol %s\ndave %s\n' "$pw1" "$pw2"
	) > "$creds2"
}

conf=$run/parley.conf
start shard-s1 "$bin/parley-backend" -c "$conf"
wait_http shard-s1 "http://127.0.0.1:$(shard_http s1)/healthz"
for s in "${shards[@]:1}"; do
	start "shard-$s" "$bin/parley-backend" -c "$run/shard-$s.conf"
	wait_http "shard-$s" "http://127.0.0.1:$(shard_http "$s")/healthz"
done
if [ "$nshards" = 2 ]; then
	# The demo team is on s1; the second one is made on s2 once.
	"$bin/parleyctl" -c "$conf" team place parley-demo s1 >/dev/null
	if ! grep -q ' parley-demo-2$' "$run/teams.map"; then
		say "creating the second demo team on s2"
		seed_demo2
	fi
fi
start spoa "$bin/parley-spoa" -c "$conf"
wait_http spoa "http://127.0.0.1:$p_spoa_stats/metrics"
if [ "$have_edge" = 1 ]; then
	for e in "${edges[@]}"; do
		start "$e" "$bin/parley-edge" -c "$run/$e.conf"
		wait_http "$e" "http://127.0.0.1:$(edge_port "$e")/healthz"
	done
else
	say "no edges: build/bin/parley-edge is not built yet," \
	    "so HAProxy sends every request to the shard"
fi
# HAProxy in front, from haproxy-config/ as an operator adopts it.
export PARLEY_HTTP_BIND=127.0.0.1:$p_http
export PARLEY_HTTPS_BIND=127.0.0.1:$p_https
export PARLEY_TLS_CERT=$certs/front.pem
export PARLEY_STATS_BIND=127.0.0.1:$p_stats
export PARLEY_SPOE_CONF=$top/haproxy-config/parley-spoe.conf
export PARLEY_SPOA_ADDR=127.0.0.1:$p_spoa
export PARLEY_BACKEND_ADDR=127.0.0.1:$(shard_http s1)
export PARLEY_SHARD1_ADDR=127.0.0.1:$(shard_http s1)
export PARLEY_SHARD_MAP=$run/shards.map
unset PARLEY_SHARD2_ADDR
[ "$nshards" = 2 ] && export PARLEY_SHARD2_ADDR=127.0.0.1:$(shard_http s2)
export PARLEY_HAPROXY_SOCK=$run/haproxy.sock
unset PARLEY_EDGE1_ADDR PARLEY_EDGE2_ADDR PARLEY_HEALTH_AGENT_PORT
if [ "$have_edge" = 1 ]; then
	export PARLEY_EDGE1_ADDR=127.0.0.1:$(edge_port edge1)
	export PARLEY_EDGE2_ADDR=127.0.0.1:$(edge_port edge2)
fi
if [ "$have_health" = 1 ]; then
	export PARLEY_HEALTH_AGENT_ADDR=127.0.0.1
	export PARLEY_HEALTH_AGENT_PORT=$p_agentcheck
fi
if ! haproxy -c -q -f haproxy-config/haproxy.cfg >"$run/logs/haproxy.log" 2>&1
then
	echo "parley: haproxy-config/haproxy.cfg does not check:" >&2
	cat "$run/logs/haproxy.log" >&2
	exit 1
fi
start haproxy haproxy -db -f haproxy-config/haproxy.cfg
wait_http haproxy "http://127.0.0.1:$p_http/api/api.test"
wait_http haproxy "https://127.0.0.1:$p_https/api/api.test" \
    --cacert "$certs/ca.pem"
# parley-health after HAProxy: its first look at the stats socket must
# find it, or it would call the site critical and its agent checks would
# take every server down until the next probes.
if [ "$have_health" = 1 ]; then
	start health "$bin/parley-health" -c "$conf"
	wait_http health "http://127.0.0.1:$p_health/healthz"
fi

cat <<EOF
parley: the stack is up (run directory $run)
  open             http://127.0.0.1:$p_http/
                   https://127.0.0.1:$p_https/  (trust $certs/ca.pem)
  Web API          http://127.0.0.1:$p_http/api/  https://127.0.0.1:$p_https/api/
  HAProxy stats    http://127.0.0.1:$p_stats/stats  (metrics: /metrics)
EOF
for s in "${shards[@]}"; do
	printf '  shard %-10s http://127.0.0.1:%s/  (/healthz, /metrics;' \
	    "$s" "$(shard_http "$s")"
	printf ' edge stream 127.0.0.1:%s)\n' "$(shard_stream "$s")"
done
if [ "$have_edge" = 1 ]; then
	for e in "${edges[@]}"; do
		printf '  %-16s http://127.0.0.1:%s/healthz\n' "$e" \
		    "$(edge_port "$e")"
	done
fi
echo "  SPOE agent       127.0.0.1:$p_spoa (metrics" \
    "http://127.0.0.1:$p_spoa_stats/metrics)"
if [ "$have_health" = 1 ]; then
	cat <<EOF
  health           http://127.0.0.1:$p_health/health  https://127.0.0.1:$p_health_tls/health
                   http://127.0.0.1:$p_health/health.json  (agent-check 127.0.0.1:$p_agentcheck)
EOF
fi
if [ -f "$creds" ]; then
	echo "  demo sign-ins (team parley-demo, email password):"
	grep -v '^#' "$creds" | sed 's/^/    /'
fi
if [ "$nshards" = 2 ] && [ -f "$creds2" ]; then
	if [ "$have_edge" = 1 ]; then
		echo "  demo sign-ins (team parley-demo-2 on s2, user password):"
	else
		echo "  demo sign-ins (team parley-demo-2 on s2, user password;" \
		    "sign in at s2):"
	fi
	grep -v '^#' "$creds2" | sed 's/^/    /'
	echo "  team map         $run/teams.map"
fi
echo "  admin            build/bin/parleyctl -c $run/parley.conf COMMAND" \
    "(docs/parleyctl.md)"
echo "  logs in $run/logs"

if [ "$background" = 1 ]; then
	rm -f "$pidfile"
	trap - INT TERM HUP EXIT
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
