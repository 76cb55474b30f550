// ReplicasManager: a controller-mode broker's side of the controller protocol (RocketMQ 5.x's
// ReplicasManager; reference rocketmq-controller.md 4.4, 5.1-5.4). It finds the controller leader,
// obtains the broker's persistent controller id, registers, heartbeats to every controller, and
// turns what the controller decides (master id, master epoch, SyncStateSet) into calls to the
// broker: become master, become slave of X, the SyncStateSet changed. It never touches the store.
//
// Start-up: until the controller has named a master, the broker is fenced: it takes no writes and
// does not register with the NameServers (the broker glue does that; here the first role decision
// is simply not made yet). The sequence, retried every start_retry_ms from where it stopped:
//   1. leader discovery: CONTROLLER_GET_METADATA_INFO to the controllers, the first that names a
//      leader wins (asked again every syncControllerMetadataPeriod, and at once after a
//      CONTROLLER_NOT_LEADER answer);
//   2. the id: brokerIdentity if present; else the id in brokerIdentity-temp is applied again;
//      else CONTROLLER_GET_NEXT_BROKER_ID, write the temp file, CONTROLLER_APPLY_BROKER_ID, write
//      brokerIdentity, remove the temp file (a refused apply removes it and starts over);
//   3. CONTROLLER_REGISTER_BROKER, one heartbeat, and if no live master is known,
//      CONTROLLER_ELECT_MASTER naming itself (SUCCESS and MASTER_STILL_EXIST both name the master).
// Then: heartbeats every brokerHeartbeatInterval to every controller (oneway), the replica info
// polled every syncBrokerMetadataPeriod, NOTIFY_BROKER_ROLE_CHANGED taken at once.
//
// Epoch fencing: a decision is taken only when its master epoch is above the last one acted on, so
// a late or repeated notice never undoes a newer one. The epoch is kept in memory only (0 after a
// restart), as in RocketMQ; the store's epoch file is what survives.
#pragma once
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "codec/controller_data.h"
#include "remoting/client.h"
#include "runtime/event_loop.h"
#include "store/broker_identity.h"

namespace mq {

struct ReplicasManagerOptions {
  std::string cluster_name;
  std::string broker_name;
  std::string broker_addr;                    // brokerIP1:listenPort, as members and clients see it
  std::vector<std::string> controller_addrs;  // controllerAddr, `;`-separated in the config
  int64_t heartbeat_interval_ms = 200;        // brokerHeartbeatInterval
  int64_t heartbeat_timeout_ms = 1500;        // controllerHeartBeatTimeoutMills
  int64_t sync_broker_metadata_period_ms = 5000;       // syncBrokerMetadataPeriod
  int64_t sync_controller_metadata_period_ms = 10'000;  // syncControllerMetadataPeriod
  int32_t election_priority = INT32_MAX;      // brokerElectionPriority
  int64_t request_timeout_ms = 3000;
  // Between tries of the start sequence (RocketMQ: 5 s).
  int64_t start_retry_ms = 1000;
};

class ReplicasManager {
 public:
  // What the heartbeats carry about the local store.
  struct LocalState {
    int32_t last_epoch = -1;  // the newest epoch in the epoch file
    int64_t max_offset = 0;
    int64_t confirm_offset = 0;
  };
  struct Callbacks {
    std::function<LocalState()> local_state;
    // The controller made this broker the master (master_epoch above any acted on before).
    std::function<void(int32_t master_epoch, const SyncStateSet& sss)> become_master;
    // The controller named another master.
    std::function<void(int64_t master_id, const std::string& master_addr, int32_t master_epoch)> become_slave;
    // Master only: the controller confirmed a new SyncStateSet (after an ALTER, or one it holds).
    std::function<void(const SyncStateSet& sss)> sync_state_set_changed;
  };
  enum class Phase { kDiscoverLeader, kRegisterId, kRegister, kElect, kRunning, kStopped };

  ReplicasManager(EventLoop& loop, RemotingClient& client, store::BrokerIdentityFiles identity, const Clock& clock,
                  Logger log, ReplicasManagerOptions options, Callbacks callbacks);
  ~ReplicasManager();
  ReplicasManager(const ReplicasManager&) = delete;
  ReplicasManager& operator=(const ReplicasManager&) = delete;

  void start();
  void shutdown();
  // NOTIFY_BROKER_ROLE_CHANGED from a controller.
  void on_role_change_notice(const RemotingCommand& req);
  // Master: proposes a new SyncStateSet; done(the confirmed set) or done(nullopt) when refused.
  void alter_sync_state_set(std::set<int64_t> proposed, std::function<void(std::optional<SyncStateSet>)> done);

  int64_t broker_id() const { return broker_id_; }
  int32_t master_epoch() const { return master_epoch_; }
  std::optional<int64_t> master_id() const { return master_id_; }
  const std::string& master_addr() const { return master_addr_; }
  bool is_master() const { return master_id_ && *master_id_ == broker_id_; }
  const SyncStateSet& sync_state_set() const { return sss_; }
  Phase phase() const { return phase_; }
  const std::string& leader_addr() const { return leader_addr_; }
  nlohmann::json status_json() const;

 private:
  void step();
  void retry_later(const std::string& why);
  void discover_leader(std::function<void(bool found)> done);
  void register_id();
  void apply_id(int64_t id, std::string check_code);
  void register_broker();
  void elect();
  void poll();
  void send_heartbeats();
  // Acts on what a controller says about the set (REGISTER, ELECT, GET_REPLICA_INFO, NOTIFY).
  void handle_master_info(std::optional<int64_t> master_id, const std::string& master_addr, int32_t master_epoch,
                          std::optional<SyncStateSet> sss);
  // A request to the controller leader; a CONTROLLER_NOT_LEADER answer (or no answer) sends the
  // leader discovery out again.
  void call_leader(RemotingCommand req, std::function<void(Result<RemotingCommand, RpcError>)> done);

  EventLoop& loop_;
  RemotingClient& client_;
  store::BrokerIdentityFiles identity_;
  const Clock& clock_;
  Logger log_;
  ReplicasManagerOptions opt_;
  Callbacks cb_;
  Timer heartbeat_timer_;
  Timer poll_timer_;
  Timer metadata_timer_;
  Timer retry_timer_;
  Phase phase_ = Phase::kStopped;
  bool step_running_ = false;
  std::string leader_addr_;
  int64_t broker_id_ = -1;
  int32_t master_epoch_ = 0;
  std::optional<int64_t> master_id_;
  std::string master_addr_;
  SyncStateSet sss_;
  std::string last_error_;
  int64_t role_changes_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

const char* replicas_phase_name(ReplicasManager::Phase p);

}  // namespace mq
