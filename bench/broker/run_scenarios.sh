#!/usr/bin/env bash
# Runs the standard benchmark scenario set and writes a Markdown table of the results, with the
# machine's loopback bandwidth and fsync rate measured in the same run.
#
#   bench/broker/run_scenarios.sh [--bin DIR] [--out FILE] [--duration S] [--threads N]
#                                 [--sizes "128 1024 16384"] [--flush "ASYNC_FLUSH SYNC_FLUSH"]
#                                 [--brokers "1 4"] [--roles "single ASYNC_MASTER SYNC_MASTER"]
#                                 [--null-broker] [--namesrv ADDR] [--producer-args ARGS]
#
# By default it starts everything itself from --bin (default: <repo>/build/bin): one mqnamesrv and,
# for each (brokers, flushDiskType), a fresh mqbrokercontainer hosting that many master brokers,
# with configs and stores in a temporary directory that is removed at the end. Per message size it
# runs `mqbench producer` (synchronous senders, like RocketMQ's benchmark: -w threads sharing one
# producer, one message in flight each) on its own topic created with 8 queues per broker, then
# `mqbench consumer` from the first offset to measure how fast one consumer drains that backlog.
# --producer-args "ARGS" adds ARGS to every producer run (e.g. "--producer-per-thread": one
#   producer and connection per thread; "--window 32 -w 2": asynchronous windows).
#
# --namesrv ADDR uses an already running NameServer and broker(s) instead (one row per size,
#   brokers/flush as configured there; nothing is started or stopped).
# --roles: "single" = masters alone; ASYNC_MASTER / SYNC_MASTER = each master with a slave (brokerId 1,
#   SLAVE, same flush type) in the same container, replicating over the HA port; DLEDGER = one
#   three-member DLedger group, one member per container (three processes, as three machines would
#   run it), the producer sending to the elected leader; replicated scenarios run with one broker
#   group only.
# --null-broker replaces the container with `mqbench nullbroker` processes (in-memory, no disk):
#   the ceiling set by the client and the machine, and a check of this script without a broker.
#
# Every step is bounded by `timeout`; ports: NameServer 19876, container 19811, brokers 20911+20*i.
set -u
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$repo/build/bin"
out=""
duration=10
threads=32
sizes="128 1024 16384"
flushes="ASYNC_FLUSH SYNC_FLUSH"
broker_counts="1 4"
roles="single ASYNC_MASTER SYNC_MASTER"
null_broker=0
external_ns=""
producer_args=""
ns_port=19876
container_port=19811
broker_port0=20911

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --flush) flushes="$2"; shift 2 ;;
    --brokers) broker_counts="$2"; shift 2 ;;
    --roles) roles="$2"; shift 2 ;;
    --null-broker) null_broker=1; shift ;;
    --namesrv) external_ns="$2"; shift 2 ;;
    --producer-args) producer_args="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

mqbench="$bin/mqbench"
[ -x "$mqbench" ] || { echo "missing $mqbench (build target mqbench)" >&2; exit 1; }
work="$(mktemp -d /tmp/mqbench-scenarios.XXXXXX)"
[ -n "$out" ] || out="$work/results.md"
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ "$out" != "$work/results.md" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Value of key=... in the SUMMARY line of a file.
field() { grep '^SUMMARY' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }

wait_port() {  # host port seconds
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

stop_pid() {  # pid: SIGTERM, up to 20 s, then SIGKILL
  local p=$1 i
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
  log "pid $p did not stop in 20 s; killing it"
  kill -9 "$p" 2>/dev/null
}

# --- machine limits, measured now ---------------------------------------------------------------
log "measuring loopback bandwidth and fsync rate"
timeout 30 "$mqbench" loopback --duration 3 > "$work/loopback.txt" 2>&1
timeout 30 "$mqbench" fsync --duration 3 --dir "$work" > "$work/fsync.txt" 2>&1
loopback_mib=$(field "$work/loopback.txt" MiB_per_s)
fsync_rate=$(field "$work/fsync.txt" fsync_per_s)
cpus=$(nproc)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)

# --- processes ----------------------------------------------------------------------------------
ns_addr="$external_ns"
if [ -z "$ns_addr" ]; then
  [ -x "$bin/mqnamesrv" ] || { echo "missing $bin/mqnamesrv" >&2; exit 1; }
  printf 'listenPort=%s\n' "$ns_port" > "$work/namesrv.conf"
  "$bin/mqnamesrv" -c "$work/namesrv.conf" > "$work/namesrv.log" 2>&1 &
  ns_pid=$!
  pids+=("$ns_pid")
  wait_port 127.0.0.1 "$ns_port" 10 || { echo "NameServer did not start (see $work/namesrv.log)" >&2; exit 1; }
  ns_addr="127.0.0.1:$ns_port"
