#include "namesrv/namesrv_config.h"

#include <cstdlib>
#include <set>

namespace mq {

NamesrvConfig::NamesrvConfig() {
  const char* home = std::getenv("HOME");
  kv_config_path = std::string(home ? home : ".") + "/namesrv/kvConfig.json";
  if (const char* rh = std::getenv("ROCKETMQ_HOME")) rocketmq_home = rh;
}

void NamesrvConfig::bind_all(ConfigBinder& b) {
  b.bind("bindAddress", bind_address);
  b.bind("listenPort", listen_port);
  b.bind("brokerChannelExpiredTime", broker_channel_expired_time_ms);
  b.bind("scanNotActiveBrokerInterval", scan_not_active_broker_interval_ms);
  b.bind("serverChannelMaxIdleTimeSeconds", server_channel_max_idle_time_seconds);
  b.bind("frameMaxLength", max_frame_bytes);
  b.bind("kvConfigPath", kv_config_path);
  b.bind("rocketmqHome", rocketmq_home);
  b.bind("enableAllTopicList", enable_all_topic_list);
  b.bind("orderMessageEnable", order_message_enable);
  b.bind("returnOrderTopicConfigToBroker", return_order_topic_config_to_broker);
  b.bind("logFile", log_file);
  b.bind("enableControllerInNamesrv", enable_controller_in_namesrv);
}

Result<std::vector<std::string>, ConfigError> NamesrvConfig::load(const ConfigFile& file) {
  ConfigBinder b(file);
  bind_all(b);
  auto r = b.finish();
  if (!r.ok()) return r.error();
  auto where = [&file](const std::string& key) {
    const ConfigEntry* e = file.find(key);
    return file.path + ":" + std::to_string(e ? e->line : 0) + ": key '" + key + "'";
  };
  if (listen_port < 0 || listen_port > 65535)
    return make_error(ConfigError::kValue, where("listenPort") + ": must be in [0, 65535]");
  if (max_frame_bytes < 1024 || max_frame_bytes > (1LL << 30))
    return make_error(ConfigError::kValue, where("frameMaxLength") + ": must be in [1024, 1073741824]");
  if (broker_channel_expired_time_ms <= 0)
    return make_error(ConfigError::kValue, where("brokerChannelExpiredTime") + ": must be positive");
  if (scan_not_active_broker_interval_ms <= 0)
    return make_error(ConfigError::kValue, where("scanNotActiveBrokerInterval") + ": must be positive");
  return b.unknown_keys();
}

std::string NamesrvConfig::to_properties() const {
  auto b = [](bool v) { return v ? "true" : "false"; };
  std::string out;
  out += "bindAddress=" + bind_address + "\n";
  out += "brokerChannelExpiredTime=" + std::to_string(broker_channel_expired_time_ms) + "\n";
  out += "enableAllTopicList=" + std::string(b(enable_all_topic_list)) + "\n";
  out += "enableControllerInNamesrv=" + std::string(b(enable_controller_in_namesrv)) + "\n";
  out += "frameMaxLength=" + std::to_string(max_frame_bytes) + "\n";
  out += "kvConfigPath=" + kv_config_path + "\n";
  out += "listenPort=" + std::to_string(listen_port) + "\n";
  out += "logFile=" + log_file + "\n";
  out += "orderMessageEnable=" + std::string(b(order_message_enable)) + "\n";
  out += "returnOrderTopicConfigToBroker=" + std::string(b(return_order_topic_config_to_broker)) + "\n";
  out += "rocketmqHome=" + rocketmq_home + "\n";
  out += "scanNotActiveBrokerInterval=" + std::to_string(scan_not_active_broker_interval_ms) + "\n";
  out += "serverChannelMaxIdleTimeSeconds=" + std::to_string(server_channel_max_idle_time_seconds) + "\n";
  return out;
}

std::string NamesrvConfig::update_live(const std::vector<std::pair<std::string, std::string>>& pairs) {
  static const std::set<std::string> kLive = {"brokerChannelExpiredTime", "enableAllTopicList",
                                              "orderMessageEnable", "returnOrderTopicConfigToBroker"};
  ConfigFile f;
  f.path = "<UPDATE_NAMESRV_CONFIG>";
  int line = 0;
  for (const auto& [k, v] : pairs) {
    if (!kLive.count(k)) return "key '" + k + "' cannot be changed while the NameServer runs";
    f.entries.push_back({k, v, ++line});
  }
  NamesrvConfig copy = *this;
  ConfigBinder b(f);
  copy.bind_all(b);
  auto r = b.finish();
  if (!r.ok()) return r.detail();
  if (copy.broker_channel_expired_time_ms <= 0) return "brokerChannelExpiredTime must be positive";
  *this = copy;
  return {};
}

}  // namespace mq
