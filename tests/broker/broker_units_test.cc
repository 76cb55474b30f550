// Broker modules without sockets: client registry (heartbeats, membership changes, expiry),
// long-polling bookkeeping, metadata tables and their RocketMQ JSON shapes, broker config checks.
#include <doctest/doctest.h>

#include <filesystem>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/hash.h"
#include "broker/broker_config.h"
#include "broker/broker_metadata.h"
#include "broker/client_manager.h"
#include "broker/pull_hold_service.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "tests/support/temp_dir.h"

using namespace mq;
using nlohmann::json;

namespace {
json heartbeat(const std::string& client_id, const std::string& group, const std::string& topic, const std::string& sub) {
  return json{{"clientID", client_id},
              {"producerDataSet", json::array({{{"groupName", "PG"}}})},
              {"consumerDataSet",
               json::array({{{"groupName", group},
                             {"consumeType", "CONSUME_PASSIVELY"},
                             {"messageModel", "CLUSTERING"},
                             {"consumeFromWhere", "CONSUME_FROM_FIRST_OFFSET"},
                             {"subscriptionDataSet",
                              json::array({{{"topic", topic}, {"subString", sub}, {"tagsSet", json::array({sub})},
                                            {"codeSet", json::array({java_string_hash(sub)})}, {"subVersion", 5}}})}}})}};
}
}  // namespace

TEST_CASE("heartbeats register consumers; membership changes are reported once") {
  ClientManager m;
  auto r1 = m.heartbeat(heartbeat("c1", "G", "T", "TagA"), 1, {}, "127.0.0.1:1", "JAVA", 401, 1000);
  CHECK(r1.groups_changed == std::vector<std::string>{"G"});
  auto again = m.heartbeat(heartbeat("c1", "G", "T", "TagA"), 1, {}, "127.0.0.1:1", "JAVA", 401, 2000);
  CHECK(again.groups_changed.empty());  // same member: no notification storm
  auto r2 = m.heartbeat(heartbeat("c2", "G", "T", "TagA"), 2, {}, "127.0.0.1:2", "JAVA", 401, 2000);
  CHECK(r2.groups_changed == std::vector<std::string>{"G"});
  const ConsumerGroupInfo* g = m.consumer_group("G");
  REQUIRE(g);
  CHECK(g->client_ids() == std::vector<std::string>{"c1", "c2"});
  CHECK(g->subscriptions.at("T").code_set.count(java_string_hash("TagA")) == 1);
  CHECK(g->consume_from_where == "CONSUME_FROM_FIRST_OFFSET");
  CHECK(m.producer_groups().at("PG").size() == 2);
  CHECK(m.connection_count() == 2);

  CHECK(m.on_connection_closed(1) == std::vector<std::string>{"G"});
  CHECK(m.consumer_group("G")->client_ids() == std::vector<std::string>{"c2"});
  CHECK(m.unregister(2, "PG", "G") == std::vector<std::string>{"G"});
  CHECK(m.consumer_group("G") == nullptr);
  CHECK(m.producer_groups().empty());
}

