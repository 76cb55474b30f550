#!/usr/bin/env bash
# Builds the libFuzzer target of the wire and message decoders with clang (ASan + UBSan) and runs
# it for a bounded time (default 60 s). Not part of the test command; the test suite runs a seeded
# random corpus through the same decoders instead (tests/codec/frame_fuzz_test.cc).
#   bash scripts/fuzz.sh [seconds]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
command -v clang++-14 >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev; }
out="$root/build-fuzz"
mkdir -p "$out/corpus"
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I"$root" \
  "$root/tests/fuzz/decoders_fuzzer.cc" \
  "$root"/codec/{json_lex,remoting_command,fastjson,route_data,message}.cc \
  "$root"/base/{check,hash,log,clock}.cc -lz -o "$out/decoders_fuzzer"
# Seed the corpus with real frames from the Java fixtures.
python3 - "$root/../shared/fixtures/wire" "$out/corpus" <<'PY'
import base64, json, os, struct, sys, glob
src, dst = sys.argv[1], sys.argv[2]
n = 0
for f in glob.glob(os.path.join(src, '*.jsonl')):
    for line in open(f):
        r = json.loads(line)
        h = r['header'].encode(); b = base64.b64decode(r['body_b64'])
        frame = struct.pack('>ii', 4 + len(h) + len(b), len(h)) + h + b
        open(os.path.join(dst, 'seed%d' % n), 'wb').write(frame); n += 1
        if b:
            open(os.path.join(dst, 'body%d' % n), 'wb').write(b)
PY
"$out/decoders_fuzzer" -max_total_time="$seconds" -max_len=65536 -artifact_prefix="$out/" "$out/corpus"
