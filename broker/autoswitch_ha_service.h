// Controller-mode replication (RocketMQ 5.x's AutoSwitchHAService), both ends, over the protocol in
// broker/autoswitch_ha_protocol.h. Unlike classic HA (broker/ha_service.h) it knows master epochs:
// the store's epoch file (store/epoch_file.h) records at which CommitLog offset each master epoch
// began, the master sends its list in the handshake, and a slave whose log went further than the
// new master's (it was the old master, or followed one) cuts its log back to the last offset both
// agree on before it replicates again. Both ends live on the loop thread.
//
// AutoSwitchHaMaster: while this broker is the controller-elected master. Per slave connection:
// the handshake (slave id, flags) is answered with the epoch list and the CommitLog max offset;
// the slave's first report fixes where the transfer starts (0: the master's first CommitLog
// offset, or its last file's with isSyncFromLastFile); every later report is an acknowledgement,
// counted only up to what was sent on that connection (a slave cannot hold bytes it was never sent).
// Batches are at most haTransferBatchSize and never cross an epoch boundary; an idle connection
// gets a heartbeat every haSendHeartbeatInterval; a slave silent for haHousekeepingInterval is
// dropped.
//
// The SyncStateSet (the members that have everything acknowledged so far; the controller only
// elects from it). The master keeps the set the controller confirmed; a slave that catches up
// (acknowledges the master's max offset, or the confirm offset with allAckInSyncStateSet, and
// everything of the current epoch) is proposed for it at once; members that have not been caught
// up for haMaxTimeSlaveNotCatchup, or whose connection closed, are proposed for removal (checked
// every checkSyncStateSetPeriod and at once on a close; a close while another proposal is in
// flight is acted on as soon as that one is answered). A slave's caught-up time only moves
// forward (RocketMQ keeps the later of the old and the new), so a member that reconnects behind
// keeps the time it last caught up. One proposal is in flight at a time. While a change is in
// flight both sets count for acknowledgements (their union), so a member being added already has
// to ack.
//
// The confirm offset (what consumers may see, and what slaves are told): the CommitLog end unless
// allAckInSyncStateSet holds and the set has more than the master; then the smallest ack (> 0) of
// the members of the set (the union while a change is in flight), recomputed on each member's ack
// and on each set change, and frozen at its last value while a member has no connection that has
// reported (RocketMQ #6662: a member cut off must not let it run ahead). It starts at the CommitLog
// end when the master starts (what the controller elected it with).
//
// Acknowledgement of a put (reference 5.5): fewer in-sync members than minInSyncReplicas fails it
// at once (IN_SYNC_REPLICAS_NOT_ENOUGH); with allAckInSyncStateSet it waits until every member of
// the set has it; otherwise until inSyncReplicas - 1 connected slaves have it. After slaveTimeout
// it fails with FLUSH_SLAVE_TIMEOUT (the message stays stored).
//
// AutoSwitchHaClient: while this broker is a slave. Before it connects it cuts a record it holds
// only in part (a batch ended inside it) and the epoch entries starting at the cut. It connects to
// the master's HA address, sends the handshake, truncates its CommitLog and epoch file to the
// consistent point the two epoch lists give (or stops with an error when there is none), then
// reports its CommitLog end, which is where the master starts sending (so it is the log end even
// when acknowledgements follow the flushed offset), appends what arrives at the same offsets,
// records each new epoch the frames carry, and acknowledges (the ack_offset callback) after each
// batch and every haSendHeartbeatInterval. A master silent for haHousekeepingInterval is left and
// reconnected.
//
// Crashes: nothing here is persistent except what the store and the epoch file keep; after a
// restart both ends start over with a handshake.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "base/result.h"
#include "broker/autoswitch_ha_protocol.h"
#include "codec/controller_data.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"
#include "store/epoch_file.h"
#include "store/message_store.h"

