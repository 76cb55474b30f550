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

std::vector<std::string> split_namesrv_addrs(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(';', start);
    if (end == std::string::npos) end = list.size();
    std::string a = list.substr(start, end - start);
    while (!a.empty() && a.front() == ' ') a.erase(a.begin());
    while (!a.empty() && a.back() == ' ') a.pop_back();
    if (!a.empty()) out.push_back(a);
    start = end + 1;
  }
  return out;
}

AdminClient::AdminClient(std::string namesrv_addrs, int64_t timeout_ms)
    : namesrv_(split_namesrv_addrs(namesrv_addrs)), timeout_ms_(timeout_ms) {}

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

}  // namespace mq
