// mqadmin: RocketMQ's admin commands, with RocketMQ's command names and flags. Output is for
// people by default; --json prints one JSON document for scripts.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/config.h"
#include "client/admin_client.h"
#include "codec/codes.h"
#include "codec/fastjson.h"
#include "codec/message.h"
#include "tools/mqadmin/mqadmin.h"

using namespace mq;
using namespace mq::mqadmin;
using nlohmann::json;

namespace mq::mqadmin {

std::vector<OptionSpec> with_common(std::vector<OptionSpec> opts) {
  opts.push_back({"n", "namesrvAddr", true, false, "NameServer addresses, ';' separated (default: $NAMESRV_ADDR)"});
  opts.push_back({"h", "help", false, false, "print this help"});
  return opts;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "mqadmin: %s\n", what.c_str());
  return 1;
}

std::string namesrv_of(Args& args) {
  if (args.count("n")) return args["n"];
  const char* env = std::getenv("NAMESRV_ADDR");
  return env ? env : "";
}

std::vector<std::string> target_brokers(AdminClient& admin, Args& args, std::string& err) {
  if (args.count("b")) return {args["b"]};
  if (args.count("c")) {
    auto addrs = admin.master_addrs_of_cluster(args["c"]);
    if (!addrs.ok()) {
      err = addrs.detail();
      return {};
    }
    if (addrs->empty()) err = "cluster " + args["c"] + " has no live master";
    return *addrs;
  }
  err = "give -b brokerAddr or -c clusterName";
  return {};
}

std::vector<std::pair<std::string, std::string>> route_masters(const TopicRouteData& route) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& bd : route.broker_datas)
    if (auto m = bd.broker_addrs.find(0); m != bd.broker_addrs.end()) out.emplace_back(bd.broker_name, m->second);
  return out;
}

std::string version_desc(int64_t version) {
  // MQVersion.Version from V4_0_0_SNAPSHOT (ordinal 212) on: a SNAPSHOT and a release per
  // major.minor.patch, minor and patch 0-9, up to V5_9_9.
  constexpr int64_t kV4Snapshot = 212, kHigher = kV4Snapshot + 2 * 200;
  if (version < kV4Snapshot) return "V3 (" + std::to_string(version) + ")";
  if (version >= kHigher) return "HIGHER_VERSION";
  const int64_t n = (version - kV4Snapshot) / 2;
  return "V" + std::to_string(4 + n / 100) + "_" + std::to_string(n % 100 / 10) + "_" + std::to_string(n % 10) +
         ((version - kV4Snapshot) % 2 == 0 ? "_SNAPSHOT" : "");
}

std::optional<int64_t> parse_timestamp(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    try {
      return std::stoll(text);
    } catch (...) {
      return std::nullopt;
    }
  }
  std::tm t{};
  int ms = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d#%2d:%2d:%2d:%3d%c", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour, &t.tm_min,
                  &t.tm_sec, &ms, &tail) != 7)
    return std::nullopt;
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  t.tm_isdst = -1;
  std::time_t secs = std::mktime(&t);
  if (secs == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(secs) * 1000 + ms;
}

std::string format_time(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm t{};
  localtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &t);
  return buf;
}

}  // namespace mq::mqadmin

