// One broker's configuration: RocketMQ's BrokerConfig and MessageStoreConfig keys, read from an
// ordinary broker properties (or TOML) file. Keys the container owns (namesrvAddr and the network
// settings) are overridden by the container, as RocketMQ's BrokerContainer does.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "store/message_store.h"

namespace mq {

enum class BrokerRole { kAsyncMaster, kSyncMaster, kSlave };
const char* broker_role_name(BrokerRole r);

struct BrokerConfig {
  std::string config_path;  // the file it came from (for messages and ADD_BROKER)

  std::string broker_cluster_name = "DefaultCluster";
  std::string broker_name;  // default: the host name, as RocketMQ
  int64_t broker_id = 0;
  BrokerRole broker_role = BrokerRole::kAsyncMaster;
  std::string broker_ip1;  // default: the first non-loopback IPv4 address
  std::string broker_ip2;  // HA address host; default broker_ip1
  int32_t listen_port = 10911;
  int32_t ha_listen_port = 0;  // 0 = listenPort + 1 (RocketMQ's implicit default)
  // The fast ("VIP") port: every request code but PULL_MESSAGE. RocketMQ always binds
  // listenPort - 2; 0 means that, -1 none (our key: for hosts where that port is taken).
  int32_t fast_listen_port = 0;
  // Replication (broker/ha_service.h), RocketMQ's keys and defaults.
  std::string ha_master_address;  // a slave's fixed master HA address; empty = from the NameServer
  int32_t ha_transfer_batch_size = 32 * 1024;
  int64_t ha_send_heartbeat_interval_ms = 5000;
  int64_t ha_housekeeping_interval_ms = 20'000;
  int64_t ha_max_gap_not_in_sync_bytes = 256LL * 1024 * 1024;
  // Slaves copy topics, offsets and groups from their master this often (RocketMQ: fixed 10 s).
  int64_t slave_sync_interval_ms = 10'000;
  // A pull whose data lies further behind the CommitLog end than this percentage of the machine's
  // memory is told to read from the slave next (suggestWhichBrokerId), when slaveReadEnable.
  int32_t access_message_in_memory_max_ratio = 40;
  std::string namesrv_addr;
  int32_t broker_permission = 6;
  bool auto_create_topic_enable = true;
  bool auto_create_subscription_group = true;
  int32_t default_topic_queue_nums = 8;
  int64_t register_name_server_period_ms = 30'000;
  bool long_polling_enable = true;
  int64_t short_polling_time_ms = 1000;
  bool notify_consumer_ids_changed_enable = true;
  int64_t channel_expired_timeout_ms = 120'000;
  bool slave_read_enable = false;
  std::string region_id = "DefaultRegion";
  bool trace_topic_enable = false;
  bool compressed_register = false;
  int64_t max_frame_bytes = 16 * 1024 * 1024;
  int32_t max_transfer_bytes_on_message_in_memory = 256 * 1024;
  int32_t max_transfer_count_on_message_in_memory = 32;

  store::MessageStoreConfig store;  // storePathRootDir, flushDiskType, mappedFileSizeCommitLog, ...

  BrokerConfig();
  // Binds every key of `file`; returns the unknown keys as warnings, or an error naming file,
  // line and key.
  Result<std::vector<std::string>, ConfigError> load(const ConfigFile& file);
  int32_t effective_ha_listen_port() const { return ha_listen_port > 0 ? ha_listen_port : listen_port + 1; }
  // -1 when the broker has no fast port.
  int32_t effective_fast_listen_port() const {
    return fast_listen_port > 0 ? fast_listen_port : fast_listen_port == 0 ? listen_port - 2 : -1;
  }
  // Every port the broker binds: listenPort, its HA port, and the fast port when it has one.
  std::vector<int32_t> bound_ports() const;
  std::string broker_addr() const { return broker_ip1 + ":" + std::to_string(listen_port); }
  std::string ha_server_addr() const { return broker_ip2 + ":" + std::to_string(effective_ha_listen_port()); }
  // "cluster/brokerName/brokerId", used in messages and log prefixes.
  std::string identity() const;
  // key=value text (GET_BROKER_CONFIG).
  std::string to_properties() const;
  // UPDATE_BROKER_CONFIG: applies keys safe to change while running; refuses others by name.
  std::string update_live(const std::vector<std::pair<std::string, std::string>>& pairs);

 private:
  void bind_all(ConfigBinder& b, std::string& role, std::string& flush);
};

// The first non-loopback IPv4 address of this host, or 127.0.0.1.
std::string local_ipv4_address();

}  // namespace mq
