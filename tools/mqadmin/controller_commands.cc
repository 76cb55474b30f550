// mqadmin's controller-mode commands, with RocketMQ 5.x's names, flags and text output
// (tools/.../command/controller/*, ha/GetSyncStateSetSubCommand, broker/GetBrokerEpochSubCommand):
//   getControllerMetaData   -a addr                          1005 to that node
//   getSyncStateSet         -a addr (-b brokerName | -c cluster) [-i s]   1006 to the leader
//   getBrokerEpoch          (-b brokerName | -c cluster) [-i s]          1007 to every replica
//   electMaster             -a addr -c cluster -bn brokerName -b brokerId 1002 to the leader
//   cleanBrokerMetadata     -a addr -bn brokerName [-b "1;2"] [-c cluster] [-l]  1011 to the leader
//   getControllerConfig     -a "addr;addr"                   1010 to each
//   updateControllerConfig  -a "addr;addr" -k key -v value   1009 to each
// Note the Java flags: electMaster and cleanBrokerMetadata take the broker NAME as -bn and -b is
// the controller-assigned id (list). The leader is found by the AdminClient (1005 first), as
// RocketMQ's client does. Java's tools iterate HashMaps; we print broker-sets, addresses and config
// keys sorted so the output is stable.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/fastjson.h"
#include "tools/mqadmin/mqadmin.h"

