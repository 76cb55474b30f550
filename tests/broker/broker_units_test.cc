// Broker modules without sockets: client registry (heartbeats, membership changes, expiry),
// long-polling bookkeeping, metadata tables and their RocketMQ JSON shapes, broker config checks.
#include <doctest/doctest.h>

#include <filesystem>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/hash.h"
#include "broker/broker_config.h"
#include "broker/broker_stats.h"
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

TEST_CASE("consumer offsets: a float offset beyond int64 is skipped, not converted (found by libFuzzer)") {
  ConsumerOffsetManager o;
  REQUIRE(o.load_json_text(R"({"offsetTable":{"T@G":{0:4e44,1:-1e300,2:7,3:5.0}}})").ok());
  CHECK(o.query("G", "T", 0) == -1);
  CHECK(o.query("G", "T", 1) == -1);
  CHECK(o.query("G", "T", 2) == 7);
  CHECK(o.query("G", "T", 3) == 5);
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

TEST_CASE("DLedger peers: <id>-<host>:<port> entries, the id before the first '-', node = the id's digits") {
  CHECK(parse_dledger_node("n0") == 0u);
  CHECK(parse_dledger_node("n12") == 12u);
  CHECK(parse_dledger_node("node7") == 7u);
  CHECK(parse_dledger_node("n007") == 7u);
  CHECK(parse_dledger_node("n999999999") == 999999999u);
  for (const char* bad : {"", "n", "0", "7n", "n-1", "n+1", "n1a", "n 1", "n1234567890", "\xc3\xa9" "1"})
    CHECK_MESSAGE(!parse_dledger_node(bad), bad);

  auto peers = parse_dledger_peers("n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913");
  REQUIRE(peers.ok());
  REQUIRE(peers->size() == 3);
  CHECK((*peers)[1].id == "n1");
  CHECK((*peers)[1].node == 1u);
  CHECK((*peers)[1].host == "127.0.0.1");
  CHECK((*peers)[1].port == 40912);
  CHECK((*peers)[2].addr() == "127.0.0.1:40913");
  // Host names with '-' (the id ends at the first '-'), blanks around entries, a trailing ';',
  // bracketed IPv6 (the port follows the last ':'), a single node.
  auto more = parse_dledger_peers(" a10-broker-host-1.example:40911 ; b11-[::1]:7 ;");
  REQUIRE_MESSAGE(more.ok(), more.detail());
  REQUIRE(more->size() == 2);
  CHECK((*more)[0].id == "a10");
  CHECK((*more)[0].node == 10u);
  CHECK((*more)[0].host == "broker-host-1.example");
  CHECK((*more)[1].host == "[::1]");
  CHECK((*more)[1].port == 7);
  CHECK(parse_dledger_peers("n5-h:1")->front().node == 5u);

  auto why = [](const std::string& text) {
    auto r = parse_dledger_peers(text);
    REQUIRE_FALSE(r.ok());
    return r.detail();
  };
  CHECK(why("") == "entry 1 '' is empty (expected <id>-<host>:<port>, ';'-separated)");
  CHECK(why("n0-h:1;;n1-h:2") == "entry 2 '' is empty (expected <id>-<host>:<port>, ';'-separated)");
  CHECK(why("n0-h:1;n1") == "entry 2 'n1' is not <id>-<host>:<port>");
  CHECK(why("n0:h:1") == "entry 1 'n0:h:1' is not <id>-<host>:<port>");
  CHECK(why("x-h:1") == "entry 1 'x-h:1': id 'x' is not letters then digits (e.g. n0)");
  CHECK(why("-h:1") == "entry 1 '-h:1': id '' is not letters then digits (e.g. n0)");
  CHECK(why("n0-h") == "entry 1 'n0-h': address 'h' is not <host>:<port>");
  CHECK(why("n0-:1") == "entry 1 'n0-:1': address ':1' is not <host>:<port>");
  // Found by fuzz_config: a long port text once overflowed while its digits were summed.
  CHECK(why("n0-127.0.0.1:99999999999999999999") ==
        "entry 1 'n0-127.0.0.1:99999999999999999999': port '99999999999999999999' is not in [1, 65535]");
  CHECK(why("n0-h:") == "entry 1 'n0-h:': port '' is not in [1, 65535]");
  CHECK(why("n0-h:0") == "entry 1 'n0-h:0': port '0' is not in [1, 65535]");
  CHECK(why("n0-h:65536") == "entry 1 'n0-h:65536': port '65536' is not in [1, 65535]");
  CHECK(why("n0-h:4091x") == "entry 1 'n0-h:4091x': port '4091x' is not in [1, 65535]");
  CHECK(why("n0-h:1;n0-h:2") == "entry 2 'n0-h:2': id 'n0' is given twice");
  CHECK(why("n0-h:1;m0-h:2") == "entry 2 'm0-h:2': ids 'n0' and 'm0' have the same node number 0");
  CHECK(why("n1-h:1;n01-h:2") == "entry 2 'n01-h:2': ids 'n1' and 'n01' have the same node number 1");
  CHECK(why("n0-h:1;n1-h:1") == "entry 2 'n1-h:1': address h:1 is also n0's");
}

namespace {
// Loads `text` as file "d.conf"; returns the error, or "" (and the config through `out`).
std::string dledger_load(const std::string& text, BrokerConfig* out = nullptr, std::vector<std::string>* warnings = nullptr) {
  auto f = parse_properties("d.conf", text);
  REQUIRE(f.ok());
  BrokerConfig c;
  auto r = c.load(*f);
  if (!r.ok()) return r.detail();
  if (out) *out = c;
  if (warnings) *warnings = *r;
  return {};
}
const std::string kDLedgerBase =
    "brokerName=broker-a\n"                                                  // 1
    "storePathRootDir=/tmp/dl\n"                                             // 2
    "enableDLegerCommitLog=true\n"                                           // 3
    "dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\n"  // 4
    "dLegerSelfId=n1\n";                                                     // 5
}  // namespace

TEST_CASE("broker config: DLedger keys, defaults, ignored brokerId/brokerRole, GET/UPDATE_BROKER_CONFIG") {
  BrokerConfig plain;
  REQUIRE(dledger_load("brokerName=b\nlistenPort=10911\nsendMessageThreadPoolNums=16\n", &plain).empty());
  CHECK_FALSE(plain.is_dledger());
  CHECK(plain.dledger_self() == nullptr);
  CHECK(plain.container_broker_id() == 0);
  CHECK(plain.bound_ports().size() == 3);
  // Without enableDLegerCommitLog the DLedger keys are not checked (RocketMQ ignores them too).
  CHECK(dledger_load("brokerName=b\ndLegerPeers=garbage\ndLegerSelfId=zz\ndLegerTickMs=0\n").empty());

  BrokerConfig c;
  std::vector<std::string> warnings;
  REQUIRE(dledger_load(kDLedgerBase + "listenPort=10921\nsendMessageThreadPoolNums=16\n", &c, &warnings).empty());
  CHECK(warnings.empty());
  CHECK(c.is_dledger());
  CHECK(c.dledger_group == "broker-a");  // default: brokerName
  CHECK(c.dledger_peer_list.size() == 3);
  CHECK(c.dledger_self_node == 1u);
  REQUIRE(c.dledger_self() != nullptr);
  CHECK(c.dledger_self()->addr() == "127.0.0.1:40912");
  CHECK(c.dledger_preferred_node == BrokerConfig::kNoDLedgerNode);
  CHECK(c.dledger_dir() == "/tmp/dl/dledger-n1");
  CHECK(c.broker_id == 1);
  CHECK(c.container_broker_id() == 1);
  CHECK(c.broker_role == BrokerRole::kSlave);  // a candidate until elected
  CHECK(c.identity() == "DefaultCluster/broker-a/1");
  CHECK(c.bound_ports() == std::vector<int32_t>{10921, 10922, 10919, 40912});
  CHECK(c.dledger_tick_ms == 25);
  CHECK(c.dledger_heartbeat_interval_ms == 100);
  CHECK(c.dledger_election_timeout_ms == 300);
  CHECK(c.dledger_max_wait_ack_ms == 2500);
  CHECK(c.dledger_checkpoint_interval_ms == 3000);
  // The broker re-registers under other ids at run time; the container identity stays.
  c.broker_id = 0;
  CHECK(c.identity() == "DefaultCluster/broker-a/1");
  CHECK(c.container_broker_id() == 1);

  BrokerConfig all;
  REQUIRE(dledger_load(kDLedgerBase +
                           "dLegerGroup=RaftNode00\npreferredLeaderId=n2\nstorePathDLedgerCommitLog=/data/raft\n"
                           "enableBatchPush=true\ndLegerTickMs=10\ndLegerHeartbeatIntervalMs=50\n"
                           "dLegerElectionTimeoutMs=150\ndLegerMaxWaitAckTimeMs=1000\ndLegerCheckpointIntervalMs=500\n"
                           "storePathCommitLog=/tmp/dl/commitlog/\n",
                       &all, &warnings)
            .empty());
  CHECK(warnings.empty());
  CHECK(all.dledger_group == "RaftNode00");
  CHECK(all.preferred_leader_id == "n2");
  CHECK(all.dledger_preferred_node == 2u);
  CHECK(all.dledger_dir() == "/data/raft");
  CHECK(all.enable_batch_push);
  CHECK(all.dledger_tick_ms == 10);
  CHECK(all.dledger_heartbeat_interval_ms == 50);
  CHECK(all.dledger_election_timeout_ms == 150);
  CHECK(all.dledger_max_wait_ack_ms == 1000);
  CHECK(all.dledger_checkpoint_interval_ms == 500);
  std::string props = all.to_properties();
  for (const char* kv : {"enableDLegerCommitLog=true\n", "dLegerGroup=RaftNode00\n",
                         "dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\n", "dLegerSelfId=n1\n",
                         "preferredLeaderId=n2\n", "storePathDLedgerCommitLog=/data/raft\n", "enableBatchPush=true\n",
                         "dLegerTickMs=10\n", "dLegerHeartbeatIntervalMs=50\n", "dLegerElectionTimeoutMs=150\n",
                         "dLegerMaxWaitAckTimeMs=1000\n", "dLegerCheckpointIntervalMs=500\n", "brokerId=1\n"})
    CHECK_MESSAGE(props.find(kv) != std::string::npos, kv);
  CHECK(c.to_properties().find("storePathDLedgerCommitLog=/tmp/dl/dledger-n1\n") != std::string::npos);
  // Every printed key is one load() knows: GET_BROKER_CONFIG's text loads back without warnings.
  auto back = parse_properties("back.conf", props);
  REQUIRE(back.ok());
  BrokerConfig again;
  auto r = again.load(*back);
  REQUIRE_MESSAGE(r.ok(), r.detail());
  CHECK(r->size() == 2);  // only the notes on brokerId and brokerRole
  CHECK(again.dledger_peer_list == all.dledger_peer_list);

  // UPDATE_BROKER_CONFIG refuses every DLedger key by name and changes nothing.
  for (const char* key : {"enableDLegerCommitLog", "dLegerGroup", "dLegerPeers", "dLegerSelfId", "preferredLeaderId",
                          "storePathDLedgerCommitLog", "enableBatchPush", "dLegerTickMs", "dLegerHeartbeatIntervalMs",
                          "dLegerElectionTimeoutMs", "dLegerMaxWaitAckTimeMs", "dLegerCheckpointIntervalMs"}) {
    std::string why = all.update_live({{"brokerPermission", "4"}, {key, "n0"}});
    CHECK_MESSAGE(why.rfind("key '" + std::string(key) + "' cannot be changed while the broker runs", 0) == 0, why);
  }
  CHECK(all.broker_permission == 6);
  CHECK(all.preferred_leader_id == "n2");
  CHECK(all.update_live({{"brokerPermission", "4"}}).empty());
  CHECK(all.broker_permission == 4);

  // brokerId and brokerRole in a DLedger file: loaded, ignored, noted.
  BrokerConfig ignored;
  REQUIRE(dledger_load(kDLedgerBase + "brokerId=0\nbrokerRole=SYNC_MASTER\n", &ignored, &warnings).empty());
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0] ==
        "d.conf:6: key 'brokerId' ignored: a DLedger broker's id is the node number of dLegerSelfId (n1 -> 1) and its "
        "role follows the elections");
  CHECK(warnings[1].rfind("d.conf:7: key 'brokerRole' ignored", 0) == 0);
  CHECK(ignored.broker_id == 1);
  CHECK(ignored.broker_role == BrokerRole::kSlave);
  // ... where a slave's brokerId=0 would otherwise be an error.
  CHECK(dledger_load(kDLedgerBase + "brokerRole=SLAVE\nbrokerId=0\n").empty());

  // TOML, same keys.
  auto t = parse_toml("d.toml", "brokerName = \"broker-a\"\nenableDLegerCommitLog = true\n"
                                "dLegerPeers = \"n0-10.0.0.1:40911;n1-10.0.0.2:40911\"\ndLegerSelfId = \"n0\"\n"
                                "dLegerTickMs = 20\n");
  REQUIRE(t.ok());
  BrokerConfig tc;
  auto tr = tc.load(*t);
  REQUIRE_MESSAGE(tr.ok(), tr.detail());
  CHECK(tc.dledger_self()->addr() == "10.0.0.1:40911");
  CHECK(tc.dledger_tick_ms == 20);
}

