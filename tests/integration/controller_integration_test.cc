// A controller group of three real `mqcontroller` processes, driven over the wire the way RocketMQ
// 5.x brokers drive it (ids, registration, heartbeats, elections, SyncStateSet changes): leader
// election among the controllers, a master's failover when its heartbeat connection closes, the
// loss of the controller leader, a restart of every controller keeping the tables, and the
// controller embedded in mqnamesrv.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>

#include "cluster.h"
#include "codec/codes.h"
#include "codec/controller_data.h"
#include "controller_cluster.h"
#include "remoting/server.h"

using namespace mq;
using namespace mq::test;
using namespace std::chrono_literals;

namespace {

std::string field(const RemotingCommand& c, const char* key) {
  const std::string* v = c.ext_fields.find(key);
  return v ? *v : std::string("<absent>");
}

// One simulated controller-mode broker: its own connection (so closing it is the broker's
// heartbeat channel going away), its id, and a listening port of its own, where a controller sends
// NOTIFY_BROKER_ROLE_CHANGED (to the address the broker registered), served on the client's loop.
struct FakeBroker {
  std::unique_ptr<BlockingClient> client = std::make_unique<BlockingClient>();
  std::unique_ptr<RemotingServer> server;
  std::string name;
  std::string addr;
  int64_t id = -1;
  int notifications = 0;
  std::string last_notified_master;

  explicit FakeBroker(std::string broker_name) : name(std::move(broker_name)) {
    RemotingServerOptions o;
    o.listen_host = "127.0.0.1";
    server = std::make_unique<RemotingServer>(client->loop(), o, Logger());
    server->register_handler(request_code::kNotifyBrokerRoleChanged, [this](const RequestContext&, RemotingCommand& req) {
      ++notifications;
      last_notified_master = field(req, "masterBrokerId");
    });
    auto port = server->start();
    REQUIRE(port.ok());
    addr = "127.0.0.1:" + std::to_string(*port);
  }
  // The broker process dies: its port and its connections to the controllers close.
  void die() {
    server->stop();
    server.reset();
    client.reset();
  }

  RemotingCommand call(const std::string& controller, RemotingCommand req) {
    auto r = client->invoke(controller, std::move(req), 5000);
    REQUIRE_MESSAGE(r.ok(), "expected an answer from controller " << controller);
    return std::move(*r);
  }

  // Steps 1-4 of the persistent broker id (reference 4.4).
  void register_with(const std::string& leader) {
    RemotingCommand next = RemotingCommand::request(request_code::kControllerGetNextBrokerId);
    next.ext_fields.set("clusterName", "c1");
    next.ext_fields.set("brokerName", name);
    auto n = call(leader, std::move(next));
    REQUIRE_MESSAGE(n.code == 0, "GET_NEXT_BROKER_ID: code " << n.code << " " << n.remark.value_or(""));
    id = std::stoll(field(n, "nextBrokerId"));
    RemotingCommand apply = RemotingCommand::request(request_code::kControllerApplyBrokerId);
    apply.ext_fields.set("clusterName", "c1");
    apply.ext_fields.set("brokerName", name);
    apply.ext_fields.set("appliedBrokerId", id);
    apply.ext_fields.set("registerCheckCode", addr + ";1700000000000");
    auto a = call(leader, std::move(apply));
    REQUIRE_MESSAGE(a.code == 0, "APPLY_BROKER_ID " << id << ": code " << a.code << " " << a.remark.value_or(""));
    RemotingCommand reg = RemotingCommand::request(request_code::kControllerRegisterBroker);
    reg.ext_fields.set("clusterName", "c1");
    reg.ext_fields.set("brokerName", name);
    reg.ext_fields.set("brokerId", id);
    reg.ext_fields.set("brokerAddress", addr);
    reg.ext_fields.set("invokeTime", int64_t{1700000000000});
    auto r = call(leader, std::move(reg));
    REQUIRE_MESSAGE(r.code == 0, "REGISTER_BROKER: code " << r.code << " " << r.remark.value_or(""));
  }

  // A heartbeat to every controller, as RocketMQ's brokers send them (oneway).
  void heartbeat(const ControllerCluster& cc, int32_t epoch, int64_t max_offset) {
    for (size_t i = 0; i < cc.size(); ++i) {
      RemotingCommand hb = RemotingCommand::request(request_code::kBrokerHeartbeat);
      hb.ext_fields.set("clusterName", "c1");
      hb.ext_fields.set("brokerAddr", addr);
      hb.ext_fields.set("brokerName", name);
      hb.ext_fields.set("brokerId", id);
      hb.ext_fields.set("epoch", epoch);
      hb.ext_fields.set("maxOffset", max_offset);
      hb.ext_fields.set("confirmOffset", max_offset);
      hb.ext_fields.set("heartbeatTimeoutMills", int64_t{600000});
      hb.ext_fields.set("electionPriority", int32_t{0});
      (void)client->invoke(cc.addr(i), std::move(hb), 2000);
    }
  }

