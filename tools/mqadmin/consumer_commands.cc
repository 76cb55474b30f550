// mqadmin's consumer group commands: consumerProgress, brokerConsumeStats, statsAll,
// resetOffsetByTime, producerConnection and topicClusterList, with RocketMQ 4.9's flags and
// tables (tools/command/consumer, broker, stats, offset, connection, topic).
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/codes.h"
#include "codec/fastjson.h"
#include "tools/mqadmin/mqadmin.h"

namespace mq::mqadmin {

namespace {

using nlohmann::json;

// RocketMQ's RequestCode values codec/codes.h does not name (yet).
constexpr int32_t kInvokeBrokerToResetOffset = 222;
constexpr int32_t kQueryTopicConsumeByWho = 300;
constexpr int32_t kViewBrokerStatsData = 315;
constexpr int32_t kGetBrokerConsumeStats = 317;

std::string dump(const json& j) { return j.dump(-1, ' ', false, kJsonReplace); }

void print_json(const json& j) { std::printf("%s\n", dump(j).c_str()); }

bool is_response(const ClientResult<RemotingCommand>& r, int32_t code) {
  return !r.ok() && r.error().code.kind == ClientError::kResponse && r.error().code.response_code == code;
}

// One row of a ConsumeStats offsetTable (MessageQueue -> OffsetWrapper).
struct OffsetRow {
  std::string topic, broker_name;
  int32_t queue_id = 0;
  int64_t broker_offset = 0, consumer_offset = 0, last_timestamp = 0;
  int64_t diff() const { return broker_offset - consumer_offset; }
  auto key() const { return std::tie(topic, broker_name, queue_id); }
  json to_json() const {
    return json{{"topic", topic},          {"brokerName", broker_name},         {"queueId", queue_id},
                {"brokerOffset", broker_offset}, {"consumerOffset", consumer_offset}, {"diff", diff()},
                {"lastTimestamp", last_timestamp}};
  }
};

struct ConsumeStatsView {
  std::vector<OffsetRow> rows;
  double tps = 0;
  int64_t total_diff() const {
    int64_t d = 0;
    for (const auto& r : rows) d += r.diff();
    return d;
  }
};

// A ConsumeStats JSON object (MessageQueue keys as fastjson writes them).
ConsumeStatsView to_view(const json& stats) {
  ConsumeStatsView v;
  if (!stats.is_object()) return v;
  if (auto t = stats.find("consumeTps"); t != stats.end() && t->is_number()) v.tps = t->get<double>();
  if (auto table = stats.find("offsetTable"); table != stats.end() && table->is_object()) {
    for (const auto& [key_text, w] : table->items()) {
      auto key = parse_fastjson(key_text);
      if (!key.ok() || !key->is_object()) continue;
      v.rows.push_back(OffsetRow{json_string(*key, "topic"), json_string(*key, "brokerName"),
                                 static_cast<int32_t>(json_int(*key, "queueId")), json_int(w, "brokerOffset"),
                                 json_int(w, "consumerOffset"), json_int(w, "lastTimestamp")});
    }
  }
  std::sort(v.rows.begin(), v.rows.end(), [](const OffsetRow& a, const OffsetRow& b) { return a.key() < b.key(); });
  return v;
}

// GET_CONSUME_STATS of `group` (for `topic`, or all its topics when empty) from each broker given,
// merged; brokers that do not answer are skipped (they know nothing of the group).
ConsumeStatsView consume_stats(AdminClient& admin, const std::vector<std::string>& addrs, const std::string& group,
                               const std::string& topic) {
  ConsumeStatsView all;
  for (const auto& addr : addrs) {
    auto body = admin.get_consume_stats(addr, group, topic);
    if (!body.ok()) continue;
    auto j = parse_fastjson(*body);
    if (!j.ok()) continue;
    ConsumeStatsView one = to_view(*j);
    all.tps += one.tps;
    all.rows.insert(all.rows.end(), one.rows.begin(), one.rows.end());
  }
  std::sort(all.rows.begin(), all.rows.end(), [](const OffsetRow& a, const OffsetRow& b) { return a.key() < b.key(); });
  return all;
}

// The masters of a group's brokers: those of its retry topic's route (as RocketMQ's tool asks),
// else every master the NameServer knows.
std::vector<std::string> group_brokers(AdminClient& admin, const std::string& group) {
  std::vector<std::string> addrs;
  if (auto route = admin.get_route("%RETRY%" + group); route.ok())
    for (const auto& [name, addr] : route_masters(*route)) addrs.push_back(addr);
  if (!addrs.empty()) return addrs;
  if (auto info = admin.get_cluster_info(); info.ok())
    for (const auto& [name, bd] : info->broker_addr_table)
      if (auto m = bd.broker_addrs.find(0); m != bd.broker_addrs.end()) addrs.push_back(m->second);
  return addrs;
}

// A ConsumerConnection of an online group, from the first of `addrs` that knows it.
std::optional<json> consumer_connection_of(AdminClient& admin, const std::vector<std::string>& addrs,
                                           const std::string& group) {
  for (const auto& addr : addrs) {
    auto body = admin.get_consumer_connections(addr, group);
    if (!body.ok()) continue;
    auto j = parse_fastjson(*body);
    if (j.ok() && j->is_object()) return *j;
  }
  return std::nullopt;
}

// consumerProgress -g: the group's queues. Without -g: every group that has a retry topic, with
// its members, their lowest client version, consume type and model, TPS and total diff.
int consumer_progress(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  if (args.count("g")) {
    const std::string& group = args["g"];
    ConsumeStatsView v = consume_stats(admin, group_brokers(admin, group), group, args.count("t") ? args["t"] : "");
    if (v.rows.empty())
      return fail("consumerProgress: no consume stats for group " + group +
                  " (no broker has offsets for it: maybe it never consumed)");
    if (json_out) {
      json rows = json::array();
      for (const auto& r : v.rows) rows.push_back(r.to_json());
      print_json(json{{"offsets", rows}, {"consumeTps", v.tps}, {"diffTotal", v.total_diff()}});
      return 0;
    }
    std::printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %s\n", "#Topic", "#Broker Name", "#QID", "#Broker Offset",
                "#Consumer Offset", "#Diff", "#LastTime");
    for (const auto& r : v.rows)
      std::printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld %s\n", r.topic.c_str(), r.broker_name.c_str(), r.queue_id,
                  static_cast<long long>(r.broker_offset), static_cast<long long>(r.consumer_offset),
                  static_cast<long long>(r.diff()), r.last_timestamp > 0 ? format_time(r.last_timestamp).c_str() : "N/A");
    std::printf("\nConsume TPS: %.2f\nDiff Total: %lld\n", v.tps, static_cast<long long>(v.total_diff()));
    return 0;
  }
  auto topics = admin.get_all_topics();
  if (!topics.ok()) return fail("consumerProgress: " + topics.detail());
  const std::string retry = "%RETRY%";
  json out = json::array();
  for (const auto& t : *topics) {
    if (t.rfind(retry, 0) != 0) continue;
    const std::string group = t.substr(retry.size());
    auto addrs = group_brokers(admin, group);
    auto cc = consumer_connection_of(admin, addrs, group);
    ConsumeStatsView v = consume_stats(admin, addrs, group, "");
    json row{{"group", group}, {"count", 0}, {"version", "OFFLINE"}, {"consumeType", ""}, {"messageModel", ""},
             {"consumeTps", v.tps}, {"diffTotal", v.total_diff()}};
    if (cc) {
      const json& conns = (*cc)["connectionSet"];
      row["count"] = conns.is_array() ? conns.size() : 0;
      int64_t min_version = INT64_MAX;
      for (const auto& c : conns) min_version = std::min(min_version, json_int(c, "version"));
      if (min_version != INT64_MAX) row["version"] = version_desc(min_version);
      std::string type = json_string(*cc, "consumeType");
      row["consumeType"] = type == "CONSUME_PASSIVELY" ? "PUSH" : type == "CONSUME_ACTIVELY" ? "PULL" : type;
      row["messageModel"] = json_string(*cc, "messageModel");
    }
    out.push_back(row);
  }
  if (json_out) {
    print_json(out);
    return 0;
  }
  std::printf("%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s\n", "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS",
              "#Diff Total");
  for (const auto& r : out)
    std::printf("%-64s  %-6d  %-24s %-5s  %-14s  %-7lld  %lld\n", r["group"].get<std::string>().c_str(), r["count"].get<int>(),
                r["version"].get<std::string>().c_str(), r["consumeType"].get<std::string>().c_str(),
                r["messageModel"].get<std::string>().c_str(), static_cast<long long>(r["consumeTps"].get<double>()),
                static_cast<long long>(r["diffTotal"].get<int64_t>()));
  return 0;
}

