#include "client/admin_client.h"

#include <charconv>
#include <climits>

#include "base/clock.h"
#include "base/config.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/header_reader.h"

namespace mq {

namespace {
ClientResult<std::vector<std::string>> topic_list(const RemotingCommand& resp) {
  auto j = parse_fastjson(resp.body);
  if (!j.ok() || !j->is_object()) return make_error(ClientError{ClientError::kBadBody}, "topic list is not JSON");
  std::vector<std::string> out;
  if (auto it = j->find("topicList"); it != j->end() && it->is_array())
    for (auto& t : *it)
      if (t.is_string()) out.push_back(t.get<std::string>());
  return out;
}

// RocketMQ 5.x controller request codes (RequestCode.java). Local on purpose: the official
// constants are codec/codes.h's to add.
namespace local_controller_code {
constexpr int32_t kElectMaster = 1002;
constexpr int32_t kGetMetadataInfo = 1005;
constexpr int32_t kGetSyncStateData = 1006;
constexpr int32_t kGetBrokerEpochCache = 1007;
constexpr int32_t kUpdateControllerConfig = 1009;
constexpr int32_t kGetControllerConfig = 1010;
constexpr int32_t kCleanBrokerData = 1011;
}  // namespace local_controller_code

// ResponseCode.java's names for the controller's refusals, so an operator reads why, not a number.
const char* controller_response_name(int32_t code) {
  static const char* const kNames[] = {
      "CONTROLLER_FENCED_MASTER_EPOCH",          "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH",
      "CONTROLLER_INVALID_MASTER",               "CONTROLLER_INVALID_REPLICAS",
      "CONTROLLER_MASTER_NOT_AVAILABLE",         "CONTROLLER_INVALID_REQUEST",
      "CONTROLLER_BROKER_NOT_ALIVE",             "CONTROLLER_NOT_LEADER",
      "CONTROLLER_BROKER_METADATA_NOT_EXIST",    "CONTROLLER_INVALID_CLEAN_BROKER_METADATA",
      "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED", "CONTROLLER_MASTER_STILL_EXIST",
      "CONTROLLER_ELECT_MASTER_FAILED",          "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED",
      "CONTROLLER_BROKER_ID_INVALID",            "CONTROLLER_JRAFT_INTERNAL_ERROR",
      "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS"};
  if (code >= 2000 && code <= 2016) return kNames[code - 2000];
  if (code == response_code::kSystemError) return "SYSTEM_ERROR";
  if (code == response_code::kNoPermission) return "NO_PERMISSION";
  return nullptr;
}

// Typed reads of one JSON object of a peer's body. The first field that is there but of the
// wrong type (a missing or null field is just absent) is described, by its path in the body, in
// the shared `*error`, so a parser of nested objects reads everything and checks one string.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& obj, std::string path, std::string* error)
      : obj_(obj), path_(std::move(path)), error_(error) {
    if (!obj_.is_object()) bad("", "is not a JSON object");
  }

