// The controller's replicated tables (reference 4.1-4.3, 4.6, 4.7): applying each event, the
// request logic's checks in their order, elections from all three triggers, and the leader's
// helpers. Liveness comes from heartbeats on a plain integer clock.
#include <doctest/doctest.h>

#include <climits>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "codec/codes.h"
#include "codec/controller_data.h"
#include "controller/replicas_info_manager.h"

using namespace mq;
using namespace mq::controller;

namespace {

constexpr int64_t kNow = 1'000'000;
namespace rc = response_code;

ExtFields ext(std::initializer_list<std::pair<const char*, std::string>> kv) {
  ExtFields f;
  for (const auto& [k, v] : kv) f.set(k, v);
  return f;
}

std::string addr(int64_t id) { return "10.0.0." + std::to_string(id) + ":30911"; }

std::string field(const ControllerResult& r, const char* key) {
  const std::string* v = r.header.find(key);
  return v ? *v : std::string("<absent>");
}

void apply_all(ReplicasInfoManager& m, const ControllerResult& r) {
  for (const auto& e : r.events) REQUIRE(m.apply(e).ok());
}

void beat(BrokerHeartbeatManager& hb, int64_t id, int64_t epoch = 1, int64_t max_offset = 0,
          int64_t priority = INT32_MAX, int64_t at_ms = kNow, const std::string& name = "broker-a") {
  ExtFields f;
  f.set("clusterName", std::string("c1"));
  f.set("brokerAddr", addr(id));
  f.set("brokerName", name);
  f.set("brokerId", id);
  f.set("epoch", epoch);
  f.set("maxOffset", max_offset);
  f.set("electionPriority", priority);
  REQUIRE(hb.on_heartbeat(f, static_cast<uint64_t>(id), at_ms).ok());
}

ControllerResult apply_id(const ReplicasInfoManager& m, int64_t id, const std::string& check_code,
                          const std::string& name = "broker-a") {
  return m.apply_broker_id(ext({{"clusterName", "c1"},
                                {"brokerName", name},
                                {"appliedBrokerId", std::to_string(id)},
                                {"registerCheckCode", check_code}}));
}

void add_member(ReplicasInfoManager& m, int64_t id, const std::string& name = "broker-a") {
  auto r = apply_id(m, id, addr(id) + ";1700000000000", name);
  REQUIRE(r.code == 0);
  apply_all(m, r);
}

ExtFields elect_header(const std::string& cluster, int64_t id, bool designate, const std::string& name = "broker-a") {
  return ext({{"clusterName", cluster},
              {"brokerName", name},
              {"brokerId", std::to_string(id)},
              {"designateElect", designate ? "true" : "false"},
              {"invokeTime", "1"}});
}
ExtFields controller_trigger(const std::string& name = "broker-a") { return elect_header("", -1, false, name); }
ExtFields broker_trigger(int64_t id) { return elect_header("c1", id, false); }
ExtFields admin_trigger(int64_t id) { return elect_header("c1", id, true); }

ExtFields alter_header(const std::string& master, const std::string& epoch, const std::string& name = "broker-a") {
  return ext({{"brokerName", name}, {"masterBrokerId", master}, {"masterEpoch", epoch}, {"invokeTime", "1"}});
}

ControllerEvent decoded(const std::string& entry) {
  auto e = decode_event(entry);
  REQUIRE(e.ok());
  return *e;
}

// Members 1..n, master 1 elected by its own first election (masterEpoch 1, SSS {1}, epoch 1).
ReplicasInfoManager set_with_master(int n) {
  ReplicasInfoManager m;
  for (int id = 1; id <= n; ++id) add_member(m, id);
  BrokerHeartbeatManager none;
  auto r = m.elect_master(broker_trigger(1), none, kNow);
  REQUIRE(r.code == 0);
  apply_all(m, r);
  return m;
}

}  // namespace

// ---- applying events (4.2) ----

TEST_CASE("apply: APPLY_BROKER_ID on an unknown set creates both tables") {
  ReplicasInfoManager m;
  REQUIRE(m.apply(encode_event(ApplyBrokerIdEvent{"c1", "broker-a", addr(1), 1, addr(1) + ";7"})).ok());
  REQUIRE(m.contains("broker-a"));
  const BrokerReplicaInfo* rep = m.replica_info("broker-a");
  const SyncStateInfo* sync = m.sync_state_info("broker-a");
  REQUIRE(rep != nullptr);
  REQUIRE(sync != nullptr);
  CHECK(rep->cluster_name == "c1");
  CHECK(rep->next_assign_broker_id == 2);
  REQUIRE(rep->members.size() == 1);
  CHECK(rep->members.at(1).address == addr(1));
  CHECK(rep->members.at(1).register_check_code == addr(1) + ";7");
  CHECK(sync->cluster_name == "c1");
  CHECK(sync->master_epoch == 0);
  CHECK(sync->sync_state_set_epoch == 0);
  CHECK(sync->sync_state_set.empty());
  CHECK_FALSE(sync->master_broker_id.has_value());

  // A used id changes nothing; a new one is added and bumps the counter whatever its value.
  REQUIRE(m.apply(encode_event(ApplyBrokerIdEvent{"c1", "broker-a", "x:1", 1, "x:1;8"})).ok());
  CHECK(rep->members.at(1).address == addr(1));
  CHECK(rep->next_assign_broker_id == 2);
  REQUIRE(m.apply(encode_event(ApplyBrokerIdEvent{"c1", "broker-a", addr(5), 5, addr(5) + ";9"})).ok());
  CHECK(rep->members.size() == 2);
  CHECK(rep->next_assign_broker_id == 3);
}

