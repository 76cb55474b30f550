// Controller settings: RocketMQ 5.x's ControllerConfig keys (DLedger-type controller), loaded from
// the `mqcontroller -c` file or, with enableControllerInNamesrv=true, from the NameServer's file.
// Defaults are RocketMQ's, except the Raft timings of the controller group (ours: RocketMQ's
// DLedger controller uses DLedger's defaults, whose election takes seconds).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "broker/broker_config.h"

namespace mq {

struct ControllerConfig {
  std::string controller_type = "DLedger";  // controllerType (only DLedger is served)
  std::string dleger_group;                 // controllerDLegerGroup
  std::string dleger_peers;                 // controllerDLegerPeers: n0-host:port;n1-host:port;...
  std::string dleger_self_id;               // controllerDLegerSelfId
  std::string store_path;                   // controllerStorePath, default ~/DLedgerController
  int64_t mapped_file_size_bytes = int64_t{1} << 30;     // mappedFileSize
  // Ours: 250 / 1000 ms (RocketMQ: 5000 / 5000). The scans are in-memory loops; with the brokers'
  // short heartbeat timeout they bound how long a frozen master goes unnoticed.
  int64_t scan_not_active_broker_interval_ms = 250;       // scanNotActiveBrokerInterval
  int64_t scan_inactive_master_interval_ms = 1000;        // scanInactiveMasterInterval
  bool enable_elect_unclean_master = false;               // enableElectUncleanMaster
  bool process_read_event = false;                        // processReadEvent
  bool notify_broker_role_changed = true;                 // notifyBrokerRoleChanged
  int32_t elect_master_max_retry_count = 3;               // electMasterMaxRetryCount
  int32_t controller_thread_pool_nums = 16;               // controllerThreadPoolNums (accepted, unused)
  int32_t controller_request_thread_pool_queue_capacity = 50000;  // (accepted, unused)
  std::string config_store_path;            // configStorePath, default ~/controller/controller.properties
  std::string config_black_list = "configBlackList;configStorePath";  // configBlackList
  std::string metrics_exporter_type = "DISABLE";  // metricsExporterType (accepted, unused)
  std::string rocketmq_home;                // rocketmqHome
  // Ours: the controller group's Raft timings.
  int64_t election_timeout_ms = 300;        // controllerElectionTimeoutMs
  int64_t heartbeat_interval_ms = 100;      // controllerHeartbeatIntervalMs
  std::string log_file;                     // logFile (standalone; empty: stderr)

  std::vector<BrokerConfig::DLedgerPeer> peer_list;  // parsed from dleger_peers by load()

  ControllerConfig();
  // Binds every key and checks them; unknown keys are returned (as warnings).
  Result<std::vector<std::string>, ConfigError> load(const ConfigFile& file);
  // key=value lines, as GET_CONTROLLER_CONFIG and `mqcontroller -p` print them.
  std::string to_properties() const;
  // UPDATE_CONTROLLER_CONFIG: returns an error text naming the first refused key, or empty.
  // Black-listed keys (and rocketmqHome) are refused as RocketMQ refuses them (NO_PERMISSION,
  // `black_listed` set); keys that only take effect at start-up are refused with a reason.
  std::string update_live(const std::vector<std::pair<std::string, std::string>>& pairs, bool& black_listed);
  const BrokerConfig::DLedgerPeer* self() const;

 private:
  void bind_all(ConfigBinder& b);
};

}  // namespace mq
