// Controller bodies and log events: the exact fastjson text of the reference's examples
// (rocketmq-controller.md 3.3 and 4.2), round trips, and decoders that refuse bad input without
// crashing.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "codec/codes.h"
#include "codec/controller_data.h"

using namespace mq;

namespace {

std::string with_type(int16_t id, std::string_view json) {
  std::string out;
  out.push_back(static_cast<char>((static_cast<uint16_t>(id) >> 8) & 0xff));
  out.push_back(static_cast<char>(static_cast<uint16_t>(id) & 0xff));
  out.append(json);
  return out;
}

// Deterministic byte noise (no clock, no std::random_device): the same run every time.
struct Lcg {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  }
};

}  // namespace

TEST_CASE("controller codes have RocketMQ's numbers and do not collide with codes.h") {
  CHECK(request_code::kBrokerHeartbeat == 904);
  CHECK(request_code::kAddBroker == 902);
  CHECK(request_code::kRemoveBroker == 903);
  CHECK(request_code::kControllerAlterSyncStateSet == 1001);
  CHECK(request_code::kControllerElectMaster == 1002);
  CHECK(request_code::kControllerRegisterBroker == 1003);
  CHECK(request_code::kControllerGetReplicaInfo == 1004);
  CHECK(request_code::kControllerGetMetadataInfo == 1005);
  CHECK(request_code::kControllerGetSyncStateData == 1006);
  CHECK(request_code::kGetBrokerEpochCache == 1007);
  CHECK(request_code::kNotifyBrokerRoleChanged == 1008);
  CHECK(request_code::kUpdateControllerConfig == 1009);
  CHECK(request_code::kGetControllerConfig == 1010);
  CHECK(request_code::kCleanBrokerData == 1011);
  CHECK(request_code::kControllerGetNextBrokerId == 1012);
  CHECK(request_code::kControllerApplyBrokerId == 1013);
  CHECK(response_code::kControllerFencedMasterEpoch == 2000);
  CHECK(response_code::kControllerInvalidRequest == 2005);
  CHECK(response_code::kControllerNotLeader == 2007);
  CHECK(response_code::kControllerMasterStillExist == 2011);
  CHECK(response_code::kControllerAlterSyncStateSetFailed == 2013);
  CHECK(response_code::kControllerBrokerIdInvalid == 2014);
  CHECK(response_code::kControllerBrokerLiveInfoNotExists == 2016);
}

TEST_CASE("SyncStateSet: reference text, round trip, fastjson habits") {
  SyncStateSet s{{1, 2}, 3};
  CHECK(s.to_json() == R"({"syncStateSet":[1,2],"syncStateSetEpoch":3})");
  auto back = SyncStateSet::parse(s.to_json());
  REQUIRE(back.ok());
  CHECK(*back == s);
  auto loose = SyncStateSet::parse(R"({"syncStateSet":["2","1",2],"syncStateSetEpoch":"3","extra":{"x":1}})");
  REQUIRE(loose.ok());
  CHECK(*loose == s);
  auto empty = SyncStateSet::parse("{}");
  REQUIRE(empty.ok());
  CHECK(empty->members.empty());
  CHECK(empty->epoch == 0);
  CHECK(SyncStateSet{{}, 0}.to_json() == R"({"syncStateSet":[],"syncStateSetEpoch":0})");
  for (const char* bad : {"", "[1,2]", "{", R"({"syncStateSet":[1.5]})", R"({"syncStateSet":{}})",
                          R"({"syncStateSet":[{"a":1}]})", R"({"syncStateSet":["x"]})",
                          R"({"syncStateSetEpoch":4294967296})", R"({"syncStateSet":[18446744073709551615]})",
                          R"({"syncStateSetEpoch":true})"}) {
    CAPTURE(bad);
    auto r = SyncStateSet::parse(bad);
    CHECK_FALSE(r.ok());
    if (!r.ok()) CHECK_FALSE(r.detail().empty());
  }
}

TEST_CASE("ids given as text take one sign, as Long.valueOf does") {
  auto plus = SyncStateSet::parse(R"({"syncStateSet":["+1","-2"],"syncStateSetEpoch":"+3"})");
  REQUIRE(plus.ok());
  CHECK(*plus == SyncStateSet{{-2, 1}, 3});
  // from_chars takes a '-' after the '+' we skip; Java refuses "+-1", and so do we.
  for (const char* bad : {R"({"syncStateSet":["+-1"]})", R"({"syncStateSetEpoch":"+-3"})", R"({"syncStateSet":["+"]})",
                          R"({"syncStateSet":["++1"]})"}) {
    CAPTURE(bad);
    CHECK_FALSE(SyncStateSet::parse(bad).ok());
  }
  CHECK_FALSE(BrokerMemberGroup::parse(R"({"brokerAddrs":{"+-1":"10.0.0.1:30911"}})").ok());
  CHECK(BrokerMemberGroup::parse(R"({"brokerAddrs":{"+1":"10.0.0.1:30911"}})")->broker_addrs.contains(1));
}

