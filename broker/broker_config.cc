#include "broker/broker_config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

namespace mq {

const char* broker_role_name(BrokerRole r) {
  switch (r) {
    case BrokerRole::kAsyncMaster: return "ASYNC_MASTER";
    case BrokerRole::kSyncMaster: return "SYNC_MASTER";
    case BrokerRole::kSlave: return "SLAVE";
  }
  return "?";
}

std::string local_ipv4_address() {
  ifaddrs* list = nullptr;
  std::string out = "127.0.0.1";
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* a = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if ((ntohl(a->sin_addr.s_addr) >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    out = buf;
    break;
  }
  freeifaddrs(list);
  return out;
}

BrokerConfig::BrokerConfig() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) broker_name = host;
  const char* home = std::getenv("HOME");
  store.store_path_root_dir = std::string(home ? home : ".") + "/store";
  if (const char* ns = std::getenv("NAMESRV_ADDR")) namesrv_addr = ns;
}

void BrokerConfig::bind_all(ConfigBinder& b, std::string& role, std::string& flush) {
  b.bind("brokerClusterName", broker_cluster_name);
  b.bind("brokerName", broker_name);
  b.bind("brokerId", broker_id);
  b.bind_enum("brokerRole", role, {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE"});
  b.bind("brokerIP1", broker_ip1);
  b.bind("brokerIP2", broker_ip2);
  b.bind("listenPort", listen_port);
  b.bind("haListenPort", ha_listen_port);
  b.bind("fastListenPort", fast_listen_port);
  b.bind("haMasterAddress", ha_master_address);
  b.bind("haTransferBatchSize", ha_transfer_batch_size);
  b.bind("haSendHeartbeatInterval", ha_send_heartbeat_interval_ms);
  b.bind("haHousekeepingInterval", ha_housekeeping_interval_ms);
  b.bind("haMaxGapNotInSync", ha_max_gap_not_in_sync_bytes);
  b.bind("slaveSyncInterval", slave_sync_interval_ms);
  b.bind("accessMessageInMemoryMaxRatio", access_message_in_memory_max_ratio);
  b.bind("namesrvAddr", namesrv_addr);
  b.bind("brokerPermission", broker_permission);
  b.bind("autoCreateTopicEnable", auto_create_topic_enable);
  b.bind("autoCreateSubscriptionGroup", auto_create_subscription_group);
  b.bind("defaultTopicQueueNums", default_topic_queue_nums);
  b.bind("registerNameServerPeriod", register_name_server_period_ms);
  b.bind("longPollingEnable", long_polling_enable);
  b.bind("shortPollingTimeMills", short_polling_time_ms);
  b.bind("notifyConsumerIdsChangedEnable", notify_consumer_ids_changed_enable);
  b.bind("channelExpiredTimeout", channel_expired_timeout_ms);
  b.bind("slaveReadEnable", slave_read_enable);
  b.bind("regionId", region_id);
  b.bind("traceTopicEnable", trace_topic_enable);
  b.bind("compressedRegister", compressed_register);
  b.bind("frameMaxLength", max_frame_bytes);
  b.bind("maxTransferBytesOnMessageInMemory", max_transfer_bytes_on_message_in_memory);
  b.bind("maxTransferCountOnMessageInMemory", max_transfer_count_on_message_in_memory);
  // MessageStoreConfig
  b.bind("storePathRootDir", store.store_path_root_dir);
  b.bind_enum("flushDiskType", flush, {"ASYNC_FLUSH", "SYNC_FLUSH"});
  b.bind("mappedFileSizeCommitLog", store.mapped_file_size_commit_log);
  b.bind("mapedFileSizeCommitLog", store.mapped_file_size_commit_log);  // RocketMQ's older spelling
  b.bind("mappedFileSizeConsumeQueue", store.mapped_file_size_consume_queue);
  b.bind("flushIntervalCommitLog", store.flush_interval_commit_log_ms);
  b.bind("syncFlushTimeout", store.sync_flush_timeout_ms);
  b.bind("maxMessageSize", store.max_message_size);
  b.bind("checkCRCOnRecover", store.check_crc_on_recover);
  b.bind("fileReservedTime", store.file_reserved_time_hours);
  b.bind("deleteWhen", store.delete_when);
  b.bind("diskMaxUsedSpaceRatio", store.disk_max_used_space_ratio);
  b.bind("messageDelayLevel", store.message_delay_level);
}

Result<std::vector<std::string>, ConfigError> BrokerConfig::load(const ConfigFile& file) {
  config_path = file.path;
  std::string role = broker_role_name(broker_role);
  std::string flush = store.flush_disk_type == store::FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
  ConfigBinder b(file);
  bind_all(b, role, flush);
  auto r = b.finish();
  if (!r.ok()) return r.error();
  broker_role = role == "SLAVE" ? BrokerRole::kSlave : role == "SYNC_MASTER" ? BrokerRole::kSyncMaster : BrokerRole::kAsyncMaster;
  store.flush_disk_type = flush == "SYNC_FLUSH" ? store::FlushDiskType::kSyncFlush : store::FlushDiskType::kAsyncFlush;
  auto where = [&file](const std::string& key) {
    const ConfigEntry* e = file.find(key);
    return file.path + ":" + std::to_string(e ? e->line : 0) + ": key '" + key + "'";
  };
  if (broker_name.empty()) return make_error(ConfigError::kValue, where("brokerName") + ": must not be empty");
  if (listen_port <= 0 || listen_port > 65535)
    return make_error(ConfigError::kValue, where("listenPort") + ": must be in [1, 65535]");
  if (ha_listen_port < 0 || ha_listen_port > 65535)
    return make_error(ConfigError::kValue, where("haListenPort") + ": must be in [0, 65535]");
  if (fast_listen_port < -1 || fast_listen_port > 65535)
    return make_error(ConfigError::kValue, where("fastListenPort") + ": must be -1 (none), 0 (listenPort - 2) or a port");
  if (fast_listen_port == 0 && listen_port <= 2)
    return make_error(ConfigError::kValue, where("listenPort") + ": leaves no room for the fast port listenPort - 2 (set fastListenPort)");
  if (broker_role != BrokerRole::kSlave && broker_id != 0)
    return make_error(ConfigError::kValue, where("brokerId") + ": a master's brokerId must be 0");
  if (broker_role == BrokerRole::kSlave && broker_id <= 0)
    return make_error(ConfigError::kValue, where("brokerId") + ": slave broker id must be > 0");
  if (ha_transfer_batch_size < 1024 || ha_transfer_batch_size > (4 << 20))
    return make_error(ConfigError::kValue, where("haTransferBatchSize") + ": must be in [1024, 4194304]");
  if (ha_send_heartbeat_interval_ms < 10 || ha_housekeeping_interval_ms <= ha_send_heartbeat_interval_ms)
    return make_error(ConfigError::kValue, where("haHousekeepingInterval") +
                                               ": must exceed haSendHeartbeatInterval (both in ms, >= 10)");
  if (slave_sync_interval_ms < 100)
    return make_error(ConfigError::kValue, where("slaveSyncInterval") + ": must be at least 100 ms");
  if (access_message_in_memory_max_ratio < 0 || access_message_in_memory_max_ratio > 100)
    return make_error(ConfigError::kValue, where("accessMessageInMemoryMaxRatio") + ": must be in [0, 100]");
  if (store.mapped_file_size_commit_log < 4096)
    return make_error(ConfigError::kValue, where("mappedFileSizeCommitLog") + ": must be at least 4096");
  if (store.store_path_root_dir.empty())
    return make_error(ConfigError::kValue, where("storePathRootDir") + ": must not be empty");
  if (default_topic_queue_nums <= 0 || default_topic_queue_nums > 1024)
    return make_error(ConfigError::kValue, where("defaultTopicQueueNums") + ": must be in [1, 1024]");
  if (broker_ip1.empty()) broker_ip1 = local_ipv4_address();
  if (broker_ip2.empty()) broker_ip2 = broker_ip1;
  return b.unknown_keys();
}

std::string BrokerConfig::identity() const {
  return broker_cluster_name + "/" + broker_name + "/" + std::to_string(broker_id);
}

std::string BrokerConfig::to_properties() const {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  std::string o;
  auto kv = [&o](const std::string& k, const std::string& v) { o += k + "=" + v + "\n"; };
  kv("autoCreateSubscriptionGroup", b(auto_create_subscription_group));
  kv("autoCreateTopicEnable", b(auto_create_topic_enable));
  kv("brokerClusterName", broker_cluster_name);
  kv("brokerIP1", broker_ip1);
  kv("brokerIP2", broker_ip2);
  kv("brokerId", std::to_string(broker_id));
  kv("brokerName", broker_name);
  kv("brokerPermission", std::to_string(broker_permission));
  kv("brokerRole", broker_role_name(broker_role));
  kv("defaultTopicQueueNums", std::to_string(default_topic_queue_nums));
  kv("deleteWhen", store.delete_when);
  kv("diskMaxUsedSpaceRatio", std::to_string(store.disk_max_used_space_ratio));
  kv("fileReservedTime", std::to_string(store.file_reserved_time_hours));
  kv("flushDiskType", store.flush_disk_type == store::FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH");
  kv("flushIntervalCommitLog", std::to_string(store.flush_interval_commit_log_ms));
  kv("haListenPort", std::to_string(effective_ha_listen_port()));
  kv("fastListenPort", std::to_string(effective_fast_listen_port()));
  kv("haMasterAddress", ha_master_address);
  kv("haMaxGapNotInSync", std::to_string(ha_max_gap_not_in_sync_bytes));
  kv("haTransferBatchSize", std::to_string(ha_transfer_batch_size));
  kv("accessMessageInMemoryMaxRatio", std::to_string(access_message_in_memory_max_ratio));
  kv("listenPort", std::to_string(listen_port));
  kv("longPollingEnable", b(long_polling_enable));
  kv("mappedFileSizeCommitLog", std::to_string(store.mapped_file_size_commit_log));
  kv("mappedFileSizeConsumeQueue", std::to_string(store.mapped_file_size_consume_queue));
  kv("maxMessageSize", std::to_string(store.max_message_size));
  kv("namesrvAddr", namesrv_addr);
  kv("notifyConsumerIdsChangedEnable", b(notify_consumer_ids_changed_enable));
  kv("registerNameServerPeriod", std::to_string(register_name_server_period_ms));
  kv("slaveReadEnable", b(slave_read_enable));
  kv("storePathRootDir", store.store_path_root_dir);
  kv("syncFlushTimeout", std::to_string(store.sync_flush_timeout_ms));
  return o;
}

std::string BrokerConfig::update_live(const std::vector<std::pair<std::string, std::string>>& pairs) {
  static const std::set<std::string> kLive = {
      "autoCreateTopicEnable", "autoCreateSubscriptionGroup", "brokerPermission", "defaultTopicQueueNums",
      "longPollingEnable", "shortPollingTimeMills", "notifyConsumerIdsChangedEnable", "slaveReadEnable",
      "fileReservedTime", "deleteWhen", "diskMaxUsedSpaceRatio", "maxMessageSize",
      "maxTransferBytesOnMessageInMemory", "maxTransferCountOnMessageInMemory", "accessMessageInMemoryMaxRatio"};
  ConfigFile f;
  f.path = "<UPDATE_BROKER_CONFIG>";
  int line = 0;
  for (const auto& [k, v] : pairs) {
    if (!kLive.count(k)) return "key '" + k + "' cannot be changed while the broker runs";
    f.entries.push_back({k, v, ++line});
  }
  BrokerConfig copy = *this;
  std::string role = broker_role_name(broker_role);
  std::string flush = store.flush_disk_type == store::FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
  ConfigBinder b(f);
  copy.bind_all(b, role, flush);
  auto r = b.finish();
  if (!r.ok()) return r.detail();
  if (copy.default_topic_queue_nums <= 0 || copy.default_topic_queue_nums > 1024)
    return "defaultTopicQueueNums must be in [1, 1024]";
  *this = copy;
  return {};
}

std::vector<int32_t> BrokerConfig::bound_ports() const {
  std::vector<int32_t> ports = {listen_port, effective_ha_listen_port()};
  if (effective_fast_listen_port() > 0) ports.push_back(effective_fast_listen_port());
  return ports;
}

}  // namespace mq