fi

start_brokers() {  # count flush role -> sets broker_pids, cluster
  local n=$1 flush=$2 role=${3:-single} i paths="" port master_role=ASYNC_MASTER
  [ "$role" = single ] || master_role=$role
  broker_pids=()
  cluster="BenchCluster_${flush}_${n}_${role}"
  if [ $null_broker = 1 ]; then
    for i in $(seq 0 $((n - 1))); do
      port=$((broker_port0 + 20 * i))
      "$mqbench" nullbroker -n "$ns_addr" --port "$port" --name "bench-broker-$i" --cluster "$cluster" \
        -t "BenchWarmup" --queues 8 > "$work/nullbroker-$i.log" 2>&1 &
      broker_pids+=($!)
      pids+=($!)
    done
  else
    [ -x "$bin/mqbrokercontainer" ] || { echo "missing $bin/mqbrokercontainer" >&2; exit 1; }
    local dir="$work/container-$flush-$n-$role"
    mkdir -p "$dir"
    if [ "$role" = DLEDGER ]; then
      # Member k: broker port 20911 + 100 k (the leader's is not known in advance), Raft port
      # 40911 + k, container port 19811 + k.
      local k peers="n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"
      for k in 0 1 2; do
        cat > "$dir/broker-n$k.conf" <<EOF
brokerClusterName=$cluster
brokerName=bench-broker-0
brokerIP1=127.0.0.1
listenPort=$((broker_port0 + 100 * k))
storePathRootDir=$dir/store-n$k
flushDiskType=$flush
autoCreateTopicEnable=true
enableDLegerCommitLog=true
dLegerGroup=bench-broker-0
dLegerPeers=$peers
dLegerSelfId=n$k
EOF
        printf 'listenPort=%s\nnamesrvAddr=%s\nbrokerConfigPaths=%s\n' $((container_port + k)) "$ns_addr" \
          "broker-n$k.conf" > "$dir/container-n$k.conf"
        "$bin/mqbrokercontainer" -c "$dir/container-n$k.conf" > "$dir/container-n$k.log" 2>&1 &
        broker_pids+=($!)
        pids+=($!)
      done
      for k in 0 1 2; do
        wait_port 127.0.0.1 $((broker_port0 + 100 * k)) 30 || { log "DLedger member n$k did not listen"; return 1; }
      done
      # Election, then the leader's registration as brokerId 0.
      local i
      for i in $(seq 1 100); do
        grep -q "DLedger role change: now SYNC_MASTER" "$dir"/container-n*.log 2>/dev/null && break
        sleep 0.1
      done
      sleep 1
      return 0
    fi
    for i in $(seq 0 $((n - 1))); do
      port=$((broker_port0 + 20 * i))
      cat > "$dir/broker-$i.conf" <<EOF
brokerClusterName=$cluster
brokerName=bench-broker-$i
brokerId=0
brokerRole=$master_role
brokerIP1=127.0.0.1
listenPort=$port
storePathRootDir=$dir/store-$i
namesrvAddr=$ns_addr
flushDiskType=$flush
autoCreateTopicEnable=true
EOF
      paths="$paths${paths:+:}broker-$i.conf"
      if [ "$role" != single ]; then
        cat > "$dir/broker-$i-slave.conf" <<EOF
brokerClusterName=$cluster
brokerName=bench-broker-$i
brokerId=1
brokerRole=SLAVE
brokerIP1=127.0.0.1
listenPort=$((port + 10))
storePathRootDir=$dir/store-$i-slave
namesrvAddr=$ns_addr
flushDiskType=$flush
EOF
        paths="$paths:broker-$i-slave.conf"
      fi
    done
    cat > "$dir/container.conf" <<EOF
listenPort=$container_port
namesrvAddr=$ns_addr
brokerConfigPaths=$paths
EOF
    "$bin/mqbrokercontainer" -c "$dir/container.conf" > "$dir/container.log" 2>&1 &
    broker_pids+=($!)
    pids+=($!)
  fi
  for i in $(seq 0 $((n - 1))); do
    wait_port 127.0.0.1 $((broker_port0 + 20 * i)) 30 || { log "broker $i did not listen"; return 1; }
  done
  sleep 1  # registration with the NameServer follows listening
  [ "$role" = single ] || sleep 2  # the slave learns its master from the NameServer and connects
}

stop_brokers() {
  for p in "${broker_pids[@]}"; do stop_pid "$p"; done
}