TEST_CASE("silent channels expire after channelExpiredTimeout") {
  ClientManager m;
  m.heartbeat(heartbeat("old", "G", "T", "*"), 1, {}, "a", "JAVA", 1, 0);
  m.heartbeat(heartbeat("new", "G", "T", "*"), 2, {}, "b", "JAVA", 1, 100'000);
  auto [changed, dropped] = m.scan_expired(120'000, 120'000);
  CHECK(changed.empty());
  auto [changed2, dropped2] = m.scan_expired(120'001, 120'000);
  CHECK(changed2 == std::vector<std::string>{"G"});
  CHECK(dropped2.size() == 2);  // its producer and consumer entries
  CHECK(m.consumer_group("G")->client_ids() == std::vector<std::string>{"new"});
}

TEST_CASE("subscription expressions parse as the client builds them") {
  auto all = SubscriptionData::from_expression("T", " * ", 1);
  CHECK(all.matches_all());
  auto two = SubscriptionData::from_expression("T", "TagA || TagB ||", 1);
  CHECK_FALSE(two.matches_all());
  CHECK(two.tags_set == std::set<std::string>{"TagA", "TagB"});
  CHECK(two.code_set == std::set<int32_t>{2598919, 2598920});
}

TEST_CASE("held pulls run on arrival of a newer offset, on expiry, or on clear") {
  PullHoldService h;
  int a = 0, b = 0, c = 0;
  h.hold("T", 0, 5, 1000, [&] { ++a; });
  h.hold("T", 0, 7, 2000, [&] { ++b; });
  h.hold("T", 1, 0, 3000, [&] { ++c; });
  CHECK(h.size() == 3);
  CHECK(h.next_deadline_ms() == 1000);
  h.notify_message_arriving("T", 0, 6);  // offset 6 now exists: wakes the pull waiting at 5 only
  CHECK(a == 1);
  CHECK(b == 0);
  h.expire(1999);
  CHECK(b == 0);
  h.expire(2000);
  CHECK(b == 1);
  h.notify_message_arriving("Other", 1, 100);
  CHECK(c == 0);
  h.clear();
  CHECK(c == 1);
  CHECK(h.size() == 0);
}

TEST_CASE("topics: system topics, auto-create from TBW102 with inherit, retry topics, JSON round trip") {
  TopicConfigManager t;
  t.add_system_topics("C", "b", true, 8, 1000);
  REQUIRE(t.find("TBW102"));
  CHECK(t.find("TBW102")->perm == (perm::kInherit | perm::kReadWrite));
  auto created = t.create_in_send("NewTopic", "TBW102", 4, 0, 2000);
  REQUIRE(created);
  CHECK(created->write_queue_nums == 4);
  CHECK(created->perm == perm::kReadWrite);
  CHECK_FALSE(t.create_in_send("X", "SELF_TEST_TOPIC", 4, 0, 2000));  // no inherit bit
  CHECK(t.create_retry_topic("%RETRY%G", 1, 3000));
  CHECK_FALSE(t.create_retry_topic("%RETRY%G", 1, 3000));
  CHECK(t.take_dirty());
  CHECK(t.data_version().counter == 2);
  TopicConfigManager back;
  REQUIRE(back.load_json_text(t.to_json_text()).ok());
  CHECK(back.table() == t.table());
  CHECK(back.data_version() == t.data_version());
}

TEST_CASE("consumer offsets: fastjson's unquoted keys out and in, and the Java fixture's file") {
  ConsumerOffsetManager o;
  o.commit("G", "T", 0, 12);
  o.commit("G", "T", 3, 7);
  o.commit("H", "T", 1, 1);
  CHECK(o.query("G", "T", 3) == 7);
  CHECK(o.query("G", "T", 2) == -1);
  std::string text = o.to_json_text();
  CHECK(text == "{\"offsetTable\":{\"T@G\":{0:12,3:7},\"T@H\":{1:1}}}");
  ConsumerOffsetManager back;
  REQUIRE(back.load_json_text(text).ok());
  CHECK(back.table() == o.table());
  CHECK(back.groups_of_topic("T") == std::vector<std::string>{"G", "H"});
  back.remove_group("G");
  CHECK(back.groups_of_topic("T") == std::vector<std::string>{"H"});
  auto java = read_config_file(std::string(MQ_FIXTURES_DIR) + "/java494-store/config/consumerOffset.json");
  REQUIRE(java);
  ConsumerOffsetManager from_java;
  REQUIRE(from_java.load_json_text(*java).ok());
  CHECK_FALSE(from_java.table().empty());
  SubscriptionGroupManager groups;
  auto java_groups = read_config_file(std::string(MQ_FIXTURES_DIR) + "/java494-store/config/subscriptionGroup.json");
  REQUIRE(java_groups);
  REQUIRE(groups.load_json_text(*java_groups).ok());
  CHECK(groups.find("TOOLS_CONSUMER"));
  TopicConfigManager topics;
  auto java_topics = read_config_file(std::string(MQ_FIXTURES_DIR) + "/java494-store/config/topics.json");
  REQUIRE(java_topics);
  REQUIRE(topics.load_json_text(*java_topics).ok());
  CHECK(topics.find("FixtureTopicA"));
}

TEST_CASE("broker config: RocketMQ keys, role rules, errors name file, line and key") {
  auto f = parse_properties("b.conf", "brokerName=broker-a\nbrokerRole=SLAVE\nbrokerId=0\n");
  BrokerConfig c;
  auto r = c.load(*f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.detail() == "b.conf:3: key 'brokerId': slave broker id must be > 0");
  auto g = parse_properties("g.conf", "brokerName=broker-a\nlistenPort=20911\nflushDiskType=SYNC_FLUSH\nfancyKey=1\n");
  BrokerConfig ok;
  auto w = ok.load(*g);
  REQUIRE(w.ok());
  CHECK(w->size() == 1);
  CHECK(ok.effective_ha_listen_port() == 20912);
  CHECK(ok.store.flush_disk_type == store::FlushDiskType::kSyncFlush);
  CHECK(ok.update_live({{"brokerPermission", "4"}}).empty());
  CHECK(ok.broker_permission == 4);
  CHECK(ok.update_live({{"listenPort", "1"}}).find("cannot be changed") != std::string::npos);
  auto bad = parse_properties("x.conf", "brokerName=b\nflushDiskType=SOMETIMES\n");
  BrokerConfig bc;
  auto br = bc.load(*bad);
  REQUIRE_FALSE(br.ok());
  CHECK(br.detail().rfind("x.conf:2: key 'flushDiskType'", 0) == 0);
}

TEST_CASE("metadata files: the .bak copy is read when the main file is missing, empty or torn") {
  test::TempDir dir;
  std::string path = dir.path() + "/config/consumerOffset.json";
  ConsumerOffsetManager v1, v2;
  v1.commit("G", "T", 0, 1);
  v2.commit("G", "T", 0, 2);
  REQUIRE(write_file_atomically(path, v1.to_json_text()).empty());
  REQUIRE(write_file_atomically(path, v2.to_json_text()).empty());  // v1 is now the .bak
  auto load = [&]() -> int64_t {
    auto text = read_config_file(path);
    ConsumerOffsetManager m;
    if (!text || !m.load_json_text(*text).ok()) return -2;
    return m.query("G", "T", 0);
  };
  CHECK(load() == 2);
  std::filesystem::resize_file(path, 7);  // torn
  CHECK(load() == 1);
  std::filesystem::resize_file(path, 0);  // emptied
  CHECK(load() == 1);
  std::filesystem::remove(path);  // gone
  CHECK(load() == 1);
  std::filesystem::remove(path + ".bak");
  CHECK(load() == -2);
}

TEST_CASE("metadata loaders never throw on mutated input") {
  std::string base = R"({"dataVersion":{"counter":1,"timestamp":2},"offsetTable":{"T@G":{0:36,1:27}},)"
                     R"("topicConfigTable":{"T":{"topicName":"T","perm":6,"readQueueNums":4}},)"
                     R"("subscriptionGroupTable":{"G":{"groupName":"G","brokerId":0}}})";
  Random rng(5);
  for (int i = 0; i < 5000; ++i) {
    std::string s = base;
    for (int k = 0; k < 3; ++k)
      s[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(s.size()) - 1))] = "{}:,\"0a-\x01"[rng.uniform(0, 9)];
    ConsumerOffsetManager o;
    TopicConfigManager t;
    SubscriptionGroupManager g;
    (void)o.load_json_text(s);
    (void)t.load_json_text(s);
    (void)g.load_json_text(s);
  }
}