TEST_CASE("apply: ALTER replaces the SyncStateSet and bumps its epoch; unknown sets are ignored") {
  ReplicasInfoManager m = set_with_master(3);
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2, 3}})).ok());
  const SyncStateInfo* sync = m.sync_state_info("broker-a");
  CHECK(sync->sync_state_set == std::set<int64_t>{1, 2, 3});
  CHECK(sync->sync_state_set_epoch == 2);
  CHECK(sync->master_epoch == 1);
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"nobody", {1}})).ok());
  CHECK_FALSE(m.contains("nobody"));
}

TEST_CASE("apply: ELECT elected and not elected") {
  ReplicasInfoManager m = set_with_master(3);
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2}})).ok());
  const SyncStateInfo* sync = m.sync_state_info("broker-a");
  REQUIRE(sync->sync_state_set_epoch == 2);

  REQUIRE(m.apply(encode_event(ElectMasterEvent{"broker-a", true, 2})).ok());
  CHECK(sync->master_broker_id == 2);
  CHECK(sync->master_epoch == 2);
  CHECK(sync->sync_state_set == std::set<int64_t>{2});
  CHECK(sync->sync_state_set_epoch == 3);

  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {2, 3}})).ok());
  REQUIRE(m.apply(encode_event(ElectMasterEvent{"broker-a", false, std::nullopt})).ok());
  CHECK_FALSE(sync->master_broker_id.has_value());
  CHECK(sync->master_epoch == 3);
  CHECK(sync->sync_state_set == std::set<int64_t>{2, 3});  // kept
  CHECK(sync->sync_state_set_epoch == 4);                  // unchanged by the not-elected event
  CHECK_FALSE(m.is_master("broker-a", 2));
}

TEST_CASE("apply: CLEAN deletes a set, or ids, dropping a table that is empty") {
  SUBCASE("whole set") {
    ReplicasInfoManager m = set_with_master(2);
    REQUIRE(m.apply(encode_event(CleanBrokerDataEvent{"broker-a", std::nullopt})).ok());
    CHECK_FALSE(m.contains("broker-a"));
    CHECK(m.replica_info("broker-a") == nullptr);
    CHECK(m.sync_state_info("broker-a") == nullptr);
  }
  SUBCASE("an empty id set is the whole set too") {
    ReplicasInfoManager m = set_with_master(2);
    REQUIRE(m.apply(encode_event(CleanBrokerDataEvent{"broker-a", std::set<int64_t>{}})).ok());
    CHECK(m.replica_info("broker-a") == nullptr);
  }
  SUBCASE("some ids") {
    ReplicasInfoManager m = set_with_master(3);
    REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2}})).ok());
    REQUIRE(m.apply(encode_event(CleanBrokerDataEvent{"broker-a", std::set<int64_t>{2, 3}})).ok());
    REQUIRE(m.contains("broker-a"));
    CHECK(m.replica_info("broker-a")->members.size() == 1);
    CHECK(m.sync_state_info("broker-a")->sync_state_set == std::set<int64_t>{1});
    CHECK(m.replica_info("broker-a")->next_assign_broker_id == 4);  // ids are never reused
  }
  SUBCASE("removing the last SyncStateSet member drops that table (RocketMQ's behaviour)") {
    ReplicasInfoManager m = set_with_master(2);  // SSS {1}
    REQUIRE(m.apply(encode_event(CleanBrokerDataEvent{"broker-a", std::set<int64_t>{1}})).ok());
    CHECK_FALSE(m.contains("broker-a"));
    REQUIRE(m.replica_info("broker-a") != nullptr);  // member 2 is left behind
    CHECK(m.replica_info("broker-a")->members.size() == 1);
    CHECK(m.sync_state_info("broker-a") == nullptr);
    // GET_NEXT_BROKER_ID still sees the replica table; APPLY starts the set afresh.
    CHECK(field(m.get_next_broker_id(ext({{"brokerName", "broker-a"}})), "nextBrokerId") == "3");
    REQUIRE(m.apply(encode_event(ApplyBrokerIdEvent{"c1", "broker-a", addr(3), 3, addr(3) + ";1"})).ok());
    REQUIRE(m.contains("broker-a"));
    CHECK(m.replica_info("broker-a")->members.size() == 1);
    CHECK(m.sync_state_info("broker-a")->master_epoch == 0);
  }
  SUBCASE("ids of an unknown set: nothing happens") {
    ReplicasInfoManager m;
    REQUIRE(m.apply(encode_event(CleanBrokerDataEvent{"broker-a", std::set<int64_t>{1}})).ok());
    CHECK(m.status_json()["replicaInfoTable"].empty());
  }
}