create_topic() {  # topic cluster
  if [ $null_broker = 1 ]; then return 0; fi
  if [ -x "$bin/mqadmin" ] && timeout 20 "$bin/mqadmin" updateTopic -n "$ns_addr" -c "$2" -t "$1" -r 8 -w 8 \
      > "$work/updateTopic-$1.log" 2>&1; then
    sleep 0.5
    return 0
  fi
  log "updateTopic $1 failed (see $work/updateTopic-$1.log); relying on autoCreateTopicEnable"
}

rows=()
run_size() {  # label brokers flush size topic
  local label=$1 n=$2 flush=$3 size=$4 topic=$5 pfile="$work/producer-$5.txt" cfile="$work/consumer-$5.txt"
  log "$label: producer -w $threads -s $size for ${duration}s on $topic"
  timeout $((duration + 60)) "$mqbench" producer -n "$ns_addr" -t "$topic" -w "$threads" -s "$size" \
    --duration "$duration" $producer_args > "$pfile" 2>&1
  log "$label: consumer draining $topic"
  timeout $((duration * 3 + 60)) "$mqbench" consumer -n "$ns_addr" -t "$topic" -g "bench_drain_$topic" \
    --from-first --idle-exit 3 --give-up 20 --duration $((duration * 3 + 30)) > "$cfile" 2>&1
  local tps p50 p99 p999 max avg fails drained drain
  tps=$(field "$pfile" tps); avg=$(field "$pfile" avg_ms); p50=$(field "$pfile" p50_ms); p99=$(field "$pfile" p99_ms)
  p999=$(field "$pfile" p999_ms); max=$(field "$pfile" max_ms); fails=$(field "$pfile" failures)
  drained=$(field "$cfile" messages); drain=$(field "$cfile" drain_tps)
  rows+=("| $n | $flush | $size | $threads | ${tps:-?} | ${avg:-?} | ${p50:-?} | ${p99:-?} | ${p999:-?} | ${max:-?} | ${fails:-?} | ${drained:-?} | ${drain:-?} |")
}

if [ -n "$external_ns" ]; then
  for size in $sizes; do run_size "external" "?" "(as configured)" "$size" "BenchTopic_ext_$size"; done
else
  for role in $roles; do
  for n in $broker_counts; do
    if [ "$role" != single ] && { [ "$n" != 1 ] || [ $null_broker = 1 ]; }; then continue; fi
    for flush in $flushes; do
      if [ $null_broker = 1 ] && [ "$flush" != "${flushes%% *}" ]; then continue; fi  # no disk: one flush mode
      label="$n broker(s), $flush, $role"
      mode="$flush"
      [ "$role" = single ] || mode="$flush, $role + SLAVE"
      [ "$role" = DLEDGER ] && mode="$flush, DLedger group of 3"
      start_brokers "$n" "$flush" "$role" || { rows+=("| $n | $mode | - | - | did not start | | | | | | | | |"); stop_brokers; continue; }
      for size in $sizes; do
        topic="BenchTopic_${flush%%_*}_${n}_${role}_${size}"
        create_topic "$topic" "$cluster"
        run_size "$label" "$n" "$( [ $null_broker = 1 ] && echo 'none (null broker)' || echo "$mode")" "$size" "$topic"
      done
      stop_brokers
    done
  done
  done
fi

{
  echo "## Broker benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $cpus CPU(s), ${cpu_model:-unknown CPU}; loopback TCP ${loopback_mib:-?} MiB/s (one connection);"
  echo "fsync (4 KiB write + fdatasync, store filesystem) ${fsync_rate:-?}/s. Measured in this run by \`mqbench loopback\` / \`mqbench fsync\`."
  echo
  if [ $null_broker = 1 ]; then
    echo "Broker: \`mqbench nullbroker\` (in memory, no disk): the ceiling of the client and machine, not a broker figure."
  else
    echo "Broker: \`mqbrokercontainer\` from $bin, ASYNC_MASTER, 8 queues per broker; everything on this one machine."
  fi
  echo
  echo "Producer: \`mqbench producer -w $threads -s SIZE --duration $duration${producer_args:+ $producer_args}\` (without other"
  echo "arguments: synchronous senders sharing one producer, one message in flight per thread, as RocketMQ's benchmark"
  echo "Producer); figures after a 1 s warm-up. Drain: one \`mqbench consumer --from-first\`"
  echo "reading the backlog the producer left (messages per second between its first and last message)."
  echo
  echo "| brokers | flush | body B | threads | send TPS | avg ms | p50 ms | p99 ms | p99.9 ms | max ms | failures | drained msgs | drain msgs/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for r in "${rows[@]}"; do echo "$r"; done
  echo
  [ "$out" = "$work/results.md" ] && echo "Raw output: $work"
} > "$out"
cat "$out"
