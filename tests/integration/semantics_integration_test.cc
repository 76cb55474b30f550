// Message semantics with real processes: delay levels (delivery no earlier than the level, nothing
// lost or repeated across restarts), consumer retries and dead letters (CONSUMER_SEND_MSG_BACK),
// transactions (half messages, commit, rollback, check-back) and queue locks for orderly
// consumers. Messages are sent and read with the raw wire helpers of cluster.h, so the broker's
// behaviour is checked independently of any client library.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <set>

#include "base/clock.h"
#include "client/admin_client.h"
#include "cluster.h"
#include "codec/codes.h"
#include "codec/message.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;
namespace rc = response_code;

namespace {

int64_t wall_ms() { return SystemClock().now_ms(); }

struct Delivered {
  std::string uniq;
  std::string body;
  std::string properties;
  int64_t store_timestamp = 0;
  int32_t reconsume_times = 0;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
};

// Reads a queue from `offset` on, appending what it finds, until `until` holds or the time is up.
// Returns false on timeout.
bool read_queue_until(BlockingClient& c, const std::string& addr, const std::string& topic, int32_t queue_id,
                      int64_t& offset, std::vector<Delivered>& out, const std::function<bool()>& until,
                      std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        while (true) {
          auto p = pull_messages(c, addr, "semantics_reader", topic, queue_id, offset);
          if (p.code != rc::kSuccess || p.records.empty()) break;
          for (const auto& r : p.records) {
            Delivered d;
            d.uniq = std::string(find_property(r.properties, property::kUniqKey).value_or(""));
            d.body = std::string(r.body);
            d.properties = std::string(r.properties);
            d.store_timestamp = r.store_timestamp;
            d.reconsume_times = r.reconsume_times;
            d.queue_id = r.queue_id;
            d.queue_offset = r.queue_offset;
            out.push_back(std::move(d));
            offset = r.queue_offset + 1;
          }
        }
        return until();
      },
      timeout);
}

std::string delayed_props(const std::string& uniq, int level) {
  return encode_properties({{"UNIQ_KEY", uniq}, {"DELAY", std::to_string(level)}, {"TAGS", "TagD"}});
}

}  // namespace

TEST_CASE("delay levels: parked in SCHEDULE_TOPIC_XXXX, delivered no earlier than their level, "
          "none lost or repeated across kill -9 and a clean restart") {
  NamesrvProcess ns;
  REQUIRE(ns.port > 0);
  TempDir dir;
  BrokerSpec spec{"broker-d"};
  spec.extra = "messageDelayLevel=1s 2s 3s\n";
  ContainerProcess c(ns.addr(), {spec}, dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "DelayTopic", 1));
  const std::string addr = c.broker_addr(0);
  BlockingClient client;
  REQUIRE(wait_until([&] { return send_message(client, addr, "DelayTopic", 0, "warm-up").code == rc::kSuccess; }, 10s));
  int64_t offset = 1;  // past the warm-up message

  // Levels 1-3, and 9, which is beyond the last level and capped to it (3 s).
  const std::map<int, int64_t> level_ms = {{1, 1000}, {2, 2000}, {3, 3000}, {9, 3000}};
  std::map<std::string, int64_t> due_at;  // uniq -> earliest allowed store time of the delivery
  std::map<std::string, std::string> body_of;
  for (int round = 0; round < 5; ++round) {
    for (const auto& [level, ms] : level_ms) {
      std::string uniq = "D" + std::to_string(level) + "-" + std::to_string(round);
      int64_t before = wall_ms();
      auto s = send_message(client, addr, "DelayTopic", 0, "body of " + uniq, delayed_props(uniq, level));
      REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
      due_at[uniq] = before + ms;
      body_of[uniq] = "body of " + uniq;
    }
  }
  // Parked: the real topic has nothing yet (the first level is 1 s away), the schedule queues do.
  auto parked = pull_messages(client, addr, "semantics_reader", "SCHEDULE_TOPIC_XXXX", 2, 0);
  REQUIRE_MESSAGE(parked.code == rc::kSuccess, parked.remark);
  CHECK(parked.records.size() == 10);  // levels 3 and 9 -> queue 2
  for (const auto& r : parked.records) {
    CHECK(find_property(r.properties, property::kRealTopic) == "DelayTopic");
    CHECK(find_property(r.properties, property::kRealQueueId) == "0");
    CHECK(find_property(r.properties, property::kDelayTimeLevel) == "3");
  }

  std::vector<Delivered> got;
  bool all = read_queue_until(client, addr, "DelayTopic", 0, offset, got, [&] { return got.size() >= due_at.size(); }, 30s);
  REQUIRE_MESSAGE(all, "expected " << due_at.size() << " delayed messages, got " << got.size());
  std::set<std::string> seen;
  for (const auto& d : got) {
    INFO("message " << d.uniq);
    REQUIRE(due_at.count(d.uniq) == 1);
    CHECK_MESSAGE(d.store_timestamp >= due_at[d.uniq],
                  "delivered at " << d.store_timestamp << ", due no earlier than " << due_at[d.uniq]);
    CHECK(d.body == body_of[d.uniq]);
    CHECK_FALSE(find_property(d.properties, property::kDelayTimeLevel).has_value());
    CHECK(find_property(d.properties, "TAGS") == "TagD");
    CHECK(seen.insert(d.uniq).second);
  }

  // kill -9 while messages are parked: after the restart each is delivered, none lost.
  std::set<std::string> second;
  for (int i = 0; i < 30; ++i) {
    std::string uniq = "K" + std::to_string(i);
    auto s = send_message(client, addr, "DelayTopic", 0, "body of " + uniq, delayed_props(uniq, 1 + i % 3));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
    second.insert(uniq);
  }
  c.kill9();
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  std::vector<Delivered> after_kill;
  auto has_all = [&](const std::vector<Delivered>& v, const std::set<std::string>& want) {
    std::set<std::string> have;
    for (const auto& d : v) have.insert(d.uniq);
    for (const auto& u : want)
      if (!have.count(u)) return false;
    return true;
  };
  all = read_queue_until(client, addr, "DelayTopic", 0, offset, after_kill, [&] { return has_all(after_kill, second); }, 30s);
  REQUIRE_MESSAGE(all, "after kill -9: expected all 30 parked messages, got " << after_kill.size() << " deliveries");

  // A clean restart persists progress: nothing already delivered comes again. Sentinels on every
  // level prove the schedule queues were walked past everything (each level delivers in order).
  REQUIRE(c.stop() == 0);
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  std::set<std::string> sentinels;
  for (int level = 1; level <= 3; ++level) {
    std::string uniq = "S" + std::to_string(level);
    SendOutcome s;  // the first send after the restart may meet the old, closed connection
    REQUIRE(wait_until([&] {
      s = send_message(client, addr, "DelayTopic", 0, "sentinel", delayed_props(uniq, level));
      return s.code == rc::kSuccess;
    }, 10s));
    sentinels.insert(uniq);
  }
  std::vector<Delivered> after_clean;
  all = read_queue_until(client, addr, "DelayTopic", 0, offset, after_clean, [&] { return has_all(after_clean, sentinels); }, 30s);
  REQUIRE_MESSAGE(all, "after a clean restart: the 3 sentinels did not all arrive (" << after_clean.size() << " deliveries)");
  for (const auto& d : after_clean)
    CHECK_MESSAGE(sentinels.count(d.uniq) == 1, "after a clean restart " << d.uniq << " was delivered again");
  CHECK(after_clean.size() == sentinels.size());
}