  RemotingCommand elect_self(const std::string& leader) {
    RemotingCommand e = RemotingCommand::request(request_code::kControllerElectMaster);
    e.ext_fields.set("clusterName", "c1");
    e.ext_fields.set("brokerName", name);
    e.ext_fields.set("brokerId", id);
    e.ext_fields.set("designateElect", "false");
    e.ext_fields.set("invokeTime", int64_t{1700000000000});
    return call(leader, std::move(e));
  }
};

RemotingCommand replica_info(BlockingClient& c, const std::string& leader, const std::string& name) {
  RemotingCommand q = RemotingCommand::request(request_code::kControllerGetReplicaInfo);
  q.ext_fields.set("brokerName", name);
  auto r = c.invoke(leader, std::move(q), 5000);
  REQUIRE_MESSAGE(r.ok(), "GET_REPLICA_INFO got no answer from " << leader);
  return std::move(*r);
}

int wait_for_leader(ControllerCluster& cc, BlockingClient& c, int except = -1) {
  int leader = -1;
  wait_until([&] { return (leader = cc.leader(c, except)) >= 0; }, 30s);
  return leader;
}

}  // namespace

TEST_CASE("controller group: one leader serves, followers point at it, a master fails over and every state survives") {
  ControllerCluster cc;
  REQUIRE_MESSAGE(cc.start_all(), cc.output_of_all());
  BlockingClient admin;
  int leader = wait_for_leader(cc, admin);
  REQUIRE_MESSAGE(leader >= 0, "expected one ready leader among 3 controllers\n" << cc.output_of_all());
  const std::string leader_addr = cc.addr(static_cast<size_t>(leader));

  // Every member names the same leader; a follower refuses table requests with 2007.
  for (size_t i = 0; i < cc.size(); ++i) {
    auto m = admin.invoke(cc.addr(i), RemotingCommand::request(request_code::kControllerGetMetadataInfo), 3000);
    REQUIRE(m.ok());
    CHECK_MESSAGE(field(*m, "controllerLeaderAddress") == leader_addr, "member n" << i << " names " << field(*m, "controllerLeaderAddress"));
    CHECK(field(*m, "group") == "cg");
    CHECK(field(*m, "isLeader") == (static_cast<int>(i) == leader ? "true" : "false"));
    if (static_cast<int>(i) != leader) {
      RemotingCommand q = RemotingCommand::request(request_code::kControllerGetReplicaInfo);
      q.ext_fields.set("brokerName", "broker-a");
      auto r = admin.invoke(cc.addr(i), std::move(q), 3000);
      REQUIRE(r.ok());
      CHECK_MESSAGE(r->code == response_code::kControllerNotLeader, "a follower answered GET_REPLICA_INFO with " << r->code);
    }
  }

  // Two brokers of one set get ids 1 and 2; the first to ask becomes master (first election).
  FakeBroker b1("broker-a"), b2("broker-a");
  b1.register_with(leader_addr);
  b2.register_with(leader_addr);
  CHECK(b1.id == 1);
  CHECK(b2.id == 2);
  b1.heartbeat(cc, -1, 0);
  b2.heartbeat(cc, -1, 0);
  auto e = b1.elect_self(leader_addr);
  REQUIRE_MESSAGE(e.code == 0, "first election: code " << e.code << " " << e.remark.value_or(""));
  CHECK(field(e, "masterBrokerId") == "1");
  CHECK(field(e, "masterEpoch") == "1");
  auto again = b2.elect_self(leader_addr);
  CHECK_MESSAGE(again.code == response_code::kControllerMasterStillExist, "a second election while the master lives: " << again.code);

  // The master adds broker 2 to the SyncStateSet (it caught up).
  RemotingCommand alter = RemotingCommand::request(request_code::kControllerAlterSyncStateSet);
  alter.ext_fields.set("brokerName", "broker-a");
  alter.ext_fields.set("masterBrokerId", int64_t{1});
  alter.ext_fields.set("masterEpoch", int32_t{1});
  alter.ext_fields.set("invokeTime", int64_t{1700000000000});
  alter.body = R"({"syncStateSet":[1,2],"syncStateSetEpoch":1})";
  auto a = b1.call(leader_addr, std::move(alter));
  REQUIRE_MESSAGE(a.code == 0, "ALTER_SYNC_STATE_SET: code " << a.code << " " << a.remark.value_or(""));
  CHECK(field(a, "newSyncStateSetEpoch") == "2");

  // The master's heartbeat connection closes: the leader elects broker 2 at once and tells it.
  b1.die();
  bool moved = wait_until(
      [&] {
        auto r = replica_info(admin, leader_addr, "broker-a");
        return r.code == 0 && field(r, "masterBrokerId") == "2";
      },
      15s);
  CHECK_MESSAGE(moved, "expected broker 2 to become master after broker 1's connection closed\n" << cc.output_of_all());
  auto info = replica_info(admin, leader_addr, "broker-a");
  CHECK(field(info, "masterEpoch") == "2");
  CHECK(field(info, "masterAddress") == b2.addr);
  CHECK_MESSAGE(wait_until(
                    [&] {
                      b2.heartbeat(cc, 1, 0);  // runs b2's loop, where the notification arrives
                      return b2.notifications > 0;
                    },
                    15s),
                "expected NOTIFY_BROKER_ROLE_CHANGED at broker 2");
  CHECK(b2.last_notified_master == "2");

  // The controller leader dies: another takes over with the same tables.
  cc.kill9(static_cast<size_t>(leader));
  int next = wait_for_leader(cc, admin, leader);
  REQUIRE_MESSAGE(next >= 0, "expected a new controller leader after killing n" << leader << "\n" << cc.output_of_all());
  CHECK(next != leader);
  auto after = replica_info(admin, cc.addr(static_cast<size_t>(next)), "broker-a");
  CHECK(after.code == 0);
  CHECK(field(after, "masterBrokerId") == "2");
  CHECK(field(after, "masterEpoch") == "2");

  // Every controller restarts: the log rebuilds the tables (ids keep counting, the master stays).
  REQUIRE(cc.start(static_cast<size_t>(leader)));
  for (size_t i = 0; i < cc.size(); ++i) cc.kill9(i);
  REQUIRE_MESSAGE(cc.start_all(), cc.output_of_all());
  int third = wait_for_leader(cc, admin);
  REQUIRE_MESSAGE(third >= 0, "expected a leader after restarting every controller\n" << cc.output_of_all());
  auto kept = replica_info(admin, cc.addr(static_cast<size_t>(third)), "broker-a");
  CHECK(kept.code == 0);
  CHECK(field(kept, "masterBrokerId") == "2");
  CHECK(field(kept, "masterEpoch") == "2");
  RemotingCommand next_id = RemotingCommand::request(request_code::kControllerGetNextBrokerId);
  next_id.ext_fields.set("clusterName", "c1");
  next_id.ext_fields.set("brokerName", "broker-a");
  auto n = admin.invoke(cc.addr(static_cast<size_t>(third)), std::move(next_id), 5000);
  REQUIRE(n.ok());
  CHECK(field(*n, "nextBrokerId") == "3");
}

