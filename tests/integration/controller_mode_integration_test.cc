// Controller mode end to end (RocketMQ 5.x): three `mqcontroller` processes, a NameServer, and one
// broker-set of three controller-mode brokers, each in its own container. The controller elects a
// master, the other two replicate with the AutoSwitch HA protocol and join the SyncStateSet, and
// with allAckInSyncStateSet=true a send is acknowledged only once every member of the set has it.
// Then faults: kill -9 of the master under sends (repeated), a slave that falls behind and must
// not be elected, the loss of the controller leader together with the master. Every acknowledged
// message must still be readable at the queue offset it was acknowledged with, and the old master
// must come back as a slave with its unacknowledged tail cut away.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <set>

#include "client/admin_client.h"
#include "cluster.h"
#include "codec/codes.h"
#include "codec/controller_data.h"
#include "controller_cluster.h"
#include "dledger_cluster.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

struct ControllerModeGroup {
  ControllerCluster controllers;
  NamesrvProcess ns;
  TempDir dir;
  std::vector<std::unique_ptr<ContainerProcess>> nodes;

  explicit ControllerModeGroup(const std::string& extra = "", int64_t segment_bytes = 1048576) {
    if (!controllers.start_all()) return;
    std::string keys = "enableControllerMode=true\ncontrollerAddr=" + controllers.addr_list() +
                       "\nallAckInSyncStateSet=true\nbrokerHeartbeatInterval=200\ncontrollerHeartBeatTimeoutMills=3000"
                       "\nsyncBrokerMetadataPeriod=1000\nsyncControllerMetadataPeriod=2000\ncheckSyncStateSetPeriod=500"
                       "\nhaSendHeartbeatInterval=500\nhaHousekeepingInterval=3000\nhaMaxTimeSlaveNotCatchup=3000"
                       "\nslaveSyncInterval=1000\n" + extra;
    for (int i = 0; i < 3; ++i) {
      BrokerSpec spec{"broker-a", i, i == 0 ? "SYNC_MASTER" : "SLAVE", "ASYNC_FLUSH", 0, keys, segment_bytes};
      nodes.push_back(std::make_unique<ContainerProcess>(ns.addr(), std::vector<BrokerSpec>{spec},
                                                         dir.file("c" + std::to_string(i))));
    }
  }
  bool start_all() {
    for (auto& n : nodes)
      if (!n->start()) return false;
    return true;
  }
  std::vector<std::string> addrs() const {
    std::vector<std::string> out;
    for (const auto& n : nodes) out.push_back(n->broker_addr(0));
    return out;
  }
  // The index of the node the NameServer names as master (brokerId 0), or -1.
  int master(AdminClient& admin) const {
    auto m = admin.master_addr_of_broker("broker-a");
    if (!m.ok()) return -1;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i]->broker_addr(0) == *m) return static_cast<int>(i);
    return -1;
  }
  // The controller leader's view of broker-a: SyncStateSet members (controller ids) and master.
  std::optional<ReplicasInfo> replicas(BlockingClient& c) {
    int leader = controllers.leader(c);
    if (leader < 0) return std::nullopt;
    RemotingCommand q = RemotingCommand::request(request_code::kControllerGetSyncStateData);
    q.body = R"(["broker-a"])";
    auto r = c.invoke(controllers.addr(static_cast<size_t>(leader)), std::move(q), 3000);
    if (!r.ok() || r->code != 0) return std::nullopt;
    auto info = BrokerReplicasInfo::parse(r->body);
    if (!info.ok() || !info->replicas_info_table.count("broker-a")) return std::nullopt;
    return info->replicas_info_table.at("broker-a");
  }
  std::string output() {
    std::string out = controllers.output_of_all();
    for (size_t i = 0; i < nodes.size(); ++i) out += "--- broker node " + std::to_string(i) + " ---\n" + nodes[i]->proc().output();
    return out;
  }
};

size_t in_sync(const std::optional<ReplicasInfo>& r) { return r ? r->in_sync_replicas.size() : 0; }