TEST_CASE("broker config: DLedger errors name file, line and key") {
  struct Case {
    std::string extra;  // appended to kDLedgerBase (lines 1-5), so its first line is line 6
    std::string error;  // the expected start of the message
  };
  const Case cases[] = {
      // the peer list (line 4 unless replaced at line 6: a later definition wins)
      {"dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1\n",
       "d.conf:6: key 'dLegerPeers': entry 2 'n1-127.0.0.1': address '127.0.0.1' is not <host>:<port>"},
      {"dLegerPeers=n0-h:1;nx-h:2\n", "d.conf:6: key 'dLegerPeers': entry 2 'nx-h:2': id 'nx' is not letters then digits"},
      {"dLegerPeers=n0-h:1;n1-h:2;n1-h:3\n", "d.conf:6: key 'dLegerPeers': entry 3 'n1-h:3': id 'n1' is given twice"},
      {"dLegerPeers=n0-h:1;n1-h:2;m1-h:3\n",
       "d.conf:6: key 'dLegerPeers': entry 3 'm1-h:3': ids 'n1' and 'm1' have the same node number 1"},
      {"dLegerPeers=n0-h:1;n1-h:1\n", "d.conf:6: key 'dLegerPeers': entry 2 'n1-h:1': address h:1 is also n0's"},
      {"dLegerPeers=n0-h:1;n1-h:70000\n", "d.conf:6: key 'dLegerPeers': entry 2 'n1-h:70000': port '70000' is not in [1, 65535]"},
      {"dLegerPeers=\n", "d.conf:6: key 'dLegerPeers': must be set when enableDLegerCommitLog=true"},
      // the self id (line 5 unless replaced)
      {"dLegerSelfId=n7\n", "d.conf:6: key 'dLegerSelfId': 'n7' is not among the dLegerPeers ids"},
      {"dLegerSelfId=7\n", "d.conf:6: key 'dLegerSelfId': '7' is not an id (letters then digits, e.g. n0)"},
      {"dLegerSelfId=\n", "d.conf:6: key 'dLegerSelfId': must be set when enableDLegerCommitLog=true"},
      // the preferred leader
      {"preferredLeaderId=n3\n", "d.conf:6: key 'preferredLeaderId': 'n3' is not among the dLegerPeers ids"},
      {"preferredLeaderId=n0;n1\n", "d.conf:6: key 'preferredLeaderId': one peer id expected, got 'n0;n1'"},
      {"storePathDLedgerCommitLog=\n", "d.conf:6: key 'storePathDLedgerCommitLog': must not be empty"},
      // timing
      {"dLegerTickMs=0\n", "d.conf:6: key 'dLegerTickMs': must be in [1, 3600000] ms, got 0"},
      {"dLegerTickMs=-5\n", "d.conf:6: key 'dLegerTickMs': must be in [1, 3600000] ms, got -5"},
      {"dLegerTickMs=abc\n", "d.conf:6: key 'dLegerTickMs': expected an integer, got 'abc'"},
      {"dLegerMaxWaitAckTimeMs=0\n", "d.conf:6: key 'dLegerMaxWaitAckTimeMs': must be in [1, 3600000] ms, got 0"},
      {"dLegerCheckpointIntervalMs=99999999\n", "d.conf:6: key 'dLegerCheckpointIntervalMs': must be in [1, 3600000] ms"},
      // heartbeat < tick: the key the file sets is named (the default heartbeat is 100 ms)
      {"dLegerTickMs=200\n",
       "d.conf:6: key 'dLegerTickMs': dLegerHeartbeatIntervalMs (100 ms) must be at least dLegerTickMs (200 ms)"},
      {"dLegerTickMs=50\ndLegerHeartbeatIntervalMs=40\n",
       "d.conf:7: key 'dLegerHeartbeatIntervalMs': dLegerHeartbeatIntervalMs (40 ms) must be at least dLegerTickMs (50 ms)"},
      {"dLegerElectionTimeoutMs=199\n",
       "d.conf:6: key 'dLegerElectionTimeoutMs': dLegerElectionTimeoutMs (199 ms) must be at least twice "
       "dLegerHeartbeatIntervalMs (100 ms)"},
      {"dLegerHeartbeatIntervalMs=200\n", "d.conf:6: key 'dLegerHeartbeatIntervalMs': dLegerElectionTimeoutMs (300 ms)"},
      {"dLegerTickMs=40\ndLegerHeartbeatIntervalMs=40\ndLegerElectionTimeoutMs=100\ndLegerMaxWaitAckTimeMs=30\n",
       "d.conf:9: key 'dLegerMaxWaitAckTimeMs': dLegerMaxWaitAckTimeMs (30 ms) must be at least dLegerTickMs (40 ms)"},
      {"dLegerTickMs=40\ndLegerHeartbeatIntervalMs=40\ndLegerElectionTimeoutMs=100\ndLegerCheckpointIntervalMs=39\n",
       "d.conf:9: key 'dLegerCheckpointIntervalMs': dLegerCheckpointIntervalMs (39 ms) must be at least dLegerTickMs"},
      // the rest of the file keeps its rules
      {"enableBatchPush=yes\n", "d.conf:6: key 'enableBatchPush': expected true or false, got 'yes'"},
      {"storePathCommitLog=/elsewhere/commitlog\n",
       "d.conf:6: key 'storePathCommitLog': only storePathRootDir/commitlog is supported (/tmp/dl/commitlog)"},
      {"sendMessageThreadPoolNums=0\n", "d.conf:6: key 'sendMessageThreadPoolNums': must be at least 1"},
  };
  for (const auto& tc : cases) {
    CAPTURE(tc.extra);
    std::string why = dledger_load(kDLedgerBase + tc.extra);
    CHECK_MESSAGE(why.rfind(tc.error, 0) == 0, why);
  }
  // A key the file lacks is named at the line of enableDLegerCommitLog, which made it required.
  CHECK(dledger_load("brokerName=b\nenableDLegerCommitLog=true\ndLegerSelfId=n0\n") ==
        "d.conf:2: key 'dLegerPeers': must be set when enableDLegerCommitLog=true");
  CHECK(dledger_load("brokerName=b\nlistenPort=1000\nenableDLegerCommitLog=true\ndLegerPeers=n0-h:1\n") ==
        "d.conf:3: key 'dLegerSelfId': must be set when enableDLegerCommitLog=true");
}

