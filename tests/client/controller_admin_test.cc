// AdminClient's controller calls and mqadmin's controller commands against an in-process fake
// controller world on its own loop thread: a leader and a follower controller node, a NameServer
// and two broker replicas. Every node records the requests it gets and answers what the test
// scripted for that code, shaped as RocketMQ 5.x answers (headers in extFields under the Java
// field names, fastjson bodies with unquoted numeric keys; reference rocketmq-controller.md 3.2,
// 3.3). The checks: each call's code, header fields and body; that 1002/1006/1011 go to the
// leader named by the follower's 1005 answer; that answers are parsed; that 2000-2016 come back as
// errors with their code; that malformed bodies are errors, not crashes; and the real mqadmin
// binary's printed output.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "client/admin_client.h"
#include "codec/codes.h"
#include "remoting/server.h"
#include "runtime/event_loop.h"

using namespace mq;

namespace {

constexpr int32_t kElectMaster = 1002, kGetMetadataInfo = 1005, kGetSyncStateData = 1006,
                  kGetBrokerEpochCache = 1007, kUpdateControllerConfig = 1009, kGetControllerConfig = 1010,
                  kCleanBrokerData = 1011;
constexpr int32_t kControllerNotLeader = 2007;

struct Seen {
  std::string node;
  RemotingCommand request;
};

// The nodes: "leader" and "follower" (controllers), "namesrv", "b1" and "b2" (brokers).
class ControllerWorld {
 public:
  ControllerWorld() {
    thread_ = std::thread([this] { run(); });
    while (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!started_) {
      stop_ = true;
      thread_.join();
      FAIL("a fake node could not listen on 127.0.0.1");
    }
    script_defaults();
  }
  ~ControllerWorld() {
    stop_ = true;
    thread_.join();
  }

  std::string addr(const std::string& node) const { return addrs_.at(node); }

  // What `node` answers to `code` from now on.
  void answer(const std::string& node, int32_t code, RemotingCommand resp) {
    std::lock_guard<std::mutex> lock(mu_);
    script_[{node, code}] = std::move(resp);
  }
  void answer_code(const std::string& node, int32_t code, int32_t response_code, std::string remark) {
    RemotingCommand resp;
    resp.code = response_code;
    resp.remark = std::move(remark);
    answer(node, code, std::move(resp));
  }
  std::vector<Seen> take_seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(seen_, {});
  }

  static RemotingCommand metadata(const std::string& leader_addr, const std::string& follower_addr, bool is_leader) {
    RemotingCommand r;
    r.ext_fields.set("group", std::string("group1"));
    r.ext_fields.set("controllerLeaderId", std::string("n0"));
    r.ext_fields.set("controllerLeaderAddress", leader_addr);
    r.ext_fields.set_bool("isLeader", is_leader);
    r.ext_fields.set("peers", "n0:" + leader_addr + ";n1:" + follower_addr + ";");
    return r;
  }

