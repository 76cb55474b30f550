#include "client/client_common.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>

#include "base/hash.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/message.h"

namespace mq {

const char* client_failure_name(ClientFailure::Kind k) {
  switch (k) {
    case ClientFailure::kNoRoute: return "no route";
    case ClientFailure::kRpc: return "rpc failure";
    case ClientFailure::kTimeout: return "timeout";
    case ClientFailure::kBroker: return "broker error";
    case ClientFailure::kBadArgument: return "bad argument";
    case ClientFailure::kBadResponse: return "bad response";
    case ClientFailure::kShutdown: return "shut down";
  }
  return "?";
}

RemotingClientOptions remoting_options(int64_t connect_timeout_ms) {
  RemotingClientOptions o;
  o.connect_timeout_ms = connect_timeout_ms;
  return o;
}

std::string MessageQueue::to_string() const {
  return "MessageQueue [topic=" + topic + ", brokerName=" + broker_name + ", queueId=" + std::to_string(queue_id) + "]";
}

size_t MessageQueueHash::operator()(const MessageQueue& q) const noexcept {
  size_t h = std::hash<std::string>{}(q.topic);
  h = h * 31 + std::hash<std::string>{}(q.broker_name);
  return h * 31 + static_cast<size_t>(q.queue_id);
}

std::string local_ipv4_address() {
  ifaddrs* list = nullptr;
  std::string best = "127.0.0.1";
  if (getifaddrs(&list) != 0) return best;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    uint32_t a = ntohl(sin->sin_addr.s_addr);
    if ((a >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr) {
      best = buf;
      break;
    }
  }
  freeifaddrs(list);
  return best;
}

std::string default_instance_name() {
  // Several clients in one process (benchmark threads) must not share a clientID: to the broker
  // they are separate group members with separate connections.
  static std::atomic<uint64_t> seq{0};
  uint64_t ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  return std::to_string(getpid()) + "#" + std::to_string(ns + seq.fetch_add(1));
}

std::string make_client_id(const std::string& client_ip, const std::string& instance_name) {
  return client_ip + "@" + instance_name;
}

namespace {
void append_hex(std::string& out, uint64_t v, int nibbles) {
  static const char* kHex = "0123456789ABCDEF";
  for (int i = nibbles - 1; i >= 0; --i) out.push_back(kHex[(v >> (i * 4)) & 0xF]);
}
}  // namespace

UniqIdGenerator::UniqIdGenerator(const std::string& client_ip, uint32_t pid, int32_t instance_hash) {
  in_addr a{};
  uint32_t ip = 0x7F000001;
  if (inet_pton(AF_INET, client_ip.c_str(), &a) == 1) ip = ntohl(a.s_addr);
  append_hex(prefix_, ip, 8);
  append_hex(prefix_, static_cast<uint16_t>(pid), 4);
  append_hex(prefix_, static_cast<uint32_t>(instance_hash), 8);
}

int64_t UniqIdGenerator::month_start_ms(int64_t epoch_ms, int64_t* next_month_start_ms) {
  time_t secs = static_cast<time_t>(epoch_ms / 1000);
  tm t{};
  localtime_r(&secs, &t);
  t.tm_mday = 1;
  t.tm_hour = 0;
  t.tm_min = 0;
  t.tm_sec = 0;
  t.tm_isdst = -1;
  tm next = t;
  int64_t start = static_cast<int64_t>(mktime(&t)) * 1000;
  next.tm_mon += 1;
  next.tm_isdst = -1;
  if (next_month_start_ms != nullptr) *next_month_start_ms = static_cast<int64_t>(mktime(&next)) * 1000;
  return start;
}

std::string UniqIdGenerator::next() {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  return next_at(now);
}

std::string UniqIdGenerator::next_at(int64_t now_ms) {
  if (now_ms >= next_start_ms_ || now_ms < start_ms_ - 1'000'000) start_ms_ = month_start_ms(now_ms, &next_start_ms_);
  int64_t diff = now_ms - start_ms_;
  if (diff < 0 && diff > -1'000'000) diff = 0;  // a small clock step back, as Java tolerates
  std::string id;
  id.reserve(32);
  id = prefix_;
  append_hex(id, static_cast<uint32_t>(static_cast<int32_t>(diff)), 8);
  append_hex(id, counter_++, 4);
  return id;
}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

SubscriptionData SubscriptionData::build(std::string topic, std::string_view expression, int64_t sub_version) {
  SubscriptionData d;
  d.topic = std::move(topic);
  d.sub_version = sub_version;
  std::string_view e = trim(expression);
  if (e.empty() || e == "*") {
    d.sub_string = "*";
    return d;
  }
  d.sub_string = std::string(expression);
  size_t pos = 0;
  while (pos <= e.size()) {
    size_t bar = e.find("||", pos);
    std::string_view tag = trim(e.substr(pos, bar == std::string_view::npos ? std::string_view::npos : bar - pos));
    if (!tag.empty()) {
      std::string t(tag);
      bool dup = false;
      for (auto& x : d.tags_set) dup = dup || x == t;
      if (!dup) {
        d.tags_set.push_back(t);
        d.code_set.push_back(java_string_hash(t));
      }
    }
    if (bar == std::string_view::npos) break;
    pos = bar + 2;
  }
  if (d.tags_set.empty()) d.sub_string = "*";
  return d;
}

bool SubscriptionData::matches_tag(std::string_view tag) const {
  if (all_tags()) return true;
  for (auto& t : tags_set)
    if (t == tag) return true;
  return false;
}

nlohmann::json SubscriptionData::to_json() const {
  nlohmann::json j;
  j["classFilterMode"] = false;
  j["codeSet"] = code_set;
  j["expressionType"] = expression_type;
  j["subString"] = sub_string;
  j["subVersion"] = sub_version;
  j["tagsSet"] = tags_set;
  j["topic"] = topic;
  return j;
}

std::string encode_heartbeat_body(const std::string& client_id, const std::vector<std::string>& producer_groups,
                                  const std::vector<ConsumerData>& consumers) {
  nlohmann::json j;
  j["clientID"] = client_id;
  j["consumerDataSet"] = nlohmann::json::array();
  for (auto& c : consumers) {
    nlohmann::json cj;
    cj["consumeFromWhere"] = c.consume_from_where;
    cj["consumeType"] = c.consume_type;
    cj["groupName"] = c.group_name;
    cj["messageModel"] = c.message_model;
    cj["subscriptionDataSet"] = nlohmann::json::array();
    for (auto& s : c.subscriptions) cj["subscriptionDataSet"].push_back(s.to_json());
    cj["unitMode"] = c.unit_mode;
    j["consumerDataSet"].push_back(std::move(cj));
  }
  j["producerDataSet"] = nlohmann::json::array();
  for (auto& g : producer_groups) j["producerDataSet"].push_back({{"groupName", g}});
  return j.dump(-1, ' ', false, kJsonReplace);
}

RemotingCommand make_heartbeat_request(std::string body) {
  RemotingCommand req = RemotingCommand::request(request_code::kHeartBeat);
  req.body = std::move(body);
  return req;
}

RemotingCommand make_unregister_request(const std::string& client_id, const std::string& producer_group,
                                        const std::string& consumer_group) {
  RemotingCommand req = RemotingCommand::request(request_code::kUnregisterClient);
  req.ext_fields.set("clientID", client_id);
  if (!producer_group.empty()) req.ext_fields.set("producerGroup", producer_group);
  if (!consumer_group.empty()) req.ext_fields.set("consumerGroup", consumer_group);
  return req;
}

std::string rewrite_properties(std::string_view properties,
                               const std::vector<std::pair<std::string, std::string>>& put,
                               const std::vector<std::string_view>& remove) {
  PropertyList out;
  std::vector<bool> placed(put.size(), false);
  for (auto& [k, v] : decode_properties(properties)) {
    bool dropped = false;
    for (auto r : remove) dropped = dropped || k == r;
    if (dropped) continue;
    size_t i = 0;
    for (; i < put.size(); ++i)
      if (put[i].first == k) break;
    if (i == put.size()) {
      out.emplace_back(std::string(k), std::string(v));
    } else if (!placed[i]) {
      placed[i] = true;
      out.emplace_back(put[i]);
    }
  }
  for (size_t i = 0; i < put.size(); ++i)
    if (!placed[i]) out.push_back(put[i]);
  return encode_properties(out);
}

}  // namespace mq