// Every acknowledged message is at the queue offset it was acknowledged with, on `addr`.
void check_acked_readable(const std::string& addr, const std::string& topic, int queues, const std::vector<Ack>& acks) {
  BlockingClient c;
  std::map<int32_t, std::map<int64_t, std::string>> stored;  // queue -> offset -> body
  for (int32_t q = 0; q < queues; ++q) {
    int64_t offset = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      auto p = pull_messages(c, addr, "check-group", topic, q, offset, 32);
      if (p.code != response_code::kSuccess || p.records.empty()) break;
      for (const auto& rec : p.records) stored[q][rec.queue_offset] = std::string(rec.body);
      offset = p.next_begin_offset;
    }
  }
  size_t missing = 0, moved = 0;
  for (const auto& a : acks) {
    auto qit = stored.find(a.queue_id);
    if (qit == stored.end() || !qit->second.count(a.queue_offset)) {
      ++missing;
      continue;
    }
    if (qit->second.at(a.queue_offset) != a.body) ++moved;
  }
  CHECK_MESSAGE(missing == 0, missing << " of " << acks.size() << " acknowledged messages are not on the master " << addr);
  CHECK_MESSAGE(moved == 0, moved << " acknowledged messages sit at another queue offset than acknowledged");
}

}  // namespace

TEST_CASE("controller mode: a master and two slaves, kill -9 of the master under sends, twice; nothing acknowledged is lost") {
  ControllerModeGroup g;
  REQUIRE_MESSAGE(g.nodes.size() == 3, g.controllers.output_of_all());
  REQUIRE_MESSAGE(g.start_all(), g.output());
  AdminClient admin(g.ns.addr());
  BlockingClient c;
  int master = -1;
  REQUIRE_MESSAGE(wait_until([&] { return (master = g.master(admin)) >= 0; }, 40s),
                  "expected the controller to elect a master of broker-a\n" << g.output());
  REQUIRE(create_topic(g.ns.addr(), "TestCluster", "CtlTopic", 4));
  REQUIRE_MESSAGE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 40s),
                  "expected both slaves to join the SyncStateSet\n" << g.output());

  Sender sender(g.addrs(), "CtlTopic", 4);
  REQUIRE_MESSAGE(wait_until([&] { return sender.acked() >= 200; }, 60s), "sends were not acknowledged\n" << g.output());
  std::vector<double> failover_ms;
  for (int round = 0; round < 2; ++round) {
    const int old = master;
    auto killed_at = std::chrono::steady_clock::now();
    g.nodes[static_cast<size_t>(old)]->kill9();
    std::optional<std::chrono::steady_clock::time_point> first;
    REQUIRE_MESSAGE(wait_until([&] { return (first = sender.first_ack_after(killed_at, static_cast<size_t>(old))).has_value(); }, 60s),
                    "round " << round << ": no send was acknowledged by another broker after killing the master\n" << g.output());
    failover_ms.push_back(std::chrono::duration<double, std::milli>(*first - killed_at).count());
    REQUIRE(wait_until([&] { return (master = g.master(admin)) >= 0 && master != old; }, 30s));
    const size_t before = sender.acked();
    REQUIRE(wait_until([&] { return sender.acked() >= before + 100; }, 60s));
    // The old master returns as a slave, cuts what was never acknowledged and rejoins the set.
    REQUIRE_MESSAGE(g.nodes[static_cast<size_t>(old)]->start(), g.output());
    CHECK_MESSAGE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 60s),
                  "round " << round << ": the old master did not rejoin the SyncStateSet\n" << g.output());
  }
  sender.stop();
  MESSAGE("failover (kill -9 to the first send acknowledged by the new master): " << failover_ms[0] << " ms, "
                                                                                    << failover_ms[1] << " ms");
  check_acked_readable(g.nodes[static_cast<size_t>(master)]->broker_addr(0), "CtlTopic", 4, sender.acks());
  // Every member holds the same log now: the slaves' epoch caches end with the master's epoch.
  auto info = g.replicas(c);
  REQUIRE(info.has_value());
  CHECK(info->master_epoch >= 3);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    auto e = c.invoke(g.nodes[i]->broker_addr(0), RemotingCommand::request(request_code::kGetBrokerEpochCache), 3000);
    REQUIRE(e.ok());
    REQUIRE_MESSAGE(e->code == 0, "GET_BROKER_EPOCH_CACHE on node " << i << ": " << e->remark.value_or(""));
    auto cache = EpochEntryCache::parse(e->body);
    REQUIRE(cache.ok());
    REQUIRE(!cache->epoch_list.empty());
    CHECK_MESSAGE(cache->epoch_list.back().epoch == info->master_epoch, "node " << i << " ends at epoch "
                                                                            << cache->epoch_list.back().epoch);
  }
}

