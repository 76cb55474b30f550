#include "controller/controller_config.h"

#include <cstdlib>
#include <set>

namespace mq {

ControllerConfig::ControllerConfig() {
  const char* home = std::getenv("HOME");
  std::string h = home ? home : ".";
  store_path = h + "/DLedgerController";
  config_store_path = h + "/controller/controller.properties";
  if (const char* rh = std::getenv("ROCKETMQ_HOME")) rocketmq_home = rh;
}

void ControllerConfig::bind_all(ConfigBinder& b) {
  b.bind("controllerType", controller_type);
  b.bind("controllerDLegerGroup", dleger_group);
  b.bind("controllerDLegerPeers", dleger_peers);
  b.bind("controllerDLegerSelfId", dleger_self_id);
  b.bind("controllerStorePath", store_path);
  b.bind("mappedFileSize", mapped_file_size_bytes);
  b.bind("scanNotActiveBrokerInterval", scan_not_active_broker_interval_ms);
  b.bind("scanInactiveMasterInterval", scan_inactive_master_interval_ms);
  b.bind("enableElectUncleanMaster", enable_elect_unclean_master);
  b.bind("processReadEvent", process_read_event);
  b.bind("notifyBrokerRoleChanged", notify_broker_role_changed);
  b.bind("electMasterMaxRetryCount", elect_master_max_retry_count);
  b.bind("controllerThreadPoolNums", controller_thread_pool_nums);
  b.bind("controllerRequestThreadPoolQueueCapacity", controller_request_thread_pool_queue_capacity);
  b.bind("configStorePath", config_store_path);
  b.bind("configBlackList", config_black_list);
  b.bind("metricsExporterType", metrics_exporter_type);
  b.bind("rocketmqHome", rocketmq_home);
  b.bind("controllerElectionTimeoutMs", election_timeout_ms);
  b.bind("controllerHeartbeatIntervalMs", heartbeat_interval_ms);
  b.bind("logFile", log_file);
}

Result<std::vector<std::string>, ConfigError> ControllerConfig::load(const ConfigFile& file) {
  ConfigBinder b(file);
  bind_all(b);
  auto r = b.finish();
  if (!r.ok()) return r.error();
  auto where = [&file](const std::string& key) {
    const ConfigEntry* e = file.find(key);
    return file.path + ":" + std::to_string(e ? e->line : 0) + ": key '" + key + "'";
  };
  auto fail = [](std::string why) { return make_error(ConfigError::kValue, std::move(why)); };
  if (controller_type != "DLedger")
    return fail(where("controllerType") + ": '" + controller_type +
                "' is not served here (only DLedger; the controllers' own Raft is the project's)");
  if (dleger_group.empty()) return fail(where("controllerDLegerGroup") + ": must be set");
  if (dleger_peers.empty()) return fail(where("controllerDLegerPeers") + ": must be set (n0-host:port;...)");
  auto peers = parse_dledger_peers(dleger_peers);
  if (!peers.ok()) return fail(where("controllerDLegerPeers") + ": " + peers.detail());
  peer_list = *peers;
  if (dleger_self_id.empty()) return fail(where("controllerDLegerSelfId") + ": must be set");
  if (self() == nullptr)
    return fail(where("controllerDLegerSelfId") + ": '" + dleger_self_id + "' is not among the controllerDLegerPeers ids");
  if (store_path.empty()) return fail(where("controllerStorePath") + ": must not be empty");
  if (mapped_file_size_bytes < (int64_t{1} << 20) || mapped_file_size_bytes > (int64_t{1} << 32))
    return fail(where("mappedFileSize") + ": must be in [1 MiB, 4 GiB]");
  if (scan_not_active_broker_interval_ms <= 0) return fail(where("scanNotActiveBrokerInterval") + ": must be positive");
  if (scan_inactive_master_interval_ms <= 0) return fail(where("scanInactiveMasterInterval") + ": must be positive");
  if (elect_master_max_retry_count < 0) return fail(where("electMasterMaxRetryCount") + ": must not be negative");
  if (heartbeat_interval_ms <= 0) return fail(where("controllerHeartbeatIntervalMs") + ": must be positive");
  if (election_timeout_ms < 2 * heartbeat_interval_ms)
    return fail(where("controllerElectionTimeoutMs") + ": must be at least twice controllerHeartbeatIntervalMs");
  return b.unknown_keys();
}

const BrokerConfig::DLedgerPeer* ControllerConfig::self() const {
  for (const auto& p : peer_list)
    if (p.id == dleger_self_id) return &p;
  return nullptr;
}

std::string ControllerConfig::to_properties() const {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  std::string out;
  out += "configBlackList=" + config_black_list + "\n";
  out += "configStorePath=" + config_store_path + "\n";
  out += "controllerDLegerGroup=" + dleger_group + "\n";
  out += "controllerDLegerPeers=" + dleger_peers + "\n";
  out += "controllerDLegerSelfId=" + dleger_self_id + "\n";
  out += "controllerElectionTimeoutMs=" + std::to_string(election_timeout_ms) + "\n";
  out += "controllerHeartbeatIntervalMs=" + std::to_string(heartbeat_interval_ms) + "\n";
  out += "controllerRequestThreadPoolQueueCapacity=" + std::to_string(controller_request_thread_pool_queue_capacity) + "\n";
  out += "controllerStorePath=" + store_path + "\n";
  out += "controllerThreadPoolNums=" + std::to_string(controller_thread_pool_nums) + "\n";
  out += "controllerType=" + controller_type + "\n";
  out += "electMasterMaxRetryCount=" + std::to_string(elect_master_max_retry_count) + "\n";
  out += "enableElectUncleanMaster=" + b(enable_elect_unclean_master) + "\n";
  out += "logFile=" + log_file + "\n";
  out += "mappedFileSize=" + std::to_string(mapped_file_size_bytes) + "\n";
  out += "metricsExporterType=" + metrics_exporter_type + "\n";
  out += "notifyBrokerRoleChanged=" + b(notify_broker_role_changed) + "\n";
  out += "processReadEvent=" + b(process_read_event) + "\n";
  out += "rocketmqHome=" + rocketmq_home + "\n";
  out += "scanInactiveMasterInterval=" + std::to_string(scan_inactive_master_interval_ms) + "\n";
  out += "scanNotActiveBrokerInterval=" + std::to_string(scan_not_active_broker_interval_ms) + "\n";
  return out;
}

std::string ControllerConfig::update_live(const std::vector<std::pair<std::string, std::string>>& pairs,
                                          bool& black_listed) {
  black_listed = false;
  static const std::set<std::string> kLive = {"enableElectUncleanMaster", "notifyBrokerRoleChanged",
                                              "electMasterMaxRetryCount", "processReadEvent",
                                              "scanNotActiveBrokerInterval", "scanInactiveMasterInterval"};
  std::set<std::string> black;
  for (size_t start = 0; start <= config_black_list.size();) {
    size_t end = config_black_list.find(';', start);
    if (end == std::string::npos) end = config_black_list.size();
    if (end > start) black.insert(config_black_list.substr(start, end - start));
    start = end + 1;
  }
  black.insert("rocketmqHome");
  ConfigFile f;
  f.path = "<UPDATE_CONTROLLER_CONFIG>";
  int line = 0;
  for (const auto& [k, v] : pairs) {
    if (black.count(k)) {
      black_listed = true;
      return "key '" + k + "' is in configBlackList and cannot be changed";
    }
    if (!kLive.count(k)) return "key '" + k + "' cannot be changed while the controller runs";
    f.entries.push_back({k, v, ++line});
  }
  ControllerConfig copy = *this;
  ConfigBinder b(f);
  copy.bind_all(b);
  auto r = b.finish();
  if (!r.ok()) return r.detail();
  if (copy.scan_not_active_broker_interval_ms <= 0 || copy.scan_inactive_master_interval_ms <= 0)
    return "scan intervals must be positive";
  if (copy.elect_master_max_retry_count < 0) return "electMasterMaxRetryCount must not be negative";
  *this = copy;
  return {};
}

}  // namespace mq