TEST_CASE("ElectMasterResponseBody and BrokerMemberGroup: unquoted numeric keys") {
  BrokerMemberGroup g{"c1", "broker-a", {{1, "10.0.0.1:30911"}, {2, "10.0.0.2:30911"}}};
  ElectMasterResponseBody b{g, {2}};
  const std::string expected =
      R"({"brokerMemberGroup":{"brokerAddrs":{1:"10.0.0.1:30911",2:"10.0.0.2:30911"},)"
      R"("brokerName":"broker-a","cluster":"c1"},"syncStateSet":[2]})";
  CHECK(b.to_json() == expected);
  auto back = ElectMasterResponseBody::parse(expected);
  REQUIRE(back.ok());
  CHECK(*back == b);

  ElectMasterResponseBody still{std::nullopt, {1, 3}};
  CHECK(still.to_json() == R"({"syncStateSet":[1,3]})");
  auto still_back = ElectMasterResponseBody::parse(still.to_json());
  REQUIRE(still_back.ok());
  CHECK_FALSE(still_back->broker_member_group.has_value());

  // Ids sort numerically, not as text.
  BrokerMemberGroup many{"c1", "b", {{10, "x:10"}, {2, "x:2"}}};
  CHECK(many.to_json() == R"({"brokerAddrs":{2:"x:2",10:"x:10"},"brokerName":"b","cluster":"c1"})");
  // A strict-JSON peer quotes the keys.
  auto quoted = BrokerMemberGroup::parse(R"({"brokerAddrs":{"1":"a:1"},"brokerName":"b","cluster":"c"})");
  REQUIRE(quoted.ok());
  CHECK(quoted->broker_addrs.at(1) == "a:1");
  CHECK_FALSE(BrokerMemberGroup::parse(R"({"brokerAddrs":{x:"a:1"}})").ok());
  CHECK_FALSE(BrokerMemberGroup::parse(R"({"brokerAddrs":{1:5}})").ok());
  CHECK_FALSE(BrokerMemberGroup::parse(R"({"brokerAddrs":[1]})").ok());
  CHECK_FALSE(ElectMasterResponseBody::parse(R"({"brokerMemberGroup":[],"syncStateSet":[1]})").ok());
}

TEST_CASE("BrokerReplicasInfo: the reference example, byte for byte") {
  const std::string expected =
      R"({"replicasInfoTable":{"broker-a":{"inSyncReplicas":[{"alive":true,"brokerAddress":"10.0.0.1:30911",)"
      R"("brokerId":1,"brokerName":"broker-a"}],"masterAddress":"10.0.0.1:30911","masterBrokerId":1,)"
      R"("masterEpoch":3,"notInSyncReplicas":[{"alive":false,"brokerAddress":"10.0.0.2:30911",)"
      R"("brokerId":2,"brokerName":"broker-a"}],"syncStateSetEpoch":4}}})";
  BrokerReplicasInfo info;
  ReplicasInfo r;
  r.master_broker_id = 1;
  r.master_address = "10.0.0.1:30911";
  r.master_epoch = 3;
  r.sync_state_set_epoch = 4;
  r.in_sync_replicas.push_back({"broker-a", 1, "10.0.0.1:30911", true});
  r.not_in_sync_replicas.push_back({"broker-a", 2, "10.0.0.2:30911", false});
  info.replicas_info_table["broker-a"] = r;
  CHECK(info.to_json() == expected);
  auto back = BrokerReplicasInfo::parse(expected);
  REQUIRE(back.ok());
  CHECK(*back == info);

  // No master: both master fields are left out (Java nulls).
  BrokerReplicasInfo none;
  none.replicas_info_table["b"] = ReplicasInfo{};
  CHECK(none.to_json() ==
        R"({"replicasInfoTable":{"b":{"inSyncReplicas":[],"masterEpoch":0,"notInSyncReplicas":[],"syncStateSetEpoch":0}}})");
  auto none_back = BrokerReplicasInfo::parse(none.to_json());
  REQUIRE(none_back.ok());
  CHECK_FALSE(none_back->replicas_info_table.at("b").master_broker_id.has_value());

  CHECK_FALSE(BrokerReplicasInfo::parse(R"({"replicasInfoTable":{"b":1}})").ok());
  CHECK_FALSE(BrokerReplicasInfo::parse(R"({"replicasInfoTable":{"b":{"inSyncReplicas":[1]}}})").ok());
  CHECK_FALSE(BrokerReplicasInfo::parse(R"({"replicasInfoTable":{"b":{"masterBrokerId":"one"}}})").ok());
}