TEST_CASE("controller mode: a slave that falls behind leaves the SyncStateSet and is not elected") {
  ControllerModeGroup g;
  REQUIRE_MESSAGE(g.nodes.size() == 3, g.controllers.output_of_all());
  REQUIRE_MESSAGE(g.start_all(), g.output());
  AdminClient admin(g.ns.addr());
  BlockingClient c;
  int master = -1;
  REQUIRE_MESSAGE(wait_until([&] { return (master = g.master(admin)) >= 0; }, 40s), g.output());
  REQUIRE(create_topic(g.ns.addr(), "TestCluster", "CtlTopic2", 2));
  REQUIRE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 40s));
  const int frozen = (master + 1) % 3, other = (master + 2) % 3;
  Sender sender(g.addrs(), "CtlTopic2", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 50; }, 60s));
  g.nodes[static_cast<size_t>(frozen)]->proc().signal(SIGSTOP);
  // With all-ack, sends stall until the frozen slave is dropped from the set (3 s), then go on.
  CHECK_MESSAGE(wait_until([&] { return in_sync(g.replicas(c)) == 2; }, 30s), "the frozen slave stayed in the set\n" << g.output());
  const size_t before = sender.acked();
  CHECK_MESSAGE(wait_until([&] { return sender.acked() >= before + 50; }, 30s), "sends did not resume with two in sync");
  g.nodes[static_cast<size_t>(master)]->kill9();
  int next = -1;
  CHECK_MESSAGE(wait_until([&] { return (next = g.master(admin)) >= 0 && next != master; }, 30s),
                "no new master after killing the master\n" << g.output());
  CHECK_MESSAGE(next == other, "the new master is node " << next << ", expected the in-sync slave " << other);
  g.nodes[static_cast<size_t>(frozen)]->proc().signal(SIGCONT);
  const size_t after = sender.acked();
  CHECK(wait_until([&] { return sender.acked() >= after + 50; }, 60s));
  sender.stop();
  if (next >= 0) check_acked_readable(g.nodes[static_cast<size_t>(next)]->broker_addr(0), "CtlTopic2", 2, sender.acks());
}

namespace {
// The broker status of a container's only broker (its "controllerMode" and "ha" objects).
nlohmann::json broker_status(AdminClient& admin, ContainerProcess& c) {
  if (!c.proc().running()) return {};
  auto s = admin.container_status(c.admin_addr());
  if (!s.ok()) return {};
  auto j = nlohmann::json::parse(*s, nullptr, false);
  if (!j.is_object() || !j.contains("brokers") || j["brokers"].empty()) return {};
  return j["brokers"][0];
}
}  // namespace

