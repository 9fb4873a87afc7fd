#!/usr/bin/env bash
# Durable posts through the Web API: chat.postMessage answered after the
# LMDB commit that holds the message, at 1, 16 and 64 clients with one
# post in flight each (parley-load post), next to the raw LMDB ceiling
# measured in the same run by store-bench at the same numbers of writers
# (the same records per message, committed by one thread at the batch
# size the store's writer formed).  Goal: 80% of the ceiling.
#
#   bench/posts.sh          (QUICK=1: shorter runs)
#
# Writes bench/results/posts.txt and posts.json (bench/results/quick/
# with QUICK=1: 1 and 16 clients).
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
secs=3 levels="1 16 64" resdir=bench/results
[ -n "${QUICK:-}" ] && secs=1 levels="1 16" resdir=bench/results/quick
bin=build/bin

d="$bench_tmp/backend"
mkdir -p "$d"
printf 'k1 %s\n' "$(openssl rand -hex 32)" >"$d/keys"
chmod 600 "$d/keys"
ctl() { "$bin/parleyctl" -d "$d/data" -k "$d/keys" "$@"; }
ctl init >/dev/null && ctl team create bench bench >/dev/null &&
    ctl user create bench poster Poster >/dev/null || exit 1
chan=$(ctl channel create bench general poster) || exit 1
token=$(ctl token bench poster) || exit 1
port=$(bench_free_port)
cat >"$d/parley.conf" <<EOF
[backend]
listen = 127.0.0.1:$port
data_dir = data
rate_post = 0
[tokens]
keys = keys
EOF
BENCH_PORT=$port bench_start backend "$bin/parley-backend" \
    -c "$d/parley.conf" || exit 1

metric() {
	curl -s --max-time 5 "http://127.0.0.1:$port/metrics" |
	    sed -n "s/^$1 \([0-9]*\).*/\1/p"
}

# The ceiling at each level, from store-bench in its own directory:
# rounds of one second, alternating the store and the ceiling.
mkdir -p "$bench_tmp/store"
"$bin/store-bench" "$bench_tmp/store" 1 "$secs" $levels \
    >"$bench_tmp/store.txt" || { echo "posts: store-bench failed"; exit 1; }

rows=() rc=0
{
	echo "Durable chat.postMessage through HTTP, one run; ceiling = raw" \
	    "LMDB commits at the same writers (store-bench)"
	printf '%-8s %10s %9s %9s %7s %11s %7s\n' clients posts/s p50_us \
	    p99_us batch ceiling/s ratio
} | tee "$bench_tmp/out"
for c in $levels; do
	c0=$(metric parley_store_commits_total)
	w0=$(metric parley_store_writes_total)
	out=$("$bin/parley-load" post -u "http://127.0.0.1:$port/" -c "$c" \
	    -w 1 -d "$secs" -t "$token" --channel "$chan" 2>"$bench_tmp/err")
	j=$(echo "$out" | sed -n 's/^json: //p')
	c1=$(metric parley_store_commits_total)
	w1=$(metric parley_store_writes_total)
	ceil=$(awk -v c="$c" '$1 == c { print $6 }' "$bench_tmp/store.txt")
	[ -n "$j" ] || { echo "posts: no result at $c"; cat "$bench_tmp/err"
		rc=1; continue; }
	line=$(echo "$j" | node bench/report.mjs posts-row "$c" \
	    "$((c1 - c0))" "$((w1 - w0))" "${ceil:-0}")
	rows+=("$line")
	echo "$line" | node bench/report.mjs posts-line |
	    tee -a "$bench_tmp/out"
done
mkdir -p "$resdir"
cp "$bench_tmp/out" "$resdir/posts.txt"
(IFS=,; printf '{"scenario":"posts","machine":%s,"rows":[%s]}\n' \
    "$(bench_machine)" "${rows[*]}") >"$resdir/posts.json"
exit $rc
