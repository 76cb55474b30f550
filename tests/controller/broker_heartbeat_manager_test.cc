// Broker liveness on one controller node (reference 4.5), on a plain integer clock.
#include <doctest/doctest.h>

#include <climits>
#include <string>

#include "codec/codes.h"
#include "codec/controller_data.h"
#include "controller/broker_heartbeat_manager.h"

using namespace mq;
using namespace mq::controller;

namespace {

ExtFields beat_fields(const std::string& cluster, const std::string& name, int64_t id) {
  ExtFields f;
  f.set("clusterName", cluster);
  f.set("brokerAddr", "10.0.0." + std::to_string(id) + ":30911");
  f.set("brokerName", name);
  f.set("brokerId", id);
  return f;
}

ExtFields full_beat(int64_t id, int64_t epoch, int64_t max_offset, int64_t confirm, int64_t timeout,
                    int64_t priority) {
  ExtFields f = beat_fields("c1", "broker-a", id);
  f.set("epoch", epoch);
  f.set("maxOffset", max_offset);
  f.set("confirmOffset", confirm);
  f.set("heartbeatTimeoutMills", timeout);
  f.set("electionPriority", priority);
  return f;
}

}  // namespace

TEST_CASE("heartbeat: first one inserts with RocketMQ's defaults") {
  BrokerHeartbeatManager hb;
  REQUIRE(hb.on_heartbeat(beat_fields("c1", "broker-a", 1), 7, 1000).ok());
  CHECK(hb.size() == 1);
  const BrokerLiveInfo* info = hb.live_info("c1", "broker-a", 1);
  REQUIRE(info != nullptr);
  CHECK(info->broker_name == "broker-a");
  CHECK(info->broker_addr == "10.0.0.1:30911");
  CHECK(info->broker_id == 1);
  CHECK(info->last_update_ms == 1000);
  CHECK(info->heartbeat_timeout_ms == 10000);
  CHECK(info->channel_id == 7);
  CHECK(info->epoch == -1);
  CHECK(info->max_offset == -1);
  CHECK(info->confirm_offset == -1);
  CHECK(info->election_priority == INT32_MAX);

  REQUIRE(hb.on_heartbeat(full_beat(2, 3, 4096, 4000, 3000, 5), 8, 1000).ok());
  const BrokerLiveInfo* two = hb.live_info("c1", "broker-a", 2);
  REQUIRE(two != nullptr);
  CHECK(two->epoch == 3);
  CHECK(two->max_offset == 4096);
  CHECK(two->confirm_offset == 4000);
  CHECK(two->heartbeat_timeout_ms == 3000);
  CHECK(two->election_priority == 5);
}

TEST_CASE("heartbeat: header errors are response codes") {
  BrokerHeartbeatManager hb;
  ExtFields no_id = beat_fields("c1", "broker-a", 1);
  ExtFields without;
  for (const auto& [k, v] : no_id.entries())
    if (k != "brokerId") without.set(k, v);
  auto r = hb.on_heartbeat(without, 1, 0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == response_code::kControllerInvalidRequest);

  for (const char* required : {"clusterName", "brokerAddr", "brokerName"}) {
    ExtFields f;
    for (const auto& [k, v] : no_id.entries())
      if (k != required) f.set(k, v);
    auto e = hb.on_heartbeat(f, 1, 0);
    REQUIRE_FALSE(e.ok());
    CHECK(e.code() == response_code::kSystemError);
    CHECK(e.detail().find(required) != std::string::npos);
  }
  ExtFields garbage = beat_fields("c1", "broker-a", 1);
  garbage.set("maxOffset", std::string("12x"));
  auto g = hb.on_heartbeat(garbage, 1, 0);
  REQUIRE_FALSE(g.ok());
  CHECK(g.code() == response_code::kSystemError);
  CHECK(g.detail().find("maxOffset") != std::string::npos);

  ExtFields wide = beat_fields("c1", "broker-a", 1);
  wide.set("epoch", int64_t{1} << 40);
  CHECK(hb.on_heartbeat(wide, 1, 0).code() == response_code::kSystemError);
  CHECK(hb.size() == 0);
}

