// The transactional producer (Java's TransactionMQProducer; reference 10.1 "Transactions", 4.10).
//
// A transaction: the message is sent as a half message (properties TRAN_MSG=true and
// PGROUP=<producer group>, sysFlag TRANSACTION_PREPARED 0x4), which the broker stores out of
// consumers' sight. Once it is stored (SEND_OK) the local transaction runs, and its outcome goes to
// the master of the broker that stored the half message with END_TRANSACTION (37, oneway):
// commitOrRollback 8 makes the message visible, 12 discards it, 0 (unknown) leaves it to the
// broker's check. tranStateTableOffset is the half message's queue offset, commitLogOffset comes
// from its offsetMsgId, msgId is its UNIQ_KEY, transactionId the send response's (else UNIQ_KEY).
// A half message stored with FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE is
// rolled back without running the local transaction, as Java does. A delay level is ignored.
//
// Checks: a broker holding a half message without an outcome past its transactionTimeOut sends
// CHECK_TRANSACTION_STATE (39, oneway) on a connection of the producer group (known to it from
// our heartbeats), with the half message record as body. The check callback decides, and the
// answer is END_TRANSACTION (oneway) on that same connection with fromTransactionCheck=true, the
// check's offsets and transactionId, and msgId = the record's UNIQ_KEY (else its offsetMsgId).
// Checks for another producer group are ignored, like Java's selectProducer miss.
//
// Callbacks run on the loop thread, synchronously. An exception from either one counts as
// kUnknown and its text goes into the END_TRANSACTION remark, as in Java; an unknown outcome
// carries a remark saying so. Nothing is retried here: the broker's checks are the retry.
#pragma once
#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "client/consumer.h"
#include "client/producer.h"

namespace mq {

enum class LocalTransactionState { kCommit, kRollback, kUnknown };
// COMMIT_MESSAGE, ROLLBACK_MESSAGE, UNKNOW (sic, Java's spelling).
const char* local_transaction_state_name(LocalTransactionState s);
// END_TRANSACTION's commitOrRollback: TRANSACTION_COMMIT_TYPE 8, ROLLBACK 12, NOT_TYPE 0.
int32_t commit_or_rollback_of(LocalTransactionState s);

// EndTransactionRequestHeader, fields in Java's order.
struct EndTransactionRequestHeader {
  std::string producer_group;
  int64_t tran_state_table_offset = 0;
  int64_t commit_log_offset = 0;
  int32_t commit_or_rollback = 0;
  bool from_transaction_check = false;
  std::string msg_id;
  std::string transaction_id;  // left out when empty
};
RemotingCommand make_end_transaction_request(const EndTransactionRequestHeader& h,
                                             std::optional<std::string> remark = std::nullopt);

// CheckTransactionStateRequestHeader.
struct CheckTransactionStateRequestHeader {
  int64_t tran_state_table_offset = 0;
  int64_t commit_log_offset = 0;
  std::string msg_id;
  std::string transaction_id;
  std::string offset_msg_id;
};
ClientOutcome<CheckTransactionStateRequestHeader> parse_check_transaction_state_header(const RemotingCommand& req);

// The local transaction, run once the half message is stored. `msg` is the message as sent (with
// TRAN_MSG, PGROUP and __transactionId__ among its user properties); `half` the send result
// (msg_id, transaction_id, queue, queue_offset); `arg` what send_message_in_transaction was given.
using LocalTransactionExecutor =
    std::function<LocalTransactionState(const Message& msg, const SendResult& half, const std::any& arg)>;
// The check-back: the half message as the broker sends it (Java's broker restores its real topic
// and queue id first). broker_name is empty: the check names no broker.
using TransactionCheckListener = std::function<LocalTransactionState(const ConsumedMessage& half)>;

struct TransactionSendResult {
  SendResult send_result;  // of the half message
  LocalTransactionState local_transaction_state = LocalTransactionState::kUnknown;
  bool end_transaction_sent = false;  // false only when no master address or offsetMsgId was usable
};
using TransactionSendCallback = std::function<void(ClientOutcome<TransactionSendResult>)>;

class TransactionProducer {
 public:
  TransactionProducer(EventLoop& loop, ProducerOptions options, LocalTransactionExecutor execute,
                      TransactionCheckListener check, Logger log = Logger());
  ~TransactionProducer();
  TransactionProducer(const TransactionProducer&) = delete;
  TransactionProducer& operator=(const TransactionProducer&) = delete;

  void start() { producer_->start(); }
  void shutdown(std::function<void()> done) { producer_->shutdown(std::move(done)); }

  // Sends the half message, runs the local transaction, sends END_TRANSACTION, then `cb` (on the
  // loop thread, never inside this call). Fails only when the half message was not stored.
  void send_message_in_transaction(Message msg, std::any arg, TransactionSendCallback cb);

  Producer& producer() { return *producer_; }
  const std::string& client_id() const { return producer_->client_id(); }
  uint64_t checks_answered() const { return checks_answered_; }

 private:
  void on_check(const RequestContext& ctx, RemotingCommand& req);
  void end_transaction(const SendResult& half, LocalTransactionState state,
                       const std::optional<std::string>& exception_text, TransactionSendResult& out);

  Logger log_;
  std::unique_ptr<Producer> producer_;
  LocalTransactionExecutor execute_;
  TransactionCheckListener check_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  int32_t next_opaque_ = 1;
  uint64_t checks_answered_ = 0;
};

// Drives a TransactionProducer on a private loop. Checks from brokers are answered only while the
// loop runs: during a send, or run_for().
class BlockingTransactionProducer {
 public:
  BlockingTransactionProducer(ProducerOptions options, LocalTransactionExecutor execute,
                              TransactionCheckListener check, Logger log = Logger());
  ~BlockingTransactionProducer();  // shutdown (UNREGISTER_CLIENT) and a clean loop close
  ClientOutcome<TransactionSendResult> send_message_in_transaction(Message msg, std::any arg = {});
  // Serves broker checks for `ms`, or until `until` (when given) is true.
  void run_for(int64_t ms, std::function<bool()> until = nullptr);
  TransactionProducer& producer() { return *producer_; }

 private:
  EventLoop loop_;
  std::unique_ptr<TransactionProducer> producer_;
};

}  // namespace mq