  std::optional<int64_t> opt_i64(std::string_view key) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_integer() && !(v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX}))
      return v->get<int64_t>();
    if (v->is_string()) {  // fastjson writes numbers bare, but a Long may come quoted
      const auto& s = v->get_ref<const std::string&>();
      int64_t out = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return out;
    }
    bad(key, "is not a 64-bit integer: " + v->dump(-1, ' ', false, kJsonReplace));
    return std::nullopt;
  }
  int64_t i64(std::string_view key, int64_t fallback = 0) { return opt_i64(key).value_or(fallback); }
  std::optional<int32_t> opt_i32(std::string_view key) {
    auto v = opt_i64(key);
    if (!v) return std::nullopt;
    if (*v < INT32_MIN || *v > INT32_MAX) {
      bad(key, "is out of int32 range: " + std::to_string(*v));
      return std::nullopt;
    }
    return static_cast<int32_t>(*v);
  }
  int32_t i32(std::string_view key, int32_t fallback = 0) { return opt_i32(key).value_or(fallback); }
  std::optional<std::string> opt_str(std::string_view key) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      bad(key, "is not a string: " + v->dump(-1, ' ', false, kJsonReplace));
      return std::nullopt;
    }
    return v->get<std::string>();
  }
  std::string str(std::string_view key) { return opt_str(key).value_or(""); }
  bool boolean(std::string_view key, bool fallback = false) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return fallback;
    if (v->is_boolean()) return v->get<bool>();
    bad(key, "is not a boolean: " + v->dump(-1, ' ', false, kJsonReplace));
    return fallback;
  }
  // The member if it is an array (nullptr when absent, null, or of another type: the last is an error).
  const nlohmann::json* array(std::string_view key) { return typed(key, nlohmann::json::value_t::array, "an array"); }
  const nlohmann::json* object(std::string_view key) { return typed(key, nlohmann::json::value_t::object, "an object"); }
  std::string path_of(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

 private:
  const nlohmann::json* get(std::string_view key) {
    if (!obj_.is_object()) return nullptr;
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }
  const nlohmann::json* typed(std::string_view key, nlohmann::json::value_t type, const char* what) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return nullptr;
    if (v->type() != type) {
      bad(key, std::string("is not ") + what);
      return nullptr;
    }
    return v;
  }
  void bad(std::string_view key, const std::string& why) {
    if (error_->empty()) error_->assign((key.empty() ? (path_.empty() ? "the body" : path_) : path_of(key)) + " " + why);
  }
  const nlohmann::json& obj_;
  std::string path_;
  std::string* error_;
};

ClientError bad_body() { return ClientError{ClientError::kBadBody}; }

SyncStateReplica parse_replica(const nlohmann::json& j, const std::string& path, std::string* error) {
  JsonFields f(j, path, error);
  SyncStateReplica r;
  r.broker_name = f.str("brokerName");
  r.broker_id = f.i64("brokerId");
  r.broker_address = f.str("brokerAddress");
  r.alive = f.boolean("alive");
  return r;
}

// BrokerReplicasInfo: {"replicasInfoTable":{"<brokerName>":{ReplicasInfo}}}.
ClientResult<std::map<std::string, SyncStateReply>> parse_broker_replicas_info(const std::string& body) {
  auto j = parse_fastjson(body);
  if (!j.ok()) return make_error(bad_body(), "GET_SYNC_STATE_DATA answer is not JSON: " + j.detail());
  std::string error;
  JsonFields top(*j, "", &error);
  std::map<std::string, SyncStateReply> out;
  if (const nlohmann::json* table = top.object("replicasInfoTable")) {
    for (auto it = table->begin(); it != table->end() && error.empty(); ++it) {
      const std::string path = "replicasInfoTable." + it.key();
      JsonFields f(it.value(), path, &error);
      SyncStateReply info;
      info.master_broker_id = f.opt_i64("masterBrokerId");
      info.master_address = f.opt_str("masterAddress");
      info.master_epoch = f.i32("masterEpoch");
      info.sync_state_set_epoch = f.i32("syncStateSetEpoch");
      for (auto [key, into] : {std::pair{"inSyncReplicas", &info.in_sync_replicas},
                               std::pair{"notInSyncReplicas", &info.not_in_sync_replicas}}) {
        const nlohmann::json* list = f.array(key);
        if (list == nullptr) continue;
        for (size_t i = 0; i < list->size() && error.empty(); ++i)
          into->push_back(parse_replica((*list)[i], f.path_of(key) + "[" + std::to_string(i) + "]", &error));
      }
      out.emplace(it.key(), std::move(info));
    }
  }
  if (!error.empty()) return make_error(bad_body(), "bad GET_SYNC_STATE_DATA answer: " + error);
  return out;
}