TEST_CASE("heartbeat: refresh, and the log position never goes backwards") {
  BrokerHeartbeatManager hb;
  REQUIRE(hb.on_heartbeat(full_beat(1, 2, 1000, 900, 10000, 9), 1, 0).ok());
  // Same epoch, smaller offset: position kept, time/timeout/priority refreshed; address and
  // connection stay as first seen.
  ExtFields older = full_beat(1, 2, 500, 400, 20000, 3);
  older.set("brokerAddr", std::string("10.9.9.9:1"));
  REQUIRE(hb.on_heartbeat(older, 2, 50).ok());
  const BrokerLiveInfo* info = hb.live_info("c1", "broker-a", 1);
  CHECK(info->max_offset == 1000);
  CHECK(info->confirm_offset == 900);
  CHECK(info->last_update_ms == 50);
  CHECK(info->heartbeat_timeout_ms == 20000);
  CHECK(info->election_priority == 3);
  CHECK(info->broker_addr == "10.0.0.1:30911");
  CHECK(info->channel_id == 1);
  // Same epoch, larger offset: taken.
  REQUIRE(hb.on_heartbeat(full_beat(1, 2, 2000, 1500, 20000, 3), 1, 60).ok());
  CHECK(info->max_offset == 2000);
  CHECK(info->confirm_offset == 1500);
  // Older epoch with a larger offset: ignored.
  REQUIRE(hb.on_heartbeat(full_beat(1, 1, 9000, 9000, 20000, 3), 1, 70).ok());
  CHECK(info->epoch == 2);
  CHECK(info->max_offset == 2000);
  // Newer epoch with a smaller offset (a truncated ex-master): taken.
  REQUIRE(hb.on_heartbeat(full_beat(1, 3, 100, 100, 20000, 3), 1, 80).ok());
  CHECK(info->epoch == 3);
  CHECK(info->max_offset == 100);
  // A heartbeat without the optional values counts as epoch -1: it cannot move anything back.
  REQUIRE(hb.on_heartbeat(beat_fields("c1", "broker-a", 1), 1, 90).ok());
  CHECK(info->epoch == 3);
  CHECK(info->heartbeat_timeout_ms == 10000);
  CHECK(info->election_priority == INT32_MAX);
}

TEST_CASE("heartbeat: alive until last + timeout, expiry scan on a fake clock") {
  BrokerHeartbeatManager hb;
  REQUIRE(hb.on_heartbeat(full_beat(1, 1, 0, 0, 500, 1), 1, 1000).ok());
  REQUIRE(hb.on_heartbeat(full_beat(2, 1, 0, 0, 5000, 1), 2, 1000).ok());
  CHECK(hb.is_alive("c1", "broker-a", 1, 1500));
  CHECK_FALSE(hb.is_alive("c1", "broker-a", 1, 1501));
  CHECK_FALSE(hb.is_alive("c1", "broker-a", 3, 1000));
  CHECK_FALSE(hb.is_alive("c2", "broker-a", 1, 1000));

  CHECK(hb.scan_expired(1500).empty());
  auto gone = hb.scan_expired(1501);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0] == BrokerKey{"c1", "broker-a", 1});
  CHECK(hb.size() == 1);
  CHECK(hb.live_info("c1", "broker-a", 1) == nullptr);
  CHECK(hb.scan_expired(6000).empty());
  CHECK(hb.scan_expired(6001).size() == 1);
  CHECK(hb.size() == 0);

  // A peer's huge timeout must not overflow into "dead".
  REQUIRE(hb.on_heartbeat(full_beat(1, 1, 0, 0, INT64_MAX, 1), 1, 1000).ok());
  CHECK(hb.is_alive("c1", "broker-a", 1, INT64_MAX / 2));
  // A negative one is simply never alive.
  REQUIRE(hb.on_heartbeat(full_beat(2, 1, 0, 0, -1, 1), 1, 1000).ok());
  CHECK_FALSE(hb.is_alive("c1", "broker-a", 2, 1000));
}

TEST_CASE("heartbeat: a closed connection removes every broker that used it") {
  BrokerHeartbeatManager hb;
  REQUIRE(hb.on_heartbeat(beat_fields("c1", "broker-a", 1), 10, 0).ok());
  REQUIRE(hb.on_heartbeat(beat_fields("c1", "broker-b", 1), 10, 0).ok());
  REQUIRE(hb.on_heartbeat(beat_fields("c1", "broker-a", 2), 11, 0).ok());
  CHECK(hb.on_channel_closed(99).empty());
  auto gone = hb.on_channel_closed(10);
  REQUIRE(gone.size() == 2);
  CHECK(gone[0] == BrokerKey{"c1", "broker-a", 1});
  CHECK(gone[1] == BrokerKey{"c1", "broker-b", 1});
  CHECK(hb.size() == 1);
  CHECK(hb.is_alive("c1", "broker-a", 2, 0));
}

TEST_CASE("heartbeat: an empty cluster matches brokerName + id in any cluster") {
  BrokerHeartbeatManager hb;
  REQUIRE(hb.on_heartbeat(full_beat(1, 1, 0, 0, 100, 1), 1, 0).ok());
  ExtFields other = beat_fields("c2", "broker-a", 1);
  other.set("heartbeatTimeoutMills", int64_t{1000});
  REQUIRE(hb.on_heartbeat(other, 2, 50).ok());
  CHECK(hb.is_alive("", "broker-a", 1, 500));   // c1's expired, c2's is alive
  CHECK_FALSE(hb.is_alive("c1", "broker-a", 1, 500));
  CHECK_FALSE(hb.is_alive("", "broker-a", 2, 0));
  const BrokerLiveInfo* newest = hb.live_info("", "broker-a", 1);
  REQUIRE(newest != nullptr);
  CHECK(newest->channel_id == 2);
  CHECK(hb.live_info("", "broker-b", 1) == nullptr);
}