TEST_CASE("EpochEntryCache: the reference example, byte for byte") {
  const std::string expected =
      R"({"brokerId":0,"brokerName":"broker-a","clusterName":"c1","epochList":[{"endOffset":4096,)"
      R"("epoch":1,"startOffset":0},{"endOffset":9223372036854775807,"epoch":2,"startOffset":4096}],)"
      R"("maxOffset":8192})";
  EpochEntryCache c{"c1", "broker-a", 0, {{1, 0, 4096}, {2, 4096, INT64_MAX}}, 8192};
  CHECK(c.to_json() == expected);
  auto back = EpochEntryCache::parse(expected);
  REQUIRE(back.ok());
  CHECK(*back == c);
  CHECK_FALSE(EpochEntryCache::parse(R"({"epochList":[1]})").ok());
  CHECK_FALSE(EpochEntryCache::parse(R"({"epochList":[{"epoch":2147483648}]})").ok());
}

TEST_CASE("broker name lists") {
  CHECK(string_list_to_json({"broker-a", "broker-b"}) == R"(["broker-a","broker-b"])");
  auto names = parse_string_list(R"(["broker-a","broker-b"])");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"broker-a", "broker-b"});
  CHECK(parse_string_list("[]").ok());
  CHECK_FALSE(parse_string_list(R"(["a",1])").ok());
  CHECK_FALSE(parse_string_list(R"({"a":1})").ok());
  CHECK_FALSE(parse_string_list("").ok());
}

