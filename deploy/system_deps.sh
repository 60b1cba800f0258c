#!/usr/bin/env bash
# Debian packages the test suite and the benchmark use: chromium (monitor e2e test), PostgreSQL
# (server-database request store test), wrk (HTTP load), Java 17 (Spark: make score-file ENGINE=spark) and
# HAProxy (make deploy's reverse proxy and its tests).
# Installed when missing and we are root with apt; otherwise the missing ones are listed so the user can
# install them.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: missing Debian packages: ${missing[*]}" >&2
  echo "         install them with: sudo apt-get install ${missing[*]} (the tests that need them will fail)" >&2
fi
