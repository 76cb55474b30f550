#!/usr/bin/env bash
# The long fault scenario (issue 14): three hosts (network namespaces) each running a NameServer and
# a container with one member of each of three DLedger groups, a fault every 30 s chosen from a seed,
# then heal, drain and check the history. Needs root. Prints the report; the history, the report as
# JSON and every process's log stay under the printed directory.
#   bash scripts/fault.sh [minutes=30] [layout=dledger3|masterslave2] [seed] [extra mqfault flags...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
minutes="${1:-30}"; layout="${2:-dledger3}"; seed="${3:-$(date +%s)}"
shift $(( $# < 3 ? $# : 3 ))
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh" >/dev/null
dir="$(mktemp -d /tmp/mqfault-soak-XXXXXX)"
echo "dir: $dir"
# Paced (20 ms between a producer's sends, ~600 msg/s over 12 producers) so that a 30-minute history
# stays a few GiB to judge; later flags override these.
exec "$root/build/bin/mqfault" --layout "$layout" --duration "$((minutes * 60))" --fault-interval 30 \
  --send-interval-ms 20 --seed "$seed" --dir "$dir" --keep --report-json "$dir/report.json" "$@"
