// Master-slave replication with real processes: cross-deployed containers (each hosts the master of
// one group and the slave of the other), slaves catching up and serving reads, metadata sync,
// SYNC_MASTER with SLAVE_NOT_AVAILABLE while the slave is down and recovery when it returns, reading
// from the slave while the master is dead, the master's return (nothing lost or duplicated, offsets
// carried back), the client library's consumer following a dead master to its slave, and a slave
// refusing a master whose log is shorter than its own.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/admin_client.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "cluster.h"
#include "codec/codes.h"
#include "codec/header_reader.h"
#include "codec/message.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;
namespace rc = response_code;

namespace {

// Fast timers so the tests wait seconds, not RocketMQ's defaults.
const std::string kFastSlave = "slaveSyncInterval=300\nhaSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\n";
const std::string kFastMaster = "haSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\n";

// The master's and the slave's CommitLog ends are equal (and known: a restarted process answers).
bool caught_up(AdminClient& admin, const ContainerProcess& master, const ContainerProcess& slave, const std::string& name);

std::string body_of(const std::string& tag, int i) {
  return tag + "-" + std::to_string(i) + std::string(static_cast<size_t>(i % 11) * 37, 'r');
}

// The status JSON of one broker of a container (GET_BROKER_RUNTIME_INFO on the admin port).
nlohmann::json broker_status(AdminClient& admin, const ContainerProcess& c, const std::string& name, int64_t id) {
  auto s = admin.container_status(c.admin_addr());
  if (!s.ok()) return {};
  auto j = nlohmann::json::parse(*s, nullptr, false);
  if (!j.is_object()) return {};
  for (const auto& b : j["brokers"])
    if (b.value("brokerName", "") == name && b.value("brokerId", -1) == id) return b;
  return {};
}

int64_t commit_log_end(AdminClient& admin, const ContainerProcess& c, const std::string& name, int64_t id) {
  auto b = broker_status(admin, c, name, id);
  return b.is_object() ? b.value("commitLogMaxOffset", int64_t{-1}) : -1;
}

// Every record of one queue, read from `addr` from offset 0.
std::vector<std::pair<int64_t, std::string>> read_queue(BlockingClient& client, const std::string& addr,
                                                        const std::string& topic, int32_t queue_id) {
  std::vector<std::pair<int64_t, std::string>> out;  // (commit log offset, body)
  int64_t offset = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    auto p = pull_messages(client, addr, "repl_reader", topic, queue_id, offset);
    if (p.code != rc::kSuccess) break;
    for (const auto& rec : p.records) out.emplace_back(rec.physical_offset, std::string(rec.body));
    offset = p.next_begin_offset;
  }
  return out;
}

int64_t query_offset(BlockingClient& client, const std::string& addr, const std::string& group,
                     const std::string& topic, int32_t queue_id) {
  RemotingCommand req = RemotingCommand::request(request_code::kQueryConsumerOffset);
  req.ext_fields.set("consumerGroup", group);
  req.ext_fields.set("topic", topic);
  req.ext_fields.set("queueId", queue_id);
  auto r = client.invoke(addr, std::move(req), 3000);
  if (!r.ok() || r->code != rc::kSuccess) return -1;
  return HeaderReader(r->ext_fields).i64_or("offset", -1);
}

bool commit_offset(BlockingClient& client, const std::string& addr, const std::string& group,
                   const std::string& topic, int32_t queue_id, int64_t offset) {
  RemotingCommand req = RemotingCommand::request(request_code::kUpdateConsumerOffset);
  req.ext_fields.set("consumerGroup", group);
  req.ext_fields.set("topic", topic);
  req.ext_fields.set("queueId", queue_id);
  req.ext_fields.set("commitOffset", offset);
  auto r = client.invoke(addr, std::move(req), 3000);
  return r.ok() && r->code == rc::kSuccess;
}

