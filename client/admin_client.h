// Synchronous admin calls to NameServers (and, later, brokers), for mqadmin and tests. A request
// that may go to any NameServer tries each address of the `;`-separated list in turn until one
// answers, as RocketMQ's client does.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "codec/route_data.h"
#include "remoting/client.h"

namespace mq {

struct ClientError {
  enum Kind { kRpc, kResponse, kBadBody, kBadArgument } kind = kRpc;
  int32_t response_code = 0;  // for kResponse
};

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

  const std::vector<std::string>& namesrv_addrs() const { return namesrv_; }
  BlockingClient& rpc() { return rpc_; }

 private:
  std::vector<std::string> namesrv_;
  int64_t timeout_ms_;
  BlockingClient rpc_;
};

}  // namespace mq