 private:
  void script_defaults() {
    const std::string l = addr("leader"), f = addr("follower");
    answer("leader", kGetMetadataInfo, metadata(l, f, true));
    answer("follower", kGetMetadataInfo, metadata(l, f, false));
    // A follower refuses every leader-only request, as DLedgerController does before the event
    // scheduler sees it.
    for (int32_t code : {kElectMaster, kGetSyncStateData, kCleanBrokerData})
      answer_code("follower", code, kControllerNotLeader, "The controller is not in leader state");
    RemotingCommand sss;
    sss.body =
        R"({"replicasInfoTable":{"broker-a":{"inSyncReplicas":[{"alive":true,"brokerAddress":"10.0.0.1:30911",)"
        R"("brokerId":1,"brokerName":"broker-a"}],"masterAddress":"10.0.0.1:30911","masterBrokerId":1,)"
        R"("masterEpoch":3,"notInSyncReplicas":[{"alive":false,"brokerAddress":"10.0.0.2:30911",)"
        R"("brokerId":2,"brokerName":"broker-a"}],"syncStateSetEpoch":4}}})";
    answer("leader", kGetSyncStateData, sss);
    RemotingCommand elect;
    elect.ext_fields.set("masterBrokerId", int64_t{2});
    elect.ext_fields.set("masterAddress", std::string("10.0.0.2:30911"));
    elect.ext_fields.set("masterEpoch", int32_t{4});
    elect.ext_fields.set("syncStateSetEpoch", int32_t{5});
    elect.body = R"({"brokerMemberGroup":{"brokerAddrs":{1:"10.0.0.1:30911",2:"10.0.0.2:30911"},)"
                 R"("brokerName":"broker-a","cluster":"c1"},"syncStateSet":[2]})";
    answer("leader", kElectMaster, elect);
    answer("leader", kCleanBrokerData, RemotingCommand{});
    for (const char* node : {"leader", "follower"}) {
      RemotingCommand config;
      config.body = std::string("controllerDLegerGroup=group1\ncontrollerDLegerSelfId=") +
                    (std::string(node) == "leader" ? "n0" : "n1") + "\nelectMasterMaxRetryCount=3\n";
      answer(node, kGetControllerConfig, config);
      answer(node, kUpdateControllerConfig, RemotingCommand{});
    }
    RemotingCommand cluster;
    cluster.body = R"({"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:")" + addr("b1") + R"(",2:")" + addr("b2") +
                   R"("},"brokerName":"broker-a","cluster":"c1"}},"clusterAddrTable":{"c1":["broker-a","broker-b"]}})";
    answer("namesrv", request_code::kGetBrokerClusterInfo, cluster);
    RemotingCommand epoch1;
    epoch1.body = R"({"brokerId":0,"brokerName":"broker-a","clusterName":"c1","epochList":[{"endOffset":4096,)"
                  R"("epoch":1,"startOffset":0},{"endOffset":9223372036854775807,"epoch":2,"startOffset":4096}],)"
                  R"("maxOffset":8192})";
    answer("b1", kGetBrokerEpochCache, epoch1);
    RemotingCommand epoch2;
    epoch2.body = R"({"brokerId":2,"brokerName":"broker-a","clusterName":"c1","epochList":[{"endOffset":4096,)"
                  R"("epoch":1,"startOffset":0},{"endOffset":9223372036854775807,"epoch":2,"startOffset":4096}],)"
                  R"("maxOffset":6000})";
    answer("b2", kGetBrokerEpochCache, epoch2);
  }

  void run() {
    EventLoop loop;
    std::map<std::string, std::unique_ptr<RemotingServer>> servers;
    for (const char* node : {"leader", "follower", "namesrv", "b1", "b2"}) {
      auto server = std::make_unique<RemotingServer>(loop, RemotingServerOptions{"127.0.0.1", 0}, Logger());
      for (int32_t code : {kElectMaster, kGetMetadataInfo, kGetSyncStateData, kGetBrokerEpochCache,
                           kUpdateControllerConfig, kGetControllerConfig, kCleanBrokerData,
                           request_code::kGetBrokerClusterInfo}) {
        server->register_handler(code, [this, name = std::string(node)](const RequestContext& ctx, RemotingCommand& req) {
          RemotingCommand resp;
          {
            std::lock_guard<std::mutex> lock(mu_);
            seen_.push_back({name, req});
            auto it = script_.find({name, req.code});
            if (it == script_.end()) {
              resp.code = response_code::kRequestCodeNotSupported;
              resp.remark = "not scripted";
            } else {
              resp = it->second;
            }
          }
          ctx.respond(std::move(resp));
        });
      }
      auto port = server->start();
      if (!port.ok()) {  // no doctest assertion off the test's thread: the constructor reports it
        started_ = false;
        break;
      }
      addrs_[node] = "127.0.0.1:" + std::to_string(*port);
      servers[node] = std::move(server);
    }
    ready_ = true;
    {
      Timer tick(loop);
      tick.start(5, 5, [&] {
        if (stop_) loop.stop();
      });
      loop.run();
    }
    servers.clear();
    loop.close_and_drain();
  }

  std::thread thread_;
  std::atomic<bool> ready_{false}, stop_{false}, started_{true};
  std::map<std::string, std::string> addrs_;  // written before ready_, read-only after
  std::mutex mu_;
  std::map<std::pair<std::string, int32_t>, RemotingCommand> script_;
  std::vector<Seen> seen_;
};