TEST_CASE("BrokerStats: TPS over 10, 60 and 600 s from per-second snapshots, as RocketMQ prints them") {
  BrokerStats s;
  auto field = [&](const std::string& key, size_t i) {
    std::string v = s.runtime_info().at(key), out;
    size_t at = 0;
    for (size_t k = 0; k <= i; ++k) {
      size_t sp = v.find(' ', at);
      out = v.substr(at, sp == std::string::npos ? std::string::npos : sp - at);
      at = sp == std::string::npos ? v.size() : sp + 1;
    }
    return out;
  };
  s.sample(0, 100);
  // Until 11 snapshots exist there is no 10 s figure: RocketMQ prints empty fields ("  ").
  CHECK(s.runtime_info().at("putTps") == "  ");
  for (int sec = 1; sec <= 10; ++sec) {
    s.on_put(250);  // 250 messages a second
    s.on_get(true, 100);
    s.on_get(false, 0);
    s.sample(sec * 1000, 100);
  }
  CHECK(field("putTps", 0) == "250.0");
  CHECK(field("putTps", 1).empty());
  CHECK(field("getTransferedTps", 0) == "100.0");
  CHECK(field("getFoundTps", 0) == "1.0");
  CHECK(field("getMissTps", 0) == "1.0");
  CHECK(field("getTotalTps", 0) == "2.0");
  for (int sec = 11; sec <= 60; ++sec) {
    s.on_put(sec % 2 ? 3 : 0);  // 25 odd seconds of 3 messages in the last 50
    s.sample(sec * 1000, 100);
  }
  CHECK(field("putTps", 0) == "1.5");                  // 15 in 10 s
  CHECK(field("putTps", 1) == "42.916666666666664");  // 2575 in 60 s, as Java's Double.toString prints it
  CHECK(s.runtime_info().at("msgPutTotalTodayNow") == "2575");
  CHECK(s.runtime_info().at("msgGetTotalTodayNow") == "1000");
  CHECK(s.runtime_info().at("msgPutTotalTodayMorning") == "0");
  // Local midnight: today's morning becomes yesterday's, the totals become today's morning.
  s.sample(61000, 101);
  CHECK(s.runtime_info().at("msgPutTotalTodayMorning") == "2575");
  CHECK(s.runtime_info().at("msgGetTotalTodayMorning") == "1000");
  CHECK(s.runtime_info().at("msgPutTotalYesterdayMorning") == "0");
  s.on_put(5);
  s.sample(62000, 102);
  CHECK(s.runtime_info().at("msgPutTotalYesterdayMorning") == "2575");
  CHECK(s.runtime_info().at("msgPutTotalTodayMorning") == "2580");
}
