// The controller's replicated state machine (reference 4.1-4.3, 4.6, 4.7; RocketMQ's
// ReplicasInfoManager). Pure: no I/O, no clock (liveness is asked of a BrokerHeartbeatManager at
// the caller's `now_ms`), no logging.
//
// Two tables keyed by brokerName, as in RocketMQ:
//   replica info:    clusterName, nextAssignBrokerId (starts at 1, +1 for every member added,
//                    whatever its id), members: controller id -> (address, registerCheckCode);
//   sync-state info: clusterName, masterEpoch and syncStateSetEpoch (int32, start at 0, wrap as
//                    Java's AtomicInteger), the SyncStateSet, the master id (none = no master).
// A broker-set exists only while it is in BOTH tables; CLEAN can drop one table and leave the other
// (an empty SyncStateSet drops its table), and the leftovers matter exactly as in Java:
// GET_NEXT_BROKER_ID and APPLY_BROKER_ID look at the replica table alone.
//
// How it is driven (reference 3.5). On the leader, one request at a time: the request method reads
// the tables and liveness and returns a ControllerResult: the response (code, remark, extFields,
// body) and the encoded events. The caller appends each event as its own Raft entry, waits for
// commit, then sends the precomputed response. Every node (leader included) feeds every committed
// entry, in log order, to apply(); only apply() changes the tables. Because the tables depend on
// nothing but the log, replaying the log after a restart rebuilds them (there is no snapshot). The
// leader must have applied everything committed before it serves (RocketMQ's leader warm-up: an
// empty entry committed in the new term), or a request would be judged against stale tables.
//
// Header fields are read defensively: every value is a peer's string. A required field that is
// missing or a number that does not parse gives SYSTEM_ERROR (1) with a remark naming the field
// (Java fails the header decoding the same way), never an exception or an abort.
//
// Liveness lookups pass the cluster stored for the set (see BrokerHeartbeatManager's matching
// rule; an empty stored cluster matches any). Java passes the request's clusterName for REGISTER
// and CLEAN, where a null clusterName made every broker look dead and so cleanable.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "codec/controller_data.h"
#include "codec/remoting_command.h"
#include "controller/broker_heartbeat_manager.h"

namespace mq::controller {

struct ControllerResult {
  int32_t code = 0;                 // RocketMQ response code
  std::string remark;
  ExtFields header;                 // response extFields
  std::string body;
  std::vector<std::string> events;  // encoded entries to replicate (encode_event); empty for reads
};

struct BrokerReplicaInfo {
  struct Member {
    std::string address;
    std::string register_check_code;
  };
  std::string cluster_name;
  std::string broker_name;
  int64_t next_assign_broker_id = kFirstBrokerControllerId;
  std::map<int64_t, Member> members;
};

struct SyncStateInfo {
  std::string cluster_name;
  std::string broker_name;
  int32_t master_epoch = 0;  // 0: never had a master (first election)
  int32_t sync_state_set_epoch = 0;
  std::set<int64_t> sync_state_set;
  std::optional<int64_t> master_broker_id;
};

class ReplicasInfoManager {
 public:
  explicit ReplicasInfoManager(bool elect_unclean = false) : elect_unclean_(elect_unclean) {}
  void set_elect_unclean(bool on) { elect_unclean_ = on; }
  bool elect_unclean() const { return elect_unclean_; }

  // Request logic on the leader: reads tables + liveness, never mutates them (the events do, once
  // committed).
  // CONTROLLER_ALTER_SYNC_STATE_SET: header brokerName, masterBrokerId, masterEpoch; body SyncStateSet.
  ControllerResult alter_sync_state_set(const ExtFields& h, std::string_view body, const BrokerHeartbeatManager& live,
                                        int64_t now_ms) const;
  // CONTROLLER_ELECT_MASTER, all three triggers: broker (own id), controller (brokerId -1 or absent,
  // clusterName ""), admin (designateElect=true).
  ControllerResult elect_master(const ExtFields& h, const BrokerHeartbeatManager& live, int64_t now_ms) const;
  ControllerResult register_broker(const ExtFields& h, const BrokerHeartbeatManager& live, int64_t now_ms) const;
  ControllerResult get_replica_info(const ExtFields& h) const;
  // Body: JSON array of broker names. Empty body or list: SYSTEM_ERROR "not set any response code".
  ControllerResult get_sync_state_data(std::string_view body, const BrokerHeartbeatManager& live,
                                       int64_t now_ms) const;
  ControllerResult get_next_broker_id(const ExtFields& h) const;
  ControllerResult apply_broker_id(const ExtFields& h) const;
  ControllerResult clean_broker_data(const ExtFields& h, const BrokerHeartbeatManager& live, int64_t now_ms) const;

  // Applies one committed log entry on every node (leader included). A malformed entry is an error
  // value (logged by the caller), never a crash; the tables are then unchanged. An event about a
  // set that does not exist (where RocketMQ ignores it) is not an error.
  Result<Unit, std::string> apply(std::string_view entry);
  // The same for an already decoded event.
  void apply_event(const ControllerEvent& event);

  // Broker names whose master is set but not alive while some member is alive (the leader's
  // inactive-master scan). In name order.
  std::vector<std::string> sets_with_dead_master(const BrokerHeartbeatManager& live, int64_t now_ms) const;
  // Is (broker_name, id) the current master of its set?
  bool is_master(const std::string& broker_name, int64_t id) const;

  // After a successful election has been APPLIED: what NOTIFY_BROKER_ROLE_CHANGED (1008) carries
  // (header masterAddress, masterEpoch, syncStateSetEpoch, masterBrokerId; body the SyncStateSet)
  // and to whom (addresses of the members alive on this controller, in id order). nullopt when the
  // set is unknown or has no master.
  struct RoleChangeNotice {
    ExtFields header;
    std::string body;
    std::vector<std::string> addresses;
  };
  std::optional<RoleChangeNotice> role_change_notice(const std::string& broker_name, const BrokerHeartbeatManager& live,
                                                     int64_t now_ms) const;

  // Both tables, for logs and tests.
  nlohmann::json status_json() const;

  // Read access to the tables (nullptr when absent from that table).
  bool contains(const std::string& broker_name) const;
  const BrokerReplicaInfo* replica_info(const std::string& broker_name) const;
  const SyncStateInfo* sync_state_info(const std::string& broker_name) const;

 private:
  // The cluster to use for liveness lookups of `broker_name`'s members.
  std::string liveness_cluster(const std::string& broker_name, const std::string& fallback) const;

  bool elect_unclean_;
  std::map<std::string, BrokerReplicaInfo> replica_info_table_;
  std::map<std::string, SyncStateInfo> sync_state_info_table_;
};

}  // namespace mq::controller
