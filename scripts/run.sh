#!/usr/bin/env bash
# Installs what is needed, builds, and runs the main job: a NameServer (conf/namesrv.conf) and a
# BrokerContainer hosting two brokers (conf/broker-container.conf), in the foreground. Ctrl-C (or
# SIGTERM) stops both cleanly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
"$root/bin/mqnamesrv" -c "$root/conf/namesrv.conf" &
namesrv_pid=$!
stop() {
  [ -n "${container_pid:-}" ] && kill -TERM "$container_pid" 2>/dev/null && wait "$container_pid" 2>/dev/null || true
  kill -TERM "$namesrv_pid" 2>/dev/null && wait "$namesrv_pid" 2>/dev/null || true
}
trap stop EXIT INT TERM
"$root/bin/mqbrokercontainer" -c "$root/conf/broker-container.conf" &
container_pid=$!
wait "$container_pid"
