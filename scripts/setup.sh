#!/usr/bin/env bash
# Installs everything the project needs to build, run and test on Debian 12 (run as root).
# Idempotent: packages already present are left alone.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config
      libuv1-dev nlohmann-json3-dev libtomlplusplus-dev doctest-dev libjemalloc-dev zlib1g-dev libisal-dev
      python3 procps
      # RocketMQ 4.9.4's Java client and mqadmin (../shared/java-client), a second real client in tests
      default-jdk-headless libnetty-java libjctools-java
      # libFuzzer targets (tests/fuzz): clang 14 and its runtime libraries (libclang_rt.fuzzer*.a, ASan, UBSan)
      clang-14 libclang-rt-14-dev
      # the fault harness (tests/fault): ip (namespaces, bridges), mkfs.ext4, losetup and mount
      iproute2 e2fsprogs util-linux
      # packet loss, delay and reordering without sch_netem: iptables' NFQUEUE target and a
      # userspace delayer (libnetfilter_queue)
      iptables libnetfilter-queue-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# node and npm are needed only by the ali-ons conformance test; a machine that already has
# them (from any source) keeps its own, since Debian's nodejs conflicts with other installs.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
