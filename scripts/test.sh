#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test. Ends with ctest's summary line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
# The conformance test drives a client none of us wrote: ali-ons, pinned by package-lock.json.
(cd "$root/tests/conformance" && npm ci --no-audit --no-fund --loglevel=error)
cd "$root/build"
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" --timeout 600
