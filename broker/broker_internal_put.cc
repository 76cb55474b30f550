// Messages the broker writes on its own behalf: delayed messages coming due, consumer retries and
// dead letters, transaction commits and their op records. They take the same path as a producer's
// send (the store's checks, ConsumeQueue dispatch, long-poll wake-ups, replication), but no
// producer waits for them: the caller learns how many were stored and continues from there.
#include "broker/broker.h"
#include "codec/codes.h"

namespace mq {

void Broker::put_internal(std::vector<store::MessageToStore> msgs, bool wait_durable, InternalPutDone done) {
  store::PutMessageResult last;
  last.status = store::PutMessageStatus::kServiceNotAvailable;
  if (!store_ || msgs.empty() || state_ != BrokerState::kRunning) {
    last.detail = "broker is not running";
    return done(0, last);
  }
  if (dledger_) {
    // One proposal for all of them: they commit (or fail) together. A message the store refuses
    // ends the batch there; the ones before it (their queue offsets are handed out) still go.
    std::vector<std::string> records;
    store::PutMessageResult base, refused;
    HostAddress store_host = msgs.front().store_host;
    size_t count = 0;
    for (const auto& m : msgs) {
      auto r = store_->encode_message(m, now_ms(), records);
      if (!r.ok()) {
        refused = r;
        break;
      }
      if (count++ == 0) base = r;
    }
    if (count == 0) return done(0, refused);
    base.msg_num = static_cast<int32_t>(count);
    std::weak_ptr<bool> alive = alive_;
    dledger_->propose(std::move(records), std::move(base), store_host,
                      [alive, count, done = std::move(done)](store::PutMessageResult r) {
                        if (alive.expired()) return;
                        done(r.ok() ? count : 0, r);
                      });
    return;
  }
  size_t stored = 0;
  for (auto& m : msgs) {
    store::PutMessageResult r = store_->put_message(m, now_ms());
    last = r;
    if (!r.ok()) break;
    ++stored;
    stats_.on_put(1);
    pull_holds_.notify_message_arriving(m.topic, m.queue_id, r.logics_offset + 1);
  }
  if (stored > 0) {
    maybe_precreate();
    if (ha_master_) ha_master_->notify_new_data();
  }
  if (stored == 0 || !wait_durable) return done(stored, last);
  std::weak_ptr<bool> alive = alive_;
  await_durable(last.end_offset, [alive, stored, last, done = std::move(done)](int32_t code) mutable {
    if (alive.expired()) return;
    if (code != response_code::kSuccess) {
      last.status = code == response_code::kFlushDiskTimeout    ? store::PutMessageStatus::kFlushDiskTimeout
                    : code == response_code::kFlushSlaveTimeout ? store::PutMessageStatus::kFlushSlaveTimeout
                                                                : store::PutMessageStatus::kSlaveNotAvailable;
    }
    done(stored, last);
  });
}

void Broker::register_schedule_processors() {
  // The live progress while delivering (RocketMQ answers from memory too), else the file.
  auto answer = [this](const RequestContext& ctx, bool running, const std::string& live, const char* file) {
    RemotingCommand resp;
    resp.code = response_code::kSuccess;
    resp.body = running ? live : read_config_file(config_dir() + "/" + file).value_or("{\"offsetTable\":{}}");
    ctx.respond(std::move(resp));
  };
  server_.register_handler(request_code::kGetAllDelayOffset, [this, answer](const RequestContext& ctx, RemotingCommand&) {
    const bool running = schedule_ && schedule_->running();
    answer(ctx, running, running ? schedule_->encode() : std::string(), "delayOffset.json");
  });
  server_.register_handler(request_code::kGetAllTimerOffset, [this, answer](const RequestContext& ctx, RemotingCommand&) {
    const bool running = timers_ && timers_->running();
    answer(ctx, running, running ? timers_->encode() : std::string(), "timerOffset.json");
  });
}

void Broker::update_master_services() {
  if (state_ != BrokerState::kRunning || !schedule_) return;
  const bool master = !is_slave();
  if (master && !schedule_->running()) {
    // A DLedger follower kept the leader's delayOffset.json (metadata sync); take it up.
    if (auto text = read_config_file(config_dir() + "/delayOffset.json")) {
      std::string why;
      if (!schedule_->load(*text, &why)) log_.warn("delayOffset.json not taken: " + why);
    }
    schedule_->start();
  } else if (!master && schedule_->running()) {
    schedule_->stop();
  }
  if (timers_) {
    if (master && !timers_->running()) {
      if (auto text = read_config_file(config_dir() + "/timerOffset.json")) {
        std::string why;
        if (!timers_->load(*text, &why)) log_.warn("timerOffset.json not taken: " + why);
      }
      timers_->start();
    } else if (!master && timers_->running()) {
      timers_->stop();
    }
  }
  if (transactions_) {
    if (master) transactions_->start_checks();
    else transactions_->stop_checks();
  }
}

}  // namespace mq
