# Helpers the benchmark scripts source: free ports, servers started and
# stopped by their process ids, medians, the machine's description.

bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")
bench_pids=()

bench_cleanup() {
	local p
	for p in "${bench_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${bench_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$bench_tmp"
}
trap bench_cleanup EXIT

# A TCP port on 127.0.0.1 that the kernel says is free now.
bench_free_port() {
	node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',
	    ()=>{console.log(s.address().port);s.close()})"
}

# bench_start NAME CMD...: starts CMD in the background with its output
# in $bench_tmp/NAME.out, waits for "listening on HOST:PORT" (or for
# $BENCH_PORT to accept when the server prints nothing), and sets
# bench_port and bench_pid.
bench_start() {
	local name=$1 i
	shift
	"$@" >"$bench_tmp/$name.out" 2>"$bench_tmp/$name.err" &
	bench_pid=$!
	bench_pids+=("$bench_pid")
	bench_port=
	for i in $(seq 100); do
		if [ -n "${BENCH_PORT:-}" ]; then
			if (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_PORT") \
			    2>/dev/null; then
				bench_port=$BENCH_PORT
				break
			fi
		else
			bench_port=$(sed -n \
			    's/^listening on .*:\([0-9]*\)$/\1/p' \
			    "$bench_tmp/$name.out")
			[ -n "$bench_port" ] && break
		fi
		kill -0 "$bench_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$bench_port" ]; then
		echo "bench: $name did not start" >&2
		cat "$bench_tmp/$name.err" >&2
		return 1
	fi
}

# bench_stop PID: stops one server this script started.
bench_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# Median of the numbers on stdin.
bench_median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print 0; exit }
		if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# One JSON string describing the machine and the load it had.
bench_machine() {
	local cpu cores mem kernel load
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	cores=$(nproc)
	mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' \
	    /proc/meminfo)
	kernel=$(uname -r)
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	printf '{"cpu":"%s","cores":%s,"memory":"%s","kernel":"%s",' \
	    "$cpu" "$cores" "$mem" "$kernel"
	printf '"loadavg_at_start":"%s","date":"%s"}' "$load" \
	    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# Waits (up to $2 seconds, 60 by default) until the 1-minute load
# average is under $1, so a big run does not start while the machine is
# busy; goes on regardless after that, saying so.
bench_wait_quiet() {
	local i
	for i in $(seq $(( ${2:-60} / 2 ))); do
		awk -v lim="$1" '{ exit !($1 < lim) }' /proc/loadavg && return
		sleep 2
	done
	echo "bench: load average still $(cut -d' ' -f1 /proc/loadavg)," \
	    "measuring anyway" >&2
}

# bench_backend [CONF_LINES]: a parley-backend on a free port with a
# team, one member ("pub") and a channel it is in; CONF_LINES (with
# their newlines) go into its [backend] section.  Sets be_port, be_pid,
# be_chan, be_token and be_dir.
bench_backend() {
	be_dir="$bench_tmp/backend.$RANDOM"
	mkdir -p "$be_dir"
	printf 'k1 %s\n' "$(openssl rand -hex 32)" >"$be_dir/keys"
	chmod 600 "$be_dir/keys"
	local ctl="build/bin/parleyctl -d $be_dir/data -k $be_dir/keys"
	$ctl init >/dev/null && $ctl team create bench bench >/dev/null &&
	    $ctl user create bench pub Publisher >/dev/null || return 1
	be_chan=$($ctl channel create bench general pub) || return 1
	be_token=$($ctl token bench pub) || return 1
	be_port=$(bench_free_port)
	{
		echo "[backend]"
		echo "listen = 127.0.0.1:$be_port"
		echo "data_dir = data"
		printf '%s' "${1:-}"
		echo "[tokens]"
		echo "keys = keys"
	} >"$be_dir/parley.conf"
	BENCH_PORT=$be_port bench_start backend build/bin/parley-backend \
	    -c "$be_dir/parley.conf" || return 1
	be_pid=$bench_pid
}

# bench_rtm_url: an RTM URL from rtm.connect for be_token.
bench_rtm_url() {
	curl -s --max-time 5 -H "Authorization: Bearer $be_token" \
	    -X POST "http://127.0.0.1:$be_port/api/rtm.connect" |
	    sed -n 's/.*"url":"\([^"]*\)".*/\1/p' | sed 's|\\/|/|g'
}

# bench_rss_bytes PID: the resident set of a process.
bench_rss_bytes() {
	awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

# bench_edge_backend [CONF_LINES]: bench_backend with its stream
# listener on a free port (TLS with throwaway certificates from
# tests/certs.sh in $bench_tmp/certs), for bench_edge.  Sets be_stream
# besides bench_backend's variables.
bench_edge_backend() {
	local c="$bench_tmp/certs"
	[ -f "$c/ca.pem" ] || bash tests/certs.sh "$c" >/dev/null || return 1
	be_stream=$(bench_free_port)
	bench_backend "stream_listen = 127.0.0.1:$be_stream
stream_tls_cert = $c/server.pem
stream_tls_key = $c/server.key
stream_tls_ca = $c/ca.pem
${1:-}"
}

# bench_edge [CONF_LINES]: a parley-edge on a free port linked to the
# backend of bench_edge_backend (its one shard, s1), with CONF_LINES
# in its [edge] section; waits until the link is up.  Sets ed_port and
# ed_pid.
bench_edge() {
	local c="$bench_tmp/certs" d="$be_dir/edge" i
	mkdir -p "$d"
	ed_port=$(bench_free_port)
	{
		echo "[edge]"
		echo "listen = 127.0.0.1:$ed_port"
		echo "stream_tls_cert = $c/client.pem"
		echo "stream_tls_key = $c/client.key"
		echo "stream_tls_ca = $c/ca.pem"
		echo "stream_tls_server_name = localhost"
		printf '%s' "${1:-}"
		echo "[tokens]"
		echo "keys = $be_dir/keys"
		echo "[shard s1]"
		echo "http = 127.0.0.1:$be_port"
		echo "stream = 127.0.0.1:$be_stream"
	} >"$d/parley.conf"
	BENCH_PORT=$ed_port bench_start edge build/bin/parley-edge \
	    -c "$d/parley.conf" || return 1
	ed_pid=$bench_pid
	for i in $(seq 300); do
		curl -s --max-time 5 "http://127.0.0.1:$ed_port/healthz" |
		    grep -q '"s1":{"state":"up"' && return 0
		sleep 0.1
	done
	echo "bench: the edge's link did not come up" >&2
	cat "$bench_tmp/edge.err" >&2
	return 1
}

# bench_edge_rtm_url: an RTM URL of the edge from its rtm.connect for
# be_token.
bench_edge_rtm_url() {
	curl -s --max-time 10 -H "Authorization: Bearer $be_token" \
	    -X POST "http://127.0.0.1:$ed_port/api/rtm.connect" |
	    sed -n 's/.*"url":"\([^"]*\)".*/\1/p' | sed 's|\\/|/|g'
}