TEST_CASE("events: the reference's JSON for each type") {
  struct Case {
    ControllerEvent event;
    EventType type;
    const char* json;
  };
  const Case cases[] = {
      {AlterSyncStateSetEvent{"broker-a", {1, 2}}, EventType::kAlterSyncStateSet,
       R"({"brokerName":"broker-a","eventType":"ALTER_SYNC_STATE_SET_EVENT","newSyncStateSet":[1,2]})"},
      {ApplyBrokerIdEvent{"c1", "broker-a", "10.0.0.1:30911", 1, "10.0.0.1:30911;1700000000000"},
       EventType::kApplyBrokerId,
       R"({"brokerAddress":"10.0.0.1:30911","brokerName":"broker-a","clusterName":"c1","eventType":"APPLY_BROKER_ID_EVENT",)"
       R"("newBrokerId":1,"registerCheckCode":"10.0.0.1:30911;1700000000000"})"},
      {ElectMasterEvent{"broker-a", true, 2}, EventType::kElectMaster,
       R"({"brokerName":"broker-a","eventType":"ELECT_MASTER_EVENT","newMasterBrokerId":2,"newMasterElected":true})"},
      {ElectMasterEvent{"broker-a", false, std::nullopt}, EventType::kElectMaster,
       R"({"brokerName":"broker-a","eventType":"ELECT_MASTER_EVENT","newMasterElected":false})"},
      {ReadEvent{}, EventType::kRead, R"({"eventType":"READ_EVENT"})"},
      {CleanBrokerDataEvent{"broker-a", std::set<int64_t>{3}}, EventType::kCleanBrokerData,
       R"({"brokerIdSetToClean":[3],"brokerName":"broker-a","eventType":"CLEAN_BROKER_DATA_EVENT"})"},
      {CleanBrokerDataEvent{"broker-a", std::nullopt}, EventType::kCleanBrokerData,
       R"({"brokerName":"broker-a","eventType":"CLEAN_BROKER_DATA_EVENT"})"},
      {UpdateBrokerAddressEvent{"c1", "broker-a", "10.0.0.2:30911", 1}, EventType::kUpdateBrokerAddress,
       R"({"brokerAddress":"10.0.0.2:30911","brokerId":1,"brokerName":"broker-a","clusterName":"c1","eventType":"UPDATE_BROKER_ADDRESS"})"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    CHECK(event_type(c.event) == c.type);
    CHECK(event_json(c.event) == c.json);
    std::string entry = encode_event(c.event);
    REQUIRE(entry.size() > 2);
    CHECK(static_cast<uint8_t>(entry[0]) == 0);
    CHECK(static_cast<uint8_t>(entry[1]) == static_cast<uint8_t>(c.type));
    CHECK(entry.substr(2) == c.json);
    auto back = decode_event(entry);
    REQUIRE(back.ok());
    CHECK(*back == c.event);
  }
}

TEST_CASE("events: decoding reads what Java writes, loosely typed") {
  // The id decides the type; "eventType" is ignored; numbers may be strings.
  auto e = decode_event(with_type(3, R"({"brokerName":"b","newMasterBrokerId":"7","newMasterElected":"true","eventType":"X"})"));
  REQUIRE(e.ok());
  CHECK(*e == ControllerEvent{ElectMasterEvent{"b", true, 7}});
  // newMasterElected absent is Java's false.
  auto not_elected = decode_event(with_type(3, R"({"brokerName":"b"})"));
  REQUIRE(not_elected.ok());
  CHECK(std::get<ElectMasterEvent>(*not_elected).new_master_elected == false);
  // An empty id set survives (and means "whole set" when applied).
  auto clean = decode_event(with_type(5, R"({"brokerIdSetToClean":[],"brokerName":"b"})"));
  REQUIRE(clean.ok());
  REQUIRE(std::get<CleanBrokerDataEvent>(*clean).broker_id_set_to_clean.has_value());
  CHECK(std::get<CleanBrokerDataEvent>(*clean).broker_id_set_to_clean->empty());
  // Java's apply-id event without clusterName (a null header field).
  auto apply = decode_event(with_type(2, R"({"brokerName":"b","newBrokerId":1,"brokerAddress":"a:1"})"));
  REQUIRE(apply.ok());
  CHECK(std::get<ApplyBrokerIdEvent>(*apply).cluster_name.empty());
}

TEST_CASE("events: garbage and truncated entries are errors, never crashes") {
  const std::string bad[] = {
      std::string(),
      std::string(1, '\0'),
      with_type(0, R"({"brokerName":"b"})"),
      with_type(7, R"({"brokerName":"b"})"),
      with_type(-1, R"({"brokerName":"b"})"),
      with_type(1, ""),
      with_type(1, "[1,2]"),
      with_type(1, R"({"brokerName":"b"})"),                           // no newSyncStateSet
      with_type(1, R"({"newSyncStateSet":[1]})"),                      // no brokerName
      with_type(1, R"({"brokerName":"b","newSyncStateSet":[1.5]})"),   // fractional id
      with_type(1, R"({"brokerName":{},"newSyncStateSet":[1]})"),      // name not a string
      with_type(2, R"({"brokerName":"b"})"),                           // no newBrokerId
      with_type(2, R"({"brokerName":"b","newBrokerId":"one"})"),
      with_type(3, R"({"brokerName":"b","newMasterElected":true})"),   // elected without id
      with_type(3, R"({"brokerName":"b","newMasterElected":"yes"})"),
      with_type(5, R"({"brokerName":"b","brokerIdSetToClean":"1;2"})"),
      with_type(6, R"({"brokerName":"b","brokerId":1})"),              // no address
      with_type(6, R"({"brokerName":"b","brokerAddress":"a:1"})"),     // no id
      with_type(6, R"({"brokerName":"b","brokerAddress":"a:1","brokerId":9223372036854775808})"),
  };
  for (const auto& entry : bad) {
    CAPTURE(entry);
    auto r = decode_event(entry);
    CHECK_FALSE(r.ok());
    if (!r.ok()) CHECK_FALSE(r.detail().empty());
  }
  // Every strict prefix of a valid entry is refused.
  std::string full = encode_event(ApplyBrokerIdEvent{"c1", "broker-a", "10.0.0.1:30911", 1, "10.0.0.1:30911;1"});
  for (size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(decode_event(std::string_view(full).substr(0, n)).ok());
  }
}

TEST_CASE("events and bodies: byte noise never crashes a decoder") {
  const std::string seeds[] = {
      encode_event(AlterSyncStateSetEvent{"broker-a", {1, 2}}),
      encode_event(ApplyBrokerIdEvent{"c1", "broker-a", "10.0.0.1:30911", 1, "10.0.0.1:30911;1"}),
      encode_event(ElectMasterEvent{"broker-a", true, 2}),
      encode_event(CleanBrokerDataEvent{"broker-a", std::set<int64_t>{3}}),
      encode_event(UpdateBrokerAddressEvent{"c1", "broker-a", "10.0.0.2:30911", 1}),
  };
  Lcg rng{12345};
  int decoded = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string s = seeds[round % 5];
    int flips = 1 + static_cast<int>(rng.next() % 4);
    for (int i = 0; i < flips; ++i) s[rng.next() % s.size()] = static_cast<char>(rng.next() & 0xff);
    if (rng.next() % 4 == 0) s.resize(rng.next() % s.size());
    if (decode_event(s).ok()) ++decoded;
    std::string_view body = s.size() > 2 ? std::string_view(s).substr(2) : std::string_view();
    (void)SyncStateSet::parse(body);
    (void)ElectMasterResponseBody::parse(body);
    (void)BrokerReplicasInfo::parse(body);
    (void)EpochEntryCache::parse(body);
    (void)parse_string_list(body);
  }
  CHECK(decoded >= 0);  // reaching here without a crash is the test
}
