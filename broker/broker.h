// One broker (master or slave) inside a container. It owns everything it uses: its config, its
// store directory (with a lock file, so two brokers or two processes never share one), its
// MessageStore, its metadata tables, its client registry, its long-polling queue, its listening
// port and its NameServer registration. Shared services (the loop, the worker pool, the outgoing
// remoting client, the clock) come in through the constructor; nothing here is global.
//
// Threads: everything runs on the loop thread except the disk work the store allows off it
// (flush, segment pre-creation, metadata writes), which runs on this broker's strand of the shared
// worker pool, so one broker's slow disk never blocks another broker's flushes ordering.
//
// Lifecycle: start() opens and recovers the store, loads metadata, binds the port and registers
// with every NameServer; any failure undoes what was done (all-or-nothing). shutdown() unregisters,
// closes the port, answers held pulls, flushes the store and removes the abort marker.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "broker/autoswitch_ha_service.h"
#include "broker/broker_config.h"
#include "broker/broker_metadata.h"
#include "broker/broker_stats.h"
#include "broker/client_manager.h"
#include "broker/dledger_service.h"
#include "broker/ha_service.h"
#include "broker/pull_hold_service.h"
#include "broker/rebalance_lock_manager.h"
#include "broker/replicas_manager.h"
#include "broker/schedule_service.h"
#include "broker/timer_service.h"
#include "broker/transaction_service.h"
#include "remoting/client.h"
#include "remoting/server.h"
#include "runtime/event_loop.h"
#include "runtime/worker_pool.h"
#include "store/epoch_file.h"
#include "store/file.h"
#include "store/group_commit.h"
#include "store/index_service.h"
#include "store/message_store.h"

