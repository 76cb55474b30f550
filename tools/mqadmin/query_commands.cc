// mqadmin's index lookups: queryMsgByKey and queryMsgByUniqueKey, with RocketMQ 4.9's flags. Both
// send QUERY_MESSAGE (12) to every master of the topic's route, as MQAdminImpl.queryMessage does,
// and keep what matches: a key among KEYS, or the UNIQ_KEY.
#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/message.h"
#include "tools/mqadmin/mqadmin.h"

namespace mq::mqadmin {

namespace {

using nlohmann::json;

struct Found {
  std::string broker_name;
  std::string body;  // the record's bytes; decoded where used (views point into it)
  MessageRecord rec() const { return *decode_record(body, DecodeOptions{.check_crc = false}); }
};

bool has_key(std::string_view keys, std::string_view key) {
  while (!keys.empty()) {
    size_t sp = keys.find(' ');
    if (keys.substr(0, sp) == key) return true;
    if (sp == std::string_view::npos) break;
    keys.remove_prefix(sp + 1);
  }
  return false;
}

// QUERY_MESSAGE at every master; `err` is set when no broker could be asked.
std::vector<Found> query(AdminClient& admin, const std::string& topic, const std::string& key, bool unique,
                         int64_t begin_ms, int64_t end_ms, std::string& err) {
  std::vector<Found> out;
  auto route = admin.get_route(topic);
  if (!route.ok()) {
    err = route.detail();
    return out;
  }
  int asked = 0;
  for (const auto& [name, addr] : route_masters(*route)) {
    RemotingCommand req = RemotingCommand::request(request_code::kQueryMessage);
    req.ext_fields.set("topic", topic);
    req.ext_fields.set("key", key);
    req.ext_fields.set("maxNum", int32_t{32});
    req.ext_fields.set("beginTimestamp", begin_ms);
    req.ext_fields.set("endTimestamp", end_ms);
    if (unique) req.ext_fields.set("_UNIQUE_KEY_QUERY", std::string("true"));
    auto r = admin.call(addr, std::move(req));
    if (!r.ok()) {
      if (r.error().code.kind == ClientError::kResponse) ++asked;  // QUERY_NOT_FOUND: asked, nothing there
      continue;
    }
    ++asked;
    std::string_view rest = r->body;
    while (!rest.empty()) {
      auto rec = decode_record(rest, DecodeOptions{.check_crc = false});
      if (!rec.ok() || rec->total_size <= 0 || static_cast<size_t>(rec->total_size) > rest.size()) break;
      Found f;
      f.broker_name = name;
      f.body = std::string(rest.substr(0, static_cast<size_t>(rec->total_size)));
      rest.remove_prefix(static_cast<size_t>(rec->total_size));
      const bool match = unique ? find_property(rec->properties, property::kUniqKey) == key
                                : has_key(find_property(rec->properties, property::kKeys).value_or(""), key);
      if (match && rec->topic == topic) out.push_back(std::move(f));
    }
  }
  if (asked == 0) err = "no master of " + topic + " answered";
  return out;
}

json record_json(const Found& found) {
  struct View {
    std::string broker_name;
    MessageRecord rec;
  } f{found.broker_name, found.rec()};
  json props = json::object();
  for (const auto& [k, v] : decode_properties(f.rec.properties)) props[std::string(k)] = std::string(v);
  return json{{"brokerName", f.broker_name},
              {"msgId", std::string(find_property(f.rec.properties, property::kUniqKey).value_or(""))},
              {"offsetMsgId", make_offset_msg_id(f.rec.store_host, f.rec.physical_offset)},
              {"topic", std::string(f.rec.topic)},
              {"queueId", f.rec.queue_id},
              {"queueOffset", f.rec.queue_offset},
              {"commitLogOffset", f.rec.physical_offset},
              {"reconsumeTimes", f.rec.reconsume_times},
              {"bornTimestamp", f.rec.born_timestamp},
              {"storeTimestamp", f.rec.store_timestamp},
              {"bornHost", f.rec.born_host.to_string()},
              {"storeHost", f.rec.store_host.to_string()},
              {"sysFlag", f.rec.sys_flag},
              {"properties", props},
              {"bodyLength", f.rec.body.size()}};
}

int query_msg_by_key(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  int64_t begin_ms = 0, end_ms = INT64_MAX;
  if (!args["b"].empty()) {
    auto t = parse_timestamp(args["b"]);
    if (!t) return fail("queryMsgByKey: -b takes ms or yyyy-MM-dd#HH:mm:ss:SSS");
    begin_ms = *t;
  }
  if (!args["e"].empty()) {
    auto t = parse_timestamp(args["e"]);
    if (!t) return fail("queryMsgByKey: -e takes ms or yyyy-MM-dd#HH:mm:ss:SSS");
    end_ms = *t;
  }
  std::string err;
  auto found = query(admin, args["t"], args["k"], false, begin_ms, end_ms, err);
  if (!err.empty()) return fail("queryMsgByKey: " + err);
  if (json_out) {
    json all = json::array();
    for (const auto& f : found) all.push_back(record_json(f));
    std::printf("%s\n", all.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  std::printf("%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset");
  for (const auto& f : found) {
    MessageRecord rec = f.rec();
    // Java shows the UNIQ_KEY, or the offsetMsgId of a message sent without one.
    std::string id(find_property(rec.properties, property::kUniqKey).value_or(""));
    if (id.empty()) id = make_offset_msg_id(rec.store_host, rec.physical_offset);
    std::printf("%-50s %4d %40lld\n", id.c_str(),
                rec.queue_id, static_cast<long long>(rec.queue_offset));
  }
  return 0;
}

int query_msg_by_unique_key(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  std::string err;
  auto found = query(admin, args["t"], args["i"], true, 0, INT64_MAX, err);
  if (!err.empty()) return fail("queryMsgByUniqueKey: " + err);
  if (found.empty()) return fail("queryMsgByUniqueKey: no message with unique key " + args["i"] + " in " + args["t"]);
  json j = record_json(found.front());
  if (json_out) {
    std::printf("%s\n", j.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  for (const auto& [k, v] : j.items())
    std::printf("%-20s %s\n", (k + ":").c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump(-1, ' ', false, kJsonReplace).c_str());
  return 0;
}

}  // namespace

std::vector<Command> query_commands() {
  return {
      {"queryMsgByKey", "Messages of a topic by key (the broker's IndexFile)",
       with_common({{"t", "topic", true, true, "topic"},
                    {"k", "msgKey", true, true, "message key"},
                    {"b", "beginTimestamp", true, false, "from (ms or yyyy-MM-dd#HH:mm:ss:SSS)"},
                    {"e", "endTimestamp", true, false, "to (ms or yyyy-MM-dd#HH:mm:ss:SSS)"},
                    {"c", "cluster", true, false, "cluster (unused: every master of the route is asked)"}}),
       query_msg_by_key},
      {"queryMsgByUniqueKey", "A message by its unique key (the msgId clients see)",
       with_common({{"t", "topic", true, true, "topic"},
                    {"i", "msgId", true, true, "unique key (UNIQ_KEY)"},
                    {"g", "consumerGroup", true, false, "consumer group (unused)"},
                    {"d", "clientId", true, false, "client id (unused)"}}),
       query_msg_by_unique_key},
  };
}

}  // namespace mq::mqadmin