TEST_CASE("controller mode: an old master returns as a slave and cuts what was never acknowledged; mqadmin electMaster moves the master") {
  // Long catch-up, housekeeping and heartbeat limits: frozen slaves keep their HA connections, stay
  // in the SyncStateSet and count as alive.
  ControllerModeGroup g("haMaxTimeSlaveNotCatchup=60000\ncontrollerHeartBeatTimeoutMills=60000\nslaveTimeout=300\n"
                        "haHousekeepingInterval=60000\n",
                        8 << 20);
  REQUIRE_MESSAGE(g.nodes.size() == 3, g.controllers.output_of_all());
  REQUIRE_MESSAGE(g.start_all(), g.output());
  AdminClient admin(g.ns.addr());
  BlockingClient c;
  int master = -1;
  REQUIRE_MESSAGE(wait_until([&] { return (master = g.master(admin)) >= 0; }, 40s), g.output());
  REQUIRE(create_topic(g.ns.addr(), "TestCluster", "CtlTopic3", 1));
  REQUIRE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 40s));
  const std::string master_addr = g.nodes[static_cast<size_t>(master)]->broker_addr(0);
  std::vector<Ack> acked;
  for (int i = 0; i < 20; ++i) {
    auto s = send_message(c, master_addr, "CtlTopic3", 0, "acked-" + std::to_string(i));
    REQUIRE_MESSAGE(s.code == 0, "send " << i << ": " << s.code << " " << s.remark);
    acked.push_back(Ack{"acked-" + std::to_string(i), s.queue_id, s.queue_offset, 0});
  }
  // Both slaves freeze: the master stores these but cannot get them acknowledged. What the
  // kernel buffers for the frozen slaves still reaches them (and may survive the failover, as in
  // RocketMQ: it was never acknowledged either way), but the master sends at most 8 MiB ahead of a
  // slave's acknowledgement, so the last of 16 MiB stays on the master alone.
  const int s1 = (master + 1) % 3, s2 = (master + 2) % 3;
  g.nodes[static_cast<size_t>(s1)]->proc().signal(SIGSTOP);
  g.nodes[static_cast<size_t>(s2)]->proc().signal(SIGSTOP);
  for (int i = 0; i < 16; ++i) {
    std::string body = "unacked-" + std::to_string(i) + "-";
    body.resize(1 << 20, 'u');
    auto s = send_message(c, master_addr, "CtlTopic3", 0, body);
    CHECK_MESSAGE(s.code == response_code::kFlushSlaveTimeout, "a send with both slaves frozen answered " << s.code);
  }
  auto before = broker_status(admin, *g.nodes[static_cast<size_t>(master)]);
  const int64_t master_end = before.value("commitLogMaxOffset", int64_t{-1});
  g.nodes[static_cast<size_t>(master)]->kill9();
  g.nodes[static_cast<size_t>(s1)]->proc().signal(SIGCONT);
  g.nodes[static_cast<size_t>(s2)]->proc().signal(SIGCONT);
  int next = -1;
  REQUIRE_MESSAGE(wait_until([&] { return (next = g.master(admin)) >= 0 && next != master; }, 30s),
                  "no new master after killing the master\n" << g.output());
  // The old master returns: its 5 unacknowledged messages are past the new master's log.
  REQUIRE_MESSAGE(g.nodes[static_cast<size_t>(master)]->start(), g.output());
  nlohmann::json st;
  CHECK_MESSAGE(wait_until(
                    [&] {
                      st = broker_status(admin, *g.nodes[static_cast<size_t>(master)]);
                      return st.contains("ha") && st["ha"].value("truncations", 0) >= 1 &&
                             st.value("role", "") == std::string("SLAVE");
                    },
                    30s),
                "expected the old master to rejoin as a slave and truncate; status " << st.dump() << "\n" << g.output());
  CHECK(st.value("commitLogMaxOffset", int64_t{-1}) < master_end);
  CHECK(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 30s));
  check_acked_readable(g.nodes[static_cast<size_t>(next)]->broker_addr(0), "CtlTopic3", 1, acked);
  // The three logs are one log again: every member ends where the new master ends.
  CHECK_MESSAGE(wait_until(
                    [&] {
                      std::set<int64_t> ends;
                      for (auto& n : g.nodes) ends.insert(broker_status(admin, *n).value("commitLogMaxOffset", int64_t{-1}));
                      return ends.size() == 1;
                    },
                    30s),
                "the members' commit logs did not converge");

  // mqadmin (RocketMQ's command names) against the live group.
  const std::string ctl = g.controllers.addr_list();
  auto meta = run_command({binary("mqadmin"), "getControllerMetaData", "-a", g.controllers.addr(0)});
  CHECK_MESSAGE(meta.exit_code == 0, meta.output);
  CHECK_MESSAGE(meta.output.find("#ControllerLeaderAddress") != std::string::npos, meta.output);
  auto sss = run_command({binary("mqadmin"), "getSyncStateSet", "-a", g.controllers.addr(0), "-b", "broker-a"});
  CHECK_MESSAGE(sss.exit_code == 0, sss.output);
  CHECK_MESSAGE(sss.output.find("#SyncStateSetNums\t3") != std::string::npos, sss.output);
  auto epochs = run_command({binary("mqadmin"), "getBrokerEpoch", "-n", g.ns.addr(), "-b", "broker-a"});
  CHECK_MESSAGE(epochs.exit_code == 0, epochs.output);
  CHECK_MESSAGE(epochs.output.find("#Epoch: EpochEntry{epoch=2") != std::string::npos, epochs.output);
  // Hand the master role to the returned old master (an admin-triggered election).
  auto info = g.replicas(c);
  REQUIRE(info.has_value());
  std::string old_id;
  for (const auto& r : info->in_sync_replicas)
    if (r.broker_address == g.nodes[static_cast<size_t>(master)]->broker_addr(0)) old_id = std::to_string(r.broker_id);
  REQUIRE(!old_id.empty());
  auto elect = run_command({binary("mqadmin"), "electMaster", "-a", g.controllers.addr(0), "-c", "TestCluster", "-bn",
                            "broker-a", "-b", old_id});
  CHECK_MESSAGE(elect.exit_code == 0, elect.output);
  CHECK_MESSAGE(wait_until([&] { return g.master(admin) == master; }, 30s),
                "expected node " << master << " to be master after electMaster\n" << elect.output);
  auto s = send_message(c, g.nodes[static_cast<size_t>(master)]->broker_addr(0), "CtlTopic3", 0, "after-elect");
  CHECK_MESSAGE(s.code == 0, "a send to the elected master: " << s.code << " " << s.remark);
}