namespace {

void print_command_usage(const Command& c, std::FILE* out) {
  std::fprintf(out, "usage: mqadmin %s [options] [--json]\n  %s\n", c.name.c_str(), c.summary.c_str());
  for (const auto& o : c.options)
    std::fprintf(out, "  -%s, --%-22s %s%s\n", o.short_name.c_str(),
                 (o.long_name + (o.takes_value ? " <value>" : "")).c_str(), o.help.c_str(),
                 o.required ? " (required)" : "");
  std::fprintf(out, "      --%-22s %s\n", "json", "print JSON for scripts");
}

int cluster_list(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto info = admin.get_cluster_info();
  if (!info.ok()) return fail("clusterList: " + info.detail());
  json out = json::array();
  for (const auto& [cluster, names] : info->cluster_addr_table) {
    for (const auto& name : names) {
      auto b = info->broker_addr_table.find(name);
      if (b == info->broker_addr_table.end()) continue;
      for (const auto& [id, addr] : b->second.broker_addrs)
        out.push_back({{"cluster", cluster}, {"brokerName", name}, {"brokerId", id}, {"addr", addr}});
    }
  }
  if (json_out) {
    std::printf("%s\n", out.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  std::printf("%-22s %-22s %-5s %-24s\n", "#Cluster Name", "#Broker Name", "#BID", "#Addr");
  for (const auto& row : out)
    std::printf("%-22s %-22s %-5lld %-24s\n", row["cluster"].get<std::string>().c_str(),
                row["brokerName"].get<std::string>().c_str(), static_cast<long long>(row["brokerId"].get<int64_t>()),
                row["addr"].get<std::string>().c_str());
  return 0;
}

int topic_route(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto route = admin.get_route(args["t"]);
  if (!route.ok()) return fail("topicRoute: " + route.detail());
  std::printf("%s\n", json_out ? route->to_json().dump(-1, ' ', false, kJsonReplace).c_str() : route->to_json().dump(2, ' ', false, kJsonReplace).c_str());
  return 0;
}

int topic_list(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto topics = args.count("c") ? admin.get_topics_by_cluster(args["c"]) : admin.get_all_topics();
  if (!topics.ok()) return fail("topicList: " + topics.detail());
  if (json_out) {
    std::printf("%s\n", json{{"topicList", *topics}}.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  for (const auto& t : *topics) std::printf("%s\n", t.c_str());
  return 0;
}

// Config texts (properties) of several servers, keyed by address: one JSON object per server, or
// the Java tool's "====addr====" blocks of `key = value` lines.
int print_config_texts(const std::map<std::string, std::string>& text_by_addr, bool json_out, int key_width) {
  json out = json::object();
  for (const auto& [addr, text] : text_by_addr) {
    json kv = json::object();
    for (const auto& [k, v] : parse_properties_text(text)) kv[k] = v;
    out[addr] = kv;
  }
  if (json_out) {
    std::printf("%s\n", out.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  for (const auto& [addr, kv] : out.items()) {
    std::printf("============%s============\n", addr.c_str());
    for (const auto& [k, v] : kv.items()) std::printf("%-*s=  %s\n", key_width, k.c_str(), v.get<std::string>().c_str());
  }
  return 0;
}

int get_namesrv_config(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto configs = admin.get_namesrv_config();
  if (!configs.ok()) return fail("getNamesrvConfig: " + configs.detail());
  return print_config_texts(*configs, json_out, 40);
}

int update_namesrv_config(std::map<std::string, std::string>& args, bool) {
  AdminClient admin(namesrv_of(args));
  auto r = admin.update_namesrv_config(args["k"] + "=" + args["v"] + "\n");
  if (!r.ok()) return fail("updateNamesrvConfig: " + r.detail());
  std::printf("update name server config success!\n");
  return 0;
}

int wipe_write_perm(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto r = admin.wipe_write_perm(args["b"]);
  if (!r.ok()) return fail("wipeWritePerm: " + r.detail());
  if (json_out) {
    std::printf("%s\n", json{{"wipeTopicCount", *r}}.dump(-1, ' ', false, kJsonReplace).c_str());
  } else {
    std::printf("wipe write perm of broker[%s] in name server success, topic count: %d\n", args["b"].c_str(), *r);
  }
  return 0;
}

int add_write_perm(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto r = admin.add_write_perm(args["b"]);
  if (!r.ok()) return fail("addWritePerm: " + r.detail());
  if (json_out) {
    std::printf("%s\n", json{{"addTopicCount", *r}}.dump(-1, ' ', false, kJsonReplace).c_str());
  } else {
    std::printf("add write perm of broker[%s] in name server success, topic count: %d\n", args["b"].c_str(), *r);
  }
  return 0;
}

int update_kv_config(std::map<std::string, std::string>& args, bool) {
  AdminClient admin(namesrv_of(args));
  auto r = admin.put_kv(args["s"], args["k"], args["v"]);
  if (!r.ok()) return fail("updateKvConfig: " + r.detail());
  std::printf("update kv config in namespace success.\n");
  return 0;
}

int delete_kv_config(std::map<std::string, std::string>& args, bool) {
  AdminClient admin(namesrv_of(args));
  auto r = admin.delete_kv(args["s"], args["k"]);
  if (!r.ok()) return fail("deleteKvConfig: " + r.detail());
  std::printf("delete kv config from namespace success.\n");
  return 0;
}


int update_topic(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  TopicConfig c;
  c.topic_name = args["t"];
  try {
    c.read_queue_nums = args.count("r") ? std::stoi(args["r"]) : 8;
    c.write_queue_nums = args.count("w") ? std::stoi(args["w"]) : 8;
    c.perm = args.count("p") ? std::stoi(args["p"]) : 6;
  } catch (...) {
    return fail("updateTopic: -r, -w and -p take numbers");
  }
  c.order = args.count("o") && args["o"] == "true";
  std::string err;
  auto brokers = target_brokers(admin, args, err);
  if (!err.empty()) return fail("updateTopic: " + err);
  json out = json::array();
  for (const auto& addr : brokers) {
    auto r = admin.create_topic(addr, c);
    if (!r.ok()) return fail("updateTopic on " + addr + ": " + r.detail());
    out.push_back(addr);
    if (!json_out) std::printf("create topic to %s success.\n", addr.c_str());
  }
  if (json_out) {
    std::printf("%s\n", json{{"brokers", out}, {"topicConfig", c.to_json()}}.dump(-1, ' ', false, kJsonReplace).c_str());
  } else {
    std::printf("%s\n", c.to_json().dump(-1, ' ', false, kJsonReplace).c_str());
  }
  return 0;
}

int topic_status(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto route = admin.get_route(args["t"]);
  if (!route.ok()) return fail("topicStatus: " + route.detail());
  json rows = json::array();
  for (const auto& bd : route->broker_datas) {
    auto m = bd.broker_addrs.find(0);
    if (m == bd.broker_addrs.end()) continue;
    auto stats = admin.get_topic_stats(m->second, args["t"]);
    if (!stats.ok()) return fail("topicStatus on " + m->second + ": " + stats.detail());
    auto j = parse_fastjson(*stats);
    if (!j.ok()) return fail("topicStatus: bad stats body from " + m->second);
    for (auto it = (*j)["offsetTable"].begin(); it != (*j)["offsetTable"].end(); ++it) {
      auto key = parse_fastjson(it.key());
      if (!key.ok()) continue;
      rows.push_back({{"brokerName", (*key)["brokerName"]}, {"queueId", (*key)["queueId"]},
                      {"minOffset", it.value()["minOffset"]}, {"maxOffset", it.value()["maxOffset"]},
                      {"lastUpdateTimestamp", it.value()["lastUpdateTimestamp"]}});
    }
  }
  if (json_out) {
    std::printf("%s\n", rows.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  std::printf("%-24s %-5s %-18s %-18s %s\n", "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated");
  for (const auto& r : rows)
    std::printf("%-24s %-5d %-18lld %-18lld %lld\n", r["brokerName"].get<std::string>().c_str(), r["queueId"].get<int>(),
                static_cast<long long>(r["minOffset"].get<int64_t>()), static_cast<long long>(r["maxOffset"].get<int64_t>()),
                static_cast<long long>(r["lastUpdateTimestamp"].get<int64_t>()));
  return 0;
}

int broker_status(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  std::string err;
  auto brokers = target_brokers(admin, args, err);
  if (!err.empty()) return fail("brokerStatus: " + err);
  json out = json::object();
  for (const auto& addr : brokers) {
    auto info = admin.get_broker_runtime_info(addr);
    if (!info.ok()) return fail("brokerStatus on " + addr + ": " + info.detail());
    out[addr] = *info;
  }
  if (json_out) {
    std::printf("%s\n", out.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  for (const auto& [addr, kv] : out.items()) {
    if (out.size() > 1) std::printf("============%s============\n", addr.c_str());
    for (const auto& [k, v] : kv.items()) std::printf("%-32s: %s\n", k.c_str(), v.get<std::string>().c_str());
  }
  return 0;
}

int get_broker_config(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  std::string err;
  auto brokers = target_brokers(admin, args, err);
  if (!err.empty()) return fail("getBrokerConfig: " + err);
  std::map<std::string, std::string> texts;
  for (const auto& addr : brokers) {
    auto text = admin.get_broker_config(addr);
    if (!text.ok()) return fail("getBrokerConfig on " + addr + ": " + text.detail());
    texts[addr] = *text;
  }
  return print_config_texts(texts, json_out, 50);
}

int update_broker_config(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  std::string err;
  auto brokers = target_brokers(admin, args, err);
  if (!err.empty()) return fail("updateBrokerConfig: " + err);
  // The broker's remark says which keys apply now and which at its next start, and whether it
  // wrote them to its config file.
  json done = json::array();
  json remarks = json::object();
  for (const auto& addr : brokers) {
    auto r = admin.update_broker_config(addr, args["k"] + "=" + args["v"]);
    if (!r.ok()) return fail("updateBrokerConfig on " + addr + ": " + r.detail());
    done.push_back(addr);
    remarks[addr] = *r;
    if (!json_out) std::printf("update broker config success, %s%s%s\n", addr.c_str(), r->empty() ? "" : ": ", r->c_str());
  }
  if (json_out) std::printf("%s\n", json{{"updated", done}, {"remarks", remarks}}.dump(-1, ' ', false, kJsonReplace).c_str());
  return 0;
}

int delete_topic(std::map<std::string, std::string>& args, bool) {
  AdminClient admin(namesrv_of(args));
  const std::string& cluster = args["c"];
  const std::string& topic = args["t"];
  auto masters = admin.master_addrs_of_cluster(cluster);
  if (!masters.ok()) return fail("deleteTopic: " + masters.detail());
  if (masters->empty()) return fail("deleteTopic: cluster " + cluster + " has no live master");
  for (const auto& addr : *masters) {
    auto r = admin.delete_topic_in_broker(addr, topic);
    if (!r.ok()) return fail("deleteTopic on " + addr + ": " + r.detail());
  }
  std::printf("delete topic [%s] from cluster [%s] success.\n", topic.c_str(), cluster.c_str());
  auto ns = admin.delete_topic_in_namesrv(topic, cluster);
  if (!ns.ok()) return fail("deleteTopic in the NameServers: " + ns.detail());
  std::printf("delete topic [%s] from NameServer success.\n", topic.c_str());
  return 0;
}

int delete_sub_group(std::map<std::string, std::string>& args, bool) {
  AdminClient admin(namesrv_of(args));
  std::string err;
  auto brokers = target_brokers(admin, args, err);
  if (!err.empty()) return fail("deleteSubGroup: " + err);
  bool clean_offset = args.count("r") && args["r"] == "true";
  for (const auto& addr : brokers) {
    auto r = admin.delete_subscription_group(addr, args["g"], clean_offset);
    if (!r.ok()) return fail("deleteSubGroup on " + addr + ": " + r.detail());
    std::printf("delete subscription group [%s] from broker [%s] success.\n", args["g"].c_str(), addr.c_str());
  }
  return 0;
}

// Asks the brokers of the group's retry topic first (as the Java tool does), then every master.
int consumer_connection(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  const std::string& group = args["g"];
  std::vector<std::string> candidates;
  if (auto route = admin.get_route("%RETRY%" + group); route.ok())
    for (const auto& b : route->broker_datas)
      if (auto m = b.broker_addrs.find(0); m != b.broker_addrs.end()) candidates.push_back(m->second);
  if (auto info = admin.get_cluster_info(); info.ok())
    for (const auto& [name, bd] : info->broker_addr_table)
      if (auto m = bd.broker_addrs.find(0); m != bd.broker_addrs.end()) candidates.push_back(m->second);
  std::string last_error = "no broker known to the NameServer";
  for (const auto& addr : candidates) {
    auto body = admin.get_consumer_connections(addr, group);
    if (!body.ok()) {
      last_error = addr + ": " + body.detail();
      continue;
    }
    auto j = parse_fastjson(*body);
    if (!j.ok()) return fail("consumerConnection: unreadable answer from " + addr);
    if (json_out) {
      std::printf("%s\n", j->dump(-1, ' ', false, kJsonReplace).c_str());
      return 0;
    }
    std::printf("%-4s  %-40s %-22s %-10s %s\n", "#", "#ClientId", "#ClientAddr", "#Language", "#Version");
    int i = 0;
    for (const auto& c : (*j)["connectionSet"])
      std::printf("%-4d  %-40s %-22s %-10s %s\n", ++i, c.value("clientId", "").c_str(), c.value("clientAddr", "").c_str(),
                  c.value("language", "").c_str(), version_desc(json_int(c, "version")).c_str());
    std::printf("\nBelow is subscription:\n");
    i = 0;
    for (const auto& [topic, sub] : (*j)["subscriptionTable"].items())
      std::printf("%03d  Topic: %-40s SubExpression: %s\n", ++i, topic.c_str(), sub.value("subString", "").c_str());
    std::printf("\nConsumeType: %s\nMessageModel: %s\nConsumeFromWhere: %s\n", j->value("consumeType", "").c_str(),
                j->value("messageModel", "").c_str(), j->value("consumeFromWhere", "").c_str());
    return 0;
  }
  return fail("consumerConnection: group " + group + " is not online (" + last_error + ")");
}

int update_sub_group(std::map<std::string, std::string>& args, bool) {
  AdminClient admin(namesrv_of(args));
  json c{{"groupName", args["g"]},
         {"consumeEnable", !args.count("s") || args["s"] == "true"},
         {"consumeFromMinEnable", !args.count("m") || args["m"] == "true"},
         {"consumeBroadcastEnable", !args.count("d") || args["d"] == "true"}};
  try {
    if (args.count("q")) c["retryQueueNums"] = std::stoi(args["q"]);
    if (args.count("r")) c["retryMaxTimes"] = std::stoi(args["r"]);
    if (args.count("i")) c["brokerId"] = std::stoll(args["i"]);
    if (args.count("w")) c["whichBrokerWhenConsumeSlowly"] = std::stoll(args["w"]);
  } catch (...) {
    return fail("updateSubGroup: -q, -r, -i and -w take numbers");
  }
  std::string err;
  auto brokers = target_brokers(admin, args, err);
  if (!err.empty()) return fail("updateSubGroup: " + err);
  for (const auto& addr : brokers) {
    auto r = admin.update_subscription_group(addr, c.dump(-1, ' ', false, kJsonReplace));
    if (!r.ok()) return fail("updateSubGroup on " + addr + ": " + r.detail());
    std::printf("create subscription group to %s success.\n", addr.c_str());
  }
  std::printf("%s\n", c.dump(-1, ' ', false, kJsonReplace).c_str());
  return 0;
}

int send_message(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto route = admin.get_route(args["t"]);
  if (!route.ok()) return fail("sendMessage: " + route.detail());
  std::string broker_name, addr;
  int32_t queue_id = 0;
  for (const auto& bd : route->broker_datas) {
    if (args.count("b") && bd.broker_name != args["b"]) continue;
    auto m = bd.broker_addrs.find(0);
    if (m == bd.broker_addrs.end()) continue;
    broker_name = bd.broker_name;
    addr = m->second;
    break;
  }
  if (addr.empty()) return fail("sendMessage: no writable master for topic " + args["t"]);
  if (args.count("i")) {
    try {
      queue_id = std::stoi(args["i"]);
    } catch (...) {
      return fail("sendMessage: -i takes a queue id");
    }
  }
  PropertyList props;
  if (args.count("k")) props.emplace_back("KEYS", args["k"]);
  if (args.count("c")) props.emplace_back("TAGS", args["c"]);
  props.emplace_back("WAIT", "true");
  RemotingCommand req = RemotingCommand::request(request_code::kSendMessageV2);
  req.ext_fields.set("a", std::string("TOOLS_PRODUCER"));
  req.ext_fields.set("b", args["t"]);
  req.ext_fields.set("c", std::string("TBW102"));
  req.ext_fields.set("d", int32_t{4});
  req.ext_fields.set("e", queue_id);
  req.ext_fields.set("f", int32_t{0});
  req.ext_fields.set("g", SystemClock().now_ms());
  req.ext_fields.set("h", int32_t{0});
  req.ext_fields.set("i", encode_properties(props));
  req.ext_fields.set("j", int32_t{0});
  req.ext_fields.set_bool("k", false);
  req.ext_fields.set_bool("m", false);
  req.body = args["p"];
  auto r = admin.rpc().invoke(addr, req, 5000);
  if (!r.ok()) return fail("sendMessage: " + r.detail());
  if (r->code != response_code::kSuccess)
    return fail("sendMessage: code " + std::to_string(r->code) + ": " + r->remark.value_or(""));
  auto get = [&](const char* k) { const std::string* v = r->ext_fields.find(k); return v ? *v : std::string(); };
  if (json_out) {
    std::printf("%s\n", json{{"brokerName", broker_name}, {"queueId", get("queueId")}, {"queueOffset", get("queueOffset")},
                             {"offsetMsgId", get("msgId")}, {"sendStatus", "SEND_OK"}}.dump(-1, ' ', false, kJsonReplace).c_str());
  } else {
    std::printf("%-24s %-5s %-12s %s\n", "#Broker Name", "#QID", "#Send Result", "#OffsetMsgId");
    std::printf("%-24s %-5s %-12s %s\n", broker_name.c_str(), get("queueId").c_str(), "SEND_OK", get("msgId").c_str());
  }
  return 0;
}

int query_msg_by_id(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto id = decode_offset_msg_id(args["i"]);
  if (!id.ok()) return fail("queryMsgById: '" + args["i"] + "' is not an offsetMsgId");
  std::string addr = id->store_host.to_string();
  auto rec_bytes = admin.view_message(addr, id->commit_log_offset);
  if (!rec_bytes.ok()) return fail("queryMsgById: " + rec_bytes.detail());
  auto rec = decode_record(*rec_bytes);
  if (!rec.ok()) return fail("queryMsgById: stored record does not decode");
  json props = json::object();
  for (const auto& [k, v] : decode_properties(rec->properties)) props[std::string(k)] = std::string(v);
  json out{{"offsetMsgId", args["i"]},
           {"topic", std::string(rec->topic)},
           {"queueId", rec->queue_id},
           {"queueOffset", rec->queue_offset},
           {"commitLogOffset", rec->physical_offset},
           {"bornHost", rec->born_host.to_string()},
           {"storeHost", rec->store_host.to_string()},
           {"bornTimestamp", rec->born_timestamp},
           {"storeTimestamp", rec->store_timestamp},
           {"sysFlag", rec->sys_flag},
           {"reconsumeTimes", rec->reconsume_times},
           {"bodyCRC", rec->body_crc},
           {"properties", props},
           {"bodyLength", rec->body.size()}};
  if (json_out) {
    std::printf("%s\n", out.dump(-1, ' ', false, kJsonReplace).c_str());
  } else {
    for (const auto& [k, v] : out.items()) std::printf("%-20s %s\n", (k + ":").c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump(-1, ' ', false, kJsonReplace).c_str());
    if ((rec->sys_flag & sysflag::kCompressed) == 0) std::printf("%-20s %.*s\n", "Message Body:", static_cast<int>(rec->body.size()), rec->body.data());
  }
  return 0;
}

int container_status(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin("");
  auto s = admin.container_status(args["c"]);
  if (!s.ok()) return fail("containerStatus: " + s.detail());
  auto j = json::parse(*s, nullptr, false);
  if (j.is_discarded()) return fail("containerStatus: bad status body");
  if (json_out) {
    std::printf("%s\n", j.dump(-1, ' ', false, kJsonReplace).c_str());
    return 0;
  }
  std::printf("pid %lld, threads %d, RSS %lld KiB, worker pool %d threads, admin port %d\n",
              static_cast<long long>(j["pid"].get<int64_t>()), j["threads"].get<int>(),
              static_cast<long long>(j["rssKb"].get<int64_t>()), j["workerPoolThreads"].get<int>(), j["adminPort"].get<int>());
  std::printf("%-36s %-13s %-9s %-6s %-14s %s\n", "#Broker", "#Role", "#State", "#Port", "#MaxOffset", "#Store");
  for (const auto& b : j["brokers"])
    std::printf("%-36s %-13s %-9s %-6d %-14lld %s\n", b["identity"].get<std::string>().c_str(), b["role"].get<std::string>().c_str(),
                b["state"].get<std::string>().c_str(), b["listenPort"].get<int>(),
                static_cast<long long>(b.value("commitLogMaxOffset", int64_t{0})), b["storePathRootDir"].get<std::string>().c_str());
  return 0;
}

int add_broker(std::map<std::string, std::string>& args, bool) {
  AdminClient admin("");
  auto r = admin.add_broker(args["c"], args["b"]);
  if (!r.ok()) return fail("addBroker: " + r.detail());
  std::printf("add broker to %s success\n", args["c"].c_str());
  return 0;
}

int remove_broker(std::map<std::string, std::string>& args, bool) {
  const std::string& id = args["b"];
  size_t a = id.find(':'), b = id.rfind(':');
  if (a == std::string::npos || a == b) return fail("removeBroker: -b takes clusterName:brokerName:brokerId");
  int64_t broker_id = 0;
  try {
    broker_id = std::stoll(id.substr(b + 1));
  } catch (...) {
    return fail("removeBroker: brokerId must be a number");
  }
  if (broker_id < 0) return fail("removeBroker: brokerId must not be negative");
  AdminClient admin("");
  auto r = admin.remove_broker(args["c"], id.substr(0, a), id.substr(a + 1, b - a - 1), broker_id);
  if (!r.ok()) return fail("removeBroker: " + r.detail());
  std::printf("remove broker from %s success\n", args["c"].c_str());
  return 0;
}

// A DLedger group's member to ask: -b brokerAddr, or the current leader of -g brokerName (the
// NameServer's brokerId 0 of that name).
std::string dledger_target(std::map<std::string, std::string>& args, std::string& error) {
  if (args.count("b")) return args["b"];
  if (!args.count("g")) {
    error = "give -b brokerAddr or -g brokerName (with -n)";
    return {};
  }
  AdminClient admin(namesrv_of(args));
  auto r = admin.master_addr_of_broker(args["g"]);
  if (!r.ok()) error = "no leader of " + args["g"] + " in the NameServer: " + r.detail();
  return r.ok() ? *r : std::string();
}

int dledger_status(std::map<std::string, std::string>& args, bool json_out) {
  std::string error, addr = dledger_target(args, error);
  if (addr.empty()) return fail("dledgerStatus: " + error);
  AdminClient admin("");
  auto s = admin.dledger_group_status(addr);
  if (!s.ok()) return fail("dledgerStatus: " + s.detail());
  auto j = json::parse(*s, nullptr, false);
  if (j.is_discarded()) return fail("dledgerStatus: bad status body");
  if (json_out) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("group %s, asked %s (%s): role %s, term %lld, leader %s, commit %lld, applied %lld, last %lld\n",
              j.value("group", "").c_str(), j.value("selfId", "").c_str(), addr.c_str(), j.value("role", "").c_str(),
              static_cast<long long>(j.value("term", int64_t{0})), j.value("leaderId", "").c_str(),
              static_cast<long long>(j.value("commitIndex", int64_t{0})),
              static_cast<long long>(j.value("appliedIndex", int64_t{0})),
              static_cast<long long>(j.value("lastIndex", int64_t{0})));
  std::printf("%-8s %-24s %-8s %-12s %s\n", "#Member", "#RaftAddr", "#Voter", "#MatchIndex", "#Lag");
  for (const auto& m : j["members"]) {
    std::string match = m.contains("matchIndex") ? std::to_string(m["matchIndex"].get<int64_t>()) : "-";
    std::string lag = m.contains("lag") ? std::to_string(m["lag"].get<int64_t>()) : "-";
    std::printf("%-8s %-24s %-8s %-12s %s\n", m.value("id", "").c_str(), m.value("addr", "").c_str(),
                m.value("voter", false) ? "true" : "false", match.c_str(), lag.c_str());
  }
  return 0;
}

int dledger_transfer(std::map<std::string, std::string>& args, bool) {
  std::string error, addr = dledger_target(args, error);
  if (addr.empty()) return fail("dledgerTransferLeader: " + error);
  AdminClient admin("");
  auto r = admin.dledger_transfer_leadership(addr, args["i"]);
  if (!r.ok()) return fail("dledgerTransferLeader: " + r.detail());
  std::printf("leadership transfer to %s requested at %s\n", args["i"].c_str(), addr.c_str());
  return 0;
}

int dledger_change(const char* name, const char* change, std::map<std::string, std::string>& args) {
  std::string error, addr = dledger_target(args, error);
  if (addr.empty()) return fail(std::string(name) + ": " + error);
  AdminClient admin("");
  auto r = admin.dledger_change_membership(addr, change, args["i"], args.count("a") ? args["a"] : std::string());
  if (!r.ok()) return fail(std::string(name) + ": " + r.detail());
  std::printf("%s %s: proposed at %s\n", name, args["i"].c_str(), addr.c_str());
  return 0;
}

std::vector<Command> commands() {
  std::vector<Command> all = {
      {"clusterList", "List the brokers of every cluster", with_common({}), cluster_list},
      {"topicRoute", "Examine a topic's route info", with_common({{"t", "topic", true, true, "topic name"}}), topic_route},
      {"topicList", "List all topics (or those of one cluster)",
       with_common({{"c", "clusterName", true, false, "only topics of this cluster"}}), topic_list},
      {"getNamesrvConfig", "Print the config of every NameServer", with_common({}), get_namesrv_config},
      {"updateNamesrvConfig", "Change a NameServer setting that is safe to change live",
       with_common({{"k", "key", true, true, "config key"}, {"v", "value", true, true, "config value"}}),
       update_namesrv_config},
      {"wipeWritePerm", "Remove write permission of a broker in every NameServer",
       with_common({{"b", "brokerName", true, true, "broker name"}}), wipe_write_perm},
      {"addWritePerm", "Restore write permission of a broker in every NameServer",
       with_common({{"b", "brokerName", true, true, "broker name"}}), add_write_perm},
      {"updateKvConfig", "Create or update a KV config entry",
       with_common({{"s", "namespace", true, true, "namespace"}, {"k", "key", true, true, "key"},
                    {"v", "value", true, true, "value"}}),
       update_kv_config},
      {"updateTopic", "Create or update a topic on a broker or on every master of a cluster",
       with_common({{"b", "brokerAddr", true, false, "broker address ip:port"},
                    {"c", "clusterName", true, false, "every master of this cluster"},
                    {"t", "topic", true, true, "topic name"},
                    {"r", "readQueueNums", true, false, "read queues (default 8)"},
                    {"w", "writeQueueNums", true, false, "write queues (default 8)"},
                    {"p", "perm", true, false, "permission: 2 write, 4 read, 6 both (default 6)"},
                    {"o", "order", true, false, "true for an ordered topic"}}),
       update_topic},
      {"topicStatus", "Min and max offsets of every queue of a topic",
       with_common({{"t", "topic", true, true, "topic name"}}), topic_status},
      {"brokerStatus", "Runtime statistics of a broker (or of every master of a cluster)",
       with_common({{"b", "brokerAddr", true, false, "broker address ip:port"},
                    {"c", "clusterName", true, false, "every master of this cluster"}}),
       broker_status},
      {"getBrokerConfig", "Print the settings of a broker (or of every master of a cluster)",
       with_common({{"b", "brokerAddr", true, false, "broker address ip:port"},
                    {"c", "clusterName", true, false, "every master of this cluster"}}),
       get_broker_config},
      {"updateBrokerConfig", "Change a setting of a broker (or of every master of a cluster): live when the broker can, else from its next start; it writes the change to its config file",
       with_common({{"b", "brokerAddr", true, false, "broker address ip:port"},
                    {"c", "clusterName", true, false, "every master of this cluster"},
                    {"k", "key", true, true, "config key"}, {"v", "value", true, true, "config value"}}),
       update_broker_config},
      {"updateSubGroup", "Create or update a subscription group",
       with_common({{"b", "brokerAddr", true, false, "broker address ip:port"},
                    {"c", "clusterName", true, false, "every master of this cluster"},
                    {"g", "groupName", true, true, "consumer group"},
                    {"s", "consumeEnable", true, false, "true/false"},
                    {"m", "consumeFromMinEnable", true, false, "true/false"},
                    {"d", "consumeBroadcastEnable", true, false, "true/false"},
                    {"q", "retryQueueNums", true, false, "retry queues"},
                    {"r", "retryMaxTimes", true, false, "max retries"},
                    {"i", "brokerId", true, false, "consume from this broker id"},
                    {"w", "whichBrokerWhenConsumeSlowly", true, false, "broker id when consuming slowly"}}),
       update_sub_group},
      {"deleteTopic", "Delete a topic from every master of a cluster and from the NameServers",
       with_common({{"c", "clusterName", true, true, "cluster name"}, {"t", "topic", true, true, "topic name"}}),
       delete_topic},
      {"deleteSubGroup", "Delete a subscription group from a broker (or every master of a cluster)",
       with_common({{"b", "brokerAddr", true, false, "broker address ip:port"},
                    {"c", "clusterName", true, false, "every master of this cluster"},
                    {"g", "groupName", true, true, "consumer group"},
                    {"r", "removeOffset", true, false, "true: also drop the group's committed offsets"}}),
       delete_sub_group},
      {"consumerConnection", "The online members of a consumer group and their subscriptions",
       with_common({{"g", "consumerGroup", true, true, "consumer group"}}), consumer_connection},
      {"sendMessage", "Send one message",
       with_common({{"t", "topic", true, true, "topic"}, {"p", "body", true, true, "message body"},
                    {"k", "key", true, false, "message keys"}, {"c", "tags", true, false, "message tag"},
                    {"b", "broker", true, false, "broker name"}, {"i", "qid", true, false, "queue id"}}),
       send_message},
      {"queryMsgById", "Show a message by its offsetMsgId",
       with_common({{"i", "msgId", true, true, "offsetMsgId (store host + commit log offset)"}}), query_msg_by_id},
      {"containerStatus", "Threads, memory and brokers of a broker container",
       with_common({{"c", "brokerContainerAddr", true, true, "container address ip:port"}}), container_status},
      {"addBroker", "Start a broker in a running container from a config file on the container's host",
       with_common({{"c", "brokerContainerAddr", true, true, "container address ip:port"},
                    {"b", "brokerConfigPath", true, true, "broker config file path"}}),
       add_broker},
      {"removeBroker", "Stop a broker of a running container",
       with_common({{"c", "brokerContainerAddr", true, true, "container address ip:port"},
                    {"b", "brokerIdentity", true, true, "clusterName:brokerName:brokerId"}}),
       remove_broker},
      {"dledgerStatus", "A DLedger group as one member sees it: role, term, leader, members, match index, lag",
       with_common({{"b", "brokerAddr", true, false, "a member's broker address ip:port"},
                    {"g", "brokerName", true, false, "the group's brokerName (asks its leader)"}}),
       dledger_status},
      {"dledgerTransferLeader", "Hand a DLedger group's leadership to a member",
       with_common({{"b", "brokerAddr", true, false, "the leader's broker address ip:port"},
                    {"g", "brokerName", true, false, "the group's brokerName (asks its leader)"},
                    {"i", "memberId", true, true, "the member to lead, e.g. n1"}}),
       dledger_transfer},
      {"dledgerAddMember", "Add a member to a DLedger group as a learner (it catches up without voting)",
       with_common({{"b", "brokerAddr", true, false, "the leader's broker address ip:port"},
                    {"g", "brokerName", true, false, "the group's brokerName (asks its leader)"},
                    {"i", "memberId", true, true, "the new member's dLegerSelfId, e.g. n3"},
                    {"a", "memberAddr", true, true, "its Raft address host:port (its dLegerPeers entry)"}}),
       [](std::map<std::string, std::string>& a, bool) { return dledger_change("dledgerAddMember", "addLearner", a); }},
      {"dledgerPromoteMember", "Make a caught-up learner of a DLedger group a voter",
       with_common({{"b", "brokerAddr", true, false, "the leader's broker address ip:port"},
                    {"g", "brokerName", true, false, "the group's brokerName (asks its leader)"},
                    {"i", "memberId", true, true, "the learner, e.g. n3"}}),
       [](std::map<std::string, std::string>& a, bool) { return dledger_change("dledgerPromoteMember", "promote", a); }},
      {"dledgerRemoveMember", "Remove a member from a DLedger group",
       with_common({{"b", "brokerAddr", true, false, "the leader's broker address ip:port"},
                    {"g", "brokerName", true, false, "the group's brokerName (asks its leader)"},
                    {"i", "memberId", true, true, "the member to remove, e.g. n2"}}),
       [](std::map<std::string, std::string>& a, bool) { return dledger_change("dledgerRemoveMember", "remove", a); }},
      {"deleteKvConfig", "Delete a KV config entry",
       with_common({{"s", "namespace", true, true, "namespace"}, {"k", "key", true, true, "key"}}), delete_kv_config},
  };
  for (auto* more : {consumer_commands, message_commands, query_commands, controller_commands})
    for (auto& c : more()) all.push_back(std::move(c));
  return all;
}

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: mqadmin <command> [options]\n\nThe commands are:\n");
  for (const auto& c : commands()) std::fprintf(out, "   %-22s %s\n", c.name.c_str(), c.summary.c_str());
  std::fprintf(out, "\nSee 'mqadmin <command> -h' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto all = commands();
  const Command* cmd = nullptr;
  for (const auto& c : all)
    if (c.name == argv[1]) cmd = &c;
  if (cmd == nullptr) {
    std::fprintf(stderr, "mqadmin: unknown command '%s'\n", argv[1]);
    print_usage(stderr);
    return 2;
  }
  std::map<std::string, std::string> args;
  bool json_out = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      json_out = true;
      continue;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& o : cmd->options)
      if (a == "-" + o.short_name || a == "--" + o.long_name) spec = &o;
    if (spec == nullptr) {
      std::fprintf(stderr, "mqadmin %s: unknown option '%s'\n", cmd->name.c_str(), a.c_str());
      print_command_usage(*cmd, stderr);
      return 2;
    }
    if (spec->short_name == "h") {
      print_command_usage(*cmd, stdout);
      return 0;
    }
    if (spec->takes_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mqadmin %s: option '%s' needs a value\n", cmd->name.c_str(), a.c_str());
        return 2;
      }
      args[spec->short_name] = argv[++i];
    } else {
      args[spec->short_name] = "true";
    }
  }
  for (const auto& o : cmd->options) {
    if (o.required && !args.count(o.short_name)) {
      std::fprintf(stderr, "mqadmin %s: missing required option -%s (--%s)\n", cmd->name.c_str(), o.short_name.c_str(),
                   o.long_name.c_str());
      print_command_usage(*cmd, stderr);
      return 2;
    }
  }
  // The controller commands talk to -a (getSyncStateSet -c asks for -n itself).
  static const std::set<std::string> kNoNamesrv = {
      "containerStatus", "addBroker", "removeBroker", "queryMsgById", "getControllerMetaData", "getSyncStateSet",
      "electMaster", "cleanBrokerMetadata", "getControllerConfig", "updateControllerConfig"};
  const bool dledger_by_addr = cmd->name.rfind("dledger", 0) == 0 && args.count("b");
  if (namesrv_of(args).empty() && !kNoNamesrv.count(cmd->name) && !dledger_by_addr) {
    std::fprintf(stderr, "mqadmin %s: no NameServer address: pass -n host:port or set NAMESRV_ADDR\n", cmd->name.c_str());
    return 2;
  }
  return cmd->run(args, json_out);
}