std::string field(const RemotingCommand& c, std::string_view key) {
  const std::string* v = c.ext_fields.find(key);
  return v ? *v : "<absent>";
}

std::vector<std::string> field_names(const RemotingCommand& c) {
  std::vector<std::string> out;
  for (const auto& [k, v] : c.ext_fields.entries()) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

// mqadmin with these arguments: exit status and everything it printed (stdout and stderr).
std::pair<int, std::string> mqadmin(const std::string& arguments) {
  std::string cmd = std::string(MQ_BINARY_DIR) + "/bin/mqadmin " + arguments + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = pclose(f);
  REQUIRE_MESSAGE(WIFEXITED(status), "mqadmin did not exit normally: ", out);
  return {WEXITSTATUS(status), out};
}

}  // namespace

TEST_CASE("controller admin: GET_METADATA_INFO is asked of the node given and parsed") {
  ControllerWorld w;
  AdminClient admin("");
  auto meta = admin.get_controller_metadata(w.addr("follower"));
  REQUIRE_MESSAGE(meta.ok(), meta.detail());
  CHECK(meta->group == "group1");
  CHECK(meta->leader_id == "n0");
  CHECK(meta->leader_addr == w.addr("leader"));
  CHECK_FALSE(meta->is_leader);
  CHECK(meta->peers == "n0:" + w.addr("leader") + ";n1:" + w.addr("follower") + ";");
  auto seen = w.take_seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].node == "follower");
  CHECK(seen[0].request.code == kGetMetadataInfo);
  CHECK(seen[0].request.ext_fields.empty());
  CHECK(seen[0].request.body.empty());

  auto leader = admin.get_controller_metadata(w.addr("leader"));
  REQUIRE(leader.ok());
  CHECK(leader->is_leader);

  // No leader yet: the fields are left out, and the leader lookup says so.
  RemotingCommand none;
  none.ext_fields.set("group", std::string("group1"));
  none.ext_fields.set_bool("isLeader", false);
  w.answer("follower", kGetMetadataInfo, none);
  auto empty = admin.get_controller_metadata(w.addr("follower"));
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->leader_id.has_value());
  CHECK_FALSE(empty->leader_addr.has_value());
  CHECK(empty->peers.empty());
  auto lookup = admin.controller_leader_addr(w.addr("follower"));
  REQUIRE_FALSE(lookup.ok());
  CHECK(lookup.code().kind == ClientError::kNoLeader);
  auto sss = admin.get_sync_state_data(w.addr("follower"), {"broker-a"});
  REQUIRE_FALSE(sss.ok());
  CHECK(sss.code().kind == ClientError::kNoLeader);
}

TEST_CASE("controller admin: the leader lookup skips unreachable controllers of an address list") {
  ControllerWorld w;
  AdminClient admin("");
  auto leader = admin.controller_leader_addr("127.0.0.1:1;" + w.addr("follower"));
  REQUIRE_MESSAGE(leader.ok(), leader.detail());
  CHECK(*leader == w.addr("leader"));
  auto none = admin.controller_leader_addr(" ; ");
  REQUIRE_FALSE(none.ok());
  CHECK(none.code().kind == ClientError::kBadArgument);
  auto dead = admin.controller_leader_addr("127.0.0.1:1");
  REQUIRE_FALSE(dead.ok());
  CHECK(dead.code().kind == ClientError::kRpc);
}