namespace mq::mqadmin {

namespace {

using nlohmann::json;

// CommandUtil.ERROR_MESSAGE, what RocketMQ says when a cluster name is unknown.
constexpr const char* kNoSuchCluster =
    "Make sure the specified clusterName exists or the name server connected to is correct.";

void print_json(const json& j) { std::printf("%s\n", j.dump(-1, ' ', false, kJsonReplace).c_str()); }

// Java's "%s" of a field that may be null.
std::string or_null(const std::optional<std::string>& v) { return v ? *v : "null"; }
template <typename T>
std::string or_null(const std::optional<T>& v) {
  return v ? std::to_string(*v) : "null";
}
template <typename T>
json json_or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Java's String.split(";"): empty pieces kept, trailing empty ones dropped.
std::vector<std::string> split_java(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// -i: seconds between rounds (3 when given empty, as the Java tools); nothing without -i.
std::optional<int> interval_of(Args& args, bool& bad) {
  bad = false;
  if (!args.count("i")) return std::nullopt;
  std::string v = trim(args["i"]);
  if (v.empty()) return 3;
  try {
    size_t used = 0;
    int s = std::stoi(v, &used);
    if (used == v.size() && s >= 0) return s;
  } catch (...) {
  }
  bad = true;
  return std::nullopt;
}

// Runs `once` once, or every -i seconds until it fails (the Java tools loop until killed).
int repeat(const char* name, Args& args, const std::function<int()>& once) {
  bool bad = false;
  auto interval = interval_of(args, bad);
  if (bad) return fail(std::string(name) + ": -i takes a number of seconds");
  for (;;) {
    int rc = once();
    if (rc != 0 || !interval) return rc;
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(*interval));
  }
}

int get_controller_metadata(Args& args, bool json_out) {
  AdminClient admin("");
  auto meta = admin.get_controller_metadata(trim(args["a"]));
  if (!meta.ok()) return fail("getControllerMetaData: " + meta.detail());
  auto peers = split_java(meta->peers, ';');
  if (json_out) {
    print_json({{"group", json_or_null(meta->group)},
                {"controllerLeaderId", json_or_null(meta->leader_id)},
                {"controllerLeaderAddress", json_or_null(meta->leader_addr)},
                {"isLeader", meta->is_leader},
                {"peers", peers}});
    return 0;
  }
  std::printf("\n#ControllerGroup\t%s", or_null(meta->group).c_str());
  std::printf("\n#ControllerLeaderId\t%s", or_null(meta->leader_id).c_str());
  std::printf("\n#ControllerLeaderAddress\t%s", or_null(meta->leader_addr).c_str());
  for (const auto& p : peers) std::printf("\n#Peer:\t%s", p.c_str());
  std::printf("\n");
  return 0;
}

json replica_json(const SyncStateReplica& r) {
  return {{"brokerName", r.broker_name}, {"brokerId", r.broker_id}, {"brokerAddress", r.broker_address}, {"alive", r.alive}};
}

// BrokerReplicasInfo.ReplicaIdentity.toString().
std::string replica_text(const SyncStateReplica& r) {
  return "ReplicaIdentity{brokerName='" + r.broker_name + "', brokerId=" + std::to_string(r.broker_id) +
         ", brokerAddress='" + r.broker_address + "', alive=" + (r.alive ? "true" : "false") + "}";
}

int get_sync_state_set(Args& args, bool json_out) {
  std::vector<std::string> names;
  if (args.count("b")) {
    names.push_back(trim(args["b"]));  // one name, as the Java tool takes it
  } else if (args.count("c")) {
    if (namesrv_of(args).empty()) return fail("getSyncStateSet: -c needs a NameServer: pass -n host:port or set NAMESRV_ADDR");
    AdminClient ns(namesrv_of(args));
    auto info = ns.get_cluster_info();
    if (!info.ok()) return fail("getSyncStateSet: " + info.detail());
    auto c = info->cluster_addr_table.find(trim(args["c"]));
    if (c == info->cluster_addr_table.end() || c->second.empty()) return fail(std::string("getSyncStateSet: ") + kNoSuchCluster);
    names = c->second;
  } else {
    return fail("getSyncStateSet: give -b brokerName or -c clusterName");
  }
  AdminClient admin("");
  return repeat("getSyncStateSet", args, [&] {
    auto table = admin.get_sync_state_data(trim(args["a"]), names);
    if (!table.ok()) return fail("getSyncStateSet: " + table.detail());
    if (json_out) {
      json out = json::object();
      for (const auto& [name, info] : *table) {
        json in = json::array(), not_in = json::array();
        for (const auto& r : info.in_sync_replicas) in.push_back(replica_json(r));
        for (const auto& r : info.not_in_sync_replicas) not_in.push_back(replica_json(r));
        out[name] = {{"masterBrokerId", json_or_null(info.master_broker_id)},
                     {"masterAddress", json_or_null(info.master_address)},
                     {"masterEpoch", info.master_epoch},
                     {"syncStateSetEpoch", info.sync_state_set_epoch},
                     {"inSyncReplicas", in},
                     {"notInSyncReplicas", not_in}};
      }
      print_json({{"replicasInfoTable", out}});
      return 0;
    }
    for (const auto& [name, info] : *table) {
      std::printf("\n#brokerName\t%s\n#MasterBrokerId\t%s\n#MasterAddr\t%s\n#MasterEpoch\t%d\n#SyncStateSetEpoch\t%d\n"
                  "#SyncStateSetNums\t%zu\n",
                  name.c_str(), or_null(info.master_broker_id).c_str(), or_null(info.master_address).c_str(),
                  info.master_epoch, info.sync_state_set_epoch, info.in_sync_replicas.size());
      for (const auto& r : info.in_sync_replicas) std::printf("\nInSyncReplica:\t%s\n", replica_text(r).c_str());
      for (const auto& r : info.not_in_sync_replicas) std::printf("\nNotInSyncReplica:\t%s\n", replica_text(r).c_str());
    }
    return 0;
  });
}

int get_broker_epoch(Args& args, bool json_out) {
  if (!args.count("b") && !args.count("c")) return fail("getBrokerEpoch: give -b brokerName or -c clusterName");
  AdminClient admin(namesrv_of(args));
  return repeat("getBrokerEpoch", args, [&] {
    // Every replica's address (master and slaves), as CommandUtil.fetchMasterAndSlaveAddrBy*.
    auto info = admin.get_cluster_info();
    if (!info.ok()) return fail("getBrokerEpoch: " + info.detail());
    std::vector<std::string> names;
    if (args.count("b")) {
      names.push_back(trim(args["b"]));
      if (!info->broker_addr_table.count(names[0]))
        return fail("getBrokerEpoch: broker " + names[0] + " is not registered in the NameServer");
    } else {
      auto c = info->cluster_addr_table.find(trim(args["c"]));
      if (c == info->cluster_addr_table.end()) return fail(std::string("getBrokerEpoch: ") + kNoSuchCluster);
      names = c->second;
    }
    std::set<std::string> addrs;
    for (const auto& name : names)
      if (auto b = info->broker_addr_table.find(name); b != info->broker_addr_table.end())
        for (const auto& [id, addr] : b->second.broker_addrs) addrs.insert(addr);
    json out = json::array();
    for (const auto& addr : addrs) {
      auto cache = admin.get_broker_epoch_cache(addr);
      if (!cache.ok()) return fail("getBrokerEpoch: " + cache.detail());
      if (json_out) {
        json list = json::array();
        for (const auto& e : cache->epoch_list)
          list.push_back({{"epoch", e.epoch}, {"startOffset", e.start_offset}, {"endOffset", e.end_offset}});
        out.push_back({{"brokerAddr", addr},
                       {"clusterName", cache->cluster_name},
                       {"brokerName", cache->broker_name},
                       {"brokerId", cache->broker_id},
                       {"epochList", list},
                       {"maxOffset", cache->max_offset}});
        continue;
      }
      std::printf("\n#clusterName\t%s\n#brokerName\t%s\n#brokerAddr\t%s\n#brokerId\t%lld", cache->cluster_name.c_str(),
                  cache->broker_name.c_str(), addr.c_str(), static_cast<long long>(cache->broker_id));
      for (size_t i = 0; i < cache->epoch_list.size(); ++i) {
        const auto& e = cache->epoch_list[i];
        // The last epoch is still open (Long.MAX_VALUE): shown as ending at the broker's max offset.
        int64_t end = i + 1 == cache->epoch_list.size() ? cache->max_offset : e.end_offset;
        std::printf("\n#Epoch: EpochEntry{epoch=%d, startOffset=%lld, endOffset=%lld}", e.epoch,
                    static_cast<long long>(e.start_offset), static_cast<long long>(end));
      }
      std::printf("\n");
    }
    if (json_out) print_json(out);
    return 0;
  });
}

int elect_master(Args& args, bool json_out) {
  int64_t broker_id = 0;
  try {
    size_t used = 0;
    std::string v = trim(args["b"]);
    broker_id = std::stoll(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
  } catch (...) {
    return fail("electMaster: -b takes the broker's controller id (a number), got '" + args["b"] + "'");
  }
  const std::string cluster = trim(args["c"]), name = trim(args["bn"]);
  AdminClient admin("");
  auto r = admin.elect_master(trim(args["a"]), cluster, name, broker_id);
  if (!r.ok()) return fail("electMaster: " + r.detail());
  if (json_out) {
    json members = json::object();
    for (const auto& [id, addr] : r->broker_addrs) members[std::to_string(id)] = addr;
    print_json({{"clusterName", cluster},
                {"brokerName", name},
                {"masterBrokerId", json_or_null(r->master_broker_id)},
                {"masterAddress", json_or_null(r->master_address)},
                {"masterEpoch", json_or_null(r->master_epoch)},
                {"syncStateSetEpoch", json_or_null(r->sync_state_set_epoch)},
                {"brokerAddrs", members},
                {"syncStateSet", r->sync_state_set}});
    return 0;
  }
  std::printf("\n#ClusterName\t%s", cluster.c_str());
  std::printf("\n#BrokerName\t%s", name.c_str());
  std::printf("\n#BrokerMasterAddr\t%s", or_null(r->master_address).c_str());
  std::printf("\n#MasterEpoch\t%s", or_null(r->master_epoch).c_str());
  std::printf("\n#SyncStateSetEpoch\t%s\n", or_null(r->sync_state_set_epoch).c_str());
  for (const auto& [id, addr] : r->broker_addrs) std::printf("\t#Broker\t%lld\t%s\n", static_cast<long long>(id), addr.c_str());
  return 0;
}

int clean_broker_metadata(Args& args, bool) {
  const std::string name = trim(args["bn"]);
  const std::string cluster = args.count("c") ? trim(args["c"]) : std::string();
  const std::string ids = args.count("b") ? trim(args["b"]) : std::string();
  // The controller would refuse a malformed list (2009); saying so here names the bad piece.
  if (args.count("b")) {
    for (const auto& id : split_java(ids, ';')) {
      try {
        size_t used = 0;
        std::stoll(id, &used);
        if (used != id.size()) throw std::invalid_argument(id);
      } catch (...) {
        return fail("cleanBrokerMetadata: -b takes controller ids separated by ';' (e.g. 1;2;3), got '" + ids + "'");
      }
    }
  }
  const bool clean_living = args.count("l") > 0;
  if (!clean_living && cluster.empty())
    return fail("cleanBrokerMetadata: cleanLivingBroker option is false, clusterName option can not be empty.");
  AdminClient admin("");
  auto r = admin.clean_broker_metadata(trim(args["a"]), cluster, name, ids, clean_living);
  if (!r.ok()) return fail("cleanBrokerMetadata: " + r.detail());
  std::printf("clear broker %s metadata from controller success! \n", name.c_str());
  return 0;
}

int get_controller_config(Args& args, bool json_out) {
  AdminClient admin("");
  auto configs = admin.get_controller_config(trim(args["a"]));
  if (!configs.ok()) return fail("getControllerConfig: " + configs.detail());
  json out = json::object();  // sorted keys, like getNamesrvConfig
  for (const auto& [addr, pairs] : *configs) {
    json kv = json::object();
    for (const auto& [k, v] : pairs) kv[k] = v;
    out[addr] = kv;
  }
  if (json_out) {
    print_json(out);
    return 0;
  }
  for (const auto& [addr, kv] : out.items()) {
    std::printf("============%s============\n", addr.c_str());
    for (const auto& [k, v] : kv.items()) std::printf("%-50s=  %s\n", k.c_str(), v.get<std::string>().c_str());
  }
  return 0;
}

int update_controller_config(Args& args, bool) {
  const std::string key = trim(args["k"]), value = trim(args["v"]);
  if (key.empty()) return fail("updateControllerConfig: -k is empty");
  AdminClient admin("");
  auto r = admin.update_controller_config(trim(args["a"]), key + "=" + value + "\n");
  if (!r.ok()) return fail("updateControllerConfig: " + r.detail());
  // Java prints the address list with List.toString().
  std::string list;
  for (const auto& a : split_java(trim(args["a"]), ';')) list += (list.empty() ? "" : ", ") + a;
  std::printf("update controller config success![%s]\n%s : %s\n", list.c_str(), key.c_str(), value.c_str());
  return 0;
}

}  // namespace

std::vector<Command> controller_commands() {
  return {
      {"getControllerMetaData", "Get controller cluster's metadata (group, leader, peers)",
       with_common({{"a", "controllerAddress", true, true, "the address of controller"}}), get_controller_metadata},
      {"getSyncStateSet", "Fetch syncStateSet for target brokers (asks the controller leader)",
       with_common({{"a", "controllerAddress", true, true, "the address of controller"},
                    {"c", "clusterName", true, false, "every broker-set of this cluster (from the NameServer, -n)"},
                    {"b", "brokerName", true, false, "which broker-set to fetch"},
                    {"i", "interval", true, false, "repeat every this many seconds"}}),
       get_sync_state_set},
      {"getBrokerEpoch", "Fetch broker epoch entries from every replica of a broker-set or cluster",
       with_common({{"c", "clusterName", true, false, "which cluster"},
                    {"b", "brokerName", true, false, "which broker-set to fetch"},
                    {"i", "interval", true, false, "repeat every this many seconds"}}),
       get_broker_epoch},
      {"electMaster", "Re-elect the specified broker as master",
       with_common({{"a", "controllerAddress", true, true, "the address of controller"},
                    {"b", "brokerId", true, true, "the controller id of the broker to become master"},
                    {"bn", "brokerName", true, true, "the broker-set's brokerName"},
                    {"c", "clusterName", true, true, "the clusterName of broker"}}),
       elect_master},
      {"cleanBrokerMetadata", "Clean metadata of broker on controller",
       with_common({{"a", "controllerAddress", true, true, "the address of controller"},
                    {"b", "brokerControllerIdsToClean", true, false, "controller ids to clean, e.g. 1;2;3 (default: all)"},
                    {"bn", "brokerName", true, true, "the broker-set's brokerName"},
                    {"c", "clusterName", true, false, "the clusterName of broker (required without -l)"},
                    {"l", "cleanLivingBroker", false, false, "also clean brokers that are alive"}}),
       clean_broker_metadata},
      {"getControllerConfig", "Get controller config",
       with_common({{"a", "controllerAddress", true, true, "controller address list, eg: 192.168.0.1:9878;192.168.0.2:9878"}}),
       get_controller_config},
      {"updateControllerConfig", "Update controller config",
       with_common({{"a", "controllerAddress", true, true, "controller address list, eg: 192.168.0.1:9878;192.168.0.2:9878"},
                    {"k", "key", true, true, "config key"},
                    {"v", "value", true, true, "config value"}}),
       update_controller_config},
  };
}

}  // namespace mq::mqadmin
