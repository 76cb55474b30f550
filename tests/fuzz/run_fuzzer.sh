#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its seeds and its regression inputs
# (tests/fuzz/regressions/<target>/, every crash we fixed), then prints one summary line:
#   <target>: executions <n>, exec/s <n>, crashes <n>
# and exits non-zero when the target crashed (ASan, UBSan, a FUZZ_CHECK, a leak, a timeout).
#   bash tests/fuzz/run_fuzzer.sh <fuzz build dir> <target> <seconds> [short|long]
# short: a throw-away corpus (the test command). long: the corpus grows in <dir>/fuzz/corpus/<target>
# and survives between runs (scripts/fuzz.sh). MQ_FUZZ_RUNS=<n> also stops the run after n executions.
set -uo pipefail
dir="$1"; target="$2"; seconds="$3"; kind="${4:-short}"
here="$(cd "$(dirname "$0")" && pwd)"
bin="$dir/fuzz/$target"
[ -x "$bin" ] || { echo "$target: not built ($bin); run tests/fuzz/fuzz_build.sh"; exit 1; }
# Inputs stay small: the store targets' cost grows with every byte (segments of at most 16 KiB).
case "$target" in
  fuzz_store_recovery) max_len=40000 ;;
  fuzz_ha) max_len=20000 ;;
  *) max_len=20000 ;;
esac
artifacts="$dir/fuzz/artifacts/$target"
mkdir -p "$artifacts"
if [ "$kind" = long ]; then
  corpus="$dir/fuzz/corpus/$target"
  mkdir -p "$corpus"
else
  corpus="$(mktemp -d)"
  trap 'rm -rf "$corpus"' EXIT
fi
log="$dir/fuzz/$target.$kind.log"
before=$(ls "$artifacts" | wc -l)
dirs=("$corpus")
[ -d "$dir/fuzz/seeds/$target" ] && dirs+=("$dir/fuzz/seeds/$target")
[ -d "$here/regressions/$target" ] && dirs+=("$here/regressions/$target")
# Beyond ASan's defaults: freed memory is not handed back to the kernel every few seconds, new blocks
# are not pre-filled (neither finds bugs) and the use-after-free quarantine holds 64 MB instead of
# 256 (still many inputs' worth): page faults and memset were up to half the time of some targets.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_release_to_os_interval_ms=-1:max_malloc_fill_size=0:quarantine_size_mb=64}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=30 -rss_limit_mb=2048 -max_len="$max_len" \
  ${MQ_FUZZ_RUNS:+-runs=$MQ_FUZZ_RUNS} \
  -artifact_prefix="$artifacts/" "${dirs[@]}" >"$log" 2>&1
status=$?
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
crashes=$(( $(ls "$artifacts" | wc -l) - before ))
if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
echo "$target: executions ${execs:-0}, exec/s ${rate:-0}, crashes $crashes"
if [ "$status" -ne 0 ]; then
  echo "--- $log (tail) ---"
  tail -60 "$log"
  echo "artifacts: $artifacts"
fi
exit "$status"