TEST_CASE("apply: UPDATE_BROKER_ADDRESS replaces the address and keeps the check code") {
  ReplicasInfoManager m = set_with_master(1);
  REQUIRE(m.apply(encode_event(UpdateBrokerAddressEvent{"c1", "broker-a", "10.9.9.9:1", 1})).ok());
  CHECK(m.replica_info("broker-a")->members.at(1).address == "10.9.9.9:1");
  CHECK(m.replica_info("broker-a")->members.at(1).register_check_code == addr(1) + ";1700000000000");
  // Unknown id or set: nothing.
  REQUIRE(m.apply(encode_event(UpdateBrokerAddressEvent{"c1", "broker-a", "y:1", 9})).ok());
  REQUIRE(m.apply(encode_event(UpdateBrokerAddressEvent{"c1", "nobody", "y:1", 1})).ok());
  CHECK(m.replica_info("broker-a")->members.size() == 1);
}

TEST_CASE("apply: a malformed entry is an error and changes nothing; READ changes nothing") {
  ReplicasInfoManager m = set_with_master(2);
  auto before = m.status_json();
  for (std::string bad : {std::string(), std::string("\x00", 1), std::string("\x00\x01{", 3),
                          std::string("\x00\x09{}", 4), std::string("\x00\x03{\"newMasterElected\":true}", 27)}) {
    auto r = m.apply(bad);
    CHECK_FALSE(r.ok());
  }
  REQUIRE(m.apply(encode_event(ReadEvent{})).ok());
  CHECK(m.status_json() == before);
}

// ---- ALTER_SYNC_STATE_SET (4.3), each check in its order ----

TEST_CASE("alter: every check, in order") {
  ReplicasInfoManager m = set_with_master(3);  // master 1, masterEpoch 1, SSS {1}, sssEpoch 1
  BrokerHeartbeatManager hb;
  beat(hb, 1);
  beat(hb, 2);
  // 3 never heartbeats: not alive.
  auto alter = [&](const ExtFields& h, const SyncStateSet& s) { return m.alter_sync_state_set(h, s.to_json(), hb, kNow); };

  CHECK(alter(alter_header("1", "1", "nobody"), {{1, 2}, 1}).code == rc::kControllerAlterSyncStateSetFailed);
  CHECK(alter(alter_header("1", "1"), {{1}, 1}).code == rc::kControllerAlterSyncStateSetFailed);  // unchanged
  CHECK(alter(alter_header("2", "1"), {{1, 2}, 1}).code == rc::kControllerInvalidMaster);
  CHECK(alter(ext({{"brokerName", "broker-a"}, {"masterEpoch", "1"}}), {{1, 2}, 1}).code == rc::kControllerInvalidMaster);
  CHECK(alter(alter_header("1", "0"), {{1, 2}, 1}).code == rc::kControllerFencedMasterEpoch);
  CHECK(alter(alter_header("1", "1"), {{1, 2}, 0}).code == rc::kControllerFencedSyncStateSetEpoch);
  CHECK(alter(alter_header("1", "1"), {{1, 4}, 1}).code == rc::kControllerInvalidReplicas);
  CHECK(alter(alter_header("1", "1"), {{1, 3}, 1}).code == rc::kControllerBrokerNotAlive);
  CHECK(alter(alter_header("1", "1"), {{2}, 1}).code == rc::kControllerAlterSyncStateSetFailed);  // lacks master
  // A request failing several checks gets the first one's code.
  CHECK(alter(alter_header("2", "0"), {{1, 4}, 0}).code == rc::kControllerInvalidMaster);
  CHECK(alter(alter_header("1", "0"), {{1, 4}, 0}).code == rc::kControllerFencedMasterEpoch);
  CHECK(alter(alter_header("1", "1"), {{3, 4}, 1}).code == rc::kControllerBrokerNotAlive);  // 3 is checked first
  // Refusals carry no events and Java's primitive newSyncStateSetEpoch (0).
  auto refused = alter(alter_header("1", "0"), {{1, 2}, 1});
  CHECK(refused.events.empty());
  CHECK(field(refused, "newSyncStateSetEpoch") == "0");
  CHECK_FALSE(refused.remark.empty());

  auto ok = alter(alter_header("1", "1"), {{1, 2}, 1});
  REQUIRE(ok.code == 0);
  CHECK(field(ok, "newSyncStateSetEpoch") == "2");
  CHECK(ok.body == R"({"syncStateSet":[1,2],"syncStateSetEpoch":2})");
  REQUIRE(ok.events.size() == 1);
  CHECK(decoded(ok.events[0]) == ControllerEvent{AlterSyncStateSetEvent{"broker-a", {1, 2}}});
  // The request logic never mutates: only the committed event does.
  CHECK(m.sync_state_info("broker-a")->sync_state_set == std::set<int64_t>{1});
  apply_all(m, ok);
  CHECK(m.sync_state_info("broker-a")->sync_state_set == std::set<int64_t>{1, 2});
  CHECK(m.sync_state_info("broker-a")->sync_state_set_epoch == 2);
  // The same request again is now stale.
  CHECK(alter(alter_header("1", "1"), {{1, 2}, 1}).code == rc::kControllerAlterSyncStateSetFailed);
  CHECK(alter(alter_header("1", "1"), {{1}, 1}).code == rc::kControllerFencedSyncStateSetEpoch);
}

