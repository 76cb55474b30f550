// ControllerService: one member of a RocketMQ 5.x controller group (DLedger type), as it runs
// inside `mqcontroller` or embedded in `mqnamesrv` (enableControllerInNamesrv=true).
//
// The group's replicated state is the ReplicasInfoManager's tables (broker ids and addresses,
// master id and epoch, SyncStateSet and its epoch per broker-set). Every change is an event
// (controller/replicas_info_manager.h: int16 type + JSON) appended to the group's Raft log, which
// lives under controllerStorePath/dledger-<selfId>/ in DLedger's file layout and is applied on every
// member once committed. There is no snapshot, as in RocketMQ: a restarted member rebuilds its
// tables by replaying the whole log.
//
// Brokers and mqadmin reach the controller on this member's controllerDLegerPeers port, the same
// port that carries the Raft messages. Requests that read or change the tables run one at a time in
// arrival order (RocketMQ's EventScheduler): the result is computed from the tables, its events are
// proposed, and the answer goes out once they are committed and applied, so the next request sees
// them. Only a leader that has applied everything of earlier terms serves these; the others answer
// CONTROLLER_NOT_LEADER (2007). Heartbeats (904), metadata (1005) and the config requests (1009,
// 1010) are answered by any member.
//
// Liveness is local to each member (not replicated): heartbeats refresh it, a broker silent for its
// heartbeatTimeoutMills is expired by a scan every scanNotActiveBrokerInterval, and the close of
// the connection its heartbeats came on expires it at once. When the leader sees a master go, it
// elects a new one from the SyncStateSet (retried electMasterMaxRetryCount times) and pushes
// NOTIFY_BROKER_ROLE_CHANGED to the set's live members; a scan every scanInactiveMasterInterval
// catches sets whose master died while no leader was watching.
#pragma once
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "broker/dledger_service.h"
#include "controller/broker_heartbeat_manager.h"
#include "controller/controller_config.h"
#include "controller/replicas_info_manager.h"
#include "remoting/client.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"
#include "store/file.h"

namespace mq {

class ControllerService final : public DLedgerStateMachine {
 public:
  ControllerService(EventLoop& loop, std::shared_ptr<WorkerPool::Strand> strand, store::FileSystem& fs,
                    const Clock& clock, Logger log, ControllerConfig config);
  ~ControllerService() override;
  ControllerService(const ControllerService&) = delete;
  ControllerService& operator=(const ControllerService&) = delete;

  // Opens the log (replaying it into the tables), binds the peer port and starts the timers.
  // Returns the bound port.
  Result<int, std::string> start();
  void shutdown();

  bool is_leader_ready() const { return leader_ready_; }
  int port() const { return dledger_ ? dledger_->raft_port() : -1; }
  nlohmann::json status_json() const;

  // DLedgerStateMachine
  int64_t applied_pos() const override { return 0; }
  Result<int64_t, std::string> apply(int64_t pos, std::string& data) override;
  void on_leader_ready_changed(bool ready) override;

 private:
  // A request waiting its turn in the scheduler. `internal` ones come from the controller itself
  // (elections after a master died) and answer through `done` instead of a connection.
  struct Job {
    int32_t code = 0;
    RemotingCommand request;
    std::shared_ptr<RequestContext> ctx;  // null for internal jobs
    std::function<void(const controller::ControllerResult&)> done;
  };
  void register_handlers();
  void on_heartbeat(const RequestContext& ctx, RemotingCommand& req);
  void on_metadata(const RequestContext& ctx, RemotingCommand& req);
  void on_get_config(const RequestContext& ctx, RemotingCommand& req);
  void on_update_config(const RequestContext& ctx, RemotingCommand& req);
  void enqueue(Job job);
  void run_next();
  controller::ControllerResult compute(const Job& job) const;
  void finish(Job& job, const controller::ControllerResult& result);
  // A broker gone (expired or its connection closed): if it was a master, elect another.
  void on_broker_inactive(const controller::BrokerKey& key);
  void elect_for(const std::string& broker_name, int attempts_left);
  void run_due_retries();
  void scan_inactive_masters();
  void notify_role_change(const std::string& broker_name);
  std::string peers_text() const;

  EventLoop& loop_;
  std::shared_ptr<WorkerPool::Strand> strand_;
  store::FileSystem& fs_;
  const Clock& clock_;
  Logger log_;
  ControllerConfig config_;
  controller::ReplicasInfoManager tables_;
  controller::BrokerHeartbeatManager heartbeats_;
  std::unique_ptr<DLedgerService> dledger_;
  std::unique_ptr<RemotingClient> notify_client_;
  Timer scan_broker_timer_;
  Timer scan_master_timer_;
  Timer retry_timer_;
  // Controller-triggered elections that failed, by broker name: when to try again, tries left.
  std::map<std::string, std::pair<int64_t, int>> election_retries_;
  std::deque<Job> jobs_;
  bool job_running_ = false;
  bool leader_ready_ = false;
  bool started_ = false;
  int64_t applied_entries_ = 0;
  int64_t bad_entries_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
