#include "broker/transaction_service.h"

#include <algorithm>

#include "codec/codes.h"

namespace mq {

namespace {

int64_t parse_int(std::string_view s, int64_t fallback) {
  if (s.empty() || s.size() > 18) return fallback;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return fallback;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::vector<int64_t> parse_op_keys(std::string_view body) {
  std::vector<int64_t> keys;
  while (!body.empty()) {
    size_t comma = body.find(',');
    int64_t k = parse_int(body.substr(0, comma), -1);
    if (k >= 0) keys.push_back(k);
    if (comma == std::string_view::npos) break;
    body.remove_prefix(comma + 1);
  }
  return keys;
}

}  // namespace

TransactionalMessageService::TransactionalMessageService(EventLoop& loop, store::MessageStore& store, const Clock& clock,
                                                         Logger log, TransactionOptions options, Hooks hooks)
    : loop_(loop),
      store_(store),
      clock_(clock),
      log_(std::move(log)),
      options_(options),
      hooks_(std::move(hooks)),
      check_timer_(loop) {}

TransactionalMessageService::~TransactionalMessageService() {
  check_timer_.stop();
  *alive_ = false;
}

void TransactionalMessageService::to_half_message(store::MessageToStore& m) {
  m.properties = edit_properties(m.properties, {{std::string(property::kRealTopic), m.topic},
                                                {std::string(property::kRealQueueId), std::to_string(m.queue_id)}});
  m.sys_flag = (m.sys_flag & ~sysflag::kTransactionMask) | sysflag::kTransactionNotType;
  m.topic = kTransHalfTopic;
  m.queue_id = 0;
}

void TransactionalMessageService::dispatch(const MessageRecord& r, int64_t /*tags_code*/) {
  if (r.topic == kTransHalfTopic) {
    learn_half(r.queue_offset, r);
  } else if (r.topic == kTransOpHalfTopic) {
    learn_op(r.queue_offset, r.body, find_property(r.properties, property::kTags).value_or(""));
  }
}

void TransactionalMessageService::learn_half(int64_t q, const MessageRecord& r) {
  if (q < half_low_ || q < half_end_) return;  // known already (re-dispatch)
  half_end_ = q + 1;
  if (done_ahead_.erase(q)) {
    advance_marks();
    return;
  }
  Pending p;
  p.commit_log_offset = r.physical_offset;
  p.store_timestamp_ms = r.store_timestamp;
  p.immunity_ms = parse_int(find_property(r.properties, property::kCheckImmunityTimeInSeconds).value_or(""), 0) * 1000;
  p.producer_group = std::string(find_property(r.properties, property::kProducerGroup).value_or(""));
  if (auto it = checks_ahead_.find(q); it != checks_ahead_.end()) {
    p.checks = it->second;
    checks_ahead_.erase(it);
  }
  pending_[q] = std::move(p);
}

void TransactionalMessageService::learn_op(int64_t op_q, std::string_view body, std::string_view tag) {
  if (op_q < op_end_) return;  // known already
  op_end_ = op_q + 1;
  const bool done = tag == "d";
  const bool checked = tag == "c";
  bool any_live = false;
  for (int64_t key : parse_op_keys(body)) {
    if (key < half_low_) continue;
    any_live = true;
    live_ops_[op_q] = key;
    auto it = pending_.find(key);
    if (done) {
      if (it != pending_.end()) {
        pending_.erase(it);
      } else if (key >= half_end_) {
        done_ahead_.insert(key);
      }
    } else if (checked) {
      if (it != pending_.end()) {
        ++it->second.checks;
      } else if (key >= half_end_) {
        ++checks_ahead_[key];
      }
    }
  }
  (void)any_live;
  advance_marks();
}

void TransactionalMessageService::resolved(int64_t key) {
  pending_.erase(key);
  advance_marks();
}

void TransactionalMessageService::advance_marks() {
  half_low_ = pending_.empty() ? half_end_ : pending_.begin()->first;
  for (auto it = done_ahead_.begin(); it != done_ahead_.end() && *it < half_low_;) it = done_ahead_.erase(it);
  while (!live_ops_.empty() && live_ops_.begin()->second < half_low_) live_ops_.erase(live_ops_.begin());
  const int64_t op_low = live_ops_.empty() ? op_end_ : live_ops_.begin()->first;
  if (half_low_ != committed_half_low_) {
    committed_half_low_ = half_low_;
    if (hooks_.commit_offset) hooks_.commit_offset(kTransHalfTopic, half_low_);
  }
  if (op_low != committed_op_low_) {
    committed_op_low_ = op_low;
    if (hooks_.commit_offset) hooks_.commit_offset(kTransOpHalfTopic, op_low);
  }
}

void TransactionalMessageService::rebuild() {
  pending_.clear();
  done_ahead_.clear();
  checks_ahead_.clear();
  live_ops_.clear();
  auto start_of = [&](const char* topic) {
    int64_t committed = hooks_.query_offset ? hooks_.query_offset(topic) : -1;
    return std::max<int64_t>({committed, store_.min_offset_in_queue(topic, 0), 0});
  };
  half_low_ = half_end_ = start_of(kTransHalfTopic);
  op_end_ = start_of(kTransOpHalfTopic);
  const int64_t first_op = op_end_;
  committed_half_low_ = committed_op_low_ = -1;
  // Halves first, then the ops that resolve them.
  for (const char* topic : {kTransHalfTopic, kTransOpHalfTopic}) {
    int64_t offset = topic == kTransHalfTopic ? half_end_ : first_op;
    if (topic == kTransOpHalfTopic) op_end_ = first_op;
    while (true) {
      auto got = store_.get_message(topic, 0, offset, 64, 4 << 20);
      if (got.status != store::GetMessageStatus::kFound || got.messages.empty()) break;
      for (const auto& ref : got.messages) {
        auto rec = decode_record(std::string_view(got.buffer).substr(ref.buffer_position, static_cast<size_t>(ref.size)),
                                 DecodeOptions{.check_crc = false});
        offset = ref.queue_offset + 1;
        if (!rec.ok()) {
          log_.error(std::string(topic) + " record at queue offset " + std::to_string(ref.queue_offset) +
                     " does not decode: " + rec.detail());
          continue;
        }
        MessageRecord r = *rec;
        r.queue_offset = ref.queue_offset;
        dispatch(r, 0);
      }
    }
  }
  advance_marks();
  if (!pending_.empty())
    log_.info(std::to_string(pending_.size()) + " transactions without an outcome (half queue offsets from " +
              std::to_string(pending_.begin()->first) + ")");
}

void TransactionalMessageService::start_checks() {
  uint64_t every = static_cast<uint64_t>(std::max<int64_t>(options_.check_interval_ms, 100));
  check_timer_.start(every, every, [this] { check_round(); });
}

void TransactionalMessageService::stop_checks() { check_timer_.stop(); }

store::MessageToStore TransactionalMessageService::op_record(int64_t key, const char* tag, int64_t now_ms) const {
  store::MessageToStore m;
  m.topic = kTransOpHalfTopic;
  m.queue_id = 0;
  m.body = std::to_string(key);
  m.born_timestamp = now_ms;
  m.born_host = hooks_.store_host;
  m.store_host = hooks_.store_host;
  m.properties = encode_properties({{std::string(property::kTags), tag}, {std::string(property::kWaitStoreMsgOk), "false"}});
  return m;
}

void TransactionalMessageService::finish(int64_t key, std::vector<store::MessageToStore> msgs,
                                         std::function<void(bool ok)> done) {
  auto it = pending_.find(key);
  if (it == pending_.end()) return done(true);
  it->second.resolving = true;
  msgs.push_back(op_record(key, "d", clock_.now_ms()));
  const size_t count = msgs.size();
  std::weak_ptr<bool> alive = alive_;
  hooks_.put(std::move(msgs), [this, alive, key, count, done = std::move(done)](size_t stored) {
    if (alive.expired()) return;
    if (stored == count) {
      resolved(key);  // the op's dispatch may have done it already
      return done(true);
    }
    if (auto p = pending_.find(key); p != pending_.end()) p->second.resolving = false;
    done(false);
  });
}

void TransactionalMessageService::end_transaction(const EndTransactionRequest& req,
                                                  std::function<void(int32_t code, std::string remark)> done) {
  namespace rc = response_code;
  auto bytes = store_.message_by_offset(req.commit_log_offset);
  if (!bytes.ok()) return done(rc::kSystemError, "Find prepared transaction message failed: " + bytes.detail());
  auto rec = decode_record(*bytes, DecodeOptions{.check_crc = false});
  if (!rec.ok() || rec->topic != kTransHalfTopic)
    return done(rc::kSystemError, "Find prepared transaction message failed: no half message at commit log offset " +
                                      std::to_string(req.commit_log_offset));
  if (find_property(rec->properties, property::kProducerGroup).value_or("") != req.producer_group)
    return done(rc::kSystemError, "The producer group wrong");
  if (rec->queue_offset != req.tran_state_table_offset)
    return done(rc::kSystemError, "The transaction state table offset wrong");
  const int64_t key = rec->queue_offset;
  const int32_t type = req.commit_or_rollback;
  if (type != sysflag::kTransactionCommitType && type != sysflag::kTransactionRollbackType)
    return done(rc::kSuccess, "");  // unknown: a check-back will ask again
  auto it = pending_.find(key);
  if (it == pending_.end() || it->second.resolving)
    return done(rc::kSuccess, "transaction already resolved");  // idempotent: nothing is written twice
  std::vector<store::MessageToStore> msgs;
  if (type == sysflag::kTransactionCommitType) {
    auto real_topic = find_property(rec->properties, property::kRealTopic);
    int64_t real_qid = parse_int(find_property(rec->properties, property::kRealQueueId).value_or(""), -1);
    if (!real_topic || real_topic->empty() || real_qid < 0 || real_qid > 65535)
      return done(rc::kSystemError, "half message without REAL_TOPIC/REAL_QID");
    store::MessageToStore m;
    m.topic = std::string(*real_topic);
    m.queue_id = static_cast<int32_t>(real_qid);
    m.flag = rec->flag;
    m.body = std::string(rec->body);
    m.sys_flag = (rec->sys_flag & ~sysflag::kTransactionMask) | sysflag::kTransactionCommitType;
    m.born_timestamp = rec->born_timestamp;
    m.born_host = rec->born_host;
    m.store_host = rec->store_host;
    m.reconsume_times = rec->reconsume_times;
    m.prepared_transaction_offset = req.commit_log_offset;
    m.properties = edit_properties(rec->properties, {},
                                   {property::kRealTopic, property::kRealQueueId, property::kTransactionPrepared});
    msgs.push_back(std::move(m));
  }
  const bool commit = type == sysflag::kTransactionCommitType;
  finish(key, std::move(msgs), [done = std::move(done), commit](bool ok) {
    if (ok) return done(rc::kSuccess, "");
    done(rc::kSystemError, commit ? "the committed message could not be stored" : "the rollback could not be stored");
  });
}

void TransactionalMessageService::check_round() {
  const int64_t now = clock_.now_ms();
  std::vector<int64_t> keys;
  for (const auto& [key, p] : pending_) {
    if (p.resolving) continue;
    const int64_t immunity = p.immunity_ms > 0 ? p.immunity_ms : options_.transaction_timeout_ms;
    if (now - p.store_timestamp_ms < immunity) continue;
    keys.push_back(key);
    if (keys.size() >= 2000) break;  // the rest next round
  }
  for (int64_t key : keys) {
    auto it = pending_.find(key);
    if (it == pending_.end() || it->second.resolving) continue;
    if (it->second.checks >= options_.check_max) {
      auto bytes = store_.message_by_offset(it->second.commit_log_offset);
      std::vector<store::MessageToStore> msgs;
      if (bytes.ok()) {
        if (auto rec = decode_record(*bytes, DecodeOptions{.check_crc = false}); rec.ok()) {
          store::MessageToStore m;
          m.topic = kTransCheckMaxTimeTopic;
          m.queue_id = 0;
          m.flag = rec->flag;
          m.body = std::string(rec->body);
          m.sys_flag = rec->sys_flag;
          m.born_timestamp = rec->born_timestamp;
          m.born_host = rec->born_host;
          m.store_host = rec->store_host;
          m.properties = std::string(rec->properties);
          msgs.push_back(std::move(m));
        }
      }
      log_.warn("transaction at half queue offset " + std::to_string(key) + " of producer group " +
                it->second.producer_group + " was checked " + std::to_string(it->second.checks) +
                " times without an outcome: discarded (copied to " + kTransCheckMaxTimeTopic + ")");
      finish(key, std::move(msgs), [](bool) {});
      continue;
    }
    send_check(key, it->second);
  }
}

void TransactionalMessageService::send_check(int64_t key, Pending& p) {
  auto bytes = store_.message_by_offset(p.commit_log_offset);
  if (!bytes.ok()) {
    log_.error("half message at " + std::to_string(p.commit_log_offset) + " cannot be read for a check: " + bytes.detail());
    return;
  }
  auto rec = decode_record(*bytes, DecodeOptions{.check_crc = false});
  if (!rec.ok()) return;
  MessageRecord m = *rec;
  std::string real_topic(find_property(m.properties, property::kRealTopic).value_or(m.topic));
  m.topic = real_topic;
  m.queue_id = static_cast<int32_t>(parse_int(find_property(m.properties, property::kRealQueueId).value_or(""), 0));
  std::string body;
  if (!encode_record(m, body).ok()) return;
  std::string uniq(find_property(m.properties, property::kUniqKey).value_or(""));
  RemotingCommand req = RemotingCommand::request(request_code::kCheckTransactionState);
  req.ext_fields.set("tranStateTableOffset", key);
  req.ext_fields.set("commitLogOffset", p.commit_log_offset);
  req.ext_fields.set("msgId", uniq);
  req.ext_fields.set("transactionId", uniq);
  req.ext_fields.set("offsetMsgId", make_offset_msg_id(rec->store_host, p.commit_log_offset));
  req.body = std::move(body);
  const std::string group = p.producer_group;
  const bool sent = hooks_.check && hooks_.check(group, std::move(req));
  if (sent) ++checks_sent_;
  else
    log_.info("transaction at half queue offset " + std::to_string(key) + ": no producer of group " + group +
              " is connected to check it");
  // The check counts whether or not a producer was there (as in RocketMQ), and the count is kept
  // on disk as a "c" op record; its dispatch raises the count.
  hooks_.put({op_record(key, "c", clock_.now_ms())}, [](size_t) {});
}

}  // namespace mq