TEST_CASE("alter: a set without a master refuses with 2002; bad input is SYSTEM_ERROR") {
  ReplicasInfoManager m;
  add_member(m, 1);
  add_member(m, 2);
  BrokerHeartbeatManager hb;
  beat(hb, 1);
  beat(hb, 2);
  CHECK(m.alter_sync_state_set(alter_header("1", "0"), SyncStateSet{{1, 2}, 0}.to_json(), hb, kNow).code ==
        rc::kControllerInvalidMaster);
  auto no_epoch = m.alter_sync_state_set(ext({{"brokerName", "broker-a"}, {"masterBrokerId", "1"}}),
                                         SyncStateSet{{1, 2}, 0}.to_json(), hb, kNow);
  CHECK(no_epoch.code == rc::kSystemError);
  CHECK(no_epoch.remark.find("masterEpoch") != std::string::npos);
  auto bad_id = m.alter_sync_state_set(alter_header("x1", "0"), SyncStateSet{{1, 2}, 0}.to_json(), hb, kNow);
  CHECK(bad_id.code == rc::kSystemError);
  CHECK(bad_id.remark.find("masterBrokerId") != std::string::npos);
  CHECK(m.alter_sync_state_set(alter_header("1", "99999999999"), "{}", hb, kNow).code == rc::kSystemError);
  CHECK(m.alter_sync_state_set(alter_header("1", "0"), "", hb, kNow).code == rc::kSystemError);
  CHECK(m.alter_sync_state_set(alter_header("1", "0"), "{\"syncStateSet\":", hb, kNow).code == rc::kSystemError);
  CHECK(m.alter_sync_state_set(ext({{"masterBrokerId", "1"}, {"masterEpoch", "0"}}), "{}", hb, kNow).code ==
        rc::kSystemError);
}

// ---- REGISTER, GET_REPLICA_INFO, GET_SYNC_STATE_DATA ----

TEST_CASE("register: unknown set or id; master info only with a live master; address updates") {
  ReplicasInfoManager m = set_with_master(2);
  BrokerHeartbeatManager hb;
  auto reg = [&](const std::string& name, int64_t id, const std::string& address) {
    return m.register_broker(ext({{"clusterName", "c1"},
                                  {"brokerName", name},
                                  {"brokerId", std::to_string(id)},
                                  {"brokerAddress", address},
                                  {"invokeTime", "1"}}),
                             hb, kNow);
  };
  auto unknown = reg("nobody", 1, addr(1));
  CHECK(unknown.code == rc::kControllerBrokerNeedToBeRegistered);
  CHECK(field(unknown, "brokerName") == "nobody");
  CHECK(reg("broker-a", 7, addr(7)).code == rc::kControllerBrokerNeedToBeRegistered);

  // Master 1 not alive: no master fields; the SSS is the body either way.
  auto no_master = reg("broker-a", 2, addr(2));
  REQUIRE(no_master.code == 0);
  CHECK(field(no_master, "clusterName") == "c1");
  CHECK(field(no_master, "brokerName") == "broker-a");
  CHECK(field(no_master, "masterBrokerId") == "<absent>");
  CHECK(field(no_master, "masterAddress") == "<absent>");
  CHECK(field(no_master, "masterEpoch") == "<absent>");
  CHECK(no_master.body == R"({"syncStateSet":[1],"syncStateSetEpoch":1})");
  CHECK(no_master.events.empty());

  beat(hb, 1);
  auto with_master = reg("broker-a", 2, addr(2));
  REQUIRE(with_master.code == 0);
  CHECK(field(with_master, "masterBrokerId") == "1");
  CHECK(field(with_master, "masterAddress") == addr(1));
  CHECK(field(with_master, "masterEpoch") == "1");
  CHECK(field(with_master, "syncStateSetEpoch") == "1");

  auto moved = reg("broker-a", 2, "10.1.1.1:30911");
  REQUIRE(moved.code == 0);
  REQUIRE(moved.events.size() == 1);
  CHECK(decoded(moved.events[0]) == ControllerEvent{UpdateBrokerAddressEvent{"c1", "broker-a", "10.1.1.1:30911", 2}});
  apply_all(m, moved);
  CHECK(m.replica_info("broker-a")->members.at(2).address == "10.1.1.1:30911");

  CHECK(m.register_broker(ext({{"brokerName", "broker-a"}, {"brokerAddress", "a:1"}}), hb, kNow).code ==
        rc::kSystemError);
}

TEST_CASE("get replica info") {
  ReplicasInfoManager m;
  CHECK(m.get_replica_info(ext({{"brokerName", "broker-a"}})).code == rc::kControllerBrokerMetadataNotExist);
  CHECK(m.get_replica_info(ExtFields{}).code == rc::kSystemError);
  add_member(m, 1);
  auto none = m.get_replica_info(ext({{"brokerName", "broker-a"}}));
  REQUIRE(none.code == 0);
  CHECK(field(none, "masterBrokerId") == "<absent>");
  CHECK(field(none, "masterAddress") == "<absent>");
  CHECK(field(none, "masterEpoch") == "0");
  CHECK(none.body == R"({"syncStateSet":[],"syncStateSetEpoch":0})");
  m = set_with_master(2);
  auto some = m.get_replica_info(ext({{"brokerName", "broker-a"}}));
  CHECK(field(some, "masterBrokerId") == "1");
  CHECK(field(some, "masterAddress") == addr(1));
  CHECK(field(some, "masterEpoch") == "1");
  CHECK(some.body == R"({"syncStateSet":[1],"syncStateSetEpoch":1})");
  CHECK(some.events.empty());
}