bool caught_up(AdminClient& admin, const ContainerProcess& master, const ContainerProcess& slave, const std::string& name) {
  return wait_until([&] {
    int64_t m = commit_log_end(admin, master, name, 0);
    return m > 0 && commit_log_end(admin, slave, name, 1) == m;
  }, 15s);
}

}  // namespace

TEST_CASE("cross-deployed containers: each slave catches up, serves reads, and copies its master's metadata") {
  NamesrvProcess ns;
  REQUIRE(ns.port > 0);
  TempDir dir;
  // Machine 1: master of group a, slave of group b. Machine 2: the other way round.
  ContainerProcess m1(ns.addr(), {{"repl-a", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, kFastMaster + "slaveReadEnable=true\naccessMessageInMemoryMaxRatio=0\n"}, {"repl-b", 1, "SLAVE", "ASYNC_FLUSH", 0, kFastSlave + "slaveReadEnable=true\n"}},
                      dir.file("m1"));
  ContainerProcess m2(ns.addr(), {{"repl-b", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, kFastMaster}, {"repl-a", 1, "SLAVE", "ASYNC_FLUSH", 0, kFastSlave + "slaveReadEnable=true\n"}},
                      dir.file("m2"));
  REQUIRE_MESSAGE(m1.start(), m1.proc().output());
  REQUIRE_MESSAGE(m2.start(), m2.proc().output());
  AdminClient admin(ns.addr());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "ReplTopic", 2));

  BlockingClient client;
  struct Group {
    ContainerProcess* master_c;
    size_t master_i;
    ContainerProcess* slave_c;
    size_t slave_i;
    std::string name;
  };
  std::vector<Group> groups = {{&m1, 0, &m2, 1, "repl-a"}, {&m2, 0, &m1, 1, "repl-b"}};
  for (const auto& g : groups) {
    for (int i = 0; i < 120; ++i) {
      auto s = send_message(client, g.master_c->broker_addr(g.master_i), "ReplTopic", i % 2, body_of(g.name, i));
      REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
    }
  }
  for (const auto& g : groups) {
    int64_t master_end = commit_log_end(admin, *g.master_c, g.name, 0);
    REQUIRE(master_end > 0);
    REQUIRE_MESSAGE(wait_until([&] { return commit_log_end(admin, *g.slave_c, g.name, 1) == master_end; }, 15s),
                    g.slave_c->proc().output());
    // The slave serves the same records at the same commit log offsets, from ConsumeQueues it built.
    REQUIRE(wait_until([&] {
      return read_queue(client, g.slave_c->broker_addr(g.slave_i), "ReplTopic", 0).size() == 60;
    }, 10s));
    for (int32_t q = 0; q < 2; ++q) {
      auto on_master = read_queue(client, g.master_c->broker_addr(g.master_i), "ReplTopic", q);
      auto on_slave = read_queue(client, g.slave_c->broker_addr(g.slave_i), "ReplTopic", q);
      CHECK(on_master.size() == 60);
      CHECK(on_slave == on_master);
    }
  }
  // Routes list both members of each group; the slave copied topics and consumer offsets.
  REQUIRE(wait_until([&] {
    auto r = admin.get_route("ReplTopic");
    if (!r.ok() || r->broker_datas.size() != 2) return false;
    for (const auto& b : r->broker_datas)
      if (b.broker_addrs.size() != 2) return false;
    return true;
  }, 15s));
  REQUIRE(commit_offset(client, m1.broker_addr(0), "repl_group", "ReplTopic", 1, 42));
  CHECK(wait_until([&] { return query_offset(client, m2.broker_addr(1), "repl_group", "ReplTopic", 1) == 42; }, 10s));
  // repl-a's master counts every reader as far behind (accessMessageInMemoryMaxRatio=0) and, with
  // slaveReadEnable, sends it to the slave (whichBrokerWhenConsumeSlowly = 1); repl-b's keeps it.
  for (auto [addr, want] : {std::pair{m1.broker_addr(0), int64_t{1}}, std::pair{m2.broker_addr(0), int64_t{0}}}) {
    auto r = client.invoke(addr, make_pull_request("repl_reader", "ReplTopic", 0, 0, 8, 0x4, 0, "*"), 3000);
    REQUIRE(r.ok());
    CHECK(r->code == rc::kSuccess);
    CHECK(HeaderReader(r->ext_fields).i64_or("suggestWhichBrokerId", -1) == want);
  }
  // A slave refuses writes.
  auto refused = send_message(client, m2.broker_addr(1), "ReplTopic", 0, "to a slave");
  CHECK(refused.code != rc::kSuccess);
  CHECK(m1.stop() == 0);
  CHECK(m2.stop() == 0);
}

