#!/usr/bin/env bash
# Installs what Parley needs on Debian 12, saying what it installs.
#
#   mk/deps.sh [base|bench|web]...   (base is always included)
#
# PARLEY_NO_INSTALL=1 installs nothing: it prints the exact commands that
# would, and fails when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

base=(gcc make clang libclang-rt-14-dev pkg-config openssl
	libev-dev libwslay-dev libhttp-parser-dev libssl-dev
	liblmdb-dev lmdb-utils libmsgpack-dev libjansson-dev libinih-dev
	libcmocka-dev libutf8proc-dev haproxy curl iproute2 procps psmisc)
bench=(redis-server libhiredis-dev wrk gnuplot-nox linux-perf valgrind)
web=(chromium fonts-dejavu-core fonts-noto-color-emoji)

want=("${base[@]}")
for profile in "$@"; do
	case "$profile" in
	base) ;;
	bench) want+=("${bench[@]}") ;;
	web) want+=("${web[@]}") ;;
	*) echo "deps: unknown profile $profile" >&2; exit 2 ;;
	esac
done
command -v node >/dev/null 2>&1 || want+=(nodejs npm)

missing=()
for pkg in "${want[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$pkg")
done

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo "
if [ ${#missing[@]} -gt 0 ]; then
	cmd="${sudo}apt-get update && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
	if [ "${PARLEY_NO_INSTALL:-}" = 1 ]; then
		echo "deps: missing Debian packages: ${missing[*]}" >&2
		echo "deps: install them with:" >&2
		echo "  $cmd" >&2
		exit 1
	fi
	echo "deps: installing Debian packages: ${missing[*]}"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	# The Debian haproxy package starts a system instance where systemd
	# runs; Parley starts its own, so leave the system one alone.
fi

# npm packages for the integration tests and tools, from the lock file.
stamp=node_modules/.parley-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
	if [ "${PARLEY_NO_INSTALL:-}" = 1 ]; then
		echo "deps: npm packages are missing or stale; install them with:" >&2
		echo "  npm ci" >&2
		exit 1
	fi
	echo "deps: installing npm packages from package-lock.json (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json "$stamp"
fi
