#!/usr/bin/env bash
# Start (or reuse) a local Docker engine on this machine.
#
# Idempotent: if `docker info` already works, nothing is done. Otherwise the
# Debian packages docker.io and debootstrap are installed when missing, dockerd
# is started in the background with the flags that work in this sandbox
# (overlay2 storage, no iptables, no default bridge: containers and builds use
# --network host), and the script waits until the daemon answers.
#
# Usage: deploy/container/engine.sh [STATE_DIR]
#   STATE_DIR  where dockerd.log and dockerd.pid go (default: $DOCKERD_STATE_DIR
#              or /tmp/dockerd)
# Env:   DOCKERD_TIMEOUT  seconds to wait for the daemon (default 60)
# Exit:  0 when `docker info` works, non-zero otherwise (never skips silently).
set -euo pipefail

STATE_DIR="${1:-${DOCKERD_STATE_DIR:-/tmp/dockerd}}"
TIMEOUT="${DOCKERD_TIMEOUT:-60}"
LOG_FILE="$STATE_DIR/dockerd.log"
PID_FILE="$STATE_DIR/dockerd.pid"

log() { printf '[engine] %s\n' "$*"; }
die() { printf '[engine] ERROR: %s\n' "$*" >&2; exit 1; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    log "docker engine already running ($(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null || echo '?'))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    die "docker engine not reachable and starting it needs root (run with sudo)"
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing with apt: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have empty package lists: update once if the
    # candidate is unknown.
    policy="$(apt-cache policy "${missing[0]}" 2>/dev/null || true)"
    if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
        log "apt-get update"
        apt-get update -q
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"

mkdir -p "$STATE_DIR"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    log "dockerd already started (pid $(cat "$PID_FILE")), waiting for it to answer"
else
    # A stale pid file left by the daemon itself would make it refuse to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        log "removing stale /var/run/docker.pid"
        rm -f /var/run/docker.pid
    fi
    log "starting dockerd (log: $LOG_FILE, pid file: $PID_FILE)"
    # setsid: own session, so the daemon outlives the caller's shell/job.
    setsid nohup dockerd --storage-driver=overlay2 --iptables=false --bridge=none \
        >>"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    log "dockerd pid $(cat "$PID_FILE")"
fi

deadline=$((SECONDS + TIMEOUT))
until docker info >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        tail -n 20 "$LOG_FILE" >&2 || true
        die "dockerd exited before answering; see $LOG_FILE"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        tail -n 20 "$LOG_FILE" >&2 || true
        die "dockerd did not answer 'docker info' within ${TIMEOUT}s; see $LOG_FILE"
    fi
    sleep 1
done
log "docker engine ready ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
