// NameServer settings: RocketMQ's NamesrvConfig / NettyServerConfig keys, loaded from a
// properties or TOML file. Defaults are RocketMQ's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"

namespace mq {

struct NamesrvConfig {
  std::string bind_address = "0.0.0.0";      // bindAddress
  int32_t listen_port = 9876;                 // listenPort
  int64_t broker_channel_expired_time_ms = 120'000;  // brokerChannelExpiredTime
  int64_t scan_not_active_broker_interval_ms = 5'000;  // scanNotActiveBrokerInterval
  int64_t server_channel_max_idle_time_seconds = 120;  // serverChannelMaxIdleTimeSeconds
  int64_t max_frame_bytes = 16 * 1024 * 1024;  // frameMaxLength
  std::string kv_config_path;                 // kvConfigPath, default ~/namesrv/kvConfig.json
  std::string rocketmq_home;                  // rocketmqHome
  bool enable_all_topic_list = true;          // enableAllTopicList
  bool order_message_enable = false;          // orderMessageEnable
  bool return_order_topic_config_to_broker = true;  // returnOrderTopicConfigToBroker
  std::string log_file;                       // logFile (empty: stderr)
  // enableControllerInNamesrv: run a controller group member in this process too; its keys
  // (controller/controller_config.h) come from the same file.
  bool enable_controller_in_namesrv = false;

  NamesrvConfig();
  // Binds every key; unknown keys are returned as warnings.
  Result<std::vector<std::string>, ConfigError> load(const ConfigFile& file);
  // key=value lines, as GET_NAMESRV_CONFIG and `mqnamesrv -p` print them.
  std::string to_properties() const;
  // Applies UPDATE_NAMESRV_CONFIG pairs. Only keys safe to change while running are accepted;
  // returns an error text naming the first refused key, or empty.
  std::string update_live(const std::vector<std::pair<std::string, std::string>>& pairs);

 private:
  void bind_all(ConfigBinder& b);
};

}  // namespace mq