TEST_CASE("SYNC_MASTER: SLAVE_NOT_AVAILABLE without a slave, acknowledged only once on the slave, recovery after kill -9") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess master(ns.addr(), {{"sync-a", 0, "SYNC_MASTER", "SYNC_FLUSH", 0, kFastMaster + "syncFlushTimeout=3000\n"}}, dir.file("master"));
  ContainerProcess slave(ns.addr(), {{"sync-a", 1, "SLAVE", "SYNC_FLUSH", 0, kFastSlave + "slaveReadEnable=true\n"}},
                         dir.file("slave"));
  REQUIRE_MESSAGE(master.start(), master.proc().output());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "SyncTopic", 1));
  AdminClient admin(ns.addr());
  BlockingClient client;
  std::vector<std::string> stored;  // every body the master stored, acknowledged or not, in order

  auto s0 = send_message(client, master.broker_addr(0), "SyncTopic", 0, body_of("sync", 0));
  CHECK_MESSAGE(s0.code == rc::kSlaveNotAvailable, s0.code << " " << s0.remark);
  CHECK_FALSE(s0.msg_id.empty());  // stored on the master all the same, as RocketMQ does
  stored.push_back(body_of("sync", 0));

  REQUIRE_MESSAGE(slave.start(), slave.proc().output());
  int i = 1;
  REQUIRE_MESSAGE(wait_until([&] {
    auto s = send_message(client, master.broker_addr(0), "SyncTopic", 0, body_of("sync", i));
    stored.push_back(body_of("sync", i++));
    return s.code == rc::kSuccess;
  }, 15s), slave.proc().output());
  // Every acknowledged put is on the slave by the time it is acknowledged.
  for (int n = 0; n < 50; ++n, ++i) {
    auto s = send_message(client, master.broker_addr(0), "SyncTopic", 0, body_of("sync", i));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
    stored.push_back(body_of("sync", i));
    int64_t master_end = commit_log_end(admin, master, "sync-a", 0);
    CHECK(commit_log_end(admin, slave, "sync-a", 1) >= master_end);
  }

  slave.kill9();
  client.client().close_all();
  REQUIRE(wait_until([&] {
    auto s = send_message(client, master.broker_addr(0), "SyncTopic", 0, body_of("sync", i));
    stored.push_back(body_of("sync", i++));
    return s.code == rc::kSlaveNotAvailable;
  }, 10s));

  REQUIRE_MESSAGE(slave.start(), slave.proc().output());
  REQUIRE(wait_until([&] {
    auto s = send_message(client, master.broker_addr(0), "SyncTopic", 0, body_of("sync", i));
    stored.push_back(body_of("sync", i++));
    return s.code == rc::kSuccess;
  }, 15s));
  // The restarted slave resumed from its own end and holds exactly the master's log.
  REQUIRE(caught_up(admin, master, slave, "sync-a"));
  auto on_master = read_queue(client, master.broker_addr(0), "SyncTopic", 0);
  std::vector<std::pair<int64_t, std::string>> on_slave;
  CHECK(wait_until([&] {
    on_slave = read_queue(client, slave.broker_addr(0), "SyncTopic", 0);
    return on_slave.size() == on_master.size();
  }, 10s));
  REQUIRE(on_master.size() == stored.size());
  for (size_t k = 0; k < stored.size(); ++k) CHECK(on_master[k].second == stored[k]);
  CHECK(on_slave == on_master);
  CHECK(slave.stop() == 0);
  CHECK(master.stop() == 0);
}