TEST_CASE("controller admin: GET_SYNC_STATE_DATA goes to the leader with the names as a JSON array") {
  ControllerWorld w;
  AdminClient admin("");
  auto table = admin.get_sync_state_data(w.addr("follower"), {"broker-a", "broker-b"});
  REQUIRE_MESSAGE(table.ok(), table.detail());
  auto seen = w.take_seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].node == "follower");
  CHECK(seen[0].request.code == kGetMetadataInfo);
  CHECK(seen[1].node == "leader");
  CHECK(seen[1].request.code == kGetSyncStateData);
  CHECK(seen[1].request.ext_fields.empty());
  CHECK(seen[1].request.body == R"(["broker-a","broker-b"])");
  REQUIRE(table->size() == 1);  // the controller knows broker-a only
  const SyncStateReply& a = table->at("broker-a");
  CHECK(a.master_broker_id == 1);
  CHECK(a.master_address == "10.0.0.1:30911");
  CHECK(a.master_epoch == 3);
  CHECK(a.sync_state_set_epoch == 4);
  REQUIRE(a.in_sync_replicas.size() == 1);
  CHECK(a.in_sync_replicas[0].broker_name == "broker-a");
  CHECK(a.in_sync_replicas[0].broker_id == 1);
  CHECK(a.in_sync_replicas[0].broker_address == "10.0.0.1:30911");
  CHECK(a.in_sync_replicas[0].alive);
  REQUIRE(a.not_in_sync_replicas.size() == 1);
  CHECK(a.not_in_sync_replicas[0].broker_id == 2);
  CHECK_FALSE(a.not_in_sync_replicas[0].alive);

  // Asked of the follower directly, it is refused with its code.
  RemotingCommand direct = RemotingCommand::request(kGetSyncStateData);
  direct.body = R"(["broker-a"])";
  auto refused = admin.call(w.addr("follower"), direct);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.code().response_code == kControllerNotLeader);

  CHECK(admin.get_sync_state_data(w.addr("follower"), {}).code().kind == ClientError::kBadArgument);
}

TEST_CASE("controller admin: GET_BROKER_EPOCH_CACHE is asked of the broker and parsed") {
  ControllerWorld w;
  AdminClient admin("");
  auto cache = admin.get_broker_epoch_cache(w.addr("b1"));
  REQUIRE_MESSAGE(cache.ok(), cache.detail());
  auto seen = w.take_seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].node == "b1");
  CHECK(seen[0].request.code == kGetBrokerEpochCache);
  CHECK(seen[0].request.ext_fields.empty());
  CHECK(cache->cluster_name == "c1");
  CHECK(cache->broker_name == "broker-a");
  CHECK(cache->broker_id == 0);
  CHECK(cache->max_offset == 8192);
  REQUIRE(cache->epoch_list.size() == 2);
  CHECK(cache->epoch_list[0].epoch == 1);
  CHECK(cache->epoch_list[0].start_offset == 0);
  CHECK(cache->epoch_list[0].end_offset == 4096);
  CHECK(cache->epoch_list[1].epoch == 2);
  CHECK(cache->epoch_list[1].start_offset == 4096);
  CHECK(cache->epoch_list[1].end_offset == INT64_MAX);

  // A broker not in controller mode answers SYSTEM_ERROR.
  w.answer_code("b1", kGetBrokerEpochCache, response_code::kSystemError, "not in controller mode");
  auto refused = admin.get_broker_epoch_cache(w.addr("b1"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.code().kind == ClientError::kResponse);
  CHECK(refused.code().response_code == response_code::kSystemError);
}

TEST_CASE("controller admin: ELECT_MASTER goes to the leader as an admin-designated election") {
  ControllerWorld w;
  AdminClient admin("");
  const int64_t before = SystemClock().now_ms();
  auto r = admin.elect_master(w.addr("follower"), "c1", "broker-a", 2);
  const int64_t after = SystemClock().now_ms();
  REQUIRE_MESSAGE(r.ok(), r.detail());
  auto seen = w.take_seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].node == "follower");
  CHECK(seen[0].request.code == kGetMetadataInfo);
  CHECK(seen[1].node == "leader");
  const RemotingCommand& req = seen[1].request;
  CHECK(req.code == kElectMaster);
  CHECK(field_names(req) == std::vector<std::string>{"brokerId", "brokerName", "clusterName", "designateElect", "invokeTime"});
  CHECK(field(req, "clusterName") == "c1");
  CHECK(field(req, "brokerName") == "broker-a");
  CHECK(field(req, "brokerId") == "2");
  CHECK(field(req, "designateElect") == "true");
  const int64_t invoke_time = std::stoll(field(req, "invokeTime"));
  CHECK(invoke_time >= before);
  CHECK(invoke_time <= after);
  CHECK(r->master_broker_id == 2);
  CHECK(r->master_address == "10.0.0.2:30911");
  CHECK(r->master_epoch == 4);
  CHECK(r->sync_state_set_epoch == 5);
  CHECK(r->cluster == "c1");
  CHECK(r->broker_name == "broker-a");
  CHECK(r->broker_addrs == std::map<int64_t, std::string>{{1, "10.0.0.1:30911"}, {2, "10.0.0.2:30911"}});
  CHECK(r->sync_state_set == std::vector<int64_t>{2});
}

