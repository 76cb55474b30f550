// The C++ client library against real processes: producer route lookup (including a topic that the
// broker auto-creates from TBW102), compression, two consumers of one group sharing the queues
// after NOTIFY_CONSUMER_IDS_CHANGED, and no message lost across the rebalance.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "client/admin_client.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "cluster.h"
#include "codec/codes.h"

#include <nlohmann/json.hpp>

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

TEST_CASE("client library: produce, auto-create, and two consumers of one group share the queues") {
  NamesrvProcess ns;
  REQUIRE(ns.port > 0);
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-p"}, {"broker-q"}}, dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  AdminClient admin(ns.addr());
  REQUIRE(wait_until([&] {
    auto info = admin.get_cluster_info();
    return info.ok() && info->cluster_addr_table["TestCluster"].size() == 2;
  }, 10s));
  REQUIRE(create_topic(ns.addr(), "TestCluster", "ShareTopic", 4));

  ProducerOptions popts;
  popts.name_servers = ns.addr();
  popts.group = "share_producer";
  BlockingProducer producer(popts);

  // A topic nobody created: the producer routes by TBW102 and the broker creates it.
  Message auto_msg;
  auto_msg.topic = "AutoCreated";
  auto_msg.body = "created on first send";
  auto first = producer.send(auto_msg);
  REQUIRE_MESSAGE(first.ok(), first.detail());
  CHECK(wait_until([&] { return admin.get_route("AutoCreated").ok(); }, 10s));

  const int total = 200;
  std::map<std::string, int> expected;  // index -> body size
  std::set<std::string> brokers;
  for (int i = 0; i < total; ++i) {
    Message m;
    m.topic = "ShareTopic";
    m.body = std::string(i % 10 == 0 ? 10'000 : 64, static_cast<char>('a' + i % 26));
    m.tags = i % 2 ? "Odd" : "Even";
    m.keys = "k" + std::to_string(i);
    m.user_properties = {{"index", std::to_string(i)}};
    auto r = producer.send(m);
    REQUIRE_MESSAGE(r.ok(), r.detail());
    brokers.insert(r->queue.broker_name);
    expected[std::to_string(i)] = static_cast<int>(m.body.size());
  }
  CHECK(brokers.size() == 2);

  ConsumerOptions copts;
  copts.name_servers = ns.addr();
  copts.group = "share_group";
  copts.consume_from_where = ConsumeFromWhere::kFirstOffset;
  copts.rebalance_interval_ms = 1000;
  copts.persist_offset_interval_ms = 500;
  std::map<std::string, int> seen;
  auto take = [&](std::vector<ReceivedMessage> batch, const char* who) {
    for (const auto& msg : batch) {
      auto idx = msg.property("index");
      REQUIRE(idx);
      REQUIRE(expected.count(*idx));
      CHECK(static_cast<int>(msg.body.size()) == expected[*idx]);
      CHECK(msg.keys == "k" + *idx);
      CHECK(msg.tags == (std::stoi(*idx) % 2 ? "Odd" : "Even"));
      ++seen[*idx];
      (void)who;
    }
  };
  copts.instance_name = "consumer-a";
  BlockingConsumer a(copts);
  a.subscribe("ShareTopic", "*");
  REQUIRE(a.start());
  take(a.poll(50, 5000), "a");
  copts.instance_name = "consumer-b";
  BlockingConsumer b(copts);
  b.subscribe("ShareTopic", "*");
  REQUIRE(b.start());
  // Both members poll until every message has arrived and the queues are split between them.
  bool split = false;
  for (int round = 0; round < 200 && (seen.size() < expected.size() || !split); ++round) {
    take(a.poll(64, 100), "a");
    take(b.poll(64, 100), "b");
    // Owned queues include each broker's %RETRY%share_group queue; count the topic's 8 only.
    std::set<std::string> all;
    size_t na = 0, nb = 0;
    for (const auto& q : a.consumer().owned_queues())
      if (q.topic == "ShareTopic" && all.insert(q.broker_name + "/" + std::to_string(q.queue_id)).second) ++na;
    for (const auto& q : b.consumer().owned_queues())
      if (q.topic == "ShareTopic" && all.insert(q.broker_name + "/" + std::to_string(q.queue_id)).second) ++nb;
    size_t owned_total = 0;
    for (BlockingConsumer* cons : {&a, &b})
      for (const auto& q : cons->consumer().owned_queues()) owned_total += q.topic == "ShareTopic";
    split = na > 0 && nb > 0 && all.size() == 8 && owned_total == 8;
  }
  INFO("a owns " << a.consumer().owned_queues().size() << ", b owns " << b.consumer().owned_queues().size()
                 << ", rebalances a=" << a.consumer().rebalance_rounds() << " b=" << b.consumer().rebalance_rounds());
  CHECK(split);
  CHECK(seen.size() == expected.size());  // nothing lost; a rebalance may redeliver (at least once)
  CHECK(c.stop() == 0);
}

TEST_CASE("mqadmin consumerConnection, deleteSubGroup and deleteTopic against live brokers") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess c(ns.addr(), {{"broker-adm"}}, dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "AdmTopic", 2));
  AdminClient admin(ns.addr());

  ConsumerOptions copts;
  copts.name_servers = ns.addr();
  copts.group = "adm_group";
  copts.instance_name = "adm-consumer";
  BlockingConsumer consumer(copts);
  consumer.subscribe("AdmTopic", "TagA || TagB");
  REQUIRE(consumer.start());
  auto conn = run_command({binary("mqadmin"), "consumerConnection", "-n", ns.addr(), "-g", "adm_group", "--json"});
  REQUIRE_MESSAGE(conn.exit_code == 0, conn.output);
  auto j = nlohmann::json::parse(conn.output);
  REQUIRE(j["connectionSet"].size() == 1);
  CHECK(j["connectionSet"][0]["clientId"].get<std::string>() == consumer.consumer().client_id());
  CHECK(j["subscriptionTable"]["AdmTopic"]["subString"] == "TagA || TagB");
  CHECK(j["messageModel"] == "CLUSTERING");
  auto table = run_command({binary("mqadmin"), "consumerConnection", "-n", ns.addr(), "-g", "adm_group"});
  CHECK(table.output.find("SubExpression: TagA || TagB") != std::string::npos);
  auto nobody = run_command({binary("mqadmin"), "consumerConnection", "-n", ns.addr(), "-g", "nobody_group"});
  CHECK(nobody.exit_code == 1);
  CHECK(nobody.output.find("not online") != std::string::npos);

  // The group's config goes; its offsets too with -r true.
  REQUIRE(run_command({binary("mqadmin"), "updateSubGroup", "-n", ns.addr(), "-c", "TestCluster", "-g", "doomed_group"})
              .exit_code == 0);
  auto groups_have = [&](const std::string& group) {
    BlockingClient client;
    auto r = client.invoke(c.broker_addr(0), RemotingCommand::request(request_code::kGetAllSubscriptionGroupConfig));
    return r.ok() && r->body.find("\"" + group + "\"") != std::string::npos;
  };
  CHECK(groups_have("doomed_group"));
  auto del_group = run_command({binary("mqadmin"), "deleteSubGroup", "-n", ns.addr(), "-c", "TestCluster", "-g", "doomed_group", "-r", "true"});
  REQUIRE_MESSAGE(del_group.exit_code == 0, del_group.output);
  CHECK(del_group.output.find("delete subscription group [doomed_group]") != std::string::npos);
  CHECK_FALSE(groups_have("doomed_group"));

  // The topic leaves the broker and the NameServer's routes.
  CHECK(admin.get_route("AdmTopic").ok());
  auto del_topic = run_command({binary("mqadmin"), "deleteTopic", "-n", ns.addr(), "-c", "TestCluster", "-t", "AdmTopic"});
  REQUIRE_MESSAGE(del_topic.exit_code == 0, del_topic.output);
  CHECK(del_topic.output.find("delete topic [AdmTopic] from NameServer success.") != std::string::npos);
  CHECK_FALSE(admin.get_route("AdmTopic").ok());
  BlockingClient client;
  auto topics = client.invoke(c.broker_addr(0), RemotingCommand::request(request_code::kGetAllTopicConfig));
  REQUIRE(topics.ok());
  CHECK(topics->body.find("\"AdmTopic\"") == std::string::npos);
  auto unknown_cluster = run_command({binary("mqadmin"), "deleteTopic", "-n", ns.addr(), "-c", "NoSuchCluster", "-t", "AdmTopic"});
  CHECK(unknown_cluster.exit_code == 1);
  CHECK(c.stop() == 0);
}
