// Synchronous admin calls to NameServers, brokers and RocketMQ 5.x controllers, for mqadmin and
// tests. A request that may go to any NameServer tries each address of the `;`-separated list in
// turn until one answers, as RocketMQ's client does.
//
// Controllers. GET_METADATA_INFO (1005) is answered by any controller node; the requests that
// change or read the replicated tables (ELECT_MASTER 1002, GET_SYNC_STATE_DATA 1006,
// CLEAN_BROKER_DATA 1011) are answered only by the leader, so, as RocketMQ's MQClientAPIImpl does,
// those methods first ask the given controller for `controllerLeaderAddress` and then send to it.
// GET/UPDATE_CONTROLLER_CONFIG (1010/1009) go to every address given, since each node keeps its
// own config. The answers are parsed here into the small *Reply structs below, which hold what the
// admin tool shows; a malformed body is a kBadBody error naming what was wrong.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "codec/route_data.h"
#include "remoting/client.h"

namespace mq {

struct ClientError {
  // kNoLeader: a controller answered GET_METADATA_INFO without a leader address (no leader yet).
  enum Kind { kRpc, kResponse, kBadBody, kBadArgument, kNoLeader } kind = kRpc;
  int32_t response_code = 0;  // for kResponse
};

// GetMetaDataResponseHeader (1005). A field the controller left out is nullopt (the Java tool
// prints it as "null").
struct ControllerMetaDataReply {
  std::optional<std::string> group;
  std::optional<std::string> leader_id;
  std::optional<std::string> leader_addr;
  bool is_leader = false;  // whether the node that answered is the leader
  std::string peers;       // as sent: "n0:host:port;n1:host:port;" (jRaft: "host:port;...")
};

// One member of a broker-set in BrokerReplicasInfo (1006).
struct SyncStateReplica {
  std::string broker_name;
  int64_t broker_id = 0;  // controller-assigned id
  std::string broker_address;
  bool alive = false;
};

// BrokerReplicasInfo.ReplicasInfo: one broker-set as the controller leader sees it.
struct SyncStateReply {
  std::optional<int64_t> master_broker_id;  // nullopt: no master
  std::optional<std::string> master_address;
  int32_t master_epoch = 0;
  int32_t sync_state_set_epoch = 0;
  std::vector<SyncStateReplica> in_sync_replicas;
  std::vector<SyncStateReplica> not_in_sync_replicas;
};

// EpochEntryCache (1007): a broker's epoch file plus its commit log's max offset.
struct BrokerEpochReply {
  struct Entry {
    int32_t epoch = 0;
    int64_t start_offset = 0;
    int64_t end_offset = 0;  // the last entry's is Long.MAX_VALUE (still open)
  };
  std::string cluster_name;
  std::string broker_name;
  int64_t broker_id = 0;  // the broker's NameServer-facing id (0 while master)
  std::vector<Entry> epoch_list;
  int64_t max_offset = 0;
};

// ELECT_MASTER (1002): ElectMasterResponseHeader plus the members of ElectMasterResponseBody.
struct ElectMasterReply {
  std::optional<int64_t> master_broker_id;
  std::optional<std::string> master_address;
  std::optional<int32_t> master_epoch;
  std::optional<int32_t> sync_state_set_epoch;
  std::string cluster;      // brokerMemberGroup.cluster
  std::string broker_name;  // brokerMemberGroup.brokerName
  std::map<int64_t, std::string> broker_addrs;  // controller id -> address, every member
  std::vector<int64_t> sync_state_set;
};

// A properties text, as pairs in the order sent.
using PropertyPairs = std::vector<std::pair<std::string, std::string>>;

template <typename T>
using ClientResult = Result<T, ClientError>;

class AdminClient {
 public:
  explicit AdminClient(std::string namesrv_addrs, int64_t timeout_ms = 5000);

  // Sends `request` to `addr` and returns the response if its code is SUCCESS.
  ClientResult<RemotingCommand> call(const std::string& addr, RemotingCommand request);
  // Tries every NameServer until one answers (any response code counts as an answer).
  ClientResult<RemotingCommand> call_any_namesrv(RemotingCommand request);

  ClientResult<TopicRouteData> get_route(const std::string& topic);
  ClientResult<ClusterInfo> get_cluster_info();
  ClientResult<std::vector<std::string>> get_all_topics();
  ClientResult<std::vector<std::string>> get_topics_by_cluster(const std::string& cluster);
  // The config text of each NameServer, keyed by address.
  ClientResult<std::map<std::string, std::string>> get_namesrv_config();
  ClientResult<Unit> update_namesrv_config(const std::string& properties_text);
  ClientResult<Unit> put_kv(const std::string& ns, const std::string& key, const std::string& value);
  ClientResult<std::string> get_kv(const std::string& ns, const std::string& key);
  ClientResult<Unit> delete_kv(const std::string& ns, const std::string& key);
  ClientResult<int32_t> wipe_write_perm(const std::string& broker_name);
  ClientResult<int32_t> add_write_perm(const std::string& broker_name);