TEST_CASE("controller admin: CLEAN_BROKER_DATA goes to the leader; null fields are left out") {
  ControllerWorld w;
  AdminClient admin("");
  auto r = admin.clean_broker_metadata(w.addr("follower"), "c1", "broker-a", "1;2", false);
  REQUIRE_MESSAGE(r.ok(), r.detail());
  auto seen = w.take_seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].node == "leader");
  const RemotingCommand& req = seen[1].request;
  CHECK(req.code == kCleanBrokerData);
  CHECK(field_names(req) ==
        std::vector<std::string>{"brokerControllerIdsToClean", "brokerName", "clusterName", "invokeTime", "isCleanLivingBroker"});
  CHECK(field(req, "clusterName") == "c1");
  CHECK(field(req, "brokerName") == "broker-a");
  CHECK(field(req, "brokerControllerIdsToClean") == "1;2");
  CHECK(field(req, "isCleanLivingBroker") == "false");

  auto all = admin.clean_broker_metadata(w.addr("leader"), "", "broker-b", "", true);
  REQUIRE_MESSAGE(all.ok(), all.detail());
  seen = w.take_seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].node == "leader");
  CHECK(field_names(seen[1].request) == std::vector<std::string>{"brokerName", "invokeTime", "isCleanLivingBroker"});
  CHECK(field(seen[1].request, "isCleanLivingBroker") == "true");
}

TEST_CASE("controller admin: config is read from and written to every controller given") {
  ControllerWorld w;
  AdminClient admin("");
  const std::string both = w.addr("leader") + ";" + w.addr("follower");
  auto configs = admin.get_controller_config(both);
  REQUIRE_MESSAGE(configs.ok(), configs.detail());
  auto seen = w.take_seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].node == "leader");
  CHECK(seen[1].node == "follower");
  for (const auto& s : seen) {
    CHECK(s.request.code == kGetControllerConfig);
    CHECK(s.request.ext_fields.empty());
  }
  REQUIRE(configs->size() == 2);
  CHECK(configs->at(w.addr("leader")) == PropertyPairs{{"controllerDLegerGroup", "group1"},
                                                       {"controllerDLegerSelfId", "n0"},
                                                       {"electMasterMaxRetryCount", "3"}});
  CHECK(configs->at(w.addr("follower"))[1].second == "n1");

  auto up = admin.update_controller_config(both, "electMasterMaxRetryCount=5\n");
  REQUIRE_MESSAGE(up.ok(), up.detail());
  seen = w.take_seen();
  REQUIRE(seen.size() == 2);
  for (const auto& s : seen) {
    CHECK(s.request.code == kUpdateControllerConfig);
    CHECK(s.request.ext_fields.empty());
    CHECK(s.request.body == "electMasterMaxRetryCount=5\n");
  }

  // One node refuses a black-listed key: the other is still asked, and the error has the code.
  w.answer_code("leader", kUpdateControllerConfig, response_code::kNoPermission, "Can not update config in black list.");
  auto refused = admin.update_controller_config(both, "configStorePath=/tmp/x\n");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.code().kind == ClientError::kResponse);
  CHECK(refused.code().response_code == response_code::kNoPermission);
  CHECK(refused.detail().find(w.addr("leader")) != std::string::npos);
  CHECK(w.take_seen().size() == 2);
}

