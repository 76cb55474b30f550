// Failover of a three-member DLedger group under a steady send load, with real processes:
//   dledger_failover [--rounds N] [--stop-rounds N] [--flush ASYNC_FLUSH|SYNC_FLUSH] [--body BYTES]
// Each kill round: wait for sends to flow, kill -9 the leader, and time from the kill to the first
// send acknowledged by another member (the sender tries members in turn: a follower refuses at
// once, the dead leader refuses the connection); then restart the killed member on its store and
// wait until it has caught up. Each stop round freezes the leader with SIGSTOP instead (only the
// election timeout can detect that) and times from the signal to the first send another member
// acknowledges, probing the other members directly with short timeouts (the load's sender, like
// any client, waits out its 3 s send timeout on the frozen member); then SIGCONT. Prints every
// time and min / median / max.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "codec/codes.h"

#include "dledger_cluster.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

void summary(const char* what, std::vector<int64_t> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  std::printf("%s: n=%zu min=%lld median=%lld max=%lld ms (all:", what, ms.size(), static_cast<long long>(ms.front()),
              static_cast<long long>(ms[ms.size() / 2]), static_cast<long long>(ms.back()));
  for (auto m : ms) std::printf(" %lld", static_cast<long long>(m));
  std::printf(")\n");
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5, stop_rounds = 3;
  size_t body = 128;
  std::string flush = "ASYNC_FLUSH";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rounds") rounds = std::atoi(next());
    else if (a == "--stop-rounds") stop_rounds = std::atoi(next());
    else if (a == "--flush") flush = next();
    else if (a == "--body") body = static_cast<size_t>(std::atol(next()));
    else {
      std::fprintf(stderr, "usage: dledger_failover [--rounds N] [--stop-rounds N] [--flush F] [--body BYTES]\n");
      return 2;
    }
  }
  DLedgerCluster c(flush);
  for (auto& n : c.nodes)
    if (!n->start()) {
      std::fprintf(stderr, "a container did not start:\n%s\n", n->proc().output().c_str());
      return 1;
    }
  AdminClient admin(c.ns.addr());
  if (!wait_until([&] { return find_leader(admin, c) >= 0; }, 20s)) {
    std::fprintf(stderr, "no leader elected\n");
    return 1;
  }
  Sender sender(c, "DLFailoverBench", 4, body);
  std::vector<int64_t> kill_ms, stop_ms;
  auto caught_up = [&](size_t member) {
    return wait_until([&] {
      int l = find_leader(admin, c);
      if (l < 0) return false;
      int64_t a = applied_index(admin, *c.nodes[static_cast<size_t>(l)]);
      return a > 0 && applied_index(admin, *c.nodes[member]) >= a - 10;
    }, 60s);
  };
  for (int r = 0; r < rounds + stop_rounds; ++r) {
    const bool kill = r < rounds;
    const size_t before = sender.acked();
    if (!wait_until([&] { return sender.acked() >= before + 2000; }, 60s)) {
      std::fprintf(stderr, "sends stalled before round %d\n", r);
      return 1;
    }
    const int leader = find_leader(admin, c);
    if (leader < 0) {
      std::fprintf(stderr, "no leader before round %d\n", r);
      return 1;
    }
    auto& victim = *c.nodes[static_cast<size_t>(leader)];
    const auto t0 = std::chrono::steady_clock::now();
    if (!kill) {
      victim.proc().signal(SIGSTOP);
      BlockingClient probe;
      int64_t ms = -1;
      for (int i = 0; ms < 0 && std::chrono::steady_clock::now() - t0 < 30s; ++i) {
        size_t m = static_cast<size_t>(leader + 1 + i % 2) % 3;
        auto s = send_message(probe, c.addr(m), "DLFailoverBench", 0, "probe-" + std::to_string(i), "", 200);
        if (s.code == response_code::kSuccess)
          ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        else if (i % 2 == 1)
          std::this_thread::sleep_for(2ms);
      }
      victim.proc().signal(SIGCONT);
      if (ms < 0) {
        std::fprintf(stderr, "no other member acknowledged a send within 30 s of round %d\n", r);
        return 1;
      }
      stop_ms.push_back(ms);
      std::printf("round %d: SIGSTOP of leader n%d -> first send acknowledged by another member after %lld ms\n", r,
                  leader, static_cast<long long>(ms));
      std::fflush(stdout);
      if (!caught_up(static_cast<size_t>(leader))) {
        std::fprintf(stderr, "n%d did not catch up after round %d\n", leader, r);
        return 1;
      }
      continue;
    }
    victim.kill9();
    if (!wait_until([&] { return sender.first_ack_after(t0, static_cast<size_t>(leader)).has_value(); }, 30s)) {
      std::fprintf(stderr, "no other member acknowledged a send within 30 s of round %d\n", r);
      return 1;
    }
    const int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(*sender.first_ack_after(t0, static_cast<size_t>(leader)) - t0)
            .count();
    kill_ms.push_back(ms);
    std::printf("round %d: kill -9 of leader n%d -> first send acknowledged by another member after %lld ms\n", r,
                leader, static_cast<long long>(ms));
    std::fflush(stdout);
    if (!victim.start()) {
      std::fprintf(stderr, "restart failed:\n%s\n", victim.proc().output().c_str());
      return 1;
    }
    if (!caught_up(static_cast<size_t>(leader))) {
      std::fprintf(stderr, "n%d did not catch up after round %d\n", leader, r);
      return 1;
    }
  }
  sender.stop();
  std::printf("DLedger failover, 3 members (3 containers on this machine), %s, %zu-byte bodies, %zu sends acknowledged\n",
              flush.c_str(), body, sender.acked());
  summary("kill -9 of the leader", kill_ms);
  summary("SIGSTOP of the leader", stop_ms);
  for (auto& n : c.nodes) n->stop();
  return 0;
}