TEST_CASE("get sync state data: members split by SSS with alive flags; unknown names skipped") {
  ReplicasInfoManager m = set_with_master(2);
  BrokerHeartbeatManager hb;
  beat(hb, 1);
  auto r = m.get_sync_state_data(R"(["broker-a","nobody"])", hb, kNow);
  REQUIRE(r.code == 0);
  CHECK(r.body ==
        R"({"replicasInfoTable":{"broker-a":{"inSyncReplicas":[{"alive":true,"brokerAddress":"10.0.0.1:30911",)"
        R"("brokerId":1,"brokerName":"broker-a"}],"masterAddress":"10.0.0.1:30911","masterBrokerId":1,)"
        R"("masterEpoch":1,"notInSyncReplicas":[{"alive":false,"brokerAddress":"10.0.0.2:30911",)"
        R"("brokerId":2,"brokerName":"broker-a"}],"syncStateSetEpoch":1}}})");
  CHECK(r.events.empty());
  CHECK(m.get_sync_state_data("", hb, kNow).code == rc::kSystemError);
  CHECK(m.get_sync_state_data("[]", hb, kNow).code == rc::kSystemError);
  CHECK(m.get_sync_state_data("[1]", hb, kNow).code == rc::kSystemError);
  CHECK(m.get_sync_state_data("nonsense", hb, kNow).code == rc::kSystemError);
  auto empty = m.get_sync_state_data(R"(["nobody"])", hb, kNow);
  CHECK(empty.code == 0);
  CHECK(empty.body == R"({"replicasInfoTable":{}})");
}

// ---- persistent broker ids (4.4) ----

TEST_CASE("next broker id and apply broker id, including the idempotent retry") {
  ReplicasInfoManager m;
  auto next = m.get_next_broker_id(ext({{"clusterName", "c1"}, {"brokerName", "broker-a"}}));
  REQUIRE(next.code == 0);
  CHECK(field(next, "nextBrokerId") == "1");
  CHECK(field(next, "clusterName") == "c1");
  CHECK(field(next, "brokerName") == "broker-a");
  CHECK(next.events.empty());
  CHECK(m.get_next_broker_id(ExtFields{}).code == rc::kSystemError);

  // Unknown set: only id 1.
  CHECK(apply_id(m, 2, addr(2) + ";5").code == rc::kControllerBrokerIdInvalid);
  auto first = apply_id(m, 1, addr(1) + ";5");
  REQUIRE(first.code == 0);
  CHECK(field(first, "clusterName") == "c1");
  CHECK(field(first, "brokerName") == "broker-a");
  REQUIRE(first.events.size() == 1);
  CHECK(decoded(first.events[0]) == ControllerEvent{ApplyBrokerIdEvent{"c1", "broker-a", addr(1), 1, addr(1) + ";5"}});
  apply_all(m, first);
  CHECK(field(m.get_next_broker_id(ext({{"brokerName", "broker-a"}})), "nextBrokerId") == "2");

  // Known set: an unused id is fine, a used one only with the same check code.
  auto retry = apply_id(m, 1, addr(1) + ";5");
  REQUIRE(retry.code == 0);
  REQUIRE(retry.events.size() == 1);
  apply_all(m, retry);  // applying the retry changes nothing
  CHECK(m.replica_info("broker-a")->next_assign_broker_id == 2);
  CHECK(apply_id(m, 1, addr(9) + ";6").code == rc::kControllerBrokerIdInvalid);
  auto second = apply_id(m, 2, addr(2) + ";6");
  REQUIRE(second.code == 0);
  apply_all(m, second);
  CHECK(m.replica_info("broker-a")->members.at(2).address == addr(2));
  CHECK(apply_id(m, 7, addr(7) + ";6").code == 0);  // any unused id, not only the next one

  // The address is the check code up to its first ';'.
  auto odd = apply_id(m, 3, "10.0.0.3:30911");
  REQUIRE(odd.code == 0);
  CHECK(std::get<ApplyBrokerIdEvent>(decoded(odd.events[0])).broker_address == "10.0.0.3:30911");
  auto more = apply_id(m, 4, "a:1;2;3");
  CHECK(std::get<ApplyBrokerIdEvent>(decoded(more.events[0])).broker_address == "a:1");

  CHECK(m.apply_broker_id(ext({{"brokerName", "broker-a"}, {"appliedBrokerId", "3"}})).code == rc::kSystemError);
  CHECK(m.apply_broker_id(ext({{"brokerName", "broker-a"}, {"appliedBrokerId", "three"}, {"registerCheckCode", "a;1"}}))
            .code == rc::kSystemError);
}

// ---- CLEAN_BROKER_DATA ----

