#include "broker/broker_config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
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

namespace {
// A directory path compared by its text: normalized, without a trailing '/'.
std::string normal_dir(const std::string& p) {
  std::string n = std::filesystem::path(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}
}  // namespace

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
  b.bind("transactionTimeOut", transaction_timeout_ms);
  b.bind("transactionCheckInterval", transaction_check_interval_ms);
  b.bind("transactionCheckMax", transaction_check_max);
  b.bind("rejectTransactionMessage", reject_transaction_message);
  b.bind("messageIndexEnable", message_index_enable);
  b.bind("maxHashSlotNum", max_hash_slot_num);
  b.bind("maxIndexNum", max_index_num);
  b.bind("compressedRegister", compressed_register);
  b.bind("frameMaxLength", max_frame_bytes);
  b.bind("maxTransferBytesOnMessageInMemory", max_transfer_bytes_on_message_in_memory);
  b.bind("maxTransferCountOnMessageInMemory", max_transfer_count_on_message_in_memory);
  b.bind("sendMessageThreadPoolNums", send_message_thread_pool_nums);
  // DLedger (MessageStoreConfig's keys, and our timing keys)
  b.bind("enableDLegerCommitLog", enable_dledger_commit_log);
  b.bind("dLegerGroup", dledger_group);
  b.bind("dLegerPeers", dledger_peers);
  b.bind("dLegerSelfId", dledger_self_id);
  b.bind("preferredLeaderId", preferred_leader_id);
  b.bind("storePathDLedgerCommitLog", store_path_dledger_commit_log);
  b.bind("enableBatchPush", enable_batch_push);
  b.bind("dLegerTickMs", dledger_tick_ms);
  b.bind("dLegerHeartbeatIntervalMs", dledger_heartbeat_interval_ms);
  b.bind("dLegerElectionTimeoutMs", dledger_election_timeout_ms);
  b.bind("dLegerMaxWaitAckTimeMs", dledger_max_wait_ack_ms);
  b.bind("dLegerCheckpointIntervalMs", dledger_checkpoint_interval_ms);
  b.bind("dLegerFaultInjectionEnable", dledger_fault_injection_enable);
  b.bind("dLegerJoinGroup", dledger_join_group);
  // Controller mode (BrokerConfig's and MessageStoreConfig's keys)
  b.bind("enableControllerMode", enable_controller_mode);
  b.bind("controllerAddr", controller_addr);
  b.bind("fetchControllerAddrByDnsLookup", fetch_controller_addr_by_dns_lookup);
  b.bind("syncBrokerMetadataPeriod", sync_broker_metadata_period_ms);
  b.bind("checkSyncStateSetPeriod", check_sync_state_set_period_ms);
  b.bind("syncControllerMetadataPeriod", sync_controller_metadata_period_ms);
  b.bind("controllerHeartBeatTimeoutMills", controller_heartbeat_timeout_ms);
  b.bind("brokerHeartbeatInterval", broker_heartbeat_interval_ms);
  b.bind("sendHeartbeatTimeoutMillis", send_heartbeat_timeout_ms);
  b.bind("brokerElectionPriority", broker_election_priority);
  b.bind("storePathEpochFile", store_path_epoch_file);
  b.bind("storePathBrokerIdentity", store_path_broker_identity);
  b.bind("haMaxTimeSlaveNotCatchup", ha_max_time_slave_not_catchup_ms);
  b.bind("allAckInSyncStateSet", all_ack_in_sync_state_set);
  b.bind("inSyncReplicas", in_sync_replicas);
  b.bind("minInSyncReplicas", min_in_sync_replicas);
  b.bind("syncFromLastFile", sync_from_last_file);
  b.bind("asyncLearner", async_learner);
  b.bind("slaveTimeout", slave_timeout_ms);
  // MessageStoreConfig
  b.bind("storePathRootDir", store.store_path_root_dir);
  b.bind("storePathCommitLog", store_path_commit_log);
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
  b.bind("cleanFileForciblyEnable", store.clean_file_forcibly_enable);
  b.bind("messageDelayLevel", store.message_delay_level);
}

