// mqadmin's message readers: consumeMessage, printMsg and queryMsgByOffset, with RocketMQ 4.9's
// flags. They pull (PULL_MESSAGE, no suspension, subscription "*" or the given tag expression)
// from the masters in the topic's route as the tools group, and commit nothing.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "client/consumer.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "tools/mqadmin/mqadmin.h"

namespace mq::mqadmin {

namespace {

using nlohmann::json;

constexpr const char* kToolsConsumerGroup = "TOOLS_CONSUMER";  // MixAll.TOOLS_CONSUMER_GROUP
constexpr int32_t kPullBatch = 32;

struct QueueRef {
  std::string broker_name, addr;
  int32_t queue_id = 0;
};

// The read queues of a topic at each master of its route.
std::vector<QueueRef> read_queues(const TopicRouteData& route) {
  std::vector<QueueRef> out;
  for (const auto& [name, addr] : route_masters(route))
    for (const auto& qd : route.queue_datas)
      if (qd.broker_name == name)
        for (int32_t q = 0; q < qd.read_queue_nums; ++q) out.push_back(QueueRef{name, addr, q});
  return out;
}

// GET_MIN_OFFSET / GET_MAX_OFFSET / SEARCH_OFFSET_BY_TIMESTAMP (timestamp >= 0) of one queue.
ClientResult<int64_t> queue_offset(AdminClient& admin, const QueueRef& q, const std::string& topic, int32_t code,
                                   int64_t timestamp = -1) {
  RemotingCommand req = RemotingCommand::request(code);
  req.ext_fields.set("topic", topic);
  req.ext_fields.set("queueId", q.queue_id);
  if (timestamp >= 0) req.ext_fields.set("timestamp", timestamp);
  auto r = admin.call(q.addr, req);
  if (!r.ok()) return r.error();
  const std::string* v = r->ext_fields.find("offset");
  try {
    if (v != nullptr) return static_cast<int64_t>(std::stoll(*v));
  } catch (...) {
  }
  return make_error(ClientError{ClientError::kBadBody, 0}, "no offset in the answer of " + q.addr);
}

// One message as the Java tool prints a MessageExt (the fields an operator looks at), and its body.
json message_json(const ConsumedMessage& m, const QueueRef& q) {
  json props = json::object();
  for (const auto& [k, v] : decode_properties(m.properties)) props[std::string(k)] = std::string(v);
  return json{{"msgId", m.msg_id()},
              {"offsetMsgId", m.offset_msg_id()},
              {"topic", std::string(m.topic)},
              {"brokerName", q.broker_name},
              {"queueId", m.queue_id},
              {"queueOffset", m.queue_offset},
              {"commitLogOffset", m.commit_log_offset},
              {"storeHost", m.store_host.to_string()},
              {"bornHost", m.born_host.to_string()},
              {"storeTimestamp", m.store_timestamp},
              {"bornTimestamp", m.born_timestamp},
              {"reconsumeTimes", m.reconsume_times},
              {"sysFlag", m.sys_flag},
              {"properties", props},
              {"body", std::string(m.body)}};
}

void print_message(const json& m, bool print_body) {
  std::string props;
  for (const auto& [k, v] : m["properties"].items()) props += (props.empty() ? "" : ", ") + k + "=" + v.get<std::string>();
  std::printf("MSGID: %s MessageExt [brokerName=%s, queueId=%d, queueOffset=%lld, commitLogOffset=%lld, storeTimestamp=%s, "
              "bornHost=%s, storeHost=%s, msgId=%s, reconsumeTimes=%d, topic=%s, properties={%s}]",
              m["msgId"].get<std::string>().c_str(), m["brokerName"].get<std::string>().c_str(), m["queueId"].get<int>(),
              static_cast<long long>(m["queueOffset"].get<int64_t>()), static_cast<long long>(m["commitLogOffset"].get<int64_t>()),
              format_time(m["storeTimestamp"].get<int64_t>()).c_str(), m["bornHost"].get<std::string>().c_str(),
              m["storeHost"].get<std::string>().c_str(), m["offsetMsgId"].get<std::string>().c_str(),
              m["reconsumeTimes"].get<int>(), m["topic"].get<std::string>().c_str(), props.c_str());
  if (print_body) std::printf(" BODY: %s", m["body"].get<std::string>().c_str());
  std::printf("\n");
}

// Pulls queue offsets [from, to) of one queue (fewer when the queue ends first), calling `fn` for
// each message that matches `expression` ("*" or "TagA || TagB").
ClientResult<Unit> pull_range(AdminClient& admin, const QueueRef& q, const std::string& topic, int64_t from, int64_t to,
                              const std::string& expression, const std::function<void(const ConsumedMessage&)>& fn) {
  int64_t offset = from;
  while (offset < to) {
    PullRequestHeader h;
    h.consumer_group = kToolsConsumerGroup;
    h.topic = topic;
    h.queue_id = q.queue_id;
    h.queue_offset = offset;
    h.max_msg_nums = static_cast<int32_t>(std::min<int64_t>(kPullBatch, to - offset));
    h.sys_flag = pull_sysflag::kSubscription;
    h.suspend_timeout_ms = 0;
    h.subscription = expression;
    auto resp = admin.rpc().invoke(q.addr, make_pull_request(h), 10'000);
    if (!resp.ok()) return make_error(ClientError{ClientError::kRpc, 0}, "pull from " + q.addr + ": " + resp.detail());
    auto pr = parse_pull_response(*resp);
    if (!pr.ok()) return make_error(ClientError{ClientError::kResponse, pr.code().response_code}, pr.detail());
    if (pr->status == PullResult::kFound) {
      std::string scratch;
      for (const auto& rec : pr->records) {
        if (rec.queue_offset >= to) break;
        ConsumedMessage m;
        if (!to_consumed_message(rec, q.broker_name, m, scratch).ok()) continue;
        fn(m);
      }
    }
    if (pr->status == PullResult::kNoNewMsg || pr->status == PullResult::kOffsetIllegal || pr->next_begin_offset <= offset)
      break;
    offset = pr->next_begin_offset;
  }
  return Unit{};
}

// The offsets [begin, end) of a queue: min/max, or by time when -s/-e (or -b/-e) are given.
ClientResult<std::pair<int64_t, int64_t>> queue_range(AdminClient& admin, const QueueRef& q, const std::string& topic,
                                                      int64_t begin_ms, int64_t end_ms) {
  auto min = begin_ms > 0 ? queue_offset(admin, q, topic, request_code::kSearchOffsetByTimestamp, begin_ms)
                          : queue_offset(admin, q, topic, request_code::kGetMinOffset);
  if (!min.ok()) return min.error();
  auto max = end_ms > 0 ? queue_offset(admin, q, topic, request_code::kSearchOffsetByTimestamp, end_ms)
                        : queue_offset(admin, q, topic, request_code::kGetMaxOffset);
  if (!max.ok()) return max.error();
  return std::make_pair(*min, *max);
}

// A timestamp option into `out` (0 when absent); false, with the reason in `err`, when unreadable.
bool timestamp_arg(Args& args, const char* key, int64_t& out, std::string& err) {
  out = 0;
  if (!args.count(key)) return true;
  auto ts = parse_timestamp(args[key]);
  if (!ts) {
    err = std::string("-") + key + " takes milliseconds or yyyy-MM-dd#HH:mm:ss:SSS, got '" + args[key] + "'";
    return false;
  }
  out = *ts;
  return true;
}

// consumeMessage: up to -c messages (default 128) from the topic's queues, or from one queue
// (-b brokerName -i queueId, from -o offset), optionally between two times.
int consume_message(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  const std::string& topic = args["t"];
  int64_t count = 128, offset = -1, begin_ms = 0, end_ms = 0;
  std::string err;
  try {
    if (args.count("c")) count = std::stoll(args["c"]);
    if (args.count("o")) offset = std::stoll(args["o"]);
  } catch (...) {
    return fail("consumeMessage: -c and -o take numbers");
  }
  if (count <= 0) return fail("consumeMessage: -c must be positive");
  if (args.count("i") && !args.count("b")) return fail("consumeMessage: set the brokerName (-b) before the queueId (-i)");
  if (args.count("o") && !args.count("i")) return fail("consumeMessage: set the queueId (-i) before the offset (-o)");
  if (!timestamp_arg(args, "s", begin_ms, err) || !timestamp_arg(args, "e", end_ms, err)) return fail("consumeMessage: " + err);
  if (end_ms > 0 && begin_ms > end_ms) return fail("consumeMessage: the begin time is after the end time");
  auto route = admin.get_route(topic);
  if (!route.ok()) return fail("consumeMessage: " + route.detail());
  std::vector<QueueRef> queues = read_queues(*route);
  if (args.count("b")) {
    std::erase_if(queues, [&](const QueueRef& q) {
      return q.broker_name != args["b"] || (args.count("i") && std::to_string(q.queue_id) != args["i"]);
    });
    if (queues.empty()) return fail("consumeMessage: no such queue of " + topic + " in its route");
  }
  json out = json::array();
  int64_t left = count;
  for (const auto& q : queues) {
    if (left <= 0) break;
    auto range = queue_range(admin, q, topic, begin_ms, end_ms);
    if (!range.ok()) return fail("consumeMessage: " + range.detail());
    auto [from, to] = *range;
    if (offset >= 0) from = std::max(from, offset);
    if (to - from > left) {
      if (!json_out) std::printf("The older %lld message of the %d queue will be provided\n", static_cast<long long>(left), q.queue_id);
      to = from + left;
    }
    left -= std::max<int64_t>(to - from, 0);
    int found = 0;
    auto pulled = pull_range(admin, q, topic, from, to, "*", [&](const ConsumedMessage& m) {
      json j = message_json(m, q);
      if (!json_out) {
        if (found == 0) std::printf("Consume ok\n");
        print_message(j, true);
      }
      ++found;
      out.push_back(std::move(j));
    });
    if (!pulled.ok()) return fail("consumeMessage: " + pulled.detail());
    if (!json_out && found == 0)
      std::printf("MessageQueue [topic=%s, brokerName=%s, queueId=%d] print msg finished. status=NO_NEW_MSG, offset=%lld\n",
                  topic.c_str(), q.broker_name.c_str(), q.queue_id, static_cast<long long>(from));
  }
  if (json_out) std::printf("%s\n", out.dump(-1, ' ', false, kJsonReplace).c_str());
  return 0;
}

// printMsg: every message of every queue of the topic (between -b and -e), matching -s.
int print_msg(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  const std::string& topic = args["t"];
  const std::string expression = args.count("s") ? args["s"] : "*";
  const bool print_body = !args.count("d") || args["d"] == "true";
  int64_t begin_ms = 0, end_ms = 0;
  std::string err;
  if (!timestamp_arg(args, "b", begin_ms, err) || !timestamp_arg(args, "e", end_ms, err)) return fail("printMsg: " + err);
  auto route = admin.get_route(topic);
  if (!route.ok()) return fail("printMsg: " + route.detail());
  json out = json::array();
  for (const auto& q : read_queues(*route)) {
    auto range = queue_range(admin, q, topic, begin_ms, end_ms);
    if (!range.ok()) return fail("printMsg: " + range.detail());
    if (!json_out)
      std::printf("minOffset=%lld, maxOffset=%lld, MessageQueue [topic=%s, brokerName=%s, queueId=%d]\n",
                  static_cast<long long>(range->first), static_cast<long long>(range->second), topic.c_str(),
                  q.broker_name.c_str(), q.queue_id);
    auto pulled = pull_range(admin, q, topic, range->first, range->second, expression, [&](const ConsumedMessage& m) {
      json j = message_json(m, q);
      if (!json_out) print_message(j, print_body);
      out.push_back(std::move(j));
    });
    if (!pulled.ok()) return fail("printMsg: " + pulled.detail());
    if (!json_out) std::printf("--------------------------------------------------------\n");
  }
  if (json_out) std::printf("%s\n", out.dump(-1, ' ', false, kJsonReplace).c_str());
  return 0;
}

// queryMsgByOffset: the message at one queue offset of one broker's queue.
int query_msg_by_offset(Args& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  const std::string& topic = args["t"];
  int32_t queue_id = 0;
  int64_t offset = 0;
  try {
    queue_id = std::stoi(args["i"]);
    offset = std::stoll(args["o"]);
  } catch (...) {
    return fail("queryMsgByOffset: -i and -o take numbers");
  }
  auto route = admin.get_route(topic);
  if (!route.ok()) return fail("queryMsgByOffset: " + route.detail());
  std::optional<QueueRef> queue;
  for (const auto& [name, addr] : route_masters(*route))
    if (name == args["b"]) queue = QueueRef{name, addr, queue_id};
  if (!queue) return fail("queryMsgByOffset: broker " + args["b"] + " has no master in the route of " + topic);
  std::optional<json> found;
  auto pulled = pull_range(admin, *queue, topic, offset, offset + 1, "*",
                           [&](const ConsumedMessage& m) { found = message_json(m, *queue); });
  if (!pulled.ok()) return fail("queryMsgByOffset: " + pulled.detail());
  if (!found)
    return fail("queryMsgByOffset: no message at offset " + std::to_string(offset) + " of " + topic + " queue " +
                std::to_string(queue_id) + " on " + args["b"]);
  const json& m = *found;
  if (json_out) {
    std::printf("%s\n", m.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  auto row = [](const char* k, const std::string& v) { std::printf("%-20s %s\n", k, v.c_str()); };
  std::string tags, keys, props;
  for (const auto& [k, v] : m["properties"].items()) {
    props += (props.empty() ? "" : ", ") + k + "=" + v.get<std::string>();
    if (k == "TAGS") tags = v.get<std::string>();
    if (k == "KEYS") keys = v.get<std::string>();
  }
  row("OffsetID:", m["offsetMsgId"].get<std::string>());
  row("Topic:", m["topic"].get<std::string>());
  row("Tags:", "[" + tags + "]");
  row("Keys:", "[" + keys + "]");
  row("Queue ID:", std::to_string(m["queueId"].get<int>()));
  row("Queue Offset:", std::to_string(m["queueOffset"].get<int64_t>()));
  row("CommitLog Offset:", std::to_string(m["commitLogOffset"].get<int64_t>()));
  row("Reconsume Times:", std::to_string(m["reconsumeTimes"].get<int>()));
  row("Born Timestamp:", format_time(m["bornTimestamp"].get<int64_t>()));
  row("Store Timestamp:", format_time(m["storeTimestamp"].get<int64_t>()));
  row("Born Host:", m["bornHost"].get<std::string>());
  row("Store Host:", m["storeHost"].get<std::string>());
  row("System Flag:", std::to_string(m["sysFlag"].get<int>()));
  row("Properties:", "{" + props + "}");
  row("Message Body:", m["body"].get<std::string>());
  return 0;
}

}  // namespace

std::vector<Command> message_commands() {
  return {
      {"consumeMessage", "Read messages of a topic (or of one queue, from an offset) without committing",
       with_common({{"t", "topic", true, true, "topic"},
                    {"b", "brokerName", true, false, "broker name"},
                    {"i", "queueId", true, false, "queue id (with -b)"},
                    {"o", "offset", true, false, "queue offset to start at (with -i)"},
                    {"g", "consumerGroup", true, false, "accepted for RocketMQ's flags; reads as TOOLS_CONSUMER"},
                    {"s", "beginTimestamp", true, false, "milliseconds or yyyy-MM-dd#HH:mm:ss:SSS"},
                    {"e", "endTimestamp", true, false, "milliseconds or yyyy-MM-dd#HH:mm:ss:SSS"},
                    {"c", "MessageNumber", true, false, "at most this many messages (default 128)"}}),
       consume_message},
      {"printMsg", "Print every message of a topic",
       with_common({{"t", "topic", true, true, "topic"},
                    {"c", "charsetName", true, false, "accepted for RocketMQ's flags; bodies are printed as bytes"},
                    {"s", "subExpression", true, false, "tag expression (default *)"},
                    {"b", "beginTimestamp", true, false, "milliseconds or yyyy-MM-dd#HH:mm:ss:SSS"},
                    {"e", "endTimestamp", true, false, "milliseconds or yyyy-MM-dd#HH:mm:ss:SSS"},
                    {"d", "printBody", true, false, "true (default) or false"}}),
       print_msg},
      {"queryMsgByOffset", "Show the message at a queue offset",
       with_common({{"t", "topic", true, true, "topic"},
                    {"b", "brokerName", true, true, "broker name"},
                    {"i", "queueId", true, true, "queue id"},
                    {"o", "offset", true, true, "queue offset"}}),
       query_msg_by_offset},
  };
}

}  // namespace mq::mqadmin
