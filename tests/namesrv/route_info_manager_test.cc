// Route tables with an injected clock: registration, master-only queue data, slaves told their
// master, expiry by silence and by connection close, perm changes, route JSON key quoting.
#include <doctest/doctest.h>

#include "codec/codes.h"
#include "codec/fastjson.h"
#include "namesrv/route_info_manager.h"

using namespace mq;

namespace {
RegisterBrokerRequest broker(const std::string& name, int64_t id, const std::string& addr, uint64_t conn,
                             std::vector<std::string> topics = {"TopicA"}) {
  RegisterBrokerRequest r;
  r.cluster_name = "DefaultCluster";
  r.broker_name = name;
  r.broker_id = id;
  r.broker_addr = addr;
  r.ha_server_addr = addr.substr(0, addr.find(':')) + ":1" + addr.substr(addr.find(':') + 1);
  r.connection_id = conn;
  r.topics.data_version = DataVersion{1, 0, 1000};
  for (auto& t : topics) {
    TopicConfig c;
    c.topic_name = t;
    c.read_queue_nums = 4;
    c.write_queue_nums = 4;
    r.topics.topic_config_table[t] = c;
  }
  return r;
}
}  // namespace

TEST_CASE("routes list every group that serves a topic, with brokerAddrs keyed by brokerId") {
  ManualClock clock;
  RouteInfoManager m(clock, 120'000);
  m.register_broker(broker("broker-a", 0, "127.0.0.1:10911", 1));
  m.register_broker(broker("broker-b", 0, "127.0.0.1:10921", 2, {"TopicA", "TopicB"}));
  auto r = m.pickup_topic_route("TopicA");
  REQUIRE(r);
  CHECK(r->queue_datas.size() == 2);
  CHECK(r->broker_datas.size() == 2);
  CHECK(r->broker_datas[0].broker_addrs.at(0) == "127.0.0.1:10911");
  CHECK(r->queue_datas[0].perm == perm::kReadWrite);
  CHECK_FALSE(m.pickup_topic_route("Nope"));
  CHECK(m.all_topics() == std::vector<std::string>{"TopicA", "TopicB"});
  CHECK(m.topics_by_cluster("DefaultCluster").size() == 2);
  CHECK(m.topics_by_cluster("Other").empty());
}

TEST_CASE("queue data comes only from the master; a slave learns its master's addresses") {
  ManualClock clock;
  RouteInfoManager m(clock, 120'000);
  auto slave_first = m.register_broker(broker("broker-a", 1, "127.0.0.1:10915", 2, {"SlaveOnly"}));
  CHECK(slave_first.master_addr.empty());
  CHECK_FALSE(m.pickup_topic_route("SlaveOnly"));  // a slave's topics are not routed
  m.register_broker(broker("broker-a", 0, "127.0.0.1:10911", 1));
  auto slave = m.register_broker(broker("broker-a", 1, "127.0.0.1:10915", 2, {"SlaveOnly"}));
  CHECK(slave.master_addr == "127.0.0.1:10911");
  CHECK(slave.ha_server_addr == "127.0.0.1:110911");
  auto r = m.pickup_topic_route("TopicA");
  REQUIRE(r);
  REQUIRE(r->broker_datas.size() == 1);
  CHECK(r->broker_datas[0].broker_addrs.size() == 2);
  CHECK(r->broker_datas[0].broker_addrs.at(1) == "127.0.0.1:10915");
}

TEST_CASE("a broker silent past the expiry is removed by the scan; others stay") {
  ManualClock clock;
  RouteInfoManager m(clock, 120'000);
  m.register_broker(broker("broker-a", 0, "127.0.0.1:10911", 1));
  clock.advance_ms(60'000);
  m.register_broker(broker("broker-b", 0, "127.0.0.1:10921", 2));
  clock.advance_ms(60'000);
  CHECK(m.scan_not_active_brokers().empty());  // exactly at the limit: still alive
  clock.advance_ms(1);
  auto gone = m.scan_not_active_brokers();
  CHECK(gone == std::vector<std::string>{"127.0.0.1:10911"});
  auto r = m.pickup_topic_route("TopicA");
  REQUIRE(r);
  REQUIRE(r->broker_datas.size() == 1);
  CHECK(r->broker_datas[0].broker_name == "broker-b");
  // QUERY_DATA_VERSION refreshes liveness too.
  clock.advance_ms(100'000);
  CHECK_FALSE(m.is_data_version_changed("127.0.0.1:10921", DataVersion{1, 0, 1000}));
  clock.advance_ms(100'000);
  CHECK(m.scan_not_active_brokers().empty());
  clock.advance_ms(30'000);
  CHECK(m.scan_not_active_brokers().size() == 1);
  CHECK_FALSE(m.pickup_topic_route("TopicA"));
  CHECK(m.cluster_info_json()["clusterAddrTable"].empty());
}

TEST_CASE("closing a broker's connection removes exactly the brokers registered over it") {
  ManualClock clock;
  RouteInfoManager m(clock, 120'000);
  m.register_broker(broker("broker-a", 0, "127.0.0.1:10911", 7));
  m.register_broker(broker("broker-a", 1, "127.0.0.1:10915", 8));
  m.register_broker(broker("broker-b", 0, "127.0.0.1:10921", 9));
  CHECK(m.on_connection_closed(7) == std::vector<std::string>{"127.0.0.1:10911"});
  auto r = m.pickup_topic_route("TopicA");
  REQUIRE(r);
  CHECK(r->broker_datas.size() == 2);  // broker-a still has its slave
  CHECK(r->broker_datas[0].broker_addrs.count(0) == 0);
  m.unregister_broker("DefaultCluster", "127.0.0.1:10915", "broker-a", 1);
  r = m.pickup_topic_route("TopicA");
  REQUIRE(r);
  CHECK(r->broker_datas.size() == 1);
  CHECK(m.on_connection_closed(12345).empty());
}

TEST_CASE("wipe and add write permission, delete a topic") {
  ManualClock clock;
  RouteInfoManager m(clock, 120'000);
  m.register_broker(broker("broker-a", 0, "127.0.0.1:10911", 1, {"T1", "T2"}));
  CHECK(m.wipe_write_perm("broker-a") == 2);
  CHECK(m.pickup_topic_route("T1")->queue_datas[0].perm == perm::kRead);
  CHECK(m.add_write_perm("broker-a") == 2);
  CHECK(m.pickup_topic_route("T1")->queue_datas[0].perm == perm::kReadWrite);
  CHECK(m.wipe_write_perm("nobody") == 0);
  m.delete_topic("T1", "");
  CHECK_FALSE(m.pickup_topic_route("T1"));
  CHECK(m.pickup_topic_route("T2"));
}

TEST_CASE("route body keys are quoted for new clients and unquoted for old ones") {
  ManualClock clock;
  RouteInfoManager m(clock, 120'000);
  m.register_broker(broker("broker-a", 0, "127.0.0.1:10911", 1));
  auto r = m.pickup_topic_route("TopicA");
  REQUIRE(r);
  std::string strict = encode_route_body(*r, true);
  std::string plain = encode_route_body(*r, false);
  CHECK(strict.find("\"brokerAddrs\":{\"0\":\"127.0.0.1:10911\"}") != std::string::npos);
  CHECK(plain.find("\"brokerAddrs\":{0:\"127.0.0.1:10911\"}") != std::string::npos);
  // Both decode back to the same route.
  auto a = TopicRouteData::parse(strict), b = TopicRouteData::parse(plain);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->broker_datas[0].broker_addrs == b->broker_datas[0].broker_addrs);
  CHECK(a->queue_datas == b->queue_datas);
}