// brokerConsumeStats: GET_BROKER_CONSUME_STATS, each group's queues with a last consume time.
int broker_consume_stats(Args& args, bool json_out) {
  int64_t timeout_ms = 50'000, diff_level = 0;
  try {
    if (args.count("t")) timeout_ms = std::stoll(args["t"]);
    if (args.count("l")) diff_level = std::stoll(args["l"]);
  } catch (...) {
    return fail("brokerConsumeStats: -t and -l take numbers");
  }
  AdminClient admin(namesrv_of(args), timeout_ms);
  RemotingCommand req = RemotingCommand::request(kGetBrokerConsumeStats);
  req.ext_fields.set_bool("isOrder", args.count("o") && args["o"] == "true");
  auto r = admin.call(args["b"], req);
  if (!r.ok()) return fail("brokerConsumeStats on " + args["b"] + ": " + r.detail());
  auto body = parse_fastjson(r->body);
  if (!body.ok() || !body->is_object()) return fail("brokerConsumeStats: unreadable answer from " + args["b"]);
  json rows = json::array();
  for (const auto& per_group : (*body)["consumeStatsList"]) {
    for (const auto& [group, list] : per_group.items()) {
      for (const auto& stats : list) {
        for (const auto& row : to_view(stats).rows) {
          if (row.diff() < diff_level || row.last_timestamp <= 0) continue;
          json j = row.to_json();
          j["group"] = group;
          rows.push_back(j);
        }
      }
    }
  }
  const int64_t total = json_int(*body, "totalDiff");
  if (json_out) {
    print_json(json{{"brokerAddr", json_string(*body, "brokerAddr")}, {"offsets", rows}, {"totalDiff", total}});
    return 0;
  }
  std::printf("%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Group", "#Broker Name", "#QID",
              "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
  for (const auto& j : rows)
    std::printf("%-64s  %-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n", j["topic"].get<std::string>().c_str(),
                j["group"].get<std::string>().c_str(), j["brokerName"].get<std::string>().c_str(), j["queueId"].get<int>(),
                static_cast<long long>(j["brokerOffset"].get<int64_t>()),
                static_cast<long long>(j["consumerOffset"].get<int64_t>()), static_cast<long long>(j["diff"].get<int64_t>()),
                format_time(j["lastTimestamp"].get<int64_t>()).c_str());
  std::printf("\nDiff Total: %lld\n", static_cast<long long>(total));
  return 0;
}

// VIEW_BROKER_STATS_DATA: (minute TPS, the day's sum or else the hour's or the minute's), as
// statsAll's compute24HourSum; nothing when the broker has no such stats.
std::optional<std::pair<double, int64_t>> broker_stats(AdminClient& admin, const std::string& addr, const std::string& name,
                                                       const std::string& key) {
  RemotingCommand req = RemotingCommand::request(kViewBrokerStatsData);
  req.ext_fields.set("statsName", name);
  req.ext_fields.set("statsKey", key);
  auto r = admin.call(addr, req);
  if (!r.ok()) return std::nullopt;
  auto j = parse_fastjson(r->body);
  if (!j.ok() || !j->is_object()) return std::nullopt;
  auto item = [&j](const char* k) { return j->contains(k) ? (*j)[k] : json::object(); };
  double tps = item("statsMinute").value("tps", 0.0);
  int64_t sum = json_int(item("statsDay"), "sum");
  if (sum == 0) sum = json_int(item("statsHour"), "sum");
  if (sum == 0) sum = json_int(item("statsMinute"), "sum");
  return std::make_pair(tps, sum);
}

// statsAll: per topic (and per consuming group), accumulation, in/out TPS and the last day's
// in/out message counts.
int stats_all(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto topics = args.count("t") ? ClientResult<std::vector<std::string>>(std::vector<std::string>{args["t"]})
                                : admin.get_all_topics();
  if (!topics.ok()) return fail("statsAll: " + topics.detail());
  const bool active_only = args.count("a") > 0;
  json out = json::array();
  for (const auto& topic : *topics) {
    if (topic.rfind("%RETRY%", 0) == 0 || topic.rfind("%DLQ%", 0) == 0) continue;
    auto route = admin.get_route(topic);
    if (!route.ok()) continue;
    auto masters = route_masters(*route);
    if (masters.empty()) continue;
    std::set<std::string> groups;
    RemotingCommand who = RemotingCommand::request(kQueryTopicConsumeByWho);
    who.ext_fields.set("topic", topic);
    if (auto r = admin.call(masters.front().second, who); r.ok())
      if (auto j = parse_fastjson(r->body); j.ok() && j->contains("groupList"))
        for (const auto& g : (*j)["groupList"])
          if (g.is_string()) groups.insert(g.get<std::string>());
    double in_tps = 0;
    int64_t in_day = 0;
    std::vector<std::string> addrs;
    for (const auto& [name, addr] : masters) {
      addrs.push_back(addr);
      if (auto s = broker_stats(admin, addr, "TOPIC_PUT_NUMS", topic)) {
        in_tps += s->first;
        in_day += s->second;
      }
    }
    if (groups.empty()) {
      if (!active_only || in_day > 0)
        out.push_back({{"topic", topic}, {"group", ""}, {"accumulation", 0}, {"inTps", in_tps}, {"inMsg24Hour", in_day}});
      continue;
    }
    for (const auto& group : groups) {
      double out_tps = 0;
      int64_t out_day = 0;
      for (const auto& addr : addrs) {
        if (auto s = broker_stats(admin, addr, "GROUP_GET_NUMS", topic + "@" + group)) {
          out_tps += s->first;
          out_day += s->second;
        }
      }
      int64_t accumulation = std::max<int64_t>(consume_stats(admin, addrs, group, topic).total_diff(), 0);
      if (active_only && in_day == 0 && out_day == 0) continue;
      out.push_back({{"topic", topic}, {"group", group}, {"accumulation", accumulation}, {"inTps", in_tps},
                     {"outTps", out_tps}, {"inMsg24Hour", in_day}, {"outMsg24Hour", out_day}});
    }
  }
  if (json_out) {
    print_json(out);
    return 0;
  }
  std::printf("%-64s  %-64s %12s %11s %11s %14s %14s\n", "#Topic", "#Consumer Group", "#Accumulation", "#InTPS", "#OutTPS",
              "#InMsg24Hour", "#OutMsg24Hour");
  for (const auto& r : out) {
    if (r.contains("outTps")) {
      std::printf("%-64s  %-64s %12lld %11.2f %11.2f %14lld %14lld\n", r["topic"].get<std::string>().c_str(),
                  r["group"].get<std::string>().c_str(), static_cast<long long>(r["accumulation"].get<int64_t>()),
                  r["inTps"].get<double>(), r["outTps"].get<double>(), static_cast<long long>(r["inMsg24Hour"].get<int64_t>()),
                  static_cast<long long>(r["outMsg24Hour"].get<int64_t>()));
    } else {
      std::printf("%-64s  %-64s %12d %11.2f %11s %14lld %14s\n", r["topic"].get<std::string>().c_str(), "", 0,
                  r["inTps"].get<double>(), "", static_cast<long long>(r["inMsg24Hour"].get<int64_t>()), "NO_CONSUMER");
    }
  }
  return 0;
}

// resetOffsetByTimestampOld: with the group offline, the tool moves the committed offsets itself:
// per queue the offset of the time (-1: the max offset), taken when forced or when it goes back.
int reset_offset_offline(AdminClient& admin, const TopicRouteData& route, const std::string& group,
                         const std::string& topic, int64_t timestamp, bool force, const std::string& ts_text,
                         bool json_out) {
  json rows = json::array();
  for (const auto& [broker_name, addr] : route_masters(route)) {
    ConsumeStatsView v = consume_stats(admin, {addr}, group, "");
    std::vector<OffsetRow> queues;
    for (const auto& r : v.rows)
      if (r.topic == topic) queues.push_back(r);
    if (queues.empty()) {
      // The group never consumed here: from the topic's min offsets.
      auto stats = admin.get_topic_stats(addr, topic);
      if (!stats.ok()) return fail("resetOffsetByTime on " + addr + ": " + stats.detail());
      auto j = parse_fastjson(*stats);
      if (!j.ok() || !j->contains("offsetTable")) return fail("resetOffsetByTime: unreadable topic stats from " + addr);
      for (const auto& [key_text, o] : (*j)["offsetTable"].items()) {
        auto key = parse_fastjson(key_text);
        if (!key.ok()) continue;
        queues.push_back(OffsetRow{topic, broker_name, static_cast<int32_t>(json_int(*key, "queueId")),
                                   json_int(o, "maxOffset"), json_int(o, "minOffset"), 0});
      }
    }
    for (const auto& q : queues) {
      RemotingCommand find = RemotingCommand::request(timestamp == -1 ? request_code::kGetMaxOffset
                                                                      : request_code::kSearchOffsetByTimestamp);
      find.ext_fields.set("topic", topic);
      find.ext_fields.set("queueId", q.queue_id);
      if (timestamp != -1) find.ext_fields.set("timestamp", timestamp);
      auto found = admin.call(addr, find);
      if (!found.ok()) return fail("resetOffsetByTime on " + addr + ": " + found.detail());
      const std::string* v = found->ext_fields.find("offset");
      int64_t target = 0;
      try {
        target = v ? std::stoll(*v) : 0;
      } catch (...) {
        return fail("resetOffsetByTime: bad offset from " + addr);
      }
      int64_t rollback = q.consumer_offset;
      if (force || target <= q.consumer_offset) {
        rollback = target;
        RemotingCommand update = RemotingCommand::request(request_code::kUpdateConsumerOffset);
        update.ext_fields.set("consumerGroup", group);
        update.ext_fields.set("topic", topic);
        update.ext_fields.set("queueId", q.queue_id);
        update.ext_fields.set("commitOffset", target);
        if (auto u = admin.call(addr, update); !u.ok()) return fail("resetOffsetByTime on " + addr + ": " + u.detail());
      }
      rows.push_back({{"brokerName", broker_name}, {"queueId", q.queue_id}, {"brokerOffset", q.broker_offset},
                      {"consumerOffset", q.consumer_offset}, {"timestampOffset", target}, {"rollbackOffset", rollback}});
    }
  }
  if (json_out) {
    print_json(json{{"consumerOnline", false}, {"offsets", rows}});
    return 0;
  }
  std::printf("rollback consumer offset by specified consumerGroup[%s], topic[%s], force[%s], timestamp(string)[%s], "
              "timestamp(long)[%lld]\n",
              group.c_str(), topic.c_str(), force ? "true" : "false", ts_text.c_str(), static_cast<long long>(timestamp));
  std::printf("%-20s  %-20s  %-20s  %-20s  %-20s  %-20s\n", "#brokerName", "#queueId", "#brokerOffset", "#consumerOffset",
              "#timestampOffset", "#rollbackOffset");
  for (const auto& r : rows)
    std::printf("%-20s  %-20d  %-20lld  %-20lld  %-20lld  %-20lld\n", r["brokerName"].get<std::string>().c_str(),
                r["queueId"].get<int>(), static_cast<long long>(r["brokerOffset"].get<int64_t>()),
                static_cast<long long>(r["consumerOffset"].get<int64_t>()),
                static_cast<long long>(r["timestampOffset"].get<int64_t>()),
                static_cast<long long>(r["rollbackOffset"].get<int64_t>()));
  return 0;
}

// resetOffsetByTime: INVOKE_BROKER_TO_RESET_OFFSET on each broker of the topic, which moves the
// offsets and tells the online members; with the group offline, the tool's old path.
int reset_offset_by_time(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  const std::string &group = args["g"], &topic = args["t"], &ts_text = args["s"];
  int64_t timestamp = -1;
  if (ts_text != "now") {
    auto ts = parse_timestamp(ts_text);
    if (!ts) return fail("resetOffsetByTime: -s takes now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS, got '" + ts_text + "'");
    timestamp = *ts;
  }
  const bool force = !args.count("f") || args["f"] == "true";
  auto route = admin.get_route(topic);
  if (!route.ok()) return fail("resetOffsetByTime: " + route.detail());
  json rows = json::array();
  for (const auto& [broker_name, addr] : route_masters(*route)) {
    RemotingCommand req = RemotingCommand::request(kInvokeBrokerToResetOffset);
    // The broker answers a CPP request with ResetOffsetBodyForC for C++ members (-c).
    req.language = args.count("c") ? "CPP" : "JAVA";
    req.ext_fields.set("topic", topic);
    req.ext_fields.set("group", group);
    req.ext_fields.set("timestamp", timestamp);
    req.ext_fields.set_bool("isForce", force);
    auto r = admin.call(addr, req);
    if (is_response(r, response_code::kConsumerNotOnline))
      return reset_offset_offline(admin, *route, group, topic, timestamp, force, ts_text, json_out);
    if (!r.ok()) return fail("resetOffsetByTime on " + addr + ": " + r.detail());
    auto body = parse_fastjson(r->body);
    if (!body.ok() || !body->contains("offsetTable")) return fail("resetOffsetByTime: unreadable answer from " + addr);
    for (const auto& [key_text, offset] : (*body)["offsetTable"].items()) {
      auto key = parse_fastjson(key_text);
      if (!key.ok()) continue;
      rows.push_back({{"brokerName", json_string(*key, "brokerName")}, {"queueId", json_int(*key, "queueId")},
                      {"offset", offset.is_number() ? offset.get<int64_t>() : 0}});
    }
  }
  if (json_out) {
    print_json(json{{"consumerOnline", true}, {"offsets", rows}});
    return 0;
  }
  std::printf("rollback consumer offset by specified group[%s], topic[%s], force[%s], timestamp(string)[%s], "
              "timestamp(long)[%lld]\n",
              group.c_str(), topic.c_str(), force ? "true" : "false", ts_text.c_str(), static_cast<long long>(timestamp));
  std::printf("%-40s  %-40s  %-40s\n", "#brokerName", "#queueId", "#offset");
  for (const auto& r : rows)
    std::printf("%-40s  %-40lld  %-40lld\n", r["brokerName"].get<std::string>().c_str(),
                static_cast<long long>(r["queueId"].get<int64_t>()), static_cast<long long>(r["offset"].get<int64_t>()));
  return 0;
}

// producerConnection: GET_PRODUCER_CONNECTION_LIST at a master of the topic.
int producer_connection(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto route = admin.get_route(args["t"]);
  if (!route.ok()) return fail("producerConnection: " + route.detail());
  for (const auto& [name, addr] : route_masters(*route)) {
    RemotingCommand req = RemotingCommand::request(request_code::kGetProducerConnectionList);
    req.ext_fields.set("producerGroup", args["g"]);
    auto r = admin.call(addr, req);
    if (!r.ok()) continue;
    auto j = parse_fastjson(r->body);
    if (!j.ok() || !j->contains("connectionSet") || (*j)["connectionSet"].empty()) continue;
    if (json_out) {
      print_json(*j);
      return 0;
    }
    int i = 0;
    for (const auto& c : (*j)["connectionSet"])
      std::printf("%04d  %-32s %-22s %-8s %s\n", ++i, json_string(c, "clientId").c_str(), json_string(c, "clientAddr").c_str(),
                  json_string(c, "language").c_str(), version_desc(json_int(c, "version")).c_str());
    return 0;
  }
  return fail("producerConnection: Not found the producer group connection (" + args["g"] + ")");
}

// topicClusterList: the clusters whose brokers serve the topic.
int topic_cluster_list(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto route = admin.get_route(args["t"]);
  if (!route.ok()) return fail("topicClusterList: " + route.detail());
  auto info = admin.get_cluster_info();
  if (!info.ok()) return fail("topicClusterList: " + info.detail());
  std::set<std::string> clusters;
  for (const auto& bd : route->broker_datas)
    for (const auto& [cluster, names] : info->cluster_addr_table)
      if (std::find(names.begin(), names.end(), bd.broker_name) != names.end()) clusters.insert(cluster);
  if (json_out) {
    print_json(json{{"clusters", clusters}});
    return 0;
  }
  for (const auto& c : clusters) std::printf("%s\n", c.c_str());
  return 0;
}

}  // namespace

