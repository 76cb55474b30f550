// TransactionalMessageService: half messages, their outcomes and check-backs (RocketMQ's
// transaction message design, with its storage conventions).
//
// Storage. A producer's half message (property TRAN_MSG=true) is stored in
// RMQ_SYS_TRANS_HALF_TOPIC queue 0 with its real topic and queue in REAL_TOPIC / REAL_QID and its
// transaction type reset, so no consumer of the real topic sees it. An outcome is an "op" record in
// RMQ_SYS_TRANS_OP_HALF_TOPIC queue 0 whose body is the half message's queue offset as text
// (RocketMQ 5.x may join several with ','): tag "d" means resolved (committed, rolled back or
// discarded). A commit first writes the message to its real topic (transaction type COMMIT,
// preparedTransactionOffset = the half message's commit log offset, TRAN_MSG removed), in the same
// append as its op record, so an op record on disk always has its commit before it. We add tag
// "c" op records, one per check-back sent, so that check counts survive restarts (RocketMQ re-appends
// the half message with TRANSACTION_CHECK_TIMES instead; its check service ignores other tags).
//
// State. The pending half messages (no "d" op yet) are known in memory, keyed by half queue
// offset. They are learnt from the records as the store dispatches them (this class is a
// CommitLogDispatcher, so followers and slaves know them too and a new master can check at once)
// and, at start, by reading both queues from their low-water marks: the half queue offset below
// which everything is resolved and the op queue offset below which every op refers to such a half
// message. Both marks are kept as consumer offsets of group CID_RMQ_SYS_TRANS (as RocketMQ keeps its
// check progress), so a restart reads only the unresolved window.
//
// Outcomes are idempotent: END_TRANSACTION for a half message that is no longer pending (already
// committed or rolled back, by an earlier answer or a check-back) is acknowledged and writes nothing,
// so a transaction commits at most once (RocketMQ can commit twice when a late answer races a
// check-back).
//
// Check-backs (master / ready leader only): every check_interval_ms, each pending half message
// older than transaction_timeout_ms (or its CHECK_IMMUNITY_TIME_IN_SECONDS) is checked with
// CHECK_TRANSACTION_STATE (39) on a connection of its producer group (PGROUP); after check_max
// checks it is discarded: copied to TRANS_CHECK_MAX_TIME_TOPIC and resolved.
//
// Threads: the loop thread (dispatch runs on the store's owner thread, which is the loop).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "codec/remoting_command.h"
#include "runtime/event_loop.h"
#include "store/message_store.h"

namespace mq {

inline constexpr const char* kTransHalfTopic = "RMQ_SYS_TRANS_HALF_TOPIC";
inline constexpr const char* kTransOpHalfTopic = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
inline constexpr const char* kTransCheckMaxTimeTopic = "TRANS_CHECK_MAX_TIME_TOPIC";
inline constexpr const char* kTransSysGroup = "CID_RMQ_SYS_TRANS";

struct TransactionOptions {
  int64_t transaction_timeout_ms = 6000;     // transactionTimeOut
  int64_t check_interval_ms = 60'000;        // transactionCheckInterval
  int32_t check_max = 15;                    // transactionCheckMax
};

struct EndTransactionRequest {
  std::string producer_group;
  int64_t tran_state_table_offset = 0;  // the half message's queue offset
  int64_t commit_log_offset = 0;        // the half message's commit log offset
  int32_t commit_or_rollback = 0;       // sysflag transaction type: 0x8 commit, 0xC rollback, 0 unknown
  bool from_transaction_check = false;
  std::string msg_id;
};

class TransactionalMessageService : public store::CommitLogDispatcher {
 public:
  // Stores the messages in order, in one append (DLedger: one proposal); done(n): the first n are in.
  using PutFn = std::function<void(std::vector<store::MessageToStore>, std::function<void(size_t stored)>)>;
  // Sends a request to one connection of the producer group; false when none is connected.
  using CheckFn = std::function<bool(const std::string& producer_group, RemotingCommand request)>;
  // Low-water marks: read at start, written as they move (consumer offsets of CID_RMQ_SYS_TRANS).
  using QueryOffsetFn = std::function<int64_t(const std::string& topic)>;
  using CommitOffsetFn = std::function<void(const std::string& topic, int64_t offset)>;
  struct Hooks {
    PutFn put;
    CheckFn check;
    QueryOffsetFn query_offset;
    CommitOffsetFn commit_offset;
    HostAddress store_host;  // this broker, for the records it writes
  };

  TransactionalMessageService(EventLoop& loop, store::MessageStore& store, const Clock& clock, Logger log,
                              TransactionOptions options, Hooks hooks);
  ~TransactionalMessageService() override;

  // A PREPARED send becomes a half message (RocketMQ's parseHalfMessageInner).
  static void to_half_message(store::MessageToStore& m);

  // Reads the half and op queues from their low-water marks. Call after the store opened (and on
  // becoming master, to pick up what a previous master left).
  void rebuild();
  // Check-backs on (master / ready leader) or off.
  void start_checks();
  void stop_checks();

  // END_TRANSACTION. done(code, remark) with RocketMQ's codes (SUCCESS; SYSTEM_ERROR when the half
  // message cannot be found or does not match the request).
  void end_transaction(const EndTransactionRequest& req, std::function<void(int32_t code, std::string remark)> done);

  // CommitLogDispatcher: learns half messages and op records as they are stored.
  void dispatch(const MessageRecord& record, int64_t tags_code) override;

  size_t pending_count() const { return pending_.size(); }
  uint64_t checks_sent() const { return checks_sent_; }
  // Runs one check round now (tests, and the timer).
  void check_round();

 private:
  struct Pending {
    int64_t commit_log_offset = 0;
    int64_t store_timestamp_ms = 0;
    int64_t immunity_ms = 0;
    std::string producer_group;
    int32_t checks = 0;
    bool resolving = false;  // an outcome is being written
  };
  void learn_half(int64_t queue_offset, const MessageRecord& r);
  void learn_op(int64_t op_queue_offset, std::string_view body, std::string_view tag);
  void resolved(int64_t key);
  void advance_marks();
  store::MessageToStore op_record(int64_t key, const char* tag, int64_t now_ms) const;
  // Writes msgs (+ the "d" op) and marks the key resolved; on failure the key stays pending.
  void finish(int64_t key, std::vector<store::MessageToStore> msgs, std::function<void(bool ok)> done);
  void send_check(int64_t key, Pending& p);

  EventLoop& loop_;
  store::MessageStore& store_;
  const Clock& clock_;
  Logger log_;
  TransactionOptions options_;
  Hooks hooks_;
  Timer check_timer_;

  std::map<int64_t, Pending> pending_;          // half queue offset -> pending
  std::set<int64_t> done_ahead_;                 // "d" ops seen for halves not learnt yet (rebuild order)
  std::map<int64_t, int32_t> checks_ahead_;      // "c" ops seen for halves not learnt yet
  std::map<int64_t, int64_t> live_ops_;          // op queue offset -> key, for keys >= half_low_
  int64_t half_low_ = 0;  // every half message below it is resolved
  int64_t half_end_ = 0;  // one past the newest half message learnt
  int64_t op_end_ = 0;    // one past the newest op record learnt
  int64_t committed_half_low_ = -1, committed_op_low_ = -1;
  uint64_t checks_sent_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mq
