// One broker's configuration: RocketMQ's BrokerConfig and MessageStoreConfig keys, read from an
// ordinary broker properties (or TOML) file. Keys the container owns (namesrvAddr and the network
// settings) are overridden by the container, as RocketMQ's BrokerContainer does.
//
// DLedger mode (enableDLegerCommitLog=true): the broker is one node of a Raft group named
// dLegerGroup whose members are listed in dLegerPeers, ';'-separated `<id>-<host>:<port>` entries
// (the id is the text before the first '-', the address the rest; the port is the node's DLedger
// RPC port, a server of its own beside listenPort). An id is letters then digits and its node
// number is the digits (RocketMQ: parseInt(id.substring(1)), so "n0", "n1", ... are the ids that
// also work with Java brokers). As in RocketMQ, brokerId and brokerRole in such a file are ignored
// (a note is returned with the warnings): the broker's identity in a container is
// {cluster, brokerName, node number of dLegerSelfId}, and its role and registered brokerId follow
// the elections at run time (leader: 0 / SYNC_MASTER; otherwise node + 1 / SLAVE).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
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
  // Transactions (broker/transaction_service.h): RocketMQ's transactionTimeOut,
  // transactionCheckInterval, transactionCheckMax, rejectTransactionMessage.
  int64_t transaction_timeout_ms = 6000;
  int64_t transaction_check_interval_ms = 60'000;
  int32_t transaction_check_max = 15;
  bool reject_transaction_message = false;
  // IndexFile: messageIndexEnable, maxHashSlotNum, maxIndexNum.
  bool message_index_enable = true;
  int32_t max_hash_slot_num = 5'000'000;
  int32_t max_index_num = 20'000'000;
  bool compressed_register = false;
  int64_t max_frame_bytes = 16 * 1024 * 1024;
  int32_t max_transfer_bytes_on_message_in_memory = 256 * 1024;
  int32_t max_transfer_count_on_message_in_memory = 32;
  // sendMessageThreadPoolNums: accepted (RocketMQ's sample DLedger configs set it); requests run on
  // the container's loop, so it changes nothing here. 0 = not given.
  int32_t send_message_thread_pool_nums = 0;
  // storePathCommitLog: accepted when it names storePathRootDir/commitlog, where our CommitLog
  // always lives (RocketMQ's sample configs spell that default out); anything else is an error.
  std::string store_path_commit_log;

  // DLedger (Raft CommitLog), RocketMQ's keys
  bool enable_dledger_commit_log = false;        // enableDLegerCommitLog
  std::string dledger_group;                     // dLegerGroup; default: brokerName
  std::string dledger_peers;                     // dLegerPeers "n0-host:port;n1-host:port;..."
  std::string dledger_self_id;                   // dLegerSelfId, e.g. "n0"
  std::string preferred_leader_id;               // preferredLeaderId (one id; empty = none)
  // storePathDLedgerCommitLog; default storePathRootDir/dledger-<selfId> (see dledger_dir()).
  std::string store_path_dledger_commit_log;
  bool enable_batch_push = false;                // enableBatchPush (accepted; our pushes always batch)
  // Our own timing keys: sub-second failover on a LAN.
  int64_t dledger_tick_ms = 25;                  // dLegerTickMs: the Raft core's clock resolution
  int64_t dledger_heartbeat_interval_ms = 100;   // dLegerHeartbeatIntervalMs
  // dLegerElectionTimeoutMs: a follower campaigns after a random time in [t, 2t) without a leader.
  int64_t dledger_election_timeout_ms = 300;
  // dLegerMaxWaitAckTimeMs: a send waits this long for a quorum (DLedger's maxWaitAckTimeMs).
  int64_t dledger_max_wait_ack_ms = 2500;
  // dLegerFaultInjectionEnable: accept the DLEDGER_INJECT_FAULT admin request, which cuts this
  // member off its group's Raft traffic (tests of partitions). Never on in production.
  bool dledger_fault_injection_enable = false;
  // dLegerJoinGroup: this member joins a running group. Its dLegerPeers lists the group's members
  // and itself; it starts outside the group (not voting, not campaigning) until the leader adds it
  // (DLEDGER_CHANGE_MEMBERSHIP addLearner, then promote), and learns everything from the log.
  bool dledger_join_group = false;
  int64_t dledger_checkpoint_interval_ms = 3000; // dLegerCheckpointIntervalMs
  struct DLedgerPeer {
    std::string id;     // "n0"
    uint32_t node = 0;  // the digits of the id: n0 -> 0
    std::string host;
    int32_t port = 0;  // the DLedger RPC port
    std::string addr() const { return host + ":" + std::to_string(port); }
    bool operator==(const DLedgerPeer&) const = default;
  };
  static constexpr uint32_t kNoDLedgerNode = 0xFFFFFFFFu;
  std::vector<DLedgerPeer> dledger_peer_list;    // parsed from dledger_peers by load()
  uint32_t dledger_self_node = 0;                // parsed: numeric part of dledger_self_id
  uint32_t dledger_preferred_node = kNoDLedgerNode;  // parsed preferred_leader_id, or none

  // Controller mode (RocketMQ 5.x; broker/replicas_manager.h, broker/autoswitch_ha_service.h): a
  // controller group decides which member of the broker-set is master, and brokerRole/brokerId in
  // the file are ignored at run time (the master registers as 0, a slave as its controller id).
  bool enable_controller_mode = false;                // enableControllerMode
  std::string controller_addr;                        // controllerAddr: "host:port;host:port"
  bool fetch_controller_addr_by_dns_lookup = false;   // fetchControllerAddrByDnsLookup (accepted)
  int64_t sync_broker_metadata_period_ms = 5000;      // syncBrokerMetadataPeriod
  int64_t check_sync_state_set_period_ms = 5000;      // checkSyncStateSetPeriod
  int64_t sync_controller_metadata_period_ms = 10'000;  // syncControllerMetadataPeriod
  // A frozen master (its connection to the controllers stays open) is noticed when its heartbeats
  // stop for controllerHeartBeatTimeoutMills. Ours are shorter than RocketMQ's 1000 / 10000 ms so
  // that such a failover takes about two seconds instead of fifteen; the timeout travels in each
  // heartbeat, so a Java controller honours it too.
  int64_t controller_heartbeat_timeout_ms = 1500;     // controllerHeartBeatTimeoutMills
  int64_t broker_heartbeat_interval_ms = 200;         // brokerHeartbeatInterval
  int64_t send_heartbeat_timeout_ms = 1000;           // sendHeartbeatTimeoutMillis
  int32_t broker_election_priority = 2147483647;      // brokerElectionPriority
  std::string store_path_epoch_file;       // storePathEpochFile; default storePathRootDir/epochFileCheckpoint
  std::string store_path_broker_identity;  // storePathBrokerIdentity; default storePathRootDir/brokerIdentity
  int64_t ha_max_time_slave_not_catchup_ms = 15'000;  // haMaxTimeSlaveNotCatchup
  bool all_ack_in_sync_state_set = false;             // allAckInSyncStateSet
  int32_t in_sync_replicas = 1;                       // inSyncReplicas
  int32_t min_in_sync_replicas = 1;                   // minInSyncReplicas
  bool sync_from_last_file = false;                   // syncFromLastFile
  bool async_learner = false;                         // asyncLearner
  int64_t slave_timeout_ms = 3000;                    // slaveTimeout: a put waits this long for replicas
  bool is_controller_mode() const { return enable_controller_mode; }
  std::string epoch_file_path() const {
    return store_path_epoch_file.empty() ? store.store_path_root_dir + "/epochFileCheckpoint" : store_path_epoch_file;
  }
  std::string broker_identity_path() const {
    return store_path_broker_identity.empty() ? store.store_path_root_dir + "/brokerIdentity" : store_path_broker_identity;
  }

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
  bool is_dledger() const { return enable_dledger_commit_log; }
  // The DLedger directory (data/, index/, checkpoint, currterm): storePathDLedgerCommitLog, or
  // storePathRootDir/dledger-<selfId>. RocketMQ's storePathDLedgerCommitLog names the data/ folder
  // itself; both lay out storePathRootDir/dledger-<selfId>/data when it is not set.
  std::string dledger_dir() const;
  // The self entry of dledger_peer_list; nullptr when not DLedger (load() guarantees it otherwise).
  const DLedgerPeer* dledger_self() const;
  // The brokerId of this broker's identity in the container (ADD_BROKER / REMOVE_BROKER, conflict
  // checks, log prefix): broker_id, or for DLedger the node number of dLegerSelfId, whatever
  // brokerId the broker registers at run time.
  int64_t container_broker_id() const {
    return is_dledger() ? static_cast<int64_t>(dledger_self_node) : broker_id;
  }

  // A port the broker binds and the setting it comes from (for conflict messages).
  struct BoundPort {
    int32_t port = 0;
    std::string source;  // "listenPort", "haListenPort (listenPort + 1)", "dLegerPeers", ...
  };
  // Every port the broker binds: listenPort, its HA port, the fast port when it has one, and in
  // DLedger mode its own DLedger port (its dLegerPeers entry).
  std::vector<BoundPort> bound_port_sources() const;
  std::vector<int32_t> bound_ports() const;
  std::string broker_addr() const { return broker_ip1 + ":" + std::to_string(listen_port); }
  std::string ha_server_addr() const { return broker_ip2 + ":" + std::to_string(effective_ha_listen_port()); }
  // "cluster/brokerName/brokerId" with container_broker_id(), used in messages and log prefixes.
  std::string identity() const;
  // key=value text (GET_BROKER_CONFIG): every key load() reads, with the values in effect. Changes
  // accepted for the next start are listed under configChangesPendingRestart ("k=v;k=v").
  std::string to_properties() const;

  // UPDATE_BROKER_CONFIG. RocketMQ's broker takes any key into its in-memory Properties and
  // persists them, though most only take effect on restart; here a change is one of:
  //  * applied: the broker reads the key where it uses it (permissions, polling, client
  //    housekeeping, transfer limits, flushIntervalCommitLog and registerNameServerPeriod, whose
  //    timers the caller re-arms); in effect at once;
  //  * on_restart: a key the broker reads only at start (HA, store expiry, brokerRole, ...):
  //    accepted, kept as pending (to_properties lists it), in effect from the next start once the
  //    caller has written it to the broker's file;
  //  * refused, with the key named: a key no broker reads, a value of the wrong type or outside
  //    the rules load() applies (checked against the configuration the next start would read), and
  //    keys that name the broker or lay out its storage (identity, ports, paths, segment sizes,
  //    DLedger keys): changing those through a request would make the container start a different
  //    broker on the old files.
  // All or nothing: on a refusal nothing changes.
  struct ConfigUpdate {
    std::vector<std::string> applied;
    std::vector<std::string> on_restart;
  };
  Result<ConfigUpdate, std::string> update(const std::vector<std::pair<std::string, std::string>>& pairs);
  // update() with only its refusal ("" when accepted).
  std::string update_live(const std::vector<std::pair<std::string, std::string>>& pairs) {
    auto r = update(pairs);
    return r.ok() ? std::string() : r.detail();
  }
  // Changes accepted for the next start, in the order they came (a later one for a key replaces it).
  const std::vector<std::pair<std::string, std::string>>& pending_restart() const { return pending_restart_; }
  // Forgets pending changes for these keys (the caller could not write them to the file).
  void drop_pending(const std::vector<std::string>& keys);

 private:
  void bind_all(ConfigBinder& b, std::string& role, std::string& flush);
  // Binds `file`'s entries over this configuration (role and flush type included).
  Result<Unit, ConfigError> bind_over(const ConfigFile& file, std::vector<std::string>* unknown);
  // The rules load() applies to the bound values, and with `for_update` the stricter ranges a
  // request's values must keep; `where(key)` names a key for the message.
  Result<Unit, ConfigError> check_values(const std::function<std::string(const std::string&)>& where,
                                         bool for_update) const;
  std::vector<std::pair<std::string, std::string>> pending_restart_;
  Result<Unit, ConfigError> check_dledger(const ConfigFile& file);
};

// "n0" -> 0, "n12" -> 12: one or more ASCII letters, then 1 to 9 digits. nullopt otherwise.
std::optional<uint32_t> parse_dledger_node(const std::string& id);
// Parses a dLegerPeers value: ';'-separated `<id>-<host>:<port>` entries (blanks around an entry
// and a trailing ';' are allowed). Each id must parse (parse_dledger_node), each port be in
// [1, 65535], and ids, node numbers and addresses be unique. The error says which entry and why.
Result<std::vector<BrokerConfig::DLedgerPeer>, std::string> parse_dledger_peers(const std::string& text);

// The first non-loopback IPv4 address of this host, or 127.0.0.1.
std::string local_ipv4_address();

}  // namespace mq