TEST_CASE("controller admin: controller response codes 2000-2016 come back as errors with the code") {
  ControllerWorld w;
  AdminClient admin("");
  for (int32_t code = 2000; code <= 2016; ++code) {
    CAPTURE(code);
    w.answer_code("leader", kElectMaster, code, "refused for the test");
    auto r = admin.elect_master(w.addr("follower"), "c1", "broker-a", 1);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code().kind == ClientError::kResponse);
    CHECK(r.code().response_code == code);
    CHECK(r.detail().find("(" + std::to_string(code) + ")") != std::string::npos);
    CHECK(r.detail().find("refused for the test") != std::string::npos);
  }
  w.answer_code("leader", kCleanBrokerData, 2009, "broker-a is still alive");
  auto clean = admin.clean_broker_metadata(w.addr("leader"), "c1", "broker-a", "", false);
  REQUIRE_FALSE(clean.ok());
  CHECK(clean.code().response_code == 2009);
  CHECK(clean.detail().find("CONTROLLER_INVALID_CLEAN_BROKER_METADATA") != std::string::npos);
  w.answer_code("leader", kGetSyncStateData, 2008, "no such broker-set");
  auto sss = admin.get_sync_state_data(w.addr("leader"), {"broker-z"});
  REQUIRE_FALSE(sss.ok());
  CHECK(sss.code().response_code == 2008);
}

