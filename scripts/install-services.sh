#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 and Redis 7 for the production campaign (tests/production), if missing.
# Called by scripts/test.sh before pytest; idempotent and quiet when both are present. The tests start
# their own postgres and redis-server in a temp dir on free loopback ports: nothing here starts a service.
set -euo pipefail
PG_BIN=/usr/lib/postgresql/15/bin
have() { [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/postgres" ] \
  && command -v pg_dump >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; }
if have; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-services: need root or sudo to apt-get install postgresql redis-server" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# The packages' maintainer scripts would start the system-wide services; we start our own per test.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  ADDED_POLICY=1
fi
cleanup() { if [ -n "$ADDED_POLICY" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null
have || { echo "install-services: postgresql 15 or redis-server did not install" >&2; exit 1; }
