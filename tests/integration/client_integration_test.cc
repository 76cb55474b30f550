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
