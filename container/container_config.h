// The container's own configuration (RocketMQ's BrokerContainerConfig keys, properties or TOML),
// and the start-up checks across the broker configs it hosts: no two brokers may share an identity
// (cluster, brokerName, brokerId; for a DLedger broker the node number of dLegerSelfId), a store
// directory, a DLedger directory, or a port (listenPort, its HA port, the fast port, a DLedger
// broker's own dLegerPeers port, or the container's own port); a conflict names the files and the
// settings the port comes from.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/config.h"
#include "broker/broker_config.h"

namespace mq {

struct ContainerConfig {
  std::string config_path;
  int32_t listen_port = 10811;
  std::string bind_address = "0.0.0.0";
  std::string namesrv_addr;
  std::string broker_config_paths;  // ':'-separated
  int32_t worker_pool_threads = 4;   // workerPoolThreads: the shared pool for blocking disk work
  std::string log_dir;               // logDir: empty = stderr
  bool continue_on_broker_start_failure = false;  // -e

  ContainerConfig();
  Result<std::vector<std::string>, ConfigError> load(const ConfigFile& file);
  std::vector<std::string> broker_paths() const;
  std::string to_properties() const;
};

// Loads one broker config file and applies the container's overrides (namesrvAddr).
Result<BrokerConfig, std::string> load_broker_config(const std::string& path, const ContainerConfig& container,
                                                     std::vector<std::string>& warnings);

// Checks `candidate` against brokers already accepted (and the container's port). Returns an error
// naming both files, or empty.
std::string check_broker_conflicts(const BrokerConfig& candidate, const std::vector<const BrokerConfig*>& existing,
                                   const ContainerConfig& container);

}  // namespace mq
