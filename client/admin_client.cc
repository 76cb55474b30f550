#include "client/admin_client.h"

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

}  // namespace mq