TEST_CASE("clean: refusals and the events it produces") {
  ReplicasInfoManager m = set_with_master(3);
  BrokerHeartbeatManager hb;
  beat(hb, 2);
  auto clean = [&](std::initializer_list<std::pair<const char*, std::string>> kv) {
    return m.clean_broker_data(ext(kv), hb, kNow);
  };
  CHECK(clean({{"brokerName", "nobody"}, {"brokerControllerIdsToClean", "1"}}).code ==
        rc::kControllerInvalidCleanBrokerMetadata);
  CHECK(clean({{"brokerName", "broker-a"}}).code == rc::kControllerInvalidCleanBrokerMetadata);  // has a master
  CHECK(clean({{"brokerName", "broker-a"}, {"brokerControllerIdsToClean", "  "}}).code ==
        rc::kControllerInvalidCleanBrokerMetadata);  // blank = no list
  CHECK(clean({{"brokerName", "broker-a"}, {"brokerControllerIdsToClean", "3;2"}}).code ==
        rc::kControllerInvalidCleanBrokerMetadata);  // 2 is alive
  for (const char* bad : {"1;x", "1;;3", ";1", " 1", "1.5", "99999999999999999999", "+-1", "2;+-3"}) {
    CAPTURE(bad);
    CHECK(clean({{"brokerName", "broker-a"}, {"brokerControllerIdsToClean", bad}}).code ==
          rc::kControllerInvalidCleanBrokerMetadata);
  }
  CHECK(clean({}).code == rc::kSystemError);

  auto ids = clean({{"clusterName", "c1"}, {"brokerName", "broker-a"}, {"brokerControllerIdsToClean", "3;+1;"}});
  REQUIRE(ids.code == 0);
  REQUIRE(ids.events.size() == 1);
  CHECK(decoded(ids.events[0]) == ControllerEvent{CleanBrokerDataEvent{"broker-a", std::set<int64_t>{1, 3}}});

  // Cleaning living brokers skips the liveness refusals and keeps the id list.
  auto living = clean({{"brokerName", "broker-a"}, {"brokerControllerIdsToClean", "2"}, {"isCleanLivingBroker", "true"}});
  REQUIRE(living.code == 0);
  CHECK(decoded(living.events[0]) == ControllerEvent{CleanBrokerDataEvent{"broker-a", std::set<int64_t>{2}}});
  auto living_all = clean({{"brokerName", "broker-a"}, {"isCleanLivingBroker", "true"}});
  REQUIRE(living_all.code == 0);
  CHECK(decoded(living_all.events[0]) == ControllerEvent{CleanBrokerDataEvent{"broker-a", std::nullopt}});

  // Without a master the whole set may go.
  REQUIRE(m.apply(encode_event(ElectMasterEvent{"broker-a", false, std::nullopt})).ok());
  auto whole = clean({{"brokerName", "broker-a"}});
  REQUIRE(whole.code == 0);
  CHECK(whole.events[0].substr(2) == R"({"brokerName":"broker-a","eventType":"CLEAN_BROKER_DATA_EVENT"})");
  apply_all(m, whole);
  CHECK_FALSE(m.contains("broker-a"));
}

// ---- ELECT_MASTER (4.6) ----

TEST_CASE("elect: unknown set; first election makes the caller master") {
  ReplicasInfoManager m;
  BrokerHeartbeatManager hb;
  CHECK(m.elect_master(broker_trigger(1), hb, kNow).code == rc::kControllerBrokerNeedToBeRegistered);
  CHECK(m.elect_master(ExtFields{}, hb, kNow).code == rc::kControllerBrokerNeedToBeRegistered);  // brokerName ""
  add_member(m, 1);
  add_member(m, 2);
  // No heartbeat at all: the first election needs none.
  auto r = m.elect_master(broker_trigger(2), hb, kNow);
  REQUIRE(r.code == 0);
  CHECK(field(r, "masterBrokerId") == "2");
  CHECK(field(r, "masterAddress") == addr(2));
  CHECK(field(r, "masterEpoch") == "1");
  CHECK(field(r, "syncStateSetEpoch") == "1");
  CHECK(r.body == R"({"brokerMemberGroup":{"brokerAddrs":{1:"10.0.0.1:30911",2:"10.0.0.2:30911"},)"
                  R"("brokerName":"broker-a","cluster":"c1"},"syncStateSet":[2]})");
  REQUIRE(r.events.size() == 1);
  CHECK(decoded(r.events[0]) == ControllerEvent{ElectMasterEvent{"broker-a", true, 2}});
  CHECK_FALSE(m.is_master("broker-a", 2));  // not until the event is applied
  apply_all(m, r);
  CHECK(m.is_master("broker-a", 2));
  CHECK(m.sync_state_info("broker-a")->master_epoch == 1);
  CHECK(m.sync_state_info("broker-a")->sync_state_set == std::set<int64_t>{2});
}

TEST_CASE("elect: first election from an unknown id or from the controller goes to the policy") {
  ReplicasInfoManager m;
  BrokerHeartbeatManager hb;
  add_member(m, 1);
  // The SyncStateSet of a new set is empty: the policy finds nobody.
  CHECK(m.elect_master(broker_trigger(9), hb, kNow).code == rc::kControllerElectMasterFailed);
  auto ctl = m.elect_master(controller_trigger(), hb, kNow);
  CHECK(ctl.code == rc::kControllerMasterNotAvailable);
  REQUIRE(ctl.events.size() == 1);
  CHECK(decoded(ctl.events[0]) == ControllerEvent{ElectMasterEvent{"broker-a", false, std::nullopt}});
  // Admin's designated id at the first election: that id.
  auto admin = m.elect_master(admin_trigger(1), hb, kNow);
  REQUIRE(admin.code == 0);
  CHECK(field(admin, "masterBrokerId") == "1");
}

