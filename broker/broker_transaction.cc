// Transactions on the broker side: a PREPARED send (TRAN_MSG=true) becomes a half message,
// END_TRANSACTION (37) commits or rolls it back, and the check-back service asks producers about
// old half messages (broker/transaction_service.h has the design).
#include "broker/broker.h"
#include "codec/codes.h"
#include "codec/header_reader.h"

namespace mq {

namespace {
namespace rc = response_code;
}  // namespace

void Broker::open_transactions() {
  TransactionalMessageService::Hooks hooks;
  std::weak_ptr<bool> alive = alive_;
  hooks.put = [this, alive](std::vector<store::MessageToStore> msgs, std::function<void(size_t)> done) {
    if (alive.expired()) return;
    put_internal(std::move(msgs), true, [done = std::move(done)](size_t stored, const store::PutMessageResult&) {
      done(stored);
    });
  };
  hooks.check = [this](const std::string& group, RemotingCommand req) {
    const auto& producers = clients_.producer_groups();
    auto g = producers.find(group);
    if (g == producers.end()) return false;
    for (const auto& [id, ch] : g->second) {
      if (auto conn = ch.connection.lock()) {
        server_.send_oneway(*conn, std::move(req));
        return true;
      }
    }
    return false;
  };
  hooks.query_offset = [this](const std::string& topic) { return offsets_.query(kTransSysGroup, topic, 0); };
  hooks.commit_offset = [this](const std::string& topic, int64_t offset) {
    offsets_.commit(kTransSysGroup, topic, 0, offset);
    offsets_.mark_dirty();
  };
  if (auto self = HostAddress::parse_v4(config_.broker_addr())) hooks.store_host = *self;
  TransactionOptions o;
  o.transaction_timeout_ms = config_.transaction_timeout_ms;
  o.check_interval_ms = config_.transaction_check_interval_ms;
  o.check_max = config_.transaction_check_max;
  transactions_ = std::make_unique<TransactionalMessageService>(loop_, *store_, clock_, log_, o, std::move(hooks));
  store_->add_dispatcher(transactions_.get());
  transactions_->rebuild();
}

void Broker::register_transaction_processors() {
  server_.register_handler(request_code::kEndTransaction, [this](const RequestContext& ctx, RemotingCommand& req) {
    if (is_slave() || !transactions_)
      return ctx.respond_code(rc::kSlaveNotAvailable, "Message store is slave mode, so end transaction is forbidden. ");
    HeaderReader h(req.ext_fields);
    EndTransactionRequest e;
    e.producer_group = h.str("producerGroup");
    e.tran_state_table_offset = h.i64("tranStateTableOffset");
    e.commit_log_offset = h.i64("commitLogOffset");
    e.commit_or_rollback = h.i32("commitOrRollback");
    e.from_transaction_check = h.opt_str("fromTransactionCheck").value_or("false") == "true";
    e.msg_id = h.opt_str("msgId").value_or("");
    if (!h.ok()) return ctx.respond_code(rc::kSystemError, h.error());
    if (e.from_transaction_check)
      log_.debug("check-back answer for " + e.msg_id + " from " + ctx.peer_address() + ": " +
                 std::to_string(e.commit_or_rollback));
    std::weak_ptr<bool> alive = alive_;
    transactions_->end_transaction(e, [ctx, alive](int32_t code, std::string remark) {
      if (alive.expired()) return;
      ctx.respond_code(code, remark);
    });
  });
}

}  // namespace mq
