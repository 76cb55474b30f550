// mqadmin: RocketMQ's admin commands, with RocketMQ's command names and flags. Output is for
// people by default; --json prints one JSON document for scripts.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/config.h"
#include "client/admin_client.h"
#include "codec/codes.h"

using namespace mq;
using nlohmann::json;

namespace {

struct OptionSpec {
  std::string short_name;  // e.g. "t"
  std::string long_name;   // e.g. "topic"
  bool takes_value;
  bool required;
  std::string help;
};

struct Command {
  std::string name;
  std::string summary;
  std::vector<OptionSpec> options;
  std::function<int(std::map<std::string, std::string>&, bool json_out)> run;
};

std::vector<OptionSpec> with_common(std::vector<OptionSpec> opts) {
  opts.push_back({"n", "namesrvAddr", true, false, "NameServer addresses, ';' separated (default: $NAMESRV_ADDR)"});
  opts.push_back({"h", "help", false, false, "print this help"});
  return opts;
}

void print_command_usage(const Command& c, std::FILE* out) {
  std::fprintf(out, "usage: mqadmin %s [options] [--json]\n  %s\n", c.name.c_str(), c.summary.c_str());
  for (const auto& o : c.options)
    std::fprintf(out, "  -%s, --%-22s %s%s\n", o.short_name.c_str(),
                 (o.long_name + (o.takes_value ? " <value>" : "")).c_str(), o.help.c_str(),
                 o.required ? " (required)" : "");
  std::fprintf(out, "      --%-22s %s\n", "json", "print JSON for scripts");
}

int fail(const std::string& what) {
  std::fprintf(stderr, "mqadmin: %s\n", what.c_str());
  return 1;
}

std::string namesrv_of(std::map<std::string, std::string>& args) {
  if (args.count("n")) return args["n"];
  const char* env = std::getenv("NAMESRV_ADDR");
  return env ? env : "";
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
    std::printf("%s\n", out.dump().c_str());
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
  std::printf("%s\n", json_out ? route->to_json().dump().c_str() : route->to_json().dump(2).c_str());
  return 0;
}

int topic_list(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto topics = args.count("c") ? admin.get_topics_by_cluster(args["c"]) : admin.get_all_topics();
  if (!topics.ok()) return fail("topicList: " + topics.detail());
  if (json_out) {
    std::printf("%s\n", json{{"topicList", *topics}}.dump().c_str());
    return 0;
  }
  for (const auto& t : *topics) std::printf("%s\n", t.c_str());
  return 0;
}

int get_namesrv_config(std::map<std::string, std::string>& args, bool json_out) {
  AdminClient admin(namesrv_of(args));
  auto configs = admin.get_namesrv_config();
  if (!configs.ok()) return fail("getNamesrvConfig: " + configs.detail());
  json out = json::object();
  for (const auto& [addr, text] : *configs) {
    json kv = json::object();
    for (const auto& [k, v] : parse_properties_text(text)) kv[k] = v;
    out[addr] = kv;
  }
  if (json_out) {
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  for (const auto& [addr, kv] : out.items()) {
    std::printf("============%s============\n", addr.c_str());
    for (const auto& [k, v] : kv.items()) std::printf("%-40s=  %s\n", k.c_str(), v.get<std::string>().c_str());
  }
  return 0;
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
    std::printf("%s\n", json{{"wipeTopicCount", *r}}.dump().c_str());
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
    std::printf("%s\n", json{{"addTopicCount", *r}}.dump().c_str());
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

std::vector<Command> commands() {
  return {
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
      {"deleteKvConfig", "Delete a KV config entry",
       with_common({{"s", "namespace", true, true, "namespace"}, {"k", "key", true, true, "key"}}), delete_kv_config},
  };
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
  if (namesrv_of(args).empty()) {
    std::fprintf(stderr, "mqadmin %s: no NameServer address: pass -n host:port or set NAMESRV_ADDR\n", cmd->name.c_str());
    return 2;
  }
  return cmd->run(args, json_out);
}
