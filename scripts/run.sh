#!/usr/bin/env bash
# Installs what is needed, builds, and runs the main job: a NameServer on the default config in
# conf/, in the foreground (Ctrl-C stops it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
exec "$root/bin/mqnamesrv" -c "$root/conf/namesrv.conf"