TEST_CASE("master killed: the slave keeps serving reads; the master returns with nothing lost or duplicated") {
  NamesrvProcess ns;
  TempDir dir;
  // slaveReadEnable stays off: the slave sends readers to the master while it can reach it, and
  // serves them itself while it cannot.
  ContainerProcess master(ns.addr(), {{"fo-a", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, kFastMaster}}, dir.file("master"));
  ContainerProcess slave(ns.addr(), {{"fo-a", 1, "SLAVE", "ASYNC_FLUSH", 0, kFastSlave}}, dir.file("slave"));
  REQUIRE_MESSAGE(master.start(), master.proc().output());
  REQUIRE_MESSAGE(slave.start(), slave.proc().output());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "FailTopic", 1));
  AdminClient admin(ns.addr());
  BlockingClient client;
  std::vector<std::string> acked;
  for (int i = 0; i < 200; ++i) {
    auto s = send_message(client, master.broker_addr(0), "FailTopic", 0, body_of("fo", i));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
    acked.push_back(body_of("fo", i));
  }
  int64_t master_end = commit_log_end(admin, master, "fo-a", 0);
  REQUIRE(wait_until([&] { return commit_log_end(admin, slave, "fo-a", 1) == master_end; }, 15s));
  // While the master is reachable, the slave (slaveReadEnable off) sends readers back to it.
  CHECK(wait_until([&] {
    return pull_messages(client, slave.broker_addr(0), "fo_group", "FailTopic", 0, 0).code == rc::kPullRetryImmediately;
  }, 10s));

  master.kill9();
  client.client().close_all();
  // The consumer reads everything from the slave and commits its offset there.
  std::vector<std::string> read;
  REQUIRE(wait_until([&] {
    auto got = read_queue(client, slave.broker_addr(0), "FailTopic", 0);
    read.clear();
    for (auto& [off, body] : got) read.push_back(body);
    return read.size() == acked.size();
  }, 15s));
  CHECK(read == acked);
  REQUIRE(commit_offset(client, slave.broker_addr(0), "fo_group", "FailTopic", 0, 150));

  REQUIRE_MESSAGE(master.start(), master.proc().output());
  // The slave carries the offset committed on it back to the returning master.
  CHECK_MESSAGE(wait_until([&] { return query_offset(client, master.broker_addr(0), "fo_group", "FailTopic", 0) == 150; },
                           15s),
                slave.proc().output());
  // The master's log holds every acknowledged message once, in order, and replication resumes.
  auto on_master = read_queue(client, master.broker_addr(0), "FailTopic", 0);
  REQUIRE(on_master.size() == acked.size());
  for (size_t k = 0; k < acked.size(); ++k) CHECK(on_master[k].second == acked[k]);
  for (int i = 200; i < 230; ++i) {
    auto s = send_message(client, master.broker_addr(0), "FailTopic", 0, body_of("fo", i));
    REQUIRE_MESSAGE(s.code == rc::kSuccess, s.remark);
  }
  CHECK(caught_up(admin, master, slave, "fo-a"));
  CHECK(slave.stop() == 0);
  CHECK(master.stop() == 0);
}

