// The NameServer's route tables (RocketMQ's RouteInfoManager), kept on the loop thread and free of
// I/O so that registration, route building and expiry are tested with an injected clock.
//
// Tables: cluster -> broker names; broker name -> BrokerData (brokerId -> address); topic ->
// (broker name -> QueueData); broker address -> live info (last update, DataVersion, HA address,
// the connection it registered over). Queue data comes only from the master (brokerId 0) of a
// group. A broker is removed when it unregisters, when the connection it registered over closes,
// or when it has been silent for longer than the expiry; removing the last address of a group
// removes the group from its cluster and from every topic.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "codec/route_data.h"

namespace mq {

struct RegisterBrokerRequest {
  std::string cluster_name;
  std::string broker_name;
  std::string broker_addr;
  std::string ha_server_addr;
  int64_t broker_id = 0;
  uint64_t connection_id = 0;  // 0 = not tied to a connection
  TopicConfigWrapper topics;
};

struct RegisterBrokerResult {
  std::string master_addr;     // for a slave: its master's address, if the master is live
  std::string ha_server_addr;  // for a slave: its master's HA address
};

class RouteInfoManager {
 public:
  RouteInfoManager(const Clock& clock, int64_t broker_expired_ms)
      : clock_(clock), broker_expired_ms_(broker_expired_ms) {}

  RegisterBrokerResult register_broker(const RegisterBrokerRequest& req);
  void unregister_broker(const std::string& cluster, const std::string& broker_addr,
                         const std::string& broker_name, int64_t broker_id);
  // Removes every broker that registered over this connection. Returns the addresses removed.
  std::vector<std::string> on_connection_closed(uint64_t connection_id);
  // Removes brokers silent for longer than the expiry. Returns the addresses removed.
  std::vector<std::string> scan_not_active_brokers();

  // True when the stored DataVersion of the broker differs from `version` (QUERY_DATA_VERSION);
  // also refreshes the broker's last-update time.
  bool is_data_version_changed(const std::string& broker_addr, const DataVersion& version);
  std::optional<DataVersion> data_version_of(const std::string& broker_addr) const;

  std::optional<TopicRouteData> pickup_topic_route(const std::string& topic) const;
  nlohmann::json cluster_info_json() const;
  std::vector<std::string> all_topics() const;
  std::vector<std::string> topics_by_cluster(const std::string& cluster) const;
  void delete_topic(const std::string& topic, const std::string& cluster);
  // Clears (wipe) or sets (add) PERM_WRITE on every queue data of `broker_name`. Returns how many
  // topics changed.
  int wipe_write_perm(const std::string& broker_name);
  int add_write_perm(const std::string& broker_name);

  void set_broker_expired_ms(int64_t ms) { broker_expired_ms_ = ms; }
  size_t live_broker_count() const { return live_.size(); }

 private:
  struct LiveInfo {
    int64_t last_update_ms = 0;
    DataVersion data_version;
    std::string ha_server_addr;
    uint64_t connection_id = 0;
    std::string cluster;
    std::string broker_name;
  };
  void remove_broker_addr(const std::string& broker_addr);

  const Clock& clock_;
  int64_t broker_expired_ms_;
  std::map<std::string, std::set<std::string>> cluster_addr_table_;
  std::map<std::string, BrokerData> broker_addr_table_;
  std::map<std::string, std::map<std::string, QueueData>> topic_queue_table_;
  std::map<std::string, LiveInfo> live_;
};

}  // namespace mq