Result<Unit, ConfigError> BrokerConfig::bind_over(const ConfigFile& file, std::vector<std::string>* unknown) {
  std::string role = broker_role_name(broker_role);
  std::string flush = store.flush_disk_type == store::FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
  ConfigBinder b(file);
  bind_all(b, role, flush);
  if (unknown != nullptr) *unknown = b.unknown_keys();
  auto r = b.finish();
  if (!r.ok()) return r.error();
  broker_role = role == "SLAVE" ? BrokerRole::kSlave : role == "SYNC_MASTER" ? BrokerRole::kSyncMaster : BrokerRole::kAsyncMaster;
  store.flush_disk_type = flush == "SYNC_FLUSH" ? store::FlushDiskType::kSyncFlush : store::FlushDiskType::kAsyncFlush;
  return Unit{};
}

Result<Unit, ConfigError> BrokerConfig::check_values(const std::function<std::string(const std::string&)>& where,
                                                     bool for_update) const {
  auto fail = [&where](const std::string& key, const std::string& why) {
    return make_error(ConfigError::kValue, where(key) + ": " + why);
  };
  if (broker_name.empty()) return fail("brokerName", "must not be empty");
  if (listen_port <= 0 || listen_port > 65535) return fail("listenPort", "must be in [1, 65535]");
  if (ha_listen_port < 0 || ha_listen_port > 65535) return fail("haListenPort", "must be in [0, 65535]");
  if (fast_listen_port < -1 || fast_listen_port > 65535)
    return fail("fastListenPort", "must be -1 (none), 0 (listenPort - 2) or a port");
  if (fast_listen_port == 0 && listen_port <= 2)
    return fail("listenPort", "leaves no room for the fast port listenPort - 2 (set fastListenPort)");
  if (!is_dledger() && !is_controller_mode() && broker_role != BrokerRole::kSlave && broker_id != 0)
    return fail("brokerId", "a master's brokerId must be 0");
  if (!is_dledger() && !is_controller_mode() && broker_role == BrokerRole::kSlave && broker_id <= 0)
    return fail("brokerId", "slave broker id must be > 0");
  if (is_controller_mode()) {
    if (is_dledger())
      return fail("enableControllerMode", "cannot be combined with enableDLegerCommitLog (RocketMQ refuses it too)");
    if (controller_addr.empty()) return fail("controllerAddr", "must be set when enableControllerMode=true");
    if (broker_heartbeat_interval_ms <= 0 || controller_heartbeat_timeout_ms <= broker_heartbeat_interval_ms)
      return fail("controllerHeartBeatTimeoutMills", "must exceed brokerHeartbeatInterval (both positive, in ms)");
    if (sync_broker_metadata_period_ms <= 0 || sync_controller_metadata_period_ms <= 0 ||
        check_sync_state_set_period_ms <= 0)
      return fail("syncBrokerMetadataPeriod", "the controller-mode periods must be positive");
    if (in_sync_replicas < 1 || min_in_sync_replicas < 1)
      return fail("inSyncReplicas", "inSyncReplicas and minInSyncReplicas must be at least 1");
    if (ha_max_time_slave_not_catchup_ms <= 0) return fail("haMaxTimeSlaveNotCatchup", "must be positive");
  }
  if (ha_transfer_batch_size < 1024 || ha_transfer_batch_size > (4 << 20))
    return fail("haTransferBatchSize", "must be in [1024, 4194304]");
  if (ha_send_heartbeat_interval_ms < 10 || ha_housekeeping_interval_ms <= ha_send_heartbeat_interval_ms)
    return fail("haHousekeepingInterval", "must exceed haSendHeartbeatInterval (both in ms, >= 10)");
  if (slave_sync_interval_ms < 100) return fail("slaveSyncInterval", "must be at least 100 ms");
  if (access_message_in_memory_max_ratio < 0 || access_message_in_memory_max_ratio > 100)
    return fail("accessMessageInMemoryMaxRatio", "must be in [0, 100]");
  if (store.mapped_file_size_commit_log < 4096) return fail("mappedFileSizeCommitLog", "must be at least 4096");
  if (store.store_path_root_dir.empty()) return fail("storePathRootDir", "must not be empty");
  if (!store_path_commit_log.empty() &&
      normal_dir(store_path_commit_log) != normal_dir(store.store_path_root_dir + "/commitlog"))
    return fail("storePathCommitLog",
                "only storePathRootDir/commitlog is supported (" + store.store_path_root_dir + "/commitlog)");
  if (default_topic_queue_nums <= 0 || default_topic_queue_nums > 1024)
    return fail("defaultTopicQueueNums", "must be in [1, 1024]");
  if (!for_update) return Unit{};
  // A request's values get stricter checks than a file's (which RocketMQ's broker loads and clamps
  // or fails on later, and which existing deployments rely on): out of range in a request is a
  // typo, not a choice (a zero interval would spin a timer, a zero transfer limit starve consumers).
  if (broker_permission < 0 || broker_permission > 15) return fail("brokerPermission", "must be in [0, 15]");
  if (register_name_server_period_ms < 1000 || register_name_server_period_ms > 60'000)
    return fail("registerNameServerPeriod", "must be in [1000, 60000] ms");
  if (store.flush_interval_commit_log_ms < 10 || store.flush_interval_commit_log_ms > 60'000)
    return fail("flushIntervalCommitLog", "must be in [10, 60000] ms");
  if (store.sync_flush_timeout_ms < 1) return fail("syncFlushTimeout", "must be at least 1 ms");
  if (short_polling_time_ms < 0) return fail("shortPollingTimeMills", "must not be negative");
  if (channel_expired_timeout_ms < 1000) return fail("channelExpiredTimeout", "must be at least 1000 ms");
  if (max_transfer_bytes_on_message_in_memory < 1)
    return fail("maxTransferBytesOnMessageInMemory", "must be at least 1");
  if (max_transfer_count_on_message_in_memory < 1)
    return fail("maxTransferCountOnMessageInMemory", "must be at least 1");
  if (store.max_message_size < 1) return fail("maxMessageSize", "must be at least 1");
  if (store.file_reserved_time_hours < 0) return fail("fileReservedTime", "must not be negative");
  if (store.disk_max_used_space_ratio < 10 || store.disk_max_used_space_ratio > 95)
    return fail("diskMaxUsedSpaceRatio", "must be in [10, 95]");
  std::string why;
  if (!store::parse_message_delay_level(store.message_delay_level, &why)) return fail("messageDelayLevel", why);
  if (transaction_timeout_ms < 0) return fail("transactionTimeOut", "must not be negative");
  if (transaction_check_interval_ms < 100) return fail("transactionCheckInterval", "must be at least 100 ms");
  if (transaction_check_max < 0) return fail("transactionCheckMax", "must not be negative");
  if (max_hash_slot_num < 1 || max_hash_slot_num > 100'000'000) return fail("maxHashSlotNum", "must be in [1, 100000000]");
  if (max_index_num < 1 || max_index_num > 100'000'000) return fail("maxIndexNum", "must be in [1, 100000000]");
  return Unit{};
}

Result<std::vector<std::string>, ConfigError> BrokerConfig::load(const ConfigFile& file) {
  config_path = file.path;
  std::vector<std::string> warnings;
  if (auto r = bind_over(file, &warnings); !r.ok()) return r.error();
  auto where = [&file](const std::string& key) {
    const ConfigEntry* e = file.find(key);
    return file.path + ":" + std::to_string(e ? e->line : 0) + ": key '" + key + "'";
  };
  if (file.find("sendMessageThreadPoolNums") != nullptr && send_message_thread_pool_nums < 1)
    return make_error(ConfigError::kValue, where("sendMessageThreadPoolNums") + ": must be at least 1");
  if (auto r = check_values(where, false); !r.ok()) return r.error();
  if (broker_ip1.empty()) broker_ip1 = local_ipv4_address();
  if (broker_ip2.empty()) broker_ip2 = broker_ip1;
  if (is_dledger()) {
    auto d = check_dledger(file);
    if (!d.ok()) return d.error();
    // RocketMQ ignores both in DLedger mode; say so rather than drop them silently.
    for (const char* key : {"brokerId", "brokerRole"})
      if (const ConfigEntry* e = file.find(key))
        warnings.push_back(file.path + ":" + std::to_string(e->line) + ": key '" + key +
                           "' ignored: a DLedger broker's id is the node number of dLegerSelfId (" + dledger_self_id +
                           " -> " + std::to_string(dledger_self_node) + ") and its role follows the elections");
    broker_id = dledger_self_node;
    // Until it wins an election a node is a candidate, which RocketMQ treats as a SLAVE (no
    // writes); the broker changes role (and the brokerId it registers) at run time.
    broker_role = BrokerRole::kSlave;
  }
  return warnings;
}

Result<Unit, ConfigError> BrokerConfig::check_dledger(const ConfigFile& file) {
  // `key` at its line; when the file lacks it, the line of `fallback` (the key that made it matter).
  auto where = [&file](const std::string& key, const std::string& fallback = "enableDLegerCommitLog") {
    const ConfigEntry* e = file.find(key);
    if (e == nullptr) e = file.find(fallback);
    return file.path + ":" + std::to_string(e ? e->line : 0) + ": key '" + key + "'";
  };
  auto fail = [](std::string what) { return make_error(ConfigError::kValue, std::move(what)); };
  if (dledger_group.empty()) dledger_group = broker_name;
  if (dledger_peers.empty()) return fail(where("dLegerPeers") + ": must be set when enableDLegerCommitLog=true");
  auto peers = parse_dledger_peers(dledger_peers);
  if (!peers.ok()) return fail(where("dLegerPeers") + ": " + peers.detail());
  dledger_peer_list = std::move(*peers);
  auto find = [this](const std::string& id) -> const DLedgerPeer* {
    for (const auto& p : dledger_peer_list)
      if (p.id == id) return &p;
    return nullptr;
  };
  if (dledger_self_id.empty()) return fail(where("dLegerSelfId") + ": must be set when enableDLegerCommitLog=true");
  if (!parse_dledger_node(dledger_self_id))
    return fail(where("dLegerSelfId") + ": '" + dledger_self_id + "' is not an id (letters then digits, e.g. n0)");
  const DLedgerPeer* self = find(dledger_self_id);
  if (self == nullptr)
    return fail(where("dLegerSelfId") + ": '" + dledger_self_id + "' is not among the dLegerPeers ids");
  dledger_self_node = self->node;
  dledger_preferred_node = kNoDLedgerNode;
  if (!preferred_leader_id.empty()) {
    if (preferred_leader_id.find(';') != std::string::npos)
      return fail(where("preferredLeaderId") + ": one peer id expected, got '" + preferred_leader_id + "'");
    const DLedgerPeer* preferred = find(preferred_leader_id);
    if (preferred == nullptr)
      return fail(where("preferredLeaderId") + ": '" + preferred_leader_id + "' is not among the dLegerPeers ids");
    dledger_preferred_node = preferred->node;
  }
  if (file.find("storePathDLedgerCommitLog") != nullptr && store_path_dledger_commit_log.empty())
    return fail(where("storePathDLedgerCommitLog") + ": must not be empty (leave it out for the default)");
  // Timing. A rule between two keys names the one the file sets (the first when it sets both).
  auto blame = [&file, &where](const std::string& a, const std::string& b) {
    return where(file.find(a) == nullptr && file.find(b) != nullptr ? b : a);
  };
  constexpr int64_t kMaxMs = 3'600'000;
  const std::pair<const char*, int64_t> timings[] = {
      {"dLegerTickMs", dledger_tick_ms},
      {"dLegerHeartbeatIntervalMs", dledger_heartbeat_interval_ms},
      {"dLegerElectionTimeoutMs", dledger_election_timeout_ms},
      {"dLegerMaxWaitAckTimeMs", dledger_max_wait_ack_ms},
      {"dLegerCheckpointIntervalMs", dledger_checkpoint_interval_ms}};
  for (const auto& [key, v] : timings)
    if (v < 1 || v > kMaxMs) return fail(where(key) + ": must be in [1, 3600000] ms, got " + std::to_string(v));
  auto ms = [](int64_t v) { return " (" + std::to_string(v) + " ms)"; };
  if (dledger_heartbeat_interval_ms < dledger_tick_ms)
    return fail(blame("dLegerHeartbeatIntervalMs", "dLegerTickMs") + ": dLegerHeartbeatIntervalMs" +
                ms(dledger_heartbeat_interval_ms) + " must be at least dLegerTickMs" + ms(dledger_tick_ms));
  if (dledger_election_timeout_ms < 2 * dledger_heartbeat_interval_ms)
    return fail(blame("dLegerElectionTimeoutMs", "dLegerHeartbeatIntervalMs") + ": dLegerElectionTimeoutMs" +
                ms(dledger_election_timeout_ms) + " must be at least twice dLegerHeartbeatIntervalMs" +
                ms(dledger_heartbeat_interval_ms) + ", or one late heartbeat starts an election");
  if (dledger_max_wait_ack_ms < dledger_tick_ms)
    return fail(blame("dLegerMaxWaitAckTimeMs", "dLegerTickMs") + ": dLegerMaxWaitAckTimeMs" +
                ms(dledger_max_wait_ack_ms) + " must be at least dLegerTickMs" + ms(dledger_tick_ms));
  if (dledger_checkpoint_interval_ms < dledger_tick_ms)
    return fail(blame("dLegerCheckpointIntervalMs", "dLegerTickMs") + ": dLegerCheckpointIntervalMs" +
                ms(dledger_checkpoint_interval_ms) + " must be at least dLegerTickMs" + ms(dledger_tick_ms));
  return Unit{};
}

std::string BrokerConfig::dledger_dir() const {
  if (!store_path_dledger_commit_log.empty()) return store_path_dledger_commit_log;
  return store.store_path_root_dir + "/dledger-" + dledger_self_id;
}

const BrokerConfig::DLedgerPeer* BrokerConfig::dledger_self() const {
  if (!is_dledger()) return nullptr;
  for (const auto& p : dledger_peer_list)
    if (p.id == dledger_self_id) return &p;
  return nullptr;
}

std::optional<uint32_t> parse_dledger_node(const std::string& id) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  size_t letters = 0;
  while (letters < id.size() && letter(id[letters])) ++letters;
  size_t digits = id.size() - letters;
  if (letters == 0 || digits == 0 || digits > 9) return std::nullopt;
  uint32_t n = 0;
  for (size_t i = letters; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(id[i] - '0');
  }
  return n;
}

Result<std::vector<BrokerConfig::DLedgerPeer>, std::string> parse_dledger_peers(const std::string& text) {
  auto fail = [](std::string why) { return make_error(std::string(), std::move(why)); };
  auto trim = [](std::string s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return std::string();
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
  };
  std::vector<std::string> entries;
  size_t start = 0;
  while (true) {
    size_t end = text.find(';', start);
    entries.push_back(trim(text.substr(start, end == std::string::npos ? std::string::npos : end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (entries.size() > 1 && entries.back().empty()) entries.pop_back();  // "a;b;" as Java's split
  std::vector<BrokerConfig::DLedgerPeer> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& e = entries[i];
    std::string which = "entry " + std::to_string(i + 1) + " '" + e + "'";
    if (e.empty()) return fail(which + " is empty (expected <id>-<host>:<port>, ';'-separated)");
    size_t dash = e.find('-');
    if (dash == std::string::npos) return fail(which + " is not <id>-<host>:<port>");
    BrokerConfig::DLedgerPeer p;
    p.id = e.substr(0, dash);
    auto node = parse_dledger_node(p.id);
    if (!node) return fail(which + ": id '" + p.id + "' is not letters then digits (e.g. n0)");
    p.node = *node;
    std::string addr = e.substr(dash + 1);
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos || colon == 0) return fail(which + ": address '" + addr + "' is not <host>:<port>");
    p.host = addr.substr(0, colon);
    std::string port = addr.substr(colon + 1);
    int64_t v = 0;
    bool digits = !port.empty() && port.size() <= 5;
    for (char c : port) {
      if (c < '0' || c > '9') digits = false;
      else if (digits) v = v * 10 + (c - '0');  // at most 5 digits: no overflow
    }
    if (!digits || v < 1 || v > 65535) return fail(which + ": port '" + port + "' is not in [1, 65535]");
    p.port = static_cast<int32_t>(v);
    for (const auto& q : out) {
      if (q.id == p.id) return fail(which + ": id '" + p.id + "' is given twice");
      if (q.node == p.node)
        return fail(which + ": ids '" + q.id + "' and '" + p.id + "' have the same node number " +
                    std::to_string(p.node));
      if (q.addr() == p.addr()) return fail(which + ": address " + p.addr() + " is also " + q.id + "'s");
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string BrokerConfig::identity() const {
  return broker_cluster_name + "/" + broker_name + "/" + std::to_string(container_broker_id());
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
  kv("cleanFileForciblyEnable", b(store.clean_file_forcibly_enable));
  kv("dLegerCheckpointIntervalMs", std::to_string(dledger_checkpoint_interval_ms));
  kv("dLegerElectionTimeoutMs", std::to_string(dledger_election_timeout_ms));
  kv("dLegerFaultInjectionEnable", b(dledger_fault_injection_enable));
  kv("dLegerJoinGroup", b(dledger_join_group));
  kv("dLegerGroup", dledger_group);
  kv("dLegerHeartbeatIntervalMs", std::to_string(dledger_heartbeat_interval_ms));
  kv("dLegerMaxWaitAckTimeMs", std::to_string(dledger_max_wait_ack_ms));
  kv("dLegerPeers", dledger_peers);
  kv("dLegerSelfId", dledger_self_id);
  kv("dLegerTickMs", std::to_string(dledger_tick_ms));
  kv("defaultTopicQueueNums", std::to_string(default_topic_queue_nums));
  kv("deleteWhen", store.delete_when);
  kv("diskMaxUsedSpaceRatio", std::to_string(store.disk_max_used_space_ratio));
  kv("fileReservedTime", std::to_string(store.file_reserved_time_hours));
  kv("enableBatchPush", b(enable_batch_push));
  kv("enableDLegerCommitLog", b(enable_dledger_commit_log));
  kv("enableControllerMode", b(enable_controller_mode));
  if (enable_controller_mode) {
    kv("allAckInSyncStateSet", b(all_ack_in_sync_state_set));
    kv("asyncLearner", b(async_learner));
    kv("brokerElectionPriority", std::to_string(broker_election_priority));
    kv("brokerHeartbeatInterval", std::to_string(broker_heartbeat_interval_ms));
    kv("checkSyncStateSetPeriod", std::to_string(check_sync_state_set_period_ms));
    kv("controllerAddr", controller_addr);
    kv("controllerHeartBeatTimeoutMills", std::to_string(controller_heartbeat_timeout_ms));
    kv("fetchControllerAddrByDnsLookup", b(fetch_controller_addr_by_dns_lookup));
    kv("haMaxTimeSlaveNotCatchup", std::to_string(ha_max_time_slave_not_catchup_ms));
    kv("inSyncReplicas", std::to_string(in_sync_replicas));
    kv("minInSyncReplicas", std::to_string(min_in_sync_replicas));
    kv("sendHeartbeatTimeoutMillis", std::to_string(send_heartbeat_timeout_ms));
    kv("storePathBrokerIdentity", broker_identity_path());
    kv("storePathEpochFile", epoch_file_path());
    kv("syncBrokerMetadataPeriod", std::to_string(sync_broker_metadata_period_ms));
    kv("syncControllerMetadataPeriod", std::to_string(sync_controller_metadata_period_ms));
    kv("syncFromLastFile", b(sync_from_last_file));
    kv("slaveTimeout", std::to_string(slave_timeout_ms));
  }
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
  kv("preferredLeaderId", preferred_leader_id);
  kv("registerNameServerPeriod", std::to_string(register_name_server_period_ms));
  if (send_message_thread_pool_nums > 0) kv("sendMessageThreadPoolNums", std::to_string(send_message_thread_pool_nums));
  kv("slaveReadEnable", b(slave_read_enable));
  kv("storePathCommitLog", store.store_path_root_dir + "/commitlog");
  kv("storePathDLedgerCommitLog", is_dledger() ? dledger_dir() : store_path_dledger_commit_log);
  kv("storePathRootDir", store.store_path_root_dir);
  kv("syncFlushTimeout", std::to_string(store.sync_flush_timeout_ms));
  kv("haSendHeartbeatInterval", std::to_string(ha_send_heartbeat_interval_ms));
  kv("haHousekeepingInterval", std::to_string(ha_housekeeping_interval_ms));
  kv("slaveSyncInterval", std::to_string(slave_sync_interval_ms));
  kv("shortPollingTimeMills", std::to_string(short_polling_time_ms));
  kv("channelExpiredTimeout", std::to_string(channel_expired_timeout_ms));
  kv("regionId", region_id);
  kv("traceTopicEnable", b(trace_topic_enable));
  kv("transactionTimeOut", std::to_string(transaction_timeout_ms));
  kv("transactionCheckInterval", std::to_string(transaction_check_interval_ms));
  kv("transactionCheckMax", std::to_string(transaction_check_max));
  kv("rejectTransactionMessage", b(reject_transaction_message));
  kv("messageIndexEnable", b(message_index_enable));
  kv("maxHashSlotNum", std::to_string(max_hash_slot_num));
  kv("maxIndexNum", std::to_string(max_index_num));
  kv("compressedRegister", b(compressed_register));
  kv("frameMaxLength", std::to_string(max_frame_bytes));
  kv("maxTransferBytesOnMessageInMemory", std::to_string(max_transfer_bytes_on_message_in_memory));
  kv("maxTransferCountOnMessageInMemory", std::to_string(max_transfer_count_on_message_in_memory));
  kv("checkCRCOnRecover", b(store.check_crc_on_recover));
  kv("messageDelayLevel", store.message_delay_level);
  if (!pending_restart_.empty()) {
    std::string pending;
    for (const auto& [k, v] : pending_restart_) pending += (pending.empty() ? "" : ";") + k + "=" + v;
    kv("configChangesPendingRestart", pending);
  }
  return o;
}

Result<BrokerConfig::ConfigUpdate, std::string> BrokerConfig::update(
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  // Read where they are used, so in effect at once (the caller re-arms the timers of the last two).
  static const std::set<std::string> kLive = {
      "autoCreateTopicEnable", "autoCreateSubscriptionGroup", "brokerPermission", "longPollingEnable",
      "shortPollingTimeMills", "notifyConsumerIdsChangedEnable", "slaveReadEnable", "accessMessageInMemoryMaxRatio",
      "maxTransferBytesOnMessageInMemory", "maxTransferCountOnMessageInMemory", "channelExpiredTimeout",
      "compressedRegister", "regionId", "traceTopicEnable", "syncFlushTimeout", "registerNameServerPeriod",
      "flushIntervalCommitLog"};
  // A DLedger broker hands its flush interval to the Raft log at start.
  static const std::set<std::string> kLiveExceptDLedger = {"flushIntervalCommitLog"};
  // Which broker this is and where its data lies: the container checks these against its other
  // brokers at start, and the store's files are laid out by them.
  static const std::set<std::string> kFixed = {
      "brokerClusterName", "brokerName", "brokerId", "listenPort", "haListenPort", "fastListenPort", "namesrvAddr",
      "storePathRootDir", "storePathCommitLog", "mappedFileSizeCommitLog", "mapedFileSizeCommitLog",
      "mappedFileSizeConsumeQueue", "enableControllerMode", "storePathEpochFile", "storePathBrokerIdentity"};
  static const std::set<std::string> kDLedger = {
      "enableDLegerCommitLog", "dLegerGroup", "dLegerPeers", "dLegerSelfId", "preferredLeaderId",
      "storePathDLedgerCommitLog", "enableBatchPush", "dLegerTickMs", "dLegerHeartbeatIntervalMs",
      "dLegerElectionTimeoutMs", "dLegerMaxWaitAckTimeMs", "dLegerCheckpointIntervalMs",
      "dLegerFaultInjectionEnable", "dLegerJoinGroup"};
  auto refuse = [](std::string why) { return make_error(std::string(), std::move(why)); };
  std::string file = config_path.empty() ? std::string("the broker's config file") : config_path;
  if (pairs.empty()) return refuse("no key=value pair in the request");
  ConfigFile changes;
  changes.path = "UPDATE_BROKER_CONFIG";
  for (const auto& [k, v] : pairs) {
    if (kDLedger.count(k))
      return refuse("key '" + k + "' cannot be changed while the broker runs: a DLedger group's membership, " +
                    "directory and timing are fixed at start (edit " + file + " and restart the broker)");
    if (kFixed.count(k))
      return refuse("key '" + k + "' cannot be changed while the broker runs: it names the broker, its ports or " +
                    "its storage layout (edit " + file + " and restart the broker)");
    changes.entries.push_back({k, v, static_cast<int>(changes.entries.size()) + 1});
  }
  // The values the next start would read: the file as it will be, i.e. the running values, the
  // changes pending from earlier requests, then these.
  ConfigFile next_file;
  next_file.path = changes.path;
  for (const auto& [k, v] : pending_restart_) next_file.entries.push_back({k, v, 0});
  for (const auto& e : changes.entries) next_file.entries.push_back(e);
  for (const auto& e : changes.entries) {
    ConfigFile one;
    one.path = changes.path;
    one.entries.push_back(e);
    BrokerConfig scratch = *this;
    std::vector<std::string> unknown;
    (void)scratch.bind_over(one, &unknown);  // a wrong type is reported below, with the others
    if (!unknown.empty()) return refuse("key '" + e.key + "' is not a broker configuration key");
  }
  BrokerConfig next = *this;
  if (auto r = next.bind_over(next_file, nullptr); !r.ok()) return refuse(r.detail());
  if (next_file.find("sendMessageThreadPoolNums") != nullptr && next.send_message_thread_pool_nums < 1)
    return refuse("key 'sendMessageThreadPoolNums': must be at least 1");
  auto where = [](const std::string& key) { return "key '" + key + "'"; };
  if (auto r = next.check_values(where, true); !r.ok()) {
    // The rule may name another key than the one changed (brokerRole=SLAVE breaks brokerId's).
    std::string asked;
    for (const auto& e : changes.entries) asked += (asked.empty() ? "" : ", ") + e.key + "=" + e.value;
    return refuse("with " + asked + ": " + r.detail());
  }

  ConfigUpdate out;
  ConfigFile live;
  live.path = changes.path;
  for (const auto& e : changes.entries) {
    bool is_live = kLive.count(e.key) && !(is_dledger() && kLiveExceptDLedger.count(e.key));
    auto& list = is_live ? out.applied : out.on_restart;
    if (std::find(list.begin(), list.end(), e.key) == list.end()) list.push_back(e.key);
    if (is_live) {
      live.entries.push_back(e);
    } else {
      std::erase_if(pending_restart_, [&e](const auto& p) { return p.first == e.key; });
      pending_restart_.emplace_back(e.key, e.value);
    }
  }
  // Checked above on a copy holding every change, so binding the live ones cannot fail.
  auto bound = bind_over(live, nullptr);
  MQ_CHECK(bound.ok(), "live config keys failed to bind after validation");
  return out;
}

void BrokerConfig::drop_pending(const std::vector<std::string>& keys) {
  std::erase_if(pending_restart_, [&keys](const auto& p) {
    return std::find(keys.begin(), keys.end(), p.first) != keys.end();
  });
}

std::vector<BrokerConfig::BoundPort> BrokerConfig::bound_port_sources() const {
  std::vector<BoundPort> ports;
  ports.push_back({listen_port, "listenPort"});
  ports.push_back({effective_ha_listen_port(), ha_listen_port > 0 ? "haListenPort" : "haListenPort (listenPort + 1)"});
  if (effective_fast_listen_port() > 0)
    ports.push_back(
        {effective_fast_listen_port(), fast_listen_port > 0 ? "fastListenPort" : "fastListenPort (listenPort - 2)"});
  if (const DLedgerPeer* self = dledger_self()) ports.push_back({self->port, "dLegerPeers (" + self->id + ")"});
  return ports;
}

std::vector<int32_t> BrokerConfig::bound_ports() const {
  std::vector<int32_t> ports;
  for (const auto& p : bound_port_sources()) ports.push_back(p.port);
  return ports;
}

}  // namespace mq