TEST_CASE("the client library's consumer follows a dead master to its slave and misses nothing") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess master(ns.addr(), {{"follow-a", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, kFastMaster}}, dir.file("master"));
  ContainerProcess slave(ns.addr(), {{"follow-a", 1, "SLAVE", "ASYNC_FLUSH", 0, kFastSlave}}, dir.file("slave"));
  REQUIRE_MESSAGE(master.start(), master.proc().output());
  REQUIRE_MESSAGE(slave.start(), slave.proc().output());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "FollowTopic", 2));
  AdminClient admin(ns.addr());

  ProducerOptions popts;
  popts.name_servers = ns.addr();
  popts.group = "follow_producer";
  BlockingProducer producer(popts);
  auto send_range = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      Message m;
      m.topic = "FollowTopic";
      m.body = body_of("follow", i);
      m.user_properties = {{"index", std::to_string(i)}};
      auto r = producer.send(m);
      REQUIRE_MESSAGE(r.ok(), r.detail());
    }
  };
  send_range(0, 60);

  ConsumerOptions copts;
  copts.name_servers = ns.addr();
  copts.group = "follow_group";
  copts.consume_from_where = ConsumeFromWhere::kFirstOffset;
  copts.route_refresh_interval_ms = 300;  // Java polls the NameServer every 30 s; the test waits less
  copts.pull_delay_on_error_ms = 200;
  copts.persist_offset_interval_ms = 300;
  copts.rebalance_interval_ms = 1000;
  BlockingConsumer consumer(copts);
  consumer.subscribe("FollowTopic");
  REQUIRE(consumer.start());
  std::map<int, int> seen;  // index -> deliveries
  auto take = [&](size_t max, int64_t timeout_ms) {
    for (const auto& m : consumer.poll(max, timeout_ms)) {
      auto idx = m.property("index");
      REQUIRE(idx);
      CHECK(m.body == body_of("follow", std::stoi(*idx)));
      ++seen[std::stoi(*idx)];
    }
  };
  for (int round = 0; round < 100 && seen.size() < 60; ++round) take(60, 100);
  REQUIRE(seen.size() == 60);

  // More messages while the consumer is idle; the slave has them all when the master dies.
  send_range(60, 100);
  int64_t master_end = commit_log_end(admin, master, "follow-a", 0);
  REQUIRE(wait_until([&] { return commit_log_end(admin, slave, "follow-a", 1) == master_end; }, 15s));
  master.kill9();

  // The consumer's pulls to the dead master fail, the route drops it, and pulls go to the slave
  // (slaveReadEnable is off: the slave serves readers because its master is unreachable). The
  // master may die before the slave's metadata sync brought the topic over: the slave knows the
  // topic from the replicated messages.
  for (int round = 0; round < 200 && seen.size() < 100; ++round) take(100, 100);
  CHECK_MESSAGE(seen.size() == 100, slave.proc().output());  // at least once: a message may come twice, none may be missing
  for (int i = 0; i < 100; ++i) CHECK_MESSAGE(seen.count(i) == 1, "message " << i << " never arrived");
  CHECK(slave.stop() == 0);
}

TEST_CASE("a slave whose log is longer than its master's refuses to replicate and says why") {
  NamesrvProcess ns;
  TempDir dir;
  ContainerProcess master(ns.addr(), {{"div-a", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0, kFastMaster}}, dir.file("master"));
  ContainerProcess slave(ns.addr(), {{"div-a", 1, "SLAVE", "ASYNC_FLUSH", 0, kFastSlave}}, dir.file("slave"));
  REQUIRE(master.start());
  REQUIRE(slave.start());
  REQUIRE(create_topic(ns.addr(), "TestCluster", "DivTopic", 1));
  AdminClient admin(ns.addr());
  BlockingClient client;
  for (int i = 0; i < 20; ++i) REQUIRE(send_message(client, master.broker_addr(0), "DivTopic", 0, body_of("div", i)).code == rc::kSuccess);
  int64_t end = commit_log_end(admin, master, "div-a", 0);
  REQUIRE(wait_until([&] { return commit_log_end(admin, slave, "div-a", 1) == end; }, 15s));
  // The master loses its store (a replaced disk) and comes back empty.
  REQUIRE(master.stop() == 0);
  std::filesystem::remove_all(dir.file("master") + "/store-div-a-0");
  REQUIRE(master.start());
  CHECK(slave.proc().wait_for_line("diverged", 15s).has_value());
  auto st = broker_status(admin, slave, "div-a", 1);
  REQUIRE(st.is_object());
  CHECK(st["ha"].contains("diverged"));
  CHECK(commit_log_end(admin, slave, "div-a", 1) == end);  // its data is untouched
  CHECK(slave.stop() == 0);
  CHECK(master.stop() == 0);
}