std::vector<Command> consumer_commands() {
  return {
      {"consumerProgress", "Consumer offsets, lag and TPS of a consumer group (or a summary of every group)",
       with_common({{"g", "groupName", true, false, "consumer group (default: every group)"},
                    {"t", "topicName", true, false, "only this topic"}}),
       consumer_progress},
      {"brokerConsumeStats", "Offsets and lag of every group consuming from a broker",
       with_common({{"b", "brokerAddr", true, true, "broker address ip:port"},
                    {"t", "timeoutMillis", true, false, "request timeout in ms (default 50000)"},
                    {"l", "level", true, false, "only queues whose diff is at least this"},
                    {"o", "order", true, false, "true: ordered topics only"}}),
       broker_consume_stats},
      {"statsAll", "Topics and their consumer groups: accumulation, TPS and the last day's message counts",
       with_common({{"a", "activeTopic", false, false, "only topics with traffic in the last day"},
                    {"t", "topic", true, false, "only this topic"}}),
       stats_all},
      {"resetOffsetByTime", "Move a consumer group's offsets of a topic to a time (online members are told)",
       with_common({{"g", "group", true, true, "consumer group"},
                    {"t", "topic", true, true, "topic"},
                    {"s", "timestamp", true, true, "now, milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS"},
                    {"f", "force", true, false, "true (default): also move forward; false: only back"},
                    {"c", "cplus", false, false, "the members are C++ clients"}}),
       reset_offset_by_time},
      {"producerConnection", "The online members of a producer group",
       with_common({{"g", "producerGroup", true, true, "producer group"}, {"t", "topic", true, true, "a topic it sends to"}}),
       producer_connection},
      {"topicClusterList", "The clusters that serve a topic",
       with_common({{"t", "topic", true, true, "topic"}}), topic_cluster_list},
  };
}

}  // namespace mq::mqadmin