TEST_CASE("controller admin: malformed answers are errors naming what was wrong") {
  ControllerWorld w;
  AdminClient admin("");
  auto body = [](std::string text) {
    RemotingCommand r;
    r.body = std::move(text);
    return r;
  };
  for (const char* bad : {"not json", "[1,2]", R"({"replicasInfoTable":[]})",
                          R"({"replicasInfoTable":{"broker-a":{"masterEpoch":"three"}}})",
                          R"({"replicasInfoTable":{"broker-a":{"masterEpoch":99999999999}}})",
                          R"({"replicasInfoTable":{"broker-a":{"inSyncReplicas":[{"brokerId":"x"}]}}})",
                          R"({"replicasInfoTable":{"broker-a":{"inSyncReplicas":[7]}}})"}) {
    CAPTURE(bad);
    w.answer("leader", kGetSyncStateData, body(bad));
    auto r = admin.get_sync_state_data(w.addr("leader"), {"broker-a"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.code().kind == ClientError::kBadBody);
  }
  w.answer("leader", kGetSyncStateData, body(R"({"replicasInfoTable":{"broker-a":{"masterEpoch":"three"}}})"));
  CHECK(admin.get_sync_state_data(w.addr("leader"), {"broker-a"}).detail().find("replicasInfoTable.broker-a.masterEpoch") !=
        std::string::npos);
  // An empty table (or none) is an answer: the controller knows none of them.
  w.answer("leader", kGetSyncStateData, body("{}"));
  auto empty = admin.get_sync_state_data(w.addr("leader"), {"broker-a"});
  REQUIRE_MESSAGE(empty.ok(), empty.detail());
  CHECK(empty->empty());

  for (const char* bad : {"", "{", R"({"epochList":5})", R"({"epochList":[{"epoch":"one"}]})", R"({"maxOffset":1.5})"}) {
    CAPTURE(bad);
    w.answer("b1", kGetBrokerEpochCache, body(bad));
    auto r = admin.get_broker_epoch_cache(w.addr("b1"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.code().kind == ClientError::kBadBody);
  }

  RemotingCommand elect;
  elect.ext_fields.set("masterEpoch", std::string("x"));
  w.answer("leader", kElectMaster, elect);
  CHECK(admin.elect_master(w.addr("leader"), "c1", "broker-a", 1).code().kind == ClientError::kBadBody);
  for (const char* bad : {"{", R"({"brokerMemberGroup":{"brokerAddrs":{"one":"10.0.0.1:1"}}})",
                          R"({"brokerMemberGroup":{"brokerAddrs":{1:5}}})", R"({"brokerMemberGroup":7})",
                          R"({"syncStateSet":["a"]})"}) {
    CAPTURE(bad);
    w.answer("leader", kElectMaster, body(bad));
    auto r = admin.elect_master(w.addr("leader"), "c1", "broker-a", 1);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code().kind == ClientError::kBadBody);
  }
  // The shape RocketMQ's own tool expects (a bare BrokerMemberGroup) is read too, and an empty
  // body (as after 2011, where only the code matters) is no error on SUCCESS.
  w.answer("leader", kElectMaster, body(R"({"brokerAddrs":{1:"10.0.0.1:1"},"brokerName":"broker-a","cluster":"c1"})"));
  auto bare = admin.elect_master(w.addr("leader"), "c1", "broker-a", 1);
  REQUIRE_MESSAGE(bare.ok(), bare.detail());
  CHECK(bare->broker_addrs == std::map<int64_t, std::string>{{1, "10.0.0.1:1"}});
  CHECK_FALSE(bare->master_epoch.has_value());
  w.answer("leader", kElectMaster, body(""));
  CHECK(admin.elect_master(w.addr("leader"), "c1", "broker-a", 1).ok());
}

TEST_CASE("mqadmin getControllerMetaData and getSyncStateSet print what RocketMQ's tool prints") {
  ControllerWorld w;
  const std::string l = w.addr("leader"), f = w.addr("follower");
  {
    auto [rc, out] = mqadmin("getControllerMetaData -a " + f);
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out == "\n#ControllerGroup\tgroup1\n#ControllerLeaderId\tn0\n#ControllerLeaderAddress\t" + l + "\n#Peer:\tn0:" + l +
                     "\n#Peer:\tn1:" + f + "\n");
  }
  {
    auto [rc, out] = mqadmin("getControllerMetaData -a " + f + " --json");
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out == R"({"controllerLeaderAddress":")" + l + R"(","controllerLeaderId":"n0","group":"group1","isLeader":false,"peers":["n0:)" +
                     l + R"(","n1:)" + f + "\"]}\n");
  }
  const std::string sss_text =
      "\n#brokerName\tbroker-a\n#MasterBrokerId\t1\n#MasterAddr\t10.0.0.1:30911\n#MasterEpoch\t3\n#SyncStateSetEpoch\t4\n"
      "#SyncStateSetNums\t1\n"
      "\nInSyncReplica:\tReplicaIdentity{brokerName='broker-a', brokerId=1, brokerAddress='10.0.0.1:30911', alive=true}\n"
      "\nNotInSyncReplica:\tReplicaIdentity{brokerName='broker-a', brokerId=2, brokerAddress='10.0.0.2:30911', alive=false}\n";
  w.take_seen();
  {
    auto [rc, out] = mqadmin("getSyncStateSet -a " + f + " -b broker-a");
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out == sss_text);
    auto seen = w.take_seen();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].node == "leader");
    CHECK(seen[1].request.body == R"(["broker-a"])");
  }
  {
    // -c: the cluster's broker names from the NameServer.
    auto [rc, out] = mqadmin("getSyncStateSet -a " + f + " -c c1 -n " + w.addr("namesrv"));
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out == sss_text);
    auto seen = w.take_seen();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].node == "namesrv");
    CHECK(seen[0].request.code == request_code::kGetBrokerClusterInfo);
    CHECK(seen[2].node == "leader");
    CHECK(seen[2].request.body == R"(["broker-a","broker-b"])");
  }
  {
    auto [rc, out] = mqadmin("getSyncStateSet -a " + f + " -c nope -n " + w.addr("namesrv"));
    CHECK(rc == 1);
    CHECK(out.find("Make sure the specified clusterName exists") != std::string::npos);
  }
  {
    w.answer_code("leader", kGetSyncStateData, 2008, "no such broker-set");
    auto [rc, out] = mqadmin("getSyncStateSet -a " + f + " -b broker-z");
    CHECK(rc == 1);
    CHECK(out.find("CONTROLLER_BROKER_METADATA_NOT_EXIST (2008)") != std::string::npos);
  }
}