TEST_CASE("controller mode: the controller leader and the master die together; the new controller leader elects a master") {
  ControllerModeGroup g;
  REQUIRE_MESSAGE(g.nodes.size() == 3, g.controllers.output_of_all());
  REQUIRE_MESSAGE(g.start_all(), g.output());
  AdminClient admin(g.ns.addr());
  BlockingClient c;
  int master = -1;
  REQUIRE_MESSAGE(wait_until([&] { return (master = g.master(admin)) >= 0; }, 40s), g.output());
  REQUIRE(create_topic(g.ns.addr(), "TestCluster", "CtlTopic4", 2));
  REQUIRE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 40s));
  Sender sender(g.addrs(), "CtlTopic4", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 100; }, 60s));
  int ctl_leader = g.controllers.leader(c);
  REQUIRE(ctl_leader >= 0);
  auto killed_at = std::chrono::steady_clock::now();
  g.controllers.kill9(static_cast<size_t>(ctl_leader));
  g.nodes[static_cast<size_t>(master)]->kill9();
  std::optional<std::chrono::steady_clock::time_point> first;
  CHECK_MESSAGE(wait_until([&] { return (first = sender.first_ack_after(killed_at, static_cast<size_t>(master))).has_value(); }, 60s),
                "no send acknowledged by a new master after losing the controller leader and the master\n" << g.output());
  if (first) MESSAGE("controller leader + master lost: first send acknowledged by the new master after "
                     << std::chrono::duration<double, std::milli>(*first - killed_at).count() << " ms");
  int next = -1;
  CHECK(wait_until([&] { return (next = g.master(admin)) >= 0 && next != master; }, 30s));
  CHECK(g.controllers.leader(c, ctl_leader) >= 0);
  const size_t before = sender.acked();
  CHECK(wait_until([&] { return sender.acked() >= before + 100; }, 60s));
  sender.stop();
  if (next >= 0) check_acked_readable(g.nodes[static_cast<size_t>(next)]->broker_addr(0), "CtlTopic4", 2, sender.acks());
}

