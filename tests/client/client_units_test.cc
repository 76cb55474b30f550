// Pure pieces of the client: ids, subscriptions, queue selection, allocation, request building.
#include <doctest/doctest.h>

#include <set>

#include "base/hash.h"
#include "client/client_common.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "client/topic_route_cache.h"
#include "codec/codes.h"
#include "codec/fastjson.h"

using namespace mq;

namespace {
TopicRouteData two_broker_route(int32_t queues_a = 4, int32_t queues_b = 4, int32_t perm_b = 6) {
  TopicRouteData r;
  // Listed out of order on purpose: clients sort by brokerName.
  r.queue_datas.push_back(QueueData{"broker-b", queues_b, queues_b, perm_b, 0});
  r.queue_datas.push_back(QueueData{"broker-a", queues_a, queues_a, 6, 0});
  BrokerData a{"c", "broker-a", {{0, "127.0.0.1:10911"}, {1, "127.0.0.1:10921"}}};
  BrokerData b{"c", "broker-b", {{0, "127.0.0.1:10931"}}};
  r.broker_datas = {a, b};
  return r;
}
}  // namespace

TEST_CASE("UNIQ_KEY: ip, pid, instance hash, ms since the month started, counter, as Java") {
  UniqIdGenerator g("127.0.0.1", 14798, 0x5FFD2B27);
  CHECK(g.fixed_prefix() == "7F00000139CE5FFD2B27");  // the prefix of the captured Java ids
  int64_t now = 1795310777342;                        // a bornTimestamp from the capture
  int64_t next_month = 0;
  int64_t start = UniqIdGenerator::month_start_ms(now, &next_month);
  CHECK(start <= now);
  CHECK(now - start < 31LL * 24 * 3600 * 1000);
  CHECK(next_month > now);
  std::string a = g.next_at(now);
  std::string b = g.next_at(now);
  REQUIRE(a.size() == 32);
  CHECK(a.substr(0, 20) == g.fixed_prefix());
  CHECK(a.substr(28) == "0000");
  CHECK(b.substr(28) == "0001");
  CHECK(std::stoll(a.substr(20, 8), nullptr, 16) == now - start);
  for (char c : a) CHECK(((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')));
  // The Java producer's first id had diff 0x6C748BFD (its month start in its time zone); ours, in
  // UTC, must be the same number of ms into the month when the zone is UTC.
  if (start % (24 * 3600 * 1000) == 0) CHECK(a.substr(20, 8) == "6C748BFE");
}

TEST_CASE("clientID and NameServer lists") {
  CHECK(make_client_id("10.0.0.9", "123#456") == "10.0.0.9@123#456");
  CHECK(default_instance_name() != default_instance_name());
  auto ns = split_addr_list(" 127.0.0.1:9876; ;127.0.0.2:9876;");
  REQUIRE(ns.size() == 2);
  CHECK(ns[1] == "127.0.0.2:9876");
}

TEST_CASE("tag expressions: '*' is everything, '||' lists carry Java String.hashCode codes") {
  auto all = SubscriptionData::build("T", "*", 1);
  CHECK(all.all_tags());
  CHECK(all.code_set.empty());
  CHECK(all.sub_string == "*");
  CHECK(all.matches_tag("anything"));
  auto two = SubscriptionData::build("T", "TagA || TagB", 7);
  REQUIRE(two.tags_set == std::vector<std::string>{"TagA", "TagB"});
  CHECK(two.code_set == std::vector<int32_t>{2598919, 2598920});  // the reference's example
  CHECK(two.sub_string == "TagA || TagB");
  CHECK(two.matches_tag("TagB"));
  CHECK_FALSE(two.matches_tag("TagC"));
  CHECK_FALSE(two.matches_tag(""));
  auto odd = SubscriptionData::build("T", " TagA||TagA|| ||  标签 ", 7);
  CHECK(odd.tags_set == std::vector<std::string>{"TagA", "标签"});
  CHECK(odd.code_set[1] == java_string_hash("标签"));
  auto json = two.to_json();
  CHECK(json["codeSet"][0] == 2598919);
  CHECK(json["expressionType"] == "TAG");
  CHECK(json["classFilterMode"] == false);
}

TEST_CASE("heartbeat body has the Java shape") {
  ConsumerData cd;
  cd.group_name = "g";
  cd.consume_from_where = "CONSUME_FROM_FIRST_OFFSET";
  cd.subscriptions = {SubscriptionData::build("%RETRY%g", "*", 1), SubscriptionData::build("T", "TagA", 2)};
  auto body = nlohmann::json::parse(encode_heartbeat_body("1.2.3.4@9#9", {"pg"}, {cd}));
  CHECK(body["clientID"] == "1.2.3.4@9#9");
  CHECK(body["producerDataSet"][0]["groupName"] == "pg");
  auto c = body["consumerDataSet"][0];
  CHECK(c["consumeType"] == "CONSUME_PASSIVELY");
  CHECK(c["messageModel"] == "CLUSTERING");
  CHECK(c["unitMode"] == false);
  CHECK(c["subscriptionDataSet"][1]["tagsSet"][0] == "TagA");
  auto unreg = make_unregister_request("id", "", "g");
  CHECK(unreg.code == request_code::kUnregisterClient);
  CHECK(*unreg.ext_fields.find("consumerGroup") == "g");
  CHECK_FALSE(unreg.ext_fields.contains("producerGroup"));
}

TEST_CASE("publish queues: writable queues of brokers with a master, sorted by brokerName") {
  auto r = two_broker_route();
  auto q = publish_queues("T", r);
  REQUIRE(q.size() == 8);
  CHECK(q[0].broker_name == "broker-a");
  CHECK(q[4].broker_name == "broker-b");
  CHECK(q[7].queue_id == 3);
  CHECK(publish_queues("T", two_broker_route(4, 4, perm::kRead)).size() == 4);  // b read-only
  auto no_master = two_broker_route();
  no_master.broker_datas[1].broker_addrs = {{1, "x:1"}};
  CHECK(publish_queues("T", no_master).size() == 4);
  CHECK(publish_queues("T", two_broker_route(8, 8), 4).size() == 8);  // TBW102 cap of 4 each
  auto ordered = two_broker_route();
  ordered.order_topic_conf = "broker-b:2;broker-a:1";
  auto oq = publish_queues("T", ordered);
  REQUIRE(oq.size() == 3);
  CHECK(oq[0].broker_name == "broker-b");
  auto sq = subscribe_queues("T", two_broker_route(4, 2, perm::kRead));
  CHECK(sq.size() == 6);
  CHECK(std::is_sorted(sq.begin(), sq.end()));
}

TEST_CASE("queue selection is round robin and avoids the broker that just failed") {
  TopicPublishInfo info;
  info.queues = publish_queues("T", two_broker_route(2, 2));
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.push_back(info.select("")->to_string());
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 4);
  for (int i = 0; i < 10; ++i) CHECK(info.select("broker-a")->broker_name == "broker-b");
  for (int i = 0; i < 10; ++i) CHECK(info.select("broker-b")->broker_name == "broker-a");
  TopicPublishInfo single;
  single.queues = {{"T", "only", 0}};
  CHECK(single.select("only")->broker_name == "only");  // nothing else: the same broker again
  TopicPublishInfo none;
  CHECK(none.select("") == nullptr);
}

TEST_CASE("AllocateMessageQueueAveragely") {
  std::vector<MessageQueue> mqs;
  for (int i = 0; i < 8; ++i) mqs.push_back({"T", i < 4 ? "a" : "b", i % 4});
  std::sort(mqs.begin(), mqs.end());
  std::vector<std::string> cids = {"c1", "c2", "c3"};
  auto q1 = allocate_averagely("c1", cids, mqs);
  auto q2 = allocate_averagely("c2", cids, mqs);
  auto q3 = allocate_averagely("c3", cids, mqs);
  // 8 queues, 3 consumers: 3 + 3 + 2, contiguous blocks.
  REQUIRE(q1.size() == 3);
  REQUIRE(q2.size() == 3);
  REQUIRE(q3.size() == 2);
  CHECK(q1[0] == mqs[0]);
  CHECK(q2[0] == mqs[3]);
  CHECK(q3[0] == mqs[6]);
  CHECK(q3[1] == mqs[7]);
  CHECK(allocate_averagely("stranger", cids, mqs).empty());
  // More consumers than queues: one each, the rest idle.
  std::vector<MessageQueue> two(mqs.begin(), mqs.begin() + 2);
  CHECK(allocate_averagely("c1", cids, two) == std::vector<MessageQueue>{two[0]});
  CHECK(allocate_averagely("c2", cids, two) == std::vector<MessageQueue>{two[1]});
  CHECK(allocate_averagely("c3", cids, two).empty());
  CHECK(allocate_averagely("c1", {"c1"}, mqs) == mqs);
  // Every queue owned exactly once, for many shapes.
  for (size_t m = 1; m < 20; ++m)
    for (size_t n = 1; n < 7; ++n) {
      std::vector<MessageQueue> all(mqs.begin(), mqs.begin() + std::min<size_t>(m, 8));
      std::vector<std::string> ids;
      for (size_t i = 0; i < n; ++i) ids.push_back("c" + std::to_string(i));
      std::sort(ids.begin(), ids.end());
      size_t total = 0;
      std::set<MessageQueue> owned;
      for (auto& id : ids)
        for (auto& q : allocate_averagely(id, ids, all)) {
          ++total;
          owned.insert(q);
        }
      CHECK(total == all.size());
      CHECK(owned.size() == all.size());
    }
}

TEST_CASE("message properties, compression threshold and response parsing") {
  Message m;
  m.topic = "T";
  m.body = "x";
  m.tags = "TagA";
  m.keys = "k1 k2";
  m.user_properties = {{"color", "blue"}};
  std::string props = build_message_properties(m, "ID");
  CHECK(find_property(props, "TAGS") == "TagA");
  CHECK(find_property(props, "KEYS") == "k1 k2");
  CHECK(find_property(props, "UNIQ_KEY") == "ID");
  CHECK(find_property(props, "WAIT") == "true");
  CHECK(find_property(props, "color") == "blue");
  CHECK_FALSE(find_property(props, "DELAY").has_value());
  CHECK(props.back() != kPropertySeparator);

  CHECK_FALSE(should_compress(4095, 4096));
  CHECK(should_compress(4096, 4096));
  CHECK(kCompressedSysFlag == 769);  // what the 4.9.4 client sent for its 6000-byte body

  RemotingCommand ok = RemotingCommand::response_to(RemotingCommand::request(310), 0);
  ok.ext_fields.set("msgId", std::string("7F00000100002A9F0000000000000000"));
  ok.ext_fields.set("queueId", std::string("2"));
  ok.ext_fields.set("queueOffset", std::string("41"));
  ok.ext_fields.set("MSG_REGION", std::string("DefaultRegion"));
  MessageQueue mq{"T", "broker-a", 0};
  auto r = parse_send_response(ok, mq, "UNIQ");
  REQUIRE(r.ok());
  CHECK(r->status == SendStatus::kSendOk);
  CHECK(r->queue.queue_id == 2);
  CHECK(r->queue_offset == 41);
  CHECK(r->msg_id == "UNIQ");
  CHECK(r->offset_msg_id == "7F00000100002A9F0000000000000000");
  ok.code = response_code::kFlushDiskTimeout;
  CHECK(parse_send_response(ok, mq, "U")->status == SendStatus::kFlushDiskTimeout);
  ok.code = response_code::kSlaveNotAvailable;
  CHECK(parse_send_response(ok, mq, "U")->status == SendStatus::kSlaveNotAvailable);
  ok.code = response_code::kSystemError;
  auto bad = parse_send_response(ok, mq, "U");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.code().kind == ClientFailure::kBroker);
  CHECK(bad.code().response_code == 1);
  CHECK(is_retriable_send_code(1));
  CHECK(is_retriable_send_code(17));
  CHECK_FALSE(is_retriable_send_code(13));  // MESSAGE_ILLEGAL will not get better elsewhere
  RemotingCommand missing = RemotingCommand::response_to(RemotingCommand::request(310), 0);
  CHECK(parse_send_response(missing, mq, "U").code().kind == ClientFailure::kBadResponse);
}

TEST_CASE("pull request header carries the Java keys and sysFlag bits") {
  PullRequestHeader h;
  h.consumer_group = "g";
  h.topic = "T";
  h.queue_id = 3;
  h.queue_offset = 7;
  h.sys_flag = pull_sysflag::kCommitOffset | pull_sysflag::kSuspend;
  h.commit_offset = 6;
  h.sub_version = 1795310779649;
  auto req = make_pull_request(h);
  CHECK(req.code == request_code::kPullMessage);
  std::set<std::string> keys;
  for (auto& [k, v] : req.ext_fields.entries()) keys.insert(k);
  CHECK(keys == std::set<std::string>{"consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums", "sysFlag",
                                      "commitOffset", "suspendTimeoutMillis", "subVersion", "expressionType"});
  CHECK(*req.ext_fields.find("sysFlag") == "3");
  CHECK(*req.ext_fields.find("suspendTimeoutMillis") == "15000");
  h.subscription = "TagA";
  CHECK(*make_pull_request(h).ext_fields.find("subscription") == "TagA");
}