namespace mq {

struct BrokerServices {
  EventLoop& loop;
  WorkerPool& pool;
  RemotingClient& outer_client;  // NameServer registration (shared by the container's brokers)
  const Clock& clock;
  std::shared_ptr<LogSink> log_sink;
  std::string namesrv_addr;  // the container's list wins over the broker file's, as in RocketMQ
};

// RocketMQ's SendMessageProcessor mapping of a put's outcome onto a response code.
int32_t put_status_code(store::PutMessageStatus s);

enum class BrokerState { kCreated, kRunning, kStopping, kStopped, kFailed };
const char* broker_state_name(BrokerState s);

class Broker {
 public:
  Broker(BrokerServices services, BrokerConfig config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Opens the store (recovery included), loads metadata, listens and registers. On failure
  // everything started is undone and the reason is returned.
  Result<Unit, std::string> start();
  // Unregisters, closes the port, answers held pulls, flushes and closes the store.
  void shutdown();

  const BrokerConfig& config() const { return config_; }
  BrokerState state() const { return state_; }
  int listen_port() const { return server_.port(); }
  int fast_listen_port() const { return fast_server_ ? fast_server_->port() : -1; }
  nlohmann::json status_json() const;

 private:
  // broker.cc: lifecycle, registration, flush and housekeeping
  void register_processors();
  void register_with_namesrv(bool oneway);
  // Registers with the given NameServers only (one request each, answered asynchronously).
  void register_with(const std::vector<std::string>& addrs, bool oneway);
  // A NameServer that did not take a registration is asked again after 1 s, 2 s, 4 s, ... up to
  // the registration period, so a NameServer started after the broker sees it within a second or
  // two rather than after the next 30 s round (RocketMQ waits for that round).
  void retry_register_later(const std::string& addr);
  // registerNameServerPeriod within 1-60 s (RocketMQ keeps it within 10-60 s; tests use 2 s).
  uint64_t register_period_ms() const;
  void unregister_from_namesrv();
  // full: CommitLog, ConsumeQueues and checkpoint (the interval flush); otherwise only the
  // CommitLog, which is all an acknowledged SYNC_FLUSH put needs (recovery rebuilds the rest).
  void run_flush(bool full);
  void persist_metadata();
  // Blocks until every disk job this broker queued on its strand has run (not the neighbours').
  void drain_own_disk_work();
  // Creates the next CommitLog segment on the worker before a put needs it.
  void maybe_precreate();
  void housekeeping();
  void notify_consumer_ids_changed(const std::string& group);
  int64_t now_ms() const { return clock_.now_ms(); }
  bool is_slave() const { return config_.broker_role == BrokerRole::kSlave; }
  bool is_dledger() const { return config_.is_dledger(); }

  // broker_dledger.cc: a DLedger broker's Raft glue (broker/dledger_service.h) and role changes.
  Result<Unit, std::string> open_dledger();
  void register_dledger_processors();
  // The ready leader is brokerId 0 / SYNC_MASTER; every other state a SLAVE with brokerId selfId + 1.
  void on_dledger_role_change(bool leader_ready);
  void on_dledger_committed(const store::CommittedRecord& r);
  // A new leader's hand-over: consumer offsets ahead of its own, from the previous leader's broker.
  void take_offsets_from(const std::string& addr);
  void propose_send(const RequestContext& ctx, std::vector<std::string> records, store::PutMessageResult base,
                    HostAddress store_host, int32_t queue_id, bool batch, const std::string& uniq_key,
                    const std::string& topic);

  // broker_controller_mode.cc: RocketMQ 5.x controller mode. The controller group names the
  // master (broker/replicas_manager.h); replication is the epoch-aware AutoSwitch HA
  // (broker/autoswitch_ha_service.h). Until the controller has named a master the broker is fenced:
  // a SLAVE that takes no writes and does not register with the NameServers.
  bool is_controller_mode() const { return config_.is_controller_mode(); }
  bool controller_fenced() const { return is_controller_mode() && !controller_role_known_; }
  Result<Unit, std::string> open_controller_mode();  // the epoch file, before the store opens
  void start_controller_mode();                      // once the broker runs
  void stop_controller_mode();
  void register_controller_processors();
  void become_controller_master(int32_t epoch, const SyncStateSet& sss);
  void become_controller_slave(int64_t master_id, const std::string& master_addr, int32_t epoch);
  // A slave asks its master for its HA address (EXCHANGE_BROKER_HA_INFO) instead of waiting for
  // the next NameServer registration to name it.
  void fetch_master_ha_address();
  AutoSwitchHaOptions autoswitch_options() const;

  // broker_internal_put.cc: messages the broker itself writes (delayed deliveries, retries, dead
  // letters, transaction commits and ops), appended like a send; in DLedger mode proposed and
  // reported at commit. done(stored, last): the first `stored` messages are in; `last` is the
  // result of the last one tried. With wait_durable the answer also waits for SYNC_FLUSH /
  // SYNC_MASTER as a producer's send would. done may run before put_internal returns.
  using InternalPutDone = std::function<void(size_t stored, const store::PutMessageResult& last)>;
  void put_internal(std::vector<store::MessageToStore> msgs, bool wait_durable, InternalPutDone done);
  // Runs fn(code) once the CommitLog up to end_offset is as durable as the broker's flush type and
  // role ask (SUCCESS, FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE).
  void await_durable(int64_t end_offset, std::function<void(int32_t code)> fn);
  // Services only a master (or ready DLedger leader) runs: delayed delivery, transaction checks.
  // Called at start and at every role change.
  void update_master_services();
  // GET_ALL_DELAY_OFFSET and GET_ALL_TIMER_OFFSET (ours), for slaves' and followers' metadata sync.
  void register_schedule_processors();
  std::string config_dir() const { return config_.store.store_path_root_dir + "/config"; }

  // broker_retry.cc: CONSUMER_SEND_MSG_BACK, %RETRY% and %DLQ% topics.
  void register_retry_processors();
  void handle_send_back(const RequestContext& ctx, RemotingCommand& req);
  // The topic a send-back (or a client's own retry send) creates on first use: %RETRY% read-write,
  // %DLQ% write-only (RocketMQ's createTopicInSendMessageBackMethod). Null when it cannot be made.
  const TopicConfig* create_topic_for_send_back(const std::string& topic, int32_t queue_nums, int32_t perm);
  // A client's own send to %RETRY%<group> whose reconsumeTimes reached the limit goes to
  // %DLQ%<group> queue 0 instead: returns that topic and queue. nullopt otherwise (code stays
  // SUCCESS) or when the group does not exist (code and why say so).
  std::optional<std::pair<std::string, int32_t>> dead_letter_redirect(const std::string& topic, int32_t reconsume_times,
                                                                      int32_t max_reconsume_times, int32_t& code,
                                                                      std::string& why);

  // broker_transaction.cc: half messages, END_TRANSACTION, check-backs.
  void open_transactions();
  void register_transaction_processors();

  // broker_query.cc: QUERY_MESSAGE by key or unique key through the IndexFile.
  void register_query_processors();

  // broker_lock.cc: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ for orderly consumers.
  void register_lock_processors();

  // broker_send.cc
  void handle_send(const RequestContext& ctx, RemotingCommand& req);
  void answer_put(const RequestContext& ctx, const store::PutMessageResult& r, int32_t queue_id, bool batch,
                  const std::string& uniq_key, int32_t code);

  // broker_pull.cc
  void handle_pull(const RequestContext& ctx, RemotingCommand& req, bool allow_suspend);

  // broker_admin.cc: offsets, clients, topics, groups, stats
  void register_admin_processors();

  // broker_replication.cc: HA (master and slave ends), SYNC_MASTER, slave metadata sync
  Result<Unit, std::string> start_replication();
  void stop_replication();
  // After a successful put: answers at once, or once it is flushed (SYNC_FLUSH) and/or on a slave
  // (SYNC_MASTER), whichever the broker's role and flush type ask for.
  void complete_put(const RequestContext& ctx, const store::PutMessageResult& r, int32_t queue_id, bool batch,
                    const std::string& uniq_key, bool wait_store);
  // A slave learns its master's addresses from the NameServer's register response.
  void on_register_response(const RemotingCommand& resp);
  void sync_from_master();
  void on_replicated(int64_t new_end);
  void learn_replicated_topic(const std::string& topic, int32_t queue_id);
  bool master_reachable() const { return ha_slave_ && ha_slave_->connected(); }
  // SYNC_FLUSH group commit: runs fn(flushed) once the CommitLog is flushed up to end_offset.
  void wait_for_flush(int64_t end_offset, std::function<void(bool flushed)> fn);

  EventLoop& loop_;
  WorkerPool& pool_;
  RemotingClient& outer_client_;
  const Clock& clock_;
  std::string namesrv_addr_;
  BrokerConfig config_;
  Logger log_;
  BrokerState state_ = BrokerState::kCreated;

  store::PosixFileSystem fs_;
  // A DLedger broker's Raft log, which is also its store's CommitLog (declared before store_, which
  // reads through it, so it is destroyed after it).
  std::unique_ptr<DLedgerService> dledger_;
  // The IndexFile, a dispatcher of store_ (declared before it, so destroyed after it).
  std::unique_ptr<store::IndexService> index_;
  std::unique_ptr<store::MessageStore> store_;
  int lock_fd_ = -1;
  std::shared_ptr<WorkerPool::Strand> strand_;
  TopicConfigManager topics_;
  SubscriptionGroupManager groups_;
  ConsumerOffsetManager offsets_;
  ClientManager clients_;
  PullHoldService pull_holds_;
  RebalanceLockManager locks_;
  RemotingServer server_;
  // The fast ("VIP") port, listenPort - 2: the same handlers as server_ except PULL_MESSAGE, as
  // RocketMQ's fastRemotingServer. Older Java clients send there (vipChannelEnabled), and a Java
  // slave fetches its master's topic config there. Null when fastListenPort is -1.
  std::unique_ptr<RemotingServer> fast_server_;
  Timer flush_timer_;
  Timer register_timer_;
  Timer register_retry_timer_;
  std::set<std::string> register_failed_addrs_;
  uint64_t register_retry_delay_ms_ = kFirstRegisterRetryDelayMs;
  bool register_retry_armed_ = false;
  static constexpr uint64_t kFirstRegisterRetryDelayMs = 1000;
  Timer housekeeping_timer_;
  Timer hold_timer_;

  // SYNC_FLUSH group commit: puts wait by token until a flush covers them.
  store::GroupCommit group_commit_;
  std::unordered_map<uint64_t, std::function<void(bool flushed)>> flush_waiters_;
  uint64_t next_flush_token_ = 1;
  bool flush_running_ = false;
  bool flush_again_ = false;
  bool flush_again_full_ = false;
  bool precreate_running_ = false;
  int64_t precreate_retry_at_ms_ = 0;  // monotonic; after a failed pre-creation
  static constexpr int64_t kPrecreateRetryDelayMs = 1000;

  // Replication. A master has ha_master_; a slave has ha_slave_, its master's broker address (for
  // metadata sync) and the offsets clients committed on it, carried back to the master.
  std::unique_ptr<HaMaster> ha_master_;
  std::unique_ptr<HaSlave> ha_slave_;
  std::string master_addr_;
  Timer slave_sync_timer_;
  class ReplicaArrivals : public store::CommitLogDispatcher {
   public:
    void dispatch(const MessageRecord& record, int64_t tags_code) override;
    std::vector<std::tuple<std::string, int32_t, int64_t>> take() { return std::exchange(arrivals_, {}); }
    // Only a slave collects arrivals (a controller-mode broker changes role at run time).
    bool enabled = true;

   private:
    std::vector<std::tuple<std::string, int32_t, int64_t>> arrivals_;
  };
  ReplicaArrivals replica_arrivals_;
  // Controller mode (broker_controller_mode.cc).
  std::unique_ptr<store::EpochFile> epochs_;
  std::unique_ptr<RemotingClient> controller_client_;  // this broker's own: its close tells the controller
  std::unique_ptr<ReplicasManager> replicas_;
  std::unique_ptr<AutoSwitchHaMaster> as_master_;
  std::unique_ptr<AutoSwitchHaClient> as_client_;
  bool controller_role_known_ = false;
  std::map<std::string, std::map<int32_t, int64_t>> offsets_committed_on_slave_;  // "topic@group"
  int64_t total_memory_bytes_ = 0;
  double last_disk_used_ratio_ = 0;  // measured by the last housekeeping round, 0..1
  int64_t last_usage_check_ms_ = 0;  // monotonic: the last disk measurement while the disk is full

  // GET_BROKER_RUNTIME_INFO: boot time and RocketMQ's counters and TPS figures.
  int64_t boot_timestamp_ms_ = 0;
  BrokerStats stats_;
  Timer stats_timer_;

  // Delayed delivery (broker/schedule_service.h); progress persisted every 10 s and at stop.
  std::unique_ptr<ScheduleMessageService> schedule_;
  // 5.x timed messages (broker/timer_service.h); progress in config/timerOffset.json.
  std::unique_ptr<TimerMessageService> timers_;
  std::unique_ptr<TransactionalMessageService> transactions_;
  Timer delay_offset_timer_;

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