TEST_CASE("controller mode: a container hosts a controller-mode broker beside a classic master and a DLedger member") {
  ControllerCluster controllers;
  REQUIRE_MESSAGE(controllers.start_all(), controllers.output_of_all());
  NamesrvProcess ns;
  TempDir dir;
  const int raft_port = free_port();
  std::vector<BrokerSpec> specs = {
      BrokerSpec{"plain-x", 0, "ASYNC_MASTER"},
      BrokerSpec{"dl-x", 0, "ASYNC_MASTER", "ASYNC_FLUSH", 0,
                 "enableDLegerCommitLog=true\ndLegerGroup=dl-x\ndLegerPeers=n0-127.0.0.1:" + std::to_string(raft_port) +
                     "\ndLegerSelfId=n0\n"},
      BrokerSpec{"ctl-x", 0, "SYNC_MASTER", "ASYNC_FLUSH", 0,
                 "enableControllerMode=true\ncontrollerAddr=" + controllers.addr_list() + "\nallAckInSyncStateSet=true\n"}};
  ContainerProcess c(ns.addr(), specs, dir.file("c"));
  REQUIRE_MESSAGE(c.start(), c.proc().output());
  AdminClient admin(ns.addr());
  BlockingClient client;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& name = specs[i].name;
    CAPTURE(name);
    std::string addr;
    REQUIRE_MESSAGE(wait_until(
                        [&] {
                          auto m = admin.master_addr_of_broker(name);
                          if (m.ok()) addr = *m;
                          return m.ok();
                        },
                        40s),
                    "expected " << name << " to register as a master\n" << c.proc().output());
    CHECK(addr == c.broker_addr(i));
    const std::string topic = "SideBySide-" + name;
    SendOutcome s;
    // Topics are created on first send (autoCreateTopicEnable); a new DLedger leader or
    // controller-mode master may refuse for a moment after it registered.
    CHECK_MESSAGE(wait_until(
                      [&] {
                        s = send_message(client, addr, topic, 0, "to-" + name);
                        return s.code == 0;
                      },
                      20s),
                  "a send to " << name << " answered " << s.code << " " << s.remark);
  }
}

TEST_CASE("controller mode: a frozen master (SIGSTOP, connections open) is replaced; it returns as a slave") {
  // The default heartbeat timeout (1500 ms): the frozen master's heartbeats stop, its connections do not close.
  ControllerModeGroup g("controllerHeartBeatTimeoutMills=1500\n");
  REQUIRE_MESSAGE(g.nodes.size() == 3, g.controllers.output_of_all());
  REQUIRE_MESSAGE(g.start_all(), g.output());
  AdminClient admin(g.ns.addr());
  BlockingClient c;
  int master = -1;
  REQUIRE_MESSAGE(wait_until([&] { return (master = g.master(admin)) >= 0; }, 40s), g.output());
  REQUIRE(create_topic(g.ns.addr(), "TestCluster", "CtlTopic6", 2));
  REQUIRE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 40s));
  Sender sender(g.addrs(), "CtlTopic6", 2);
  REQUIRE(wait_until([&] { return sender.acked() >= 100; }, 60s));
  auto frozen_at = std::chrono::steady_clock::now();
  g.nodes[static_cast<size_t>(master)]->proc().signal(SIGSTOP);
  std::optional<std::chrono::steady_clock::time_point> first;
  CHECK_MESSAGE(wait_until([&] { return (first = sender.first_ack_after(frozen_at, static_cast<size_t>(master))).has_value(); }, 60s),
                "no send acknowledged by a new master while the master is frozen\n" << g.output());
  if (first) MESSAGE("frozen master: first send acknowledged by the new master after "
                     << std::chrono::duration<double, std::milli>(*first - frozen_at).count() << " ms");
  g.nodes[static_cast<size_t>(master)]->proc().signal(SIGCONT);
  // The old master learns of the newer epoch and becomes a slave of the new one.
  CHECK_MESSAGE(wait_until([&] { return in_sync(g.replicas(c)) == 3; }, 60s), "the old master did not rejoin\n" << g.output());
  const size_t before = sender.acked();
  CHECK(wait_until([&] { return sender.acked() >= before + 100; }, 60s));
  sender.stop();
  int now_master = g.master(admin);
  CHECK(now_master != master);
  if (now_master >= 0) check_acked_readable(g.nodes[static_cast<size_t>(now_master)]->broker_addr(0), "CtlTopic6", 2, sender.acks());
}