TEST_CASE("controller embedded in mqnamesrv (enableControllerInNamesrv) answers on its peer port") {
  TempDir dir;
  int ns_port = free_port(), peer_port = free_port();
  dir.write("namesrv.conf", "bindAddress=127.0.0.1\nlistenPort=" + std::to_string(ns_port) + "\nkvConfigPath=" +
                                dir.file("kv.json") + "\nenableControllerInNamesrv=true\ncontrollerDLegerGroup=g1\n" +
                                "controllerDLegerPeers=n0-127.0.0.1:" + std::to_string(peer_port) +
                                "\ncontrollerDLegerSelfId=n0\ncontrollerStorePath=" + dir.file("ctl") +
                                "\nmappedFileSize=4194304\n");
  ChildProcess ns;
  REQUIRE(ns.start({binary("mqnamesrv"), "-c", dir.file("namesrv.conf")}));
  REQUIRE_MESSAGE(ns.wait_for_line("Name Server boot success", 20s).has_value(), ns.output());
  CHECK_MESSAGE(ns.output().find("Controller boot success") != std::string::npos, ns.output());
  CHECK_MESSAGE(ns.output().find("ignored") == std::string::npos, "controller keys were reported as ignored:\n" << ns.output());
  BlockingClient c;
  const std::string peer = "127.0.0.1:" + std::to_string(peer_port);
  bool served = wait_until(
      [&] {
        RemotingCommand q = RemotingCommand::request(request_code::kControllerGetNextBrokerId);
        q.ext_fields.set("clusterName", "c1");
        q.ext_fields.set("brokerName", "b");
        auto r = c.invoke(peer, std::move(q), 2000);
        return r.ok() && r->code == 0 && field(*r, "nextBrokerId") == "1";
      },
      20s);
  CHECK_MESSAGE(served, "the embedded controller did not serve GET_NEXT_BROKER_ID\n" << ns.output());
  auto m = c.invoke(peer, RemotingCommand::request(request_code::kControllerGetMetadataInfo), 2000);
  REQUIRE(m.ok());
  CHECK(field(*m, "isLeader") == "true");
  // The NameServer port still answers NameServer requests.
  auto ci = c.invoke("127.0.0.1:" + std::to_string(ns_port), RemotingCommand::request(request_code::kGetBrokerClusterInfo), 2000);
  REQUIRE(ci.ok());
  CHECK(ci->code == 0);
}