ClientResult<BrokerEpochReply> parse_epoch_entry_cache(const std::string& body) {
  auto j = parse_fastjson(body);
  if (!j.ok()) return make_error(bad_body(), "GET_BROKER_EPOCH_CACHE answer is not JSON: " + j.detail());
  std::string error;
  JsonFields f(*j, "", &error);
  BrokerEpochReply out;
  out.cluster_name = f.str("clusterName");
  out.broker_name = f.str("brokerName");
  out.broker_id = f.i64("brokerId");
  out.max_offset = f.i64("maxOffset");
  if (const nlohmann::json* list = f.array("epochList")) {
    for (size_t i = 0; i < list->size() && error.empty(); ++i) {
      JsonFields e((*list)[i], "epochList[" + std::to_string(i) + "]", &error);
      BrokerEpochReply::Entry entry;
      entry.epoch = e.i32("epoch");
      entry.start_offset = e.i64("startOffset");
      entry.end_offset = e.i64("endOffset");
      out.epoch_list.push_back(entry);
    }
  }
  if (!error.empty()) return make_error(bad_body(), "bad GET_BROKER_EPOCH_CACHE answer: " + error);
  return out;
}

// The body of a successful ELECT_MASTER: ElectMasterResponseBody
// ({"brokerMemberGroup":{...},"syncStateSet":[...]}). A bare BrokerMemberGroup is read too, since
// that is how RocketMQ's own client decodes it.
std::string parse_elect_master_body(const std::string& body, ElectMasterReply& out) {
  if (body.empty()) return {};
  auto j = parse_fastjson(body);
  if (!j.ok()) return "the body is not JSON: " + j.detail();
  std::string error;
  JsonFields top(*j, "", &error);
  const nlohmann::json* group = top.object("brokerMemberGroup");
  std::string group_path = "brokerMemberGroup";
  if (group == nullptr && error.empty() && j->contains("brokerAddrs")) {
    group = &*j;
    group_path.clear();
  }
  if (const nlohmann::json* set = top.array("syncStateSet")) {
    for (size_t i = 0; i < set->size(); ++i) {
      const auto& id = (*set)[i];
      if (!id.is_number_integer()) return "syncStateSet[" + std::to_string(i) + "] is not an integer";
      out.sync_state_set.push_back(id.get<int64_t>());
    }
  }
  if (group != nullptr && error.empty()) {
    JsonFields g(*group, group_path, &error);
    out.cluster = g.str("cluster");
    out.broker_name = g.str("brokerName");
    if (const nlohmann::json* addrs = g.object("brokerAddrs")) {
      for (auto it = addrs->begin(); it != addrs->end(); ++it) {
        int64_t id = 0;
        const std::string& k = it.key();
        auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), id);
        if (ec != std::errc() || p != k.data() + k.size() || k.empty())
          return g.path_of("brokerAddrs") + " has a key that is not a broker id: '" + k + "'";
        if (!it.value().is_string()) return g.path_of("brokerAddrs") + "." + k + " is not an address string";
        out.broker_addrs[id] = it.value().get<std::string>();
      }
    }
  }
  return error;
}

}  // namespace

AdminClient::AdminClient(std::string namesrv_addrs, int64_t timeout_ms)
    : namesrv_(split_addr_list(namesrv_addrs)), timeout_ms_(timeout_ms) {}

ClientResult<RemotingCommand> AdminClient::call(const std::string& addr, RemotingCommand request) {
  auto r = rpc_.invoke(addr, std::move(request), timeout_ms_);
  if (!r.ok()) return make_error(ClientError{ClientError::kRpc}, r.detail());
  if (r->code != response_code::kSuccess)
    return make_error(ClientError{ClientError::kResponse, r->code},
                      "code " + std::to_string(r->code) + (r->remark ? ": " + *r->remark : std::string()));
  return std::move(*r);
}