namespace mq {

struct AutoSwitchHaOptions {
  int32_t transfer_batch_bytes = 32 * 1024;          // haTransferBatchSize
  int64_t heartbeat_interval_ms = 5000;              // haSendHeartbeatInterval
  int64_t housekeeping_interval_ms = 20'000;         // haHousekeepingInterval
  int64_t max_time_slave_not_catchup_ms = 15'000;    // haMaxTimeSlaveNotCatchup
  int64_t check_sync_state_set_period_ms = 5000;     // checkSyncStateSetPeriod
  int64_t window_bytes = 8LL << 20;                  // unacknowledged bytes in flight per slave
  int64_t reconnect_interval_ms = 1000;
  int64_t mapped_file_size_commit_log = 1LL << 30;
  bool all_ack_in_sync_state_set = false;            // allAckInSyncStateSet
  int32_t in_sync_replicas = 1;                      // inSyncReplicas
  int32_t min_in_sync_replicas = 1;                  // minInSyncReplicas
  bool sync_from_last_file = false;                  // syncFromLastFile
  bool async_learner = false;                        // asyncLearner
};

class AutoSwitchHaMaster {
 public:
  struct Callbacks {
    // Asks the controller for a new SyncStateSet; done(the confirmed set) or done(nullopt).
    std::function<void(std::set<int64_t> proposed, std::function<void(std::optional<SyncStateSet>)> done)>
        alter_sync_state_set;
  };
  AutoSwitchHaMaster(EventLoop& loop, store::MessageStore& store, store::EpochFile& epochs, AutoSwitchHaOptions options,
                     const Clock& clock, Logger log, int64_t self_id, SyncStateSet sync_state_set, Callbacks callbacks);
  ~AutoSwitchHaMaster();
  AutoSwitchHaMaster(const AutoSwitchHaMaster&) = delete;
  AutoSwitchHaMaster& operator=(const AutoSwitchHaMaster&) = delete;

  Result<int, std::string> start(const std::string& host, int port);
  // Closes the port and every connection; waiting puts complete with false.
  void stop();
  void notify_new_data();
  // The controller confirmed a set (after a proposal, or a newer one it holds).
  void set_sync_state_set(const SyncStateSet& sss);

  // minInSyncReplicas check of a put (false: IN_SYNC_REPLICAS_NOT_ENOUGH).
  bool enough_in_sync() const;
  // Runs done(true) once the replicas the rules ask for have end_offset, done(false) at deadline.
  void wait_for_replicas(int64_t end_offset, int64_t deadline_ms, std::function<void(bool)> done);
  // What consumers may see (and slaves are told): see the top of this file.
  int64_t confirm_offset() const;
  const SyncStateSet& sync_state_set() const { return sss_; }
  int port() const { return listener_.port(); }
  int connection_count() const { return static_cast<int>(slaves_.size()); }
  nlohmann::json status() const;

 private:
  struct Slave {
    std::weak_ptr<TcpConnection> conn;
    std::string address;
    ha::autoswitch::MasterSideReader reader;
    int64_t slave_id = -1;  // from the handshake
    bool async_learner = false;
    bool sync_from_last_file = false;
    bool handshake_done = false;
    int64_t next_transfer_offset = -1;  // -1 until the first report
    int64_t acked_offset = -1;
    int64_t start_offset = 0;
    int64_t last_read_ms = 0;
    int64_t last_write_ms = 0;
    // The master's max offset when the last batch went out (caught-up rule of reference 5.4).
    int64_t max_offset_at_last_transfer = 0;
    int64_t last_transfer_ms = 0;
  };
  void on_connection(std::shared_ptr<TcpConnection> conn);
  void on_data(uint64_t id, std::string_view data);
  void on_report(Slave& s, int64_t offset);
  void push(Slave& s);
  void send_heartbeat(Slave& s, const std::shared_ptr<TcpConnection>& conn);
  void tick();
  void complete_waiters();
  bool satisfied(int64_t end_offset) const;
  // The members acknowledgements are counted against (the union while a change is in flight).
  std::set<int64_t> ack_set() const;
  int64_t ack_of(int64_t slave_id) const;
  void maybe_expand(const Slave& s);
  void check_shrink(bool closed_now);
  void propose(std::set<int64_t> proposed);
  // Caught-up times only move forward.
  void note_caught_up(int64_t slave_id, int64_t at_ms);
  // Recomputes confirm_offset_ unless a member of the set has no reporting connection (frozen).
  void refresh_confirm_offset();