TEST_CASE("elect: the live old master is kept (2011)") {
  ReplicasInfoManager m = set_with_master(2);
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2}})).ok());
  BrokerHeartbeatManager hb;
  beat(hb, 1, 1, 0);
  beat(hb, 2, 1, 99999);
  for (const ExtFields& h : {broker_trigger(2), controller_trigger(), admin_trigger(1)}) {
    auto r = m.elect_master(h, hb, kNow);
    CHECK(r.code == rc::kControllerMasterStillExist);
    CHECK(field(r, "masterBrokerId") == "1");
    CHECK(field(r, "masterAddress") == addr(1));
    CHECK(field(r, "masterEpoch") == "1");
    CHECK(field(r, "syncStateSetEpoch") == "2");
    CHECK(r.body == R"({"syncStateSet":[1,2]})");
    CHECK(r.events.empty());
  }
}

TEST_CASE("elect: admin's preferred id") {
  ReplicasInfoManager m = set_with_master(3);
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2, 3}})).ok());
  BrokerHeartbeatManager hb;
  beat(hb, 1);
  beat(hb, 2);
  auto r = m.elect_master(admin_trigger(2), hb, kNow);
  REQUIRE(r.code == 0);
  CHECK(field(r, "masterBrokerId") == "2");
  CHECK(field(r, "masterEpoch") == "2");
  CHECK(field(r, "syncStateSetEpoch") == "3");
  // A preferred id that is not alive: nothing, and nothing changes.
  auto dead = m.elect_master(admin_trigger(3), hb, kNow);
  CHECK(dead.code == rc::kControllerElectMasterFailed);
  CHECK(dead.events.empty());
}

TEST_CASE("elect: a dead master is replaced by the best live SyncStateSet member") {
  ReplicasInfoManager m = set_with_master(4);
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2, 3, 4}})).ok());
  BrokerHeartbeatManager hb;
  beat(hb, 2, 1, 500, 1);
  beat(hb, 3, 1, 900, 5);
  beat(hb, 4, 1, 900, 2);
  auto r = m.elect_master(controller_trigger(), hb, kNow);
  REQUIRE(r.code == 0);
  CHECK(field(r, "masterBrokerId") == "4");  // offset 900 beats 500, then priority 2 beats 5
  apply_all(m, r);
  CHECK(m.is_master("broker-a", 4));
  CHECK(m.sync_state_info("broker-a")->sync_state_set == std::set<int64_t>{4});
  CHECK(m.sync_state_info("broker-a")->master_epoch == 2);

  // A higher epoch outranks any offset.
  REQUIRE(m.apply(encode_event(AlterSyncStateSetEvent{"broker-a", {2, 3, 4}})).ok());
  BrokerHeartbeatManager hb2;
  beat(hb2, 2, 3, 1);
  beat(hb2, 3, 2, 1'000'000);
  auto r2 = m.elect_master(controller_trigger(), hb2, kNow);
  REQUIRE(r2.code == 0);
  CHECK(field(r2, "masterBrokerId") == "2");
}

TEST_CASE("elect: SyncStateSet only unless unclean; nothing found by controller vs broker trigger") {
  ReplicasInfoManager m = set_with_master(3);  // SSS {1}
  BrokerHeartbeatManager hb;
  beat(hb, 2, 5, 9999);
  beat(hb, 3, 1, 0);

  auto by_broker = m.elect_master(broker_trigger(2), hb, kNow);
  CHECK(by_broker.code == rc::kControllerElectMasterFailed);
  CHECK(by_broker.events.empty());

  auto by_controller = m.elect_master(controller_trigger(), hb, kNow);
  CHECK(by_controller.code == rc::kControllerMasterNotAvailable);
  CHECK(field(by_controller, "masterBrokerId") == "<absent>");
  REQUIRE(by_controller.events.size() == 1);
  // brokerId absent is the controller trigger too.
  auto absent_id = m.elect_master(ext({{"brokerName", "broker-a"}}), hb, kNow);
  CHECK(absent_id.code == rc::kControllerMasterNotAvailable);

  apply_all(m, by_controller);
  const SyncStateInfo* sync = m.sync_state_info("broker-a");
  CHECK_FALSE(sync->master_broker_id.has_value());
  CHECK(sync->master_epoch == 2);
  CHECK(sync->sync_state_set == std::set<int64_t>{1});

  // Clean election waits for the old SSS member; it is elected when it returns.
  beat(hb, 1, 1, 0);
  auto back = m.elect_master(controller_trigger(), hb, kNow);
  REQUIRE(back.code == 0);
  CHECK(field(back, "masterBrokerId") == "1");
  CHECK(field(back, "masterEpoch") == "3");

  // Unclean election takes the best member outside the set.
  BrokerHeartbeatManager without_one;
  beat(without_one, 2, 5, 9999);
  beat(without_one, 3, 1, 0);
  m.set_elect_unclean(true);
  auto unclean = m.elect_master(controller_trigger(), without_one, kNow);
  REQUIRE(unclean.code == 0);
  CHECK(field(unclean, "masterBrokerId") == "2");
  ReplicasInfoManager configured(true);
  CHECK(configured.elect_unclean());
}

TEST_CASE("elect: garbage header values are SYSTEM_ERROR") {
  ReplicasInfoManager m = set_with_master(1);
  BrokerHeartbeatManager hb;
  auto r = m.elect_master(ext({{"brokerName", "broker-a"}, {"brokerId", "1x"}}), hb, kNow);
  CHECK(r.code == rc::kSystemError);
  CHECK(r.remark.find("brokerId") != std::string::npos);
  CHECK(r.events.empty());
}

// ---- leader helpers ----