ClientResult<RemotingCommand> AdminClient::call_any_namesrv(RemotingCommand request) {
  if (namesrv_.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no NameServer address given (-n)");
  std::string errors;
  for (const auto& addr : namesrv_) {
    auto r = call(addr, request);
    if (r.ok() || r.error().code.kind == ClientError::kResponse) return r;
    errors += (errors.empty() ? "" : "; ") + r.detail();
  }
  return make_error(ClientError{ClientError::kRpc}, errors);
}

ClientResult<TopicRouteData> AdminClient::get_route(const std::string& topic) {
  RemotingCommand req = RemotingCommand::request(request_code::kGetRouteinfoByTopic);
  req.ext_fields.set("topic", topic);
  auto r = call_any_namesrv(req);
  if (!r.ok()) return r.error();
  auto route = TopicRouteData::parse(r->body);
  if (!route.ok()) return make_error(ClientError{ClientError::kBadBody}, route.detail());
  return std::move(*route);
}

ClientResult<ClusterInfo> AdminClient::get_cluster_info() {
  auto r = call_any_namesrv(RemotingCommand::request(request_code::kGetBrokerClusterInfo));
  if (!r.ok()) return r.error();
  auto info = ClusterInfo::parse(r->body);
  if (!info.ok()) return make_error(ClientError{ClientError::kBadBody}, info.detail());
  return std::move(*info);
}

ClientResult<std::vector<std::string>> AdminClient::get_all_topics() {
  auto r = call_any_namesrv(RemotingCommand::request(request_code::kGetAllTopicListFromNameserver));
  if (!r.ok()) return r.error();
  return topic_list(*r);
}

ClientResult<std::vector<std::string>> AdminClient::get_topics_by_cluster(const std::string& cluster) {
  RemotingCommand req = RemotingCommand::request(request_code::kGetTopicsByCluster);
  req.ext_fields.set("cluster", cluster);
  auto r = call_any_namesrv(req);
  if (!r.ok()) return r.error();
  return topic_list(*r);
}

ClientResult<std::map<std::string, std::string>> AdminClient::get_namesrv_config() {
  if (namesrv_.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no NameServer address given (-n)");
  std::map<std::string, std::string> out;
  for (const auto& addr : namesrv_) {
    auto r = call(addr, RemotingCommand::request(request_code::kGetNamesrvConfig));
    if (!r.ok()) return r.error();
    out[addr] = r->body;
  }
  return out;
}

ClientResult<Unit> AdminClient::update_namesrv_config(const std::string& properties_text) {
  for (const auto& addr : namesrv_) {
    RemotingCommand req = RemotingCommand::request(request_code::kUpdateNamesrvConfig);
    req.body = properties_text;
    auto r = call(addr, req);
    if (!r.ok()) return r.error();
  }
  return Unit{};
}

ClientResult<Unit> AdminClient::put_kv(const std::string& ns, const std::string& key, const std::string& value) {
  for (const auto& addr : namesrv_) {
    RemotingCommand req = RemotingCommand::request(request_code::kPutKvConfig);
    req.ext_fields.set("namespace", ns);
    req.ext_fields.set("key", key);
    req.ext_fields.set("value", value);
    auto r = call(addr, req);
    if (!r.ok()) return r.error();
  }
  return Unit{};
}

ClientResult<std::string> AdminClient::get_kv(const std::string& ns, const std::string& key) {
  RemotingCommand req = RemotingCommand::request(request_code::kGetKvConfig);
  req.ext_fields.set("namespace", ns);
  req.ext_fields.set("key", key);
  auto r = call_any_namesrv(req);
  if (!r.ok()) return r.error();
  const std::string* v = r->ext_fields.find("value");
  return v ? *v : std::string();
}

ClientResult<Unit> AdminClient::delete_kv(const std::string& ns, const std::string& key) {
  for (const auto& addr : namesrv_) {
    RemotingCommand req = RemotingCommand::request(request_code::kDeleteKvConfig);
    req.ext_fields.set("namespace", ns);
    req.ext_fields.set("key", key);
    auto r = call(addr, req);
    if (!r.ok()) return r.error();
  }
  return Unit{};
}

ClientResult<int32_t> AdminClient::wipe_write_perm(const std::string& broker_name) {
  int32_t total = 0;
  for (const auto& addr : namesrv_) {
    RemotingCommand req = RemotingCommand::request(request_code::kWipeWritePermOfBroker);
    req.ext_fields.set("brokerName", broker_name);
    auto r = call(addr, req);
    if (!r.ok()) return r.error();
    HeaderReader h(r->ext_fields);
    total += h.i32("wipeTopicCount");
  }
  return total;
}

ClientResult<int32_t> AdminClient::add_write_perm(const std::string& broker_name) {
  int32_t total = 0;
  for (const auto& addr : namesrv_) {
    RemotingCommand req = RemotingCommand::request(request_code::kAddWritePermOfBroker);
    req.ext_fields.set("brokerName", broker_name);
    auto r = call(addr, req);
    if (!r.ok()) return r.error();
    HeaderReader h(r->ext_fields);
    total += h.i32("addTopicCount");
  }
  return total;
}

ClientResult<std::vector<std::string>> AdminClient::master_addrs_of_cluster(const std::string& cluster) {
  auto info = get_cluster_info();
  if (!info.ok()) return info.error();
  auto c = info->cluster_addr_table.find(cluster);
  if (c == info->cluster_addr_table.end())
    return make_error(ClientError{ClientError::kBadArgument}, "cluster " + cluster + " not found");
  std::vector<std::string> out;
  for (const auto& name : c->second) {
    auto b = info->broker_addr_table.find(name);
    if (b == info->broker_addr_table.end()) continue;
    auto m = b->second.broker_addrs.find(0);
    if (m != b->second.broker_addrs.end()) out.push_back(m->second);
  }
  return out;
}

ClientResult<std::string> AdminClient::master_addr_of_broker(const std::string& broker_name) {
  auto info = get_cluster_info();
  if (!info.ok()) return info.error();
  auto b = info->broker_addr_table.find(broker_name);
  if (b == info->broker_addr_table.end() || !b->second.broker_addrs.count(0))
    return make_error(ClientError{ClientError::kBadArgument}, "no live master for broker " + broker_name);
  return b->second.broker_addrs.at(0);
}

ClientResult<Unit> AdminClient::create_topic(const std::string& broker_addr, const TopicConfig& c) {
  RemotingCommand req = RemotingCommand::request(request_code::kUpdateAndCreateTopic);
  req.ext_fields.set("topic", c.topic_name);
  req.ext_fields.set("defaultTopic", std::string("TBW102"));
  req.ext_fields.set("readQueueNums", c.read_queue_nums);
  req.ext_fields.set("writeQueueNums", c.write_queue_nums);
  req.ext_fields.set("perm", c.perm);
  req.ext_fields.set("topicFilterType", c.topic_filter_type);
  req.ext_fields.set("topicSysFlag", c.topic_sys_flag);
  req.ext_fields.set_bool("order", c.order);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<std::string> AdminClient::get_topic_stats(const std::string& broker_addr, const std::string& topic) {
  RemotingCommand req = RemotingCommand::request(request_code::kGetTopicStatsInfo);
  req.ext_fields.set("topic", topic);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<std::map<std::string, std::string>> AdminClient::get_broker_runtime_info(const std::string& broker_addr) {
  auto r = call(broker_addr, RemotingCommand::request(request_code::kGetBrokerRuntimeInfo));
  if (!r.ok()) return r.error();
  auto j = parse_fastjson(r->body);
  if (!j.ok() || !j->contains("table")) return make_error(ClientError{ClientError::kBadBody}, "runtime info is not a KVTable");
  std::map<std::string, std::string> out;
  for (auto it = (*j)["table"].begin(); it != (*j)["table"].end(); ++it)
    out[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump(-1, ' ', false, kJsonReplace);
  return out;
}

ClientResult<Unit> AdminClient::delete_topic_in_broker(const std::string& broker_addr, const std::string& topic) {
  RemotingCommand req = RemotingCommand::request(request_code::kDeleteTopicInBroker);
  req.ext_fields.set("topic", topic);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<Unit> AdminClient::delete_topic_in_namesrv(const std::string& topic, const std::string& cluster) {
  if (namesrv_.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no NameServer address given (-n)");
  for (const auto& addr : namesrv_) {
    RemotingCommand req = RemotingCommand::request(request_code::kDeleteTopicInNamesrv);
    req.ext_fields.set("topic", topic);
    if (!cluster.empty()) req.ext_fields.set("clusterName", cluster);
    auto r = call(addr, req);
    if (!r.ok()) return r.error();
  }
  return Unit{};
}

ClientResult<Unit> AdminClient::delete_subscription_group(const std::string& broker_addr, const std::string& group,
                                                          bool clean_offset) {
  RemotingCommand req = RemotingCommand::request(request_code::kDeleteSubscriptionGroup);
  req.ext_fields.set("groupName", group);
  req.ext_fields.set_bool("cleanOffset", clean_offset);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<std::string> AdminClient::get_consumer_connections(const std::string& broker_addr, const std::string& group) {
  RemotingCommand req = RemotingCommand::request(request_code::kGetConsumerConnectionList);
  req.ext_fields.set("consumerGroup", group);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<std::string> AdminClient::get_broker_config(const std::string& broker_addr) {
  auto r = call(broker_addr, RemotingCommand::request(request_code::kGetBrokerConfig));
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<std::string> AdminClient::update_broker_config(const std::string& broker_addr,
                                                            const std::string& properties_text) {
  RemotingCommand req = RemotingCommand::request(request_code::kUpdateBrokerConfig);
  req.body = properties_text;
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return r->remark.value_or("");
}

ClientResult<std::string> AdminClient::get_consume_stats(const std::string& broker_addr, const std::string& group,
                                                         const std::string& topic) {
  RemotingCommand req = RemotingCommand::request(request_code::kGetConsumeStats);
  req.ext_fields.set("consumerGroup", group);
  if (!topic.empty()) req.ext_fields.set("topic", topic);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<Unit> AdminClient::update_subscription_group(const std::string& broker_addr, const std::string& config_json) {
  RemotingCommand req = RemotingCommand::request(request_code::kUpdateAndCreateSubscriptionGroup);
  req.body = config_json;
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<std::string> AdminClient::view_message(const std::string& broker_addr, int64_t commit_log_offset) {
  RemotingCommand req = RemotingCommand::request(request_code::kViewMessageById);
  req.ext_fields.set("offset", commit_log_offset);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<std::string> AdminClient::container_status(const std::string& container_addr) {
  auto r = call(container_addr, RemotingCommand::request(request_code::kGetBrokerRuntimeInfo));
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<std::string> AdminClient::dledger_group_status(const std::string& broker_addr) {
  auto r = call(broker_addr, RemotingCommand::request(request_code::kDLedgerGetGroupStatus));
  if (!r.ok()) return r.error();
  return r->body;
}

ClientResult<Unit> AdminClient::dledger_transfer_leadership(const std::string& broker_addr, const std::string& peer_id) {
  RemotingCommand req = RemotingCommand::request(request_code::kDLedgerTransferLeadership);
  req.ext_fields.set("transfereeId", peer_id);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<Unit> AdminClient::dledger_change_membership(const std::string& broker_addr, const std::string& change_type,
                                                         const std::string& member_id, const std::string& member_addr) {
  RemotingCommand req = RemotingCommand::request(request_code::kDLedgerChangeMembership);
  req.ext_fields.set("changeType", change_type);
  req.ext_fields.set("memberId", member_id);
  if (!member_addr.empty()) req.ext_fields.set("memberAddr", member_addr);
  auto r = call(broker_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<Unit> AdminClient::add_broker(const std::string& container_addr, const std::string& config_path) {
  RemotingCommand req = RemotingCommand::request(request_code::kAddBroker);
  req.ext_fields.set("configPath", config_path);
  auto r = call(container_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<Unit> AdminClient::remove_broker(const std::string& container_addr, const std::string& cluster,
                                              const std::string& broker_name, int64_t broker_id) {
  RemotingCommand req = RemotingCommand::request(request_code::kRemoveBroker);
  req.ext_fields.set("brokerClusterName", cluster);
  req.ext_fields.set("brokerName", broker_name);
  req.ext_fields.set("brokerId", broker_id);
  auto r = call(container_addr, req);
  if (!r.ok()) return r.error();
  return Unit{};
}

// --- controllers ---

ClientResult<RemotingCommand> AdminClient::call_controller(const std::string& addr, RemotingCommand request) {
  const int32_t request_code = request.code;
  auto r = rpc_.invoke(addr, std::move(request), timeout_ms_);
  if (!r.ok()) return make_error(ClientError{ClientError::kRpc}, addr + ": " + r.detail());
  if (r->code != response_code::kSuccess) {
    const char* name = controller_response_name(r->code);
    return make_error(ClientError{ClientError::kResponse, r->code},
                      addr + " refused request " + std::to_string(request_code) + ": " +
                          (name ? std::string(name) + " (" + std::to_string(r->code) + ")" : "code " + std::to_string(r->code)) +
                          (r->remark && !r->remark->empty() ? ", " + *r->remark : std::string()));
  }
  return std::move(*r);
}

ClientResult<ControllerMetaDataReply> AdminClient::get_controller_metadata(const std::string& controller_addr) {
  auto r = call_controller(controller_addr, RemotingCommand::request(local_controller_code::kGetMetadataInfo));
  if (!r.ok()) return r.error();
  ControllerMetaDataReply out;
  HeaderReader h(r->ext_fields);
  out.group = h.opt_str("group");
  out.leader_id = h.opt_str("controllerLeaderId");
  out.leader_addr = h.opt_str("controllerLeaderAddress");
  out.is_leader = h.boolean("isLeader");
  out.peers = h.opt_str("peers").value_or("");
  return out;
}

ClientResult<std::string> AdminClient::controller_leader_addr(const std::string& controller_addrs) {
  auto addrs = split_addr_list(controller_addrs);
  if (addrs.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no controller address given (-a)");
  std::string errors;
  for (const auto& addr : addrs) {
    auto meta = get_controller_metadata(addr);
    if (!meta.ok()) {
      if (meta.error().code.kind != ClientError::kRpc) return meta.error();
      errors += (errors.empty() ? "" : "; ") + meta.detail();
      continue;  // unreachable: ask the next node, any of them knows the leader
    }
    if (!meta->leader_addr || meta->leader_addr->empty())
      return make_error(ClientError{ClientError::kNoLeader},
                        "controller " + addr + " knows no leader (controllerLeaderAddress is empty)");
    return *meta->leader_addr;
  }
  return make_error(ClientError{ClientError::kRpc}, errors);
}

ClientResult<std::map<std::string, SyncStateReply>> AdminClient::get_sync_state_data(
    const std::string& controller_addrs, const std::vector<std::string>& broker_names) {
  // The controller answers an empty list with SYSTEM_ERROR "not set any response code".
  if (broker_names.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no broker name to ask for");
  auto leader = controller_leader_addr(controller_addrs);
  if (!leader.ok()) return leader.error();
  RemotingCommand req = RemotingCommand::request(local_controller_code::kGetSyncStateData);
  req.body = nlohmann::json(broker_names).dump(-1, ' ', false, kJsonReplace);
  auto r = call_controller(*leader, std::move(req));
  if (!r.ok()) return r.error();
  return parse_broker_replicas_info(r->body);
}

ClientResult<BrokerEpochReply> AdminClient::get_broker_epoch_cache(const std::string& broker_addr) {
  auto r = call_controller(broker_addr, RemotingCommand::request(local_controller_code::kGetBrokerEpochCache));
  if (!r.ok()) return r.error();
  return parse_epoch_entry_cache(r->body);
}

ClientResult<ElectMasterReply> AdminClient::elect_master(const std::string& controller_addrs, const std::string& cluster,
                                                         const std::string& broker_name, int64_t broker_id) {
  auto leader = controller_leader_addr(controller_addrs);
  if (!leader.ok()) return leader.error();
  // ElectMasterRequestHeader.ofAdminTrigger: the admin's choice is designated, not a preference.
  RemotingCommand req = RemotingCommand::request(local_controller_code::kElectMaster);
  req.ext_fields.set("clusterName", cluster);
  req.ext_fields.set("brokerName", broker_name);
  req.ext_fields.set("brokerId", broker_id);
  req.ext_fields.set_bool("designateElect", true);
  req.ext_fields.set("invokeTime", SystemClock().now_ms());
  auto r = call_controller(*leader, std::move(req));
  if (!r.ok()) return r.error();
  ElectMasterReply out;
  HeaderReader h(r->ext_fields);
  out.master_broker_id = h.opt_i64("masterBrokerId");
  out.master_address = h.opt_str("masterAddress");
  for (auto [key, into] : {std::pair{"masterEpoch", &out.master_epoch},
                           std::pair{"syncStateSetEpoch", &out.sync_state_set_epoch}}) {
    auto v = h.opt_i64(key);
    if (v && (*v < INT32_MIN || *v > INT32_MAX))
      return make_error(bad_body(), "bad ELECT_MASTER answer from " + *leader + ": " + key + " is out of int32 range");
    if (v) *into = static_cast<int32_t>(*v);
  }
  if (!h.ok()) return make_error(bad_body(), "bad ELECT_MASTER answer from " + *leader + ": " + h.error());
  std::string error = parse_elect_master_body(r->body, out);
  if (!error.empty()) return make_error(bad_body(), "bad ELECT_MASTER answer from " + *leader + ": " + error);
  return out;
}

ClientResult<Unit> AdminClient::clean_broker_metadata(const std::string& controller_addrs, const std::string& cluster,
                                                      const std::string& broker_name,
                                                      const std::string& broker_ids_to_clean,
                                                      bool clean_living_broker) {
  auto leader = controller_leader_addr(controller_addrs);
  if (!leader.ok()) return leader.error();
  RemotingCommand req = RemotingCommand::request(local_controller_code::kCleanBrokerData);
  if (!cluster.empty()) req.ext_fields.set("clusterName", cluster);
  req.ext_fields.set("brokerName", broker_name);
  if (!broker_ids_to_clean.empty()) req.ext_fields.set("brokerControllerIdsToClean", broker_ids_to_clean);
  req.ext_fields.set_bool("isCleanLivingBroker", clean_living_broker);
  req.ext_fields.set("invokeTime", SystemClock().now_ms());
  auto r = call_controller(*leader, std::move(req));
  if (!r.ok()) return r.error();
  return Unit{};
}

ClientResult<std::map<std::string, PropertyPairs>> AdminClient::get_controller_config(const std::string& controller_addrs) {
  auto addrs = split_addr_list(controller_addrs);
  if (addrs.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no controller address given (-a)");
  std::map<std::string, PropertyPairs> out;
  for (const auto& addr : addrs) {
    auto r = call_controller(addr, RemotingCommand::request(local_controller_code::kGetControllerConfig));
    if (!r.ok()) return r.error();
    out[addr] = parse_properties_text(r->body);
  }
  return out;
}

ClientResult<Unit> AdminClient::update_controller_config(const std::string& controller_addrs,
                                                         const std::string& properties_text) {
  auto addrs = split_addr_list(controller_addrs);
  if (addrs.empty()) return make_error(ClientError{ClientError::kBadArgument}, "no controller address given (-a)");
  if (properties_text.empty()) return make_error(ClientError{ClientError::kBadArgument}, "nothing to update");
  std::optional<Error<ClientError>> last_failure;
  std::string failures;
  for (const auto& addr : addrs) {
    RemotingCommand req = RemotingCommand::request(local_controller_code::kUpdateControllerConfig);
    req.body = properties_text;
    auto r = call_controller(addr, std::move(req));
    if (r.ok()) continue;
    failures += (failures.empty() ? "" : "; ") + r.detail();
    last_failure = r.error();
  }
  if (last_failure) return make_error(last_failure->code, failures);
  return Unit{};
}

}  // namespace mq
