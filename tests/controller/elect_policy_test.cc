// The election policy alone (reference 4.6): candidate sets, old master, preferred id, ranking.
#include <doctest/doctest.h>

#include <climits>
#include <string>

#include "controller/elect_policy.h"

using namespace mq;
using namespace mq::controller;

namespace {

constexpr int64_t kNow = 100000;

void beat(BrokerHeartbeatManager& hb, int64_t id, int64_t epoch, int64_t max_offset, int64_t priority = INT32_MAX,
          int64_t at_ms = kNow) {
  ExtFields f;
  f.set("clusterName", std::string("c1"));
  f.set("brokerAddr", "10.0.0." + std::to_string(id) + ":30911");
  f.set("brokerName", std::string("broker-a"));
  f.set("brokerId", id);
  f.set("epoch", epoch);
  f.set("maxOffset", max_offset);
  f.set("electionPriority", priority);
  REQUIRE(hb.on_heartbeat(f, static_cast<uint64_t>(id), at_ms).ok());
}

std::optional<int64_t> run(const BrokerHeartbeatManager& hb, std::set<int64_t> sss, std::set<int64_t> all,
                           std::optional<int64_t> old_master, std::optional<int64_t> preferred, bool unclean) {
  return elect("c1", "broker-a", sss, all, old_master, preferred, hb, unclean, kNow);
}

}  // namespace

TEST_CASE("ranking: epoch, then offset (as int64), then priority") {
  BrokerLiveInfo a, b;
  a.epoch = 2;
  b.epoch = 1;
  b.max_offset = 1000;
  CHECK(better_candidate(a, b));
  CHECK_FALSE(better_candidate(b, a));
  b.epoch = 2;
  a.max_offset = 10;
  CHECK(better_candidate(b, a));
  // A 4 GiB gap: Java's int32 cast of the difference would rank these the wrong way round.
  a.max_offset = int64_t{1} << 32;
  b.max_offset = 0;
  CHECK(better_candidate(a, b));
  b.max_offset = a.max_offset;
  a.election_priority = 1;
  b.election_priority = 2;
  CHECK(better_candidate(a, b));
  b.election_priority = 1;
  CHECK_FALSE(better_candidate(a, b));
  CHECK_FALSE(better_candidate(b, a));
}

TEST_CASE("elect: nobody alive is nobody") {
  BrokerHeartbeatManager hb;
  CHECK_FALSE(run(hb, {1, 2}, {1, 2, 3}, 1, std::nullopt, true).has_value());
  beat(hb, 1, 1, 0, INT32_MAX, kNow - 20000);  // expired by now
  CHECK_FALSE(run(hb, {1}, {1}, std::nullopt, std::nullopt, false).has_value());
}

TEST_CASE("elect: the old master is kept while alive, unless another id is preferred") {
  BrokerHeartbeatManager hb;
  beat(hb, 1, 1, 0);
  beat(hb, 2, 5, 9999);  // better ranked, but the old master wins
  CHECK(run(hb, {1, 2}, {1, 2}, 1, std::nullopt, false) == 1);
  CHECK(run(hb, {1, 2}, {1, 2}, 1, 1, false) == 1);
  CHECK(run(hb, {1, 2}, {1, 2}, 1, 2, false) == 2);
}

TEST_CASE("elect: a preferred id is taken if alive in the set, else nobody") {
  BrokerHeartbeatManager hb;
  beat(hb, 1, 1, 0);
  beat(hb, 2, 1, 0);
  beat(hb, 3, 1, 0);
  CHECK(run(hb, {1, 2}, {1, 2, 3}, std::nullopt, 2, false) == 2);
  CHECK_FALSE(run(hb, {1, 2}, {1, 2, 3}, std::nullopt, 3, false).has_value());  // not in the SSS
  CHECK(run(hb, {1, 2}, {1, 2, 3}, std::nullopt, 3, true) == 3);               // unclean: all members
  CHECK_FALSE(run(hb, {1, 2}, {1, 2, 3}, std::nullopt, 4, true).has_value());
}

TEST_CASE("elect: candidates ranked by epoch, offset, priority; ties to the smallest id") {
  BrokerHeartbeatManager hb;
  beat(hb, 1, 1, 5000, 1);
  beat(hb, 2, 2, 100, 9);
  beat(hb, 3, 2, 200, 9);
  beat(hb, 4, 2, 200, 3);
  beat(hb, 5, 2, 200, 3);
  CHECK(run(hb, {1, 2}, {}, std::nullopt, std::nullopt, false) == 2);     // epoch beats offset
  CHECK(run(hb, {2, 3}, {}, std::nullopt, std::nullopt, false) == 3);     // offset
  CHECK(run(hb, {3, 4}, {}, std::nullopt, std::nullopt, false) == 4);     // priority
  CHECK(run(hb, {5, 4, 3}, {}, std::nullopt, std::nullopt, false) == 4);  // full tie: smallest id
  CHECK(run(hb, {1, 2, 3, 4, 5}, {}, 9, std::nullopt, false) == 4);       // dead old master ignored
}

TEST_CASE("elect: SyncStateSet first, all members only when unclean election is on") {
  BrokerHeartbeatManager hb;
  beat(hb, 2, 9, 9999);
  beat(hb, 3, 1, 0);
  // SSS {1} with 1 dead.
  CHECK_FALSE(run(hb, {1}, {1, 2, 3}, 1, std::nullopt, false).has_value());
  CHECK(run(hb, {1}, {1, 2, 3}, 1, std::nullopt, true) == 2);
  // A live SSS member is preferred to a better-ranked outsider even with unclean on.
  CHECK(run(hb, {1, 3}, {1, 2, 3}, 1, std::nullopt, true) == 3);
}
