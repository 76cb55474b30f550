#include "client/transaction_producer.h"

#include <exception>
#include <vector>

#include "codec/codes.h"
#include "codec/header_reader.h"

namespace mq {

const char* local_transaction_state_name(LocalTransactionState s) {
  switch (s) {
    case LocalTransactionState::kCommit: return "COMMIT_MESSAGE";
    case LocalTransactionState::kRollback: return "ROLLBACK_MESSAGE";
    case LocalTransactionState::kUnknown: return "UNKNOW";
  }
  return "?";
}

int32_t commit_or_rollback_of(LocalTransactionState s) {
  switch (s) {
    case LocalTransactionState::kCommit: return sysflag::kTransactionCommitType;
    case LocalTransactionState::kRollback: return sysflag::kTransactionRollbackType;
    case LocalTransactionState::kUnknown: return sysflag::kTransactionNotType;
  }
  return sysflag::kTransactionNotType;
}

RemotingCommand make_end_transaction_request(const EndTransactionRequestHeader& h, std::optional<std::string> remark) {
  RemotingCommand req = RemotingCommand::request(request_code::kEndTransaction);
  ExtFields& f = req.ext_fields;
  f.set("producerGroup", h.producer_group);
  f.set("tranStateTableOffset", h.tran_state_table_offset);
  f.set("commitLogOffset", h.commit_log_offset);
  f.set("commitOrRollback", h.commit_or_rollback);
  f.set_bool("fromTransactionCheck", h.from_transaction_check);
  f.set("msgId", h.msg_id);
  if (!h.transaction_id.empty()) f.set("transactionId", h.transaction_id);
  req.remark = std::move(remark);
  return req;
}

ClientOutcome<CheckTransactionStateRequestHeader> parse_check_transaction_state_header(const RemotingCommand& req) {
  HeaderReader r(req.ext_fields);
  CheckTransactionStateRequestHeader h;
  h.tran_state_table_offset = r.i64("tranStateTableOffset");
  h.commit_log_offset = r.i64("commitLogOffset");
  h.msg_id = r.opt_str("msgId").value_or("");
  h.transaction_id = r.opt_str("transactionId").value_or("");
  h.offset_msg_id = r.opt_str("offsetMsgId").value_or("");
  if (!r.ok()) return client_error(ClientFailure::kBadArgument, "CHECK_TRANSACTION_STATE: " + r.error());
  return h;
}

namespace {
// Runs a user callback; an exception becomes kUnknown with its text (Java catches Throwable here).
template <typename Fn>
LocalTransactionState run_guarded_state(Fn&& fn, std::optional<std::string>& exception_text) {
  try {
    return fn();
  } catch (const std::exception& e) {
    exception_text = e.what();
  } catch (...) {
    exception_text = "unknown exception";
  }
  return LocalTransactionState::kUnknown;
}
}  // namespace

TransactionProducer::TransactionProducer(EventLoop& loop, ProducerOptions options, LocalTransactionExecutor execute,
                                         TransactionCheckListener check, Logger log)
    : log_(log),
      producer_(std::make_unique<Producer>(loop, std::move(options), std::move(log))),
      execute_(std::move(execute)),
      check_(std::move(check)) {
  producer_->register_request_handler(request_code::kCheckTransactionState,
                                      [this](const RequestContext& ctx, RemotingCommand& req) { on_check(ctx, req); });
}

TransactionProducer::~TransactionProducer() {
  *alive_ = false;
  producer_.reset();
}

void TransactionProducer::send_message_in_transaction(Message msg, std::any arg, TransactionSendCallback cb) {
  // Java clears a delay level: a half message is never delayed.
  msg.delay_time_level = 0;
  std::erase_if(msg.user_properties, [](const auto& kv) {
    return kv.first == client_property::kTransactionPrepared || kv.first == client_property::kProducerGroup;
  });
  msg.user_properties.emplace_back(std::string(client_property::kTransactionPrepared), "true");
  msg.user_properties.emplace_back(std::string(client_property::kProducerGroup), producer_->options().group);
  Message sent = msg;
  std::weak_ptr<bool> alive = alive_;
  producer_->send(std::move(sent), [this, alive, msg = std::move(msg), arg = std::move(arg),
                                    cb = std::move(cb)](ClientOutcome<SendResult> r) mutable {
    if (alive.expired() || !r.ok()) {
      if (!r.ok()) {
        cb(client_error(r.code().kind, "send of the half message failed: " + r.detail(), r.code().response_code));
      } else {
        cb(client_error(ClientFailure::kShutdown, "transaction producer destroyed"));
      }
      return;
    }
    TransactionSendResult out;
    out.send_result = *r;
    std::optional<std::string> exception_text;
    if (r->status == SendStatus::kSendOk) {
      if (!r->transaction_id.empty())
        msg.user_properties.emplace_back(std::string(client_property::kTransactionId), r->transaction_id);
      out.local_transaction_state =
          execute_ ? run_guarded_state([&] { return execute_(msg, out.send_result, arg); }, exception_text)
                   : LocalTransactionState::kUnknown;
      if (exception_text) log_.warn("local transaction of " + r->msg_id + " threw: " + *exception_text);
    } else {
      // Stored, but not as safely as asked: Java rolls such a half message back.
      out.local_transaction_state = LocalTransactionState::kRollback;
    }
    end_transaction(out.send_result, out.local_transaction_state, exception_text, out);
    cb(std::move(out));
  });
}

void TransactionProducer::end_transaction(const SendResult& half, LocalTransactionState state,
                                          const std::optional<std::string>& exception_text,
                                          TransactionSendResult& out) {
  auto id = decode_offset_msg_id(half.offset_msg_id);
  std::string addr = producer_->routes().master_addr(half.queue.broker_name);
  if (!id.ok() || addr.empty()) {
    log_.warn("END_TRANSACTION of " + half.msg_id + " (" + local_transaction_state_name(state) + ") not sent: " +
              (id.ok() ? "no master address of " + half.queue.broker_name : "bad offsetMsgId " + half.offset_msg_id) +
              "; the broker's check will ask");
    return;
  }
  EndTransactionRequestHeader h;
  h.producer_group = producer_->options().group;
  h.tran_state_table_offset = half.queue_offset;
  h.commit_log_offset = id->commit_log_offset;
  h.commit_or_rollback = commit_or_rollback_of(state);
  h.from_transaction_check = false;
  h.msg_id = half.msg_id;
  // The broker fills transactionId with the UNIQ_KEY; an older one may leave it out.
  h.transaction_id = !half.transaction_id.empty() ? half.transaction_id : half.msg_id;
  std::optional<std::string> remark;
  if (exception_text)
    remark = "executeLocalTransactionBranch exception: " + *exception_text;
  else if (state == LocalTransactionState::kUnknown)
    remark = "local transaction state unknown: leaving it to the broker's check";
  producer_->invoke_oneway(addr, make_end_transaction_request(h, std::move(remark)));
  out.end_transaction_sent = true;
}

void TransactionProducer::on_check(const RequestContext& ctx, RemotingCommand& req) {
  // Java answers nothing to the check itself; the answer is a separate END_TRANSACTION.
  auto header = parse_check_transaction_state_header(req);
  if (!header.ok()) {
    log_.warn("CHECK_TRANSACTION_STATE from " + ctx.peer_address() + ": " + header.detail());
    return;
  }
  auto rec = decode_record(req.body, DecodeOptions{false});
  if (!rec.ok()) {
    log_.warn("CHECK_TRANSACTION_STATE from " + ctx.peer_address() + ": the message does not decode (" +
              message_error_name(rec.code()) + ")");
    return;
  }
  ConsumedMessage half;
  std::string scratch;
  if (auto c = to_consumed_message(*rec, std::string_view(), half, scratch); !c.ok()) {
    log_.warn("CHECK_TRANSACTION_STATE from " + ctx.peer_address() + ": " + c.detail());
    return;
  }
  auto group = half.property(client_property::kProducerGroup);
  if (!group || *group != producer_->options().group) {
    log_.debug("CHECK_TRANSACTION_STATE for producer group " + std::string(group.value_or("(none)")) + " ignored");
    return;
  }
  std::optional<std::string> exception_text;
  LocalTransactionState state =
      check_ ? run_guarded_state([&] { return check_(half); }, exception_text) : LocalTransactionState::kUnknown;
  EndTransactionRequestHeader h;
  h.producer_group = producer_->options().group;
  h.tran_state_table_offset = header->tran_state_table_offset;
  h.commit_log_offset = header->commit_log_offset;
  h.commit_or_rollback = commit_or_rollback_of(state);
  h.from_transaction_check = true;
  h.msg_id = half.uniq_key.empty() ? half.offset_msg_id() : std::string(half.uniq_key);
  h.transaction_id = header->transaction_id;
  std::optional<std::string> remark;
  if (exception_text) {
    remark = "checkLocalTransactionState Exception: " + *exception_text;
    log_.warn("transaction check of " + h.msg_id + " threw: " + *exception_text);
  } else if (state == LocalTransactionState::kUnknown) {
    remark = "local transaction state unknown";
  }
  RemotingCommand answer = make_end_transaction_request(h, std::move(remark));
  // On the connection the check came in on, as Java answers to the channel's address.
  auto conn = ctx.connection();
  if (!conn) return;
  answer.opaque = next_opaque_++;
  if (next_opaque_ == INT32_MAX) next_opaque_ = 1;
  answer.flag = kFlagOneway;
  conn->send(answer);
  ++checks_answered_;
}

BlockingTransactionProducer::BlockingTransactionProducer(ProducerOptions options, LocalTransactionExecutor execute,
                                                         TransactionCheckListener check, Logger log)
    : producer_(std::make_unique<TransactionProducer>(loop_, std::move(options), std::move(execute), std::move(check),
                                                      std::move(log))) {
  producer_->start();
}

BlockingTransactionProducer::~BlockingTransactionProducer() {
  bool done = false;
  producer_->shutdown([&done] { done = true; });
  loop_.run_until([&done] { return done; });
  producer_.reset();
  loop_.close_and_drain();
}

ClientOutcome<TransactionSendResult> BlockingTransactionProducer::send_message_in_transaction(Message msg,
                                                                                             std::any arg) {
  std::optional<ClientOutcome<TransactionSendResult>> out;
  producer_->send_message_in_transaction(std::move(msg), std::move(arg),
                                         [&out](ClientOutcome<TransactionSendResult> r) { out.emplace(std::move(r)); });
  loop_.run_until([&out] { return out.has_value(); });
  if (!out) return client_error(ClientFailure::kShutdown, "loop stopped before the send finished");
  return std::move(*out);
}

void BlockingTransactionProducer::run_for(int64_t ms, std::function<bool()> until) {
  bool expired = false;
  Timer t(loop_);
  t.start(static_cast<uint64_t>(ms), 0, [&expired] { expired = true; });
  loop_.run_until([&] { return expired || (until && until()); });
}

}  // namespace mq