  // --- brokers and containers ---
  // Master addresses (brokerId 0) of every broker of `cluster`, from the NameServer.
  ClientResult<std::vector<std::string>> master_addrs_of_cluster(const std::string& cluster);
  // The master address of broker group `broker_name`.
  ClientResult<std::string> master_addr_of_broker(const std::string& broker_name);
  ClientResult<Unit> create_topic(const std::string& broker_addr, const TopicConfig& config);
  ClientResult<std::string> get_topic_stats(const std::string& broker_addr, const std::string& topic);
  ClientResult<std::map<std::string, std::string>> get_broker_runtime_info(const std::string& broker_addr);
  // DELETE_TOPIC_IN_BROKER on one broker; DELETE_TOPIC_IN_NAMESRV on every NameServer (the topic's
  // routes of `cluster` only, or all of them when empty).
  ClientResult<Unit> delete_topic_in_broker(const std::string& broker_addr, const std::string& topic);
  ClientResult<Unit> delete_topic_in_namesrv(const std::string& topic, const std::string& cluster);
  // DELETE_SUBSCRIPTIONGROUP; `clean_offset` also drops the group's committed offsets.
  ClientResult<Unit> delete_subscription_group(const std::string& broker_addr, const std::string& group,
                                               bool clean_offset);
  // GET_CONSUMER_CONNECTION_LIST: the ConsumerConnection JSON of a group online at that broker.
  ClientResult<std::string> get_consumer_connections(const std::string& broker_addr, const std::string& group);
  // GET_BROKER_CONFIG: the broker's settings as properties text.
  ClientResult<std::string> get_broker_config(const std::string& broker_addr);
  // UPDATE_BROKER_CONFIG with `key=value` lines; returns the broker's remark (empty, or why the
  // change is live but not written to its config file).
  ClientResult<std::string> update_broker_config(const std::string& broker_addr, const std::string& properties_text);
  ClientResult<std::string> get_consume_stats(const std::string& broker_addr, const std::string& group,
                                              const std::string& topic);
  ClientResult<Unit> update_subscription_group(const std::string& broker_addr, const std::string& config_json);
  // VIEW_MESSAGE_BY_ID: the stored record at a commit log offset of the broker at `broker_addr`.
  ClientResult<std::string> view_message(const std::string& broker_addr, int64_t commit_log_offset);
  ClientResult<std::string> container_status(const std::string& container_addr);
  // A DLedger broker's view of its group (JSON: role, term, leader, members with match and lag).
  ClientResult<std::string> dledger_group_status(const std::string& broker_addr);
  // Asks the leader at broker_addr to hand leadership to member `peer_id` ("n1").
  ClientResult<Unit> dledger_transfer_leadership(const std::string& broker_addr, const std::string& peer_id);
  // Asks the leader at broker_addr for a membership change: change_type addLearner (with
  // member_addr, the new member's Raft host:port), promote or remove.
  ClientResult<Unit> dledger_change_membership(const std::string& broker_addr, const std::string& change_type,
                                               const std::string& member_id, const std::string& member_addr = "");
  ClientResult<Unit> add_broker(const std::string& container_addr, const std::string& config_path);
  ClientResult<Unit> remove_broker(const std::string& container_addr, const std::string& cluster,
                                   const std::string& broker_name, int64_t broker_id);

  // --- controllers (RocketMQ 5.x controller mode) ---
  // CONTROLLER_GET_METADATA_INFO to one controller node.
  ClientResult<ControllerMetaDataReply> get_controller_metadata(const std::string& controller_addr);
  // The leader's address, from GET_METADATA_INFO to each address of the `;`-separated list in turn
  // until one answers; kNoLeader when the node that answered names none.
  ClientResult<std::string> controller_leader_addr(const std::string& controller_addrs);
  // CONTROLLER_GET_SYNC_STATE_DATA to the leader (found through `controller_addrs`): each broker-set
  // of `broker_names` the controller knows, keyed by brokerName.
  ClientResult<std::map<std::string, SyncStateReply>> get_sync_state_data(const std::string& controller_addrs,
                                                                        const std::vector<std::string>& broker_names);
  // GET_BROKER_EPOCH_CACHE to a broker (SYSTEM_ERROR from a broker not in controller mode).
  ClientResult<BrokerEpochReply> get_broker_epoch_cache(const std::string& broker_addr);
  // CONTROLLER_ELECT_MASTER with designateElect=true (an admin's election of `broker_id`), to the
  // leader.
  ClientResult<ElectMasterReply> elect_master(const std::string& controller_addrs, const std::string& cluster,
                                              const std::string& broker_name, int64_t broker_id);
  // CLEAN_BROKER_DATA to the leader. An empty `cluster` or `broker_ids_to_clean` ("1;2") is left out
  // of the header (null in Java: all of the set's ids).
  ClientResult<Unit> clean_broker_metadata(const std::string& controller_addrs, const std::string& cluster,
                                           const std::string& broker_name, const std::string& broker_ids_to_clean,
                                           bool clean_living_broker);
  // GET_CONTROLLER_CONFIG to every address of the list, keyed by address; stops at the first failure.
  ClientResult<std::map<std::string, PropertyPairs>> get_controller_config(const std::string& controller_addrs);
  // UPDATE_CONTROLLER_CONFIG to every address of the list, all of them even after a failure (as
  // RocketMQ does); the error, if any, is the last failure's, naming every address that refused.
  ClientResult<Unit> update_controller_config(const std::string& controller_addrs, const std::string& properties_text);

  const std::vector<std::string>& namesrv_addrs() const { return namesrv_; }
  BlockingClient& rpc() { return rpc_; }

 private:
  // call() for a controller: its 2000-2016 answers get RocketMQ's name in the detail.
  ClientResult<RemotingCommand> call_controller(const std::string& addr, RemotingCommand request);

  std::vector<std::string> namesrv_;
  int64_t timeout_ms_;
  BlockingClient rpc_;
};

}  // namespace mq
