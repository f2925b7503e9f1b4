#!/bin/sh
# Install what a Debian machine lacks for a stage: build, run, check or
# bench.  As root it runs apt-get; otherwise it says what to install.
set -e
stage=${1:-build}
pkgs="gcc make pkg-config libfcgi-dev libcurl4-openssl-dev libsqlite3-dev
      libsodium-dev libjson-c-dev"
case $stage in
run)	pkgs="$pkgs lighttpd curl" ;;
check)	pkgs="$pkgs lighttpd curl python3 faketime sqlite3 chromium
	      fonts-dejavu-core nginx-light apache2 nghttp2-proxy openssl"
	command -v npm >/dev/null || pkgs="$pkgs nodejs npm" ;;
bench)	pkgs="$pkgs lighttpd curl python3 wrk nghttp2-proxy openssl" ;;
esac
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# Debian may start the web servers it installs: tests bring their own.
	for s in lighttpd nginx apache2 nghttpx; do
		[ -x /etc/init.d/$s ] && /etc/init.d/$s stop >/dev/null 2>&1 || :
	done
else
	echo "deps: please install:$missing (apt-get install$missing)" >&2
	exit 1
fi
fi
# The browser tests drive Debian's chromium with playwright-core (npm).
if [ "$stage" = check ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
	echo "deps: npm ci in tests/browser"
	(cd tests/browser && npm ci --no-audit --no-fund --silent)
fi
