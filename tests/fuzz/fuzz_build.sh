#!/usr/bin/env bash
# Configures (the first time) and builds the libFuzzer targets and their seed corpora: a second
# configure of this tree with clang-14, ASan + UBSan (errors abort) and libFuzzer's coverage
# instrumentation, leaving out the folders no target needs (tests/fuzz/CMakeLists.txt).
#   bash tests/fuzz/fuzz_build.sh <build dir> [fixtures dir]
# Binaries: <build dir>/fuzz/fuzz_*, seeds: <build dir>/fuzz/seeds/<target>/.
set -euo pipefail
dir="$1"
fixtures="${2:-}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
command -v clang++-14 >/dev/null || { echo "clang++-14 is missing (scripts/setup.sh installs it)"; exit 1; }
flags="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined"
skip="remoting;broker;namesrv;container;client;tools;bench;integration;conformance;fault"
# Configured on every call: cheap once the cache exists, and picks up a changed skip list.
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  "-DCMAKE_C_FLAGS=$flags" "-DCMAKE_CXX_FLAGS=$flags" \
  -DMQ_SANITIZE=ON -DMQ_FUZZ=ON "-DMQ_SKIP_DIRS=$skip" ${fixtures:+"-DMQ_FIXTURES_DIR=$fixtures"} >/dev/null
cmake --build "$dir" -j "${MQ_FUZZ_JOBS:-2}" --target fuzz_all