TEST_CASE("mqadmin's other controller commands: output and what they sent") {
  ControllerWorld w;
  const std::string l = w.addr("leader"), f = w.addr("follower");
  {
    auto [rc, out] = mqadmin("getBrokerEpoch -b broker-a -n " + w.addr("namesrv"));
    CHECK_MESSAGE(rc == 0, out);
    // Both replicas, in address order; the open last epoch ends at each broker's max offset.
    std::string b1 = "\n#clusterName\tc1\n#brokerName\tbroker-a\n#brokerAddr\t" + w.addr("b1") +
                     "\n#brokerId\t0\n#Epoch: EpochEntry{epoch=1, startOffset=0, endOffset=4096}"
                     "\n#Epoch: EpochEntry{epoch=2, startOffset=4096, endOffset=8192}\n";
    std::string b2 = "\n#clusterName\tc1\n#brokerName\tbroker-a\n#brokerAddr\t" + w.addr("b2") +
                     "\n#brokerId\t2\n#Epoch: EpochEntry{epoch=1, startOffset=0, endOffset=4096}"
                     "\n#Epoch: EpochEntry{epoch=2, startOffset=4096, endOffset=6000}\n";
    CHECK(out == (w.addr("b1") < w.addr("b2") ? b1 + b2 : b2 + b1));
  }
  w.take_seen();
  {
    auto [rc, out] = mqadmin("electMaster -a " + f + " -c c1 -bn broker-a -b 2");
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out ==
          "\n#ClusterName\tc1\n#BrokerName\tbroker-a\n#BrokerMasterAddr\t10.0.0.2:30911\n#MasterEpoch\t4\n"
          "#SyncStateSetEpoch\t5\n\t#Broker\t1\t10.0.0.1:30911\n\t#Broker\t2\t10.0.0.2:30911\n");
    auto seen = w.take_seen();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].node == "leader");
    CHECK(field(seen[1].request, "brokerId") == "2");
    CHECK(field(seen[1].request, "designateElect") == "true");
  }
  {
    auto [rc, out] = mqadmin("electMaster -a " + f + " -c c1 -bn broker-a -b two");
    CHECK(rc == 1);
    CHECK(out.find("-b takes the broker's controller id") != std::string::npos);
  }
  {
    auto [rc, out] = mqadmin("cleanBrokerMetadata -a " + f + " -bn broker-a -c c1 -b '1;2'");
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out == "clear broker broker-a metadata from controller success! \n");
    auto seen = w.take_seen();
    REQUIRE(seen.size() == 2);
    CHECK(field(seen[1].request, "brokerControllerIdsToClean") == "1;2");
    CHECK(field(seen[1].request, "isCleanLivingBroker") == "false");
  }
  {
    auto [rc, out] = mqadmin("cleanBrokerMetadata -a " + f + " -bn broker-a -l");
    CHECK_MESSAGE(rc == 0, out);
    auto seen = w.take_seen();
    REQUIRE(seen.size() == 2);
    CHECK(field(seen[1].request, "isCleanLivingBroker") == "true");
    CHECK(field(seen[1].request, "clusterName") == "<absent>");
  }
  {
    auto [rc, out] = mqadmin("cleanBrokerMetadata -a " + f + " -bn broker-a");
    CHECK(rc == 1);
    CHECK(out.find("clusterName option can not be empty") != std::string::npos);
    CHECK(w.take_seen().empty());
  }
  {
    auto [rc, out] = mqadmin("getControllerConfig -a '" + l + "'");
    CHECK_MESSAGE(rc == 0, out);
    char line[128];
    std::string expected = "============" + l + "============\n";
    for (auto [k, v] : {std::pair{"controllerDLegerGroup", "group1"}, std::pair{"controllerDLegerSelfId", "n0"},
                        std::pair{"electMasterMaxRetryCount", "3"}}) {
      std::snprintf(line, sizeof line, "%-50s=  %s\n", k, v);
      expected += line;
    }
    CHECK(out == expected);
  }
  w.take_seen();
  {
    auto [rc, out] = mqadmin("updateControllerConfig -a '" + l + ";" + f + "' -k electMasterMaxRetryCount -v 5");
    CHECK_MESSAGE(rc == 0, out);
    CHECK(out == "update controller config success![" + l + ", " + f + "]\nelectMasterMaxRetryCount : 5\n");
    auto seen = w.take_seen();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].request.body == "electMasterMaxRetryCount=5\n");
  }
  {
    auto [rc, out] = mqadmin("getControllerMetaData -a 127.0.0.1:1");
    CHECK(rc == 1);
    CHECK(out.find("mqadmin: getControllerMetaData:") != std::string::npos);
  }
}