  EventLoop& loop_;
  store::MessageStore& store_;
  store::EpochFile& epochs_;
  AutoSwitchHaOptions opt_;
  const Clock& clock_;
  Logger log_;
  int64_t self_id_;
  SyncStateSet sss_;
  std::optional<std::set<int64_t>> proposed_;  // a change in flight
  bool shrink_after_proposal_ = false;         // a connection closed while one was in flight
  int64_t confirm_offset_ = 0;                 // with allAckInSyncStateSet and a set of more than one
  Callbacks cb_;
  TcpListener listener_;
  Timer timer_;
  std::map<uint64_t, Slave> slaves_;  // by connection id
  std::map<int64_t, int64_t> caught_up_ms_;  // by slave id
  int64_t last_shrink_check_ms_ = 0;
  bool push_posted_ = false;
  struct Waiter {
    int64_t deadline_ms;
    std::function<void(bool)> done;
  };
  std::multimap<int64_t, Waiter> waiters_;  // by end offset
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class AutoSwitchHaClient {
 public:
  struct Callbacks {
    // What to acknowledge: the CommitLog end, or the flushed offset with SYNC_FLUSH.
    std::function<int64_t()> ack_offset;
    // After replicated bytes were appended (the broker wakes long polls, starts a flush).
    std::function<void(int64_t new_end)> on_applied;
    // Cuts the CommitLog back to `offset`. The store must have itself to itself for that (no flush
    // in flight), which only the broker can arrange; without it the store is cut directly.
    std::function<store::IoResult<Unit>(int64_t offset)> truncate;
  };
  AutoSwitchHaClient(EventLoop& loop, store::MessageStore& store, store::EpochFile& epochs, AutoSwitchHaOptions options,
                     const Clock& clock, Logger log, int64_t self_id, Callbacks callbacks);
  ~AutoSwitchHaClient();
  AutoSwitchHaClient(const AutoSwitchHaClient&) = delete;
  AutoSwitchHaClient& operator=(const AutoSwitchHaClient&) = delete;

  void start();
  void stop();
  // The master's HA address; a change drops the current connection. Empty keeps the old one.
  void set_master(const std::string& ha_addr);
  void report_if_moved();
  bool connected() const { return conn_ != nullptr && transferring_; }
  int64_t confirm_offset() const { return confirm_offset_; }
  nlohmann::json status() const;

 private:
  void tick();
  void connect();
  void on_data(std::string_view data);
  bool on_handshake_reply(const ha::autoswitch::HandshakeReply& reply);
  bool on_transfer(ha::autoswitch::TransferFrame& frame);
  // Sends `offset`, or by default what to acknowledge (the ack_offset callback).
  void report(std::optional<int64_t> offset = std::nullopt);
  void drop(const std::string& why);

  EventLoop& loop_;
  store::MessageStore& store_;
  store::EpochFile& epochs_;
  AutoSwitchHaOptions opt_;
  const Clock& clock_;
  Logger log_;
  int64_t self_id_;
  Callbacks cb_;
  Timer timer_;
  std::string master_addr_;
  std::shared_ptr<TcpConnection> conn_;
  std::shared_ptr<TcpConnectAttempt> connect_attempt_;
  bool connecting_ = false;
  bool transferring_ = false;  // handshake done
  uint64_t connect_generation_ = 0;
  std::unique_ptr<ha::autoswitch::SlaveSideReader> reader_;
  int64_t last_connect_attempt_ms_ = -1'000'000;
  int64_t last_read_ms_ = 0;
  int64_t last_report_ms_ = 0;
  int64_t last_reported_ = -1;
  int64_t confirm_offset_ = -1;
  int64_t applied_bytes_ = 0;
  int64_t truncations_ = 0;
  std::string last_error_;
  bool stopped_ = true;
  static constexpr int64_t kConnectTimeoutMs = 3000;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
