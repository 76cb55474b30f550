#!/usr/bin/env bash
# Starts a NameServer and a container with two brokers on free loopback ports under a temp dir,
# broker-a a plain master and broker-b a DLedger group of one member (its elected leader is its
# master), creates the topics with mqadmin, and runs the ali-ons round trip against both. Stops only
# what it started.
set -euo pipefail
build="${1:?usage: run_alions.sh <build dir>}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -d "$here/node_modules/ali-ons" ]; then
  echo "ali-ons is not installed: run (cd $here && npm ci)" >&2
  exit 1
fi
work="$(mktemp -d)"
pids=()
cleanup() {
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "--- namesrv log ---"; tail -20 "$work/namesrv.log" 2>/dev/null || true
    echo "--- container log ---"; tail -40 "$work/container.log" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Free ports: each broker needs listenPort, listenPort+1 (HA) and listenPort-2 (fast/VIP).
# Picked at random just below the kernel's ephemeral range, so that no outgoing connection (tests
# run in parallel) takes one between this probe and the bind.
read -r ns_port c_port a_port b_port raft_port < <(python3 - <<'PY'
import random, socket
try:
    low = int(open('/proc/sys/net/ipv4/ip_local_port_range').read().split()[0])
except Exception:
    low = 32768
top = max(4096, low) - 2
# Slice 6 of the 8 the C++ integration tests use (tests/integration/cluster.cc), so that programs
# ctest runs in parallel do not probe the same ports.
bottom = max(1026, top - 12000)
width = (top - bottom) // 8
lo, hi = bottom + 6 * width + 2, bottom + 7 * width - 2
taken = set()
def bindable(p):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', p)); return True
    except OSError:
        return False
    finally:
        s.close()
def free(broker):
    while True:
        p = random.randint(lo, hi)
        span = range(p - 2, p + 2) if broker else [p]
        if any(q in taken for q in span) or not all(bindable(q) for q in span):
            continue
        taken.update(span)
        return p
print(free(False), free(False), free(True), free(True), free(False))
PY
)
# Short delay levels, so that retries (level 3 + reconsumeTimes) and the delayed sends (level 7) take
# seconds. Level 3 differs from its neighbours so that the test can tell a retry used it; level 7 is
# the delayed sends' level. The test reads the same string (DELAY_LEVELS).
delay_levels="1s 1s 2s 1s 1s 1s 3s 1s"
cat > "$work/namesrv.conf" <<CONF
bindAddress=127.0.0.1
listenPort=$ns_port
kvConfigPath=$work/kvConfig.json
CONF
for b in a b; do
  port_var="${b}_port"
  cat > "$work/broker-$b.conf" <<CONF
brokerClusterName=AliCluster
brokerName=broker-$b
brokerId=0
brokerRole=ASYNC_MASTER
brokerIP1=127.0.0.1
listenPort=${!port_var}
storePathRootDir=$work/store-$b
mappedFileSizeCommitLog=67108864
messageDelayLevel=$delay_levels
CONF
done
cat >> "$work/broker-b.conf" <<CONF
enableDLegerCommitLog=true
dLegerPeers=n0-127.0.0.1:$raft_port
dLegerSelfId=n0
CONF
cat > "$work/container.conf" <<CONF
listenPort=$c_port
bindAddress=127.0.0.1
namesrvAddr=127.0.0.1:$ns_port
brokerConfigPaths=$work/broker-a.conf:$work/broker-b.conf
CONF
"$build/bin/mqnamesrv" -c "$work/namesrv.conf" > "$work/namesrv.log" 2>&1 &
pids+=($!)
"$build/bin/mqbrokercontainer" -c "$work/container.conf" > "$work/container.log" 2>&1 &
pids+=($!)
ns="127.0.0.1:$ns_port"
for i in $(seq 1 300); do
  # Both masters listed (broker-b registers as brokerId 0 once elected), so updateTopic reaches both.
  list="$("$build/bin/mqadmin" clusterList -n "$ns" --json 2>/dev/null || true)"
  if grep -q '"brokerId":0,"brokerName":"broker-a"' <<<"$list" && grep -q '"brokerId":0,"brokerName":"broker-b"' <<<"$list"; then
    break
  fi
  sleep 0.1
done
for t in AliRoundTrip AliRetry AliDelay; do
  "$build/bin/mqadmin" updateTopic -n "$ns" -c AliCluster -t "$t" -r 4 -w 4 > /dev/null
done
NODE_PATH="$here/node_modules" NAMESRV="$ns" TOPIC=AliRoundTrip RETRY_TOPIC=AliRetry DELAY_TOPIC=AliDelay \
  DELAY_LEVELS="$delay_levels" DELAY_LEVEL=7 node "$here/alions_roundtrip.js"
