#!/usr/bin/env bash
# Configures and builds the project (Release with assertions on) into build/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMQ_SKIP_DIRS="" "$@"
cmake --build "$root/build" -j "$jobs"
