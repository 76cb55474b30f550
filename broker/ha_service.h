// Master-slave replication (RocketMQ's HAService), both ends, over the protocol in
// broker/ha_protocol.h. A master broker owns an HaMaster; a slave broker owns an HaSlave. Both live
// on the loop thread and touch the store only as its owner thread may (reads on the master,
// replicated appends on the slave).
//
// HaMaster listens on haListenPort. Per slave connection it starts where the slave's first report
// says (for an empty slave: the start of the master's newest CommitLog segment, as RocketMQ does),
// then pushes CommitLog bytes in batches of haTransferBatchSize whenever new data is appended or the
// slave acknowledges, keeping at most window_bytes unacknowledged per slave, and sends a heartbeat
// header every haSendHeartbeatInterval when idle. A slave silent for haHousekeepingInterval is
// dropped. A slave that reports an offset beyond the master's end has a diverged log: it gets
// heartbeats naming the master's end and no data, so it sees the mismatch and stops.
//
// SYNC_MASTER (group transfer): a put waits until some slave acknowledged its end offset;
// slave_ok() is false (SLAVE_NOT_AVAILABLE) when no slave is connected or the best one lags by
// haMaxGapNotInSync or more; waiters past their deadline complete with false (FLUSH_SLAVE_TIMEOUT).
//
// HaSlave connects to the master's HA address (from the NameServer's register response, or
// haMasterAddress), reports its CommitLog end, appends what arrives at the same offsets (the store
// rebuilds the ConsumeQueues) and acknowledges. What it acknowledges comes from the broker: the
// CommitLog end, or with SYNC_FLUSH the flushed offset, so a SYNC_MASTER + SYNC_FLUSH pair answers
// a put only once the bytes are on both disks. A broken connection is retried every
// reconnect_interval_ms from the slave's own end. Data at any offset other than the slave's end
// means the logs diverged: the slave stops replicating for good (until restarted) and says why.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "base/result.h"
#include "broker/ha_protocol.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"
#include "store/message_store.h"

namespace mq {

struct HaOptions {
  int32_t transfer_batch_bytes = 32 * 1024;         // haTransferBatchSize
  int64_t heartbeat_interval_ms = 5000;             // haSendHeartbeatInterval
  int64_t housekeeping_interval_ms = 20'000;        // haHousekeepingInterval
  int64_t max_gap_not_in_sync_bytes = 256LL << 20;  // haMaxGapNotInSync
  int64_t window_bytes = 8LL << 20;                 // unacknowledged bytes in flight per slave
  int64_t reconnect_interval_ms = 1000;
  int64_t mapped_file_size_commit_log = 1LL << 30;
};

class HaMaster {
 public:
  HaMaster(EventLoop& loop, store::MessageStore& store, HaOptions options, const Clock& clock, Logger log);
  ~HaMaster();
  HaMaster(const HaMaster&) = delete;
  HaMaster& operator=(const HaMaster&) = delete;

  Result<int, std::string> start(const std::string& host, int port);
  // Closes the port and every slave connection; waiting puts complete with false.
  void stop();
  // New CommitLog data: push it to the slaves.
  void notify_new_data();

  bool slave_ok(int64_t master_put_offset) const;
  // Runs done(true) once a slave acknowledged end_offset, done(false) at deadline_ms (monotonic).
  void wait_for_slave(int64_t end_offset, int64_t deadline_ms, std::function<void(bool acked)> done);
  int64_t acked_offset() const { return push_to_slave_max_offset_; }
  int connection_count() const { return static_cast<int>(slaves_.size()); }
  int port() const { return listener_.port(); }
  nlohmann::json status() const;

 private:
  struct Slave {
    std::weak_ptr<TcpConnection> conn;
    std::string address;
    ha::ReportReader reports;
    int64_t next_transfer_offset = -1;  // -1 until the first report
    int64_t acked_offset = -1;
    int64_t start_offset = 0;  // where the transfer began (the window counts from here too)
    int64_t last_read_ms = 0;
    int64_t last_write_ms = 0;
    bool diverged = false;
  };
  void on_connection(std::shared_ptr<TcpConnection> conn);
  void on_report(Slave& s, int64_t offset);
  void push(Slave& s);
  void tick();
  void complete_waiters();

  EventLoop& loop_;
  store::MessageStore& store_;
  HaOptions options_;
  const Clock& clock_;
  Logger log_;
  TcpListener listener_;
  Timer timer_;
  std::map<uint64_t, Slave> slaves_;  // by connection id
  int64_t push_to_slave_max_offset_ = 0;
  bool push_posted_ = false;
  struct Waiter {
    int64_t deadline_ms;
    std::function<void(bool)> done;
  };
  std::multimap<int64_t, Waiter> waiters_;  // by end offset
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class HaSlave {
 public:
  struct Callbacks {
    // What to acknowledge: the CommitLog end, or the flushed offset with SYNC_FLUSH.
    std::function<int64_t()> ack_offset;
    // After replicated bytes were appended (the broker wakes long polls, starts a flush).
    std::function<void(int64_t new_end)> on_applied;
  };
  HaSlave(EventLoop& loop, store::MessageStore& store, HaOptions options, const Clock& clock, Logger log,
          Callbacks callbacks);
  ~HaSlave();
  HaSlave(const HaSlave&) = delete;
  HaSlave& operator=(const HaSlave&) = delete;

  void start();
  void stop();
  // The master's HA address; a change drops the current connection. Empty keeps the old one.
  void set_master(const std::string& ha_addr);
  // Sends the acknowledgement now if it moved (the broker calls it after a SYNC_FLUSH flush).
  void report_if_moved();
  bool connected() const { return conn_ != nullptr; }
  const std::string& diverged_reason() const { return diverged_; }
  nlohmann::json status() const;

 private:
  void tick();
  void connect();
  void on_data(std::string_view data);
  void report();
  void drop(const std::string& why);

  EventLoop& loop_;
  store::MessageStore& store_;
  HaOptions options_;
  const Clock& clock_;
  Logger log_;
  Callbacks callbacks_;
  Timer timer_;
  std::string master_addr_;
  std::shared_ptr<TcpConnection> conn_;
  bool connecting_ = false;
  // The connect in flight, cancelled by drop() and after kConnectTimeoutMs.
  std::shared_ptr<TcpConnectAttempt> connect_attempt_;
  static constexpr int64_t kConnectTimeoutMs = 3000;
  uint64_t connect_generation_ = 0;
  std::unique_ptr<ha::TransferReader> reader_;
  int64_t last_connect_attempt_ms_ = -1'000'000;
  int64_t last_read_ms_ = 0;
  int64_t last_report_ms_ = 0;
  int64_t last_reported_ = -1;
  int64_t applied_bytes_ = 0;
  std::string diverged_;
  std::string last_error_;
  bool stopped_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