TEST_CASE("sets with a dead master") {
  ReplicasInfoManager m;
  for (const char* name : {"a", "b", "c", "d"}) {
    add_member(m, 1, name);
    add_member(m, 2, name);
  }
  BrokerHeartbeatManager none;
  for (const char* name : {"a", "b", "c"}) apply_all(m, m.elect_master(elect_header("c1", 1, false, name), none, kNow));
  // d never had a master.
  BrokerHeartbeatManager hb;
  beat(hb, 2, 1, 0, INT32_MAX, kNow, "a");  // a: master dead, member alive -> listed
  beat(hb, 1, 1, 0, INT32_MAX, kNow, "b");  // b: master alive
  // c: nobody alive
  beat(hb, 1, 1, 0, INT32_MAX, kNow, "d");
  CHECK(m.sets_with_dead_master(hb, kNow) == std::vector<std::string>{"a"});
  CHECK(m.is_master("a", 1));
  CHECK_FALSE(m.is_master("a", 2));
  CHECK_FALSE(m.is_master("d", 1));
  CHECK_FALSE(m.is_master("nobody", 1));
}

TEST_CASE("role change notice goes to alive members only") {
  ReplicasInfoManager m = set_with_master(3);
  BrokerHeartbeatManager hb;
  CHECK_FALSE(m.role_change_notice("nobody", hb, kNow).has_value());
  beat(hb, 2);
  beat(hb, 3, 1, 0, INT32_MAX, kNow - 60'000);  // long expired
  auto n = m.role_change_notice("broker-a", hb, kNow);
  REQUIRE(n.has_value());
  CHECK(n->addresses == std::vector<std::string>{addr(2)});
  CHECK(*n->header.find("masterBrokerId") == "1");
  CHECK(*n->header.find("masterAddress") == addr(1));
  CHECK(*n->header.find("masterEpoch") == "1");
  CHECK(*n->header.find("syncStateSetEpoch") == "1");
  CHECK(n->body == R"({"syncStateSet":[1],"syncStateSetEpoch":1})");

  REQUIRE(m.apply(encode_event(ElectMasterEvent{"broker-a", false, std::nullopt})).ok());
  CHECK_FALSE(m.role_change_notice("broker-a", hb, kNow).has_value());
}

TEST_CASE("replaying the same log rebuilds the same tables") {
  ReplicasInfoManager leader;
  std::vector<std::string> log;
  BrokerHeartbeatManager hb;
  auto commit = [&](const ControllerResult& r) {
    REQUIRE((r.code == 0 || r.code == rc::kControllerMasterNotAvailable));
    for (const auto& e : r.events) {
      log.push_back(e);
      REQUIRE(leader.apply(e).ok());
    }
  };
  for (int64_t id = 1; id <= 3; ++id) {
    commit(apply_id(leader, id, addr(id) + ";1"));
    beat(hb, id, 1, id * 100);
  }
  commit(leader.elect_master(broker_trigger(1), hb, kNow));
  commit(leader.alter_sync_state_set(alter_header("1", "1"), SyncStateSet{{1, 2, 3}, 1}.to_json(), hb, kNow));
  BrokerHeartbeatManager after;
  beat(after, 2, 1, 200);
  beat(after, 3, 1, 300);
  commit(leader.elect_master(controller_trigger(), after, kNow));
  commit(leader.register_broker(ext({{"clusterName", "c1"}, {"brokerName", "broker-a"}, {"brokerId", "2"},
                                     {"brokerAddress", "10.7.7.7:1"}}),
                                after, kNow));
  REQUIRE(leader.is_master("broker-a", 3));

  ReplicasInfoManager follower;
  for (const auto& e : log) REQUIRE(follower.apply(e).ok());
  CHECK(follower.status_json() == leader.status_json());
  CHECK(follower.status_json()["syncStateSetInfoTable"]["broker-a"]["masterBrokerId"] == 3);
}

TEST_CASE("request handlers survive arbitrary header values") {
  ReplicasInfoManager m = set_with_master(2);
  BrokerHeartbeatManager hb;
  beat(hb, 1);
  const char* keys[] = {"clusterName", "brokerName", "brokerId", "masterBrokerId", "masterEpoch", "designateElect",
                        "brokerAddress", "appliedBrokerId", "registerCheckCode", "brokerControllerIdsToClean",
                        "isCleanLivingBroker"};
  const char* values[] = {"", "broker-a", "-1", "1", "0", "true", "9223372036854775807", "-9223372036854775808",
                          "9223372036854775808", "1;2", ";", "x", "2147483648", " "};
  uint64_t s = 7;
  for (int round = 0; round < 3000; ++round) {
    ExtFields h;
    for (const char* k : keys) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t pick = (s >> 33) % (std::size(values) + 1);
      if (pick < std::size(values)) h.set(k, std::string(values[pick]));
    }
    const std::string body = round % 2 ? SyncStateSet{{1, 2}, 1}.to_json() : std::string("[\"broker-a\"]");
    std::vector<ControllerResult> results = {m.alter_sync_state_set(h, body, hb, kNow), m.elect_master(h, hb, kNow),
                                             m.register_broker(h, hb, kNow),           m.get_replica_info(h),
                                             m.get_sync_state_data(body, hb, kNow),     m.get_next_broker_id(h),
                                             m.apply_broker_id(h),                      m.clean_broker_data(h, hb, kNow)};
    for (const auto& r : results)
      for (const auto& e : r.events) CHECK(decode_event(e).ok());
  }
}
