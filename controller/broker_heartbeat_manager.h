// Broker liveness as one controller node sees it (reference 4.5, DLedger mode's
// DefaultBrokerHeartbeatManager). Local to each node and never replicated: brokers send
// BROKER_HEARTBEAT (904) to every reachable controller, so a newly elected leader already has a
// warm table. Pure: the caller passes its clock reading (`now_ms`) and an opaque id of the
// connection a heartbeat arrived on, and acts on what scan_expired() / on_channel_closed() return
// (close the connection, raise "broker inactive" on the leader).
//
// Rules kept from RocketMQ:
//  - the first heartbeat of a (cluster, brokerName, brokerId) inserts; absent values default to
//    epoch -1, maxOffset -1, confirmOffset -1, timeout 10000 ms, priority INT32_MAX;
//  - later heartbeats refresh the time, timeout and priority; epoch/maxOffset/confirmOffset are
//    replaced only by a larger epoch, or the same epoch with a larger maxOffset (never backwards);
//    the address and connection of an existing entry stay as first seen;
//  - alive <=> last_update + timeout >= now (expired is exactly "not alive").
// Deviation: a closed connection removes every entry that arrived on it (Java stops at the first);
// several brokers of one container may share one connection to the controller.
//
// Matching rule for lookups. Entries are keyed by the triple the broker sends. The controller's
// own checks name a broker-set by brokerName alone (its tables are keyed by brokerName) and pass
// the cluster stored for that set; requests triggered by the controller itself carry clusterName
// "". So: a lookup with a non-empty cluster must match the triple exactly (as Java's
// isBrokerActive); a lookup with an EMPTY cluster matches (brokerName, brokerId) in any cluster
// (alive if any such entry is alive). Broker names are unique across the controller's tables, so
// the wildcard cannot confuse two sets that the tables themselves keep apart.
#pragma once
#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "codec/remoting_command.h"

namespace mq::controller {

inline constexpr int64_t kDefaultBrokerHeartbeatTimeoutMs = 10000;

struct BrokerKey {
  std::string cluster;
  std::string broker_name;
  int64_t broker_id = 0;
  auto operator<=>(const BrokerKey&) const = default;
  bool operator==(const BrokerKey&) const = default;
};

struct BrokerLiveInfo {
  std::string broker_name;
  std::string broker_addr;
  int64_t broker_id = 0;
  int64_t last_update_ms = 0;
  int64_t heartbeat_timeout_ms = kDefaultBrokerHeartbeatTimeoutMs;
  uint64_t channel_id = 0;
  int32_t epoch = -1;
  int64_t max_offset = -1;
  int64_t confirm_offset = -1;
  int32_t election_priority = INT32_MAX;

  bool alive_at(int64_t now_ms) const {
    // now - last cannot overflow (both are our clock); last + timeout could (timeout is a peer's).
    return now_ms - last_update_ms <= heartbeat_timeout_ms;
  }
};

class BrokerHeartbeatManager {
 public:
  // BROKER_HEARTBEAT's header (BrokerHeartbeatRequestHeader). Errors are response codes:
  // CONTROLLER_INVALID_REQUEST (2005) without brokerId; SYSTEM_ERROR (1) when clusterName,
  // brokerAddr or brokerName is missing or a number does not parse (Java's header decoding
  // fails first). The detail names the field.
  Result<Unit, int32_t> on_heartbeat(const ExtFields& fields, uint64_t channel_id, int64_t now_ms);

  bool is_alive(const std::string& cluster, const std::string& broker_name, int64_t id, int64_t now_ms) const;
  // The entry (alive or not). With an empty cluster, the most recently refreshed match.
  const BrokerLiveInfo* live_info(const std::string& cluster, const std::string& broker_name, int64_t id) const;

  // Removes and returns the entries that are no longer alive at `now_ms`, in key order.
  std::vector<BrokerKey> scan_expired(int64_t now_ms);
  // Removes and returns every entry whose heartbeats arrived on `channel_id`.
  std::vector<BrokerKey> on_channel_closed(uint64_t channel_id);

  size_t size() const { return table_.size(); }
  const std::map<BrokerKey, BrokerLiveInfo>& entries() const { return table_; }

 private:
  std::map<BrokerKey, BrokerLiveInfo> table_;
};

}  // namespace mq::controller
