#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: clang-14, ASan + UBSan, seeds cut from the reference
# fixtures) into build-fuzz/ and runs each for a bounded time, one after the other, keeping a corpus
# per target in build-fuzz/fuzz/corpus/<target> that grows from run to run. Prints, per target, the
# executions done (libFuzzer's stat::number_of_executed_units), exec/s and crashes found (inputs in
# build-fuzz/fuzz/artifacts/<target>/); exits non-zero if any target crashed.
#   bash scripts/fuzz.sh [seconds-per-target (default 300)] [target...]
# Targets: fuzz_frame fuzz_message fuzz_json fuzz_ha fuzz_raft fuzz_config fuzz_store_recovery
# fuzz_controller.
# MQ_FUZZ_RUNS=<n> also ends each target's run after n executions (e.g. 10000000).
# The test command runs each for 20 s (ctest -L fuzz).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-300}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(fuzz_frame fuzz_message fuzz_json fuzz_ha fuzz_raft fuzz_config fuzz_store_recovery
                                      fuzz_controller)
command -v clang++-14 >/dev/null 2>&1 || bash "$root/scripts/setup.sh"
out="$root/build-fuzz"
bash "$root/tests/fuzz/fuzz_build.sh" "$out" "${MQ_FIXTURES_DIR:-}"
failed=0
for t in "${targets[@]}"; do
  bash "$root/tests/fuzz/run_fuzzer.sh" "$out" "$t" "$seconds" long || failed=1
done
exit "$failed"
